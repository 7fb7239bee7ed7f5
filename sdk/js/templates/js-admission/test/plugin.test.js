import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeCluster } from "@wharf/sdk/testing";
import teamLabel from "../src/plugin.js";
const pod = (labels = {}, namespace = "shop") => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "web", namespace, labels },
  spec: { containers: [{ name: "app", image: "nginx:1.27" }] }
});
test("a pod without a team gets the default team, with a warning", () => {
  const harness = new FakeCluster().admission(teamLabel, { defaultTeam: "platform" });
  const response = harness.review({ operation: "CREATE", object: pod() });
  assert.deepEqual(response.decision, {
    type: "patch",
    operations: [{ op: "add", path: "/metadata/labels/team", value: "platform" }]
  });
  assert.equal(harness.patched(response).metadata?.labels?.team, "platform");
  assert.deepEqual(response.warnings, ["no team label: set to platform"]);
});
test("a pod with a team is allowed as it is", () => {
  const response = new FakeCluster().review(teamLabel, { operation: "CREATE", object: pod({ team: "web" }) });
  assert.deepEqual(response.decision, { type: "allow" });
});
test("a frozen namespace takes no new pods", () => {
  const fake = new FakeCluster();
  fake.add({ apiVersion: "v1", kind: "Namespace", metadata: { name: "shop", annotations: { "teams.example.com/frozen": "true" } } });
  const response = fake.review(teamLabel, { operation: "CREATE", object: pod() });
  assert.deepEqual(response.decision, { type: "deny", message: "the namespace shop takes no new pods" });
});
