// The policy: cluster-wide from the Plugin's spec.config, overridden per
// namespace by the namespace's annotations; and the violations of one pod
// (or pod template) under it.

import { Invalid, type PluginConfig } from "@wharf/sdk";

import { imageName, isUnder, normalizeRegistryEntry, parseImage } from "./image";
import type { PodShape } from "./workloads";

/** Deny violating writes, or allow them with warnings. */
export type Enforcement = "deny" | "warn";

/** What one namespace's pods must satisfy. */
export interface Policy {
  enforcement: Enforcement;
  /** Normalized registry hosts and repository prefixes; empty: any registry. */
  allowedRegistries: string[];
  /** Refuse `:latest` and tag-less images (kube pulls `:latest` for those) unless pinned by digest. */
  forbidLatest: boolean;
  /** Labels every pod (and pod template) must carry, with a value. */
  requiredLabels: string[];
}

/** The cluster-wide settings: the default policy, and the namespaces it never reviews. */
export interface Settings extends Policy {
  exemptNamespaces: string[];
}

/** The namespace annotations that override the cluster-wide policy. */
export const ANNOTATIONS = {
  allowedRegistries: "image-policy.wharf.dev/allowed-registries",
  requiredLabels: "image-policy.wharf.dev/required-labels",
  forbidLatest: "image-policy.wharf.dev/forbid-latest",
  enforcement: "image-policy.wharf.dev/enforcement",
} as const;

/** The audit annotation listing a write's violations. */
export const VIOLATIONS_AUDIT_KEY = "image-policy.wharf.dev/violations";

/**
 * The settings in `spec.config` (the host's own keys beside them are
 * ignored). Absent keys take the defaults, which check nothing: a
 * namespace opts in with annotations. `Invalid` names a malformed key.
 */
export function parseSettings(config: PluginConfig): Settings {
  const list = (key: string, fallback: string[]): string[] => {
    const value = config[key];
    if (value === undefined || value === null) return fallback;
    if (!Array.isArray(value) || !value.every((item) => typeof item === "string" && item.trim() !== "")) {
      throw new Invalid(`spec.config.${key} must be a list of non-empty strings`);
    }
    return value.map((item) => (item as string).trim());
  };
  const forbidLatest = config.forbidLatest ?? false;
  if (typeof forbidLatest !== "boolean") throw new Invalid("spec.config.forbidLatest must be true or false");
  const enforcement = config.enforcement ?? "deny";
  if (enforcement !== "deny" && enforcement !== "warn") {
    throw new Invalid(`spec.config.enforcement must be "deny" or "warn", not ${JSON.stringify(enforcement)}`);
  }
  const requiredLabels = list("requiredLabels", []);
  for (const label of requiredLabels) checkLabelKey(label, "spec.config.requiredLabels");
  return {
    enforcement,
    allowedRegistries: registries(list("allowedRegistries", [])),
    forbidLatest,
    requiredLabels,
    exemptNamespaces: list("exemptNamespaces", ["kube-system"]),
  };
}

/**
 * The policy of a namespace: the cluster-wide one with each setting its
 * annotations name replaced (Namespaces are changed by cluster
 * administrators, who may tighten or loosen a namespace). A malformed
 * annotation is ignored, and reported in `problems`.
 */
