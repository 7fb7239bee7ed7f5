"""API machinery as unmodified kubectl v1.37 and the Python client use it:
CustomResourceDefinitions (a definition with a schema is served at once;
its objects are validated, pruned and defaulted as kube does; printer
columns, status and scale subresources, several versions; deleting the
definition deletes its objects), a controller plugin reconciling a custom
kind (the sample PodSet operator), OpenAPI schemas (`kubectl explain`, a
List applied and diffed), and evictions that honour PodDisruptionBudgets
(`kubectl drain`)."""

import json
import subprocess

import pytest

from conftest import REPO, Cluster
from test_plugins import eventually, get_json, plugin_dir, wait_loaded

CRONTABS = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct], categories: [all]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas, labelSelectorPath: .status.selector}
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [cronSpec]
            properties:
              cronSpec: {type: string, pattern: '^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$', description: The schedule in cron format.}
              image: {type: string, default: busybox}
              replicas: {type: integer, minimum: 1, maximum: 10, default: 1}
              color: {type: string, enum: [red, green]}
              port: {x-kubernetes-int-or-string: true}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
          status:
            type: object
            properties:
              replicas: {type: integer}
              selector: {type: string}
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""

CRONTAB = """
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: nightly}
spec: {cronSpec: "0 3 * * *", port: http, extra: {anything: [1, 2]}}
"""


@pytest.fixture(scope="module")
def cluster():
    cluster = Cluster("embedded", ["--sim-nodes", "2"])
    cluster.kubectl("apply", "-f", "-", input=CRONTABS)
    yield cluster
    cluster.cleanup()


def test_a_definition_is_served_at_once_with_its_columns_defaults_and_pruning(cluster):
    cluster.kubectl("wait", "--for=condition=Established", "crd/crontabs.stable.example.com", "--timeout=10s")
    crd = get_json(cluster, "crd", "crontabs.stable.example.com")
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert crd["status"]["storedVersions"] == ["v1"]
    assert "customresourcecleanup.apiextensions.k8s.io" in crd["metadata"]["finalizers"]

    cluster.kubectl("apply", "-f", "-", input=CRONTAB)
    table = cluster.kubectl("get", "ct", "nightly").stdout.splitlines()
    assert table[0].split() == ["NAME", "SPEC", "REPLICAS", "AGE"], table
    assert table[1].split()[:6] == ["nightly", "0", "3", "*", "*", "*"], table
    assert table[1].split()[6] == "1", table
    assert "crontab.stable.example.com/nightly" in cluster.kubectl("get", "all").stdout
    assert "crontabs" in cluster.kubectl("api-resources", "--api-group=stable.example.com").stdout

    stored = get_json(cluster, "crontab", "nightly")
    # Defaults filled in, int-or-string and preserved fields kept.
    assert stored["spec"] == {"cronSpec": "0 3 * * *", "image": "busybox", "replicas": 1,
                              "port": "http", "extra": {"anything": [1, 2]}}

    # Unknown fields: refused by kubectl's default strict validation, pruned
    # with a warning otherwise.
    unknown = CRONTAB.replace("nightly", "pruned").replace("port: http", "port: 8080, bogus: 1")
    refused = cluster.kubectl("apply", "-f", "-", input=unknown, check=False)
    assert refused.returncode != 0
    assert 'strict decoding error: unknown field "spec.bogus"' in refused.stderr, refused.stderr
    warned = cluster.kubectl("apply", "--validate=warn", "-f", "-", input=unknown)
    assert 'unknown field "spec.bogus"' in warned.stderr
    assert "bogus" not in get_json(cluster, "crontab", "pruned")["spec"]


