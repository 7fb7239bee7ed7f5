/**
 * {@link FakeCluster}: an in-memory cluster for unit-testing plugins in
 * milliseconds, on plain Node, with the API server's semantics that
 * controllers depend on:
 *
 * - server-managed metadata: `uid`, `creationTimestamp`, `generation`
 *   (bumped when anything outside `metadata` and `status` changes) and a
 *   `resourceVersion` from one global revision counter;
 * - `generateName` (a deterministic five-character suffix);
 * - optimistic concurrency: an update, status update or patch carrying a
 *   stale `resourceVersion` (or another `uid`) is a `Conflict`; one without
 *   a `resourceVersion` is unconditional;
 * - the status subresource for every kind: create drops `status`, update
 *   keeps the stored status, status update and status patch change only
 *   `status`;
 * - no-op writes keep the `resourceVersion`, as the API server does;
 * - finalizers: delete of an object with finalizers only sets
 *   `deletionTimestamp`, and the object goes once an update empties them;
 * - label selectors (the full syntax) and field selectors (`=`, `==`, `!=`
 *   over any dotted path);
 * - patches: JSON merge and JSON patch exactly; **strategic merge is
 *   approximated by a JSON merge patch** (lists replaced whole);
 * - events, logs (`console.*` included) and the private state are recorded,
 *   and every cluster call is recorded in order.
 *
 * Tests can inject failures ({@link FakeCluster.failWhen}), move the clock
 * ({@link FakeCluster.advance}) and make reads stale, as an informer cache
 * that lags behind the writes ({@link FakeCluster.freezeCache}).
 *
 * Not modelled: namespaces as a requirement for namespaced objects,
 * validation beyond names and kinds, defaulting, watches, garbage
 * collection by ownerReferences.
 *
 * @module
 */

import type { Admission, Response } from "../admission";
import type { ControllerBackend, CreateResult, Event, ListOptions, LogLevel, PatchType } from "../backend";
import type { PluginConfig } from "../config";
import type { Action, Controller } from "../controller";
import { rfc3339 } from "../context";
import { AlreadyExists, ApiError, Conflict, Invalid, NotFound } from "../errors";
import { apiVersion, type Kind, kindOf } from "../kinds";
import { jsonEqual } from "../json";
import type { KubeObject } from "../objects";
import { Selector } from "../selector";
import { FieldSelector } from "./fields";
import { AdmissionHarness, ControllerHarness, type ReviewInput } from "./harness";
import { applyJsonPatch, mergePatch } from "./patch";

/** 2026-01-01T00:00:00Z, where every fake cluster's clock starts. */
export const START_MILLIS = 1_767_225_600_000;

/** A cluster call, by its verb. */
export type Verb = "get" | "list" | "create" | "update" | "updateStatus" | "patch" | "delete";

/** A call about to be made, as a {@link FakeCluster.failWhen} hook sees it. */
export interface CallRequest {
  verb: Verb;
  kind: Kind;
  namespace?: string;
  /** The object's name; undefined for lists, and for creates by `generateName`. */
  name?: string;
}

/** A call that was made, as {@link FakeCluster.calls} records it. */
export interface Call extends CallRequest {
  /** The error's text when the call failed. */
  error?: string;
}

/** A recorded log line. */
export interface LogLine {
  level: LogLevel;
  message: string;
}

type JsonObject = Record<string, unknown>;
type Objects = Map<string, JsonObject>;

/**
 * An in-memory cluster; see the module documentation. The plugin side is
 * {@link FakeCluster.backend}; the rest of its methods arrange and assert.
 *
 * ```ts
 * const fake = new FakeCluster();
 * fake.add({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", namespace: "ns" } });
 * fake.run(mirror, "ns/a");
 * assert.equal(fake.get(Kinds.ConfigMap, "ns", "a-mirror")?.data?.color, "blue");
 * ```
 */
export class FakeCluster {
  /** What plugins call: the WIT imports of the `controller` world over this cluster. */
  readonly backend: ControllerBackend;

