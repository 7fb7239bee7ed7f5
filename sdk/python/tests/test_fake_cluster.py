"""FakeCluster: the API server semantics controllers depend on."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from wharf import (
    CONFIG_MAP,
    POD,
    AlreadyExists,
    ApiError,
    Conflict,
    Context,
    Controller,
    Done,
    Forbidden,
    Invalid,
    LogLevel,
    NotFound,
    PatchType,
    Registration,
    RequeueAfter,
)
from wharf.testing import START_MILLIS, FakeCluster, Verb, split_key


def config_map(name: str, namespace: str = "ns", **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, **fields}


def pod(name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "ns", "labels": labels or {}},
        "spec": spec,
    }


def test_create_fills_in_server_metadata_and_generates_deterministic_names() -> None:
    fake = FakeCluster()
    ctx = fake.context()
    template = {"metadata": {"generateName": "web-"}}
    first = ctx.create(CONFIG_MAP, template, namespace="ns")
    second = ctx.create(CONFIG_MAP, template, namespace="ns")
    name = first["metadata"]["name"]
    assert name.startswith("web-") and len(name) == 9
    assert name != second["metadata"]["name"]
    assert first["metadata"]["uid"] != second["metadata"]["uid"]
    assert first["metadata"]["namespace"] == "ns"
    assert first["metadata"]["generation"] == 1
    assert first["metadata"]["creationTimestamp"] == "2026-01-01T00:00:00Z"
    assert (first["metadata"]["resourceVersion"], second["metadata"]["resourceVersion"]) == ("1", "2")
    assert first["apiVersion"] == "v1" and first["kind"] == "ConfigMap"
    again = FakeCluster().context().create(CONFIG_MAP, template, namespace="ns")
    assert again["metadata"]["name"] == name, "generated names are deterministic"


def test_create_takes_the_namespace_from_the_object() -> None:
    fake = FakeCluster()
    fake.context().create(CONFIG_MAP, config_map("a"))
    assert fake.get(CONFIG_MAP, "ns", "a") is not None


@pytest.mark.parametrize(
    ("obj", "namespace", "error"),
    [
        (config_map("taken"), "ns", AlreadyExists),
        ({"metadata": {}}, "ns", Invalid),
        (config_map("a", namespace="other"), "ns", Invalid),
        ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}, "ns", Invalid),
    ],
    ids=["duplicate", "nameless", "namespace mismatch", "kind mismatch"],
)
def test_create_refuses(obj: dict[str, Any], namespace: str, error: type[ApiError]) -> None:
    fake = FakeCluster()
    fake.add(config_map("taken"))
    with pytest.raises(error):
        fake.context().create(CONFIG_MAP, obj, namespace=namespace)
    assert fake.writes == []


def test_create_drops_the_status() -> None:
    created = FakeCluster().context().create(POD, dict(pod("a"), status={"phase": "Running"}))
    assert "status" not in created


def test_an_update_with_a_stale_resource_version_conflicts_and_a_no_op_keeps_it() -> None:
    fake = FakeCluster()
    ctx = fake.context()
    stored = fake.add(config_map("a"))
    same = ctx.update(CONFIG_MAP, stored)
    assert same["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]
    revision = fake.revision
    changed = ctx.update(CONFIG_MAP, dict(stored, data={"k": "v"}))
    assert fake.revision == revision + 1
    assert changed["metadata"]["resourceVersion"] == str(fake.revision)
    with pytest.raises(Conflict):
        ctx.update(CONFIG_MAP, dict(stored, data={}))
    unconditional = dict(changed, data={"k": "w"})
    del unconditional["metadata"]["resourceVersion"]
    assert ctx.update(CONFIG_MAP, unconditional)["data"] == {"k": "w"}


def test_an_update_of_another_uid_conflicts_and_of_nothing_is_not_found() -> None:
    fake = FakeCluster()
    ctx = fake.context()
    stored = fake.add(config_map("a"))
    other = dict(stored, metadata=dict(stored["metadata"], uid="someone-else"))
    with pytest.raises(Conflict):
        ctx.update(CONFIG_MAP, other)
    with pytest.raises(NotFound):
        ctx.update(CONFIG_MAP, config_map("missing"))


def test_update_keeps_the_status_and_bumps_the_generation_for_spec_changes_only() -> None:
    fake = FakeCluster()
    ctx = fake.context()
    stored = fake.add(dict(pod("a"), status={"phase": "Running"}))
    labelled = ctx.update(POD, dict(stored, metadata=dict(stored["metadata"], labels={"x": "y"}), status={"phase": "Failed"}))
    assert labelled["status"] == {"phase": "Running"}
    assert labelled["metadata"]["generation"] == 1
    respec = ctx.update(POD, dict(labelled, spec={"nodeName": "n1"}))
    assert respec["metadata"]["generation"] == 2


def test_update_status_changes_only_the_status() -> None:
    fake = FakeCluster()
    ctx = fake.context()
    stored = fake.add(pod("a", nodeName="n1"))
    updated = ctx.update_status(POD, dict(stored, spec={}, status={"phase": "Running"}))
    assert updated["status"] == {"phase": "Running"}
    assert updated["spec"] == {"nodeName": "n1"}


@pytest.mark.parametrize(
    ("patch_type", "body", "expected_data"),
    [
        (PatchType.MERGE, {"data": {"a": None, "c": "3"}}, {"b": "2", "c": "3"}),
        (PatchType.STRATEGIC, {"$retainKeys": ["data"], "data": {"c": "3"}}, {"a": "1", "b": "2", "c": "3"}),
        (PatchType.JSON, [{"op": "replace", "path": "/data/a", "value": "9"}], {"a": "9", "b": "2"}),
    ],
    ids=["merge", "strategic", "json"],
)
def test_patches(patch_type: PatchType, body: Any, expected_data: dict[str, str]) -> None:
    fake = FakeCluster()
    fake.add(config_map("a", data={"a": "1", "b": "2"}))
    patched = fake.context().patch(CONFIG_MAP, "ns", "a", body, patch_type)
    assert patched["data"] == expected_data
    assert fake.get(CONFIG_MAP, "ns", "a")["data"] == expected_data


def test_a_patch_with_a_resource_version_is_a_precondition() -> None:
    fake = FakeCluster()
    ctx = fake.context()
    fake.add(config_map("a"))
    with pytest.raises(Conflict):
        ctx.patch(CONFIG_MAP, "ns", "a", {"metadata": {"resourceVersion": "0"}, "data": {"x": "y"}})
    with pytest.raises(Conflict):  # a failed JSON patch test
        ctx.patch(CONFIG_MAP, "ns", "a", [{"op": "test", "path": "/data", "value": {}}], PatchType.JSON)
    with pytest.raises(NotFound):
        ctx.patch(CONFIG_MAP, "ns", "missing", {"data": {}})


def test_a_status_patch_changes_only_the_status() -> None:
    fake = FakeCluster()
    fake.add(pod("a"))
    patched = fake.context().patch(POD, "ns", "a", {"spec": {"x": 1}, "status": {"phase": "Running"}}, status=True)
    assert patched["status"] == {"phase": "Running"}
    assert patched["spec"] == {}


def test_delete_removes_at_once_without_finalizers_and_waits_for_them_otherwise() -> None:
    fake = FakeCluster()
    ctx = fake.context()
    fake.add(config_map("plain"))
    finalized = fake.add(config_map("held", metadata={"name": "held", "namespace": "ns", "finalizers": ["x"]}))
    ctx.delete(CONFIG_MAP, "ns", "plain")
    assert fake.get(CONFIG_MAP, "ns", "plain") is None
    ctx.delete(CONFIG_MAP, "ns", "held")
    terminating = fake.get(CONFIG_MAP, "ns", "held")
    assert terminating["metadata"]["deletionTimestamp"] == "2026-01-01T00:00:00Z"
    assert terminating["metadata"]["resourceVersion"] != finalized["metadata"]["resourceVersion"]
    terminating["metadata"]["finalizers"] = []
    ctx.update(CONFIG_MAP, terminating)
    assert fake.get(CONFIG_MAP, "ns", "held") is None
    with pytest.raises(NotFound):
        ctx.delete(CONFIG_MAP, "ns", "held")


def test_get_answers_none_for_a_missing_object() -> None:
    fake = FakeCluster()
    assert fake.context().get(CONFIG_MAP, "ns", "missing") is None
    assert fake.calls[-1].verb == Verb.GET and fake.calls[-1].succeeded


@pytest.mark.parametrize(
    ("namespace", "labels", "fields", "expected"),
    [
        (None, None, None, ["other/d", "ns/a", "ns/b", "ns/c"]),
        ("ns", None, None, ["ns/a", "ns/b", "ns/c"]),
        ("ns", "app=web", None, ["ns/a", "ns/b"]),
        ("ns", {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}, None, ["ns/a"]),
        ("ns", "!app", None, ["ns/c"]),
        (None, None, "metadata.namespace=ns,spec.nodeName!=n1", ["ns/b", "ns/c"]),
    ],
)
def test_list_filters_by_namespace_labels_and_fields(namespace: str | None, labels: Any, fields: str | None, expected: list[str]) -> None:
    fake = FakeCluster()
    fake.add(pod("a", {"app": "web"}, nodeName="n1"))
    fake.add(pod("b", {"app": "web", "tier": "db"}))
    fake.add(pod("c"))
    fake.add(dict(pod("d"), metadata={"name": "d", "namespace": "other"}))
    found = fake.context().list(POD, namespace, label_selector=labels, field_selector=fields)
    assert [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in found] == sorted(expected)


def test_failure_hooks_fail_calls_before_they_change_anything() -> None:
    fake = FakeCluster()
    creates = []

    def quota(call: Any) -> ApiError | None:
        if call.verb != Verb.CREATE:
            return None
        creates.append(call.name)
        return Forbidden("exceeded quota") if len(creates) > 1 else None

    fake.fail_when(quota)
    results = fake.context().create_all(CONFIG_MAP, [config_map("a"), config_map("b")])
    assert isinstance(results[0], dict) and isinstance(results[1], Forbidden)
    assert [c["metadata"]["name"] for c in fake.list(CONFIG_MAP)] == ["a"]
    assert fake.calls[-1].error == "forbidden: exceeded quota"
    fake.clear_failures()
    fake.context().create(CONFIG_MAP, config_map("b"))


def test_a_frozen_cache_serves_stale_reads_while_writes_see_the_store() -> None:
    fake = FakeCluster()
    ctx = fake.context()
    stored = fake.add(config_map("a"))
    fake.freeze_cache()
    ctx.update(CONFIG_MAP, dict(stored, data={"k": "v"}))
    stale = ctx.get(CONFIG_MAP, "ns", "a")
    assert "data" not in stale
    with pytest.raises(Conflict):
        ctx.update(CONFIG_MAP, dict(stale, data={"k": "w"}))
    fake.thaw_cache()
    assert ctx.get(CONFIG_MAP, "ns", "a")["data"] == {"k": "v"}


def test_modify_is_another_clients_write_and_records_no_call() -> None:
    fake = FakeCluster()
    stored = fake.add(config_map("a"))
    modified = fake.modify(CONFIG_MAP, "ns", "a", lambda cm: cm.update(data={"k": "v"}))
    assert modified["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"]
    assert fake.calls == []
    assert fake.remove(CONFIG_MAP, "ns", "a") and not fake.remove(CONFIG_MAP, "ns", "a")


class Counter(Controller):
    """Counts its reconciles in the state store and logs each."""

    def registration(self, config: dict[str, Any]) -> Registration:
        self.every = config.get("every", 0)
        return Registration(CONFIG_MAP, resync_seconds=60)

    def reconcile(self, ctx: Context, namespace: str | None, name: str) -> RequeueAfter | None:
        count = int(ctx.state.get("count") or b"0") + 1
        ctx.state.set("count", str(count))
        logging.getLogger("counter").info("reconciled %s/%s (%d)", namespace, name, count)
        logging.getLogger("counter").debug("not shown at INFO")
        source = ctx.get(CONFIG_MAP, namespace, name)
        if source is not None:
            ctx.event(source, "Normal", "Counted", f"count {count}")
        return RequeueAfter(self.every) if self.every else None


def test_run_builds_the_controller_as_the_host_does_and_records_logs_events_and_state() -> None:
    fake = FakeCluster()
    fake.add(config_map("a"))
    assert fake.run(Counter, "ns/a") is Done
    assert fake.run(Counter, "ns/a", config={"every": 500}) == RequeueAfter(500)
    assert fake.state == {"count": b"2"}
    assert fake.logs == [(LogLevel.INFO, "counter: reconciled ns/a (1)"), (LogLevel.INFO, "counter: reconciled ns/a (2)")]
    assert [(e.regarding.name, e.type.value, e.reason, e.message) for e in fake.events] == [
        ("a", "Normal", "Counted", "count 1"),
        ("a", "Normal", "Counted", "count 2"),
    ]
    fake.clear_calls()
    assert (fake.calls, fake.events, fake.logs) == ([], [], [])


def test_run_reuses_an_instance() -> None:
    fake = FakeCluster()
    counter, registration = fake.instantiate(Counter, {"every": 7})
    assert registration.resync_seconds == 60
    assert fake.run(counter, "cluster-scoped") == RequeueAfter(7)


def test_the_clock_starts_at_2026_and_moves_when_told() -> None:
    fake = FakeCluster()
    ctx = fake.context()
    assert ctx.now_millis() == START_MILLIS
    fake.advance(1500)
    assert ctx.now_millis() == START_MILLIS + 1500
    assert ctx.timestamp() == "2026-01-01T00:00:01Z"


def test_keys_split_into_namespace_and_name() -> None:
    assert split_key("ns/a") == ("ns", "a")
    assert split_key("node-1") == (None, "node-1")
