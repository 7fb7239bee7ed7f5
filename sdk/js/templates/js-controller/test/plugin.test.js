import assert from "node:assert/strict";
import { test } from "node:test";
import { Conflict, Kinds } from "@wharf/sdk";
import { FakeCluster } from "@wharf/sdk/testing";
import mirror from "../src/plugin.js";
function configMap(name, data, labels = { mirror: "true" }) {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "default", labels }, data };
}
test("a labelled ConfigMap gets a mirror it owns, and an event", () => {
  const fake = new FakeCluster();
  const source = fake.add(configMap("settings", { color: "blue" }));
  fake.run(mirror, "default/settings");
  const copy = fake.get(Kinds.ConfigMap, "default", "settings-mirror");
  assert.deepEqual(copy?.data, { color: "blue" });
  assert.equal(copy?.metadata?.ownerReferences?.[0]?.uid, source.metadata?.uid);
  assert.deepEqual(
    fake.events.map((e) => [e.type, e.reason, e.message]),
    [["Normal", "Mirrored", "Created settings-mirror"]]
  );
});
test("a second reconcile changes nothing", () => {
  const fake = new FakeCluster();
  fake.add(configMap("settings", { color: "blue" }));
  fake.run(mirror, "default/settings");
  const revision = fake.revision;
  fake.run(mirror, "default/settings");
  assert.equal(fake.revision, revision);
});
test("a changed source updates its mirror", () => {
  const fake = new FakeCluster();
  fake.add(configMap("settings", { color: "blue" }));
  fake.run(mirror, "default/settings");
  fake.modify(Kinds.ConfigMap, "default", "settings", (source) => {
    source.data = { color: "green" };
  });
  fake.run(mirror, "default/settings");
  assert.deepEqual(fake.get(Kinds.ConfigMap, "default", "settings-mirror")?.data, { color: "green" });
  assert.deepEqual(fake.logs.at(-1), { level: "info", message: "updated default/settings-mirror" });
});
test("unlabelled and missing ConfigMaps are left alone", () => {
  const fake = new FakeCluster();
  fake.add(configMap("plain", { a: "1" }, {}));
  fake.run(mirror, "default/plain");
  fake.run(mirror, "default/gone");
  assert.deepEqual(fake.writes(), []);
});
test("a conflicting write fails the reconcile, for the host to retry", () => {
  const fake = new FakeCluster();
  fake.add(configMap("settings", { color: "blue" }));
  fake.run(mirror, "default/settings");
  fake.modify(Kinds.ConfigMap, "default", "settings", (source) => {
    source.data = { color: "green" };
  });
  fake.failWhen((call) => call.verb === "update" ? new Conflict("the mirror changed") : undefined);
  assert.throws(() => fake.run(mirror, "default/settings"), Conflict);
});