  private objects: Objects = new Map();
  private snapshot: Objects | undefined;
  private revisionCounter = 0;
  private uids = 0;
  private generatedNames = 0;
  private clock = START_MILLIS;
  private readonly recordedCalls: Call[] = [];
  private recordedEvents: Event[] = [];
  private readonly recordedLogs: LogLine[] = [];
  private readonly store = new Map<string, Uint8Array>();
  private readonly failures: Array<(request: CallRequest) => ApiError | undefined> = [];

  constructor() {
    this.backend = new FakeBackend(this);
  }

  // --- Running plugins ---

  /**
   * A controller instance over this cluster, configured as the host does
   * (`configure`, then `registration`) with `config` (the Plugin's
   * `spec.config`); it lives on between reconciles, as in a component.
   */
  controller<Config>(controller: Controller<Config>, config: PluginConfig | string = {}): ControllerHarness<Config> {
    return new ControllerHarness(this, controller, config);
  }

  /** An admission plugin instance over this cluster, configured with `config`. */
  admission<Config>(admission: Admission<Config>, config: PluginConfig | string = {}): AdmissionHarness<Config> {
    return new AdmissionHarness(this, admission, config);
  }

  /** Reconciles `key` (`namespace/name`, or `name`) with a fresh instance of `controller`. */
  run<Config>(controller: Controller<Config>, key: string, config: PluginConfig | string = {}): Action {
    return this.controller(controller, config).reconcile(key);
  }

  /** Reviews one request with a fresh instance of `admission`. */
  review<Config>(admission: Admission<Config>, request: ReviewInput, config: PluginConfig | string = {}): Response {
    return this.admission(admission, config).review(request);
  }

  // --- Arranging ---

  /**
   * Stores `object` as it is (status, deletionTimestamp and all), filling
   * in the server-managed metadata it lacks (`uid`, `creationTimestamp`,
   * `generation`) and a new `resourceVersion`; returns it as stored.
   * Replaces an object of the same name. Records no call.
   */
  add<T extends KubeObject>(object: T, kind?: Kind<T>): T {
    const of = kind ?? kindOf(object);
    const value = withType(clone(object) as JsonObject, of);
    const metadata = metadataOf(value);
    if (typeof metadata.name !== "string" || metadata.name === "") {
      throw new Invalid("an object added to a FakeCluster needs metadata.name");
    }
    metadata.uid ??= this.nextUid();
    metadata.creationTimestamp ??= rfc3339(this.clock);
    metadata.generation ??= 1;
    metadata.resourceVersion = this.nextRevision();
    this.objects.set(key(of, metadata.namespace as string | undefined, metadata.name), value);
    return clone(value) as T;
  }

  /**
   * Changes a stored object in place, anything in it (status, metadata),
   * with a new `resourceVersion`; returns it as stored. Records no call.
   */
  modify<T extends KubeObject>(kind: Kind<T>, namespace: string | undefined, name: string, change: (object: T) => void): T {
    const id = key(kind, namespace, name);
    const stored = this.objects.get(id);
    if (stored === undefined) throw new NotFound(`no ${kind.kind} ${namespace ?? ""}/${name} to modify`);
    const object = clone(stored) as T;
    change(object);
    const value = object as JsonObject;
    metadataOf(value).resourceVersion = this.nextRevision();
    this.objects.set(id, value);
    return clone(value) as T;
  }

  /** Removes an object outright (no finalizers, no call recorded); whether it was there. */
  remove(kind: Kind, namespace: string | undefined, name: string): boolean {
    return this.objects.delete(key(kind, namespace, name));
  }

  /**
   * Makes every later call for which `hook` returns an error fail with it,
   * before it changes anything. Hooks run in the order they were added.
   *
   * ```ts
   * fake.failWhen((call) => (call.verb === "create" ? new Forbidden("exceeded quota") : undefined));
   * ```
   */
  failWhen(hook: (request: CallRequest) => ApiError | undefined): void {
    this.failures.push(hook);
  }

  clearFailures(): void {
    this.failures.length = 0;
  }

  /**
   * From now on, `get` and `list` answer from a snapshot of this moment, as
   * a host's informer cache that has not seen the later writes yet. Writes
   * still go to (and are checked against) the store.
   */
  freezeCache(): void {
    this.snapshot = new Map(this.objects);
  }

