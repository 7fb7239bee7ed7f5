"""Volumes on both runtime drivers: configMap (with items and modes),
secret, an emptyDir shared by two containers, a read-only mount and a
hostPath, at their mountPaths; the process driver mounts them in a private
mount namespace, so the node's own view of those paths stays as it was, and
what it made for them goes with the pod."""

import json
import os
import tempfile
import time

import pytest

from conftest import BUSYBOX_IMAGE
from test_node import fail, status, wait_node
from test_plugins import eventually, get_json


@pytest.mark.parametrize("driver", ["process", "docker"])
def test_volumes_are_mounted_where_the_containers_ask(driver, request):
    cluster = request.getfixturevalue("node_cluster" if driver == "process" else "docker_cluster")
    wait_node(cluster)
    tag = f"{os.getpid()}-{time.time_ns()}"
    config_path = f"/etc/wharf-e2e-config-{tag}"
    host_dir = tempfile.mkdtemp(prefix="wharf-e2e-hostpath-")
    with open(os.path.join(host_dir, "from-the-node"), "w") as f:
        f.write("node-file\n")
    cluster.kubectl("create", "configmap", "settings", "--from-literal=color=blue", "--from-literal=size=large")
    cluster.kubectl("create", "secret", "generic", "token", "--from-literal=value=s3cr3t")
    reader = (
        f"cat {config_path}/colour; echo; ls {config_path}; cat /secret/value; echo; "
        "cat /host/from-the-node; "
        "if touch /secret/x 2>/dev/null; then echo secret-writable; else echo secret-read-only; fi; "
        "while [ ! -f /shared/hello ]; do sleep 0.1; done; cat /shared/hello; "
        "echo written-here > /host/from-the-pod; sleep 3600"
    )
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "mounted"},
        "spec": {"terminationGracePeriodSeconds": 2,
                 "volumes": [
                     {"name": "settings", "configMap": {"name": "settings", "items": [{"key": "color", "path": "colour"}]}},
                     {"name": "token", "secret": {"secretName": "token", "defaultMode": 0o400}},
                     {"name": "shared", "emptyDir": {}},
                     {"name": "host", "hostPath": {"path": host_dir, "type": "Directory"}},
                 ],
                 "containers": [
                     {"name": "reader", "image": BUSYBOX_IMAGE, "command": ["sh", "-c", reader],
                      "volumeMounts": [{"name": "settings", "mountPath": config_path},
                                       {"name": "token", "mountPath": "/secret", "readOnly": True},
                                       {"name": "shared", "mountPath": "/shared"},
                                       {"name": "host", "mountPath": "/host"}]},
                     {"name": "writer", "image": BUSYBOX_IMAGE,
                      "command": ["sh", "-c", "echo hello-through-an-empty-dir > /shared/hello; sleep 3600"],
                      "volumeMounts": [{"name": "shared", "mountPath": "/shared"}]},
                 ]},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
    expected = "blue\ncolour\ns3cr3t\nnode-file\nsecret-read-only\nhello-through-an-empty-dir\n"
    # The docker driver builds its pause image and starts three containers:
    # about 50 s alone on two cores, more beside other builds.
    def reader_done():
        logs = cluster.kubectl("logs", "mounted", "-c", "reader", check=False)
        assert logs.stdout == expected, f"reader's logs so far: {logs.stdout!r} {logs.stderr!r}"

    eventually(reader_done, timeout=180)
    eventually(lambda: os.path.exists(os.path.join(host_dir, "from-the-pod")) or fail())
    # The node does not see the pod's mounts.
    assert not os.path.exists(os.path.join(config_path, "colour"))
    uid = get_json(cluster, "pod", "mounted")["metadata"]["uid"]
    cluster.kubectl("delete", "pod", "mounted", "--wait=false")
    eventually(lambda: not get_json(cluster, "pods")["items"] or fail(), timeout=60)
    # What was made for the pod is gone; the node's own directory stays.
    eventually(lambda: not os.path.exists(config_path) or fail(), timeout=30)
    eventually(lambda: not os.path.exists(os.path.join(cluster.dir, "node", "pods", uid)) or fail(), timeout=30)
    assert open(os.path.join(host_dir, "from-the-pod")).read() == "written-here\n"


def test_a_missing_config_map_holds_the_container_with_a_failed_mount(node_cluster):
    cluster = node_cluster
    wait_node(cluster)
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "waiting"},
        "spec": {"volumes": [{"name": "c", "configMap": {"name": "absent"}}],
                 "containers": [{"name": "app", "image": "none", "command": ["sleep", "3600"],
                                 "volumeMounts": [{"name": "c", "mountPath": "/absent"}]}]},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))

    def held():
        statuses = status(cluster, "waiting").get("containerStatuses", [])
        waiting = statuses[0]["state"].get("waiting", {}) if statuses else {}
        assert waiting.get("reason") == "ContainerCreating", statuses
        assert 'configmap "absent" not found' in waiting.get("message", ""), waiting
    eventually(held, timeout=60)
    events = get_json(cluster, "events", "--field-selector", "involvedObject.name=waiting,reason=FailedMount")["items"]
    assert events and events[0]["type"] == "Warning"
    # Once it exists, the pod runs.
    cluster.kubectl("create", "configmap", "absent", "--from-literal=k=v")
    eventually(lambda: status(cluster, "waiting").get("phase") == "Running" or fail(), timeout=60)
