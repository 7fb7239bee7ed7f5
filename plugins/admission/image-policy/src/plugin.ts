// Image policy (validating admission): Pods, and the pod templates of the
// workloads that make Pods, must take their images from allowed registries,
// must not run `:latest` (or tag-less) images unless pinned by digest, and
// must carry required labels, in every container, init container and
// ephemeral container.
//
// The defaults check nothing: the cluster-wide policy comes from the
// Plugin's spec.config, and each namespace may override any setting with
// annotations (image-policy.wharf.dev/allowed-registries, …/required-labels,
// …/forbid-latest, …/enforcement). See README.md.

import { defineAdmission, Kinds, Response } from "@wharf/sdk";

import { checksAnything, namespacePolicy, parseSettings, VIOLATIONS_AUDIT_KEY, violations } from "./policy";
import { KINDS, podOf } from "./workloads";

/** The prefix of the warnings this plugin adds, so that kubectl's reader knows where they come from. */
export const WARNING_PREFIX = "image-policy: ";

export default defineAdmission({
  configure: parseSettings,

  registration: () => ({
    kinds: [...KINDS],
    operations: ["CREATE", "UPDATE"],
    mutating: false,
    reads: [Kinds.Namespace],
  }),

  review(ctx, request) {
    // Of the subresources only ephemeralcontainers (kubectl debug) adds images.
    if (request.subResource !== undefined && request.subResource !== "ephemeralcontainers") return;
    const namespace = request.namespace;
    if (namespace === undefined || ctx.config.exemptNamespaces.includes(namespace)) return;
    const pod = podOf(request.kind.kind, request.object);
    if (pod === undefined) return;

    const annotations = ctx.get(Kinds.Namespace, undefined, namespace)?.metadata?.annotations ?? {};
    const { policy, problems } = namespacePolicy(ctx.config, annotations);
    let found = checksAnything(policy) ? violations(policy, pod) : [];
    // An update is judged on what it changes: what the stored object already
    // had (admitted before the policy, or before the namespace changed it)
    // does not block scaling, relabelling or rollouts of other fields.
    const old = request.operation === "UPDATE" ? podOf(request.kind.kind, request.oldObject) : undefined;
    if (old !== undefined && found.length > 0) {
      const before = new Set(violations(policy, old));
      found = found.filter((violation) => !before.has(violation));
    }

    const deny = found.length > 0 && policy.enforcement === "deny";
    const response = deny ? Response.deny(found.join("; ")) : Response.allow();
    if (!deny) for (const violation of found) response.warn(WARNING_PREFIX + violation);
    for (const problem of problems) response.warn(WARNING_PREFIX + problem);
    if (found.length > 0) response.annotate(VIOLATIONS_AUDIT_KEY, found.join("; "));
    return response;
  },
});