  /** Lets reads see the store again (the cache caught up). */
  thawCache(): void {
    this.snapshot = undefined;
  }

  /** Moves the clock forward. */
  advance(millis: number): void {
    this.clock += millis;
  }

  /** Sets the clock (milliseconds since the Unix epoch). */
  setNowMillis(millis: number): void {
    this.clock = millis;
  }

  // --- Asserting ---

  /** The stored object as it is now (never from a frozen cache), or undefined. */
  get<T extends KubeObject>(kind: Kind<T>, namespace: string | undefined, name: string): T | undefined {
    const value = this.objects.get(key(kind, namespace, name));
    return value === undefined ? undefined : (clone(value) as T);
  }

  /** The stored objects of `kind` in `namespace` (all with undefined), sorted by namespace and name. */
  list<T extends KubeObject>(kind: Kind<T>, namespace?: string): T[] {
    return sortedEntries(this.objects)
      .filter(([id]) => matchesKey(id, kind, namespace))
      .map(([, value]) => clone(value) as T);
  }

  /** Every call made so far, in order, failed ones included. */
  get calls(): readonly Call[] {
    return this.recordedCalls;
  }

  /** The successful writes (create, update, updateStatus, patch, delete) so far. */
  writes(): Call[] {
    return this.recordedCalls.filter((call) => call.verb !== "get" && call.verb !== "list" && call.error === undefined);
  }

  /** Forgets the recorded calls, events and logs (to look at one run alone). */
  clearCalls(): void {
    this.recordedCalls.length = 0;
    this.recordedEvents = [];
    this.recordedLogs.length = 0;
  }

  /** The events emitted so far, in order. */
  get events(): readonly Event[] {
    return this.recordedEvents;
  }

  /** The events emitted so far, forgetting them. */
  takeEvents(): Event[] {
    const events = this.recordedEvents;
    this.recordedEvents = [];
    return events;
  }

  /** The log lines so far (`ctx.info(…)` and `console.*` during runs), in order. */
  get logs(): readonly LogLine[] {
    return this.recordedLogs;
  }

  /** The plugin's private state, as stored. */
  state(key: string): Uint8Array | undefined {
    return this.store.get(key);
  }

  /** The global revision: the `resourceVersion` of the latest write. Unchanged across a run means it wrote nothing. */
  get revision(): number {
    return this.revisionCounter;
  }

  /** The clock, in milliseconds since the Unix epoch. */
  get nowMillis(): number {
    return this.clock;
  }

  // --- What the backend calls ---

  /** @internal Runs the failure hooks, then `operation`, and records the call. */
  call<T>(request: CallRequest, operation: () => [T, string | undefined]): T {
    let outcome: [T, string | undefined] | undefined;
    let failure: unknown;
    try {
      for (const hook of this.failures) {
        const error = hook(request);
        if (error !== undefined) throw error;
      }
      outcome = operation();
    } catch (error) {
      failure = error;
    }
    this.recordedCalls.push({
      verb: request.verb,
      kind: request.kind,
      namespace: request.namespace,
      name: outcome ? outcome[1] : request.name,
      ...(outcome ? {} : { error: failure instanceof Error ? `${failure.name}: ${failure.message}` : String(failure) }),
    });
    if (outcome === undefined) throw failure;
    return outcome[0];
  }

  /** @internal */
  readable(): Objects {
    return this.snapshot ?? this.objects;
  }

  /** @internal */
  stored(): Objects {
    return this.objects;
  }

  /** @internal */
  nextRevision(): string {
    this.revisionCounter += 1;
    return String(this.revisionCounter);
  }

  /** @internal */
  nextUid(): string {
    this.uids += 1;
    return `00000000-0000-4000-8000-${this.uids.toString(16).padStart(12, "0")}`;
  }

