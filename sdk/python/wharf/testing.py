"""An in-memory cluster for unit-testing plugins in milliseconds, with no
host and no WebAssembly: :class:`FakeCluster`.

It gives a plugin the same :class:`~wharf.context.Context` the host does,
over a backend with the API server's semantics that controllers depend on:

- server-managed metadata: ``uid``, ``creationTimestamp``, ``generation``
  (bumped when anything outside ``metadata`` and ``status`` changes) and a
  ``resourceVersion`` from one global revision counter (:attr:`FakeCluster.revision`);
- ``generateName`` (a deterministic five-character suffix);
- optimistic concurrency: an update, status update or patch carrying a
  stale ``resourceVersion`` (or another ``uid``) is a
  :class:`~wharf.errors.Conflict`; one without a ``resourceVersion`` is unconditional;
- the status subresource for every kind: create drops ``status``, update
  keeps the stored status, status update and status patch change only ``status``;
- no-op writes keep the ``resourceVersion`` (and the revision), as the API server does;
- finalizers: deleting an object with finalizers only sets
  ``deletionTimestamp``; it goes once an update empties them;
- label selectors (the full syntax) and field selectors (``=``, ``==``,
  ``!=`` over any dotted path, such as ``metadata.name`` or ``spec.nodeName``);
- patches: JSON merge and JSON patch exactly; **strategic merge is
  approximated by a JSON merge patch** (lists replaced whole, ``$``
  directives dropped);
- events, logs (the plugin's :mod:`logging` lines included) and the private
  state store are recorded, and so is every call, in order (:attr:`FakeCluster.calls`).

Tests can also inject failures (:meth:`FakeCluster.fail_when`), move the
clock (:meth:`FakeCluster.advance`) and make reads stale, as an informer
cache that lags behind the writes (:meth:`FakeCluster.freeze_cache`).

Not modelled: namespaces as objects, admission, validation beyond names and
kinds, defaulting, watches, garbage collection by ownerReferences.

>>> from wharf.kinds import CONFIG_MAP
>>> fake = FakeCluster()
>>> stored = fake.add({"apiVersion": "v1", "kind": "ConfigMap",
...                    "metadata": {"name": "a", "namespace": "ns"}})
>>> ctx = fake.context()
>>> fresh = ctx.update(CONFIG_MAP, dict(stored, data={"k": "v"}))
>>> fresh["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"]
True
>>> try:
...     ctx.update(CONFIG_MAP, dict(stored, data={}))   # stale resourceVersion
... except Conflict:
...     print("conflict")
conflict
"""

from __future__ import annotations

import builtins
import copy
import enum
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

from . import log
from .admission import Admission, AdmissionRegistration, Request, Response
from .backend import CreateResult, Event, LogLevel, PatchType
from .context import Context, Object
from .controller import Controller, Outcome, Registration, outcome_of
from .errors import AlreadyExists, ApiError, Conflict, Invalid, NotFound
from .kinds import Kind
from .patch import apply_json_patch, apply_merge_patch
from .selector import Selector

__all__ = ["FakeCluster", "FakeBackend", "Call", "Verb", "START_MILLIS", "split_key"]

T = TypeVar("T")

#: 2026-01-01T00:00:00Z, where every fake cluster's clock starts.
START_MILLIS = 1_767_225_600_000

#: Objects by kind, namespace and name.
_Key = tuple[Kind, "str | None", str]


class Verb(str, enum.Enum):
    """A cluster call, by its verb (compares equal to its name: ``Verb.GET == "get"``)."""

    GET = "get"
    LIST = "list"
    CREATE = "create"
    UPDATE = "update"
    UPDATE_STATUS = "update_status"
    PATCH = "patch"
    DELETE = "delete"

    @property
    def is_write(self) -> bool:
        """Whether the verb writes (everything but get and list)."""
        return self not in (Verb.GET, Verb.LIST)


@dataclass(frozen=True)
class Call:
    """A cluster call: as made (in :attr:`FakeCluster.calls`), or about to be
    made (what a :meth:`FakeCluster.fail_when` hook sees, ``error`` ``None``)."""

    verb: Verb
    kind: Kind
    namespace: str | None
    #: The object's name (the generated one for a successful create by
    #: ``generateName``); ``None`` for lists.
    name: str | None
    #: The error's text when the call failed.
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None


#: A failure hook: the error to fail the call with, or ``None`` to let it through.
FailureHook = Callable[[Call], "ApiError | None"]


