"""The scheduler in a running cluster, driven with kubectl: node selectors,
taints and tolerations, cordoned nodes, host ports, requests that fit
nowhere (pending with kube-scheduler's FailedScheduling message, then
scheduled when a node joins), spreading over three zones, and policies
swapped with kubectl while pods are being scheduled, with none lost.

The nodes are simulated (`wharf up --sim-nodes 3`, 2 CPUs each, zones
zone-a, zone-b, zone-c): they mark their pods Running without running them."""

import json
from collections import Counter

from test_plugins import eventually, get_json, plugin_dir, wait_loaded

POLICIES = ["node-unschedulable", "node-name", "taint-toleration", "node-affinity", "node-ports",
            "node-resources-fit", "pod-topology-spread", "balanced-allocation"]


def wait_ready(cluster):
    for name in POLICIES:
        wait_loaded(cluster, name)
    eventually(lambda: len(get_json(cluster, "nodes")["items"]) == 3 or fail("nodes not registered"))


def fail(message):
    raise AssertionError(message)


def pod(name, **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": "app"}], **spec}}


def requesting(name, cpu, **spec):
    manifest = pod(name, **spec)
    manifest["spec"]["containers"][0]["resources"] = {"requests": {"cpu": cpu}}
    return manifest


def apply(cluster, *objects):
    cluster.kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(o) for o in objects))


def running_on(cluster, name):
    """The node of a Running pod, or an AssertionError."""
    current = get_json(cluster, "pod", name)
    assert current.get("status", {}).get("phase") == "Running", current.get("status")
    return current["spec"]["nodeName"]


def failed_scheduling(cluster, name, message):
    """Waits for the FailedScheduling event and the PodScheduled=False condition."""
    def check():
        events = get_json(cluster, "events", "--field-selector", f"involvedObject.name={name},reason=FailedScheduling")
        messages = [e["message"] for e in events["items"]]
        assert message in messages, messages
        conditions = get_json(cluster, "pod", name).get("status", {}).get("conditions", [])
        scheduled = [c for c in conditions if c["type"] == "PodScheduled"]
        assert scheduled and scheduled[0]["status"] == "False" and scheduled[0]["reason"] == "Unschedulable", conditions
        assert scheduled[0]["message"] == message
    eventually(check)
    assert "nodeName" not in get_json(cluster, "pod", name)["spec"]


def test_a_node_selector_puts_pods_on_the_matching_node_and_describe_shows_it(sim_cluster):
    cluster = sim_cluster
    wait_ready(cluster)
    cluster.kubectl("label", "node", "sim-1", "disk=ssd")
    apply(cluster, *[pod(f"ssd-{i}", nodeSelector={"disk": "ssd"}) for i in range(3)])
    for i in range(3):
        assert eventually(lambda: running_on(cluster, f"ssd-{i}")) == "sim-1"
    described = cluster.kubectl("describe", "pod", "ssd-0").stdout
    assert "Successfully assigned default/ssd-0 to sim-1" in described
    assert "default-scheduler" in described
    apply(cluster, pod("nowhere", nodeSelector={"disk": "nvme"}))
    failed_scheduling(cluster, "nowhere", "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.")


