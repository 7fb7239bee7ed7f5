import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  AlreadyExists,
  type ConfigMap,
  Conflict,
  ControllerContext,
  Forbidden,
  Invalid,
  kind,
  Kinds,
  NotFound,
  type Pod,
} from "@wharf/sdk";
import { FakeCluster, START_MILLIS } from "@wharf/sdk/testing";

function configMap(name: string, extra: Partial<ConfigMap> = {}): ConfigMap {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "ns" }, ...extra };
}

describe("the fake cluster's server-side metadata", () => {
  test("add fills in uid, creationTimestamp, generation and resourceVersion", () => {
    const fake = new FakeCluster();
    const stored = fake.add(configMap("a"));
    assert.equal(stored.metadata?.uid, "00000000-0000-4000-8000-000000000001");
    assert.equal(stored.metadata?.creationTimestamp, "2026-01-01T00:00:00Z");
    assert.equal(stored.metadata?.generation, 1);
    assert.equal(stored.metadata?.resourceVersion, "1");
    assert.equal(fake.nowMillis, START_MILLIS);
  });

  test("create drops status, and names objects by generateName deterministically", () => {
    const fake = new FakeCluster();
    const created = JSON.parse(
      fake.backend.create(Kinds.Pod, "ns", JSON.stringify({ metadata: { generateName: "web-" }, status: { phase: "Running" } })),
    ) as Pod;
    assert.match(created.metadata!.name!, /^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.equal(created.status, undefined);
    assert.equal(created.apiVersion, "v1");
    const again = new FakeCluster().backend.create(Kinds.Pod, "ns", JSON.stringify({ metadata: { generateName: "web-" } }));
    assert.equal(JSON.parse(again).metadata.name, created.metadata!.name);
  });

  test("create refuses an existing name, a missing name and a mismatched namespace or kind", () => {
    const fake = new FakeCluster();
    const backend = fake.backend;
    backend.create(Kinds.ConfigMap, "ns", JSON.stringify(configMap("a")));
    assert.throws(() => backend.create(Kinds.ConfigMap, "ns", JSON.stringify(configMap("a"))), AlreadyExists);
    assert.throws(() => backend.create(Kinds.ConfigMap, "ns", "{}"), Invalid);
    assert.throws(() => backend.create(Kinds.ConfigMap, "other", JSON.stringify(configMap("b"))), Invalid);
    assert.throws(() => backend.create(Kinds.Secret, "ns", JSON.stringify(configMap("b"))), Invalid);
  });
});

describe("updates", () => {
  test("a stale resourceVersion is a Conflict; a no-op keeps the resourceVersion", () => {
    const fake = new FakeCluster();
    const stored = fake.add(configMap("a"));
    const context = contextOf(fake);
    const same = context.update(stored);
    assert.equal(same.metadata?.resourceVersion, stored.metadata?.resourceVersion);
    const fresh = context.update({ ...stored, data: { k: "v" } });
    assert.notEqual(fresh.metadata?.resourceVersion, stored.metadata?.resourceVersion);
    assert.throws(() => context.update({ ...stored, data: {} }), Conflict);
  });

  test("update keeps the stored status; updateStatus changes only the status", () => {
    const fake = new FakeCluster();
    const context = contextOf(fake);
    fake.add<Pod>({ apiVersion: "v1", kind: "Pod", metadata: { name: "p", namespace: "ns" }, status: { phase: "Pending" } });
    const updated = context.update<Pod>({ ...fake.get(Kinds.Pod, "ns", "p")!, status: { phase: "Failed" }, spec: { containers: [] } });
    assert.equal(updated.status?.phase, "Pending");
    assert.equal(updated.metadata?.generation, 2);
    const status = context.updateStatus<Pod>({ ...updated, status: { phase: "Running" }, spec: { containers: [{ name: "x" }] } });
    assert.equal(status.status?.phase, "Running");
    assert.deepEqual(status.spec, { containers: [] });
    assert.equal(status.metadata?.generation, 2);
  });

  test("an update without resourceVersion is unconditional; another uid is a Conflict", () => {
    const fake = new FakeCluster();
    const context = contextOf(fake);
    fake.add(configMap("a"));
    assert.deepEqual(context.update(configMap("a", { data: { x: "1" } })).data, { x: "1" });
    assert.throws(() => context.update(configMap("a", { metadata: { name: "a", namespace: "ns", uid: "other" } })), Conflict);
    assert.throws(() => context.update(configMap("missing")), NotFound);
  });

  test("finalizers hold a deleted object until an update empties them", () => {
    const fake = new FakeCluster();
    const context = contextOf(fake);
    fake.add(configMap("a", { metadata: { name: "a", namespace: "ns", finalizers: ["x"] } }));
    context.delete(Kinds.ConfigMap, "ns", "a");
    const terminating = fake.get(Kinds.ConfigMap, "ns", "a")!;
    assert.equal(terminating.metadata?.deletionTimestamp, "2026-01-01T00:00:00Z");
    context.update({ ...terminating, metadata: { ...terminating.metadata, finalizers: [] } });
    assert.equal(fake.get(Kinds.ConfigMap, "ns", "a"), undefined);
    assert.throws(() => context.delete(Kinds.ConfigMap, "ns", "a"), NotFound);
  });
});

describe("patches", () => {
  test("merge patches merge, null deletes, and a stale resourceVersion in the patch conflicts", () => {
    const fake = new FakeCluster();
    const context = contextOf(fake);
    fake.add(configMap("a", { data: { keep: "1", drop: "2" } }));
    const patched = context.patch(Kinds.ConfigMap, "ns", "a", { data: { drop: null, add: "3" } });
    assert.deepEqual(patched.data, { keep: "1", add: "3" });
    assert.throws(() => context.patch(Kinds.ConfigMap, "ns", "a", { metadata: { resourceVersion: "1" }, data: {} }), Conflict);
  });

  test("an array body is a JSON patch, all or nothing; a status patch changes only the status", () => {
    const fake = new FakeCluster();
    const context = contextOf(fake);
    fake.add<Pod>({ apiVersion: "v1", kind: "Pod", metadata: { name: "p", namespace: "ns", labels: { a: "1" } } });
    const patched = context.patch(Kinds.Pod, "ns", "p", [{ op: "add", path: "/metadata/labels/b", value: "2" }]);
    assert.deepEqual(patched.metadata?.labels, { a: "1", b: "2" });
    assert.throws(
      () => context.patch(Kinds.Pod, "ns", "p", [{ op: "remove", path: "/metadata/labels/a" }, { op: "test", path: "/metadata/labels/a", value: "1" }]),
      Conflict,
    );
    assert.deepEqual(fake.get(Kinds.Pod, "ns", "p")?.metadata?.labels, { a: "1", b: "2" });
    const status = context.patch(Kinds.Pod, "ns", "p", { status: { phase: "Running" }, metadata: { labels: null } }, { status: true });
    assert.equal(status.status?.phase, "Running");
    assert.deepEqual(status.metadata?.labels, { a: "1", b: "2" });
  });
});

describe("reads", () => {
  test("list filters by namespace, label and field selectors, sorted by namespace and name", () => {
    const fake = new FakeCluster();
    const context = contextOf(fake);
    fake.add(configMap("b", { metadata: { name: "b", namespace: "ns", labels: { app: "web" } } }));
    fake.add(configMap("a", { metadata: { name: "a", namespace: "ns", labels: { app: "web", canary: "1" } } }));
    fake.add(configMap("c", { metadata: { name: "c", namespace: "other", labels: { app: "web" } } }));
    const names = (list: ConfigMap[]) => list.map((c) => `${c.metadata?.namespace}/${c.metadata?.name}`);
    assert.deepEqual(names(context.list(Kinds.ConfigMap)), ["ns/a", "ns/b", "other/c"]);
    assert.deepEqual(names(context.list(Kinds.ConfigMap, { namespace: "ns", labelSelector: "app=web,!canary" })), ["ns/b"]);
    assert.deepEqual(names(context.list(Kinds.ConfigMap, { labelSelector: { matchLabels: { canary: "1" } } })), ["ns/a"]);
    assert.deepEqual(names(context.list(Kinds.ConfigMap, { fieldSelector: "metadata.name!=a" })), ["ns/b", "other/c"]);
    assert.throws(() => context.list(Kinds.ConfigMap, { fieldSelector: "metadata.name" }), Invalid);
  });

  test("a frozen cache serves stale reads while writes see the store", () => {
    const fake = new FakeCluster();
    const context = contextOf(fake);
    fake.freezeCache();
    context.create(configMap("a"));
    assert.equal(context.get(Kinds.ConfigMap, "ns", "a"), undefined);
    assert.throws(() => context.create(configMap("a")), AlreadyExists);
    fake.thawCache();
    assert.ok(context.get(Kinds.ConfigMap, "ns", "a"));
  });

  test("kinds are told apart by group, version and kind", () => {
    const fake = new FakeCluster();
    const widget = kind("example.com", "v1", "Widget");
    fake.add({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } });
    assert.ok(contextOf(fake).get(widget, undefined, "w"));
    assert.equal(contextOf(fake).get(kind("example.com", "v2", "Widget"), undefined, "w"), undefined);
  });
});

