/**
 * Admission plugins: a look at every write before it is stored, as
 * Kubernetes' admission webhooks have, without the webhook's round trip.
 * Mutating plugins run first and may change the object
 * ({@link Response.patch}); then validating plugins judge it. Any plugin may
 * deny ({@link Response.deny}) and add warnings, which kubectl prints.
 *
 * ```ts
 * export default defineAdmission({
 *   registration: () => ({ kinds: [Kinds.Pod], operations: ["CREATE"] }),
 *   review(ctx, request) {
 *     if (request.namespace === "frozen") return Response.deny("the namespace frozen takes no new pods");
 *     return Response.allow();
 *   },
 * });
 * ```
 *
 * @module
 */

import type { ClusterBackend } from "./backend";
import { parseConfig, type PluginConfig } from "./config";
import { Context } from "./context";
import { Invalid } from "./errors";
import { isPlainObject, jsonEqual } from "./json";
import { isKind, type Kind, kindOf, plainKind } from "./kinds";
import type { KubeObject } from "./objects";

/** What kind of write. */
export type Operation = "CREATE" | "UPDATE" | "DELETE";

/** What a plugin reviews, and how. */
export interface AdmissionRegistration {
  /** The kinds it reviews. The Plugin may narrow them further with `spec.config.namespaceSelector` and `objectSelector`. */
  kinds: Kind[];
  /** The operations it reviews (`*`: all); by default all of them. */
  operations?: Array<Operation | "*">;
  /** Whether it may change objects (runs in the mutating phase); default false. */
  mutating?: boolean;
  /** Kinds it reads through the cluster on every review: the host serves them from its caches. */
  reads?: Kind[];
}

/** Who asks. */
export interface UserInfo {
  username: string;
  groups: string[];
}

/** One write under review, its objects parsed. */
export interface AdmissionRequest<T extends KubeObject = KubeObject> {
  /** A unique id of this review. */
  uid: string;
  operation: Operation;
  kind: Kind;
  /** `status`, `scale`, `binding`, `ephemeralcontainers`… when the write is to a subresource. */
  subResource?: string;
  namespace?: string;
  name: string;
  /** The object as it would be stored; absent for DELETE. */
  object?: T;
  /** The object as stored now; absent for CREATE. */
  oldObject?: T;
  user: UserInfo;
  /** Nothing will be stored: the plugin must not have side effects. */
  dryRun: boolean;
}

/** Allow, deny or change. */
export type Decision =
  | { readonly type: "allow" }
  | { readonly type: "deny"; readonly message: string }
  | { readonly type: "patch"; readonly operations: readonly PatchOperation[] };

/** One operation of an RFC 6902 JSON patch, as {@link jsonPatch} writes them. */
export type PatchOperation =
  | { op: "add"; path: string; value: unknown }
  | { op: "remove"; path: string }
  | { op: "replace"; path: string; value: unknown };

/** A status stored together with the reviewed write, or not at all: see {@link Response.updateStatus}. */
export interface StatusUpdate {
  kind: Kind;
  namespace?: string;
  name: string;
  /** The resourceVersion the plugin read. */
  resourceVersion: string;
  status: unknown;
}

/**
 * A plugin's answer: a decision, and warnings, audit annotations and status
 * updates added with chained calls.
 *
 * ```ts
 * return Response.allow().warn("no team label").annotate("teams.example.com/missing", "team");
 * ```
 */
export class Response {
  /** Sent to the client as `Warning` headers (kubectl prints them). */
  readonly warnings: string[] = [];
  /** Recorded in the API server's audit log. */
  readonly auditAnnotations: Record<string, string> = {};
  /** Statuses stored together with the write (validating plugins only). */
  readonly statusUpdates: StatusUpdate[] = [];

  private constructor(readonly decision: Decision) {}

  /** Let the write through. */
  static allow(): Response {
    return new Response({ type: "allow" });
  }

  /** Refuse the write; the client sees `admission plugin "NAME" denied the request: MESSAGE`. */
  static deny(message: string): Response {
    return new Response({ type: "deny", message });
  }

  /**
   * Allow the write with `changed` in place of the request's object: the
   * JSON patch between them (nothing changed: allow). Mutating plugins
   * only. `changed` may be `request.object` itself, changed in place: the
   * patch is computed against the object as it came in.
   */
  static patch(request: AdmissionRequest, changed: KubeObject): Response {
    return Response.withPatch(jsonPatch(originalObject(request), changed));
  }

