"""Admission plugins: a look at every write before it is stored, as
Kubernetes' admission webhooks have, without the webhook's round trip.

A plugin subclasses :class:`Admission` and ends ``app.py`` with
``export(MyPlugin)`` (built with ``-w admission``). The host calls
:meth:`Admission.review` for each write of the kinds and operations it
registered; a mutating plugin may answer with changes
(:meth:`Response.patch`), any plugin may deny (:meth:`Response.deny`) and
add warnings, which kubectl prints.

The admission world imports ``cluster``, ``log`` and ``clock`` only: a
review's context has no ``state`` and no ``event``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .context import Context
from .errors import Invalid
from .kinds import POD, Kind
from .patch import Operation, apply_json_patch, diff

__all__ = [
    "Admission",
    "AdmissionRegistration",
    "CREATE",
    "UPDATE",
    "DELETE",
    "ALL_OPERATIONS",
    "UserInfo",
    "Request",
    "Response",
    "StatusUpdate",
]

CREATE = "CREATE"
UPDATE = "UPDATE"
DELETE = "DELETE"
#: Every operation (the WIT also takes ``"*"``).
ALL_OPERATIONS = (CREATE, UPDATE, DELETE)


@dataclass(frozen=True)
class AdmissionRegistration:
    """What an admission plugin reviews, and how: the WIT ``review.registration``.

    >>> AdmissionRegistration([POD], operations=[CREATE], mutating=True).mutating
    True
    """

    #: The kinds it reviews.
    kinds: list[Kind]
    #: ``CREATE``, ``UPDATE``, ``DELETE`` (``"*"``: all of them); all by default.
    operations: Sequence[str] = ALL_OPERATIONS
    #: Whether it may change objects (runs in the mutating phase) or only judges them.
    mutating: bool = False
    #: Kinds it reads through the context on every review; the host serves them from caches.
    reads: list[Kind] = field(default_factory=list)

    def __post_init__(self) -> None:
        for operation in self.operations:
            if operation not in (*ALL_OPERATIONS, "*"):
                raise Invalid(f"{operation!r} is not an operation: use CREATE, UPDATE, DELETE or *")


@dataclass(frozen=True)
class UserInfo:
    """Who asks (``system:anonymous`` in ``system:unauthenticated`` until the
    API server authenticates)."""

    username: str = ""
    groups: list[str] = field(default_factory=list)


@dataclass
class Request:
    """One write under review. ``object`` and ``old_object`` are parsed JSON."""

    #: CREATE, UPDATE or DELETE.
    operation: str
    kind: Kind = POD
    #: The object as it would be stored; ``None`` for DELETE.
    object: dict[str, Any] | None = None
    #: The object as stored now; ``None`` for CREATE.
    old_object: dict[str, Any] | None = None
    namespace: str | None = None
    name: str = ""
    #: A unique id of this review.
    uid: str = ""
    #: ``status``, ``scale``, ``binding``… when the write is to a subresource.
    sub_resource: str | None = None
    user: UserInfo = field(default_factory=UserInfo)
    #: Nothing will be stored: the plugin must not have side effects.
    dry_run: bool = False
    #: ``object`` as received (JSON text), what :meth:`Response.patch` diffs
    #: against: the plugin may change ``object`` in place.
    _original_json: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._original_json is None and self.object is not None:
            self._original_json = json.dumps(self.object)

    @property
    def original_object(self) -> dict[str, Any] | None:
        """A fresh copy of ``object`` as received, before any change the plugin made to it."""
        if self._original_json is None:
            return None
        original: dict[str, Any] = json.loads(self._original_json)
        return original

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> Request:
        """A request from its fields in camelCase, as tests write them:
        ``operation``, ``kind`` (a :class:`Kind` or ``{"group", "version",
        "kind"}``; by default the object's kind, else Pod), ``namespace``,
        ``name`` (by default the object's), ``object``, ``oldObject``,
        ``user`` (``{"username", "groups"}``), ``subResource``, ``dryRun``, ``uid``."""
        obj = fields.get("object")
        old = fields.get("oldObject")
        subject = obj if obj is not None else old
        kind = fields.get("kind")
        if isinstance(kind, Mapping):
            kind = Kind(kind.get("group", ""), kind["version"], kind["kind"])
        elif kind is None:
            kind = Kind.of(subject) if subject and "apiVersion" in subject and "kind" in subject else POD
        metadata = (subject or {}).get("metadata") or {}
        user = fields.get("user") or {}
        return cls(
            operation=fields["operation"],
            kind=kind,
            object=copy.deepcopy(obj),
            old_object=copy.deepcopy(old),
            namespace=fields.get("namespace", metadata.get("namespace")),
            name=fields.get("name", metadata.get("name", "")),
            uid=fields.get("uid", ""),
            sub_resource=fields.get("subResource"),
            user=UserInfo(user.get("username", ""), list(user.get("groups", []))),
            dry_run=bool(fields.get("dryRun", False)),
        )


@dataclass(frozen=True)
class StatusUpdate:
    """A status stored together with the reviewed write, or not at all: see
    :meth:`Response.update_status`."""

    kind: Kind
    namespace: str | None
    name: str
    #: The resourceVersion the plugin read.
    resource_version: str
    status: Any


@dataclass
class Response:
    """A plugin's answer: build it with :meth:`allow`, :meth:`deny` or
    :meth:`patch`, then chain :meth:`warn` and :meth:`annotate`.

    >>> request = Request(CREATE, object={"metadata": {"name": "web"}})
    >>> changed = {"metadata": {"name": "web", "labels": {"team": "x"}}}
    >>> Response.patch(request, changed).warn("labelled").patch_operations
    [{'op': 'add', 'path': '/metadata/labels', 'value': {'team': 'x'}}]
    """

    #: Whether the write may go ahead (with :attr:`patch_operations` applied).
    allowed: bool = True
    #: Why not (the message the client sees), when denied.
    message: str = ""
    #: The RFC 6902 operations that change the object (mutating plugins only).
    patch_operations: list[Operation] = field(default_factory=list)
    #: Sent to the client as ``Warning`` headers.
    warnings: list[str] = field(default_factory=list)
    #: Recorded in the API server's audit log.
    audit_annotations: dict[str, str] = field(default_factory=dict)
    #: Statuses stored together with the write (validating plugins).
    status_updates: list[StatusUpdate] = field(default_factory=list)

    @classmethod
    def allow(cls) -> Response:
        return cls()

    @classmethod
    def deny(cls, message: str) -> Response:
        """Refuses the write (403 Forbidden: ``admission plugin "NAME" denied the request: MESSAGE``)."""
        return cls(allowed=False, message=message)

    @classmethod
    def patch(cls, request: Request, changed: Mapping[str, Any]) -> Response:
        """Allows the write with ``changed`` in place of the request's object:
        the JSON patch between them (nothing changed: a plain allow).
        ``changed`` may be ``request.object`` changed in place: the patch is
        computed against the object as received."""
        return cls(patch_operations=diff(request.original_object, dict(changed)))

    @classmethod
    def with_patch(cls, operations: Sequence[Operation]) -> Response:
        """Allows the write with these RFC 6902 operations."""
        return cls(patch_operations=[dict(operation) for operation in operations])

    def warn(self, warning: str) -> Response:
        """Adds a warning (returns the response, to chain)."""
        self.warnings.append(warning)
        return self

    def annotate(self, key: str, value: str) -> Response:
        """Adds an audit annotation (returns the response, to chain)."""
        self.audit_annotations[key] = value
        return self

    def update_status(self, obj: Mapping[str, Any], kind: Kind | None = None) -> Response:
        """Stores ``obj``'s status together with the reviewed write (a
        validating plugin's charge, as a quota's usage): both are stored or
        neither is. ``obj`` is the version the plugin read with its new
        status; if the stored one has changed since, the API server reviews
        the write again. A dry run stores nothing."""
        metadata = obj.get("metadata") or {}
        if not metadata.get("name") or not metadata.get("resourceVersion"):
            raise Invalid("a status update needs the object's name and resourceVersion")
        self.status_updates.append(
            StatusUpdate(
                kind=kind or Kind.of(obj),
                namespace=metadata.get("namespace"),
                name=metadata["name"],
                resource_version=metadata["resourceVersion"],
                status=copy.deepcopy(obj.get("status")),
            )
        )
        return self

    @property
    def patch_json(self) -> str:
        """The patch as JSON text, as it crosses the boundary."""
        return json.dumps(self.patch_operations)

    def patched(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """``obj`` with this response's patch applied (a new dict)."""
        patched: dict[str, Any] = apply_json_patch(dict(obj), self.patch_operations)
        return patched

    def check(self, registration: AdmissionRegistration | None) -> None:
        """Raises ``ValueError`` when the response is not one this plugin may
        give: a patch from a validating plugin."""
        if self.allowed and self.patch_operations and not (registration and registration.mutating):
            raise ValueError("a validating admission plugin cannot patch: register with mutating=True")


class Admission:
    """What an admission plugin implements. The host builds one instance
    per component instance (with no arguments), calls :meth:`registration`
    once, then :meth:`review` for each write."""

    def registration(self, config: dict[str, Any]) -> AdmissionRegistration:
        """What the plugin reviews, from the Plugin's ``spec.config``. Read
        your own settings from ``config`` here too."""
        raise NotImplementedError(f"{type(self).__name__} must implement registration(config)")

    def review(self, ctx: Context, request: Request) -> Response:
        """Judges one write. An exception is the plugin's failure (the host
        applies the Plugin's ``failurePolicy``), not a denial: deny with
        :meth:`Response.deny`."""
        raise NotImplementedError(f"{type(self).__name__} must implement review(ctx, request)")