def test_taints_keep_pods_away_unless_they_tolerate_them(sim_cluster):
    cluster = sim_cluster
    wait_ready(cluster)
    for node in ("sim-0", "sim-1", "sim-2"):
        cluster.kubectl("taint", "node", node, "gpu=true:NoSchedule")
    apply(cluster, pod("plain"))
    failed_scheduling(cluster, "plain", "0/3 nodes are available: 3 node(s) had untolerated taint {gpu: true}.")
    apply(cluster, pod("tolerant", tolerations=[{"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]))
    eventually(lambda: running_on(cluster, "tolerant"))
    # Removing the taint from one node is a change that can help: the pod is retried.
    cluster.kubectl("taint", "node", "sim-2", "gpu=true:NoSchedule-")
    assert eventually(lambda: running_on(cluster, "plain")) == "sim-2"


def test_cordoned_nodes_take_no_pods_until_uncordoned(sim_cluster):
    cluster = sim_cluster
    wait_ready(cluster)
    for node in ("sim-0", "sim-1", "sim-2"):
        cluster.kubectl("cordon", node)
    apply(cluster, pod("waiting"))
    failed_scheduling(cluster, "waiting", "0/3 nodes are available: 3 node(s) were unschedulable.")
    cluster.kubectl("uncordon", "sim-0")
    assert eventually(lambda: running_on(cluster, "waiting")) == "sim-0"


def test_a_host_port_is_taken_once_per_node(sim_cluster):
    cluster = sim_cluster
    wait_ready(cluster)
    def with_port(name):
        manifest = pod(name)
        manifest["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 8080}]
        return manifest
    apply(cluster, *[with_port(f"port-{i}") for i in range(3)])
    nodes = {eventually(lambda: running_on(cluster, f"port-{i}")) for i in range(3)}
    assert nodes == {"sim-0", "sim-1", "sim-2"}
    apply(cluster, with_port("port-3"))
    failed_scheduling(cluster, "port-3", "0/3 nodes are available: 3 node(s) didn't have free ports for the requested pod ports.")


def test_a_pod_that_fits_nowhere_waits_then_runs_on_a_node_that_joins(sim_cluster):
    cluster = sim_cluster
    wait_ready(cluster)
    apply(cluster, requesting("big", "8"))
    failed_scheduling(cluster, "big", "0/3 nodes are available: 3 Insufficient cpu.")
    described = cluster.kubectl("describe", "pod", "big").stdout
    assert "FailedScheduling" in described and "3 Insufficient cpu" in described
    # A simulated node with room, as kubectl applies it.
    apply(cluster, {"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": "huge", "labels": {"wharf.dev/hollow": "true"}},
                    "status": {"capacity": {"cpu": "16", "memory": "64Gi", "pods": "110"}}})
    assert eventually(lambda: running_on(cluster, "big")) == "huge"
    described = cluster.kubectl("describe", "pod", "big").stdout
    assert "Successfully assigned default/big to huge" in described


def test_do_not_schedule_spreading_puts_two_pods_in_each_of_three_zones(sim_cluster):
    cluster = sim_cluster
    wait_ready(cluster)
    constraint = {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
                  "labelSelector": {"matchLabels": {"app": "spread"}}}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "spread"},
        "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "spread"}},
                 "template": {"metadata": {"labels": {"app": "spread"}},
                              "spec": {"containers": [{"name": "app", "image": "app"}],
                                       "topologySpreadConstraints": [constraint]}}},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(deployment))
    cluster.kubectl("rollout", "status", "deployment/spread", "--timeout=60s", timeout=90)
    pods = get_json(cluster, "pods", "-l", "app=spread")["items"]
    zones = {node["metadata"]["name"]: node["metadata"]["labels"]["topology.kubernetes.io/zone"]
             for node in get_json(cluster, "nodes")["items"]}
    assert Counter(zones[p["spec"]["nodeName"]] for p in pods) == {"zone-a": 2, "zone-b": 2, "zone-c": 2}


def test_policies_swapped_with_kubectl_while_pods_are_scheduled_lose_no_pod(sim_cluster):
    cluster = sim_cluster
    wait_ready(cluster)
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "churn"},
        "spec": {"replicas": 150, "selector": {"matchLabels": {"app": "churn"}},
                 "template": {"metadata": {"labels": {"app": "churn"}},
                              "spec": {"containers": [{"name": "app", "image": "app"}]}}},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(deployment))
    # While the pods are scheduled: switch the resources policy to bin
    # packing, take balanced allocation out, reweight and reorder taints.
    cluster.kubectl("patch", "plugin", "node-resources-fit", "--type=merge",
                    "-p", '{"spec":{"config":{"scoringStrategy":{"type":"MostAllocated"}}}}')
    balanced = get_json(cluster, "plugin", "balanced-allocation")
    cluster.kubectl("delete", "plugin", "balanced-allocation")
    cluster.kubectl("patch", "plugin", "taint-toleration", "--type=merge",
                    "-p", '{"spec":{"config":{"weight":5,"order":5}}}')
    for field in ("resourceVersion", "uid", "creationTimestamp", "generation"):
        balanced["metadata"].pop(field, None)
    balanced.pop("status", None)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(balanced))

    def all_running():
        pods = get_json(cluster, "pods", "-l", "app=churn")["items"]
        assert len(pods) == 150, len(pods)
        assert all(p.get("status", {}).get("phase") == "Running" and p["spec"].get("nodeName") for p in pods)
        return pods
    pods = eventually(all_running, timeout=90)
    # Every pod bound once: one Scheduled event each, none failed.
    names = {p["metadata"]["name"] for p in pods}
    events = get_json(cluster, "events", "--field-selector", "reason=Scheduled")["items"]
    scheduled = Counter(e["involvedObject"]["name"] for e in events if e["involvedObject"]["name"] in names)
    assert set(scheduled) == names and set(scheduled.values()) == {1}
    for name in POLICIES:
        status = wait_loaded(cluster, name)
        assert status.get("errors", 0) == 0, (name, status)
    assert get_json(cluster, "plugin", "node-resources-fit")["spec"]["config"]["scoringStrategy"]["type"] == "MostAllocated"