  /** Allow the write with these changes (none: allow). */
  static withPatch(operations: readonly PatchOperation[]): Response {
    return operations.length === 0 ? Response.allow() : new Response({ type: "patch", operations });
  }

  /** Whether the write goes on (allowed or patched). */
  get allowed(): boolean {
    return this.decision.type !== "deny";
  }

  /** Adds a warning. */
  warn(warning: string): this {
    this.warnings.push(warning);
    return this;
  }

  /** Adds an audit annotation. */
  annotate(key: string, value: string): this {
    this.auditAnnotations[key] = value;
    return this;
  }

  /**
   * Stores `object`'s status together with the reviewed write (a validating
   * plugin's charge, as a quota's usage): both are stored or neither is.
   * `object` is the version the plugin read with its new status; if the
   * stored one has changed since, the API server reviews the write again.
   * A dry run stores nothing.
   */
  updateStatus(object: KubeObject): this {
    const name = object.metadata?.name;
    const resourceVersion = object.metadata?.resourceVersion;
    if (!name || !resourceVersion) {
      throw new Invalid("a status update needs the object's name and resourceVersion");
    }
    this.statusUpdates.push({
      kind: plainKind(kindOf(object)),
      namespace: object.metadata?.namespace,
      name,
      resourceVersion,
      status: object.status ?? null,
    });
    return this;
  }
}

/**
 * An admission plugin, as `defineAdmission` takes it. `Config` is what
 * `configure` makes of the Plugin's `spec.config`.
 */
export interface AdmissionDefinition<Config = PluginConfig> {
  /**
   * Reads the Plugin's `spec.config` once per instance, before
   * `registration`; what it returns is `ctx.config`. Throw to refuse the
   * config: the plugin fails to start with that message.
   */
  configure?(config: PluginConfig): Config;
  /** What the plugin reviews; called once per instance. */
  registration(config: Config): AdmissionRegistration;
  /**
   * Judges one write. Return a {@link Response} (nothing: allow). An
   * exception is the plugin's failure, not a denial: the host applies the
   * Plugin's `failurePolicy`.
   */
  review(ctx: Context<Config>, request: AdmissionRequest): Response | void;
}

/** A defined admission plugin: what a plugin's `src/plugin.ts` exports as default. */
export interface Admission<Config = PluginConfig> extends AdmissionDefinition<Config> {
  readonly world: "admission";
}

/** Defines the plugin's admission rule; export the result as the module's default. */
export function defineAdmission<Config = PluginConfig>(definition: AdmissionDefinition<Config>): Admission<Config> {
  if (typeof definition?.registration !== "function" || typeof definition.review !== "function") {
    throw new TypeError("defineAdmission needs registration and review functions");
  }
  return Object.freeze({ ...definition, world: "admission" as const });
}

/** A checked registration with every field filled in, as the WIT record has it. */
export interface ResolvedAdmissionRegistration {
  kinds: Kind[];
  operations: string[];
  mutating: boolean;
  reads: Kind[];
}

/**
 * The request as the host sends it (objects as JSON text), before parsing.
 * `operation` is any text; the SDK checks it.
 */
export interface RawAdmissionRequest {
  uid: string;
  operation: string;
  kind: Kind;
  subResource?: string;
  namespace?: string;
  name: string;
  object?: string;
  oldObject?: string;
  user: UserInfo;
  dryRun: boolean;
}

/**
 * One configured admission plugin, as the host makes it per component
 * instance (and the test harness per test). Not an API for plugins.
 */
export class AdmissionInstance<Config = PluginConfig> {
  readonly registration: ResolvedAdmissionRegistration;
  readonly config: Config;

  constructor(
    readonly admission: Admission<Config>,
    config: string | PluginConfig,
  ) {
    const raw = typeof config === "string" ? parseConfig(config) : config;
    this.config = admission.configure ? admission.configure(raw) : (raw as Config);
    this.registration = resolveRegistration(admission.registration(this.config));
  }

  /** Reviews one request over `backend`; exceptions propagate. */
  review(backend: ClusterBackend, request: AdmissionRequest): Response {
    const response = this.admission.review(new Context(backend, this.config), request);
    if (response === undefined || response === null) return Response.allow();
    if (!(response instanceof Response)) {
      throw new TypeError("review must return a Response (Response.allow(), .deny(…), .patch(…)) or nothing");
    }
    if (response.decision.type === "patch" && !this.registration.mutating) {
      throw new Invalid("a validating plugin answered with a patch: register with mutating: true to change objects");
    }
    return response;
  }
}

