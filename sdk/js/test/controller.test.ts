import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  type ConfigMap,
  controllerOf,
  defineController,
  done,
  Invalid,
  isControlledBy,
  kind,
  Kinds,
  ownerReference,
  requeueAfter,
} from "@wharf/sdk";
import { FakeCluster } from "@wharf/sdk/testing";

const source: ConfigMap = {
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "settings", namespace: "default", uid: "u1" },
};

describe("registration", () => {
  test("fills in the optional fields, as plain kinds", () => {
    const controller = defineController({
      registration: () => ({ primary: Kinds.ReplicaSet, owns: [Kinds.Pod] }),
      reconcile: () => done(),
    });
    assert.deepEqual(new FakeCluster().controller(controller).registration, {
      primary: { group: "apps", version: "v1", kind: "ReplicaSet" },
      owns: [{ group: "", version: "v1", kind: "Pod" }],
      reads: [],
      resyncSeconds: 0,
    });
  });

  test("refuses what the WIT cannot carry", () => {
    const cases: Array<[unknown, RegExp]> = [
      [{}, /primary kind/],
      [{ primary: { group: "", version: "", kind: "Pod" } }, /primary kind/],
      [{ primary: Kinds.Pod, owns: ["Pod"] }, /registration.owns/],
      [{ primary: Kinds.Pod, resyncSeconds: 1.5 }, /resyncSeconds/],
      [{ primary: Kinds.Pod, resyncSeconds: -1 }, /resyncSeconds/],
    ];
    for (const [registration, message] of cases) {
      const controller = defineController({
        registration: () => registration as never,
        reconcile: () => undefined,
      });
      assert.throws(() => new FakeCluster().controller(controller), message, JSON.stringify(registration));
    }
  });

  test("defineController wants both functions", () => {
    assert.throws(() => defineController({ registration: () => ({ primary: Kinds.Pod }) } as never), TypeError);
  });
});

describe("reconcile", () => {
  test("returns done for nothing, and requeues after whole milliseconds", () => {
    let answer: ReturnType<typeof requeueAfter> | undefined;
    const controller = defineController({
      registration: () => ({ primary: Kinds.ConfigMap }),
      reconcile: () => answer,
    });
    const harness = new FakeCluster().controller(controller);
    assert.deepEqual(harness.reconcile("default/a"), { type: "done" });
    answer = requeueAfter(1500);
    assert.deepEqual(harness.reconcile("default/a"), { type: "requeue", afterMillis: 1500 });
    assert.throws(() => requeueAfter(0.5), Invalid);
    assert.throws(() => requeueAfter(2 ** 32), Invalid);
  });

  test("gets the key split into namespace and name; cluster-scoped keys have no namespace", () => {
    const seen: Array<[string | undefined, string]> = [];
    const controller = defineController({
      registration: () => ({ primary: Kinds.Node }),
      reconcile: (_ctx, namespace, name) => void seen.push([namespace, name]),
    });
    const harness = new FakeCluster().controller(controller);
    harness.reconcile("node-1");
    harness.reconcile("ns/a/b");
    assert.deepEqual(seen, [
      [undefined, "node-1"],
      ["ns", "a/b"],
    ]);
  });

  test("the instance lives on between reconciles, configured once", () => {
    let configured = 0;
    const controller = defineController({
      configure: (config) => ({ seen: [] as string[], tag: String(config.tag), n: ++configured }),
      registration: () => ({ primary: Kinds.ConfigMap }),
      reconcile: (ctx, _namespace, name) => void ctx.config.seen.push(`${ctx.config.tag}:${name}`),
    });
    const harness = new FakeCluster().controller(controller, { tag: "t" });
    harness.reconcile("ns/a");
    harness.reconcile("ns/b");
    assert.deepEqual(harness.config.seen, ["t:a", "t:b"]);
    assert.equal(configured, 1);
  });

  test("console output during a reconcile is recorded in the fake's logs, at its level", () => {
    const controller = defineController({
      registration: () => ({ primary: Kinds.ConfigMap }),
      reconcile(ctx, namespace, name) {
        console.log("reconciling %s/%s", namespace, name);
        console.debug({ step: 1 });
        console.warn("odd:", 42);
        console.error(new Invalid("bad"));
        ctx.info("through the context");
      },
    });
    const fake = new FakeCluster();
    const original = console.log;
    fake.run(controller, "ns/a");
    assert.equal(console.log, original);
    const logs = fake.logs.map(({ level, message }) => [level, message.split("\n")[0]]);
    assert.deepEqual(logs, [
      ["info", "reconciling ns/a"],
      ["debug", '{"step":1}'],
      ["warn", "odd: 42"],
      ["error", "Invalid: bad"],
      ["info", "through the context"],
    ]);
  });

  test("events name the object they regard; state keeps bytes, text and JSON", () => {
    const controller = defineController({
      registration: () => ({ primary: Kinds.ConfigMap }),
      reconcile(ctx, namespace, name) {
        const object = ctx.get(Kinds.ConfigMap, namespace, name)!;
        ctx.event(object, "Warning", "Odd", "an odd ConfigMap");
        const runs = ctx.state.getJSON<number>("runs") ?? 0;
        ctx.state.setJSON("runs", runs + 1);
        ctx.state.set("last", name);
        ctx.state.set("bytes", new Uint8Array([1, 2]));
        ctx.state.delete("never");
      },
    });
    const fake = new FakeCluster();
    fake.add(source);
    fake.run(controller, "default/settings");
    fake.run(controller, "default/settings");
    assert.deepEqual(fake.events, [
      {
        regarding: { kind: Kinds.ConfigMap, namespace: "default", name: "settings" },
        type: "Warning",
        reason: "Odd",
        message: "an odd ConfigMap",
      },
      fake.events[0],
    ]);
    assert.equal(new TextDecoder().decode(fake.state("runs")), "2");
    assert.equal(new TextDecoder().decode(fake.state("last")), "settings");
    assert.deepEqual([...fake.state("bytes")!], [1, 2]);
  });
});

