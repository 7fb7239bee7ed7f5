"""`wharf node`: a node agent in its own process, joining the cluster as a
kubelet on another machine does. `wharf token create` makes a bootstrap
token and prints the join command; the node reads the public
`cluster-info`, trusts its CA only if it matches the pinned hash, gets a
client certificate of `system:node:NAME` through a CertificateSigningRequest
(approved by the cluster for bootstrap tokens) and a serving certificate for
its own API. It registers its Node, runs the pods bound to it, serves their
logs to the API server only, may not touch another node, and adopts its pods
when restarted (with the credentials it kept)."""

import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request

import pytest

from conftest import Cluster, wharf_binary
from test_node import fail, running_and_ready, wait_node
from test_plugins import eventually, get_json


def token_create(cluster):
    """The join command `wharf token create` prints, as arguments."""
    result = subprocess.run([wharf_binary(), "token", "create", "--ttl", "1h"], capture_output=True, text=True,
                            env=dict(os.environ, KUBECONFIG=cluster.kubeconfig), timeout=60)
    assert result.returncode == 0, result.stderr
    command = result.stdout.split()
    assert command[:2] == ["wharf", "node"] and "--token" in command and "--ca-cert-hash" in command, result.stdout
    return command[2:]


class RemoteNode:
    def __init__(self, cluster, name, join):
        self.cluster, self.name, self.join = cluster, name, join
        self.dir = tempfile.mkdtemp(prefix="wharf-e2e-node-")
        self.process = None
        self.start()

    @property
    def kubeconfig(self):
        return os.path.join(self.dir, "data", "kubelet.kubeconfig")

    def run(self, *args):
        return subprocess.Popen(
            [wharf_binary(), "node", *args, "--node-name", self.name,
             "--data-dir", os.path.join(self.dir, "data"), "--kubelet-port", "0", "--no-proxy"],
            stdout=subprocess.PIPE, stderr=self.log, text=True,
        )

    def start(self):
        self.log = open(os.path.join(self.dir, "node.log"), "a")
        # Joins the first time; then the kept kubeconfig is enough.
        self.process = self.run(*([] if os.path.exists(self.kubeconfig) else self.join))
        lines = [self.process.stdout.readline() for _ in range(2 if self.join and "--token" in self.join else 1)]
        assert f"node {self.name} ready" in lines[-1], f"unexpected output {lines!r}: {open(self.log.name).read()[-2000:]}"
        self.join = []

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self.log.close()
        return code


@pytest.fixture(scope="module")
def remote_node():
    cluster = Cluster("embedded")  # no node agent of its own
    node = RemoteNode(cluster, "remote-1", token_create(cluster))
    yield cluster, node
    cluster.kubectl("delete", "deployments,replicasets,pods", "--all", "--wait=false", check=False)
    records = os.path.join(node.dir, "data", "pods")
    eventually(lambda: not (os.path.isdir(records) and os.listdir(records)) or fail(), timeout=60)
    if node.process.poll() is None:
        node.stop()
    shutil.rmtree(node.dir, ignore_errors=True)
    cluster.cleanup()


