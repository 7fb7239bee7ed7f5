import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { defineAdmission, Invalid, jsonPatch, Kinds, type Pod, Response } from "@wharf/sdk";
import { applyJsonPatch, FakeCluster } from "@wharf/sdk/testing";

function pod(labels: Record<string, string> = {}): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "default", labels },
    spec: { containers: [{ name: "app", image: "nginx:1.27" }, { name: "side", image: "busybox:1" }] },
  };
}

describe("jsonPatch", () => {
  test("is empty between equal objects, whatever their key order", () => {
    assert.deepEqual(jsonPatch({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 }), []);
  });

  test("adds, removes and replaces key by key, and element by element in arrays of one length", () => {
    const from = pod({ team: "a" });
    const to = pod({ tier: "web" });
    to.spec!.containers[1]!.image = "busybox:2";
    to.metadata!.annotations = { "a/b~c": "x" };
    assert.deepEqual(jsonPatch(from, to), [
      { op: "remove", path: "/metadata/labels/team" },
      { op: "add", path: "/metadata/labels/tier", value: "web" },
      { op: "add", path: "/metadata/annotations", value: { "a/b~c": "x" } },
      { op: "replace", path: "/spec/containers/1/image", value: "busybox:2" },
    ]);
  });

  test("replaces arrays whose length changed, and applies back to the target", () => {
    const from = pod();
    const to = pod();
    to.spec!.containers.push({ name: "third", image: "x" });
    const operations = jsonPatch(from, to);
    assert.deepEqual(operations, [{ op: "replace", path: "/spec/containers", value: to.spec!.containers }]);
    assert.deepEqual(applyJsonPatch(from, operations), to);
  });
});

describe("Response", () => {
  test("collects warnings and audit annotations on any decision", () => {
    const response = Response.deny("no").warn("one").warn("two").annotate("k", "v");
    assert.deepEqual(response.decision, { type: "deny", message: "no" });
    assert.equal(response.allowed, false);
    assert.deepEqual(response.warnings, ["one", "two"]);
    assert.deepEqual(response.auditAnnotations, { k: "v" });
  });

  test("a status update needs the object's name and resourceVersion", () => {
    assert.throws(() => Response.allow().updateStatus({ apiVersion: "v1", kind: "ResourceQuota", metadata: { name: "q" } }), Invalid);
    const response = Response.allow().updateStatus({
      apiVersion: "v1",
      kind: "ResourceQuota",
      metadata: { name: "q", namespace: "ns", resourceVersion: "7" },
      status: { used: { pods: "1" } },
    });
    assert.deepEqual(response.statusUpdates, [
      { kind: Kinds.ResourceQuota, namespace: "ns", name: "q", resourceVersion: "7", status: { used: { pods: "1" } } },
    ]);
  });
});

describe("an admission plugin over the fake cluster", () => {
  const teams = defineAdmission({
    registration: () => ({ kinds: [Kinds.Pod], operations: ["CREATE"], mutating: true }),
    review(_ctx, request) {
      if (request.namespace === "frozen") return Response.deny("the namespace frozen takes no new pods");
      const object = request.object as Pod;
      const labels = (object.metadata!.labels ??= {});
      if (labels.team) return;
      labels.team = "unknown";
      return Response.patch(request, object).warn("no team label: set to unknown");
    },
  });

  test("registers with defaults filled in", () => {
    const harness = new FakeCluster().admission(teams);
    assert.deepEqual(harness.registration, { kinds: [Kinds.Pod], operations: ["CREATE"], mutating: true, reads: [] });
  });

  test("a patch made by changing request.object in place is computed against the original", () => {
    const harness = new FakeCluster().admission(teams);
    const response = harness.review({ operation: "CREATE", object: pod() });
    assert.deepEqual(response.decision, {
      type: "patch",
      operations: [{ op: "add", path: "/metadata/labels/team", value: "unknown" }],
    });
    assert.equal(harness.patched<Pod>(response).metadata?.labels?.team, "unknown");
    assert.deepEqual(response.warnings, ["no team label: set to unknown"]);
  });

  test("returning nothing allows; deny carries its message", () => {
    const fake = new FakeCluster();
    assert.deepEqual(fake.review(teams, { operation: "CREATE", object: pod({ team: "a" }) }).decision, { type: "allow" });
    const frozen = { ...pod(), metadata: { name: "web", namespace: "frozen" } };
    assert.deepEqual(fake.review(teams, { operation: "CREATE", object: frozen }).decision, {
      type: "deny",
      message: "the namespace frozen takes no new pods",
    });
  });

  test("the request's kind, namespace and name default to the object's", () => {
    const harness = new FakeCluster().admission(teams);
    harness.review({ operation: "CREATE", object: pod({ team: "a" }) });
    const request = harness.lastRequest!;
    assert.deepEqual([request.kind, request.namespace, request.name, request.user.username], [Kinds.Pod, "default", "web", "system:anonymous"]);
  });

  test("a validating plugin may not patch", () => {
    const validating = defineAdmission({
      registration: () => ({ kinds: [Kinds.Pod] }),
      review: (_ctx, request) => Response.patch(request, { ...request.object, metadata: { name: "other" } }),
    });
    assert.throws(() => new FakeCluster().review(validating, { operation: "CREATE", object: pod() }), /mutating: true/);
  });

  test("a bad registration fails the instance with a message", () => {
    const noKinds = defineAdmission({ registration: () => ({ kinds: [] }), review: () => undefined });
    assert.throws(() => new FakeCluster().admission(noKinds), /needs kinds/);
    const badOperation = defineAdmission({
      registration: () => ({ kinds: [Kinds.Pod], operations: ["PATCH" as "CREATE"] }),
      review: () => undefined,
    });
    assert.throws(() => new FakeCluster().admission(badOperation), /"PATCH" is not CREATE/);
  });

  test("configure turns spec.config into ctx.config, once per instance", () => {
    let configured = 0;
    const plugin = defineAdmission({
      configure(config) {
        configured += 1;
        return { prefix: String(config.prefix ?? "none") };
      },
      registration: (config) => ({ kinds: [Kinds.Pod], operations: [config.prefix === "x" ? "CREATE" : "UPDATE"] }),
      review: (ctx) => Response.allow().warn(ctx.config.prefix),
    });
    const harness = new FakeCluster().admission(plugin, '{"prefix": "x"}');
    assert.deepEqual(harness.registration.operations, ["CREATE"]);
    assert.deepEqual(harness.review({ operation: "CREATE", object: pod() }).warnings, ["x"]);
    harness.review({ operation: "CREATE", object: pod() });
    assert.equal(configured, 1);
    assert.throws(() => new FakeCluster().admission(plugin, "[1]"), /must be a JSON object/);
  });
});
