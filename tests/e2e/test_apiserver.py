"""The API server as unmodified kubectl v1.37 and the Python client use it,
against the embedded store and against etcd (the `cluster` fixture runs each
test on both)."""

import base64
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from test_node import fail
from test_plugins import eventually

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: front}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: busybox:1.36
        command: [sleep, "3600"]
"""


def jsonpath(cluster, *args):
    return cluster.kubectl("get", *args).stdout.strip()


def request(cluster, method, path, body=None, content_type="application/json", headers=None, admin=True):
    """A raw HTTPS request, as the admin (or with no client certificate);
    returns (status, parsed JSON body)."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(cluster.url + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", content_type)
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, timeout=30, context=cluster.ssl_context(admin)) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
    except urllib.error.URLError as error:
        # A server that refuses an oversized body may answer and close
        # before the client has sent it all: read its answer anyway.
        if not isinstance(error.reason, (BrokenPipeError, ConnectionResetError)):
            raise
        return answer_after_early_close(cluster, method, path, data, content_type, admin)


def answer_after_early_close(cluster, method, path, data, content_type, admin):
    import http.client
    host, port = cluster.url.removeprefix("https://").split(":")
    connection = http.client.HTTPSConnection(host, int(port), timeout=30, context=cluster.ssl_context(admin))
    try:
        connection.request(method, path, body=data, headers={"Content-Type": content_type})
    except (BrokenPipeError, ConnectionResetError):
        pass
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"null")


def eventually(check, timeout=20):
    deadline = time.time() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def test_system_namespaces_exist_and_a_namespace_can_be_created(cluster):
    names = jsonpath(cluster, "namespaces", "-o", "jsonpath={.items[*].metadata.name}").split()
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= set(names)
    cluster.kubectl("apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n")
    assert jsonpath(cluster, "ns", "team-a", "-o", "jsonpath={.status.phase}") == "Active"
    printed = cluster.kubectl("get", "ns", "team-a").stdout
    assert printed.split("\n")[0].split() == ["NAME", "STATUS", "AGE"]


def test_apply_then_apply_a_change_then_scale_a_deployment(cluster):
    out = cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT).stdout
    assert "deployment.apps/web created" in out
    assert jsonpath(cluster, "deploy", "web", "-o", "jsonpath={.metadata.generation}") == "1"

    changed = DEPLOYMENT.replace("busybox:1.36", "busybox:1.37").replace("replicas: 1", "replicas: 2")
    out = cluster.kubectl("apply", "-f", "-", input=changed).stdout
    assert "deployment.apps/web configured" in out
    spec = json.loads(jsonpath(cluster, "deploy", "web", "-o", "json"))
    container = spec["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "busybox:1.37"
    assert container["command"] == ["sleep", "3600"], "the strategic merge kept the command"
    assert spec["spec"]["replicas"] == 2
    assert spec["metadata"]["generation"] == 2

    assert "scaled" in cluster.kubectl("scale", "deploy", "web", "--replicas=3").stdout
    assert jsonpath(cluster, "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "3"
    header = cluster.kubectl("get", "deploy").stdout.split("\n")[0].split()
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]


def test_get_and_list_with_label_and_field_selectors(cluster):
    cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT.replace("name: web", "name: db").replace("tier: front", "tier: back"))
    names = lambda *args: cluster.kubectl("get", "deploy", "-o", "name", *args).stdout.split()
    assert names("-l", "tier=front") == ["deployment.apps/web"]
    assert names("-l", "tier!=front") == ["deployment.apps/db"]
    assert sorted(names("-l", "tier in (front,back)")) == ["deployment.apps/db", "deployment.apps/web"]
    assert names("-l", "tier notin (front)") == ["deployment.apps/db"]
    assert sorted(names("-l", "app")) == ["deployment.apps/db", "deployment.apps/web"]
    assert names("-l", "!app") == []
    assert names("--field-selector", "metadata.name=db") == ["deployment.apps/db"]
    assert names("--field-selector", "metadata.name!=db") == ["deployment.apps/web"]
    rejected = cluster.kubectl("get", "pods", "--field-selector", "spec.bogus=1", check=False)
    assert rejected.returncode != 0 and "field label not supported" in rejected.stderr
    # Pages: the client follows the continue token.
    for i in range(7):
        cluster.kubectl("create", "-f", "-", input=f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: page-{i}}}\n")
    paged = cluster.kubectl("get", "configmaps", "--chunk-size=2", "-o", "name").stdout.split()
    # Every namespace also holds the cluster CA (kube-root-ca.crt).
    assert [name for name in paged if name.startswith("configmap/page-")] == [f"configmap/page-{i}" for i in range(7)]