def test_invalid_objects_get_kubes_validation_messages(cluster):
    bad = """
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: bad}
spec: {cronSpec: "whenever", replicas: 20, color: pink, port: true}
"""
    result = cluster.kubectl("apply", "-f", "-", input=bad, check=False)
    assert result.returncode != 0
    message = result.stderr
    assert 'The CronTab "bad" is invalid' in message, message
    assert "spec.cronSpec: Invalid value: \"whenever\": spec.cronSpec in body should match" in message
    assert "spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10" in message
    assert 'spec.color: Unsupported value: "pink": supported values: "red", "green"' in message
    assert 'spec.port: Invalid value: true: spec.port in body must be of type integer,string: "boolean"' in message
    missing = cluster.kubectl("apply", "-f", "-", check=False, input="""
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: bad}
spec: {image: x}
""")
    assert "spec.cronSpec: Required value" in missing.stderr


def test_status_and_scale_subresources_and_a_second_version(cluster):
    cluster.kubectl("apply", "-f", "-", input=CRONTAB.replace("nightly", "scaled"))
    # The main resource ignores status; the status subresource takes it.
    cluster.kubectl("patch", "ct", "scaled", "--type=merge", "-p", '{"status": {"replicas": 9}}')
    assert "status" not in get_json(cluster, "ct", "scaled")
    cluster.kubectl("patch", "ct", "scaled", "--subresource=status", "--type=merge",
                    "-p", '{"status": {"replicas": 2, "selector": "app=cron"}}')
    assert get_json(cluster, "ct", "scaled")["status"] == {"replicas": 2, "selector": "app=cron"}

    cluster.kubectl("scale", "ct", "scaled", "--replicas=4")
    assert get_json(cluster, "ct", "scaled")["spec"]["replicas"] == 4
    scale = json.loads(cluster.kubectl("get", "--raw",
                                       "/apis/stable.example.com/v1/namespaces/default/crontabs/scaled/scale").stdout)
    assert (scale["kind"], scale["spec"]["replicas"], scale["status"]) == ("Scale", 4, {"replicas": 2, "selector": "app=cron"})

    # Strategic merge is refused for a custom kind, as kube does.
    refused = cluster.kubectl("patch", "ct", "scaled", "-p", '{"spec": {"replicas": 5}}', check=False)
    assert "application/strategic-merge-patch+json is not supported" in refused.stderr, refused.stderr

    # The same object through the other served version.
    other = get_json(cluster, "crontabs.v1beta1.stable.example.com", "scaled")
    assert other["apiVersion"] == "stable.example.com/v1beta1"
    assert other["spec"]["replicas"] == 4


def test_the_python_clients_custom_objects_api_and_a_watch(cluster):
    import kubernetes

    api = kubernetes.client.CustomObjectsApi(cluster.client())
    group, version, plural = "stable.example.com", "v1", "crontabs"
    body = {"apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "from-python", "labels": {"made-by": "python"}},
            "spec": {"cronSpec": "*/5 * * * *"}}
    created = api.create_namespaced_custom_object(group, version, "default", plural, body)
    assert created["spec"]["replicas"] == 1
    listed = api.list_namespaced_custom_object(group, version, "default", plural, label_selector="made-by=python")
    assert [item["metadata"]["name"] for item in listed["items"]] == ["from-python"]

    stream = kubernetes.watch.Watch().stream(
        api.list_namespaced_custom_object, group, version, "default", plural,
        resource_version=listed["metadata"]["resourceVersion"], timeout_seconds=10)
    api.patch_namespaced_custom_object_status(group, version, "default", plural, "from-python",
                                              {"status": {"replicas": 3}})
    event = next(stream)
    assert (event["type"], event["object"]["status"]["replicas"]) == ("MODIFIED", 3)

    scale = api.get_namespaced_custom_object_scale(group, version, "default", plural, "from-python")
    assert scale["status"]["replicas"] == 3
    with pytest.raises(kubernetes.client.ApiException) as invalid:
        api.patch_namespaced_custom_object(group, version, "default", plural, "from-python",
                                           {"spec": {"replicas": 0}})
    assert invalid.value.status == 422
    status = json.loads(invalid.value.body)
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "spec.replicas"
    api.delete_namespaced_custom_object(group, version, "default", plural, "from-python")


