"""The component glue (``wharf._component``, ``export``) against the bindings
componentize-py generates for ``wit/``, run in plain CPython: the
generated import functions are replaced by a shim over a FakeCluster, and
the test calls the export classes as componentize-py does (one instance
per exported function). What only a real build can show (the snapshot,
the WASI streams) is left to building the examples."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import pytest

from wharf import ApiError, Kind, PatchType
from wharf.testing import FakeCluster

WIT = Path(__file__).resolve().parents[3] / "wit"
GENERATED = ("wit_world", "componentize_py_types", "componentize_py_async_support", "poll_loop", "wharf._component", "app")


def _componentize_py() -> str | None:
    beside = Path(sys.executable).parent / "componentize-py"
    return str(beside) if beside.exists() else shutil.which("componentize-py")


def _forget_generated_modules() -> None:
    for name in list(sys.modules):
        if any(name == prefix or name.startswith(prefix + ".") for prefix in GENERATED):
            del sys.modules[name]
    import wharf

    wharf.__dict__.pop("_component", None)  # else `from . import _component` finds the old one


@pytest.fixture
def world(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[[str, str], ModuleType]]:
    """Generates the bindings of a world, then imports an app.py written by the test."""
    tool = _componentize_py()
    if tool is None or not WIT.is_dir():
        pytest.skip("componentize-py (sdk/python/requirements.txt) is not installed")

    def load(world_name: str, app_source: str) -> ModuleType:
        subprocess.run([tool, "-d", str(WIT), "-w", world_name, "bindings", str(tmp_path)], check=True, capture_output=True)
        (tmp_path / "app.py").write_text(textwrap.dedent(app_source))
        sys.path.insert(0, str(tmp_path))
        _forget_generated_modules()
        return importlib.import_module("app")

    yield load
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))
    _forget_generated_modules()


def connect(fake: FakeCluster) -> list[tuple[int, str]]:
    """Points the generated import functions at ``fake``, as the host would
    answer them; returns the list the ``log`` import appends to."""
    from componentize_py_types import Err, Ok  # type: ignore[import-not-found]
    from wit_world.imports import clock, cluster, log, types  # type: ignore[import-not-found]

    variants = {
        "NotFound": types.ApiError_NotFound,
        "AlreadyExists": types.ApiError_AlreadyExists,
        "Conflict": types.ApiError_Conflict,
        "Forbidden": types.ApiError_Forbidden,
        "Invalid": types.ApiError_Invalid,
    }
    backend = fake.backend

    def kind(k: Any) -> Kind:
        return Kind(k.group, k.version, k.kind)

    def host(function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            try:
                return function(*args)
            except ApiError as error:
                raise Err(variants.get(type(error).__name__, types.ApiError_Other)(error.message)) from None

        return call

    cluster.get = host(lambda k, ns, name: backend.get(kind(k), ns, name))
    cluster.list = host(lambda k, o: backend.list(kind(k), o.namespace, o.label_selector, o.field_selector))
    cluster.create = host(lambda k, ns, obj: backend.create(kind(k), ns, obj))
    cluster.update = host(lambda k, ns, obj: backend.update(kind(k), ns, obj))
    cluster.update_status = host(lambda k, ns, obj: backend.update_status(kind(k), ns, obj))
    cluster.patch = host(lambda k, ns, name, t, p, s: backend.patch(kind(k), ns, name, PatchType[t.name], p, s))
    cluster.delete = host(lambda k, ns, name: backend.delete(kind(k), ns, name))
    cluster.create_all = lambda k, ns, objs: [
        Err(variants[type(r).__name__](r.message)) if isinstance(r, ApiError) else Ok(r)
        for r in backend.create_all(kind(k), ns, objs)
    ]
    clock.now_millis = backend.now_millis
    lines: list[tuple[int, str]] = []
    log.log = lambda level, message: lines.append((level.value, message))
    try:
        from wit_world.imports import events, state  # type: ignore[import-not-found]
    except ImportError:
        return lines
    events.emit = lambda event: fake._events.append(event)
    state.get = backend.state_get
    state.set = backend.state_set
    state.delete = backend.state_delete
    return lines


MIRROR_APP = """
    import logging
    from wharf import CONFIG_MAP, Controller, Done, NotFound, Registration, RequeueAfter, export, owner_reference

    class Mirror(Controller):
        def registration(self, config):
            self.requeue = config.get("requeue", 0)
            return Registration(CONFIG_MAP, owns=[CONFIG_MAP], resync_seconds=10)

        def reconcile(self, ctx, namespace, name):
            if name == "crash":
                {}["missing"]
            if name == "absent":
                ctx.delete(CONFIG_MAP, namespace, name)
            source = ctx.get(CONFIG_MAP, namespace, name)
            logging.getLogger("mirror").warning("reconciling %s", name)
            ctx.create(CONFIG_MAP, {"metadata": {"name": name + "-mirror", "ownerReferences": [owner_reference(source)]},
                                    "data": source.get("data")}, namespace=namespace)
            ctx.event(source, "Normal", "Mirrored", "made " + name + "-mirror")
            ctx.state.set("last", name)
            return RequeueAfter(self.requeue) if self.requeue else Done

    export(Mirror)
