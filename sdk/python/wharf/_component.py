"""The glue between componentize-py's generated bindings and the SDK: the
only module that imports them (``wit_world``, ``componentize_py_types``),
and only inside a component build. Not an API.

How componentize-py 0.25.1 wires exports: at build time it imports the app
module (``componentize app``) and, for each exported function of the world,
looks up the class named after the exported interface in it
(``Reconciler`` for the controller world, ``Review`` for the admission
world) and builds an instance with no arguments; the snapshot keeps those
instances. Each exported function gets an instance of its own (``init`` and
``reconcile`` do not share ``self``), so everything the calls share lives in
this module's globals. An exception of type ``Err`` out of a function whose
WIT result is ``result<_, E>`` becomes the error value; any other exception
is printed to stderr and traps the call.
"""

from __future__ import annotations

import builtins
import json
import sys
import traceback
from typing import Any, Callable, Sequence, TypeVar

from componentize_py_types import Err, Ok  # type: ignore[import-not-found]
from wit_world import exports as wit_exports  # type: ignore[import-not-found]
from wit_world.imports import clock as wit_clock  # type: ignore[import-not-found]
from wit_world.imports import cluster as wit_cluster
from wit_world.imports import log as wit_log
from wit_world.imports import types as wit_types

from . import log
from .admission import Admission, AdmissionRegistration, Request, Response, UserInfo
from .backend import CreateResult, Event, EventType, LogLevel, PatchType
from .context import Context
from .controller import Controller, Registration, RequeueAfter, outcome_of
from .errors import AlreadyExists, ApiError, Conflict, Forbidden, Invalid, NotFound, PluginCrashed
from .kinds import Kind

try:  # only the controller world (and others with state) import these
    from wit_world.imports import state as wit_state
except ImportError:  # the admission world
    wit_state = None
try:
    from wit_world.imports import events as wit_events
except ImportError:
    wit_events = None

T = TypeVar("T")

_ERRORS: dict[type, type[ApiError]] = {
    wit_types.ApiError_NotFound: NotFound,
    wit_types.ApiError_AlreadyExists: AlreadyExists,
    wit_types.ApiError_Conflict: Conflict,
    wit_types.ApiError_Forbidden: Forbidden,
    wit_types.ApiError_Invalid: Invalid,
    wit_types.ApiError_Other: ApiError,
}
_PATCH_TYPES = {
    PatchType.MERGE: wit_cluster.PatchType.MERGE,
    PatchType.JSON: wit_cluster.PatchType.JSON,
    PatchType.STRATEGIC: wit_cluster.PatchType.STRATEGIC,
}


def _api_error(error: Any) -> ApiError:
    """The SDK exception for a WIT ``api-error`` value."""
    return _ERRORS.get(type(error), ApiError)(getattr(error, "value", str(error)))


def _wit_kind(kind: Kind) -> Any:
    return wit_types.Kind(kind.group, kind.version, kind.kind)


def _call(function: Callable[..., T], *args: Any) -> T:
    """Calls an import whose WIT result has an ``api-error``; raises it as an :class:`ApiError`."""
    try:
        return function(*args)
    except Err as error:
        raise _api_error(error.value) from None


