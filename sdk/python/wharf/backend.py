"""The untyped layer under :class:`~wharf.context.Context`: the WIT imports
as one protocol, so that the same plugin runs over the host (in a component)
or over anything else that implements it (:class:`~wharf.testing.FakeCluster`
in unit tests).

Objects are Kubernetes JSON *text*, as on the wire: the context parses and
serializes in one place, and a fake cannot hand a plugin an object it could
not have received from the host.
"""

from __future__ import annotations

import builtins
import enum
from dataclasses import dataclass
from typing import Protocol, Sequence, Union

from .errors import ApiError
from .kinds import Kind, ObjectRef

__all__ = ["Backend", "PatchType", "EventType", "LogLevel", "Event"]


class PatchType(enum.Enum):
    """How a patch is written, as the Kubernetes Content-Type names it."""

    #: ``application/merge-patch+json`` (RFC 7386): objects merge, ``None`` deletes, lists are replaced.
    MERGE = "merge"
    #: ``application/json-patch+json`` (RFC 6902): a list of operations.
    JSON = "json"
    #: ``application/strategic-merge-patch+json``: lists with a merge key
    #: (containers by ``name``…) merge element by element.
    STRATEGIC = "strategic"


class EventType(enum.Enum):
    """Whether an event is routine or a problem."""

    NORMAL = "Normal"
    WARNING = "Warning"


class LogLevel(enum.IntEnum):
    """A level of the host's ``tracing`` (the WIT ``log.level``)."""

    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4


@dataclass(frozen=True)
class Event:
    """A Kubernetes ``Event`` about an object, as ``kubectl describe`` shows it."""

    regarding: ObjectRef
    type: EventType
    #: A short CamelCase reason (``SuccessfulCreate``).
    reason: str
    message: str


#: One result of :meth:`Backend.create_all`: the stored object's JSON, or the error.
CreateResult = Union[str, ApiError]


class Backend(Protocol):
    """What a plugin can do to the world: the ``cluster``, ``events``,
    ``log``, ``clock`` and ``state`` imports. Cluster calls raise
    :class:`~wharf.errors.ApiError`."""

    def get(self, kind: Kind, namespace: str | None, name: str) -> str | None:
        """The object as JSON, or ``None`` when it does not exist."""
        ...

    def list(
        self,
        kind: Kind,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
    ) -> builtins.list[str]:
        """The matching objects, each as JSON; ``namespace=None`` lists every namespace."""
        ...

    def create(self, kind: Kind, namespace: str | None, obj: str) -> str:
        """Creates an object (``metadata.generateName`` works); returns it as stored."""
        ...

    def create_all(self, kind: Kind, namespace: str | None, objs: Sequence[str]) -> builtins.list[CreateResult]:
        """Creates several objects of one kind (the host writes them at once);
        one result per object, in order."""
        ...

    def update(self, kind: Kind, namespace: str | None, obj: str) -> str:
        """Replaces an object; its ``metadata.resourceVersion`` guards the write."""
        ...

    def update_status(self, kind: Kind, namespace: str | None, obj: str) -> str:
        """Replaces an object's status (the ``status`` subresource)."""
        ...

    def patch(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        patch_type: PatchType,
        patch: str,
        status: bool,
    ) -> str:
        """Patches an object (or, with ``status``, its status subresource)."""
        ...

    def delete(self, kind: Kind, namespace: str | None, name: str) -> None:
        """Deletes an object (propagation ``Background``)."""
        ...

    def emit_event(self, event: Event) -> None:
        """Records a Kubernetes ``Event``."""
        ...

    def log(self, level: LogLevel, message: str) -> None:
        """Logs into the host's ``tracing``, tagged with the plugin's name."""
        ...

    def now_millis(self) -> int:
        """Milliseconds since the Unix epoch: the only clock a plugin has."""
        ...

    def state_get(self, key: str) -> bytes | None:
        """A value of the plugin's private durable key-value store."""
        ...

    def state_set(self, key: str, value: bytes) -> None: ...

    def state_delete(self, key: str) -> None: ...