  /** @internal `prefix` and five characters from the API server's alphabet, the same sequence in every run. */
  generateName(kind: Kind, namespace: string | undefined, prefix: string): string {
    const alphabet = "bcdfghjklmnpqrstvwxz2456789";
    for (;;) {
      this.generatedNames += 1;
      // Multiplying by a number prime to 27 permutes 0..27^5, so names don't repeat.
      let n = (this.generatedNames * 1_000_003) % 27 ** 5;
      let suffix = "";
      for (let i = 0; i < 5; i++) {
        suffix += alphabet[n % 27];
        n = Math.floor(n / 27);
      }
      const name = `${[...prefix].slice(0, 58).join("")}${suffix}`;
      if (!this.objects.has(key(kind, namespace, name))) return name;
    }
  }

  /** @internal */
  record(kind: "log", line: LogLine): void;
  record(kind: "event", event: Event): void;
  record(kind: "log" | "event", entry: LogLine | Event): void {
    if (kind === "log") this.recordedLogs.push(entry as LogLine);
    else this.recordedEvents.push(entry as Event);
  }

  /** @internal */
  stateStore(): Map<string, Uint8Array> {
    return this.store;
  }

  /** @internal Stores `incoming` over `existing` with update (or, with `statusOnly`, status update) semantics. */
  storeUpdate(id: string, existing: JsonObject, incoming: JsonObject, statusOnly: boolean, kind: Kind): JsonObject {
    let updated: JsonObject;
    if (statusOnly) {
      updated = clone(existing) as JsonObject;
      setOrRemove(updated, "status", incoming.status);
    } else {
      updated = incoming;
      setOrRemove(updated, "status", existing.status);
      const storedMetadata = metadataOf(existing);
      const metadata = metadataOf(updated);
      for (const field of [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
      ]) {
        setOrRemove(metadata, field, storedMetadata[field]);
      }
      if (!jsonEqual(without(updated, ["metadata", "status"]), without(existing, ["metadata", "status"]))) {
        metadata.generation = Number(storedMetadata.generation ?? 0) + 1;
      }
    }
    withType(updated, kind);
    metadataOf(updated).resourceVersion = metadataOf(existing).resourceVersion;
    if (jsonEqual(updated, existing)) return existing;
    metadataOf(updated).resourceVersion = this.nextRevision();
    const metadata = metadataOf(updated);
    const finalizers = metadata.finalizers;
    const finalized = !Array.isArray(finalizers) || finalizers.length === 0;
    if (metadata.deletionTimestamp != null && finalized) this.objects.delete(id);
    else this.objects.set(id, updated);
    return updated;
  }
}

/** The plugin side of a {@link FakeCluster}: the WIT imports, objects as JSON text. */
class FakeBackend implements ControllerBackend {
  constructor(private readonly fake: FakeCluster) {}

  get(kind: Kind, namespace: string | undefined, name: string): string | undefined {
    return this.fake.call({ verb: "get", kind, namespace, name }, () => {
      const found = this.fake.readable().get(key(kind, namespace, name));
      return [found === undefined ? undefined : JSON.stringify(found), name];
    });
  }

  list(kind: Kind, options: ListOptions): string[] {
    const namespace = options.namespace;
    return this.fake.call({ verb: "list", kind, namespace }, () => {
      const labels = Selector.parse(options.labelSelector ?? "");
      const fields = FieldSelector.parse(options.fieldSelector ?? "");
      const items = sortedEntries(this.fake.readable())
        .filter(([id]) => matchesKey(id, kind, namespace))
        .map(([, object]) => object)
        .filter((object) => labels.matches(metadataOf(object).labels as Record<string, string>) && fields.matches(object))
        .map((object) => JSON.stringify(object));
      return [items, undefined];
    });
  }

