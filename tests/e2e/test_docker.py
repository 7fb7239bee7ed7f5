"""The node agent's docker driver through kubectl, on a real Docker Engine
(Debian docker.io, started by the tests) with a busybox image built from
scratch: a pause container per pod holds its network namespace, app
containers join it, and deleting pods leaves no container or namespace
behind. A restarted agent adopts what runs, on both drivers."""

import json
import os
import subprocess

import pytest

from conftest import BUSYBOX_IMAGE
from test_node import fail, running_and_ready, status, wait_node
from test_plugins import eventually, get_json


def container_ids(cluster, pod_name):
    """The engine's containers of a pod (its pause container included)."""
    uid = get_json(cluster, "pod", pod_name)["metadata"]["uid"]
    return cluster.engine.containers(f"label=wharf.dev/pod-uid={uid}")


def netns_of(uid):
    return f"/var/run/netns/wharf-{uid.replace('-', '')[:16]}"


def test_a_deployment_of_containers_behind_a_service_reaches_both_replicas_and_leaves_nothing(docker_cluster):
    cluster = docker_cluster
    node = wait_node(cluster)
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("docker://")
    serve = "mkdir -p /www && hostname > /www/index.html && echo serving as $(hostname) && exec httpd -f -p 8000 -h /www"
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"terminationGracePeriodSeconds": 2,
                                       "containers": [{"name": "web", "image": BUSYBOX_IMAGE,
                                                       "command": ["sh", "-c", serve],
                                                       "ports": [{"containerPort": 8000}]}]}}},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(deployment))
    cluster.kubectl("expose", "deployment", "web", "--port=80", "--target-port=8000")
    cluster.kubectl("rollout", "status", "deployment/web", "--timeout=90s", timeout=120)
    pods = get_json(cluster, "pods", "-l", "app=web")["items"]
    names = {p["metadata"]["name"] for p in pods}
    assert len({p["status"]["podIP"] for p in pods}) == 2
    for p in pods:
        statuses = p["status"]["containerStatuses"]
        assert statuses[0]["containerID"].startswith("docker://"), statuses
        # A pause container and the app container, joined to its network.
        assert len(container_ids(cluster, p["metadata"]["name"])) == 2
        assert os.path.exists(netns_of(p["metadata"]["uid"]))
        eventually(lambda: f"serving as {p['metadata']['name']}" in cluster.kubectl("logs", p["metadata"]["name"]).stdout or fail())
    cluster_ip = get_json(cluster, "service", "web")["spec"]["clusterIP"]
    seen = set()

    def both_answer():
        result = subprocess.run(["curl", "--noproxy", "*", "-s", "-m", "3", f"http://{cluster_ip}/"],
                                capture_output=True, text=True)
        seen.add(result.stdout.strip())
        assert names <= seen, seen
    eventually(both_answer, timeout=60, interval=0.05)

    # A deleted pod's containers and namespace go; its replacement comes.
    first = pods[0]
    cluster.kubectl("delete", "pod", first["metadata"]["name"], "--wait=false")
    eventually(lambda: not cluster.engine.containers(f"label=wharf.dev/pod-uid={first['metadata']['uid']}") or fail(), timeout=60)
    assert not os.path.exists(netns_of(first["metadata"]["uid"]))
    eventually(lambda: len([p for p in get_json(cluster, "pods", "-l", "app=web")["items"]
                            if p.get("status", {}).get("phase") == "Running"]) == 2 or fail(), timeout=60)
    # Then the Deployment: nothing of any pod is left.
    uids = [p["metadata"]["uid"] for p in get_json(cluster, "pods", "-l", "app=web")["items"]]
    cluster.kubectl("delete", "deployment", "web")
    eventually(lambda: not cluster.engine.containers("label=wharf.dev/pod-uid") or fail(), timeout=60)
    assert not any(os.path.exists(netns_of(uid)) for uid in uids)


