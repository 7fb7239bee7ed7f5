"""What a controller plugin implements (:class:`Controller`) and what it
returns: a :class:`Registration` once, an outcome per reconcile
(:data:`Done` or :class:`RequeueAfter`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from .context import Context
from .errors import Invalid
from .kinds import Kind

__all__ = ["Controller", "Registration", "Done", "RequeueAfter", "Outcome", "outcome_of", "resync_from_config"]

_MAX_MILLIS = 2**32 - 1


@dataclass(frozen=True)
class Registration:
    """What a controller reconciles and watches: the WIT ``registration``.

    >>> from wharf.kinds import REPLICA_SET, POD, NODE
    >>> Registration(REPLICA_SET, owns=[POD], reads=[NODE], resync_seconds=600).primary.kind
    'ReplicaSet'
    """

    #: Events on objects of this kind enqueue their own key.
    primary: Kind
    #: Events on objects of these kinds enqueue the key of their controlling
    #: owner (an ownerReference with ``controller: true``) of the primary kind.
    owns: list[Kind] = field(default_factory=list)
    #: Further kinds the controller reads; the host caches them, but their
    #: events enqueue nothing.
    reads: list[Kind] = field(default_factory=list)
    #: Every primary key is reconciled again this often; 0 turns it off.
    resync_seconds: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.resync_seconds <= _MAX_MILLIS:
            raise Invalid(f"resync_seconds must be between 0 and {_MAX_MILLIS}, not {self.resync_seconds}")


class _DoneType:
    """The type of :data:`Done`."""

    _instance: _DoneType | None = None

    def __new__(cls) -> _DoneType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Done"


#: Nothing more to do until something changes (``return Done``; returning
#: ``None`` means the same).
Done = _DoneType()


@dataclass(frozen=True)
class RequeueAfter:
    """Reconcile this key again after ``millis`` milliseconds (at most
    2³²−1, about 49 days)."""

    millis: int

    def __post_init__(self) -> None:
        if not 0 <= self.millis <= _MAX_MILLIS:
            raise Invalid(f"RequeueAfter takes 0 to {_MAX_MILLIS} milliseconds, not {self.millis}")

    @classmethod
    def seconds(cls, seconds: float) -> RequeueAfter:
        return cls(round(seconds * 1000))


#: How a reconcile ended.
Outcome = Union[_DoneType, RequeueAfter]


def outcome_of(value: object) -> Outcome:
    """What a ``reconcile`` returned, as an outcome (``None`` is :data:`Done`);
    ``TypeError`` for anything else."""
    if value is None or isinstance(value, _DoneType):
        return Done
    if isinstance(value, RequeueAfter):
        return value
    raise TypeError(f"reconcile() returned {value!r}: return Done, RequeueAfter(millis) or None")


class Controller:
    """A level-triggered, idempotent controller, as in controller-runtime:
    the host owns the watches, caches and work queue, and calls
    :meth:`reconcile` with the key of a primary object whenever it (or an
    object it owns) changes.

    Subclass it, implement both methods and end ``app.py`` with
    ``export(MyController)``. The host builds one instance per component
    instance (with no arguments), calls :meth:`registration` once, then
    :meth:`reconcile` for each key; attributes set in :meth:`registration`
    (the config) or in a reconcile live on between calls of that instance,
    but not across instances or reloads: durable data belongs in
    ``ctx.state``.
    """

    def registration(self, config: dict[str, Any]) -> Registration:
        """What the controller reconciles and watches, from the ``Plugin``
        object's ``spec.config`` (``{}`` when absent). Read your own
        settings from ``config`` here too."""
        raise NotImplementedError(f"{type(self).__name__} must implement registration(config)")

    def reconcile(self, ctx: Context, namespace: str | None, name: str) -> Outcome | None:
        """Brings the world in line with the primary object
        ``namespace/name``, which may no longer exist. Return :data:`Done`
        (or ``None``) or :class:`RequeueAfter`; an exception is an error
        the host retries with backoff (its traceback is the error)."""
        raise NotImplementedError(f"{type(self).__name__} must implement reconcile(ctx, namespace, name)")


def resync_from_config(config: dict[str, Any], default: int = 0) -> int:
    """``resyncSeconds`` from a controller's ``spec.config``, or ``default``
    when absent; anything but a whole number of seconds, at least 1, is
    :class:`~wharf.errors.Invalid`."""
    if "resyncSeconds" not in config:
        return default
    value = config["resyncSeconds"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Invalid(f"resyncSeconds must be a whole number of seconds, at least 1, not {value!r}")
    return value
