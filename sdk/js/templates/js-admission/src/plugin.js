// Gives every new Pod a `team` label (a mutating admission plugin), and
// refuses new Pods in namespaces whose `teams.example.com/frozen`
// annotation is "true".

import { defineAdmission, Kinds, Response } from "@wharf/sdk";
export default defineAdmission({
  // spec.config → ctx.config, checked once per instance.
  configure: (config) => ({ defaultTeam: typeof config.defaultTeam === "string" ? config.defaultTeam : "unknown" }),
  registration: () => ({
    kinds: [Kinds.Pod],
    operations: ["CREATE"],
    mutating: true,
    reads: [Kinds.Namespace]
    // served from the host's cache
  }),
  review(ctx, request) {
    const namespace = ctx.get(Kinds.Namespace, undefined, request.namespace);
    if (namespace?.metadata?.annotations?.["teams.example.com/frozen"] === "true") {
      return Response.deny(`the namespace ${request.namespace} takes no new pods`);
    }
    const pod = request.object;
    const labels = pod.metadata.labels ??= {};
    if (labels.team) return;
    labels.team = ctx.config.defaultTeam;
    return Response.patch(request, pod).warn(`no team label: set to ${ctx.config.defaultTeam}`);
  }
});