describe("owner references", () => {
  test("name the owner as controller", () => {
    assert.deepEqual(ownerReference(source), {
      apiVersion: "v1",
      kind: "ConfigMap",
      name: "settings",
      uid: "u1",
      controller: true,
      blockOwnerDeletion: true,
    });
    assert.throws(() => ownerReference({ metadata: { name: "x" } }), Invalid);
  });

  test("the controller is the reference marked controller, compared by uid", () => {
    const other = { ...ownerReference({ ...source, metadata: { name: "o", uid: "u2" } }), controller: false };
    const owned: ConfigMap = { metadata: { name: "m", ownerReferences: [other] } };
    assert.equal(controllerOf(owned), undefined);
    owned.metadata!.ownerReferences!.push(ownerReference(source));
    assert.equal(controllerOf(owned)?.uid, "u1");
    assert.ok(isControlledBy(owned, source));
    assert.ok(!isControlledBy(owned, { metadata: { uid: "u2" } }));
  });
});

describe("kinds", () => {
  test("objects say their kind in apiVersion and kind", async () => {
    const { kindOf, apiVersion, formatKind } = await import("@wharf/sdk");
    assert.deepEqual(kindOf({ apiVersion: "apps/v1", kind: "Deployment" }), Kinds.Deployment);
    assert.deepEqual(kindOf({ apiVersion: "v1", kind: "Pod" }), Kinds.Pod);
    assert.throws(() => kindOf({ kind: "Pod" }), Invalid);
    assert.equal(apiVersion(kind("batch", "v1", "Job")), "batch/v1");
    assert.equal(formatKind(Kinds.ReplicaSet), "apps/v1, Kind=ReplicaSet");
  });

  test("a write refuses an object of another kind than the call's", () => {
    const fake = new FakeCluster();
    const controller = defineController({
      registration: () => ({ primary: Kinds.ConfigMap }),
      reconcile: (ctx) => void ctx.create({ apiVersion: "v1", kind: "Secret", metadata: { name: "s" } }, Kinds.ConfigMap as never),
    });
    assert.throws(() => fake.run(controller, "ns/a"), /the object is a v1 Secret, the call is for v1 ConfigMap/);
  });
});