def test_kubectl_explain_reads_the_schemas_of_built_in_and_custom_kinds(cluster):
    explained = cluster.kubectl("explain", "deployment.spec.strategy").stdout
    assert "FIELD: strategy <DeploymentStrategy>" in explained, explained
    assert "rollingUpdate\t<RollingUpdateDeployment>" in explained
    custom = cluster.kubectl("explain", "crontab.spec").stdout
    assert "cronSpec\t<string> -required-" in custom, custom
    assert "The schedule in cron format." in custom


def test_a_list_is_applied_and_diffed_against_the_servers_schemas(cluster, tmp_path):
    manifest = tmp_path / "list.yaml"
    manifest.write_text("""
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: listed}
  data: {a: "1"}
- apiVersion: stable.example.com/v1
  kind: CronTab
  metadata: {name: listed}
  spec: {cronSpec: "* * * * *"}
""")
    applied = cluster.kubectl("apply", "-f", str(manifest))
    assert "configmap/listed created" in applied.stdout
    assert "crontab.stable.example.com/listed created" in applied.stdout
    assert cluster.kubectl("diff", "-f", str(manifest), check=False).returncode == 0
    manifest.write_text(manifest.read_text().replace('a: "1"', 'a: "2"'))
    diff = cluster.kubectl("diff", "-f", str(manifest), check=False)
    assert diff.returncode == 1, diff.stderr
    assert '-  a: "1"' in diff.stdout and '+  a: "2"' in diff.stdout
    # kubectl's own validation of the items, against /openapi/v2.
    manifest.write_text(manifest.read_text().replace("data:", "dataz:"))
    refused = cluster.kubectl("apply", "-f", str(manifest), check=False)
    assert 'unknown field "dataz"' in refused.stderr, refused.stderr


def test_a_cluster_scoped_definition_and_deleting_a_definition_deletes_its_objects(cluster):
    definition = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: shelves.library.example.org}
spec:
  group: library.example.org
  scope: Cluster
  names: {plural: shelves, singular: shelf, kind: Shelf}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {books: {type: integer}}}
"""
    cluster.kubectl("apply", "-f", "-", input=definition)
    for name in ("a", "b"):
        cluster.kubectl("apply", "-f", "-", input=f"""
apiVersion: library.example.org/v1
kind: Shelf
metadata: {{name: {name}}}
spec: {{books: 3}}
""")
    table = cluster.kubectl("get", "shelves").stdout.splitlines()
    assert table[0].split() == ["NAME", "AGE"]
    assert len(table) == 3
    assert get_json(cluster, "shelf", "a")["metadata"].get("namespace") is None

    cluster.kubectl("delete", "crd", "shelves.library.example.org", "--timeout=30s")
    missing = cluster.kubectl("get", "shelves", check=False)
    assert missing.returncode != 0
    # Defined again: the old objects are gone.
    cluster.kubectl("apply", "-f", "-", input=definition)
    assert cluster.kubectl("get", "shelves", "-o", "name").stdout.strip() == ""


def test_a_controller_plugin_reconciles_a_custom_kind(cluster):
    sample = REPO / "plugins" / "controllers" / "podset"
    cluster.kubectl("apply", "-f", str(sample / "crd.yaml"))
    manifest = (sample / "plugin.yaml").read_text().replace(
        "module: wharf_controller_podset.wasm", f"module: file://{plugin_dir() / 'wharf_controller_podset.wasm'}")
    cluster.kubectl("apply", "-f", "-", input=manifest)
    wait_loaded(cluster, "podset-controller")
    cluster.kubectl("apply", "-f", "-", input="""
