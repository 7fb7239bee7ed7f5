"""config-reloader against the fake cluster: what it watches, when it
records, when it rolls a Deployment out, and that it writes nothing else."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app import AUTO, CONFIG_HASH, CONFIG_MAPS, OBSERVED, SECRETS, ConfigReloader, digest, pod_references, watched_references
from wharf import CONFIG_MAP, DEPLOYMENT, SECRET, Conflict, Done, Kind
from wharf.testing import FakeCluster, Verb

NS = "shop"


# --- Builders ---


def deployment(name: str = "web", annotations: dict[str, str] | None = None, **pod_spec: Any) -> dict[str, Any]:
    pod_spec.setdefault("containers", [{"name": "app", "image": "shop:1"}])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "annotations": annotations or {}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec},
        },
    }


def config_map(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS}, "data": data}


def secret(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS}, "type": "Opaque", "data": data}


def env_from_config_map(name: str) -> dict[str, Any]:
    return {"name": "app", "image": "shop:1", "envFrom": [{"configMapRef": {"name": name}}]}


def cluster(*objects: dict[str, Any]) -> FakeCluster:
    fake = FakeCluster()
    for obj in objects:
        fake.add(obj)
    return fake


def template_hash(fake: FakeCluster, name: str = "web") -> str | None:
    stored = fake.get(DEPLOYMENT, NS, name)
    return ((stored["spec"]["template"]["metadata"].get("annotations")) or {}).get(CONFIG_HASH)


def observed(fake: FakeCluster, name: str = "web") -> dict[str, str] | None:
    text = fake.get(DEPLOYMENT, NS, name)["metadata"]["annotations"].get(OBSERVED)
    return None if text is None else json.loads(text)


def set_data(**data: str) -> Any:
    return lambda obj: obj.update(data=data)


# --- What it watches ---


@pytest.mark.parametrize(
    ("pod_spec", "expected"),
    [
        ({"volumes": [{"name": "v", "configMap": {"name": "a"}}]}, [("ConfigMap", "a")]),
        ({"volumes": [{"name": "v", "secret": {"secretName": "s"}}]}, [("Secret", "s")]),
        (
            {"volumes": [{"name": "v", "projected": {"sources": [{"configMap": {"name": "a"}}, {"secret": {"name": "s"}}, {"downwardAPI": {}}]}}]},
            [("ConfigMap", "a"), ("Secret", "s")],
        ),
        (
            {"containers": [{"name": "c", "env": [
                {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "a", "key": "k"}}},
                {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                {"name": "C", "value": "plain"},
                {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            ]}]},
            [("ConfigMap", "a"), ("Secret", "s")],
        ),
        ({"containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "a"}}, {"secretRef": {"name": "s"}, "prefix": "S_"}]}]}, [("ConfigMap", "a"), ("Secret", "s")]),
        ({"initContainers": [env_from_config_map("init")], "containers": [env_from_config_map("main")]}, [("ConfigMap", "init"), ("ConfigMap", "main")]),
        ({"containers": [{"name": "c"}], "volumes": [{"name": "v", "emptyDir": {}}]}, []),
    ],
    ids=["volume configMap", "volume secret", "projected", "env valueFrom", "envFrom", "init containers", "none"],
)
def test_auto_watches_every_config_map_and_secret_the_pod_template_references(pod_spec: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert sorted(set(pod_references(pod_spec))) == expected
    assert watched_references(deployment(annotations={AUTO: "true"}, **pod_spec)) == expected


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({}, []),
        ({AUTO: "false"}, []),
        ({AUTO: "True"}, [("ConfigMap", "env"), ("Secret", "db")]),
        ({CONFIG_MAPS: "a, b,,"}, [("ConfigMap", "a"), ("ConfigMap", "b")]),
        ({SECRETS: "c"}, [("Secret", "c")]),
        ({AUTO: "true", CONFIG_MAPS: "extra"}, [("ConfigMap", "env"), ("ConfigMap", "extra"), ("Secret", "db")]),
    ],
    ids=["no annotation", "auto false", "auto", "explicit config maps", "explicit secrets", "auto and explicit"],
)
def test_explicit_lists_name_only_those(annotations: dict[str, str], expected: list[tuple[str, str]]) -> None:
    pod_spec = {"containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "env"}}, {"secretRef": {"name": "db"}}]}]}
    assert watched_references(deployment(annotations=annotations, **pod_spec)) == expected


# --- When it writes ---


def test_a_deployment_that_did_not_opt_in_is_left_alone() -> None:
    fake = cluster(deployment(containers=[env_from_config_map("settings")]), config_map("settings", color="blue"))
    assert fake.run(ConfigReloader, f"{NS}/web") is Done
    fake.modify(CONFIG_MAP, NS, "settings", set_data(color="red"))
    revision = fake.revision
    assert fake.run(ConfigReloader, f"{NS}/web") is Done
    assert fake.revision == revision
    assert [call.verb for call in fake.calls] == [Verb.GET, Verb.GET]


def test_first_sight_records_without_restarting() -> None:
    fake = cluster(deployment(annotations={AUTO: "true"}, containers=[env_from_config_map("settings")]), config_map("settings", color="blue"))
    fake.run(ConfigReloader, f"{NS}/web")
    assert observed(fake) == {"ConfigMap/settings": digest(fake.get(CONFIG_MAP, NS, "settings"))}
    assert template_hash(fake) is None, "the pod template is unchanged: no rollout"
    assert fake.get(DEPLOYMENT, NS, "web")["metadata"]["generation"] == 1
    assert fake.events == []
    assert [call.verb for call in fake.writes] == [Verb.PATCH]


def test_a_change_rolls_the_deployment_out_exactly_once() -> None:
    fake = cluster(deployment(annotations={AUTO: "true"}, containers=[env_from_config_map("settings")]), config_map("settings", color="blue"))
    reloader, _ = fake.instantiate(ConfigReloader)
    fake.run(reloader, f"{NS}/web")
    fake.modify(CONFIG_MAP, NS, "settings", set_data(color="red"))
    fake.clear_calls()

    assert fake.run(reloader, f"{NS}/web") is Done
    first = template_hash(fake)
    assert first is not None and len(first) == 64
    assert fake.get(DEPLOYMENT, NS, "web")["metadata"]["generation"] == 2, "the template changed: a rollout"
    assert [(e.regarding.kind, e.regarding.name, e.type.value, e.reason, e.message) for e in fake.events] == [
        (DEPLOYMENT, "web", "Normal", "Reloaded", "ConfigMap settings changed: rolling out the pods")
    ]
    assert [call.verb for call in fake.writes] == [Verb.PATCH]

    revision = fake.revision
    fake.run(reloader, f"{NS}/web")
    fake.run(reloader, f"{NS}/web")
    assert fake.revision == revision, "nothing changed since: nothing written"
    assert len(fake.events) == 1

    fake.modify(CONFIG_MAP, NS, "settings", set_data(color="green"))
    fake.run(reloader, f"{NS}/web")
    assert template_hash(fake) not in (None, first)
    assert len(fake.events) == 2


def test_a_secret_change_rolls_out_and_names_the_secret() -> None:
    pod_spec = {"volumes": [{"name": "creds", "secret": {"secretName": "db"}}], "containers": [env_from_config_map("settings")]}
    fake = cluster(deployment(annotations={AUTO: "true"}, **pod_spec), config_map("settings", a="1"), secret("db", password="aHVudGVyMg=="))
    fake.run(ConfigReloader, f"{NS}/web")
    fake.modify(SECRET, NS, "db", set_data(password="c3dvcmRmaXNo"))
    fake.run(ConfigReloader, f"{NS}/web")
    assert template_hash(fake) is not None
    assert [e.message for e in fake.events] == ["Secret db changed: rolling out the pods"]


def test_several_changes_are_named_in_one_event() -> None:
    fake = cluster(deployment(annotations={CONFIG_MAPS: "a,b", SECRETS: "c"}), config_map("a"), config_map("b"), secret("c"))
    fake.run(ConfigReloader, f"{NS}/web")
    fake.modify(CONFIG_MAP, NS, "a", set_data(x="1"))
    fake.modify(SECRET, NS, "c", set_data(x="MQ=="))
    fake.run(ConfigReloader, f"{NS}/web")
    assert [e.message for e in fake.events] == ["ConfigMap a and Secret c changed: rolling out the pods"]


def test_only_the_named_objects_are_watched() -> None:
    fake = cluster(
        deployment(annotations={CONFIG_MAPS: "feature-flags"}, containers=[env_from_config_map("settings")]),
        config_map("settings", a="1"),
        config_map("feature-flags", beta="off"),
    )
    fake.run(ConfigReloader, f"{NS}/web")
    fake.modify(CONFIG_MAP, NS, "settings", set_data(a="2"))
    revision = fake.revision
    fake.run(ConfigReloader, f"{NS}/web")
    assert fake.revision == revision, "settings is not watched"
    fake.modify(CONFIG_MAP, NS, "feature-flags", set_data(beta="on"))
    fake.run(ConfigReloader, f"{NS}/web")
    assert template_hash(fake) is not None


def test_a_missing_object_is_recorded_and_its_creation_rolls_out() -> None:
    fake = cluster(deployment(annotations={AUTO: "true"}, containers=[env_from_config_map("later")]))
    assert fake.run(ConfigReloader, f"{NS}/web") is Done
    assert observed(fake) == {"ConfigMap/later": "missing"}
    assert template_hash(fake) is None
    fake.add(config_map("later", a="1"))
    fake.run(ConfigReloader, f"{NS}/web")
    assert template_hash(fake) is not None
    assert [e.message for e in fake.events] == ["ConfigMap later changed: rolling out the pods"]


def test_a_change_of_what_is_watched_records_without_restarting() -> None:
    fake = cluster(deployment(annotations={AUTO: "true"}, containers=[env_from_config_map("a")]), config_map("a"), config_map("b"))
    fake.run(ConfigReloader, f"{NS}/web")
    # The user points the template at another ConfigMap: that change rolls out by itself.
    fake.modify(DEPLOYMENT, NS, "web", lambda d: d["spec"]["template"]["spec"].update(containers=[env_from_config_map("b")]))
    fake.run(ConfigReloader, f"{NS}/web")
    assert set(observed(fake)) == {"ConfigMap/b"}
    assert template_hash(fake) is None
    assert fake.events == []


def test_metadata_changes_of_a_config_map_are_not_changes_of_its_data() -> None:
    fake = cluster(deployment(annotations={AUTO: "true"}, containers=[env_from_config_map("settings")]), config_map("settings", a="1"))
    fake.run(ConfigReloader, f"{NS}/web")
    fake.modify(CONFIG_MAP, NS, "settings", lambda cm: cm["metadata"].update(labels={"team": "shop"}))
    revision = fake.revision
    fake.run(ConfigReloader, f"{NS}/web")
    assert fake.revision == revision


def test_binary_data_and_string_data_count_as_data() -> None:
    base = config_map("settings", a="1")
    assert digest(base) != digest(dict(base, binaryData={"b": "AA=="}))
    assert digest(base) != digest(dict(base, stringData={"c": "x"}))
    assert digest(None) == "missing"


def test_digests_are_salted_with_the_uid() -> None:
    same_data = secret("db", password="MQ==")
    first = dict(same_data, metadata={"name": "db", "uid": "u1"})
    second = dict(same_data, metadata={"name": "db", "uid": "u2"})
    assert digest(first) != digest(second)
    assert len(digest(first)) == 16


def test_a_deleted_deployment_is_done() -> None:
    fake = FakeCluster()
    assert fake.run(ConfigReloader, f"{NS}/gone") is Done
    assert fake.writes == []


def test_a_stale_read_conflicts_and_the_host_retries() -> None:
    fake = cluster(deployment(annotations={AUTO: "true"}, containers=[env_from_config_map("settings")]), config_map("settings"))
    fake.freeze_cache()
    fake.modify(DEPLOYMENT, NS, "web", lambda d: d["spec"].update(replicas=3))
    with pytest.raises(Conflict):
        fake.run(ConfigReloader, f"{NS}/web")
    fake.thaw_cache()
    fake.run(ConfigReloader, f"{NS}/web")
    assert observed(fake) is not None
    assert fake.get(DEPLOYMENT, NS, "web")["spec"]["replicas"] == 3, "the other write is kept"


def test_it_registers_for_deployments_reading_config_maps_and_secrets_with_a_short_resync() -> None:
    fake = FakeCluster()
    _, registration = fake.instantiate(ConfigReloader)
    assert registration.primary == Kind("apps", "v1", "Deployment")
    assert registration.owns == [] and registration.reads == [CONFIG_MAP, SECRET]
    assert registration.resync_seconds == 10
    _, slower = fake.instantiate(ConfigReloader, {"resyncSeconds": 60})
    assert slower.resync_seconds == 60


def test_it_logs_what_it_does() -> None:
    fake = cluster(deployment(annotations={AUTO: "true"}, containers=[env_from_config_map("settings")]), config_map("settings"))
    fake.run(ConfigReloader, f"{NS}/web")
    fake.modify(CONFIG_MAP, NS, "settings", set_data(a="2"))
    fake.run(ConfigReloader, f"{NS}/web")
    assert [message for _, message in fake.logs] == [
        "config-reloader: shop/web: watching ConfigMap/settings",
        "config-reloader: shop/web: ConfigMap settings changed: rolling out the pods",
    ]