  create(kind: Kind, namespace: string | undefined, text: string): string {
    const object = parseObject(kind, text);
    const given = metadataOf(object).name;
    const name = typeof given === "string" && given !== "" ? given : undefined;
    return this.fake.call({ verb: "create", kind, namespace, name }, () => {
      checkNamespace(object, namespace);
      let finalName = name;
      if (finalName === undefined) {
        const prefix = metadataOf(object).generateName;
        if (typeof prefix !== "string" || prefix === "") throw new Invalid("name or generateName is required");
        finalName = this.fake.generateName(kind, namespace, prefix);
      }
      const id = key(kind, namespace, finalName);
      if (this.fake.stored().has(id)) {
        throw new AlreadyExists(`${kind.kind} ${JSON.stringify(finalName)} already exists`);
      }
      delete object.status;
      const metadata = metadataOf(object);
      metadata.name = finalName;
      if (namespace !== undefined) metadata.namespace = namespace;
      metadata.uid = this.fake.nextUid();
      metadata.creationTimestamp = rfc3339(this.fake.nowMillis);
      metadata.generation = 1;
      metadata.resourceVersion = this.fake.nextRevision();
      delete metadata.deletionTimestamp;
      delete metadata.deletionGracePeriodSeconds;
      this.fake.stored().set(id, object);
      return [JSON.stringify(object), finalName];
    });
  }

  createAll(kind: Kind, namespace: string | undefined, objects: string[]): CreateResult[] {
    return objects.map((object) => {
      try {
        return { ok: true, value: this.create(kind, namespace, object) };
      } catch (error) {
        if (error instanceof ApiError) return { ok: false, error };
        throw error;
      }
    });
  }

  update(kind: Kind, namespace: string | undefined, object: string): string {
    return this.replace("update", kind, namespace, object);
  }

  updateStatus(kind: Kind, namespace: string | undefined, object: string): string {
    return this.replace("updateStatus", kind, namespace, object);
  }

  patch(
    kind: Kind,
    namespace: string | undefined,
    name: string,
    patchType: PatchType,
    body: string,
    status: boolean,
  ): string {
    return this.fake.call({ verb: "patch", kind, namespace, name }, () => {
      let patch: unknown;
      try {
        patch = JSON.parse(body);
      } catch (error) {
        throw new Invalid(`the patch is not JSON: ${(error as Error).message}`);
      }
      const id = key(kind, namespace, name);
      const existing = this.fake.stored().get(id);
      if (existing === undefined) throw notFound(kind, name);
      const patched = (
        patchType === "json" ? applyJsonPatch(existing, patch) : mergePatch(clone(existing), patch, patchType === "strategic")
      ) as JsonObject;
      if (typeof patched !== "object" || patched === null || Array.isArray(patched)) {
        throw new Invalid("the patched object is not a JSON object");
      }
      // A resourceVersion in the patch is a precondition; without one the patch applies to the latest.
      if (metadataOf(patched).resourceVersion !== metadataOf(existing).resourceVersion) throw conflict(kind, name);
      metadataOf(patched).name = name;
      const stored = this.fake.storeUpdate(id, existing, patched, status, kind);
      return [JSON.stringify(stored), name];
    });
  }

  delete(kind: Kind, namespace: string | undefined, name: string): void {
    this.fake.call({ verb: "delete", kind, namespace, name }, () => {
      const id = key(kind, namespace, name);
      const existing = this.fake.stored().get(id);
      if (existing === undefined) throw notFound(kind, name);
      const finalizers = metadataOf(existing).finalizers;
      if (!Array.isArray(finalizers) || finalizers.length === 0) {
        this.fake.stored().delete(id);
        this.fake.nextRevision();
      } else if (metadataOf(existing).deletionTimestamp == null) {
        const terminating = clone(existing) as JsonObject;
        const metadata = metadataOf(terminating);
        metadata.deletionTimestamp = rfc3339(this.fake.nowMillis);
        metadata.deletionGracePeriodSeconds = 0;
        metadata.resourceVersion = this.fake.nextRevision();
        this.fake.stored().set(id, terminating);
      }
      return [undefined, name];
    });
  }

  log(level: LogLevel, message: string): void {
    this.fake.record("log", { level, message });
  }

  nowMillis(): number {
    return this.fake.nowMillis;
  }

  emitEvent(event: Event): void {
    this.fake.record("event", clone(event) as Event);
  }

  stateGet(key: string): Uint8Array | undefined {
    const value = this.fake.stateStore().get(key);
    return value === undefined ? undefined : value.slice();
  }

  stateSet(key: string, value: Uint8Array): void {
    this.fake.stateStore().set(key, value.slice());
  }

