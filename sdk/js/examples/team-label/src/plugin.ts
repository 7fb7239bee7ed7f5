// Gives every new Pod a `team` label (a mutating admission plugin), and
// refuses new Pods in namespaces whose `teams.example.com/frozen`
// annotation is "true".

import { defineAdmission, Kinds, type Pod, Response } from "@wharf/sdk";

export default defineAdmission({
  // spec.config → ctx.config, checked once per instance.
  configure: (config) => ({ defaultTeam: typeof config.defaultTeam === "string" ? config.defaultTeam : "unknown" }),

  registration: () => ({
    kinds: [Kinds.Pod],
    operations: ["CREATE"],
    mutating: true,
    reads: [Kinds.Namespace], // served from the host's cache
  }),

  review(ctx, request) {
    const namespace = ctx.get(Kinds.Namespace, undefined, request.namespace!);
    if (namespace?.metadata?.annotations?.["teams.example.com/frozen"] === "true") {
      return Response.deny(`the namespace ${request.namespace} takes no new pods`);
    }
    const pod = request.object as Pod;
    const labels = (pod.metadata!.labels ??= {});
    if (labels.team) return; // nothing to do: allow
    labels.team = ctx.config.defaultTeam;
    // The JSON patch from the object as it came in to `pod`.
    return Response.patch(request, pod).warn(`no team label: set to ${ctx.config.defaultTeam}`);
  },
});