def test_get_watch_sees_changes_as_they_happen(cluster):
    cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    command, env = cluster.kubectl_command(
        "get", "deploy", "web", "-w", "--output-watch-events",
        "-o", "custom-columns=EVENT:.type,NAME:.object.metadata.name,REPLICAS:.object.spec.replicas",
    )
    watcher = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        header = watcher.stdout.readline()
        assert "NAME" in header, header
        first = watcher.stdout.readline()
        assert "ADDED" in first and "web" in first, first
        # The deployment controller writes the Deployment's status too:
        # read on to the event each step must cause.
        def next_line_with(*words):
            seen = []
            while True:
                line = watcher.stdout.readline()
                assert line, f"the watch ended; it showed {seen}"
                if all(word in line for word in words):
                    return line
                seen.append(line)

        cluster.kubectl("scale", "deploy", "web", "--replicas=4")
        next_line_with("MODIFIED", "4")
        cluster.kubectl("delete", "deploy", "web", "--wait=false")
        next_line_with("DELETED", "web")
    finally:
        watcher.kill()
        watcher.wait()


def test_python_client_watch_resumes_even_across_a_restart(cluster):
    import kubernetes

    def first_three_events(resource_version):
        api = kubernetes.client.CoreV1Api(cluster.client())
        # Only w1's: the ServiceAccount controller may write the
        # namespace's kube-root-ca.crt in the meantime.
        stream = kubernetes.watch.Watch().stream(
            api.list_namespaced_config_map, "default", resource_version=resource_version, timeout_seconds=5,
            field_selector="metadata.name=w1",
        )
        events = []
        for event in stream:
            events.append((event["type"], event["object"].metadata.name))
            if len(events) == 3:
                break
        return events

    api = kubernetes.client.CoreV1Api(cluster.client())
    listed = api.list_namespaced_config_map("default")
    api.create_namespaced_config_map("default", {"metadata": {"name": "w1"}, "data": {"k": "v"}})
    api.patch_namespaced_config_map("w1", "default", {"data": {"k": "v2"}})
    api.delete_namespaced_config_map("w1", "default")
    events = first_three_events(listed.metadata.resource_version)
    assert events == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
    # After a restart the watch cache is filled from the history the store
    # kept: a watch from before the restart resumes (no 410, nothing lost).
    assert cluster.stop() == 0
    cluster.start()
    assert first_three_events(listed.metadata.resource_version) == events


def test_delete_with_propagation_policies(cluster):
    import kubernetes

    cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    assert "deleted" in cluster.kubectl("delete", "deploy", "web").stdout
    assert cluster.kubectl("get", "deploy", "web", check=False).returncode != 0

    # A finalizer of our own holds the Deployment once marked.
    held = DEPLOYMENT.replace("  labels: {app: web, tier: front}", "  labels: {app: web, tier: front}\n  finalizers: [example.com/hold]")
    cluster.kubectl("apply", "-f", "-", input=held)
    apps = kubernetes.client.AppsV1Api(cluster.client())
    eventually(lambda: apps.list_namespaced_replica_set("default", label_selector="app=web").items or fail())
    apps.delete_namespaced_deployment("web", "default", propagation_policy="Foreground")
    marked = apps.read_namespaced_deployment("web", "default")
    assert marked.metadata.deletion_timestamp is not None
    assert "foregroundDeletion" in marked.metadata.finalizers or not apps.list_namespaced_replica_set(
        "default", label_selector="app=web").items

    # The garbage collector deletes the dependents first, then lifts its
    # finalizer; ours still holds the Deployment.
    def dependents_gone():
        current = apps.read_namespaced_deployment("web", "default")
        assert current.metadata.finalizers == ["example.com/hold"], current.metadata.finalizers
        assert not apps.list_namespaced_replica_set("default", label_selector="app=web").items
    eventually(dependents_gone, timeout=60)
    # Whoever owns the last finalizer finishes the delete by removing it.
    apps.patch_namespaced_deployment("web", "default", [{"op": "remove", "path": "/metadata/finalizers"}])
    with pytest.raises(kubernetes.client.ApiException) as gone:
        apps.read_namespaced_deployment("web", "default")
    assert gone.value.status == 404


