import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Invalid } from "@wharf/sdk";

import { ANNOTATIONS, namespacePolicy, parseSettings, type Policy, violations } from "../src/policy";
import type { PodShape } from "../src/workloads";

const OFF: Policy = { enforcement: "deny", allowedRegistries: [], forbidLatest: false, requiredLabels: [] };

function shape(images: string[], labels: Record<string, string> = {}, template = false): PodShape {
  return { template, labels, spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } };
}

describe("spec.config", () => {
  test("defaults check nothing and exempt kube-system", () => {
    assert.deepEqual(parseSettings({}), { ...OFF, exemptNamespaces: ["kube-system"] });
  });

  test("is read with the host's own keys ignored, registries normalized", () => {
    const settings = parseSettings({
      order: 100,
      failurePolicy: "Fail",
      enforcement: "warn",
      allowedRegistries: ["ghcr.io/acme/", "index.docker.io", "ghcr.io/acme"],
      forbidLatest: true,
      requiredLabels: ["team", "app.kubernetes.io/name"],
      exemptNamespaces: [],
    });
    assert.deepEqual(settings, {
      enforcement: "warn",
      allowedRegistries: ["ghcr.io/acme", "docker.io"],
      forbidLatest: true,
      requiredLabels: ["team", "app.kubernetes.io/name"],
      exemptNamespaces: [],
    });
    assert.deepEqual(parseSettings({ allowedRegistries: ["ghcr.io", "*"] }).allowedRegistries, []);
  });

  test("a malformed key is Invalid, named", () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ enforcement: "audit" }, /spec.config.enforcement must be "deny" or "warn"/],
      [{ forbidLatest: "yes" }, /spec.config.forbidLatest must be true or false/],
      [{ allowedRegistries: "ghcr.io" }, /spec.config.allowedRegistries must be a list/],
      [{ allowedRegistries: [""] }, /spec.config.allowedRegistries must be a list of non-empty strings/],
      [{ requiredLabels: ["bad key!"] }, /spec.config.requiredLabels: "bad key!" is not a label key/],
      [{ exemptNamespaces: [1] }, /spec.config.exemptNamespaces/],
    ];
    for (const [config, message] of cases) {
      assert.throws(() => parseSettings(config as never), (error: unknown) => error instanceof Invalid && message.test(error.message));
    }
  });
});

describe("namespace annotations", () => {
  test("override each setting they name, and only those", () => {
    const cluster: Policy = { enforcement: "deny", allowedRegistries: ["docker.io"], forbidLatest: true, requiredLabels: ["team"] };
    assert.deepEqual(namespacePolicy(cluster, {}), { policy: cluster, problems: [] });
    const { policy, problems } = namespacePolicy(cluster, {
      [ANNOTATIONS.allowedRegistries]: "ghcr.io/acme, registry.example.com",
      [ANNOTATIONS.forbidLatest]: "False",
      [ANNOTATIONS.enforcement]: "warn",
      unrelated: "x",
    });
    assert.deepEqual(problems, []);
    assert.deepEqual(policy, {
      enforcement: "warn",
      allowedRegistries: ["ghcr.io/acme", "registry.example.com"],
      forbidLatest: false,
      requiredLabels: ["team"],
    });
  });

  test("empty or * registries allow any; empty labels require none", () => {
    const cluster: Policy = { ...OFF, allowedRegistries: ["docker.io"], requiredLabels: ["team"] };
    for (const value of ["", "*", " * "]) {
      assert.deepEqual(namespacePolicy(cluster, { [ANNOTATIONS.allowedRegistries]: value }).policy.allowedRegistries, []);
    }
    assert.deepEqual(namespacePolicy(cluster, { [ANNOTATIONS.requiredLabels]: "" }).policy.requiredLabels, []);
  });

  test("a malformed annotation is ignored and reported", () => {
    const { policy, problems } = namespacePolicy(OFF, {
      [ANNOTATIONS.forbidLatest]: "maybe",
      [ANNOTATIONS.enforcement]: "loud",
      [ANNOTATIONS.requiredLabels]: "team,bad key!",
    });
    assert.deepEqual(policy, OFF);
    assert.deepEqual(problems, [
      'the namespace annotation image-policy.wharf.dev/required-labels="team,bad key!" is ignored ("key!" is not a label key); the cluster-wide setting applies',
      'the namespace annotation image-policy.wharf.dev/forbid-latest="maybe" is ignored (use true or false); the cluster-wide setting applies',
      'the namespace annotation image-policy.wharf.dev/enforcement="loud" is ignored (use deny or warn); the cluster-wide setting applies',
    ]);
  });
});

describe("violations", () => {
  test("are none when nothing is checked, whatever the images", () => {
    assert.deepEqual(violations(OFF, shape(["nginx:latest", "busybox", "evil.io/x", ""])), []);
  });

  test("name the container, the image and the rule", () => {
    const policy: Policy = { ...OFF, allowedRegistries: ["ghcr.io/acme"], forbidLatest: true };
    assert.deepEqual(violations(policy, shape(["ghcr.io/acme/app:1", "ghcr.io/acme/app", "nginx:latest", ""])), [
      'container "c1" image "ghcr.io/acme/app": no tag means :latest, which is not allowed (pin a version or a digest)',
      'container "c2" image "nginx:latest": docker.io/library/nginx is not from an allowed registry (allowed: ghcr.io/acme)',
      'container "c2" image "nginx:latest": the :latest tag is not allowed (pin a version or a digest)',
      'container "c3" has no image',
    ]);
  });

  test("a digest pins any tag", () => {
    const policy: Policy = { ...OFF, forbidLatest: true };
    const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert.deepEqual(violations(policy, shape([`nginx@${digest}`, `nginx:latest@${digest}`])), []);
  });

  test("required labels need a value; templates say so", () => {
    const policy: Policy = { ...OFF, requiredLabels: ["team", "app"] };
    assert.deepEqual(violations(policy, shape([], { team: "a", app: "" })), ['the pod is missing the required label "app"']);
    assert.deepEqual(violations(policy, shape([], {}, true)), [
      'the pod template is missing the required label "team"',
      'the pod template is missing the required label "app"',
    ]);
  });
});