def test_a_node_joins_with_a_bootstrap_token_runs_pods_serves_their_logs_and_adopts_them(remote_node):
    cluster, node = remote_node
    registered = wait_node(cluster)
    assert registered["metadata"]["name"] == "remote-1"
    assert registered["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] > 0
    # Its certificates came through approved CertificateSigningRequests.
    csrs = {c["spec"]["signerName"]: c for c in get_json(cluster, "csr")["items"]}
    client = csrs["kubernetes.io/kube-apiserver-client-kubelet"]
    assert client["spec"]["username"].startswith("system:bootstrap:")
    assert [c["type"] for c in client["status"]["conditions"]] == ["Approved"] and client["status"]["certificate"]
    assert csrs["kubernetes.io/kubelet-serving"]["spec"]["username"] == "system:node:remote-1"
    listed = cluster.kubectl("get", "csr").stdout
    assert "Approved,Issued" in listed and "system:node:remote-1" in listed, listed
    cluster.kubectl("create", "deployment", "far", "--image=none", "--replicas=2", "--",
                    "sh", "-c", "echo running far away; exec sleep 3600")
    cluster.kubectl("rollout", "status", "deployment/far", "--timeout=90s", timeout=120)
    pods = get_json(cluster, "pods", "-l", "app=far")["items"]
    assert {p["spec"]["nodeName"] for p in pods} == {"remote-1"}
    name = pods[0]["metadata"]["name"]
    eventually(lambda: cluster.kubectl("logs", name).stdout == "running far away\n" or fail())
    before = running_and_ready(cluster, name)["containerStatuses"][0]["containerID"]
    # A restarted agent takes its pods back rather than starting them again.
    assert node.stop() == 0
    node.start()
    eventually(lambda: running_and_ready(cluster, name)["containerStatuses"][0]["containerID"] == before or fail(), timeout=60)
    assert running_and_ready(cluster, name)["containerStatuses"][0]["restartCount"] == 0


def test_a_node_may_change_only_itself_and_read_only_what_its_pods_use(remote_node):
    cluster, node = remote_node
    wait_node(cluster)

    def as_node(*args, **options):
        return cluster.kubectl("--kubeconfig", node.kubeconfig, *args, **options)

    whoami = as_node("auth", "whoami", "-o", "json")
    user = json.loads(whoami.stdout)["status"]["userInfo"]
    assert user["username"] == "system:node:remote-1" and "system:nodes" in user["groups"]
    cluster.kubectl("apply", "-f", "-", input="apiVersion: v1\nkind: Node\nmetadata: {name: other-node}\n")
    refused = as_node("label", "node", "other-node", "stolen=yes", check=False)
    assert refused.returncode != 0 and 'cannot modify node "other-node"' in refused.stderr, refused.stderr
    refused = as_node("delete", "node", "other-node", check=False)
    assert refused.returncode != 0 and "Forbidden" in refused.stderr, refused.stderr
    as_node("label", "node", "remote-1", "mine=yes")
    # Nor may it create another node's Node.
    created = as_node("create", "-f", "-", input="apiVersion: v1\nkind: Node\nmetadata: {name: forged}\n", check=False)
    assert created.returncode != 0 and "Forbidden" in created.stderr, created.stderr
    # Secrets: only those a pod bound to it refers to.
    cluster.kubectl("create", "secret", "generic", "used", "--from-literal=k=v")
    cluster.kubectl("create", "secret", "generic", "unused", "--from-literal=k=v")
    cluster.kubectl("apply", "-f", "-", input="""apiVersion: v1
kind: Pod
metadata: {name: uses-secret}
spec:
  nodeName: remote-1
  containers:
  - {name: c, image: none, command: [sleep, "3600"], env: [{name: S, valueFrom: {secretKeyRef: {name: used, key: k}}}]}
""")
    assert as_node("get", "secret", "used", "-o", "name").stdout.strip() == "secret/used"
    refused = as_node("get", "secret", "unused", check=False)
    assert refused.returncode != 0 and "no relationship found between node 'remote-1'" in refused.stderr, refused.stderr
    refused = as_node("get", "secrets", check=False)
    assert refused.returncode != 0 and "Forbidden" in refused.stderr
    cluster.kubectl("delete", "pod", "uses-secret", "--wait=false")
    cluster.kubectl("delete", "node", "other-node")


def test_the_kubelet_api_answers_only_the_api_server(remote_node):
    cluster, node = remote_node
    wait_node(cluster)
    port = get_json(cluster, "node", "remote-1")["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    url = f"https://127.0.0.1:{port}/containerLogs/default/none/c"

    def status(context):
        try:
            return urllib.request.urlopen(url, context=context, timeout=10).status
        except urllib.error.HTTPError as error:
            return error.code

    # Its serving certificate is the cluster CA's (verified here).
    assert status(ssl.create_default_context(cafile=cluster.ca_file)) == 401
    # The node's own client certificate is not the API server's.
    import base64
    import yaml
    with open(node.kubeconfig) as file:
        user = yaml.safe_load(file)["users"][0]["user"]
    paths = [os.path.join(node.dir, name) for name in ("node.crt", "node.key")]
    for path, field in zip(paths, ("client-certificate-data", "client-key-data")):
        with open(path, "wb") as file:
            file.write(base64.b64decode(user[field]))
    context = ssl.create_default_context(cafile=cluster.ca_file)
    context.load_cert_chain(*paths)
    assert status(context) == 403
    # The API server's is (the pod does not exist: the agent says so).
    assert status(cluster.ssl_context()) in (400, 404)


def test_joining_refuses_a_wrong_ca_hash_and_a_wrong_token(remote_node):
    cluster, _ = remote_node
    join = token_create(cluster)
    server = join[join.index("--server") + 1]
    token = join[join.index("--token") + 1]
    pinned = join[join.index("--ca-cert-hash") + 1]
    data = tempfile.mkdtemp(prefix="wharf-e2e-join-")
    try:
        def attempt(token, pinned):
            return subprocess.run(
                [wharf_binary(), "node", "--server", server, "--token", token, "--ca-cert-hash", pinned,
                 "--node-name", "intruder", "--data-dir", data, "--kubelet-port", "0", "--no-proxy"],
                capture_output=True, text=True, timeout=60)
        wrong_hash = attempt(token, "sha256:" + "0" * 64)
        assert wrong_hash.returncode != 0 and "refusing to trust" in wrong_hash.stderr, wrong_hash.stderr
        wrong_token = attempt(token[:7] + "0000000000000000", pinned)
        assert wrong_token.returncode != 0 and "Unauthorized" in wrong_token.stderr, wrong_token.stderr
        assert not os.path.exists(os.path.join(data, "kubelet.kubeconfig"))
    finally:
        shutil.rmtree(data, ignore_errors=True)
    names = [n["metadata"]["name"] for n in get_json(cluster, "nodes")["items"]]
    assert "intruder" not in names


def test_kubectl_certificate_approve_and_deny(remote_node):
    cluster, _ = remote_node
    # Any valid request will do: the node's own serving request, sent again
    # to the generic client signer, which approves nothing by itself.
    served = next(c for c in get_json(cluster, "csr")["items"]
                  if c["spec"]["signerName"] == "kubernetes.io/kubelet-serving")
    for name in ("by-hand", "refused"):
        cluster.kubectl("create", "-f", "-", input=json.dumps({
            "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {"request": served["spec"]["request"], "signerName": "kubernetes.io/kube-apiserver-client",
                     "usages": ["digital signature", "client auth"], "expirationSeconds": 3600,
                     "username": "forged"},
        }))
    pending = get_json(cluster, "csr", "by-hand")
    assert "status" not in pending or not pending["status"].get("conditions"), pending
    assert pending["spec"]["username"] == "wharf-admin"  # the server says who asked
    cluster.kubectl("certificate", "approve", "by-hand")
    cluster.kubectl("certificate", "deny", "refused")
    eventually(lambda: get_json(cluster, "csr", "by-hand")["status"].get("certificate") or fail())
    listed = cluster.kubectl("get", "csr", "by-hand", "refused").stdout
    assert "Approved,Issued" in listed and "Denied" in listed and "60m" in listed, listed
    refused = get_json(cluster, "csr", "refused")
    assert "certificate" not in refused["status"], refused
    # A decision stays: the server refuses approving a denied request
    # (kubectl itself refuses to ask).
    refused["status"]["conditions"].append({"type": "Approved", "status": "True", "reason": "Changed"})
    body = os.path.join(tempfile.mkdtemp(prefix="wharf-e2e-csr-"), "csr.json")
    with open(body, "w") as file:
        json.dump(refused, file)
    again = cluster.kubectl("replace", "--raw", "/apis/certificates.k8s.io/v1/certificatesigningrequests/refused/approval",
                            "-f", body, check=False)
    assert again.returncode != 0 and "mutually exclusive" in again.stderr, again.stderr
    shutil.rmtree(os.path.dirname(body))
    cluster.kubectl("delete", "csr", "by-hand", "refused")
