/**
 * {@link Context}: what a reconcile or a review can do: cluster reads and
 * writes with objects as plain JSON objects, logs and the clock; and
 * {@link ControllerContext}, which controllers get: events and the plugin's
 * private state besides.
 *
 * It wraps a backend: the host's imports in a component, a `FakeCluster`
 * in unit tests.
 *
 * @module
 */

import type {
  ClusterBackend,
  ControllerBackend,
  EventType,
  LogLevel,
  PatchType,
} from "./backend";
import { ApiError, Invalid } from "./errors";
import { apiVersion, type Kind, kindOf, sameKind } from "./kinds";
import type { KubeObject, LabelSelector } from "./objects";
import { Selector } from "./selector";

/** What to list besides the kind. */
export interface ListParams {
  /** Only this namespace; absent lists every namespace. */
  namespace?: string | null;
  /** Only objects whose labels match: selector text, a `LabelSelector` or a {@link Selector}. */
  labelSelector?: string | LabelSelector | Selector;
  /** Only objects whose fields match (`spec.nodeName=n1`). */
  fieldSelector?: string;
}

/** How to patch. */
export interface PatchOptions {
  /** `merge` (RFC 7386, the default), `json` (RFC 6902) or `strategic`. */
  type?: PatchType;
  /** Patch the status subresource instead of the object. */
  status?: boolean;
}

/** One object of {@link Context.createAll}: stored, or why not. */
export type Created<T> = { object: T; error?: undefined } | { object?: undefined; error: ApiError };

/**
 * Cluster access, logs and the clock: what both worlds give. Objects go in
 * and come out as plain objects; failed calls throw an {@link ApiError}
 * subclass (`NotFound`, `Conflict`…).
 *
 * `Config` is the plugin's configuration, as its `configure` returned it.
 */
export class Context<Config = unknown> {
  constructor(
    protected readonly backend: ClusterBackend,
    /** The plugin's configuration (`spec.config`, as `configure` returned it). */
    readonly config: Config,
  ) {}

  // --- Reads ---

  /** The object, or `undefined` when it does not exist. */
  get<T extends KubeObject>(kind: Kind<T>, namespace: string | null | undefined, name: string): T | undefined {
    const json = this.backend.get(kind, namespace ?? undefined, name);
    return json === undefined ? undefined : (JSON.parse(json) as T);
  }

  /** The objects of `kind` that match (every namespace unless one is given). */
  list<T extends KubeObject>(kind: Kind<T>, params: ListParams = {}): T[] {
    const labelSelector =
      params.labelSelector === undefined ? undefined : Selector.from(params.labelSelector).toString();
    return this.backend
      .list(kind, {
        namespace: params.namespace ?? undefined,
        labelSelector: labelSelector || undefined,
        fieldSelector: params.fieldSelector || undefined,
      })
      .map((json) => JSON.parse(json) as T);
  }

  // --- Writes ---

  /**
   * Creates `object` in the namespace its metadata names (with
   * `metadata.generateName`, the server picks the name); returns it as
   * stored. Its kind is its `apiVersion` and `kind`, or `kind` when given.
   */
  create<T extends KubeObject>(object: T, kind?: Kind<T>): T {
    const [of, json] = encode(object, kind);
    return JSON.parse(this.backend.create(of, object.metadata?.namespace, json)) as T;
  }

  /**
   * Creates several objects at once (the host writes them concurrently: a
   * batch costs about one write). One result per object, in order; a
   * failure does not stop the others.
   */
  createAll<T extends KubeObject>(objects: readonly T[], kind?: Kind<T>): Array<Created<T>> {
    const results: Array<Created<T>> = new Array(objects.length);
    // The WIT call takes one kind and namespace: one call per group.
    const groups: Array<{ kind: Kind; namespace: string | undefined; indices: number[]; json: string[] }> = [];
    objects.forEach((object, index) => {
      const [of, json] = encode(object, kind);
      const namespace = object.metadata?.namespace;
      let group = groups.find((g) => sameKind(g.kind, of) && g.namespace === namespace);
      if (group === undefined) {
        group = { kind: of, namespace, indices: [], json: [] };
        groups.push(group);
      }
      group.indices.push(index);
      group.json.push(json);
    });
    for (const group of groups) {
      const stored = this.backend.createAll(group.kind, group.namespace, group.json);
      group.indices.forEach((index, i) => {
        const result = stored[i];
        results[index] =
          result === undefined
            ? { error: new ApiError("Other", 500, "the host returned fewer results than objects") }
            : result.ok
              ? { object: JSON.parse(result.value) as T }
              : { error: result.error };
      });
    }
    return results;
  }

  /**
   * Replaces `object` (in the namespace its metadata names); its
   * `metadata.resourceVersion` guards the write (`Conflict` when stale).
   * The status is not changed.
   */
  update<T extends KubeObject>(object: T, kind?: Kind<T>): T {
    const [of, json] = encode(object, kind);
    return JSON.parse(this.backend.update(of, object.metadata?.namespace, json)) as T;
  }

