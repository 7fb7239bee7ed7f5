"""config-reloader: rolls a Deployment out again when a ConfigMap or Secret
its pods use changes, as stakater's Reloader does. Opt in per Deployment,
with annotations on the Deployment itself:

- ``reloader.wharf.dev/auto: "true"``: every ConfigMap and Secret the pod
  template references (volumes, projected volumes, ``env[].valueFrom`` and
  ``envFrom``, in containers and init containers);
- ``reloader.wharf.dev/configmaps: "a,b"``, ``reloader.wharf.dev/secrets: "c"``:
  those (together with ``auto``: both).

How it decides, level-triggered:

1. It digests each watched object's ``data``, ``binaryData`` and
   ``stringData`` as stored (sha256, salted with the object's uid so that
   no one can guess a short secret value from the annotation; a missing
   object digests as ``missing``).
2. It keeps what it saw last in the Deployment's own annotation
   ``reloader.wharf.dev/observed`` (one digest per object). Deployment
   metadata is not the pod template: writing it restarts nothing.
3. First sight (no record yet), or another set of watched objects (the
   template or the annotations changed, and a template change rolls out
   anyway): it only records. Pods already running have the current
   configuration, as Reloader does it.
4. A digest changed: it records, and sets the pod template annotation
   ``reloader.wharf.dev/config-hash`` to the sha256 of all digests. Changing
   the template makes the Deployment controller roll the pods out, as
   ``kubectl rollout restart`` does with its own annotation. An event
   ``Reloaded`` on the Deployment names what changed.
5. Nothing changed: it writes nothing.

Limitation: a ConfigMap's or Secret's change does not enqueue the
Deployments that use it (the WIT registration has ``owns``, which follows
controller ownerReferences, and ``reads``, which enqueues nothing), so the
controller resyncs every Deployment every ``resyncSeconds`` (10 by default)
and notices changes within that time.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Iterable, Iterator, Mapping

from wharf import (
    CONFIG_MAP,
    DEPLOYMENT,
    SECRET,
    Context,
    Controller,
    Done,
    Kind,
    Outcome,
    Registration,
    export,
    resync_from_config,
)

#: Opts a Deployment in for every ConfigMap and Secret its pod template references.
AUTO = "reloader.wharf.dev/auto"
#: Opts a Deployment in for these ConfigMaps (comma-separated names).
CONFIG_MAPS = "reloader.wharf.dev/configmaps"
#: Opts a Deployment in for these Secrets (comma-separated names).
SECRETS = "reloader.wharf.dev/secrets"
#: On the Deployment: the digest of each watched object, as last seen (JSON).
OBSERVED = "reloader.wharf.dev/observed"
#: On the pod template: the hash of every watched object's data; changing it rolls the pods out.
CONFIG_HASH = "reloader.wharf.dev/config-hash"
#: The event reason when it rolls a Deployment out.
REASON_RELOADED = "Reloaded"
#: How often every Deployment is looked at, by default (see the module docs).
DEFAULT_RESYNC_SECONDS = 10

#: A watched object: ("ConfigMap" or "Secret", name).
Reference = tuple[str, str]
_KINDS: dict[str, Kind] = {"ConfigMap": CONFIG_MAP, "Secret": SECRET}
_MISSING = "missing"

logger = logging.getLogger("config-reloader")


class ConfigReloader(Controller):
    """Restarts a Deployment's pods when the configuration they read changes."""

    def registration(self, config: dict[str, Any]) -> Registration:
        resync = resync_from_config(config, default=DEFAULT_RESYNC_SECONDS)
        return Registration(DEPLOYMENT, reads=[CONFIG_MAP, SECRET], resync_seconds=resync)

    def reconcile(self, ctx: Context, namespace: str | None, name: str) -> Outcome:
        deployment = ctx.get(DEPLOYMENT, namespace, name)
        if deployment is None:
            return Done
        references = watched_references(deployment)
        if not references:
            return Done
        observed = {f"{kind}/{ref}": digest(ctx.get(_KINDS[kind], namespace, ref)) for kind, ref in references}
        recorded = _recorded(deployment)
        if recorded == observed:
            return Done
        metadata_patch: dict[str, Any] = {
            "resourceVersion": deployment["metadata"]["resourceVersion"],
            "annotations": {OBSERVED: json.dumps(observed, sort_keys=True, separators=(",", ":"))},
        }
        patch: dict[str, Any] = {"metadata": metadata_patch}
        if recorded is None or recorded.keys() != observed.keys():
            logger.info("%s/%s: watching %s", namespace, name, ", ".join(sorted(observed)))
            ctx.patch(DEPLOYMENT, namespace, name, patch)
            return Done
        changed = sorted(key for key, value in observed.items() if recorded[key] != value)
        patch["spec"] = {"template": {"metadata": {"annotations": {CONFIG_HASH: config_hash(observed)}}}}
        ctx.patch(DEPLOYMENT, namespace, name, patch)
        message = f"{_describe(changed)} changed: rolling out the pods"
        logger.info("%s/%s: %s", namespace, name, message)
        ctx.event(deployment, "Normal", REASON_RELOADED, message, kind=DEPLOYMENT)
        return Done


