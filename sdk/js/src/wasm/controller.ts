/**
 * The `controller` world's exports: `bin/build.mjs` makes the component's
 * entry module `export const reconciler = serveController(plugin)`, where
 * `plugin` is the default export of the plugin's `src/plugin.ts`.
 *
 * @module
 */

import { emit } from "wharf:plugin/events@0.1.0";
import { delete as stateDelete, get as stateGet, set as stateSet } from "wharf:plugin/state@0.1.0";

import type { ControllerBackend, Event } from "../backend";
import { type Controller, ControllerInstance } from "../controller";
import { describeError } from "../errors";
import { plainKind } from "../kinds";
import { enterExport, HostCluster, initError, writeStderr } from "./host";

/** The `controller` world's imports. */
class HostController extends HostCluster implements ControllerBackend {
  emitEvent(event: Event): void {
    emit({
      regarding: { ...event.regarding, kind: plainKind(event.regarding.kind) },
      type: event.type === "Warning" ? "warning" : "normal",
      reason: event.reason,
      message: event.message,
    });
  }

  stateGet(key: string): Uint8Array | undefined {
    return stateGet(key);
  }

  stateSet(key: string, value: Uint8Array): void {
    stateSet(key, value);
  }

  stateDelete(key: string): void {
    stateDelete(key);
  }
}

type WitResult<T> = { tag: "ok"; val: T } | { tag: "err"; val: string };

/**
 * The `reconciler` export over `controller`: `init` configures one instance
 * (kept for the component instance's life), `reconcile` runs it. An
 * exception becomes the call's error (with its stack), written to stderr
 * too; the host retries the key with backoff.
 */
export function serveController(controller: Controller<unknown>) {
  if (controller?.world !== "controller") {
    throw new TypeError(
      "src/plugin's default export is not a controller: export default defineController({ registration, reconcile })",
    );
  }
  const backend = new HostController();
  let instance: ControllerInstance<unknown> | undefined;
  return {
    init(config: string): WitResult<ControllerInstance["registration"]> {
      enterExport();
      try {
        instance = new ControllerInstance(controller, config);
        return { tag: "ok", val: instance.registration };
      } catch (error) {
        const text = initError(error);
        writeStderr(text);
        return { tag: "err", val: text };
      }
    },

    reconcile(
      namespace: string | undefined,
      name: string,
    ): WitResult<{ tag: "done" } | { tag: "requeue-after"; val: number }> {
      enterExport();
      if (instance === undefined) return { tag: "err", val: "reconcile was called before init" };
      try {
        const action = instance.reconcile(backend, namespace, name);
        return {
          tag: "ok",
          val: action.type === "done" ? { tag: "done" } : { tag: "requeue-after", val: action.afterMillis },
        };
      } catch (error) {
        const text = describeError(error);
        writeStderr(text);
        return { tag: "err", val: text };
      }
    },
  };
}
