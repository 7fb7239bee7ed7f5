import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Invalid, type KubeObject, Kinds, type Namespace, type Pod, type PodSpec } from "@wharf/sdk";
import { FakeCluster, type ReviewInput } from "@wharf/sdk/testing";

import imagePolicy from "../src/plugin";
import { ANNOTATIONS } from "../src/policy";

// --- Builders ---

interface PodOptions {
  images?: string[];
  initImages?: string[];
  ephemeralImages?: string[];
  labels?: Record<string, string>;
  namespace?: string;
}

function podSpec({ images = ["nginx:1.27"], initImages, ephemeralImages }: PodOptions): PodSpec {
  const named = (prefix: string, list: string[]) => list.map((image, i) => ({ name: i === 0 ? prefix : `${prefix}-${i}`, image }));
  return {
    containers: named("web", images),
    ...(initImages ? { initContainers: named("setup", initImages) } : {}),
    ...(ephemeralImages ? { ephemeralContainers: named("debug", ephemeralImages) } : {}),
  };
}

function pod(options: PodOptions = {}): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "p", namespace: options.namespace ?? "apps", labels: options.labels ?? {} },
    spec: podSpec(options),
  };
}

/** A workload of `kind` whose pod template is `options`. */
function workload(kind: string, options: PodOptions = {}): KubeObject {
  const template = { metadata: { labels: options.labels ?? {} }, spec: podSpec(options) };
  const apiVersion = ["Job", "CronJob"].includes(kind) ? "batch/v1" : kind === "ReplicationController" ? "v1" : "apps/v1";
  const spec = kind === "CronJob" ? { schedule: "@hourly", jobTemplate: { spec: { template } } } : { template };
  return { apiVersion, kind, metadata: { name: "w", namespace: options.namespace ?? "apps" }, spec };
}

function namespace(name: string, annotations: Record<string, string> = {}): Namespace {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, annotations } };
}

/** A cluster with the namespace `apps` annotated so. */
function clusterWith(annotations: Record<string, string> = {}): FakeCluster {
  const fake = new FakeCluster();
  fake.add(namespace("apps", annotations));
  fake.add(namespace("kube-system", annotations));
  return fake;
}

function create(object: KubeObject): ReviewInput {
  return { operation: "CREATE", object };
}

const STRICT = {
  [ANNOTATIONS.forbidLatest]: "true",
  [ANNOTATIONS.allowedRegistries]: "docker.io/library, ghcr.io/acme",
  [ANNOTATIONS.requiredLabels]: "team",
};

// --- Specification ---

describe("registration", () => {
  test("reviews Pods and the workloads with pod templates, on create and update, reading Namespaces", () => {
    const harness = new FakeCluster().admission(imagePolicy);
    assert.deepEqual(harness.registration, {
      kinds: [
        Kinds.Pod,
        Kinds.Deployment,
        Kinds.ReplicaSet,
        Kinds.StatefulSet,
        Kinds.DaemonSet,
        Kinds.Job,
        Kinds.CronJob,
        Kinds.ReplicationController,
      ],
      operations: ["CREATE", "UPDATE"],
      mutating: false,
      reads: [Kinds.Namespace],
    });
  });

  test("a malformed spec.config fails the plugin's start with its reason", () => {
    assert.throws(() => new FakeCluster().admission(imagePolicy, { forbidLatest: "yes" }), Invalid);
  });
});

describe("the default policy", () => {
  test("allows what a cluster runs without a word: any registry, untagged and :latest images", () => {
    const fake = clusterWith();
    for (const images of [["busybox"], ["nginx:latest"], ["wharf-test/sleeper"], ["evil.example.com/x:1"]]) {
      const response = fake.review(imagePolicy, create(pod({ images, initImages: images })));
      assert.deepEqual([response.decision, response.warnings], [{ type: "allow" }, []], images[0]);
    }
  });

  test("reads the namespace of the write through the cluster", () => {
    const fake = clusterWith();
    fake.review(imagePolicy, create(pod()));
    assert.deepEqual(
      fake.calls.map((c) => [c.verb, c.kind.kind, c.namespace, c.name]),
      [["get", "Namespace", undefined, "apps"]],
    );
  });
});

