from app import Mirror
from wharf import CONFIG_MAP, Done, is_controlled_by
from wharf.testing import FakeCluster


def settings(labels: dict[str, str], **data: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "default", "labels": labels},
        "data": data,
    }


def test_a_labelled_config_map_gets_a_mirror_it_owns() -> None:
    fake = FakeCluster()
    source = fake.add(settings({"mirror": "true"}, color="blue"))
    assert fake.run(Mirror, "default/settings") is Done
    mirror = fake.get(CONFIG_MAP, "default", "settings-mirror")
    assert mirror["data"] == {"color": "blue"}
    assert is_controlled_by(mirror, source)
    assert [e.reason for e in fake.events] == ["Mirrored"]


def test_the_mirror_follows_its_source_and_is_written_only_when_it_differs() -> None:
    fake = FakeCluster()
    fake.add(settings({"mirror": "true"}, color="blue"))
    fake.run(Mirror, "default/settings")
    fake.modify(CONFIG_MAP, "default", "settings", lambda cm: cm.update(data={"color": "red"}))
    fake.run(Mirror, "default/settings")
    assert fake.get(CONFIG_MAP, "default", "settings-mirror")["data"] == {"color": "red"}
    revision = fake.revision
    fake.run(Mirror, "default/settings")
    assert fake.revision == revision  # nothing written


def test_unlabelled_and_deleted_config_maps_are_left_alone() -> None:
    fake = FakeCluster()
    fake.add(settings({}, color="blue"))
    fake.run(Mirror, "default/settings")
    fake.run(Mirror, "default/gone")
    assert fake.writes == []
