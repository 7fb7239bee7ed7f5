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
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# One compile cache for every cluster of the session: each plugin is compiled
# once, not once per cluster (the cache is keyed by module digest and engine).
PLUGIN_CACHE = tempfile.mkdtemp(prefix="wharf-plugin-cache-")


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(PLUGIN_CACHE, ignore_errors=True)


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
        self._lock = threading.Lock()
        self._contexts = {}
        self.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> str:
        """The cluster CA, which signed the serving certificate."""
        return os.path.join(self.dir, "pki", "ca.crt")

    @property
    def kubeconfig(self) -> str:
        return os.path.join(self.dir, "kubeconfig")

    def admin_cert_files(self):
        """The admin's client certificate and key (`wharf-admin`,
        `system:masters`), as files, from the kubeconfig `wharf up` wrote
        (once: any certificate of the cluster CA stays valid across
        restarts)."""
        import base64

        import yaml

        paths = (os.path.join(self.dir, "admin.crt"), os.path.join(self.dir, "admin.key"))
        with self._lock:
            if not os.path.exists(paths[1]):
                with open(self.kubeconfig) as file:
                    user = yaml.safe_load(file)["users"][0]["user"]
                for path, field in zip(paths, ("client-certificate-data", "client-key-data")):
                    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as file:
                        file.write(base64.b64decode(user[field]))
        return paths

    def ssl_context(self, admin=True):
        """TLS trusting the cluster CA only; with the admin's client
        certificate unless `admin` is false (then the client is anonymous
        unless it sends a token). One context of each, shared by threads."""
        import ssl

        files = self.admin_cert_files() if admin else None
        with self._lock:
            if admin not in self._contexts:
                context = ssl.create_default_context(cafile=self.ca_file)
                if files:
                    context.load_cert_chain(*files)
                self._contexts[admin] = context
            return self._contexts[admin]

    def start(self):
        self.log = open(os.path.join(self.dir, "wharf.log"), "a")
        self.process = subprocess.Popen(
            [wharf_binary(), "up", "--data-dir", self.dir, "--listen", f"127.0.0.1:{self.port}", "--store", self.store,
             "--plugin-cache", PLUGIN_CACHE, *self.extra_args],
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
        if os.environ.get("WHARF_E2E_KEEP"):
            print(f"kept {self.dir}")
            return
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def warm_plugin_cache():
    """Compiles every sample plugin into the session's cache once, before
    the first test, so that no test's cluster waits for the compiler (a cold
    start of the debug build takes about 40 s on two cores)."""
    cluster = Cluster("embedded")
    try:
        deadline = time.time() + 300
        while True:
            listed = cluster.kubectl("get", "plugins", "-o", "json", check=False)
            plugins = json.loads(listed.stdout).get("items", []) if listed.returncode == 0 else []
            phases = [p.get("status", {}).get("phase") for p in plugins]
            if phases and all(phase in ("Loaded", "Degraded") for phase in phases):
                break
            assert time.time() < deadline, f"the sample plugins did not load: {phases}"
            time.sleep(1)
    finally:
        cluster.cleanup()
    yield


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


def stop_pods_and_cleanup(cluster):
    """Stops every pod before the cluster goes (the agent removes a pod's
    record once its processes or containers are gone), then the cluster."""
    cluster.kubectl("delete", "deployments,replicasets,pods", "--all", "--all-namespaces", "--wait=false", check=False)
    records = os.path.join(cluster.dir, "node", "pods")
    deadline = time.time() + 60
    while os.path.isdir(records) and os.listdir(records) and time.time() < deadline:
        time.sleep(0.2)
    cluster.cleanup()


@pytest.fixture
def node_cluster():
    """A cluster with the local node agent: pods run as processes here."""
    cluster = Cluster("embedded", node=True)
    yield cluster
    stop_pods_and_cleanup(cluster)


# The image the docker driver's tests run: Debian's static busybox on
# `scratch` (no registry is reachable), built into the test engine.
BUSYBOX_IMAGE = "wharf-e2e/busybox:1"


class DockerEngine:
    """A throwaway `dockerd` (Debian docker.io) with its own roots and
    socket, no iptables and no bridge of its own (pods are wired by Wharf's
    CNI plugins), and the busybox image built into it."""

    def __init__(self):
        binary = shutil.which("dockerd") or "/usr/sbin/dockerd"
        assert os.path.exists(binary), "dockerd is not installed (Debian package docker.io); scripts/setup.sh installs it"
        self.dir = tempfile.mkdtemp(prefix="wharf-docker-")
        self.socket = os.path.join(self.dir, "docker.sock")
        self.host = f"unix://{self.socket}"
        self.log = open(os.path.join(self.dir, "dockerd.log"), "w")
        self.process = subprocess.Popen(
            [binary, "--data-root", f"{self.dir}/data", "--exec-root", f"{self.dir}/exec",
             "--pidfile", f"{self.dir}/dockerd.pid", "--host", self.host,
             "--iptables=false", "--ip-masq=false", "--bridge=none", "--storage-driver=vfs"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while self.docker("version", check=False).returncode != 0:
            assert self.process.poll() is None, open(os.path.join(self.dir, "dockerd.log")).read()[-2000:]
            assert time.time() < deadline, "dockerd did not answer within 60 s"
            time.sleep(0.2)
        context = os.path.join(self.dir, "image")
        os.makedirs(context)
        shutil.copy("/bin/busybox", os.path.join(context, "busybox"))
        with open(os.path.join(context, "Dockerfile"), "w") as dockerfile:
            dockerfile.write('FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
                             'ENV PATH=/bin\nCMD ["sh"]\n')
        self.docker("build", "-q", "-t", BUSYBOX_IMAGE, context, env={"DOCKER_BUILDKIT": "0"})

    def docker(self, *args, check=True, env=None):
        client = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"
        result = subprocess.run([client, *args], capture_output=True, text=True,
                                env=dict(os.environ, DOCKER_HOST=self.host, **(env or {})), timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def containers(self, *filters):
        """The ids of the containers, running or not, matching `filters`."""
        args = [arg for f in filters for arg in ("--filter", f)]
        return self.docker("ps", "-aq", "--no-trunc", *args).stdout.split()

    def stop(self):
        left = self.containers()
        if left:
            self.docker("rm", "-f", *left, check=False)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def docker_engine():
    engine = DockerEngine()
    yield engine
    engine.stop()


def target_dir() -> Path:
    metadata = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=REPO, check=True, capture_output=True, text=True,
    )
    return Path(json.loads(metadata.stdout)["target_directory"])


@pytest.fixture
def native_cluster():
    """A cluster whose local node agent runs pods through the example
    native runtime driver (plugins/runtimes/example-runtime), loaded from
    the shared library scripts/build-plugins.sh builds."""
    library = target_dir() / "release" / "libwharf_runtime_example.so"
    assert library.exists(), f"{library} is missing: build it with scripts/build-plugins.sh"
    cluster = Cluster("embedded", ["--runtime", "native", "--runtime-library", str(library)], node=True)
    yield cluster
    stop_pods_and_cleanup(cluster)


@pytest.fixture
def docker_cluster(docker_engine):
    """A cluster whose local node agent runs pods as Docker containers."""
    cluster = Cluster("embedded", ["--runtime", "docker", "--docker-host", docker_engine.host], node=True)
    cluster.engine = docker_engine
    yield cluster
    stop_pods_and_cleanup(cluster)


@pytest.fixture(params=["embedded", "etcd"])
def cluster(request):
    etcd = None
    if request.param == "etcd":
        etcd = Etcd()
        store = f"etcd={etcd.url}"
    else:
        store = "embedded"
    cluster = Cluster(store)
    cluster.etcd = etcd
    yield cluster
    cluster.cleanup()
    if etcd:
        etcd.stop()
