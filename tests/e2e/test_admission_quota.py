"""LimitRanger and ResourceQuota, as `wharf up` installs them, through
kubectl: a pod created without resources gets its namespace's LimitRange
defaults (and kube's annotation saying so), a pod over the maximum is refused
with kube's message; a ResourceQuota is charged by every create in the
transaction that stores it, never over its limit under racing creates, and
refuses the one that would exceed it with kube's message, `kubectl describe
quota` shows the usage, the controller gives back what a deleted pod held,
and a dry run is checked but charges nothing."""

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Cluster
from test_apiserver import request
from test_plugins import eventually, get_json, wait_loaded


@pytest.fixture(scope="module")
def cluster():
    # One simulated node: pods are scheduled and deleted as on a real one.
    cluster = Cluster("embedded", ["--sim-nodes", "1"])
    for plugin in ("limit-ranger", "resource-quota", "resourcequota-controller"):
        wait_loaded(cluster, plugin, timeout=180)  # controllers wait for the leader lease
    yield cluster
    cluster.cleanup()


def pod(name, resources=None):
    container = {"name": "app", "image": "busybox", "command": ["sleep", "3600"]}
    if resources is not None:
        container["resources"] = resources
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"containers": [container]}})


def create_pod(cluster, namespace, name, resources=None, *args, check=True):
    return cluster.kubectl("create", "-n", namespace, *args, "-f", "-", input=pod(name, resources), check=check)


def limit_range(cluster, namespace):
    """Containers get 100m/128Mi requested and 500m/256Mi as limits, and may
    not go over 1 CPU."""
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults"},
        "spec": {"limits": [{
            "type": "Container",
            "default": {"cpu": "500m", "memory": "256Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
            "max": {"cpu": "1"},
        }]},
    }))


def quota(cluster, namespace, name, hard):
    """Creates a ResourceQuota and waits for its controller to count it
    (admission enforces `status.hard`, which the controller copies)."""
    cluster.kubectl("create", "quota", name, "-n", namespace,
                    "--hard=" + ",".join(f"{k}={v}" for k, v in hard.items()))

    def counted():
        status = get_json(cluster, "quota", name, "-n", namespace).get("status", {})
        assert status.get("hard") == hard and set(status.get("used", {})) == set(hard), status
    eventually(counted)


def used(cluster, namespace, name):
    return get_json(cluster, "quota", name, "-n", namespace)["status"]["used"]


def used_becomes(cluster, namespace, name, expected, timeout=25):
    """Waits for the quota's `status.used`. Admission stores it with the
    object, but the controller recounts on that status write too,
    and when it lists before the object is stored it writes the count
    without it; its next count (at the latest its 10 s resync) puts it back."""
    def check():
        assert used(cluster, namespace, name) == expected
    eventually(check, timeout)


def refusal(result, plugin):
    assert result.returncode != 0, result.stdout
    assert "Error from server (Forbidden)" in result.stderr, result.stderr
    prefix = f'admission plugin "{plugin}" denied the request: '
    assert prefix in result.stderr, result.stderr
    return result.stderr.split(prefix, 1)[1].strip()