class WitBackend:
    """The :class:`~wharf.backend.Backend` over the world's imports."""

    def get(self, kind: Kind, namespace: str | None, name: str) -> str | None:
        found: str | None = _call(wit_cluster.get, _wit_kind(kind), namespace, name)
        return found

    def list(
        self, kind: Kind, namespace: str | None, label_selector: str | None, field_selector: str | None
    ) -> builtins.list[str]:
        options = wit_cluster.ListOptions(namespace, label_selector, field_selector)
        items: builtins.list[str] = _call(wit_cluster.list, _wit_kind(kind), options)
        return items

    def create(self, kind: Kind, namespace: str | None, obj: str) -> str:
        return str(_call(wit_cluster.create, _wit_kind(kind), namespace, obj))

    def create_all(self, kind: Kind, namespace: str | None, objs: Sequence[str]) -> builtins.list[CreateResult]:
        results = wit_cluster.create_all(_wit_kind(kind), namespace, list(objs))
        return [result.value if isinstance(result, Ok) else _api_error(result.value) for result in results]

    def update(self, kind: Kind, namespace: str | None, obj: str) -> str:
        return str(_call(wit_cluster.update, _wit_kind(kind), namespace, obj))

    def update_status(self, kind: Kind, namespace: str | None, obj: str) -> str:
        return str(_call(wit_cluster.update_status, _wit_kind(kind), namespace, obj))

    def patch(
        self, kind: Kind, namespace: str | None, name: str, patch_type: PatchType, patch: str, status: bool
    ) -> str:
        return str(
            _call(wit_cluster.patch, _wit_kind(kind), namespace, name, _PATCH_TYPES[patch_type], patch, status)
        )

    def delete(self, kind: Kind, namespace: str | None, name: str) -> None:
        _call(wit_cluster.delete, _wit_kind(kind), namespace, name)

    def emit_event(self, event: Event) -> None:
        if wit_events is None:
            raise NotImplementedError("this plugin's world has no events interface (admission plugins emit no events)")
        regarding = wit_types.ObjectRef(_wit_kind(event.regarding.kind), event.regarding.namespace, event.regarding.name)
        event_type = wit_events.EventType.NORMAL if event.type is EventType.NORMAL else wit_events.EventType.WARNING
        wit_events.emit(wit_events.Event(regarding, event_type, event.reason, event.message))

    def log(self, level: LogLevel, message: str) -> None:
        wit_log.log(wit_log.Level(int(level)), message)

    def now_millis(self) -> int:
        return int(wit_clock.now_millis())

    def state_get(self, key: str) -> bytes | None:
        value = self._state().get(key)
        return None if value is None else bytes(value)

    def state_set(self, key: str, value: bytes) -> None:
        self._state().set(key, value)

    def state_delete(self, key: str) -> None:
        self._state().delete(key)

    @staticmethod
    def _state() -> Any:
        if wit_state is None:
            raise NotImplementedError("this plugin's world has no state interface (admission plugins keep no state)")
        return wit_state


_backend = WitBackend()
_context = Context(_backend)
#: The exported plugin class, and its one instance once ``init`` built it.
_plugin_class: type | None = None
_plugin: Any = None
#: The admission plugin's registration (a validating plugin may not patch).
_admission_registration: AdmissionRegistration | None = None


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _report(error: BaseException) -> str:
    """Writes ``error``'s traceback to stderr (the host keeps its tail) and
    returns it; the frames of this glue are left out, so the traceback
    starts in the plugin's code."""
    frames = error.__traceback__
    while frames is not None and frames.tb_frame.f_code.co_filename == __file__ and frames.tb_next is not None:
        frames = frames.tb_next
    text = "".join(traceback.format_exception(type(error), error, frames)).rstrip()
    sys.stderr.write(text + "\n")
    _flush()
    return text


def _parse_config(config: str) -> dict[str, Any]:
    value = json.loads(config) if config.strip() else {}
    if not isinstance(value, dict):
        raise Invalid(f"spec.config must be an object, not {type(value).__name__}")
    return value


def _guarded(function: Callable[..., T], *args: Any) -> tuple[T | None, str | None]:
    """Runs a plugin's code with its logging routed to the host: its result,
    or the traceback of what it raised (also written to stderr). The
    callers raise ``Err`` themselves, outside any ``with``: ``Err`` is a
    frozen dataclass, and a generator context manager's exit fails on it
    (it sets ``__traceback__``)."""
    with log.routed_to(_backend):
        try:
            return function(*args), None
        except Exception as error:
            return None, _report(error)
        finally:
            _flush()


def _build_plugin(config: str) -> Any:
    """Builds the plugin instance and returns its registration."""
    global _plugin
    if _plugin_class is None:
        raise RuntimeError("export() was not called")
    plugin = _plugin_class()
    registration = plugin.registration(_parse_config(config))
    _plugin = plugin
    return registration