def test_a_stale_update_gets_409_conflict(cluster):
    import kubernetes

    cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    apps = kubernetes.client.AppsV1Api(cluster.client())
    # The deployment controller may write the Deployment between a read and
    # the first replace: read both again until the first replace wins.
    for _ in range(20):
        first = apps.read_namespaced_deployment("web", "default")
        second = apps.read_namespaced_deployment("web", "default")
        first.spec.replicas = 5
        try:
            apps.replace_namespaced_deployment("web", "default", first)
            break
        except kubernetes.client.ApiException as lost:
            assert lost.status == 409, lost
    second.spec.replicas = 6
    with pytest.raises(kubernetes.client.ApiException) as stale:
        apps.replace_namespaced_deployment("web", "default", second)
    assert stale.value.status == 409
    status = json.loads(stale.value.body)
    assert status["kind"] == "Status" and status["reason"] == "Conflict"
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 5
    with pytest.raises(kubernetes.client.ApiException) as exists:
        apps.create_namespaced_deployment("default", first)
    assert exists.value.status == 409 and json.loads(exists.value.body)["reason"] == "AlreadyExists"


def test_malformed_oversized_and_invalid_requests_get_4xx_status(cluster):
    pods = "/api/v1/namespaces/default/configmaps"
    status, body = request(cluster, "POST", pods, b"{not json")
    assert (status, body["kind"], body["reason"]) == (400, "Status", "BadRequest")
    status, body = request(cluster, "POST", pods, b"kind: [unclosed", content_type="application/yaml")
    assert (status, body["reason"]) == (400, "BadRequest")
    big = {"metadata": {"name": "big"}, "data": {"k": "x" * (4 * 1024 * 1024)}}
    status, body = request(cluster, "POST", pods, big)
    assert (status, body["reason"]) == (413, "RequestEntityTooLarge")
    status, body = request(cluster, "POST", pods, {"metadata": {"name": "Not_Valid"}})
    assert (status, body["reason"]) == (422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    status, body = request(cluster, "POST", pods + "?fieldValidation=Strict", {"metadata": {"name": "c"}, "bogus": 1})
    assert status == 400 and 'unknown field "bogus"' in body["message"]
    status, body = request(cluster, "POST", "/api/v1/namespaces/nowhere/configmaps", {"metadata": {"name": "c"}})
    assert (status, body["reason"]) == (404, "NotFound")
    status, body = request(cluster, "GET", "/api/v1/widgets")
    assert (status, body["kind"]) == (404, "Status")
    status, body = request(cluster, "PATCH", pods + "/missing", {"data": {}}, content_type="application/merge-patch+json")
    assert (status, body["reason"]) == (404, "NotFound")
    status, body = request(cluster, "PATCH", pods + "/missing", b"{}", content_type="text/plain")
    assert status == 415


def test_kubectl_writes_kube_refuses_are_refused_with_its_messages(cluster, tmp_path):
    # A field given twice: refused with Strict, a warning by default.
    twice = tmp_path / "twice.json"
    twice.write_text('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "twice"},'
                     ' "data": {"a": "1", "a": "2"}}')
    collection = "/api/v1/namespaces/default/configmaps"
    refused = cluster.kubectl("create", "--raw", f"{collection}?fieldValidation=Strict", "-f", str(twice), check=False)
    assert refused.returncode != 0, refused.stdout
    assert 'strict decoding error: duplicate field "data.a"' in refused.stderr, refused.stderr
    created = cluster.kubectl("create", "--raw", collection, "-f", str(twice))
    assert 'duplicate field "data.a"' in created.stderr, created.stderr
    assert jsonpath(cluster, "configmap", "twice", "-o", "jsonpath={.data.a}") == "2"
    # $deleteFromPrimitiveList names a list: on a map it is refused.
    cluster.kubectl("label", "configmap", "twice", "a=1")
    patched = cluster.kubectl("patch", "configmap", "twice", "--type", "strategic",
                              "-p", '{"metadata": {"$deleteFromPrimitiveList/labels": ["a"]}}', check=False)
    assert patched.returncode != 0
    assert "invalid patch format of primitive list" in patched.stderr, patched.stderr
    assert jsonpath(cluster, "configmap", "twice", "-o", "jsonpath={.metadata.labels.a}") == "1"
    cluster.kubectl("delete", "configmap", "twice")
    # The namespaces every cluster has stay.
    deleted = cluster.kubectl("delete", "namespace", "kube-public", check=False)
    assert deleted.returncode != 0 and "may not be deleted" in deleted.stderr, deleted.stderr


def test_python_client_create_patch_scale_list_delete(cluster):
    import kubernetes

    client = cluster.client()
    apps = kubernetes.client.AppsV1Api(client)
    body = {
        "metadata": {"generateName": "py-", "labels": {"app": "py"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "py"}},
            "template": {"metadata": {"labels": {"app": "py"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
        },
    }
    created = apps.create_namespaced_deployment("default", body)
    name = created.metadata.name
    assert name.startswith("py-") and len(name) == len("py-") + 5
    assert created.metadata.uid and created.metadata.creation_timestamp
    apps.patch_namespaced_deployment(name, "default", {"metadata": {"labels": {"patched": "yes"}}})
    scale = apps.patch_namespaced_deployment_scale(name, "default", {"spec": {"replicas": 3}})
    assert scale.spec.replicas == 3 and scale.status.selector == "app=py"
    listed = apps.list_namespaced_deployment("default", label_selector="patched=yes")
    assert [d.metadata.name for d in listed.items] == [name]
    apps.delete_namespaced_deployment(name, "default")
    assert apps.list_namespaced_deployment("default").items == []


def test_server_side_apply_creates_then_updates(cluster):
    out = cluster.kubectl("apply", "--server-side", "-f", "-", input=DEPLOYMENT).stdout
    assert "serverside-applied" in out
    cluster.kubectl("apply", "--server-side", "-f", "-", input=DEPLOYMENT.replace("replicas: 1", "replicas: 2"))
    assert jsonpath(cluster, "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "2"


def test_label_annotate_edit_and_describe(cluster):
    cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    cluster.kubectl("label", "deploy", "web", "stage=prod")
    cluster.kubectl("annotate", "deploy", "web", "owner=team-a")
    meta = json.loads(jsonpath(cluster, "deploy", "web", "-o", "json"))["metadata"]
    assert meta["labels"]["stage"] == "prod" and meta["annotations"]["owner"] == "team-a"
    cluster.kubectl("label", "deploy", "web", "stage-")
    assert "stage" not in json.loads(jsonpath(cluster, "deploy", "web", "-o", "json"))["metadata"]["labels"]
    cluster.kubectl("edit", "deploy", "web", env={"EDITOR": "sed -i s/busybox:1.36/busybox:1.99/"})
    assert jsonpath(cluster, "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}") == "busybox:1.99"
    described = cluster.kubectl("describe", "deploy", "web").stdout
    assert "Name:" in described and "web" in described and "busybox:1.99" in described


def test_every_kind_can_be_created_read_and_listed(cluster):
    manifests = {
        "pod": "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: busybox}]}\n",
        "node": "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n",
        "service": "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {selector: {app: x}, ports: [{port: 80}]}\n",
        "endpoints": "apiVersion: v1\nkind: Endpoints\nmetadata: {name: manual}\n",
        "configmap": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {a: b}\n",
        "secret": "apiVersion: v1\nkind: Secret\nmetadata: {name: sec}\nstringData: {a: b}\n",
        "serviceaccount": "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa}\n",
        "event": "apiVersion: v1\nkind: Event\nmetadata: {name: ev}\ninvolvedObject: {kind: Pod, name: p, namespace: default}\nreason: Testing\nmessage: hello\n",
        "replicaset": "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: rs}\nspec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}}\n",
        "statefulset": "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: sts}\nspec: {serviceName: s, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}}\n",
        "daemonset": "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: ds}\nspec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}}\n",
        "ingress": "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: ing}\nspec: {rules: [{host: a.example}]}\n",
        "endpointslice": "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: es}\naddressType: IPv4\nendpoints: []\n",
        "lease": "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: l}\nspec: {holderIdentity: me}\n",
        "role": "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\nrules: [{apiGroups: [''], resources: [pods], verbs: [get]}]\n",
        "rolebinding": "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: rb}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\nsubjects: [{kind: User, name: alice}]\n",
        "clusterrole": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: cr}\nrules: []\n",
        "clusterrolebinding": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: crb}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cr}\n",
    }
    for kind, manifest in manifests.items():
        cluster.kubectl("create", "-f", "-", input=manifest)
        listed = cluster.kubectl("get", kind).stdout
        assert listed.startswith(("NAME", "LAST SEEN")), f"{kind}: {listed}"
        cluster.kubectl("label", kind, manifest.split("name: ")[1].split("}")[0], "checked=yes")
        assert cluster.kubectl("get", kind, "-l", "checked=yes", "-o", "name").stdout.strip(), kind
    assert jsonpath(cluster, "secret", "sec", "-o", "jsonpath={.data.a}") == "Yg=="
    assert jsonpath(cluster, "svc", "s", "-o", "jsonpath={.spec.ports[0].targetPort}") == "80"
    events = cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=p").stdout
    assert "Testing" in events


def test_pod_table_has_the_usual_columns(cluster):
    import kubernetes

    core = kubernetes.client.CoreV1Api(cluster.client())
    core.create_namespaced_pod("default", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    core.patch_namespaced_pod_status("p", "default", {"status": {"phase": "Running", "podIP": "10.1.2.3", "containerStatuses": [
        {"name": "c", "ready": True, "restartCount": 1, "image": "busybox", "imageID": "", "state": {"running": {}}}]}})
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node", "name": "node-1"}}
    status, _ = request(cluster, "POST", "/api/v1/namespaces/default/pods/p/binding", binding)
    assert status == 201
    lines = cluster.kubectl("get", "pods", "-o", "wide").stdout.strip().split("\n")
    assert lines[0].split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    cells = lines[1].split()
    assert cells[:4] == ["p", "1/1", "Running", "1"] and cells[5:7] == ["10.1.2.3", "node-1"]
    status, body = request(cluster, "POST", "/api/v1/namespaces/default/pods/p/binding", binding)
    assert status == 409


def test_namespace_deletion_marks_it_terminating_until_its_content_is_gone(cluster):
    cluster.kubectl("apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata: {name: doomed}\n")
    # Content held by a finalizer holds the namespace.
    cluster.kubectl("create", "-n", "doomed", "-f", "-", input=(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, finalizers: [example.com/hold]}\n"))
    cluster.kubectl("delete", "ns", "doomed", "--wait=false")
    assert jsonpath(cluster, "ns", "doomed", "-o", "jsonpath={.status.phase}") == "Terminating"
    refused = cluster.kubectl("create", "-n", "doomed", "-f", "-", input="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", check=False)
    assert refused.returncode != 0 and "being terminated" in refused.stderr
    # A Namespace's spec.finalizers change only through namespaces/finalize.
    namespace = json.loads(cluster.kubectl("get", "ns", "doomed", "-o", "json").stdout)
    namespace["spec"]["finalizers"] = []
    cluster.kubectl("replace", "-f", "-", input=json.dumps(namespace))
    assert jsonpath(cluster, "ns", "doomed", "-o", "jsonpath={.spec.finalizers}") == '["kubernetes"]'

    def waiting_on_the_finalizer():
        described = cluster.kubectl("describe", "ns", "doomed").stdout
        assert "NamespaceFinalizersRemaining" in described and "example.com/hold in 1 resource instances" in described, described

    eventually(waiting_on_the_finalizer)
    cluster.kubectl("patch", "-n", "doomed", "configmap", "held", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    cluster.kubectl("wait", "--for=delete", "ns/doomed", "--timeout=30s", timeout=40)


def test_objects_survive_a_restart(cluster):
    cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    uid = jsonpath(cluster, "deploy", "web", "-o", "jsonpath={.metadata.uid}")
    assert cluster.stop() == 0
    cluster.start()
    assert jsonpath(cluster, "deploy", "web", "-o", "jsonpath={.metadata.uid}") == uid
    cluster.kubectl("scale", "deploy", "web", "--replicas=2")
    assert jsonpath(cluster, "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "2"


def test_kubectl_generator_commands_send_protobuf_and_work(cluster):
    """`kubectl create namespace/deployment/configmap/secret`, `run` and
    `expose` send Kubernetes protobuf bodies."""
    cluster.kubectl("create", "namespace", "demo")
    cluster.kubectl("-n", "demo", "create", "deployment", "web", "--image=nginx:1.27", "--replicas=2", "--port=80")
    cluster.kubectl("-n", "demo", "create", "configmap", "cfg", "--from-literal=a=b")
    cluster.kubectl("-n", "demo", "create", "secret", "generic", "s", "--from-literal=p=q")
    cluster.kubectl("-n", "demo", "run", "one", "--image=busybox", "--", "sleep", "10")
    cluster.kubectl("-n", "demo", "expose", "deployment", "web", "--port=8080", "--target-port=80")
    deployment = json.loads(cluster.kubectl("-n", "demo", "get", "deploy", "web", "-o", "json").stdout)
    assert deployment["spec"]["replicas"] == 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert (container["image"], container["ports"][0]["containerPort"]) == ("nginx:1.27", 80)
    assert jsonpath(cluster, "-n", "demo", "cm", "cfg", "-o", "jsonpath={.data.a}") == "b"
    assert jsonpath(cluster, "-n", "demo", "secret", "s", "-o", "jsonpath={.data.p}") == "cQ=="
    assert jsonpath(cluster, "-n", "demo", "pod", "one", "-o", "jsonpath={.spec.containers[0].args}") == '["sleep","10"]'
    service = json.loads(cluster.kubectl("-n", "demo", "get", "svc", "web", "-o", "json").stdout)
    assert service["spec"]["ports"][0]["port"] == 8080 and service["spec"]["ports"][0]["targetPort"] == 80
    assert service["spec"]["selector"] == {"app": "web"}
    everything = cluster.kubectl("-n", "demo", "get", "all", "-o", "name").stdout.split()
    assert {"pod/one", "service/web", "deployment.apps/web"} <= set(everything)


def test_secrets_are_encrypted_at_rest(cluster):
    """Secrets are sealed with AES-GCM before they reach the store (kube's
    aesgcm provider, under the key `wharf up` wrote on first start): no
    file of the embedded store or of etcd holds their data, while a
    ConfigMap's data is there in plain (what shows the scan reads the
    store). kubectl reads the Secret back."""
    value = f"hunter2-{time.time_ns()}"
    cluster.kubectl("create", "secret", "generic", "vault", f"--from-literal=password={value}")
    cluster.kubectl("create", "configmap", "notes", f"--from-literal=note={value}-plain")
    encoded = jsonpath(cluster, "secret", "vault", "-o", "jsonpath={.data.password}")
    assert base64.b64decode(encoded).decode() == value

    config = os.path.join(cluster.dir, "encryption-config.yaml")
    assert os.stat(config).st_mode & 0o777 == 0o600
    assert "aesgcm" in open(config).read()

    roots = [cluster.dir] + ([cluster.etcd.dir] if cluster.etcd else [])
    stored = b""
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in files:
                if name.endswith(".log") or name == "encryption-config.yaml":
                    continue
                with open(os.path.join(folder, name), "rb") as file:
                    stored += file.read()
    assert f"{value}-plain".encode() in stored, "the store's files were not found"
    for needle in (value.encode() + b"\"", base64.b64encode(value.encode())):
        assert needle not in stored, f"{needle!r} is stored in plain"



OTHER_KINDS = {
    "job": ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}}}\n",
            "NAME STATUS COMPLETIONS DURATION AGE"),
    "cronjob": ("apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: cj}\nspec: {schedule: '*/5 * * * *', jobTemplate: {spec: {template: {spec: {restartPolicy: OnFailure, containers: [{name: c, image: busybox}]}}}}}\n",
                "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE"),
    "hpa": ("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\nspec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, maxReplicas: 5}\n",
            "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE"),
    "pdb": ("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: b}\nspec: {minAvailable: 1, selector: {matchLabels: {app: web}}}\n",
            "NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE"),
    "pv": ("apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: v}\nspec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], hostPath: {path: /tmp/v}}\n",
           "NAME CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE"),
    "pvc": ("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: c}\nspec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n",
            "NAME STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE"),
    "rc": ("apiVersion: v1\nkind: ReplicationController\nmetadata: {name: r}\nspec: {template: {metadata: {labels: {app: r}}, spec: {containers: [{name: c, image: busybox}]}}}\n",
           "NAME DESIRED CURRENT READY AGE"),
    "podtemplate": ("apiVersion: v1\nkind: PodTemplate\nmetadata: {name: t}\ntemplate: {metadata: {labels: {app: t}}, spec: {containers: [{name: c, image: busybox}]}}\n",
                    "TEMPLATE CONTAINERS IMAGES POD LABELS"),
    "storageclass": ("apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: fast, annotations: {storageclass.kubernetes.io/is-default-class: 'true'}}\nprovisioner: example.com/fast\n",
                     "NAME PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE"),
    "csidriver": ("apiVersion: storage.k8s.io/v1\nkind: CSIDriver\nmetadata: {name: csi.example.com}\nspec: {}\n",
                  "NAME ATTACHREQUIRED PODINFOONMOUNT STORAGECAPACITY TOKENREQUESTS REQUIRESREPUBLISH MODES AGE"),
    "volumeattachment": ("apiVersion: storage.k8s.io/v1\nkind: VolumeAttachment\nmetadata: {name: va}\nspec: {attacher: csi.example.com, nodeName: n1, source: {persistentVolumeName: v}}\n",
                         "NAME ATTACHER PV NODE ATTACHED AGE"),
    "priorityclass": ("apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1000\n",
                      "NAME VALUE GLOBAL-DEFAULT AGE PREEMPTIONPOLICY"),
    "controllerrevision": ("apiVersion: apps/v1\nkind: ControllerRevision\nmetadata: {name: rev}\nrevision: 1\ndata: {spec: {}}\n",
                           "NAME CONTROLLER REVISION AGE"),
    "networkpolicy": ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np}\nspec: {podSelector: {matchLabels: {app: web}}}\n",
                      "NAME POD-SELECTOR AGE"),
    "ingressclass": ("apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: nginx}\nspec: {controller: example.com/ingress}\n",
                     "NAME CONTROLLER PARAMETERS AGE"),
}