apiVersion: samples.wharf.dev/v1
kind: PodSet
metadata: {name: web}
spec: {replicas: 3, image: busybox, command: [sleep, "3600"]}
""")

    def pods():
        listed = get_json(cluster, "pods", "-l", "samples.wharf.dev/podset=web")["items"]
        return sorted(p["metadata"]["name"] for p in listed if not p["metadata"].get("deletionTimestamp"))

    def counted(count):
        def check():
            assert len(pods()) == count
            status = get_json(cluster, "podset", "web").get("status", {})
            assert status.get("replicas") == count, status
            assert status.get("selector") == "samples.wharf.dev/podset=web"
        return check

    eventually(counted(3), timeout=60)
    owner = get_json(cluster, "pod", pods()[0])["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("PodSet", "web", True)
    cluster.kubectl("scale", "podset", "web", "--replicas=1")
    eventually(counted(1), timeout=60)
    table = cluster.kubectl("get", "ps", "web", "-o", "wide").stdout.splitlines()
    assert table[0].split() == ["NAME", "DESIRED", "READY", "IMAGE", "AGE"], table
    events = cluster.kubectl("get", "events", "--field-selector", "involvedObject.kind=PodSet").stdout
    assert "SuccessfulCreate" in events and "SuccessfulDelete" in events, events

    # Deleting the PodSet deletes its pods (the garbage collector follows
    # owner references to a custom kind too).
    cluster.kubectl("delete", "podset", "web")
    eventually(lambda: pods() == [] or pytest.fail(f"left: {pods()}"), timeout=60)


GUARDED = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: guarded}
spec:
  replicas: 1
  selector: {matchLabels: {app: guarded}}
  template:
    metadata: {labels: {app: guarded}}
    spec:
      containers: [{name: main, image: busybox}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: guarded}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: guarded}}
"""


def test_kubectl_drain_honours_a_disruption_budget(cluster):
    import kubernetes

    cluster.kubectl("apply", "-f", "-", input=GUARDED)

    def ready_pods():
        listed = get_json(cluster, "pods", "-l", "app=guarded")["items"]
        ready = [p for p in listed if not p["metadata"].get("deletionTimestamp") and any(
            c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))]
        return ready

    def ready_count(count):
        def check():
            pods = ready_pods()
            assert len(pods) == count, [p["metadata"]["name"] for p in pods]
            return pods
        return check

    pod = eventually(ready_count(1), timeout=60)[0]
    node = pod["spec"]["nodeName"]

    # The budget's one pod: the eviction is refused with kube's 429.
    core = kubernetes.client.CoreV1Api(cluster.client())
    eviction = kubernetes.client.V1Eviction(metadata=kubernetes.client.V1ObjectMeta(name=pod["metadata"]["name"]))
    with pytest.raises(kubernetes.client.ApiException) as refused:
        core.create_namespaced_pod_eviction(pod["metadata"]["name"], "default", eviction)
    assert refused.value.status == 429
    status = json.loads(refused.value.body)
    assert status["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert status["details"]["causes"] == [{"reason": "DisruptionBudget",
                                            "message": "The disruption budget guarded needs 1 healthy pods and has 1 currently"}]
    drained = cluster.kubectl("drain", node, "--ignore-daemonsets", "--timeout=8s", check=False, timeout=60)
    assert drained.returncode != 0
    assert "Cannot evict pod as it would violate the pod's disruption budget." in drained.stderr, drained.stderr

    # A second pod (on the other node: this one is cordoned) lets one go.
    cluster.kubectl("scale", "deployment", "guarded", "--replicas=2")
    eventually(ready_count(2), timeout=60)
    drained = cluster.kubectl("drain", node, "--ignore-daemonsets", "--timeout=60s", timeout=90)
    assert f"node/{node} drained" in drained.stdout, drained.stdout + drained.stderr
    assert f"evicting pod default/{pod['metadata']['name']}" in drained.stderr + drained.stdout
    # The eviction recorded the pod in disruptedPods; the disruption
    # controller drops the entry once the pod is being deleted or gone (as
    # kube's does), so either may be seen now.
    pdb = get_json(cluster, "pdb", "guarded")
    evicted = cluster.kubectl("get", "pod", pod["metadata"]["name"], "-o", "json", check=False)
    assert (pod["metadata"]["name"] in pdb["status"].get("disruptedPods", {})
            or evicted.returncode != 0
            or "deletionTimestamp" in json.loads(evicted.stdout)["metadata"]), pdb["status"]
    others = eventually(ready_count(2), timeout=60)
    assert all(p["spec"]["nodeName"] != node for p in others)
    cluster.kubectl("uncordon", node)
    cluster.kubectl("delete", "-f", "-", input=GUARDED)


