/**
 * Controllers: level-triggered, idempotent reconciling of one object at a
 * time, as in controller-runtime. The host owns the watches, caches and
 * work queue; a plugin says what it reconciles and watches
 * (`registration`) and brings one key in line (`reconcile`).
 *
 * ```ts
 * export default defineController({
 *   registration: () => ({ primary: Kinds.ConfigMap, owns: [Kinds.ConfigMap] }),
 *   reconcile(ctx, namespace, name) {
 *     const source = ctx.get(Kinds.ConfigMap, namespace, name);
 *     if (source === undefined) return; // gone
 *     // …
 *   },
 * });
 * ```
 *
 * @module
 */

import type { ControllerBackend } from "./backend";
import { parseConfig, type PluginConfig } from "./config";
import { ControllerContext } from "./context";
import { Invalid } from "./errors";
import { isKind, type Kind, plainKind } from "./kinds";

/** What a controller reconciles and what it watches: the WIT `registration`. */
export interface ControllerRegistration {
  /** Events on objects of this kind enqueue their own key. */
  primary: Kind;
  /**
   * Events on objects of these kinds enqueue the key of their controlling
   * owner (an ownerReference with `controller: true`) of the primary kind.
   */
  owns?: Kind[];
  /** Further kinds the controller reads; the host caches them, but their events enqueue nothing. */
  reads?: Kind[];
  /** Every primary key is reconciled again this often (whole seconds); 0 or absent: never. */
  resyncSeconds?: number;
}

/** How a reconcile ended: {@link done}, or {@link requeueAfter} a while. */
export type Action = { readonly type: "done" } | { readonly type: "requeue"; readonly afterMillis: number };

const DONE: Action = Object.freeze({ type: "done" });

/** Nothing more to do until something changes (what returning nothing means too). */
export function done(): Action {
  return DONE;
}

/** Reconcile this key again after `millis` milliseconds (at most 2³²−1, about 49 days). */
export function requeueAfter(millis: number): Action {
  if (!Number.isInteger(millis) || millis < 0 || millis > 0xffff_ffff) {
    throw new Invalid(`requeueAfter takes whole milliseconds from 0 to 4294967295, not ${millis}`);
  }
  return Object.freeze({ type: "requeue", afterMillis: millis });
}

/**
 * A controller, as `defineController` takes it. `Config` is what
 * `configure` makes of the Plugin's `spec.config` (by default the config
 * object itself).
 */
export interface ControllerDefinition<Config = PluginConfig> {
  /**
   * Reads the Plugin's `spec.config` (`{}` when absent) once per instance,
   * before `registration`; what it returns is `ctx.config`. Throw to refuse
   * the config: the plugin fails to start with that message.
   */
  configure?(config: PluginConfig): Config;
  /** What the controller reconciles and watches; called once per instance. */
  registration(config: Config): ControllerRegistration;
  /**
   * Brings the world in line with the primary object `namespace/name`
   * (`namespace` undefined for cluster-scoped kinds), which may no longer
   * exist. Return nothing (done) or an {@link Action}; throw to have the
   * host retry the key with backoff.
   */
  reconcile(ctx: ControllerContext<Config>, namespace: string | undefined, name: string): Action | void;
}

/** A defined controller: what a plugin's `src/plugin.ts` exports as default. */
export interface Controller<Config = PluginConfig> extends ControllerDefinition<Config> {
  readonly world: "controller";
}

/** Defines the plugin's controller; export the result as the module's default. */
export function defineController<Config = PluginConfig>(
  definition: ControllerDefinition<Config>,
): Controller<Config> {
  if (typeof definition?.registration !== "function" || typeof definition.reconcile !== "function") {
    throw new TypeError("defineController needs registration and reconcile functions");
  }
  return Object.freeze({ ...definition, world: "controller" as const });
}

/** A checked registration with every field filled in, as the WIT record has it. */
export interface ResolvedControllerRegistration {
  primary: Kind;
  owns: Kind[];
  reads: Kind[];
  resyncSeconds: number;
}

/**
 * One configured controller, as the host makes it per component instance
 * (and the fake cluster per test): `configure`, then `registration`.
 * Not an API for plugins.
 */
export class ControllerInstance<Config = PluginConfig> {
  readonly registration: ResolvedControllerRegistration;
  readonly config: Config;

  constructor(
    readonly controller: Controller<Config>,
    config: string | PluginConfig,
  ) {
    const raw = typeof config === "string" ? parseConfig(config) : config;
    this.config = controller.configure ? controller.configure(raw) : (raw as Config);
    this.registration = resolveRegistration(controller.registration(this.config));
  }

  /** Runs one reconcile over `backend`; exceptions propagate. */
  reconcile(backend: ControllerBackend, namespace: string | undefined, name: string): Action {
    const action = this.controller.reconcile(new ControllerContext(backend, this.config), namespace, name);
    if (action === undefined || action === null) return DONE;
    if (action.type === "done" || (action.type === "requeue" && Number.isInteger(action.afterMillis))) return action;
    throw new TypeError(`reconcile returned ${JSON.stringify(action)}: return nothing, done() or requeueAfter(ms)`);
  }
}

function resolveRegistration(registration: ControllerRegistration): ResolvedControllerRegistration {
  if (!isKind(registration?.primary)) {
    throw new Invalid("the registration needs a primary kind ({group, version, kind}, e.g. Kinds.ConfigMap)");
  }
  const kinds = (field: "owns" | "reads"): Kind[] => {
    const list = registration[field] ?? [];
    for (const entry of list) {
      if (!isKind(entry)) throw new Invalid(`registration.${field} has an entry that is not a kind: ${JSON.stringify(entry)}`);
    }
    return list.map(plainKind);
  };
  const resyncSeconds = registration.resyncSeconds ?? 0;
  if (!Number.isInteger(resyncSeconds) || resyncSeconds < 0 || resyncSeconds > 0xffff_ffff) {
    throw new Invalid(`registration.resyncSeconds must be whole seconds (0: off), not ${resyncSeconds}`);
  }
  return { primary: plainKind(registration.primary), owns: kinds("owns"), reads: kinds("reads"), resyncSeconds };
}