describe("recording and failures", () => {
  test("every call is recorded; failures injected by hooks change nothing", () => {
    const fake = new FakeCluster();
    const context = contextOf(fake);
    let creates = 0;
    fake.failWhen((call) => (call.verb === "create" && ++creates > 1 ? new Forbidden("exceeded quota") : undefined));
    context.create(configMap("a"));
    assert.throws(() => context.create(configMap("b")), Forbidden);
    context.get(Kinds.ConfigMap, "ns", "b");
    assert.deepEqual(
      fake.calls.map((c) => [c.verb, c.name, c.error]),
      [
        ["create", "a", undefined],
        ["create", "b", "Forbidden: exceeded quota"],
        ["get", "b", undefined],
      ],
    );
    assert.deepEqual(fake.writes().map((c) => c.name), ["a"]);
    assert.equal(fake.get(Kinds.ConfigMap, "ns", "b"), undefined);
    fake.clearFailures();
    fake.clearCalls();
    assert.deepEqual(fake.calls, []);
  });

  test("createAll creates each object on its own, grouped by kind and namespace, results in order", () => {
    const fake = new FakeCluster();
    const context = contextOf(fake);
    fake.add(configMap("taken"));
    const results = context.createAll([
      configMap("x"),
      configMap("taken"),
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "y", namespace: "other" } },
    ]);
    assert.deepEqual(results.map((r) => r.object?.metadata?.name ?? r.error?.name), ["x", "AlreadyExists", "y"]);
  });

  test("the clock moves only when told", () => {
    const fake = new FakeCluster();
    const context = contextOf(fake);
    fake.advance(90_500);
    assert.equal(context.nowMillis(), START_MILLIS + 90_500);
    assert.equal(context.timestamp(), "2026-01-01T00:01:30Z");
    assert.equal(context.now().getTime(), START_MILLIS + 90_500);
  });
});

/** A context over the fake, to call the typed helpers directly. */
function contextOf(fake: FakeCluster): ControllerContext {
  return new ControllerContext(fake.backend, {});
}