/** The request with its objects parsed; keeps the object's text for {@link Response.patch}. */
export function parseRequest(raw: RawAdmissionRequest): AdmissionRequest {
  const operation = raw.operation.toUpperCase();
  if (operation !== "CREATE" && operation !== "UPDATE" && operation !== "DELETE") {
    throw new Invalid(`unknown admission operation ${JSON.stringify(raw.operation)}`);
  }
  const request: AdmissionRequest = {
    uid: raw.uid,
    operation,
    kind: raw.kind,
    subResource: raw.subResource,
    namespace: raw.namespace,
    name: raw.name,
    object: raw.object === undefined ? undefined : (JSON.parse(raw.object) as KubeObject),
    oldObject: raw.oldObject === undefined ? undefined : (JSON.parse(raw.oldObject) as KubeObject),
    user: { username: raw.user.username, groups: [...raw.user.groups] },
    dryRun: raw.dryRun,
  };
  // A hidden property rather than a WeakMap: StarlingMonkey frees a
  // WeakMap's entries only in full collections, which are rare, so a
  // WeakMap made the instance's memory grow by each request's text.
  if (raw.object !== undefined) Object.defineProperty(request, ORIGINAL, { value: raw.object });
  return request;
}

/** The request's object as it came in, before any change the plugin made to `request.object`. */
function originalObject(request: AdmissionRequest): unknown {
  const text = (request as { [ORIGINAL]?: string })[ORIGINAL];
  return text === undefined ? (request.object ?? null) : JSON.parse(text);
}

/** The request object's JSON text as it came in, on the request (not enumerable). */
const ORIGINAL = Symbol("wharf.original");

/**
 * The JSON patch (RFC 6902) that turns `from` into `to`: objects compared
 * key by key, arrays of the same length element by element, anything else
 * replaced where it differs.
 */
export function jsonPatch(from: unknown, to: unknown): PatchOperation[] {
  const operations: PatchOperation[] = [];
  diff(from, to, "", operations);
  return operations;
}

function diff(from: unknown, to: unknown, path: string, out: PatchOperation[]): void {
  if (isPlainObject(from) && isPlainObject(to)) {
    for (const key of Object.keys(from)) {
      if (!Object.prototype.hasOwnProperty.call(to, key) || to[key] === undefined) {
        if (from[key] !== undefined) out.push({ op: "remove", path: `${path}/${escapePointer(key)}` });
      } else {
        diff(from[key], to[key], `${path}/${escapePointer(key)}`, out);
      }
    }
    for (const key of Object.keys(to)) {
      if (to[key] !== undefined && (!Object.prototype.hasOwnProperty.call(from, key) || from[key] === undefined)) {
        out.push({ op: "add", path: `${path}/${escapePointer(key)}`, value: to[key] });
      }
    }
    return;
  }
  if (Array.isArray(from) && Array.isArray(to) && from.length === to.length) {
    from.forEach((item, index) => diff(item, to[index], `${path}/${index}`, out));
    return;
  }
  if (!jsonEqual(from, to)) out.push({ op: "replace", path, value: to });
}

/** A JSON pointer segment (`~` and `/` escaped). */
export function escapePointer(key: string): string {
  return key.replace(/~/g, "~0").replace(/\//g, "~1");
}

function resolveRegistration(registration: AdmissionRegistration): ResolvedAdmissionRegistration {
  const kinds = registration?.kinds;
  if (!Array.isArray(kinds) || kinds.length === 0 || !kinds.every(isKind)) {
    throw new Invalid("the registration needs kinds: a list of {group, version, kind} (e.g. [Kinds.Pod])");
  }
  const reads = registration.reads ?? [];
  if (!reads.every(isKind)) throw new Invalid("registration.reads has an entry that is not a kind");
  const operations = registration.operations ?? ["CREATE", "UPDATE", "DELETE"];
  for (const operation of operations) {
    if (!["CREATE", "UPDATE", "DELETE", "*"].includes(operation)) {
      throw new Invalid(`registration.operations: ${JSON.stringify(operation)} is not CREATE, UPDATE, DELETE or *`);
    }
  }
  return {
    kinds: kinds.map(plainKind),
    operations: [...operations],
    mutating: registration.mutating ?? false,
    reads: reads.map(plainKind),
  };
}
