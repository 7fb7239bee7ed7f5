/**
 * Naming kinds of objects across the boundary, as the WIT `kind` record
 * does: `group` is empty for the core group (`""`, `"v1"`, `"Pod"`).
 *
 * @module
 */

import { Invalid } from "./errors";
import type * as k8s from "./objects";

/**
 * A kind of object. The type parameter is the TypeScript type of its
 * objects, so that `ctx.get(Kinds.Pod, …)` returns a `Pod`; it exists only
 * for the compiler.
 */
export interface Kind<T extends k8s.KubeObject = k8s.KubeObject> {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  /** Never set: carries `T` for type inference. */
  readonly __object?: T;
}

/** The kind `group/version, Kind=kind` (`group` empty for the core group). */
export function kind<T extends k8s.KubeObject = k8s.KubeObject>(
  group: string,
  version: string,
  kindName: string,
): Kind<T> {
  return Object.freeze({ group, version, kind: kindName });
}

/** The `apiVersion` field of a kind: `apps/v1`, or `v1` for the core group. */
export function apiVersion(of: Kind): string {
  return of.group === "" ? of.version : `${of.group}/${of.version}`;
}

/** The kind an object says it is (its `apiVersion` and `kind`), or `Invalid`. */
export function kindOf<T extends k8s.KubeObject>(object: T): Kind<T> {
  const { apiVersion: text, kind: name } = object;
  if (typeof text !== "string" || text === "" || typeof name !== "string" || name === "") {
    throw new Invalid("the object has no apiVersion and kind: set them, or pass its kind");
  }
  const slash = text.indexOf("/");
  return slash < 0 ? kind("", text, name) : kind(text.slice(0, slash), text.slice(slash + 1), name);
}

/** Whether two kinds are the same. */
export function sameKind(a: Kind, b: Kind): boolean {
  return a.group === b.group && a.version === b.version && a.kind === b.kind;
}

/** Whether `value` is a `{group, version, kind}` with a version and a kind. */
export function isKind(value: unknown): value is Kind {
  if (typeof value !== "object" || value === null) return false;
  const { group, version, kind } = value as Record<string, unknown>;
  return typeof group === "string" && typeof version === "string" && version !== "" && typeof kind === "string" && kind !== "";
}

/** The kind as a plain WIT record (no extra fields). */
export function plainKind(of: Kind): Kind {
  return { group: of.group, version: of.version, kind: of.kind };
}

/** As apimachinery prints a kind: `apps/v1, Kind=ReplicaSet`. */
export function formatKind(of: Kind): string {
  return `${apiVersion(of)}, Kind=${of.kind}`;
}

/** The kinds plugins use most, typed. Others: `kind(group, version, name)`. */
export const Kinds = Object.freeze({
  // core/v1
  ConfigMap: kind<k8s.ConfigMap>("", "v1", "ConfigMap"),
  Endpoints: kind("", "v1", "Endpoints"),
  Event: kind("", "v1", "Event"),
  LimitRange: kind("", "v1", "LimitRange"),
  Namespace: kind<k8s.Namespace>("", "v1", "Namespace"),
  Node: kind<k8s.Node>("", "v1", "Node"),
  PersistentVolume: kind("", "v1", "PersistentVolume"),
  PersistentVolumeClaim: kind("", "v1", "PersistentVolumeClaim"),
  Pod: kind<k8s.Pod>("", "v1", "Pod"),
  PodTemplate: kind("", "v1", "PodTemplate"),
  ReplicationController: kind<k8s.ReplicationController>("", "v1", "ReplicationController"),
  ResourceQuota: kind("", "v1", "ResourceQuota"),
  Secret: kind<k8s.Secret>("", "v1", "Secret"),
  Service: kind<k8s.Service>("", "v1", "Service"),
  ServiceAccount: kind("", "v1", "ServiceAccount"),
  // apps/v1
  ControllerRevision: kind("apps", "v1", "ControllerRevision"),
  DaemonSet: kind<k8s.DaemonSet>("apps", "v1", "DaemonSet"),
  Deployment: kind<k8s.Deployment>("apps", "v1", "Deployment"),
  ReplicaSet: kind<k8s.ReplicaSet>("apps", "v1", "ReplicaSet"),
  StatefulSet: kind<k8s.StatefulSet>("apps", "v1", "StatefulSet"),
  // batch/v1
  CronJob: kind<k8s.CronJob>("batch", "v1", "CronJob"),
  Job: kind<k8s.Job>("batch", "v1", "Job"),
  // others
  EndpointSlice: kind("discovery.k8s.io", "v1", "EndpointSlice"),
  Ingress: kind("networking.k8s.io", "v1", "Ingress"),
  Lease: kind("coordination.k8s.io", "v1", "Lease"),
  NetworkPolicy: kind("networking.k8s.io", "v1", "NetworkPolicy"),
  PodDisruptionBudget: kind("policy", "v1", "PodDisruptionBudget"),
});
