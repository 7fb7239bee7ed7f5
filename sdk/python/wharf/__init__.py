"""The Python SDK for Wharf plugins.

A controller is one ``app.py``::

    from wharf import CONFIG_MAP, Context, Controller, Done, Registration, export

    class Mirror(Controller):
        def registration(self, config: dict) -> Registration:
            return Registration(CONFIG_MAP, owns=[CONFIG_MAP])

        def reconcile(self, ctx: Context, namespace: str | None, name: str):
            ...
            return Done

    export(Mirror)

built with ``componentize-py -d wit -w controller componentize app -p . -p
sdk/python -o out.wasm`` and unit-tested with :class:`wharf.testing.FakeCluster`.
See ``sdk/python/README.md``.

Layers, top down:

- :class:`Controller` / :class:`Admission` and :func:`export`: what a plugin implements.
- :class:`Context`: objects as dicts, events, clock, state; :class:`ApiError` and subclasses.
- :class:`~wharf.backend.Backend`: the same over JSON text, one method per
  WIT import; the host's in a component (``wharf._component``, the only
  module that knows the generated bindings), :class:`~wharf.testing.FakeCluster` in tests.
- Helpers: :func:`owner_reference`, :func:`is_controlled_by`,
  :func:`matches` / :class:`Selector`, :func:`~wharf.patch.diff`.
"""

from . import log as _log
from .admission import (
    ALL_OPERATIONS,
    CREATE,
    DELETE,
    UPDATE,
    Admission,
    AdmissionRegistration,
    Request,
    Response,
    UserInfo,
)
from .backend import Backend, Event, EventType, LogLevel, PatchType
from .context import Context, Object, State
from .controller import Controller, Done, Outcome, Registration, RequeueAfter, resync_from_config
from .errors import AlreadyExists, ApiError, Conflict, Forbidden, Invalid, NotFound, PluginCrashed
from .exports import export
from .kinds import (
    CONFIG_MAP,
    CRON_JOB,
    DAEMON_SET,
    DEPLOYMENT,
    ENDPOINTS,
    EVENT,
    INGRESS,
    JOB,
    LEASE,
    LIMIT_RANGE,
    NAMESPACE,
    NODE,
    PERSISTENT_VOLUME,
    PERSISTENT_VOLUME_CLAIM,
    POD,
    REPLICA_SET,
    RESOURCE_QUOTA,
    SECRET,
    SERVICE,
    SERVICE_ACCOUNT,
    STATEFUL_SET,
    Kind,
    ObjectRef,
)
from .owner import controller_of, is_controlled_by, owner_reference
from .selector import Selector, matches

__all__ = [
    # Plugins
    "Controller",
    "Registration",
    "Done",
    "RequeueAfter",
    "Outcome",
    "resync_from_config",
    "Admission",
    "AdmissionRegistration",
    "Request",
    "Response",
    "UserInfo",
    "CREATE",
    "UPDATE",
    "DELETE",
    "ALL_OPERATIONS",
    "export",
    # The cluster
    "Context",
    "State",
    "Object",
    "Backend",
    "Event",
    "EventType",
    "LogLevel",
    "PatchType",
    # Errors
    "ApiError",
    "NotFound",
    "AlreadyExists",
    "Conflict",
    "Forbidden",
    "Invalid",
    "PluginCrashed",
    # Kinds
    "Kind",
    "ObjectRef",
    "POD",
    "CONFIG_MAP",
    "SECRET",
    "SERVICE",
    "SERVICE_ACCOUNT",
    "ENDPOINTS",
    "NAMESPACE",
    "NODE",
    "EVENT",
    "PERSISTENT_VOLUME_CLAIM",
    "PERSISTENT_VOLUME",
    "LIMIT_RANGE",
    "RESOURCE_QUOTA",
    "DEPLOYMENT",
    "REPLICA_SET",
    "STATEFUL_SET",
    "DAEMON_SET",
    "JOB",
    "CRON_JOB",
    "INGRESS",
    "LEASE",
    # Helpers
    "owner_reference",
    "controller_of",
    "is_controlled_by",
    "Selector",
    "matches",
]

_log.install()