"""


def test_a_controller_is_wired_to_the_reconciler_export(world: Callable[[str, str], ModuleType]) -> None:
    app = world("controller", MIRROR_APP)
    from wit_world.exports import reconciler  # type: ignore[import-not-found]

    fake = FakeCluster()
    fake.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "default"}, "data": {"a": "1"}})
    lines = connect(fake)
    # componentize-py builds one instance per exported function.
    registration = app.Reconciler().init(json.dumps({"requeue": 250}))
    assert registration.primary.kind == "ConfigMap" and registration.owns[0].kind == "ConfigMap"
    assert registration.resync_seconds == 10
    outcome = app.Reconciler().reconcile("default", "settings")
    assert outcome == reconciler.Outcome_RequeueAfter(250)
    assert fake.get(Kind("", "v1", "ConfigMap"), "default", "settings-mirror")["data"] == {"a": "1"}
    assert lines == [(3, "mirror: reconciling settings")]
    assert [e.reason for e in fake.events] == ["Mirrored"]
    assert fake.state == {"last": b"settings"}


def test_an_exception_in_reconcile_is_the_error_with_its_traceback_also_on_stderr(
    world: Callable[[str, str], ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    app = world("controller", MIRROR_APP)
    from componentize_py_types import Err  # type: ignore[import-not-found]

    fake = FakeCluster()
    connect(fake)
    app.Reconciler().init("{}")
    with pytest.raises(Err) as raised:
        app.Reconciler().reconcile("default", "crash")
    assert raised.value.value.startswith("Traceback (most recent call last):")
    assert raised.value.value.endswith("KeyError: 'missing'")
    assert 'in reconcile\n    {}["missing"]' in raised.value.value
    assert "_component.py" not in raised.value.value, "the traceback starts in the plugin's code"
    assert raised.value.value in capsys.readouterr().err
    with pytest.raises(Err) as not_found:  # an ApiError the plugin let escape
        app.Reconciler().reconcile("default", "absent")
    assert not_found.value.value.endswith('wharf.errors.NotFound: not found: ConfigMap "absent" not found')


def test_a_bad_config_fails_init_with_the_reason(world: Callable[[str, str], ModuleType]) -> None:
    app = world("controller", MIRROR_APP)
    from componentize_py_types import Err  # type: ignore[import-not-found]

    connect(FakeCluster())
    with pytest.raises(Err) as raised:
        app.Reconciler().init("[1]")
    assert "spec.config must be an object" in raised.value.value


TEAMS_APP = """
    from wharf import Admission, AdmissionRegistration, CREATE, POD, Response, export

    @export
    class Teams(Admission):
        def registration(self, config):
            return AdmissionRegistration([POD], operations=[CREATE], mutating=True)

        def review(self, ctx, request):
            if request.name == "crash":
                raise RuntimeError("the plugin failed")
            if request.namespace == "frozen":
                return Response.deny("frozen")
            request.object["metadata"].setdefault("labels", {})["team"] = "unknown"
            return Response.patch(request, request.object).warn("defaulted").annotate("team", "unknown")
"""


def _request(review: Any, types: Any, name: str, namespace: str) -> Any:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}}
    return review.Request(
        uid="u",
        operation="CREATE",
        kind=types.Kind("", "v1", "Pod"),
        sub_resource=None,
        namespace=namespace,
        name=name,
        object=json.dumps(pod),
        old_object=None,
        user=review.UserInfo("alice", ["system:authenticated"]),
        dry_run=False,
    )


def test_an_admission_plugin_is_wired_to_the_review_export(world: Callable[[str, str], ModuleType]) -> None:
    app = world("admission", TEAMS_APP)
    from wit_world.exports import review  # type: ignore[import-not-found]
    from wit_world.imports import types  # type: ignore[import-not-found]

    connect(FakeCluster())
    registration = app.Review().init("{}")
    assert (registration.operations, registration.mutating) == (["CREATE"], True)
    response = app.Review().review(_request(review, types, "web", "default"))
    assert isinstance(response.decision, review.Decision_Patch)
    assert json.loads(response.decision.value) == [{"op": "add", "path": "/metadata/labels", "value": {"team": "unknown"}}]
    assert response.warnings == ["defaulted"] and response.audit_annotations == [("team", "unknown")]
    denied = app.Review().review(_request(review, types, "web", "frozen"))
    assert denied.decision == review.Decision_Deny("frozen")


def test_an_exception_in_review_goes_to_stderr_and_traps(
    world: Callable[[str, str], ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    app = world("admission", TEAMS_APP)
    from wit_world.exports import review  # type: ignore[import-not-found]
    from wit_world.imports import types  # type: ignore[import-not-found]

    from wharf import PluginCrashed

    connect(FakeCluster())
    app.Review().init("{}")
    with pytest.raises(PluginCrashed, match="review raised RuntimeError: the plugin failed"):
        app.Review().review(_request(review, types, "crash", "default"))
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.rstrip().endswith("RuntimeError: the plugin failed")


def test_a_plugin_exported_for_the_wrong_world_fails_the_build(world: Callable[[str, str], ModuleType]) -> None:
    with pytest.raises(TypeError, match="-w controller"):
        world("admission", MIRROR_APP)


def test_without_bindings_export_only_checks_the_class() -> None:
    from wharf import Controller, export

    class Nothing(Controller):
        pass

    assert export(Nothing) is Nothing
    with pytest.raises(TypeError):
        export(object)  # type: ignore[arg-type]