def test_a_killed_container_restarts_with_its_count_its_previous_log_env_and_limits(docker_cluster):
    cluster = docker_cluster
    wait_node(cluster)
    cluster.kubectl("create", "configmap", "greeting", "--from-literal=text=hello-from-a-configmap")
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "victim"},
        "spec": {"terminationGracePeriodSeconds": 2, "containers": [{
            "name": "app", "image": BUSYBOX_IMAGE,
            "command": ["sh", "-c", "echo $GREETING from $(pwd); exec sleep 3600"],
            "workingDir": "/bin",
            "env": [{"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "greeting", "key": "text"}}}],
            "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}},
        }]},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
    first = eventually(lambda: running_and_ready(cluster, "victim"), timeout=60)["containerStatuses"][0]
    engine_id = first["containerID"].removeprefix("docker://")
    limits = json.loads(cluster.engine.docker("inspect", engine_id).stdout)[0]["HostConfig"]
    assert limits["Memory"] == 64 * 1024 * 1024 and limits["NanoCpus"] == 500_000_000, limits
    eventually(lambda: cluster.kubectl("logs", "victim").stdout == "hello-from-a-configmap from /bin\n" or fail())
    cluster.engine.docker("kill", engine_id)

    def restarted():
        statuses = status(cluster, "victim").get("containerStatuses", [])
        assert statuses and statuses[0]["restartCount"] == 1 and "running" in statuses[0]["state"], statuses
        assert statuses[0]["lastState"]["terminated"]["exitCode"] == 137, statuses
        return statuses[0]
    second = eventually(restarted, timeout=60)
    assert second["containerID"] != first["containerID"]
    assert cluster.kubectl("logs", "victim", "--previous").stdout == "hello-from-a-configmap from /bin\n"
    # The ended container is gone from the engine; its log stays for kubectl.
    assert engine_id not in cluster.engine.containers()


def test_probes_run_in_the_container_and_drive_endpoints_and_restarts(docker_cluster):
    cluster = docker_cluster
    wait_node(cluster)
    probed = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probed", "labels": {"app": "probed"}},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
            "name": "app", "image": BUSYBOX_IMAGE,
            "command": ["sh", "-c", "mkdir -p /tmp && touch /tmp/ready /tmp/alive && exec httpd -f -p 8000 -h /tmp"],
            "ports": [{"containerPort": 8000}],
            "readinessProbe": {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1},
            "livenessProbe": {"exec": {"command": ["test", "-f", "/tmp/alive"]}, "periodSeconds": 1, "failureThreshold": 2},
        }]},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(probed))
    cluster.kubectl("expose", "pod", "probed", "--port=80", "--target-port=8000")
    current = eventually(lambda: running_and_ready(cluster, "probed"), timeout=60)
    pod_ip, engine_id = current["podIP"], current["containerStatuses"][0]["containerID"].removeprefix("docker://")

    def addresses(kind):
        subsets = get_json(cluster, "endpoints", "probed").get("subsets", [])
        return [a["ip"] for s in subsets for a in s.get(kind, [])]
    eventually(lambda: addresses("addresses") == [pod_ip] or fail(), timeout=60)
    cluster.engine.docker("exec", engine_id, "rm", "/tmp/ready")
    eventually(lambda: addresses("notReadyAddresses") == [pod_ip] and not addresses("addresses") or fail(), timeout=60)
    cluster.engine.docker("exec", engine_id, "touch", "/tmp/ready")
    eventually(lambda: addresses("addresses") == [pod_ip] or fail(), timeout=60)
    # A failing liveness probe restarts the container.
    cluster.engine.docker("exec", engine_id, "rm", "/tmp/alive")

    def restarted():
        statuses = status(cluster, "probed").get("containerStatuses", [])
        assert statuses and statuses[0]["restartCount"] >= 1, statuses
    eventually(restarted, timeout=60)
    events = get_json(cluster, "events", "--field-selector", "involvedObject.name=probed,reason=Unhealthy")["items"]
    assert any(e["message"].startswith("Liveness probe failed:") for e in events), events


def test_image_pull_policy_never_refuses_an_image_the_engine_lacks(docker_cluster):
    cluster = docker_cluster
    wait_node(cluster)
    missing = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "missing"},
        "spec": {"containers": [{"name": "app", "image": "wharf-e2e/missing:1", "imagePullPolicy": "Never"}]},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(missing))

    def refused():
        statuses = status(cluster, "missing").get("containerStatuses", [])
        waiting = statuses[0]["state"]["waiting"] if statuses else {}
        assert waiting.get("reason") == "ErrImageNeverPull", statuses
        return waiting
    waiting = eventually(refused, timeout=60)
    assert waiting["message"] == 'Container image "wharf-e2e/missing:1" is not present with pull policy of Never'


@pytest.mark.parametrize("driver", ["process", "docker"])
def test_a_restarted_node_agent_adopts_its_running_pods(driver, request):
    cluster = request.getfixturevalue("node_cluster" if driver == "process" else "docker_cluster")
    wait_node(cluster)
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "survivor"},
        "spec": {"terminationGracePeriodSeconds": 2, "containers": [{
            "name": "app", "image": BUSYBOX_IMAGE,
            "command": ["sh", "-c", "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.5; done"],
        }]},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
    before = eventually(lambda: running_and_ready(cluster, "survivor"), timeout=60)["containerStatuses"][0]
    eventually(lambda: "line-2\n" in cluster.kubectl("logs", "survivor").stdout or fail())

    def last_line():
        return int(cluster.kubectl("logs", "survivor", "--tail=1").stdout.strip().removeprefix("line-"))
    last_before = last_line()
    assert cluster.stop() == 0
    cluster.start()
    wait_node(cluster)

    def adopted():
        current = running_and_ready(cluster, "survivor")["containerStatuses"][0]
        assert current["containerID"] == before["containerID"] and current["restartCount"] == 0, current
        # Its log goes on after the restart.
        assert last_line() > last_before + 6
    eventually(adopted, timeout=60)