def test_the_other_built_in_kinds_are_served_with_kubes_columns(cluster):
    for kind, (manifest, header) in OTHER_KINDS.items():
        name = manifest.split("metadata: {name: ")[1].split(",")[0].split("}")[0]
        cluster.kubectl("create", "-f", "-", input=manifest)
        lines = cluster.kubectl("get", kind, name).stdout.strip().split("\n")
        assert " ".join(lines[0].split()) == header, f"{kind}: {lines}"
        cluster.kubectl("label", kind, name, "checked=yes")
        assert cluster.kubectl("get", kind, "-l", "checked=yes", "-o", "name").stdout.strip(), kind
    # What kube's strategies set and print.
    job = json.loads(cluster.kubectl("get", "job", "j", "-o", "json").stdout)
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert job["spec"]["template"]["metadata"]["labels"]["job-name"] == "j"
    assert job["spec"]["backoffLimit"] == 6 and job["spec"]["completions"] == 1
    assert cluster.kubectl("get", "job", "j", "--no-headers").stdout.split()[1:3] == ["Running", "0/1"]
    refused = cluster.kubectl("create", "-f", "-", check=False, input=OTHER_KINDS["job"][0].replace(
        "name: j}", "name: j2}").replace("restartPolicy: Never, ", ""))
    assert refused.returncode != 0 and 'Unsupported value: "Always"' in refused.stderr, refused.stderr
    assert "fast (default)" in cluster.kubectl("get", "storageclass").stdout
    assert jsonpath(cluster, "rc", "r", "-o", "jsonpath={.spec.selector.app}") == "r"
    assert "cpu: <unknown>/80%" in cluster.kubectl("get", "hpa", "h").stdout
    # The system PriorityClasses exist, and a pod's class becomes its priority.
    assert jsonpath(cluster, "priorityclass", "system-node-critical", "-o", "jsonpath={.value}") == "2000001000"
    cluster.kubectl("create", "-f", "-", input="apiVersion: v1\nkind: Pod\nmetadata: {name: important}\n"
                    "spec: {priorityClassName: high, containers: [{name: c, image: busybox}]}\n")
    assert jsonpath(cluster, "pod", "important", "-o", "jsonpath={.spec.priority}") == "1000"
    unknown = cluster.kubectl("create", "-f", "-", check=False, input="apiVersion: v1\nkind: Pod\nmetadata: {name: lost}\n"
                              "spec: {priorityClassName: nowhere, containers: [{name: c, image: busybox}]}\n")
    assert unknown.returncode != 0 and "no PriorityClass with name nowhere was found" in unknown.stderr, unknown.stderr
    cluster.kubectl("delete", "pod", "important", "--wait=false")
    for kind, (manifest, _) in OTHER_KINDS.items():
        name = manifest.split("metadata: {name: ")[1].split(",")[0].split("}")[0]
        cluster.kubectl("delete", kind, name, "--wait=false")


