"""Owner references: how a controller marks what it made, so that the host
enqueues the owner when an owned object changes (``Registration.owns``) and
the garbage collector deletes the owned objects with their owner.

>>> source = {"apiVersion": "v1", "kind": "ConfigMap",
...           "metadata": {"name": "settings", "uid": "u1"}}
>>> mirror = {"metadata": {"ownerReferences": [owner_reference(source)]}}
>>> is_controlled_by(mirror, source)
True
"""

from __future__ import annotations

from typing import Any, Mapping

from .kinds import Kind

__all__ = ["owner_reference", "controller_of", "is_controlled_by"]


def owner_reference(
    owner: Mapping[str, Any],
    *,
    controller: bool = True,
    block_owner_deletion: bool = True,
    kind: Kind | None = None,
) -> dict[str, Any]:
    """An ``ownerReference`` naming ``owner`` (an object read from the
    cluster: it has its ``apiVersion``, ``kind``, name and uid). With
    ``controller`` (the default), ``owner`` is the controlling owner, whose
    key the host enqueues for the owned object's events."""
    kind = kind or Kind.of(owner)
    metadata = owner.get("metadata") or {}
    return {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "name": metadata.get("name", ""),
        "uid": metadata.get("uid", ""),
        "controller": controller,
        "blockOwnerDeletion": block_owner_deletion,
    }


def controller_of(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The controlling owner reference of ``obj`` (the one with ``controller: true``), if any."""
    metadata = obj.get("metadata") or {}
    for reference in metadata.get("ownerReferences") or []:
        if reference.get("controller") is True:
            return dict(reference)
    return None


def is_controlled_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    """Whether ``owner`` is ``obj``'s controlling owner (compared by uid)."""
    reference = controller_of(obj)
    uid = (owner.get("metadata") or {}).get("uid")
    return reference is not None and bool(uid) and reference.get("uid") == uid