describe("a namespace that opts in", () => {
  test("refuses :latest and untagged images, listing every violation", () => {
    const fake = clusterWith({ [ANNOTATIONS.forbidLatest]: "true" });
    const response = fake.review(imagePolicy, create(pod({ images: ["nginx:latest", "busybox"], initImages: ["alpine"] })));
    assert.deepEqual(response.decision, {
      type: "deny",
      message: [
        'container "web" image "nginx:latest": the :latest tag is not allowed (pin a version or a digest)',
        'container "web-1" image "busybox": no tag means :latest, which is not allowed (pin a version or a digest)',
        'init container "setup" image "alpine": no tag means :latest, which is not allowed (pin a version or a digest)',
      ].join("; "),
    });
  });

  test("allows tagged and digest-pinned images", () => {
    const fake = clusterWith({ [ANNOTATIONS.forbidLatest]: "true" });
    const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const response = fake.review(imagePolicy, create(pod({ images: ["nginx:1.27", `busybox@${digest}`, `alpine:latest@${digest}`] })));
    assert.deepEqual(response.decision, { type: "allow" });
  });

  test("refuses registries outside its list, in every kind of container", () => {
    const fake = clusterWith({ [ANNOTATIONS.allowedRegistries]: "ghcr.io/acme" });
    const cases: Array<[PodOptions, string[]]> = [
      [{ images: ["ghcr.io/acme/app:1", "ghcr.io/acme/tools/x:2"] }, []],
      [{ images: ["ghcr.io/acme-evil/app:1"] }, ['container "web" image "ghcr.io/acme-evil/app:1": ghcr.io/acme-evil/app is not from an allowed registry (allowed: ghcr.io/acme)']],
      [{ images: ["ghcr.io/acme/app:1"], initImages: ["nginx:1"] }, ['init container "setup" image "nginx:1": docker.io/library/nginx is not from an allowed registry (allowed: ghcr.io/acme)']],
      [{ images: ["ghcr.io/acme/app:1"], ephemeralImages: ["busybox:1"] }, ['ephemeral container "debug" image "busybox:1": docker.io/library/busybox is not from an allowed registry (allowed: ghcr.io/acme)']],
    ];
    for (const [options, expected] of cases) {
      const response = fake.review(imagePolicy, create(pod(options)));
      const message = response.decision.type === "deny" ? response.decision.message.split("; ") : [];
      assert.deepEqual(message, expected, JSON.stringify(options));
    }
  });

  test("requires labels on pods and on pod templates", () => {
    const fake = clusterWith({ [ANNOTATIONS.requiredLabels]: "team,app" });
    assert.deepEqual(fake.review(imagePolicy, create(pod({ labels: { team: "a", app: "web" } }))).decision, { type: "allow" });
    assert.deepEqual(fake.review(imagePolicy, create(pod({ labels: { team: "a" } }))).decision, {
      type: "deny",
      message: 'the pod is missing the required label "app"',
    });
    assert.deepEqual(fake.review(imagePolicy, create(workload("Deployment", { labels: { app: "web" } }))).decision, {
      type: "deny",
      message: 'the pod template is missing the required label "team"',
    });
  });

  test("judges the pod template of every workload kind", () => {
    const fake = clusterWith({ [ANNOTATIONS.forbidLatest]: "true" });
    for (const kind of ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicationController"]) {
      const bad = fake.review(imagePolicy, create(workload(kind, { images: ["nginx:latest"] })));
      assert.equal(bad.decision.type, "deny", kind);
      const good = fake.review(imagePolicy, create(workload(kind, { images: ["nginx:1.27"] })));
      assert.equal(good.decision.type, "allow", kind);
    }
    const noTemplate = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d", namespace: "apps" }, spec: {} };
    assert.equal(fake.review(imagePolicy, create(noTemplate)).decision.type, "allow");
  });

  test("records the violations as an audit annotation", () => {
    const fake = clusterWith({ [ANNOTATIONS.forbidLatest]: "true" });
    const response = fake.review(imagePolicy, create(pod({ images: ["nginx"] })));
    assert.deepEqual(Object.keys(response.auditAnnotations), ["image-policy.wharf.dev/violations"]);
  });
});

describe("warn enforcement", () => {
  test("allows with one warning per violation", () => {
    const fake = clusterWith({ ...STRICT, [ANNOTATIONS.enforcement]: "warn" });
    const response = fake.review(imagePolicy, create(pod({ images: ["quay.io/x/y:latest"] })));
    assert.equal(response.decision.type, "allow");
    assert.deepEqual(response.warnings, [
      'image-policy: container "web" image "quay.io/x/y:latest": quay.io/x/y is not from an allowed registry (allowed: docker.io/library, ghcr.io/acme)',
      'image-policy: container "web" image "quay.io/x/y:latest": the :latest tag is not allowed (pin a version or a digest)',
      'image-policy: the pod is missing the required label "team"',
    ]);
  });

  test("comes from spec.config too, and a namespace may turn it back to deny", () => {
    const config = { enforcement: "warn", forbidLatest: true };
    const warned = clusterWith().review(imagePolicy, create(pod({ images: ["nginx"] })), config);
    assert.deepEqual([warned.decision.type, warned.warnings.length], ["allow", 1]);
    const denied = clusterWith({ [ANNOTATIONS.enforcement]: "deny" }).review(imagePolicy, create(pod({ images: ["nginx"] })), config);
    assert.equal(denied.decision.type, "deny");
  });
});