  stateDelete(key: string): void {
    this.fake.stateStore().delete(key);
  }

  /** Update and status update: both replace, from the object's own name. */
  private replace(verb: "update" | "updateStatus", kind: Kind, namespace: string | undefined, text: string): string {
    const incoming = parseObject(kind, text);
    const given = metadataOf(incoming).name;
    const name = typeof given === "string" && given !== "" ? given : undefined;
    return this.fake.call({ verb, kind, namespace, name }, () => {
      if (name === undefined) throw new Invalid("metadata.name is required");
      checkNamespace(incoming, namespace);
      const id = key(kind, namespace, name);
      const existing = this.fake.stored().get(id);
      if (existing === undefined) throw notFound(kind, name);
      const version = metadataOf(incoming).resourceVersion;
      if (version != null && version !== metadataOf(existing).resourceVersion) throw conflict(kind, name);
      const uid = metadataOf(incoming).uid;
      if (uid != null && uid !== metadataOf(existing).uid) {
        throw new Conflict(
          `${kind.kind} ${JSON.stringify(name)}: the uid in the request is ${uid}, the stored object's is ${metadataOf(existing).uid}`,
        );
      }
      const stored = this.fake.storeUpdate(id, existing, incoming, verb === "updateStatus", kind);
      return [JSON.stringify(stored), name];
    });
  }
}

// --- Helpers ---

const SEPARATOR = "\u0000";

/** Objects by kind, namespace and name. */
function key(kind: Kind, namespace: string | undefined, name: string): string {
  return [kind.group, kind.version, kind.kind, namespace ?? "", name].join(SEPARATOR);
}

function matchesKey(id: string, kind: Kind, namespace: string | undefined): boolean {
  const [group, version, kindName, objectNamespace] = id.split(SEPARATOR);
  return (
    group === kind.group &&
    version === kind.version &&
    kindName === kind.kind &&
    (namespace === undefined || objectNamespace === namespace)
  );
}

/** Entries sorted by kind, namespace, then name (as the API server lists). */
function sortedEntries(objects: Objects): Array<[string, JsonObject]> {
  return [...objects.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Parses an object sent to the cluster: a JSON object whose apiVersion and kind, when present, are the call's. */
function parseObject(kind: Kind, text: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Invalid(`the object is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Invalid("the object is not a JSON object");
  }
  const object = value as JsonObject;
  for (const [field, expected] of [
    ["apiVersion", apiVersion(kind)],
    ["kind", kind.kind],
  ] as const) {
    const actual = object[field];
    if (actual != null && actual !== expected) {
      throw new Invalid(`${field} is ${JSON.stringify(actual)}, the call is for ${apiVersion(kind)} ${kind.kind}`);
    }
  }
  return withType(object, kind);
}

function checkNamespace(object: JsonObject, namespace: string | undefined): void {
  const own = metadataOf(object).namespace;
  if (typeof own === "string" && namespace !== undefined && own !== namespace) {
    throw new Invalid(
      `the namespace of the object (${own}) does not match the namespace of the call (${namespace})`,
    );
  }
}

function withType(object: JsonObject, kind: Kind): JsonObject {
  object.apiVersion = apiVersion(kind);
  object.kind = kind.kind;
  return object;
}

function metadataOf(object: JsonObject): JsonObject {
  const metadata = object.metadata;
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
    object.metadata = {};
  }
  return object.metadata as JsonObject;
}

function setOrRemove(object: JsonObject, field: string, value: unknown): void {
  if (value === undefined) delete object[field];
  else object[field] = value;
}

function without(object: JsonObject, fields: string[]): JsonObject {
  const copy = { ...object };
  for (const field of fields) delete copy[field];
  return copy;
}

function notFound(kind: Kind, name: string): NotFound {
  return new NotFound(`${kind.kind} ${JSON.stringify(name)} not found`);
}

function conflict(kind: Kind, name: string): Conflict {
  return new Conflict(
    `Operation cannot be fulfilled on ${kind.kind} ${JSON.stringify(name)}: the object has been modified; please apply your changes to the latest version and try again`,
  );
}
