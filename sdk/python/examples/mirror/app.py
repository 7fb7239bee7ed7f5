"""Keeps `<name>-mirror` a copy of every ConfigMap labelled `mirror=true`."""

import logging

from wharf import CONFIG_MAP, Context, Controller, Done, Outcome, Registration, export, owner_reference

log = logging.getLogger("mirror")


class Mirror(Controller):
    def registration(self, config: dict) -> Registration:
        # Mirrors are ConfigMaps owned by their source: their events wake the source.
        return Registration(CONFIG_MAP, owns=[CONFIG_MAP])

    def reconcile(self, ctx: Context, namespace: str | None, name: str) -> Outcome:
        source = ctx.get(CONFIG_MAP, namespace, name)
        if source is None:
            return Done  # gone: garbage collection removes its mirror
        labels = source["metadata"].get("labels") or {}
        if labels.get("mirror") != "true":
            return Done
        mirror_name = f"{name}-mirror"
        mirror = ctx.get(CONFIG_MAP, namespace, mirror_name)
        if mirror is None:
            ctx.create(
                CONFIG_MAP,
                {
                    "metadata": {"name": mirror_name, "ownerReferences": [owner_reference(source)]},
                    "data": source.get("data") or {},
                },
                namespace=namespace,
            )
            ctx.event(source, "Normal", "Mirrored", f"Created {mirror_name}")
        elif mirror.get("data") != source.get("data"):
            mirror["data"] = source.get("data") or {}
            ctx.update(CONFIG_MAP, mirror)  # a Conflict is retried by the host
        else:
            log.debug("%s up to date", mirror_name)
        return Done


export(Mirror)