def test_server_side_apply_owns_fields_conflicts_and_forces(cluster, tmp_path):
    def configmap(data):
        return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": data})

    def managed():
        listed = get_json(cluster, "configmap", "ssa", "--show-managed-fields")["metadata"]["managedFields"]
        return {(e["manager"], e["operation"]): sorted(e["fieldsV1"].get("f:data", {})) for e in listed}

    applied = cluster.kubectl("apply", "--server-side", "--field-manager=alice", "-f", "-",
                              input=configmap({"a": "1", "b": "2"}))
    assert "configmap/ssa serverside-applied" in applied.stdout
    assert managed() == {("alice", "Apply"): ["f:a", "f:b"]}

    # Another manager changing alice's field: kube's 409, naming it.
    conflict = cluster.kubectl("apply", "--server-side", "--field-manager=bob", "-f", "-",
                               input=configmap({"a": "9"}), check=False)
    assert conflict.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "alice" using v1: .data.a' in conflict.stderr, conflict.stderr
    # The same value is no conflict: both own it.
    cluster.kubectl("apply", "--server-side", "--field-manager=carol", "-f", "-", input=configmap({"b": "2"}))
    assert managed()[("carol", "Apply")] == ["f:b"]

    cluster.kubectl("apply", "--server-side", "--field-manager=bob", "--force-conflicts", "-f", "-",
                    input=configmap({"a": "9"}))
    assert get_json(cluster, "configmap", "ssa")["data"] == {"a": "9", "b": "2"}
    assert managed()[("alice", "Apply")] == ["f:b"]
    assert managed()[("bob", "Apply")] == ["f:a"]

    # A field alice no longer applies goes, unless someone else owns it:
    # b stays (carol owns it too); then carol drops it and it goes.
    cluster.kubectl("apply", "--server-side", "--field-manager=alice", "-f", "-", input=configmap({"c": "3"}))
    assert get_json(cluster, "configmap", "ssa")["data"] == {"a": "9", "b": "2", "c": "3"}
    cluster.kubectl("apply", "--server-side", "--field-manager=carol", "-f", "-", input=configmap({}))
    assert get_json(cluster, "configmap", "ssa")["data"] == {"a": "9", "c": "3"}

    # An update takes the fields it changes.
    cluster.kubectl("patch", "configmap", "ssa", "-p", '{"data": {"c": "4"}}')
    assert managed()[("kubectl-patch", "Update")] == ["f:c"]
    assert ("alice", "Apply") not in managed()
    # kubectl replace of what was read keeps working.
    current = cluster.kubectl("get", "configmap", "ssa", "-o", "json").stdout
    replaced = cluster.kubectl("replace", "-f", "-", input=current.replace('"9"', '"10"'))
    assert "configmap/ssa replaced" in replaced.stdout
    assert get_json(cluster, "configmap", "ssa")["data"]["a"] == "10"


def test_webhook_configurations_are_listed_empty_and_refused_with_what_to_use(cluster):
    listed = cluster.kubectl("get", "validatingwebhookconfigurations")
    assert "No resources found" in listed.stderr
    refused = cluster.kubectl("apply", "-f", "-", check=False, input="""
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: hook}
webhooks: []
""")
    assert refused.returncode != 0
    assert "not served by Wharf: admission here is done by Plugins of type admission" in refused.stderr, refused.stderr


