from app import Teams
from wharf.testing import FakeCluster


def create_pod(namespace: str, labels: dict[str, str] | None = None) -> dict:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": namespace, "labels": labels or {}}}
    return {"operation": "CREATE", "object": pod}


def test_a_pod_without_a_team_gets_its_namespaces_team() -> None:
    fake = FakeCluster()
    fake.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "payments"}}})
    response = fake.review(Teams, create_pod("shop"))
    assert response.allowed
    assert fake.patched(response)["metadata"]["labels"] == {"team": "payments"}
    assert response.warnings == ["no team label: set to payments"]


def test_a_labelled_pod_is_allowed_unchanged_and_a_frozen_namespace_refuses() -> None:
    fake = FakeCluster()
    fake.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "old", "labels": {"frozen": "true"}}})
    assert fake.review(Teams, create_pod("default", {"team": "a"})).patch_operations == []
    denied = fake.review(Teams, create_pod("old"))
    assert (denied.allowed, denied.message) == (False, "namespace old is frozen")


def test_the_default_team_comes_from_the_config() -> None:
    fake = FakeCluster()
    response = fake.review(Teams, create_pod("default"), config={"defaultTeam": "platform"})
    assert fake.patched(response)["metadata"]["labels"]["team"] == "platform"