class Reconciler:
    """The ``reconciler`` export (world ``controller``)."""

    def init(self, config: str) -> Any:
        registration, error = _guarded(self._init, config)
        if error is not None:
            raise Err(error)
        return registration

    def reconcile(self, namespace: str | None, name: str) -> Any:
        outcome, error = _guarded(self._reconcile, namespace, name)
        if error is not None:
            raise Err(error)
        return outcome

    @staticmethod
    def _init(config: str) -> Any:
        from wit_world.exports import reconciler  # type: ignore[import-not-found]

        registration = _build_plugin(config)
        if not isinstance(registration, Registration):
            raise TypeError(f"registration() returned {registration!r}, not a wharf.Registration")
        return reconciler.Registration(
            _wit_kind(registration.primary),
            [_wit_kind(kind) for kind in registration.owns],
            [_wit_kind(kind) for kind in registration.reads],
            registration.resync_seconds,
        )

    @staticmethod
    def _reconcile(namespace: str | None, name: str) -> Any:
        from wit_world.exports import reconciler

        if _plugin is None:
            raise RuntimeError("reconcile before init: the host must call init first")
        outcome = outcome_of(_plugin.reconcile(_context, namespace, name))
        if isinstance(outcome, RequeueAfter):
            return reconciler.Outcome_RequeueAfter(outcome.millis)
        return reconciler.Outcome_Done()


class Review:
    """The ``review`` export (world ``admission``)."""

    def init(self, config: str) -> Any:
        registration, error = _guarded(self._init, config)
        if error is not None:
            raise Err(error)
        return registration

    def review(self, request: Any) -> Any:
        response, error = _guarded(self._review, request)
        if error is not None:
            # `review` has no error result: the call must trap. The
            # traceback is on stderr once; the short exception that
            # componentize-py prints as it traps names it.
            raise PluginCrashed(f"review raised {error.splitlines()[-1]} (traceback above)")
        return response

    @staticmethod
    def _init(config: str) -> Any:
        from wit_world.exports import review

        global _admission_registration
        registration = _build_plugin(config)
        if not isinstance(registration, AdmissionRegistration):
            raise TypeError(f"registration() returned {registration!r}, not a wharf.AdmissionRegistration")
        _admission_registration = registration
        return review.Registration(
            [_wit_kind(kind) for kind in registration.kinds],
            list(registration.operations),
            registration.mutating,
            [_wit_kind(kind) for kind in registration.reads],
        )

    @staticmethod
    def _review(request: Any) -> Any:
        from wit_world.exports import review

        if _plugin is None:
            raise RuntimeError("review before init: the host must call init first")
        response = _plugin.review(_context, _request(request))
        if not isinstance(response, Response):
            raise TypeError(f"review() returned {response!r}, not a wharf.Response")
        response.check(_admission_registration)
        return _wit_response(review, response)


def _request(request: Any) -> Request:
    kind = request.kind
    return Request(
        operation=request.operation,
        kind=Kind(kind.group, kind.version, kind.kind),
        object=None if request.object is None else json.loads(request.object),
        old_object=None if request.old_object is None else json.loads(request.old_object),
        namespace=request.namespace,
        name=request.name,
        uid=request.uid,
        sub_resource=request.sub_resource,
        user=UserInfo(request.user.username, list(request.user.groups)),
        dry_run=request.dry_run,
        _original_json=request.object,
    )


def _wit_response(review: Any, response: Response) -> Any:
    if not response.allowed:
        decision = review.Decision_Deny(response.message)
    elif response.patch_operations:
        decision = review.Decision_Patch(response.patch_json)
    else:
        decision = review.Decision_Allow()
    return review.Response(
        decision,
        list(response.warnings),
        list(response.audit_annotations.items()),
        [
            review.StatusUpdate(
                _wit_kind(update.kind),
                update.namespace,
                update.name,
                update.resource_version,
                json.dumps(update.status),
            )
            for update in response.status_updates
        ],
    )


def glue_for(plugin_class: type) -> tuple[str, type]:
    """The export class componentize-py looks for, and its name, for a
    plugin class; checks that the world being built exports it."""
    global _plugin_class
    glue: type
    if issubclass(plugin_class, Controller):
        name, glue, world = "Reconciler", Reconciler, "controller"
    elif issubclass(plugin_class, Admission):
        name, glue, world = "Review", Review, "admission"
    else:  # export() checked already
        raise TypeError(f"{plugin_class!r} is neither a wharf.Controller nor a wharf.Admission")
    if not hasattr(wit_exports, name):
        raise TypeError(
            f"{plugin_class.__name__} is a {world} plugin, but the component is being built for "
            f"another world: build it with `componentize-py ... -w {world} ...`"
        )
    _plugin_class = plugin_class
    log._stderr_outside_calls = True
    try:  # print() lines reach the host as they are written, not at exit
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    except Exception:
        pass
    return name, glue