def test_events_and_autoscalers_are_served_in_their_other_versions(cluster):
    import datetime

    import kubernetes

    events = kubernetes.client.EventsV1Api(cluster.client())
    body = kubernetes.client.EventsV1Event(
        metadata=kubernetes.client.V1ObjectMeta(name="noted"),
        event_time=datetime.datetime.now(datetime.timezone.utc),
        reporting_controller="example.com/tester", reporting_instance="tester-1",
        action="Testing", reason="Tested", note="a note", type="Normal",
        regarding=kubernetes.client.V1ObjectReference(kind="Pod", name="x", namespace="default"))
    created = events.create_namespaced_event("default", body)
    assert (created.note, created.regarding.name) == ("a note", "x")
    # The same object, as a core Event.
    core = get_json(cluster, "events", "noted")
    assert (core["message"], core["involvedObject"]["name"], core["reportingComponent"]) == \
        ("a note", "x", "example.com/tester")
    listed = events.list_namespaced_event("default")
    assert "noted" in [e.metadata.name for e in listed.items]
    events.patch_namespaced_event("noted", "default", {"note": "changed"})
    assert get_json(cluster, "events", "noted")["message"] == "changed"

    cluster.kubectl("apply", "-f", "-", input="""
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 5
  targetCPUUtilizationPercentage: 60
""")
    v2 = get_json(cluster, "horizontalpodautoscalers.v2.autoscaling", "web")
    assert v2["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]
    cluster.kubectl("patch", "horizontalpodautoscalers.v1.autoscaling", "web", "--type=merge",
                    "-p", '{"spec": {"targetCPUUtilizationPercentage": 70}}')
    v1 = get_json(cluster, "horizontalpodautoscalers.v1.autoscaling", "web")
    assert (v1["apiVersion"], v1["spec"]["targetCPUUtilizationPercentage"]) == ("autoscaling/v1", 70)
    table = cluster.kubectl("get", "hpa", "web").stdout.splitlines()
    assert table[0].split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"], table
    cluster.kubectl("delete", "horizontalpodautoscalers.v1.autoscaling", "web")


def test_kubectl_create_commands_of_the_newer_kinds_send_protobuf_and_work(cluster):
    """kubectl's generators send protobuf bodies for built-in kinds."""
    cluster.kubectl("create", "job", "once", "--image=busybox", "--", "true")
    cluster.kubectl("create", "cronjob", "nightly", "--image=busybox", "--schedule=0 3 * * *", "--", "true")
    cluster.kubectl("create", "job", "now", "--from=cronjob/nightly")
    cluster.kubectl("create", "poddisruptionbudget", "budget", "--selector=app=x", "--min-available=1")
    cluster.kubectl("create", "priorityclass", "high", "--value=1000", "--description=important")
    cluster.kubectl("create", "quota", "small", "--hard=pods=10")
    assert get_json(cluster, "job", "now")["metadata"]["ownerReferences"][0]["name"] == "nightly"
    assert get_json(cluster, "cronjob", "nightly")["spec"]["schedule"] == "0 3 * * *"
    assert get_json(cluster, "pdb", "budget")["spec"]["minAvailable"] == 1
    assert get_json(cluster, "priorityclass", "high")["value"] == 1000
    table = cluster.kubectl("get", "cronjobs").stdout.splitlines()
    assert table[0].split()[:4] == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND"], table
    cluster.kubectl("delete", "jobs,cronjobs,pdb,quota", "--all")
    cluster.kubectl("delete", "priorityclass", "high")


def test_kubectl_apply_prune_removes_what_the_configuration_dropped(cluster, tmp_path):
    manifest = tmp_path / "set.yaml"
    both = """
apiVersion: v1
kind: ConfigMap
metadata: {name: kept, labels: {set: pruning}}
data: {a: "1"}
---
apiVersion: v1
kind: Secret
metadata: {name: dropped, labels: {set: pruning}}
stringData: {a: "1"}
"""
    manifest.write_text(both)
    cluster.kubectl("apply", "-f", str(manifest))
    manifest.write_text(both.split("---")[0])
    pruned = cluster.kubectl("apply", "-f", str(manifest), "--prune", "-l", "set=pruning")
    # kubectl's default prune list: built-in kinds (Secrets among them).
    assert "secret/dropped pruned" in pruned.stdout, pruned.stdout + pruned.stderr
    assert cluster.kubectl("get", "configmap", "kept", "-o", "name").stdout.strip() == "configmap/kept"


def test_kubectl_debug_adds_an_ephemeral_container_and_a_pod_changes_only_as_kube_allows(cluster):
    """`pods/ephemeralcontainers` as kube serves it; a pod's spec is immutable but for a few fields."""
    cluster.kubectl("run", "target", "--image=busybox", "--", "sleep", "1000")
    cluster.kubectl("debug", "target", "--image=busybox", "-c", "dbg", "--target=target")
    added = get_json(cluster, "pod", "target")["spec"]["ephemeralContainers"]
    assert [(c["name"], c["targetContainerName"], c["terminationMessagePath"]) for c in added] == [
        ("dbg", "target", "/dev/termination-log")], added
    again = cluster.kubectl("debug", "target", "--image=alpine", "-c", "dbg", check=False)
    assert again.returncode != 0 and (
        'spec.ephemeralContainers[0]: Forbidden: existing ephemeral containers "dbg" may not be changed'
        in again.stderr), again.stderr
    with_port = ('{"spec":{"ephemeralContainers":[{"name":"web","image":"busybox",'
                 '"ports":[{"containerPort":80}]}]}}')
    port = cluster.kubectl("patch", "pod", "target", "--subresource=ephemeralcontainers", "-p", with_port, check=False)
    assert port.returncode != 0 and (
        "spec.ephemeralContainers[0].ports: Forbidden: cannot be set for an Ephemeral Container" in port.stderr), port.stderr
    # Through the pod itself: images change, other fields do not.
    cluster.kubectl("set", "image", "pod/target", "target=busybox:1.36")
    moved = cluster.kubectl("patch", "pod", "target", "-p", '{"spec":{"nodeSelector":{"disk":"ssd"}}}', check=False)
    assert moved.returncode != 0 and "spec: Forbidden: pod updates may not change fields other than" in moved.stderr, \
        moved.stderr
    assert "changed: spec.nodeSelector" in moved.stderr, moved.stderr
    created = cluster.kubectl("create", "-f", "-", check=False, input=(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: early}\nspec:\n  containers: [{name: c, image: busybox}]\n"
        "  ephemeralContainers: [{name: e, image: busybox}]\n"))
    assert created.returncode != 0 and "spec.ephemeralContainers: Forbidden: cannot be set on create" in created.stderr
    assert cluster.kubectl("auth", "can-i", "patch", "pods", "--subresource=ephemeralcontainers").stdout.strip() == "yes"
    cluster.kubectl("delete", "pod", "target", "--wait=false")


