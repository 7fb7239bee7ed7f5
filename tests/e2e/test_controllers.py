"""The rest of the controller manager, end to end with kubectl on simulated
nodes: StatefulSets, DaemonSets, ReplicationControllers, namespace deletion,
the node lifecycle controller with its taint manager, and the disruption
controller's budgets."""

import json

import pytest

from conftest import Cluster
from test_plugins import eventually, get_json, wait_loaded

CONTROLLERS = ["statefulset-controller", "daemonset-controller", "replicationcontroller-controller",
               "disruption-controller", "namespace-controller", "nodelifecycle-controller"]


@pytest.fixture(scope="module")
def cluster():
    # Leases renewed every second, so that a 4 s grace period is enough.
    cluster = Cluster("embedded", ["--sim-nodes", "3", "--sim-heartbeat-ms", "1000"])
    for name in CONTROLLERS:
        wait_loaded(cluster, name)
    yield cluster
    cluster.cleanup()


def apply(cluster, manifest):
    cluster.kubectl("apply", "-f", "-", input=manifest)


def pods(cluster, selector, namespace="default"):
    return get_json(cluster, "pods", "-n", namespace, "-l", selector)["items"]


def live(items):
    return [p for p in items if "deletionTimestamp" not in p["metadata"]]


def stateful_set(image, partition=0, replicas=3):
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec: {{clusterIP: None, selector: {{app: web}}, ports: [{{port: 80}}]}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: web}}
spec:
  serviceName: web
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  updateStrategy: {{type: RollingUpdate, rollingUpdate: {{partition: {partition}}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: nginx
        image: {image}
        volumeMounts: [{{name: www, mountPath: /usr/share/nginx/html}}]
  volumeClaimTemplates:
  - metadata: {{name: www}}
    spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}
"""


def test_a_stateful_set_starts_pods_in_order_with_stable_names_and_claims_and_rolls_out_by_partition(cluster):
    apply(cluster, stateful_set("nginx:1"))
    cluster.kubectl("rollout", "status", "statefulset/web", "--timeout=90s", timeout=100)
    web = {p["metadata"]["name"]: p for p in pods(cluster, "app=web")}
    assert sorted(web) == ["web-0", "web-1", "web-2"], web.keys()
    for name, pod in web.items():
        assert pod["spec"]["hostname"] == name and pod["spec"]["subdomain"] == "web", pod["spec"]
        assert pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == name
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"] if "persistentVolumeClaim" in v]
        assert claims == [f"www-{name}"], pod["spec"]["volumes"]
    claims = get_json(cluster, "pvc")["items"]
    assert sorted(c["metadata"]["name"] for c in claims) == ["www-web-0", "www-web-1", "www-web-2"]
    # OrderedReady: each pod was created once the one before was ready.
    events = get_json(cluster, "events", "--field-selector", "involvedObject.name=web,reason=SuccessfulCreate")["items"]
    messages = {e["message"] for e in events}
    assert {f"create Pod web-{i} in StatefulSet web successful" for i in range(3)} <= messages, messages
    assert "create Claim www-web-0 Pod web-0 in StatefulSet web success" in messages, messages
    ready_at = {name: next(c["lastTransitionTime"] for c in p["status"]["conditions"] if c["type"] == "Ready")
                for name, p in web.items()}
    assert web["web-1"]["metadata"]["creationTimestamp"] >= ready_at["web-0"], (web["web-1"]["metadata"], ready_at)
    assert web["web-2"]["metadata"]["creationTimestamp"] >= ready_at["web-1"], (web["web-2"]["metadata"], ready_at)

    # A new image with partition 2: only web-2 moves to the new revision.
    apply(cluster, stateful_set("nginx:2", partition=2))
    cluster.kubectl("rollout", "status", "statefulset/web", "--timeout=90s", timeout=100)

    def partitioned():
        images = {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in live(pods(cluster, "app=web"))}
        assert images == {"web-0": "nginx:1", "web-1": "nginx:1", "web-2": "nginx:2"}, images
        status = get_json(cluster, "statefulset", "web")["status"]
        assert status["updatedReplicas"] == 1 and status["currentRevision"] != status["updateRevision"], status

    eventually(partitioned, timeout=60)
    history = cluster.kubectl("rollout", "history", "statefulset/web").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"], history

    # Partition 0 finishes the rollout; the revisions then agree.
    apply(cluster, stateful_set("nginx:2", partition=0))
    cluster.kubectl("rollout", "status", "statefulset/web", "--timeout=90s", timeout=100)

    def rolled():
        status = get_json(cluster, "statefulset", "web")["status"]
        assert status["currentRevision"] == status["updateRevision"] and status["updatedReplicas"] == 3, status
        images = {p["spec"]["containers"][0]["image"] for p in live(pods(cluster, "app=web"))}
        assert images == {"nginx:2"}, images

    eventually(rolled, timeout=60)


def daemon_set(image):
    return f"""
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec:
      nodeSelector: {{agents: "yes"}}
      containers: [{{name: agent, image: {image}}}]
"""


def nodes(cluster):
    return sorted(n["metadata"]["name"] for n in get_json(cluster, "nodes")["items"])


def test_a_daemon_set_runs_one_pod_per_eligible_node_and_follows_nodes(cluster):
    for node in nodes(cluster):
        cluster.kubectl("label", "node", node, "agents=yes", "--overwrite")
    apply(cluster, daemon_set("busybox:1"))
    cluster.kubectl("rollout", "status", "daemonset/agent", "--timeout=90s", timeout=100)

    def one_per_node(expected):
        placed = sorted(p["spec"]["nodeName"] for p in live(pods(cluster, "app=agent")) if p["spec"].get("nodeName"))
        assert placed == expected, placed
        status = get_json(cluster, "daemonset", "agent")["status"]
        assert status["desiredNumberScheduled"] == len(expected) == status["numberReady"], status

    eventually(lambda: one_per_node(nodes(cluster)), timeout=60)
    pod = live(pods(cluster, "app=agent"))[0]
    # Placed through the scheduler by node affinity, with daemon tolerations.
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [pod["spec"]["nodeName"]]}]}], terms
    keys = {t["key"] for t in pod["spec"]["tolerations"]}
    assert {"node.kubernetes.io/unreachable", "node.kubernetes.io/unschedulable"} <= keys, keys

    # A new node gets its pod; a node no longer selected loses it.
    cluster.kubectl("apply", "-f", "-", input=(
        "apiVersion: v1\nkind: Node\nmetadata: {name: extra, labels: {wharf.dev/hollow: 'true', agents: 'yes'}}\n"))
    eventually(lambda: one_per_node(nodes(cluster)), timeout=60)
    cluster.kubectl("label", "node", "extra", "agents-")
    eventually(lambda: one_per_node([n for n in nodes(cluster) if n != "extra"]), timeout=60)

    # A rolling update replaces every pod.
    apply(cluster, daemon_set("busybox:2"))
    cluster.kubectl("rollout", "status", "daemonset/agent", "--timeout=90s", timeout=100)

    def updated():
        images = {p["spec"]["containers"][0]["image"] for p in live(pods(cluster, "app=agent"))}
        assert images == {"busybox:2"}, images

    eventually(updated, timeout=60)
    history = cluster.kubectl("rollout", "history", "daemonset/agent").stdout
    assert "REVISION" in history and len([line for line in history.splitlines()[2:] if line.strip()]) == 2, history
    cluster.kubectl("delete", "node", "extra")


def test_a_replication_controller_keeps_its_replicas_and_scales(cluster):
    apply(cluster, """
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy}
spec:
  replicas: 2
  selector: {app: legacy}
  template:
    metadata: {labels: {app: legacy}}
    spec: {containers: [{name: app, image: busybox}]}
""")

    def ready(count):
        status = get_json(cluster, "rc", "legacy")["status"]
        assert status.get("readyReplicas") == count and status["replicas"] == count, status
        assert len(live(pods(cluster, "app=legacy"))) == count

    eventually(lambda: ready(2), timeout=60)
    cluster.kubectl("scale", "rc", "legacy", "--replicas=3")
    eventually(lambda: ready(3), timeout=60)
    owner = live(pods(cluster, "app=legacy"))[0]["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("ReplicationController", "legacy", True)


def test_a_pod_disruption_budget_reports_what_may_be_disrupted(cluster):
    cluster.kubectl("create", "deployment", "guarded", "--image=busybox", "--replicas=3")
    cluster.kubectl("rollout", "status", "deployment/guarded", "--timeout=90s", timeout=100)
    cluster.kubectl("create", "pdb", "guarded", "--selector=app=guarded", "--min-available=2")

    def allowed(expected):
        status = get_json(cluster, "pdb", "guarded")["status"]
        assert (status["currentHealthy"], status["desiredHealthy"], status["expectedPods"],
                status["disruptionsAllowed"]) == expected, status
        condition = next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")
        return condition

    condition = eventually(lambda: allowed((3, 2, 3, 1)), timeout=60)
    assert condition["status"] == "True" and condition["reason"] == "SufficientPods", condition
    row = cluster.kubectl("get", "pdb", "guarded").stdout.splitlines()[1].split()
    assert row[:4] == ["guarded", "2", "N/A", "1"], row
    cluster.kubectl("scale", "deployment", "guarded", "--replicas=2")
    condition = eventually(lambda: allowed((2, 2, 2, 0)), timeout=60)
    assert condition["status"] == "False" and condition["reason"] == "InsufficientPods", condition


def test_deleting_a_namespace_deletes_everything_in_it_then_the_namespace(cluster):
    cluster.kubectl("create", "namespace", "doomed")
    cluster.kubectl("create", "configmap", "settings", "-n", "doomed", "--from-literal=a=b")
    cluster.kubectl("create", "secret", "generic", "token", "-n", "doomed", "--from-literal=t=x")
    cluster.kubectl("create", "deployment", "web", "-n", "doomed", "--image=busybox", "--replicas=2")
    apply(cluster, """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
""")
    eventually(lambda: cluster.kubectl("get", "gadgets", "-n", "doomed"), timeout=30)
    apply(cluster, "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g1, namespace: doomed}\n")

    def running():
        assert len(live(pods(cluster, "app=web", "doomed"))) == 2

    eventually(running, timeout=60)

    # kubectl waits for the namespace to be gone.
    cluster.kubectl("delete", "namespace", "doomed", "--timeout=90s", timeout=100)
    assert cluster.kubectl("get", "namespace", "doomed", check=False).returncode != 0
    for kind in ("configmaps", "secrets", "deployments", "replicasets", "gadgets"):
        listed = json.loads(cluster.kubectl("get", kind, "-n", "doomed", "-o", "json").stdout)["items"]
        assert listed == [], (kind, listed)


def test_a_node_that_stops_heartbeating_is_tainted_and_its_pods_are_evicted_and_recreated(cluster):
    # Quicker than kube's defaults, so that the test waits seconds.
    cluster.kubectl("patch", "plugin", "nodelifecycle-controller", "--type=merge", "-p",
                    json.dumps({"spec": {"config": {"nodeMonitorGracePeriodSeconds": 4, "nodeEvictionRate": 10}}}))
    apply(cluster, """
apiVersion: apps/v1
kind: Deployment
metadata: {name: roaming}
spec:
  replicas: 6
  selector: {matchLabels: {app: roaming}}
  template:
    metadata: {labels: {app: roaming}}
    spec:
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      containers: [{name: app, image: busybox}]
""")
    cluster.kubectl("rollout", "status", "deployment/roaming", "--timeout=90s", timeout=100)
    # Every pod got DefaultTolerationSeconds' not-ready toleration beside its own.
    one = live(pods(cluster, "app=roaming"))[0]
    assert {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
            "tolerationSeconds": 300} in one["spec"]["tolerations"], one["spec"]["tolerations"]
    victim = one["spec"]["nodeName"]
    on_victim = {p["metadata"]["name"] for p in live(pods(cluster, "app=roaming")) if p["spec"]["nodeName"] == victim}
    cluster.kubectl("label", "node", victim, "wharf.dev/hollow-heartbeat=stopped")

    def unreachable():
        node = get_json(cluster, "node", victim)
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "Unknown" and ready["reason"] == "NodeStatusUnknown", ready
        taints = {(t["key"], t["effect"]) for t in node["spec"].get("taints", [])}
        assert {("node.kubernetes.io/unreachable", "NoSchedule"),
                ("node.kubernetes.io/unreachable", "NoExecute")} <= taints, taints

    eventually(unreachable, timeout=60)

    def recreated_elsewhere():
        running = live(pods(cluster, "app=roaming"))
        assert not on_victim & {p["metadata"]["name"] for p in running}, on_victim
        assert len(running) == 6 and all(p["spec"].get("nodeName") not in (None, victim) for p in running), running
        assert all(any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
                   for p in running)

    eventually(recreated_elsewhere, timeout=60)
    events = cluster.kubectl("get", "events", "--field-selector", "reason=TaintManagerEviction").stdout
    assert "Marking for deletion Pod default/" in events, events

    # Back again: heard from, Ready, untainted.
    cluster.kubectl("label", "node", victim, "wharf.dev/hollow-heartbeat-")

    def back():
        node = get_json(cluster, "node", victim)
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", ready
        assert not [t for t in node["spec"].get("taints", []) if t["key"] == "node.kubernetes.io/unreachable"], node["spec"]

    eventually(back, timeout=60)
