"""Admission plugins over the fake cluster: allow, deny, patch, warnings,
audit annotations and status updates."""

from __future__ import annotations

from typing import Any

import pytest

from wharf import (
    CREATE,
    NAMESPACE,
    POD,
    RESOURCE_QUOTA,
    Admission,
    AdmissionRegistration,
    Context,
    Conflict,
    Invalid,
    Request,
    Response,
)
from wharf.testing import FakeCluster, Verb


class Teams(Admission):
    """Gives every new Pod a team label (its namespace's, else "unknown");
    refuses pods in the namespace "frozen"."""

    def registration(self, config: dict[str, Any]) -> AdmissionRegistration:
        self.default_team = config.get("defaultTeam", "unknown")
        return AdmissionRegistration([POD], operations=[CREATE], mutating=True, reads=[NAMESPACE])

    def review(self, ctx: Context, request: Request) -> Response:
        if request.namespace == "frozen":
            return Response.deny("the namespace frozen takes no new pods")
        pod = request.object
        assert pod is not None
        labels = pod.setdefault("metadata", {}).setdefault("labels", {})
        if "team" in labels:
            return Response.allow()
        namespace = ctx.get(NAMESPACE, None, request.namespace or "")
        team = ((namespace or {}).get("metadata", {}).get("labels") or {}).get("team", self.default_team)
        labels["team"] = team
        return Response.patch(request, pod).warn(f"no team label: set to {team}").annotate("teams/defaulted", team)


def pod_request(namespace: str = "default", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "operation": "CREATE",
        "object": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "namespace": namespace, "labels": labels or {}},
            "spec": {"containers": [{"name": "app", "image": "nginx"}]},
        },
    }


def test_a_mutating_plugin_patches_the_object_it_changed_in_place() -> None:
    fake = FakeCluster()
    response = fake.review(Teams, pod_request())
    assert response.allowed
    assert response.patch_operations == [{"op": "add", "path": "/metadata/labels/team", "value": "unknown"}]
    assert response.warnings == ["no team label: set to unknown"]
    assert response.audit_annotations == {"teams/defaulted": "unknown"}
    assert fake.patched(response)["metadata"]["labels"] == {"team": "unknown"}
    assert fake.calls[0].verb == Verb.GET and fake.calls[0].kind == NAMESPACE


def test_the_plugin_reads_the_cluster_and_its_config() -> None:
    fake = FakeCluster()
    fake.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "payments"}}})
    assert fake.patched(fake.review(Teams, pod_request("shop")))["metadata"]["labels"]["team"] == "payments"
    response = fake.review(Teams, pod_request(), config={"defaultTeam": "platform"})
    assert fake.patched(response)["metadata"]["labels"]["team"] == "platform"


def test_nothing_to_change_is_a_plain_allow_and_a_denial_carries_its_message() -> None:
    fake = FakeCluster()
    labelled = fake.review(Teams, pod_request(labels={"team": "a"}))
    assert labelled.allowed and labelled.patch_operations == []
    denied = fake.review(Teams, pod_request("frozen"))
    assert not denied.allowed
    assert denied.message == "the namespace frozen takes no new pods"


def test_requests_default_their_kind_and_name_from_the_object() -> None:
    request = Request.from_dict(pod_request())
    assert (request.kind, request.name, request.namespace, request.user.username) == (POD, "web", "default", "")
    assert request.original_object == pod_request()["object"]
    delete = Request.from_dict({"operation": "DELETE", "oldObject": {"metadata": {"name": "x"}}, "kind": {"version": "v1", "kind": "Secret"}, "dryRun": True})
    assert (delete.kind.kind, delete.name, delete.object, delete.dry_run) == ("Secret", "x", None, True)


class Sneaky(Admission):
    """A validating plugin that tries to change the object."""

    def registration(self, config: dict[str, Any]) -> AdmissionRegistration:
        return AdmissionRegistration([POD])

    def review(self, ctx: Context, request: Request) -> Response:
        changed = dict(request.object or {}, spec={})
        return Response.patch(request, changed)


def test_a_validating_plugin_may_not_patch() -> None:
    with pytest.raises(ValueError, match="mutating=True"):
        FakeCluster().review(Sneaky, pod_request())


def test_registrations_take_only_known_operations() -> None:
    assert AdmissionRegistration([POD]).operations == ("CREATE", "UPDATE", "DELETE")
    AdmissionRegistration([POD], operations=["*"])
    with pytest.raises(Invalid):
        AdmissionRegistration([POD], operations=["CONNECT"])


class Quota(Admission):
    """Charges each new pod to the namespace's ResourceQuota "pods"
    (status.used.pods), refusing one past status.hard.pods."""

    def registration(self, config: dict[str, Any]) -> AdmissionRegistration:
        return AdmissionRegistration([POD], operations=[CREATE], reads=[RESOURCE_QUOTA])

    def review(self, ctx: Context, request: Request) -> Response:
        quota = ctx.get(RESOURCE_QUOTA, request.namespace, "pods")
        if quota is None:
            return Response.allow()
        used = int(quota["status"]["used"]["pods"])
        if used + 1 > int(quota["status"]["hard"]["pods"]):
            return Response.deny(f"exceeded quota: pods, used {used}, limited {quota['status']['hard']['pods']}")
        quota["status"]["used"]["pods"] = str(used + 1)
        return Response.allow().update_status(quota)


def test_a_validating_plugin_stores_statuses_with_the_write_guarded_by_what_it_read() -> None:
    fake = FakeCluster()
    fake.add(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "pods", "namespace": "default"},
            "status": {"hard": {"pods": "1"}, "used": {"pods": "0"}},
        }
    )
    first = fake.review(Quota, pod_request())
    assert [(u.kind, u.name, u.resource_version) for u in first.status_updates] == [(RESOURCE_QUOTA, "pods", "1")]
    fake.store_status_updates(first)
    assert fake.get(RESOURCE_QUOTA, "default", "pods")["status"]["used"] == {"pods": "1"}
    with pytest.raises(Conflict):  # the quota moved on since the plugin read it
        fake.store_status_updates(first)
    second = fake.review(Quota, pod_request())
    assert not second.allowed and second.message.startswith("exceeded quota")


def test_a_status_update_needs_a_name_and_resource_version() -> None:
    with pytest.raises(Invalid):
        Response.allow().update_status({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}})