class FakeCluster:
    """An in-memory cluster; see the module docs.

    Arrange with :meth:`add`, :meth:`modify` and :meth:`remove`; act with
    :meth:`run` (a controller) or :meth:`review` (an admission plugin);
    assert with :meth:`get`, :meth:`list`, :attr:`writes`, :attr:`events`,
    :attr:`logs` and :attr:`revision`. Arranging and asserting record no calls.
    """

    def __init__(self) -> None:
        self._objects: dict[_Key, Object] = {}
        #: While frozen, what reads see.
        self._snapshot: dict[_Key, Object] | None = None
        self._revision = 0
        self._uids = 0
        self._generated_names = 0
        self._now_millis = START_MILLIS
        self._calls: list[Call] = []
        self._events: list[Event] = []
        self._logs: list[tuple[LogLevel, str]] = []
        self._failures: list[FailureHook] = []
        self._last_request: Request | None = None
        #: The plugin's private state store, as the plugin wrote it.
        self.state: dict[str, bytes] = {}
        #: The :class:`~wharf.backend.Backend` plugins run over.
        self.backend = FakeBackend(self)

    def context(self) -> Context:
        """A :class:`~wharf.context.Context` over this cluster."""
        return Context(self.backend)

    # --- Acting ---

    def run(self, controller: Controller | type[Controller], key: str, config: Mapping[str, Any] | None = None) -> Outcome:
        """Reconciles ``key`` (``namespace/name``, or ``name`` for
        cluster-scoped kinds). Given a class, builds a fresh instance as the
        host does (``registration(config or {})`` first); given an instance,
        reuses it (its attributes live on between runs, as in a component
        instance). Returns the outcome (``None`` read as :data:`Done`);
        exceptions propagate, for the test to see."""
        instance: Controller = self.instantiate(controller, config)[0] if isinstance(controller, type) else controller
        namespace, name = split_key(key)
        with log.routed_to(self.backend):
            outcome = instance.reconcile(self.context(), namespace, name)
        return outcome_of(outcome)

    def review(
        self,
        plugin: Admission | type[Admission],
        request: Request | Mapping[str, Any],
        config: Mapping[str, Any] | None = None,
    ) -> Response:
        """Reviews one request (a :class:`~wharf.admission.Request`, or its
        fields in camelCase as :meth:`Request.from_dict` takes them). Given
        a class, builds a fresh instance as the host does; a validating
        plugin's patch is refused as the host refuses it."""
        registration: AdmissionRegistration | None = None
        instance: Admission
        if isinstance(plugin, type):
            instance, registration = self.instantiate(plugin, config)
        else:
            instance = plugin
        if not isinstance(request, Request):
            request = Request.from_dict(request)
        self._last_request = request
        with log.routed_to(self.backend):
            response = instance.review(self.context(), request)
        if not isinstance(response, Response):
            raise TypeError(f"review() returned {response!r}, not a wharf.Response")
        if registration is not None:
            response.check(registration)
        return response

    def instantiate(self, plugin_class: type, config: Mapping[str, Any] | None = None) -> tuple[Any, Any]:
        """A plugin instance and its registration, built as the host's
        ``init`` builds them from ``spec.config``."""
        plugin = plugin_class()
        with log.routed_to(self.backend):
            registration = plugin.registration(dict(config or {}))
        expected = Registration if isinstance(plugin, Controller) else AdmissionRegistration
        if not isinstance(registration, expected):
            raise TypeError(f"registration() returned {registration!r}, not a {expected.__name__}")
        return plugin, registration

    def patched(self, response: Response) -> Object:
        """The last reviewed request's object with ``response``'s patch applied."""
        if self._last_request is None or self._last_request.original_object is None:
            raise Invalid("no request with an object was reviewed")
        return response.patched(self._last_request.original_object)

    def store_status_updates(self, response: Response) -> None:
        """Stores ``response``'s status updates as the host does once the
        reviewed write is stored: each object's status replaced, guarded by
        the resourceVersion the plugin read (a :class:`~wharf.errors.Conflict`
        when it changed since). Recorded as ``update_status`` calls."""
        for update in response.status_updates:
            metadata: dict[str, Any] = {"name": update.name, "resourceVersion": update.resource_version}
            if update.namespace is not None:
                metadata["namespace"] = update.namespace
            obj = {"metadata": metadata, "status": update.status}
            self.backend.update_status(update.kind, update.namespace, json.dumps(obj))

    # --- Arranging ---

    def add(self, obj: Mapping[str, Any], kind: Kind | None = None) -> Object:
        """Stores ``obj`` as it is (status, deletionTimestamp and all; its
        kind from ``apiVersion``/``kind`` unless given), filling in the
        server-managed metadata it lacks (``uid``, ``creationTimestamp``,
        ``generation``) and a new ``resourceVersion``; returns it as stored.
        Replaces an object of the same name. Records no call."""
        kind = kind or Kind.of(obj)
        value = _with_type(copy.deepcopy(dict(obj)), kind)
        metadata = _metadata(value)
        name = metadata.get("name")
        if not name:
            raise ValueError("an object added to a FakeCluster needs metadata.name")
        if "uid" not in metadata:
            metadata["uid"] = self._next_uid()
        metadata.setdefault("creationTimestamp", self._timestamp())
        metadata.setdefault("generation", 1)
        metadata["resourceVersion"] = self._next_revision()
        self._objects[(kind, metadata.get("namespace"), name)] = value
        return copy.deepcopy(value)

    def modify(self, kind: Kind, namespace: str | None, name: str, change: Callable[[Object], None]) -> Object:
        """Changes a stored object in place (anything in it: data, status,
        metadata) with a new ``resourceVersion``, as another client's write
        would; returns it as stored. Records no call. ``KeyError`` when
        there is no such object."""
        key = (kind, namespace, name)
        if key not in self._objects:
            raise KeyError(f"no {kind.kind} {namespace}/{name} to modify")
        value = copy.deepcopy(self._objects[key])
        change(value)
        _metadata(value)["resourceVersion"] = self._next_revision()
        self._objects[key] = value
        return copy.deepcopy(value)

    def remove(self, kind: Kind, namespace: str | None, name: str) -> bool:
        """Removes an object outright (no finalizers, no call recorded)."""
        return self._objects.pop((kind, namespace, name), None) is not None

    def fail_when(self, hook: FailureHook) -> None:
        """Makes every later call for which ``hook`` returns an error fail
        with it, before it changes anything. Hooks run in the order added.

        >>> from wharf.errors import Forbidden
        >>> fake = FakeCluster()
        >>> fake.fail_when(lambda call: Forbidden("quota") if call.verb == "create" else None)
        """
        self._failures.append(hook)

    def clear_failures(self) -> None:
        self._failures.clear()

    def freeze_cache(self) -> None:
        """From now on, ``get`` and ``list`` answer from a snapshot of this
        moment, as a host's informer cache that has not seen the later
        writes yet. Writes still go to (and are checked against) the store."""
        self._snapshot = copy.deepcopy(self._objects)

    def thaw_cache(self) -> None:
        """Lets reads see the store again (the cache caught up)."""
        self._snapshot = None

    def advance(self, millis: int) -> None:
        """Moves the clock forward."""
        self._now_millis += millis

    def set_now_millis(self, millis: int) -> None:
        self._now_millis = millis

    # --- Asserting ---

    def get(self, kind: Kind, namespace: str | None, name: str) -> Object | None:
        """The stored object as it is now (never from a frozen cache), a copy."""
        value = self._objects.get((kind, namespace, name))
        return None if value is None else copy.deepcopy(value)

    def list(self, kind: Kind, namespace: str | None = None) -> builtins.list[Object]:
        """The stored objects of ``kind`` in ``namespace`` (all with ``None``),
        sorted by namespace and name."""
        return [copy.deepcopy(value) for key, value in _sorted(self._objects) if key[0] == kind and (namespace is None or key[1] == namespace)]

    @property
    def calls(self) -> builtins.list[Call]:
        """Every call made so far, in order, failed ones included."""
        return list(self._calls)

    @property
    def writes(self) -> builtins.list[Call]:
        """The successful writes (create, update, update_status, patch, delete) so far."""
        return [call for call in self._calls if call.verb.is_write and call.succeeded]

    @property
    def events(self) -> builtins.list[Event]:
        """The events emitted so far, in order."""
        return list(self._events)

    @property
    def logs(self) -> builtins.list[tuple[LogLevel, str]]:
        """The log lines so far, in order (the plugin's :mod:`logging` lines included)."""
        return list(self._logs)

    @property
    def revision(self) -> int:
        """The global revision: the ``resourceVersion`` of the latest write.
        Unchanged across a reconcile means it wrote nothing."""
        return self._revision

    @property
    def now_millis(self) -> int:
        return self._now_millis

    def clear_calls(self) -> None:
        """Forgets the recorded calls, events and logs (to look at one reconcile alone)."""
        self._calls.clear()
        self._events.clear()
        self._logs.clear()

    # --- Internals shared with the backend ---

    def _call(self, attempt: Call, operation: Callable[[], tuple[T, str | None]]) -> T:
        """Runs the failure hooks, then ``operation`` (which returns its
        result and the name to record), and records the call."""
        error: ApiError | None = None
        for hook in self._failures:
            error = hook(attempt)
            if error is not None:
                break
        name = attempt.name
        try:
            if error is not None:
                raise error
            result, name = operation()
        except ApiError as failure:
            self._calls.append(Call(attempt.verb, attempt.kind, attempt.namespace, name, str(failure)))
            raise
        self._calls.append(Call(attempt.verb, attempt.kind, attempt.namespace, name))
        return result

    def _readable(self) -> dict[_Key, Object]:
        return self._snapshot if self._snapshot is not None else self._objects

    def _next_revision(self) -> str:
        self._revision += 1
        return str(self._revision)

    def _next_uid(self) -> str:
        self._uids += 1
        return f"00000000-0000-4000-8000-{self._uids:012x}"

    def _timestamp(self) -> str:
        return datetime.fromtimestamp(self._now_millis / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _generate_name(self, kind: Kind, namespace: str | None, prefix: str) -> str:
        """``prefix`` and five characters from the API server's alphabet, the same sequence in every run."""
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        while True:
            self._generated_names += 1
            # Multiplying by a number prime to 27 permutes 0..27^5, so names don't repeat.
            n = (self._generated_names * 1_000_003) % 27**5
            suffix = ""
            for _ in range(5):
                suffix += alphabet[n % 27]
                n //= 27
            name = prefix[:58] + suffix
            if (kind, namespace, name) not in self._objects:
                return name

    def _store_update(self, key: _Key, existing: Object, incoming: Object, status_only: bool) -> Object:
        """Stores ``incoming`` over ``existing`` with update semantics (or,
        with ``status_only``, status update semantics); returns what is stored."""
        if status_only:
            updated = copy.deepcopy(existing)
            _set_or_remove(updated, "status", incoming.get("status", _ABSENT))
        else:
            updated = incoming
            _set_or_remove(updated, "status", existing.get("status", _ABSENT))
            stored_metadata = existing.get("metadata") or {}
            metadata = _metadata(updated)
            for field in (
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ):
                if field in stored_metadata:
                    metadata[field] = stored_metadata[field]
                else:
                    metadata.pop(field, None)
            if _without(updated, "metadata", "status") != _without(existing, "metadata", "status"):
                metadata["generation"] = int(stored_metadata.get("generation") or 0) + 1
        _with_type(updated, key[0])
        _metadata(updated)["resourceVersion"] = _metadata(existing).get("resourceVersion")
        if updated == existing:
            return existing
        metadata = _metadata(updated)
        metadata["resourceVersion"] = self._next_revision()
        terminating = metadata.get("deletionTimestamp") is not None
        if terminating and not metadata.get("finalizers"):
            del self._objects[key]
        else:
            self._objects[key] = updated
        return updated


class FakeBackend:
    """The :class:`~wharf.backend.Backend` of a :class:`FakeCluster`: JSON
    text in and out, as over the WIT boundary."""

    def __init__(self, cluster: FakeCluster) -> None:
        self._cluster = cluster

    def get(self, kind: Kind, namespace: str | None, name: str) -> str | None:
        cluster = self._cluster

        def operation() -> tuple[str | None, str]:
            found = cluster._readable().get((kind, namespace, name))
            return (None if found is None else json.dumps(found)), name

        return cluster._call(Call(Verb.GET, kind, namespace, name), operation)

    def list(self, kind: Kind, namespace: str | None, label_selector: str | None, field_selector: str | None) -> list[str]:
        cluster = self._cluster

        def operation() -> tuple[builtins.list[str], None]:
            labels = Selector.parse(label_selector or "")
            fields = _FieldSelector(field_selector or "")
            items = [
                json.dumps(value)
                for key, value in _sorted(cluster._readable())
                if key[0] == kind
                and (namespace is None or key[1] == namespace)
                and labels.matches((value.get("metadata") or {}).get("labels"))
                and fields.matches(value)
            ]
            return items, None

        return cluster._call(Call(Verb.LIST, kind, namespace, None), operation)

    def create(self, kind: Kind, namespace: str | None, obj: str) -> str:
        cluster = self._cluster
        value = _parse_object(kind, obj)
        name = _metadata(value).get("name") or None

        def operation() -> tuple[str, str]:
            _check_namespace(value, namespace)
            metadata = _metadata(value)
            created = name
            if created is None:
                prefix = metadata.get("generateName") or ""
                if not prefix:
                    raise Invalid("name or generateName is required")
                created = cluster._generate_name(kind, namespace, prefix)
            key = (kind, namespace, created)
            if key in cluster._objects:
                raise AlreadyExists(f'{kind.kind} "{created}" already exists')
            value.pop("status", None)
            metadata["name"] = created
            if namespace is not None:
                metadata["namespace"] = namespace
            metadata["uid"] = cluster._next_uid()
            metadata["creationTimestamp"] = cluster._timestamp()
            metadata["generation"] = 1
            metadata["resourceVersion"] = cluster._next_revision()
            metadata.pop("deletionTimestamp", None)
            metadata.pop("deletionGracePeriodSeconds", None)
            cluster._objects[key] = value
            return json.dumps(value), created

        return cluster._call(Call(Verb.CREATE, kind, namespace, name), operation)

    def create_all(self, kind: Kind, namespace: str | None, objs: Sequence[str]) -> builtins.list[CreateResult]:
        results: builtins.list[CreateResult] = []
        for obj in objs:
            try:
                results.append(self.create(kind, namespace, obj))
            except ApiError as error:
                results.append(error)
        return results

    def update(self, kind: Kind, namespace: str | None, obj: str) -> str:
        return self._replace(Verb.UPDATE, kind, namespace, obj)

    def update_status(self, kind: Kind, namespace: str | None, obj: str) -> str:
        return self._replace(Verb.UPDATE_STATUS, kind, namespace, obj)

    def patch(self, kind: Kind, namespace: str | None, name: str, patch_type: PatchType, patch: str, status: bool) -> str:
        cluster = self._cluster

        def operation() -> tuple[str, str]:
            try:
                body = json.loads(patch)
            except ValueError as error:
                raise Invalid(f"the patch is not JSON: {error}") from None
            key = (kind, namespace, name)
            existing = cluster._objects.get(key)
            if existing is None:
                raise _not_found(kind, name)
            if patch_type is PatchType.JSON:
                patched = apply_json_patch(existing, body)
            else:
                patched = apply_merge_patch(existing, body, strategic=patch_type is PatchType.STRATEGIC)
            if not isinstance(patched, dict):
                raise Invalid("the patched object is not a JSON object")
            # A resourceVersion in the patch is a precondition; without one the patch applies to the latest.
            if _metadata(patched).get("resourceVersion") != _metadata(existing).get("resourceVersion"):
                raise _conflict(kind, name)
            _metadata(patched)["name"] = name
            stored = cluster._store_update(key, existing, patched, status)
            return json.dumps(stored), name

        return cluster._call(Call(Verb.PATCH, kind, namespace, name), operation)

    def delete(self, kind: Kind, namespace: str | None, name: str) -> None:
        cluster = self._cluster

        def operation() -> tuple[None, str]:
            key = (kind, namespace, name)
            existing = cluster._objects.get(key)
            if existing is None:
                raise _not_found(kind, name)
            metadata = _metadata(existing)
            if not metadata.get("finalizers"):
                del cluster._objects[key]
                cluster._next_revision()
            elif metadata.get("deletionTimestamp") is None:
                terminating = copy.deepcopy(existing)
                terminating_metadata = _metadata(terminating)
                terminating_metadata["deletionTimestamp"] = cluster._timestamp()
                terminating_metadata["deletionGracePeriodSeconds"] = 0
                terminating_metadata["resourceVersion"] = cluster._next_revision()
                cluster._objects[key] = terminating
            return None, name

        cluster._call(Call(Verb.DELETE, kind, namespace, name), operation)

    def emit_event(self, event: Event) -> None:
        self._cluster._events.append(event)

    def log(self, level: LogLevel, message: str) -> None:
        self._cluster._logs.append((level, message))

    def now_millis(self) -> int:
        return self._cluster._now_millis

    def state_get(self, key: str) -> bytes | None:
        return self._cluster.state.get(key)

    def state_set(self, key: str, value: bytes) -> None:
        self._cluster.state[key] = bytes(value)

    def state_delete(self, key: str) -> None:
        self._cluster.state.pop(key, None)

    def _replace(self, verb: Verb, kind: Kind, namespace: str | None, obj: str) -> str:
        """Update and status update: both replace, from the object's own name."""
        cluster = self._cluster
        incoming = _parse_object(kind, obj)
        name = _metadata(incoming).get("name")

        def operation() -> tuple[str, str]:
            if not name:
                raise Invalid("metadata.name is required")
            _check_namespace(incoming, namespace)
            key = (kind, namespace, name)
            existing = cluster._objects.get(key)
            if existing is None:
                raise _not_found(kind, name)
            incoming_metadata = _metadata(incoming)
            stored_metadata = existing.get("metadata") or {}
            version = incoming_metadata.get("resourceVersion")
            if version is not None and version != stored_metadata.get("resourceVersion"):
                raise _conflict(kind, name)
            uid = incoming_metadata.get("uid")
            if uid is not None and uid != stored_metadata.get("uid"):
                raise Conflict(f'{kind.kind} "{name}": the uid in the request is {uid}, the stored object\'s is {stored_metadata.get("uid")}')
            stored = cluster._store_update(key, existing, incoming, verb is Verb.UPDATE_STATUS)
            return json.dumps(stored), name

        return cluster._call(Call(verb, kind, namespace, name), operation)


def split_key(key: str) -> tuple[str | None, str]:
    """``namespace/name`` as ``(namespace, name)``; ``name`` as ``(None, name)``."""
    namespace, slash, name = key.partition("/")
    return (namespace, name) if slash else (None, key)


class _Absent:
    pass


_ABSENT: Any = _Absent()


def _sorted(objects: Mapping[_Key, Object]) -> Iterator[tuple[_Key, Object]]:
    """Objects sorted by kind, namespace (cluster-scoped first) and name."""
    return iter(sorted(objects.items(), key=lambda item: (item[0][0], item[0][1] is not None, item[0][1] or "", item[0][2])))


def _parse_object(kind: Kind, text: str) -> Object:
    """Parses an object sent to the cluster: a JSON object whose
    ``apiVersion`` and ``kind``, when present, are those of the call (both
    are set when absent)."""
    try:
        value = json.loads(text)
    except ValueError as error:
        raise Invalid(f"the object is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise Invalid("the object is not a JSON object")
    for field, expected in (("apiVersion", kind.api_version), ("kind", kind.kind)):
        actual = value.get(field)
        if actual is not None and actual != expected:
            raise Invalid(f"{field} is {actual!r}, the call is for {kind}")
    return _with_type(value, kind)


def _check_namespace(obj: Object, namespace: str | None) -> None:
    own = (obj.get("metadata") or {}).get("namespace")
    if own and namespace is not None and own != namespace:
        raise Invalid(f"the namespace of the object ({own}) does not match the namespace of the call ({namespace})")


def _with_type(value: Object, kind: Kind) -> Object:
    value["apiVersion"] = kind.api_version
    value["kind"] = kind.kind
    return value


def _metadata(value: Object) -> dict[str, Any]:
    metadata = value.get("metadata")
    if not isinstance(metadata, dict):
        metadata = value["metadata"] = {}
    return metadata


def _set_or_remove(obj: Object, field: str, value: Any) -> None:
    if value is _ABSENT:
        obj.pop(field, None)
    else:
        obj[field] = copy.deepcopy(value)


def _without(obj: Object, *fields: str) -> Object:
    return {key: value for key, value in obj.items() if key not in fields}


def _not_found(kind: Kind, name: str) -> NotFound:
    return NotFound(f'{kind.kind} "{name}" not found')


def _conflict(kind: Kind, name: str) -> Conflict:
    return Conflict(
        f'Operation cannot be fulfilled on {kind.kind} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


class _FieldSelector:
    """Field selectors as the fake cluster reads them: ``path=value``,
    ``path==value`` and ``path!=value`` terms joined by commas, over any
    dotted path of the object (the API server allows only a few per kind)."""

    def __init__(self, text: str) -> None:
        self.terms: list[tuple[list[str], bool, str]] = []
        for term in (term.strip() for term in text.split(",")):
            if not term:
                continue
            for operator, equals in (("!=", False), ("==", True), ("=", True)):
                path, found, value = term.partition(operator)
                if found:
                    break
            else:
                raise Invalid(f"field selector term {term!r} has no =, == or !=")
            if not path.strip():
                raise Invalid(f"field selector term {term!r} has no field")
            self.terms.append((path.strip().split("."), equals, value.strip()))

    def matches(self, obj: Object) -> bool:
        for path, equals, expected in self.terms:
            node: Any = obj
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                text = ""
            elif isinstance(node, str):
                text = node
            else:
                text = json.dumps(node)
            if (text == expected) != equals:
                return False
        return True