  /** Replaces `object`'s status (the `status` subresource); nothing else changes. */
  updateStatus<T extends KubeObject>(object: T, kind?: Kind<T>): T {
    const [of, json] = encode(object, kind);
    return JSON.parse(this.backend.updateStatus(of, object.metadata?.namespace, json)) as T;
  }

  /**
   * Patches the object (or, with `status: true`, its status); returns it as
   * stored. `patch` is the body: an object (a merge or strategic patch), an
   * array of operations (a JSON patch), or its JSON text.
   */
  patch<T extends KubeObject>(
    kind: Kind<T>,
    namespace: string | null | undefined,
    name: string,
    patch: object | string,
    options: PatchOptions = {},
  ): T {
    const type = options.type ?? (Array.isArray(patch) ? "json" : "merge");
    const body = typeof patch === "string" ? patch : JSON.stringify(patch);
    return JSON.parse(
      this.backend.patch(kind, namespace ?? undefined, name, type, body, options.status ?? false),
    ) as T;
  }

  /** Deletes the object (propagation `Background`); `NotFound` when it does not exist. */
  delete(kind: Kind, namespace: string | null | undefined, name: string): void {
    this.backend.delete(kind, namespace ?? undefined, name);
  }

  // --- Logs and the clock ---

  /** Logs into the host's log, tagged with the plugin's name (`console.*` does too). */
  log(level: LogLevel, message: string): void {
    this.backend.log(level, message);
  }

  trace(message: string): void {
    this.backend.log("trace", message);
  }

  debug(message: string): void {
    this.backend.log("debug", message);
  }

  info(message: string): void {
    this.backend.log("info", message);
  }

  warn(message: string): void {
    this.backend.log("warn", message);
  }

  error(message: string): void {
    this.backend.log("error", message);
  }

  /** Now, in milliseconds since the Unix epoch. */
  nowMillis(): number {
    return this.backend.nowMillis();
  }

  /** Now, as a `Date`. */
  now(): Date {
    return new Date(this.backend.nowMillis());
  }

  /** Now, as Kubernetes writes times (`2026-01-01T00:00:00Z`, whole seconds). */
  timestamp(): string {
    return rfc3339(this.backend.nowMillis());
  }
}

/** A controller's context: besides the cluster, events and private state. */
export class ControllerContext<Config = unknown> extends Context<Config> {
  /** The plugin's private durable key-value store (survives reloads and restarts). */
  readonly state: PluginState;

  constructor(
    protected override readonly backend: ControllerBackend,
    config: Config,
  ) {
    super(backend, config);
    this.state = new PluginState(backend);
  }

  /** Records a Kubernetes `Event` about `regarding` (an object as read). */
  event(regarding: KubeObject, type: EventType, reason: string, message: string): void {
    const name = regarding.metadata?.name;
    if (!name) throw new Invalid("an event needs an object with a name");
    this.backend.emitEvent({
      regarding: { kind: kindOf(regarding), namespace: regarding.metadata?.namespace, name },
      type,
      reason,
      message,
    });
  }
}

/** The plugin's private key-value store: bytes, text or JSON by key. */
export class PluginState {
  constructor(private readonly backend: ControllerBackend) {}

  get(key: string): Uint8Array | undefined {
    return this.backend.stateGet(key);
  }

  getText(key: string): string | undefined {
    const bytes = this.backend.stateGet(key);
    return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
  }

  getJSON<T = unknown>(key: string): T | undefined {
    const text = this.getText(key);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }

  /** Stores bytes, or text as UTF-8. */
  set(key: string, value: Uint8Array | string): void {
    this.backend.stateSet(key, typeof value === "string" ? new TextEncoder().encode(value) : value);
  }

  setJSON(key: string, value: unknown): void {
    this.set(key, JSON.stringify(value));
  }

  delete(key: string): void {
    this.backend.stateDelete(key);
  }
}

/** A time as Kubernetes writes it: RFC 3339 in UTC, whole seconds. */
export function rfc3339(millis: number): string {
  return new Date(Math.floor(millis / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/** The object's kind (its own, or `kind`, which it must not contradict) and its JSON with both set. */
function encode<T extends KubeObject>(object: T, kind: Kind<T> | undefined): [Kind, string] {
  const of = kind ?? kindOf(object);
  const version = apiVersion(of);
  if ((object.apiVersion && object.apiVersion !== version) || (object.kind && object.kind !== of.kind)) {
    throw new Invalid(`the object is a ${object.apiVersion} ${object.kind}, the call is for ${version} ${of.kind}`);
  }
  return [of, JSON.stringify({ apiVersion: version, kind: of.kind, ...object })];
}
