/**
 * The host side of every world with cluster access: the `cluster`, `log`
 * and `clock` imports as a {@link ClusterBackend}, `console.*` routed to
 * the host's log, and what the exports do with errors.
 *
 * Only `bin/build.mjs` bundles this folder: it imports the WIT interfaces
 * (`wharf:plugin/*`), which exist only inside a component.
 *
 * @module
 */

import {
  create,
  createAll,
  delete as deleteObject,
  get,
  list,
  patch,
  update,
  updateStatus,
} from "wharf:plugin/cluster@0.1.0";
import { nowMillis } from "wharf:plugin/clock@0.1.0";
import { log } from "wharf:plugin/log@0.1.0";

import type { ClusterBackend, CreateResult, ListOptions, LogLevel, PatchType } from "../backend";
import { ApiError, describeError } from "../errors";
import type { Kind } from "../kinds";
import { routeConsole } from "../log";

// The engine's own console, kept before routing: `console.error` here
// writes to the component's stderr, whose tail the host keeps as the
// plugin's last error.
const engineConsole = { log: console.log.bind(console), error: console.error.bind(console) };

/** Whether an export is running: only then may the imports be called. */
let hostActive = false;

// Routed at build time (the module's top level runs while the component is
// made, and the engine's state is snapshotted): from the first export call
// on, console output goes to the host's log at the method's level.
routeConsole((level, message) => {
  if (hostActive) {
    log(level, message);
  } else if (level === "warn" || level === "error") {
    engineConsole.error(message);
  } else {
    engineConsole.log(message);
  }
});

/** Marks the start of an export call: the host's imports are there. */
export function enterExport(): void {
  hostActive = true;
}

/** Writes to the component's stderr (not to the host's log). */
export function writeStderr(text: string): void {
  engineConsole.error(text);
}

/** What `init` returns for an error: the message for an API error (a bad config), else the stack too. */
export function initError(error: unknown): string {
  return error instanceof ApiError ? `${error.name}: ${error.message}` : describeError(error);
}

/** The host's `api-error`, thrown by the bindings as an error with a `payload`, as an {@link ApiError}. */
function hostCall<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    const payload = (error as { payload?: unknown } | null)?.payload;
    if (!isApiErrorVariant(payload)) throw error;
    const apiError = ApiError.fromWit(payload);
    // The stack starts where the plugin called, not in the error's constructors.
    const frames = typeof apiError.stack === "string" ? apiError.stack.split("\n") : [];
    const here = frames.findIndex((frame) => frame.startsWith("hostCall@"));
    if (here >= 0) apiError.stack = frames.slice(here + 1).join("\n");
    throw apiError;
  }
}

function isApiErrorVariant(value: unknown): value is { tag: string; val: string } {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { tag?: unknown }).tag === "string" &&
    typeof (value as { val?: unknown }).val === "string"
  );
}

/** The cluster through the host's imports. */
export class HostCluster implements ClusterBackend {
  get(kind: Kind, namespace: string | undefined, name: string): string | undefined {
    return hostCall(() => get(kind, namespace, name));
  }

  list(kind: Kind, options: ListOptions): string[] {
    return hostCall(() => list(kind, options));
  }

  create(kind: Kind, namespace: string | undefined, object: string): string {
    return hostCall(() => create(kind, namespace, object));
  }

  createAll(kind: Kind, namespace: string | undefined, objects: string[]): CreateResult[] {
    return hostCall(() => createAll(kind, namespace, objects)).map((result) =>
      result.tag === "ok" ? { ok: true, value: result.val } : { ok: false, error: ApiError.fromWit(result.val) },
    );
  }

  update(kind: Kind, namespace: string | undefined, object: string): string {
    return hostCall(() => update(kind, namespace, object));
  }

  updateStatus(kind: Kind, namespace: string | undefined, object: string): string {
    return hostCall(() => updateStatus(kind, namespace, object));
  }

  patch(
    kind: Kind,
    namespace: string | undefined,
    name: string,
    patchType: PatchType,
    body: string,
    status: boolean,
  ): string {
    return hostCall(() => patch(kind, namespace, name, patchType, body, status));
  }

  delete(kind: Kind, namespace: string | undefined, name: string): void {
    hostCall(() => deleteObject(kind, namespace, name));
  }

  log(level: LogLevel, message: string): void {
    log(level, message);
  }

  nowMillis(): number {
    return Number(nowMillis());
  }
}