def watched_references(deployment: Mapping[str, Any]) -> list[Reference]:
    """The ConfigMaps and Secrets the Deployment opted in for, sorted; empty
    when it did not opt in."""
    annotations = (deployment.get("metadata") or {}).get("annotations") or {}
    references: set[Reference] = set()
    if str(annotations.get(AUTO, "")).strip().lower() == "true":
        pod_spec = (((deployment.get("spec") or {}).get("template") or {}).get("spec")) or {}
        references.update(pod_references(pod_spec))
    references.update(("ConfigMap", name) for name in _names(annotations.get(CONFIG_MAPS)))
    references.update(("Secret", name) for name in _names(annotations.get(SECRETS)))
    return sorted(references)


def pod_references(pod_spec: Mapping[str, Any]) -> Iterator[Reference]:
    """Every ConfigMap and Secret a pod spec references: volumes (projected
    ones included), and the env and envFrom of containers and init containers."""
    for volume in pod_spec.get("volumes") or []:
        yield from _named("ConfigMap", (volume.get("configMap") or {}).get("name"))
        yield from _named("Secret", (volume.get("secret") or {}).get("secretName"))
        for source in (volume.get("projected") or {}).get("sources") or []:
            yield from _named("ConfigMap", (source.get("configMap") or {}).get("name"))
            yield from _named("Secret", (source.get("secret") or {}).get("name"))
    for container in [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]:
        for variable in container.get("env") or []:
            value_from = variable.get("valueFrom") or {}
            yield from _named("ConfigMap", (value_from.get("configMapKeyRef") or {}).get("name"))
            yield from _named("Secret", (value_from.get("secretKeyRef") or {}).get("name"))
        for source in container.get("envFrom") or []:
            yield from _named("ConfigMap", (source.get("configMapRef") or {}).get("name"))
            yield from _named("Secret", (source.get("secretRef") or {}).get("name"))


def digest(obj: Mapping[str, Any] | None) -> str:
    """A ConfigMap's or Secret's data as 16 hex digits (sha256 of its
    ``data``, ``binaryData`` and ``stringData``, salted with its uid), or
    ``missing``."""
    if obj is None:
        return _MISSING
    content = {field: obj[field] for field in ("data", "binaryData", "stringData") if obj.get(field)}
    uid = (obj.get("metadata") or {}).get("uid", "")
    text = uid + "\n" + json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_hash(observed: Mapping[str, str]) -> str:
    """The pod template annotation's value: the sha256 of every watched object's digest."""
    return hashlib.sha256(json.dumps(observed, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _recorded(deployment: Mapping[str, Any]) -> dict[str, str] | None:
    """The digests recorded on the Deployment, or ``None`` (never recorded, or unreadable)."""
    text = ((deployment.get("metadata") or {}).get("annotations") or {}).get(OBSERVED)
    try:
        recorded = json.loads(text) if text else None
    except ValueError:
        return None
    return recorded if isinstance(recorded, dict) else None


def _names(annotation: Any) -> Iterable[str]:
    return [name.strip() for name in str(annotation or "").split(",") if name.strip()]


def _named(kind: str, name: Any) -> Iterator[Reference]:
    if isinstance(name, str) and name:
        yield (kind, name)


def _describe(changed: list[str]) -> str:
    """``ConfigMap app-config and Secret db`` from ``["ConfigMap/app-config", "Secret/db"]``."""
    names = [key.replace("/", " ", 1) for key in changed]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


export(ConfigReloader)
