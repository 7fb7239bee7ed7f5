// The pod (or pod template) of each kind the plugin reviews.

import { type Kind, Kinds, type ObjectMeta, type PodSpec } from "@wharf/sdk";

/** The kinds reviewed: Pods, and the workloads that make them from a template. */
export const KINDS: readonly Kind[] = [
  Kinds.Pod,
  Kinds.Deployment,
  Kinds.ReplicaSet,
  Kinds.StatefulSet,
  Kinds.DaemonSet,
  Kinds.Job,
  Kinds.CronJob,
  Kinds.ReplicationController,
];

/** What the checks read of one object: its pod's labels and spec. */
export interface PodShape {
  /** Whether this is a workload's pod template rather than a Pod. */
  template: boolean;
  labels: Record<string, string>;
  spec: PodSpec;
}

/** The pod of a Pod, or the pod template of a workload; undefined for other kinds or objects without one. */
export function podOf(kind: string, object: unknown): PodShape | undefined {
  const at = (path: string[]): unknown =>
    path.reduce<unknown>((value, key) => (isObject(value) ? value[key] : undefined), object);
  const shape = (template: boolean, metadata: unknown, spec: unknown): PodShape | undefined =>
    isObject(spec) ? { template, labels: labelsOf(metadata), spec: spec as PodSpec } : undefined;
  switch (kind) {
    case "Pod":
      return shape(false, at(["metadata"]), at(["spec"]));
    case "CronJob":
      return shape(true, at(["spec", "jobTemplate", "spec", "template", "metadata"]), at(["spec", "jobTemplate", "spec", "template", "spec"]));
    case "Deployment":
    case "ReplicaSet":
    case "StatefulSet":
    case "DaemonSet":
    case "Job":
    case "ReplicationController":
      return shape(true, at(["spec", "template", "metadata"]), at(["spec", "template", "spec"]));
    default:
      return undefined;
  }
}

function labelsOf(metadata: unknown): Record<string, string> {
  const labels = isObject(metadata) ? (metadata as ObjectMeta).labels : undefined;
  return isObject(labels) ? (labels as Record<string, string>) : {};
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