def test_responses_are_shaped_as_kube_writes_them(cluster):
    # A new pod's status is Pending with its QoS class; a Service's is empty.
    status, pod = request(cluster, "POST", "/api/v1/namespaces/default/pods", {
        "metadata": {"name": "shaped"},
        "spec": {"containers": [{"name": "c", "image": "busybox",
                                 "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}}}]},
        "status": {"phase": "Running"}})
    assert status == 201 and pod["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}, pod
    status, service = request(cluster, "POST", "/api/v1/namespaces/default/services", {
        "metadata": {"name": "shaped"}, "spec": {"ports": [{"port": 80}]}})
    assert status == 201 and service["status"] == {"loadBalancer": {}}, service
    # Errors name the resource with its group in the message, without it in details.
    status, missing = request(cluster, "GET", "/apis/apps/v1/namespaces/default/deployments/missing")
    assert status == 404 and missing["message"] == 'deployments.apps "missing" not found', missing
    assert missing["details"] == {"name": "missing", "group": "apps", "kind": "deployments"}, missing
    status, invalid = request(cluster, "POST", "/apis/apps/v1/namespaces/default/deployments", {
        "metadata": {"name": "bad"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
                                             "template": {"metadata": {"labels": {"a": "c"}},
                                                          "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    assert status == 422 and invalid["message"].startswith('Deployment.apps "bad" is invalid'), invalid
    assert invalid["details"]["kind"] == "Deployment" and invalid["details"]["group"] == "apps", invalid
    got = cluster.kubectl("get", "deploy", "missing", check=False)
    assert 'deployments.apps "missing" not found' in got.stderr, got.stderr
    # Every body ends with a newline, and objects come in Go's field order
    # (TypeMeta, metadata, spec, status; ObjectMeta's and PodSpec's own order),
    # as kube's encoder writes them: in a read, a list spliced from stored
    # bytes, a list through selectors, a watch event and an error.
    def raw(path):
        req = urllib.request.Request(cluster.url + path)
        try:
            with urllib.request.urlopen(req, timeout=30, context=cluster.ssl_context()) as response:
                return response.read().decode()
        except urllib.error.HTTPError as error:
            return error.read().decode()

    pods = "/api/v1/namespaces/default/pods"
    read = raw(pods + "/shaped")
    assert read.startswith('{"kind":"Pod","apiVersion":"v1","metadata":{"name":"shaped","namespace":"default","uid":'), read
    assert '},"status":{"phase":"Pending",' in read and read.endswith('"qosClass":"Guaranteed"}}\n'), read[-80:]
    assert '"spec":{"volumes":[{"name":"kube-api-access-' in read and '"containers":[{"name":"c","image":"busybox",' in read
    for listed in (raw(pods), raw(pods + "?fieldSelector=metadata.name%3Dshaped")):
        assert listed.startswith('{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"'), listed[:200]
        assert '"items":[{"metadata":{"name":"shaped","namespace":"default","uid":' in listed, listed[:300]
        assert re.search(r'"uid":"[-0-9a-f]+","resourceVersion":"\d+",("generation":\d+,)?"creationTimestamp":', listed), listed[:400]
    event = raw(pods + "?watch=1&fieldSelector=metadata.name%3Dshaped&timeoutSeconds=1")
    assert event.startswith('{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"shaped",'), event[:200]
    assert raw(pods + "/absent") == (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \\"absent\\" not found",'
        '"reason":"NotFound","details":{"name":"absent","kind":"pods"},"code":404}\n')
    cluster.kubectl("delete", "pod,service", "shaped", "--wait=false")
