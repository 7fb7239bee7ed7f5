"""Fixtures that start real clusters: `wharf up` on the embedded store or on
a real etcd, and drive them with kubectl v1.37 and the Python client.

Every server is started on 127.0.0.1 with free ports and stopped by PID.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def wharf_binary() -> str:
    """The `wharf` binary the test command built (WHARF_BIN overrides)."""
    if os.environ.get("WHARF_BIN"):
        return os.environ["WHARF_BIN"]
    metadata = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=REPO, check=True, capture_output=True, text=True,
    )
    target = json.loads(metadata.stdout)["target_directory"]
    path = Path(target) / "debug" / "wharf"
    assert path.exists(), f"{path} is missing: build it with `cargo build -p wharf`"
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Etcd:
    """A throwaway etcd server on loopback."""

    def __init__(self):
        binary = shutil.which("etcd")
        assert binary, "etcd is not installed (Debian package etcd-server); scripts/setup.sh installs it"
        self.dir = tempfile.mkdtemp(prefix="wharf-etcd-")
        client, peer = free_port(), free_port()
        self.url = f"http://127.0.0.1:{client}"
        self.log = open(os.path.join(self.dir, "etcd.log"), "w")
        self.process = subprocess.Popen(
            [binary, "--name=e2e", f"--data-dir={self.dir}/data",
             f"--listen-client-urls={self.url}", f"--advertise-client-urls={self.url}",
             f"--listen-peer-urls=http://127.0.0.1:{peer}",
             f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
             f"--initial-cluster=e2e=http://127.0.0.1:{peer}"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", client), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("etcd did not start")

    def stop(self):
        self.process.kill()
        self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Cluster:
    """`wharf up` in a temporary data directory, and clients for it."""

    def __init__(self, store: str, extra_args=(), node=False):
        self.store = store
        # The local node agent runs pods as processes on this machine: only
        # for tests about it.
        self.extra_args = list(extra_args) + ([] if node else ["--no-node"])
        self.dir = tempfile.mkdtemp(prefix="wharf-e2e-")
        self.port = free_port()
        self.process = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> str:
        return os.path.join(self.dir, "kubeconfig")

    def start(self):
        self.log = open(os.path.join(self.dir, "wharf.log"), "a")
        self.process = subprocess.Popen(
            [wharf_binary(), "up", "--data-dir", self.dir, "--listen", f"127.0.0.1:{self.port}", "--store", self.store, *self.extra_args],
            stdout=subprocess.PIPE, stderr=self.log, text=True,
        )
        line = self.process.stdout.readline()
        assert "ready" in line and self.kubeconfig in line, f"unexpected first line {line!r}"

    def stop(self):
        """SIGTERM, as Ctrl-C would; returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self.log.close()
        return code

    def kubectl_command(self, *args, env=None):
        """The kubectl v1.37 command line and environment for this cluster."""
        venv_kubectl = REPO / ".venv" / "bin" / "kubectl"
        binary = str(venv_kubectl) if venv_kubectl.exists() else "kubectl"
        return [binary, *args], dict(os.environ, KUBECONFIG=self.kubeconfig, **(env or {}))

    def kubectl(self, *args, input=None, check=True, env=None, timeout=60):
        command, full_env = self.kubectl_command(*args, env=env)
        result = subprocess.run(command, input=input, capture_output=True, text=True, env=full_env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def client(self):
        """The official Python client, configured from the kubeconfig."""
        import kubernetes

        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(config_file=self.kubeconfig, client_configuration=configuration)
        return kubernetes.client.ApiClient(configuration)

    def cleanup(self):
        if self.process and self.process.poll() is None:
            # Gracefully first: the service proxy then removes its rules.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def embedded_cluster():
    """A cluster on the embedded store only, for tests whose subject does not
    depend on the store (the plugin sandbox, hot reload)."""
    cluster = Cluster("embedded")
    yield cluster
    cluster.cleanup()


@pytest.fixture
def sim_cluster():
    """A cluster with three simulated 2-CPU nodes, sim-0..2, one per zone
    (zone-a, zone-b, zone-c)."""
    cluster = Cluster("embedded", ["--sim-nodes", "3", "--sim-zones", "zone-a,zone-b,zone-c", "--sim-node-cpu", "2"])
    yield cluster
    cluster.cleanup()


@pytest.fixture
def node_cluster():
    """A cluster with the local node agent: pods run as processes here."""
    cluster = Cluster("embedded", node=True)
    yield cluster
    # Stop every pod's processes before the cluster goes: the agent removes
    # a pod's record once its processes are gone.
    cluster.kubectl("delete", "deployments,replicasets,pods", "--all", "--all-namespaces", "--wait=false", check=False)
    records = os.path.join(cluster.dir, "node", "pods")
    deadline = time.time() + 60
    while os.path.isdir(records) and os.listdir(records) and time.time() < deadline:
        time.sleep(0.2)
    cluster.cleanup()


@pytest.fixture(params=["embedded", "etcd"])
def cluster(request):
    etcd = None
    if request.param == "etcd":
        etcd = Etcd()
        store = f"etcd={etcd.url}"
    else:
        store = "embedded"
    cluster = Cluster(store)
    yield cluster
    cluster.cleanup()
    if etcd:
        etcd.stop()
