"""The :class:`Context` a reconcile (or a review) gets: cluster reads and
writes with objects as plain dicts, events, the clock and the plugin's
private state.

Every cluster method takes the :class:`~wharf.kinds.Kind` first and raises
:class:`~wharf.errors.ApiError` (a subclass per WIT case) when the call fails.
"""

from __future__ import annotations

import builtins
import json
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from .backend import Backend, Event, EventType, PatchType
from .errors import ApiError
from .kinds import Kind, ObjectRef
from .selector import Selector

__all__ = ["Context", "State", "Object"]

#: A Kubernetes object as parsed JSON.
Object = dict[str, Any]


class Context:
    """What a plugin can do, over a :class:`~wharf.backend.Backend` (the
    host's imports in a component, a :class:`~wharf.testing.FakeCluster` in
    tests).

    >>> from wharf.testing import FakeCluster
    >>> from wharf.kinds import CONFIG_MAP
    >>> ctx = FakeCluster().context()
    >>> ctx.get(CONFIG_MAP, "default", "settings") is None
    True
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        #: The plugin's private durable key-value store.
        self.state = State(backend)

    # --- Reads ---

    def get(self, kind: Kind, namespace: str | None, name: str) -> Object | None:
        """The object, or ``None`` when it does not exist."""
        text = self.backend.get(kind, namespace, name)
        return None if text is None else _parse(text)

    def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        *,
        label_selector: str | Mapping[str, Any] | Selector | None = None,
        field_selector: str | None = None,
    ) -> builtins.list[Object]:
        """The objects of ``kind`` in ``namespace`` (every namespace with
        ``None``) whose labels and fields match.

        ``label_selector`` is the text form (``"app=web,tier in (a,b)"``), a
        ``LabelSelector`` dict (``{"matchLabels": {...}, "matchExpressions":
        [...]}``) or a :class:`~wharf.selector.Selector`. A ``field_selector``
        is text (``"spec.nodeName=n1"``).
        """
        if label_selector is not None and not isinstance(label_selector, str):
            if not isinstance(label_selector, Selector):
                label_selector = Selector.from_label_selector(label_selector)
            label_selector = str(label_selector)
        texts = self.backend.list(kind, namespace, label_selector or None, field_selector or None)
        return [_parse(text) for text in texts]

    # --- Writes ---

    def create(self, kind: Kind, obj: Mapping[str, Any], namespace: str | None = None) -> Object:
        """Creates ``obj`` (in ``namespace``, by default the one its metadata
        names); returns it as stored (name, uid, resourceVersion filled in)."""
        namespace = namespace if namespace is not None else _namespace_of(obj)
        return _parse(self.backend.create(kind, namespace, json.dumps(obj)))

    def create_all(
        self, kind: Kind, objs: Sequence[Mapping[str, Any]], namespace: str | None = None
    ) -> builtins.list[Object | ApiError]:
        """Creates several objects of one kind at once (the host writes them
        concurrently, so a batch costs about one write). One result per
        object, in order: the stored object, or the :class:`ApiError` that
        refused it (not raised: the others may have succeeded)."""
        if not objs:
            return []
        if namespace is None:
            namespace = _namespace_of(objs[0])
        results = self.backend.create_all(kind, namespace, [json.dumps(obj) for obj in objs])
        return [result if isinstance(result, ApiError) else _parse(result) for result in results]

    def update(self, kind: Kind, obj: Mapping[str, Any]) -> Object:
        """Replaces ``obj`` (in the namespace its metadata names); its
        ``resourceVersion`` guards the write (:class:`~wharf.errors.Conflict`
        when stale). The status is not changed."""
        return _parse(self.backend.update(kind, _namespace_of(obj), json.dumps(obj)))

    def update_status(self, kind: Kind, obj: Mapping[str, Any]) -> Object:
        """Replaces ``obj``'s status (the ``status`` subresource); nothing else changes."""
        return _parse(self.backend.update_status(kind, _namespace_of(obj), json.dumps(obj)))

    def patch(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        patch_type: PatchType = PatchType.MERGE,
        *,
        status: bool = False,
    ) -> Object:
        """Patches the object (or, with ``status``, its status subresource);
        returns it as stored. ``patch`` is a dict for a merge or strategic
        merge patch, a list of operations for a JSON patch."""
        text = self.backend.patch(kind, namespace, name, patch_type, json.dumps(patch), status)
        return _parse(text)

    def delete(self, kind: Kind, namespace: str | None, name: str) -> None:
        """Deletes the object (propagation ``Background``)."""
        self.backend.delete(kind, namespace, name)

    # --- Events and time ---

    def event(
        self,
        regarding: Mapping[str, Any],
        type: EventType | str,
        reason: str,
        message: str,
        *,
        kind: Kind | None = None,
    ) -> None:
        """Records an ``Event`` about ``regarding`` (an object with
        ``apiVersion``, ``kind`` and metadata, or pass ``kind``). ``type`` is
        ``"Normal"`` or ``"Warning"``; ``reason`` is short CamelCase."""
        self.backend.emit_event(
            Event(
                regarding=ObjectRef.of(regarding, kind),
                type=EventType(type),
                reason=reason,
                message=message,
            )
        )

    def now_millis(self) -> int:
        """Now, in milliseconds since the Unix epoch."""
        return self.backend.now_millis()

    def now(self) -> datetime:
        """Now, as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now_millis() / 1000, tz=timezone.utc)

    def timestamp(self) -> str:
        """Now, as Kubernetes writes a ``Time`` (``2026-01-01T00:00:00Z``)."""
        return self.now().strftime("%Y-%m-%dT%H:%M:%SZ")


class State:
    """The plugin's private durable key-value store (it survives reloads
    and restarts; no other plugin sees it). Values are bytes; a ``str`` is
    stored as UTF-8."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def get(self, key: str) -> bytes | None:
        return self._backend.state_get(key)

    def set(self, key: str, value: bytes | str) -> None:
        self._backend.state_set(key, value.encode() if isinstance(value, str) else bytes(value))

    def delete(self, key: str) -> None:
        self._backend.state_delete(key)


def _parse(text: str) -> Object:
    obj: Object = json.loads(text)
    return obj


def _namespace_of(obj: Mapping[str, Any]) -> str | None:
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    return namespace if namespace else None
