"""Kinds, errors, owner references, outcomes: the small helpers."""

from __future__ import annotations

import doctest
import importlib

import pytest

import wharf
from wharf import (
    CONFIG_MAP,
    DEPLOYMENT,
    AlreadyExists,
    ApiError,
    Conflict,
    Forbidden,
    Invalid,
    Kind,
    NotFound,
    ObjectRef,
    Registration,
    RequeueAfter,
    controller_of,
    is_controlled_by,
    owner_reference,
    resync_from_config,
)


def test_kinds_name_their_api_version() -> None:
    assert DEPLOYMENT.api_version == "apps/v1"
    assert CONFIG_MAP.api_version == "v1"
    assert Kind.parse("apps/v1", "Deployment") == DEPLOYMENT
    assert Kind.of({"apiVersion": "v1", "kind": "ConfigMap"}) == CONFIG_MAP
    assert str(DEPLOYMENT) == "apps/v1, Kind=Deployment"
    with pytest.raises(ValueError):
        Kind.of({"metadata": {}})


def test_object_refs_print_as_kubectl_names_objects() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"}}
    assert str(ObjectRef.of(deployment)) == "Deployment ns/web"
    assert str(ObjectRef(Kind("", "v1", "Node"), None, "n1")) == "Node n1"


@pytest.mark.parametrize(
    ("error", "reason", "code", "text"),
    [
        (NotFound("x"), "NotFound", 404, "not found: x"),
        (AlreadyExists("x"), "AlreadyExists", 409, "already exists: x"),
        (Conflict("x"), "Conflict", 409, "conflict: x"),
        (Forbidden("x"), "Forbidden", 403, "forbidden: x"),
        (Invalid("x"), "Invalid", 422, "invalid: x"),
        (ApiError("x"), "InternalError", 500, "x"),
    ],
)
def test_api_errors_map_the_wit_variant(error: ApiError, reason: str, code: int, text: str) -> None:
    assert isinstance(error, ApiError)
    assert (error.reason, error.code, str(error), error.message) == (reason, code, text, "x")


def test_owner_references_name_the_controller() -> None:
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web", "uid": "u1"}}
    reference = owner_reference(owner)
    assert reference == {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "web",
        "uid": "u1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    other = dict(owner_reference(dict(owner, metadata={"name": "b", "uid": "u2"}), controller=False))
    pod: dict = {"metadata": {}}
    assert controller_of(pod) is None
    pod["metadata"]["ownerReferences"] = [other]
    assert controller_of(pod) is None
    pod["metadata"]["ownerReferences"].append(reference)
    assert controller_of(pod)["uid"] == "u1"
    assert is_controlled_by(pod, owner)
    assert not is_controlled_by(pod, {"metadata": {"uid": "u2"}})
    assert not is_controlled_by(pod, {"metadata": {}})


def test_outcomes_and_registrations_check_their_ranges() -> None:
    assert RequeueAfter.seconds(1.5) == RequeueAfter(1500)
    with pytest.raises(Invalid):
        RequeueAfter(-1)
    with pytest.raises(Invalid):
        RequeueAfter(2**32)
    with pytest.raises(Invalid):
        Registration(CONFIG_MAP, resync_seconds=-1)


@pytest.mark.parametrize(
    ("config", "expected"),
    [({}, 30), ({"resyncSeconds": 5}, 5), ({"resyncSeconds": 0}, Invalid), ({"resyncSeconds": "5"}, Invalid), ({"resyncSeconds": True}, Invalid)],
)
def test_resync_seconds_come_from_the_config(config: dict, expected: object) -> None:
    if isinstance(expected, int):
        assert resync_from_config(config, default=30) == expected
    else:
        with pytest.raises(Invalid):
            resync_from_config(config)


@pytest.mark.parametrize(
    "module",
    ["errors", "kinds", "selector", "owner", "patch", "admission", "controller", "context", "testing"],
)
def test_the_examples_in_the_docs_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"wharf.{module}"))
    assert result.failed == 0


def test_the_package_exports_what_it_lists() -> None:
    for name in wharf.__all__:
        assert hasattr(wharf, name), name