describe("the cluster-wide policy", () => {
  const config = { allowedRegistries: ["docker.io"], forbidLatest: true, requiredLabels: ["team"] };

  test("applies to namespaces without annotations, and to writes whose namespace is not found", () => {
    const fake = new FakeCluster();
    fake.add(namespace("plain"));
    for (const ns of ["plain", "missing"]) {
      const response = fake.review(imagePolicy, create(pod({ namespace: ns, images: ["ghcr.io/x/y:1"], labels: { team: "a" } })), config);
      assert.equal(response.decision.type, "deny", ns);
    }
  });

  test("a namespace's annotations override it setting by setting", () => {
    const fake = clusterWith({ [ANNOTATIONS.allowedRegistries]: "*", [ANNOTATIONS.forbidLatest]: "false" });
    const response = fake.review(imagePolicy, create(pod({ images: ["ghcr.io/x/y"] })), config);
    assert.deepEqual(response.decision, { type: "deny", message: 'the pod is missing the required label "team"' });
  });

  test("skips exempt namespaces: kube-system by default, or those listed", () => {
    const fake = clusterWith(STRICT);
    const bad = { images: ["nginx:latest"], namespace: "kube-system" };
    assert.equal(fake.review(imagePolicy, create(pod(bad)), config).decision.type, "allow");
    assert.equal(fake.review(imagePolicy, create(pod(bad)), { ...config, exemptNamespaces: [] }).decision.type, "deny");
    assert.equal(fake.review(imagePolicy, create(pod({ ...bad, namespace: "apps" })), { ...config, exemptNamespaces: ["apps"] }).decision.type, "allow");
    assert.deepEqual(fake.calls.filter((c) => c.verb === "get").length, 1, "exempt namespaces are not even read");
  });

  test("a malformed namespace annotation is ignored with a warning", () => {
    const fake = clusterWith({ [ANNOTATIONS.forbidLatest]: "sometimes" });
    const response = fake.review(imagePolicy, create(pod({ images: ["nginx:latest"], labels: { team: "a" } })), config);
    assert.equal(response.decision.type, "deny");
    assert.deepEqual(response.warnings, [
      'image-policy: the namespace annotation image-policy.wharf.dev/forbid-latest="sometimes" is ignored (use true or false); the cluster-wide setting applies',
    ]);
  });
});

describe("updates", () => {
  test("are judged on what they change: violations the stored object had do not block them", () => {
    const fake = clusterWith(STRICT);
    const old = workload("Deployment", { images: ["nginx"], labels: {} });
    const scaled = { ...old, spec: { ...(old.spec as object), replicas: 3 } };
    assert.equal(fake.review(imagePolicy, { operation: "UPDATE", object: scaled, oldObject: old }).decision.type, "allow");
    const worse = workload("Deployment", { images: ["nginx", "quay.io/x/y:1"], labels: {} });
    assert.deepEqual(fake.review(imagePolicy, { operation: "UPDATE", object: worse, oldObject: old }).decision, {
      type: "deny",
      message:
        'container "web-1" image "quay.io/x/y:1": quay.io/x/y is not from an allowed registry (allowed: docker.io/library, ghcr.io/acme)',
    });
  });

  test("of the status are not reviewed; of ephemeral containers are", () => {
    const fake = clusterWith(STRICT);
    const old = pod({ images: ["nginx:1"], labels: { team: "a" } });
    const debugged = pod({ images: ["nginx:1"], labels: { team: "a" }, ephemeralImages: ["busybox"] });
    const status = { operation: "UPDATE" as const, object: debugged, oldObject: old, subResource: "status" };
    assert.equal(fake.review(imagePolicy, status).decision.type, "allow");
    const ephemeral = { ...status, subResource: "ephemeralcontainers" };
    assert.deepEqual(fake.review(imagePolicy, ephemeral).decision, {
      type: "deny",
      message: 'ephemeral container "debug" image "busybox": no tag means :latest, which is not allowed (pin a version or a digest)',
    });
  });
});
