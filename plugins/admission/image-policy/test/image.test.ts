import assert from "node:assert/strict";
import { test } from "node:test";

import { imageName, isUnder, normalizeRegistryEntry, parseImage } from "../src/image";

test("image references split into registry, repository, tag and digest as runtimes read them", () => {
  const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  const cases: Array<[string, string, string | undefined, string | undefined]> = [
    // image, registry/repository, tag, digest
    ["nginx", "docker.io/library/nginx", undefined, undefined],
    ["nginx:1.27", "docker.io/library/nginx", "1.27", undefined],
    ["busybox:latest", "docker.io/library/busybox", "latest", undefined],
    ["wharf-test/sleeper", "docker.io/wharf-test/sleeper", undefined, undefined],
    ["library/nginx:1", "docker.io/library/nginx", "1", undefined],
    ["docker.io/nginx", "docker.io/library/nginx", undefined, undefined],
    ["index.docker.io/acme/app:2", "docker.io/acme/app", "2", undefined],
    ["ghcr.io/acme/app:v1", "ghcr.io/acme/app", "v1", undefined],
    ["GHCR.io/acme/app", "ghcr.io/acme/app", undefined, undefined],
    ["localhost:5000/app", "localhost:5000/app", undefined, undefined],
    ["localhost/app:3", "localhost/app", "3", undefined],
    ["registry.example.com:443/team/app:1.0", "registry.example.com:443/team/app", "1.0", undefined],
    [`nginx@${digest}`, "docker.io/library/nginx", undefined, digest],
    [`nginx:latest@${digest}`, "docker.io/library/nginx", "latest", digest],
    [`  ghcr.io/acme/app:v1  `, "ghcr.io/acme/app", "v1", undefined],
  ];
  for (const [image, name, tag, pinned] of cases) {
    const reference = parseImage(image);
    assert.ok(reference, image);
    assert.deepEqual([imageName(reference), reference.tag, reference.digest], [name, tag, pinned], image);
  }
  assert.equal(parseImage(""), undefined);
  assert.equal(parseImage("   "), undefined);
});

test("allowed-registry entries are hosts or repository prefixes in the same normal form", () => {
  const cases: Array<[string, string]> = [
    ["docker.io", "docker.io"],
    ["index.docker.io", "docker.io"],
    ["ghcr.io", "ghcr.io"],
    ["ghcr.io/acme/", "ghcr.io/acme"],
    ["localhost:5000", "localhost:5000"],
    ["localhost", "localhost"],
    ["docker.io/library", "docker.io/library"],
    ["docker.io/bitnami", "docker.io/bitnami"],
    ["library/nginx", "docker.io/library/nginx"],
    ["bitnami", "docker.io/bitnami"],
    ["wharf-test/app", "docker.io/wharf-test/app"],
    ["Registry.Example.com", "registry.example.com"],
  ];
  for (const [entry, normal] of cases) assert.equal(normalizeRegistryEntry(entry), normal, entry);
});

test("a name is under an entry at a path boundary only", () => {
  assert.ok(isUnder("ghcr.io/acme/app", "ghcr.io"));
  assert.ok(isUnder("ghcr.io/acme/app", "ghcr.io/acme"));
  assert.ok(isUnder("ghcr.io/acme/app", "ghcr.io/acme/app"));
  assert.ok(!isUnder("ghcr.io/acme-evil/app", "ghcr.io/acme"));
  assert.ok(!isUnder("ghcr.io.evil.com/app", "ghcr.io"));
  assert.ok(!isUnder("docker.io/library/nginx", "ghcr.io"));
});