def test_a_policy_that_loops_or_panics_fails_its_calls_alone_and_its_removal_lets_pods_schedule(sim_cluster):
    cluster = sim_cluster
    wait_ready(cluster)
    module = plugin_dir() / "wharf_test_policy.wasm"
    for name, mode in (("looping", "loop"), ("panicking", "panic")):
        manifest = {"apiVersion": "wharf.dev/v1alpha1", "kind": "Plugin", "metadata": {"name": name},
                    "spec": {"type": "scheduler", "module": f"file://{module}", "config": {"mode": mode, "order": 1},
                             "limits": {"memory": "32Mi", "callTimeout": "200ms"}}}
        cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
        wait_loaded(cluster, name)
        apply(cluster, pod(f"blocked-by-{name}"))

        def failing():
            events = get_json(cluster, "events", "--field-selector", f"involvedObject.name=blocked-by-{name},reason=FailedScheduling")
            messages = [e["message"] for e in events["items"]]
            assert any(f'running policy "{name}"' in m for m in messages), messages
            status = get_json(cluster, "plugin", name).get("status", {})
            assert status.get("errors", 0) > 0 and status.get("lastError"), status
            return messages
        messages = eventually(failing)
        expected = "deadline" if mode == "loop" else "trapped"
        assert any(expected in m for m in messages), messages
        # The API server, the controllers and the other policies run on.
        assert cluster.kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"
        cluster.kubectl("delete", "plugin", name)
        eventually(lambda: running_on(cluster, f"blocked-by-{name}"), timeout=40)


def test_the_c_policy_fills_small_nodes_first_until_it_is_removed(sim_cluster):
    """NodeResourcesAllocatable, the sample policy written in C (sdk/c),
    as `wharf up` installs it (mode Least): a pod goes to one of the 2-CPU
    nodes though a 16-CPU one is emptier (which every other score
    prefers); once the Plugin is deleted, the next pod goes to the big one."""
    cluster = sim_cluster
    wait_ready(cluster)
    wait_loaded(cluster, "node-resources-allocatable")
    apply(cluster, {"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": "huge", "labels": {"wharf.dev/hollow": "true"}},
                    "status": {"capacity": {"cpu": "16", "memory": "64Gi", "pods": "110"}}})
    eventually(lambda: len(get_json(cluster, "nodes")["items"]) == 4 or fail("huge not registered"))
    apply(cluster, pod("first"))
    assert eventually(lambda: running_on(cluster, "first")).startswith("sim-")
    def called():
        status = get_json(cluster, "plugin", "node-resources-allocatable")["status"]
        assert status["calls"] > 0 and status["phase"] == "Loaded", status
    eventually(called)  # statuses are written every 500 ms
    cluster.kubectl("delete", "plugin", "node-resources-allocatable")
    eventually(lambda: "node-resources-allocatable" not in cluster.kubectl("get", "plugins").stdout or fail("still there"))
    apply(cluster, pod("second"))
    assert eventually(lambda: running_on(cluster, "second")) == "huge"
