/**
 * The untyped layer under {@link Context}: the WIT imports as interfaces,
 * objects as Kubernetes JSON text, so that the same plugin runs over the
 * host (in a component) or over anything else that implements them (the
 * `FakeCluster` of `@wharf/sdk/testing` in unit tests).
 *
 * Failed calls throw an {@link ApiError}.
 *
 * @module
 */

import type { ApiError } from "./errors";
import type { Kind } from "./kinds";

/** How a patch is written, as the Kubernetes Content-Type names it. */
export type PatchType = "merge" | "json" | "strategic";

/** A log level of the host's `tracing`. */
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";

/** One object, by kind, namespace (none for cluster-scoped kinds) and name. */
export interface ObjectRef {
  kind: Kind;
  namespace?: string;
  name: string;
}

/** Whether an event is routine or a problem. */
export type EventType = "Normal" | "Warning";

/** A Kubernetes `Event` about an object, as `kubectl describe` shows it. */
export interface Event {
  regarding: ObjectRef;
  type: EventType;
  /** A short CamelCase reason (`SuccessfulCreate`). */
  reason: string;
  message: string;
}

/** What to list: WIT `list-options`. */
export interface ListOptions {
  /** Only this namespace; absent lists every namespace. */
  namespace?: string;
  /** A label selector as text (`app=web,tier in (a,b)`). */
  labelSelector?: string;
  /** A field selector as text (`spec.nodeName=n1`). */
  fieldSelector?: string;
}

/** One result of `createAll`: the stored object's JSON, or why not. */
export type CreateResult = { ok: true; value: string } | { ok: false; error: ApiError };

/**
 * The `cluster`, `log` and `clock` imports: what every world with cluster
 * access has (the `admission` world has just these).
 */
export interface ClusterBackend {
  /** The object as JSON, or `undefined` when it does not exist. */
  get(kind: Kind, namespace: string | undefined, name: string): string | undefined;
  list(kind: Kind, options: ListOptions): string[];
  create(kind: Kind, namespace: string | undefined, object: string): string;
  /** One result per object, in order; the host writes them concurrently. */
  createAll(kind: Kind, namespace: string | undefined, objects: string[]): CreateResult[];
  update(kind: Kind, namespace: string | undefined, object: string): string;
  updateStatus(kind: Kind, namespace: string | undefined, object: string): string;
  patch(
    kind: Kind,
    namespace: string | undefined,
    name: string,
    patchType: PatchType,
    patch: string,
    status: boolean,
  ): string;
  delete(kind: Kind, namespace: string | undefined, name: string): void;
  log(level: LogLevel, message: string): void;
  /** Milliseconds since the Unix epoch: the only clock a plugin has. */
  nowMillis(): number;
}

/** The `controller` world's imports: the cluster, plus `events` and `state`. */
export interface ControllerBackend extends ClusterBackend {
  emitEvent(event: Event): void;
  stateGet(key: string): Uint8Array | undefined;
  stateSet(key: string, value: Uint8Array): void;
  stateDelete(key: string): void;
}