def test_a_definition_whose_names_were_taken_is_served_once_they_are_free(cluster):
    """kube's naming controller: names refused on create are accepted when the other definition goes."""
    def definition(plural):
        return ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
                f"metadata: {{name: {plural}.names.example.com}}\n"
                "spec:\n  group: names.example.com\n  scope: Namespaced\n"
                f"  names: {{plural: {plural}, kind: Gadget}}\n"
                "  versions: [{name: v1, served: true, storage: true,"
                " schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]\n")

    def conditions(name):
        crd = get_json(cluster, "crd", name)
        return {c["type"]: (c["status"], c["reason"]) for c in crd["status"]["conditions"]}

    cluster.kubectl("apply", "-f", "-", input=definition("gadgets"))
    cluster.kubectl("apply", "-f", "-", input=definition("gizmos"))
    assert conditions("gizmos.names.example.com")["NamesAccepted"] == ("False", "AlreadyInUse")
    missing = cluster.kubectl("get", "gizmos", check=False)
    assert missing.returncode != 0 and "the server doesn't have a resource type" in missing.stderr, missing.stderr
    cluster.kubectl("delete", "crd", "gadgets.names.example.com")

    def accepted():
        now = conditions("gizmos.names.example.com")
        assert now["NamesAccepted"] == ("True", "NoConflicts") and now["Established"][0] == "True", now

    eventually(accepted)
    eventually(lambda: cluster.kubectl("get", "gizmos"))
    cluster.kubectl("delete", "crd", "gizmos.names.example.com")