def test_a_pod_created_without_resources_gets_the_limit_range_defaults(cluster):
    limit_range(cluster, "limits")
    create_pod(cluster, "limits", "bare")
    created = get_json(cluster, "pod", "bare", "-n", "limits")
    assert created["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    }
    assert created["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app")
    # What a pod states itself is kept; only what it leaves out is filled in.
    create_pod(cluster, "limits", "tuned", {"requests": {"cpu": "250m"}})
    tuned = get_json(cluster, "pod", "tuned", "-n", "limits")["spec"]["containers"][0]["resources"]
    assert tuned == {"requests": {"cpu": "250m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}


def test_a_pod_over_the_limit_range_maximum_is_refused_with_kubes_message(cluster):
    limit_range(cluster, "limits-max")
    refused = create_pod(cluster, "limits-max", "big", {"limits": {"cpu": "2"}}, check=False)
    assert refusal(refused, "limit-ranger") == "maximum cpu usage per Container is 1, but limit is 2"
    assert cluster.kubectl("get", "pod", "big", "-n", "limits-max", check=False).returncode != 0
    # A request over the default limit is checked on the defaulted pod.
    refused = create_pod(cluster, "limits-max", "greedy", {"requests": {"cpu": "2"}}, check=False)
    assert refusal(refused, "limit-ranger") == "maximum cpu usage per Container is 1, but request is 2"


def test_a_quota_refuses_the_pod_that_would_exceed_it_and_gives_back_what_a_deleted_pod_held(cluster):
    cluster.kubectl("create", "namespace", "quota")
    quota(cluster, "quota", "pods", {"pods": "2"})
    create_pod(cluster, "quota", "first")
    used_becomes(cluster, "quota", "pods", {"pods": "1"})
    create_pod(cluster, "quota", "second")
    used_becomes(cluster, "quota", "pods", {"pods": "2"})

    refused = create_pod(cluster, "quota", "third", check=False)
    assert refusal(refused, "resource-quota") == (
        "exceeded quota: pods, requested: pods=1, used: pods=2, limited: pods=2")
    assert cluster.kubectl("get", "pod", "third", "-n", "quota", check=False).returncode != 0

    described = cluster.kubectl("describe", "quota", "pods", "-n", "quota").stdout
    assert re.search(r"^Resource\s+Used\s+Hard$", described, re.M), described
    assert re.search(r"^pods\s+2\s+2$", described, re.M), described
    assert "pods: 2/2" in cluster.kubectl("get", "quota", "pods", "-n", "quota").stdout

    # The controller gives back what a deleted pod held at its next count.
    cluster.kubectl("delete", "pod", "first", "-n", "quota")
    used_becomes(cluster, "quota", "pods", {"pods": "1"})
    create_pod(cluster, "quota", "third")
    used_becomes(cluster, "quota", "pods", {"pods": "2"})


def test_a_dry_run_is_checked_but_charges_nothing(cluster):
    cluster.kubectl("create", "namespace", "dry")
    quota(cluster, "dry", "pods", {"pods": "1"})
    dry = create_pod(cluster, "dry", "ghost", None, "--dry-run=server")
    assert "(server dry run)" in dry.stdout, dry.stdout
    assert used(cluster, "dry", "pods") == {"pods": "0"}
    assert cluster.kubectl("get", "pods", "-n", "dry", "-o", "name").stdout.strip() == ""

    create_pod(cluster, "dry", "real")
    used_becomes(cluster, "dry", "pods", {"pods": "1"})
    refused = create_pod(cluster, "dry", "ghost", None, "--dry-run=server", check=False)
    assert refusal(refused, "resource-quota") == (
        "exceeded quota: pods, requested: pods=1, used: pods=1, limited: pods=1")
    assert used(cluster, "dry", "pods") == {"pods": "1"}


def test_limit_range_defaults_are_what_the_quota_charges(cluster):
    # LimitRanger mutates before ResourceQuota validates: a bare pod meets
    # a quota on cpu requests with its defaults, and is charged them.
    limit_range(cluster, "compute")
    quota(cluster, "compute", "compute", {"requests.cpu": "250m", "limits.memory": "1Gi"})
    create_pod(cluster, "compute", "one")
    create_pod(cluster, "compute", "two")
    used_becomes(cluster, "compute", "compute", {"requests.cpu": "200m", "limits.memory": "512Mi"})
    refused = create_pod(cluster, "compute", "three", check=False)
    assert refusal(refused, "resource-quota") == (
        "exceeded quota: compute, requested: requests.cpu=100m, used: requests.cpu=200m, limited: requests.cpu=250m")


def test_creates_racing_for_the_last_units_of_a_quota_never_exceed_it(cluster):
    # The charge is stored with the pod in one transaction, guarded by the
    # quota's resourceVersion: of 12 pods created at once against a quota of
    # 5, exactly 5 are stored, the others are refused with kube's message,
    # and status.used says 5 as soon as the creates have returned.
    cluster.kubectl("create", "namespace", "race")
    quota(cluster, "race", "pods", {"pods": "5"})

    def create(index):
        return request(cluster, "POST", "/api/v1/namespaces/race/pods", pod(f"racer-{index}").encode())

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(create, range(12)))
    codes = sorted(code for code, _ in answers)
    assert codes == [201] * 5 + [403] * 7, answers
    for code, status in answers:
        if code == 403:
            assert status["message"].endswith(
                "exceeded quota: pods, requested: pods=1, used: pods=5, limited: pods=5"), status
    names = cluster.kubectl("get", "pods", "-n", "race", "-o", "name").stdout.split()
    assert len(names) == 5, names
    assert used(cluster, "race", "pods") == {"pods": "5"}