export function namespacePolicy(
  cluster: Policy,
  annotations: Readonly<Record<string, string>>,
): { policy: Policy; problems: string[] } {
  const policy: Policy = { ...cluster };
  const problems: string[] = [];
  const value = (key: string): string | undefined => annotations[key]?.trim();

  const registriesText = value(ANNOTATIONS.allowedRegistries);
  if (registriesText !== undefined) policy.allowedRegistries = registries(splitList(registriesText));

  const labelsText = value(ANNOTATIONS.requiredLabels);
  if (labelsText !== undefined) {
    const labels = splitList(labelsText);
    const bad = labels.filter((label) => !isLabelKey(label));
    if (bad.length === 0) policy.requiredLabels = labels;
    else problems.push(ignored(ANNOTATIONS.requiredLabels, labelsText, `${bad.map((b) => JSON.stringify(b)).join(", ")} is not a label key`));
  }

  const latestText = value(ANNOTATIONS.forbidLatest);
  if (latestText !== undefined) {
    const lower = latestText.toLowerCase();
    if (lower === "true" || lower === "false") policy.forbidLatest = lower === "true";
    else problems.push(ignored(ANNOTATIONS.forbidLatest, latestText, "use true or false"));
  }

  const enforcementText = value(ANNOTATIONS.enforcement);
  if (enforcementText !== undefined) {
    const lower = enforcementText.toLowerCase();
    if (lower === "deny" || lower === "warn") policy.enforcement = lower;
    else problems.push(ignored(ANNOTATIONS.enforcement, enforcementText, "use deny or warn"));
  }
  return { policy, problems };
}

/** Whether the policy checks anything at all. */
export function checksAnything(policy: Policy): boolean {
  return policy.allowedRegistries.length > 0 || policy.forbidLatest || policy.requiredLabels.length > 0;
}

/**
 * Every violation of `policy` by one pod or pod template, in order:
 * containers, init containers, ephemeral containers (registry, then tag),
 * then labels.
 */
export function violations(policy: Policy, pod: PodShape): string[] {
  const found: string[] = [];
  const groups = [
    ["container", pod.spec.containers],
    ["init container", pod.spec.initContainers],
    ["ephemeral container", pod.spec.ephemeralContainers],
  ] as const;
  for (const [what, containers] of groups) {
    for (const container of Array.isArray(containers) ? containers : []) {
      const subject = `${what} ${JSON.stringify(container?.name ?? "")}`;
      found.push(...imageViolations(policy, subject, container?.image));
    }
  }
  const owner = pod.template ? "the pod template" : "the pod";
  for (const label of policy.requiredLabels) {
    const value = pod.labels[label];
    if (typeof value !== "string" || value === "") found.push(`${owner} is missing the required label ${JSON.stringify(label)}`);
  }
  return found;
}

function imageViolations(policy: Policy, subject: string, image: unknown): string[] {
  const reference = typeof image === "string" ? parseImage(image) : undefined;
  if (reference === undefined) {
    return policy.allowedRegistries.length > 0 || policy.forbidLatest ? [`${subject} has no image`] : [];
  }
  const prefix = `${subject} image ${JSON.stringify(image)}`;
  const found: string[] = [];
  const name = imageName(reference);
  if (policy.allowedRegistries.length > 0 && !policy.allowedRegistries.some((entry) => isUnder(name, entry))) {
    found.push(`${prefix}: ${name} is not from an allowed registry (allowed: ${policy.allowedRegistries.join(", ")})`);
  }
  if (policy.forbidLatest && reference.digest === undefined) {
    if (reference.tag === undefined) {
      found.push(`${prefix}: no tag means :latest, which is not allowed (pin a version or a digest)`);
    } else if (reference.tag === "latest") {
      found.push(`${prefix}: the :latest tag is not allowed (pin a version or a digest)`);
    }
  }
  return found;
}

/** Normalized entries; `*` anywhere means any registry (the empty list). */
function registries(entries: string[]): string[] {
  if (entries.includes("*")) return [];
  return [...new Set(entries.map(normalizeRegistryEntry))];
}

/** A comma- (or space-) separated annotation value as its items. */
function splitList(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

function ignored(annotation: string, value: string, why: string): string {
  return `the namespace annotation ${annotation}=${JSON.stringify(value)} is ignored (${why}); the cluster-wide setting applies`;
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

function isLabelKey(key: string): boolean {
  return key.length <= 317 && LABEL_KEY.test(key);
}

function checkLabelKey(key: string, field: string): void {
  if (!isLabelKey(key)) throw new Invalid(`${field}: ${JSON.stringify(key)} is not a label key`);
}
