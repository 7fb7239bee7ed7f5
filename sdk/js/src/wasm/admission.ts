/**
 * The `admission` world's exports: `bin/build.mjs` makes the component's
 * entry module `export const review = serveAdmission(plugin)`, where
 * `plugin` is the default export of the plugin's `src/plugin.ts`.
 *
 * @module
 */

import type { Request as WitRequest, Response as WitResponse } from "wharf:plugin/review@0.1.0";

import { type Admission, AdmissionInstance, parseRequest, type Response } from "../admission";
import { describeError } from "../errors";
import { enterExport, HostCluster, initError, writeStderr } from "./host";

type WitResult<T> = { tag: "ok"; val: T } | { tag: "err"; val: string };

/**
 * The `review` export over `admission`: `init` configures one instance
 * (kept for the component instance's life), `review` runs it. `review` has
 * no error result: an exception is written to stderr with its stack and
 * rethrown, which traps; the host records stderr's tail as the plugin's
 * last error and applies the Plugin's `failurePolicy`.
 */
export function serveAdmission(admission: Admission<unknown>) {
  if (admission?.world !== "admission") {
    throw new TypeError(
      "src/plugin's default export is not an admission plugin: export default defineAdmission({ registration, review })",
    );
  }
  const backend = new HostCluster();
  let instance: AdmissionInstance<unknown> | undefined;
  return {
    init(config: string): WitResult<AdmissionInstance["registration"]> {
      enterExport();
      try {
        instance = new AdmissionInstance(admission, config);
        return { tag: "ok", val: instance.registration };
      } catch (error) {
        const text = initError(error);
        writeStderr(text);
        return { tag: "err", val: text };
      }
    },

    review(request: WitRequest): WitResponse {
      enterExport();
      try {
        if (instance === undefined) throw new Error("review was called before init");
        return toWit(instance.review(backend, parseRequest(request)));
      } catch (error) {
        writeStderr(describeError(error));
        throw error;
      }
    },
  };
}

function toWit(response: Response): WitResponse {
  const { decision } = response;
  return {
    decision:
      decision.type === "allow"
        ? { tag: "allow" }
        : decision.type === "deny"
          ? { tag: "deny", val: decision.message }
          : { tag: "patch", val: JSON.stringify(decision.operations) },
    warnings: [...response.warnings],
    auditAnnotations: Object.entries(response.auditAnnotations),
    statusUpdates: response.statusUpdates.map((update) => ({
      kind: update.kind,
      namespace: update.namespace,
      name: update.name,
      resourceVersion: update.resourceVersion,
      status: JSON.stringify(update.status),
    })),
  };
}
