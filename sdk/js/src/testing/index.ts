/**
 * `@wharf/sdk/testing`: unit tests of plugins on plain Node, no
 * WebAssembly: a {@link FakeCluster} with the API server's semantics, and
 * harnesses that run a controller for a key or an admission plugin for a
 * request, as the host would.
 *
 * ```ts
 * import { test } from "node:test";
 * import assert from "node:assert/strict";
 * import { Kinds } from "@wharf/sdk";
 * import { FakeCluster } from "@wharf/sdk/testing";
 * import mirror from "../src/plugin";
 *
 * test("a labelled ConfigMap gets a mirror", () => {
 *   const fake = new FakeCluster();
 *   fake.add({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", namespace: "ns", labels: { mirror: "true" } } });
 *   fake.run(mirror, "ns/a");
 *   assert.ok(fake.get(Kinds.ConfigMap, "ns", "a-mirror"));
 * });
 * ```
 *
 * @module
 */

export { type Call, type CallRequest, FakeCluster, type LogLine, START_MILLIS, type Verb } from "./fake-cluster";
export { AdmissionHarness, ControllerHarness, type ReviewInput } from "./harness";
export { applyJsonPatch, mergePatch } from "./patch";
