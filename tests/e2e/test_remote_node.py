"""`wharf node --kubeconfig FILE`: a node agent in its own process, talking
to the API server over HTTP as a kubelet on another machine would. It
registers its Node, runs the pods bound to it, serves their logs to the API
server with the cluster's kubelet token, and adopts them when restarted."""

import os
import shutil
import signal
import subprocess
import tempfile

import pytest

from conftest import Cluster, wharf_binary
from test_node import fail, running_and_ready, wait_node
from test_plugins import eventually, get_json


class RemoteNode:
    def __init__(self, cluster, name):
        self.cluster, self.name = cluster, name
        self.dir = tempfile.mkdtemp(prefix="wharf-e2e-node-")
        self.process = None
        self.start()

    def start(self):
        self.log = open(os.path.join(self.dir, "node.log"), "a")
        self.process = subprocess.Popen(
            [wharf_binary(), "node", "--kubeconfig", self.cluster.kubeconfig, "--node-name", self.name,
             "--data-dir", os.path.join(self.dir, "data"), "--kubelet-port", "0", "--no-proxy"],
            stdout=subprocess.PIPE, stderr=self.log, text=True,
        )
        line = self.process.stdout.readline()
        assert f"node {self.name} ready" in line, f"unexpected first line {line!r}: {open(self.log.name).read()[-2000:]}"

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self.log.close()
        return code


@pytest.fixture
def remote_node():
    cluster = Cluster("embedded")  # no node agent of its own
    node = RemoteNode(cluster, "remote-1")
    yield cluster, node
    cluster.kubectl("delete", "deployments,replicasets,pods", "--all", "--wait=false", check=False)
    records = os.path.join(node.dir, "data", "pods")
    eventually(lambda: not (os.path.isdir(records) and os.listdir(records)) or fail(), timeout=60)
    if node.process.poll() is None:
        node.stop()
    shutil.rmtree(node.dir, ignore_errors=True)
    cluster.cleanup()


def test_a_node_agent_over_http_runs_pods_serves_their_logs_and_adopts_them(remote_node):
    cluster, node = remote_node
    registered = wait_node(cluster)
    assert registered["metadata"]["name"] == "remote-1"
    assert registered["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] > 0
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
