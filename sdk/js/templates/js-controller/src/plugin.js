// Keeps `<name>-mirror` a copy of every ConfigMap labelled `mirror=true`,
// owned by its source: the mirror's events wake the source's reconcile, and
// deleting the source deletes the mirror (garbage collection).

import { AlreadyExists, defineController, jsonEqual, Kinds, ownerReference } from "@wharf/sdk";
export default defineController({
  // Mirrors are ConfigMaps owned by their source: their events wake the source.
  registration: () => ({ primary: Kinds.ConfigMap, owns: [Kinds.ConfigMap] }),
  reconcile(ctx, namespace, name) {
    const source = ctx.get(Kinds.ConfigMap, namespace, name);
    if (source === undefined || source.metadata?.labels?.mirror !== "true") {
      return;
    }
    const mirrorName = `${name}-mirror`;
    const mirror = ctx.get(Kinds.ConfigMap, namespace, mirrorName);
    if (mirror === undefined) {
      const created = {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: mirrorName, namespace, ownerReferences: [ownerReference(source)] },
        data: source.data ?? {}
      };
      try {
        ctx.create(created);
      } catch (error) {
        if (!(error instanceof AlreadyExists)) throw error;
        return;
      }
      ctx.event(source, "Normal", "Mirrored", `Created ${mirrorName}`);
    } else if (!jsonEqual(mirror.data ?? {}, source.data ?? {})) {
      ctx.update({ ...mirror, data: source.data ?? {} });
      console.info(`updated ${namespace}/${mirrorName}`);
    }
  }
});
