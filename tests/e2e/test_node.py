"""The local node agent through kubectl: pods run as processes on this
machine, report Running and Ready, restart with their restart count, keep
their logs for `kubectl logs` (with --tail, -c, --previous and -f), and
leave no process behind when deleted."""

import json
import os
import pathlib
import shlex
import subprocess
import time

from test_plugins import eventually, get_json


def pod(name, *containers, restart="Always"):
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"restartPolicy": restart, "terminationGracePeriodSeconds": 2,
                                "containers": [{"name": c, "image": "none", "command": ["sh", "-c", script]}
                                               for c, script in containers]}})


def status(cluster, name):
    return get_json(cluster, "pod", name).get("status", {})


def running_and_ready(cluster, name):
    current = status(cluster, name)
    assert current.get("phase") == "Running", current
    assert all(c.get("ready") for c in current.get("containerStatuses", [])), current
    return current


def wait_node(cluster):
    def ready():
        nodes = get_json(cluster, "nodes")["items"]
        assert nodes, "no node yet"
        conditions = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}
        assert conditions.get("Ready") == "True", conditions
        return nodes[0]
    return eventually(ready)


def test_a_pod_runs_as_processes_and_its_logs_reach_kubectl(node_cluster):
    cluster = node_cluster
    node = wait_node(cluster)
    assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] > 0
    cluster.kubectl("apply", "-f", "-", input=pod(
        "talker",
        ("app", "echo one; echo two; echo three; sleep 3600"),
        ("side", "echo from-the-sidecar; sleep 3600"),
    ))
    current = eventually(lambda: running_and_ready(cluster, "talker"))
    assert current["podIP"] and current["hostIP"]
    eventually(lambda: cluster.kubectl("logs", "talker", "-c", "app").stdout == "one\ntwo\nthree\n" or fail())
    assert cluster.kubectl("logs", "talker", "-c", "app", "--tail=1").stdout == "three\n"
    assert cluster.kubectl("logs", "talker", "-c", "side").stdout == "from-the-sidecar\n"

    def described():
        text = cluster.kubectl("describe", "pod", "talker").stdout
        assert "Started container app" in text and "Created container: side" in text, text[-800:]
        assert "kubelet" in text
    eventually(described)
    # kubectl picks the first container itself; the API names the choice.
    defaulted = cluster.kubectl("logs", "talker")
    assert defaulted.stdout == "one\ntwo\nthree\n" and 'Defaulted container "app"' in defaulted.stderr
    raw = cluster.kubectl("get", "--raw", "/api/v1/namespaces/default/pods/talker/log", check=False)
    assert raw.returncode != 0
    assert "a container name must be specified for pod talker, choose one of: [app side]" in raw.stderr


def test_the_node_proxy_reaches_the_agents_kubelet_api(node_cluster):
    cluster = node_cluster
    name = wait_node(cluster)["metadata"]["name"]
    assert cluster.kubectl("get", "--raw", f"/api/v1/nodes/{name}/proxy/healthz").stdout == "ok"
    # What the agent does not serve is its 404, passed on as kube passes it.
    missing = cluster.kubectl("get", "--raw", f"/api/v1/nodes/{name}/proxy/no/such/path", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr, missing.stderr
    # Discovery lists the subresources kubectl's exec, attach, port-forward and proxy use.
    core = json.loads(cluster.kubectl("get", "--raw", "/api/v1").stdout)["resources"]
    names = {r["name"] for r in core}
    assert {"pods/exec", "pods/attach", "pods/portforward", "nodes/proxy"} <= names, sorted(names)


def test_kubectl_exec_runs_commands_in_the_container_with_its_exit_code(node_cluster):
    cluster = node_cluster
    wait_node(cluster)
    manifest = json.loads(pod("shell", ("main", "sleep 3600")))
    manifest["spec"]["containers"][0]["env"] = [{"name": "GREETING", "value": "from-the-pod"}]
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    eventually(lambda: running_and_ready(cluster, "shell"))
    # The container's environment and its network namespace (the pod's address).
    ran = cluster.kubectl("exec", "shell", "--", "sh", "-c", "echo $GREETING; ip -4 addr show eth0 || true")
    pod_ip = status(cluster, "shell")["podIP"]
    assert ran.stdout.startswith("from-the-pod\n") and pod_ip in ran.stdout, ran.stdout
    failed = cluster.kubectl("exec", "shell", "--", "sh", "-c", "echo oops >&2; exit 3", check=False)
    assert failed.returncode == 3, (failed.returncode, failed.stderr)
    assert "oops" in failed.stderr and "command terminated with exit code 3" in failed.stderr, failed.stderr
    piped = cluster.kubectl("exec", "-i", "shell", "--", "cat", input="through stdin\n")
    assert piped.stdout == "through stdin\n"
    # With a terminal: kubectl needs one of its own, which `script` gives it.
    command, env = cluster.kubectl_command("exec", "-it", "shell", "--", "sh", "-c", "test -t 0 && echo on-a-tty")
    with_tty = subprocess.run(["script", "-qec", shlex.join(command), "/dev/null"], env=env,
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert "on-a-tty" in with_tty.stdout, (with_tty.stdout, with_tty.stderr)
    # The Python client's stream() (WebSocket, v4.channel.k8s.io).
    import kubernetes
    from kubernetes.stream import stream
    api = kubernetes.client.CoreV1Api(cluster.client())
    out = stream(api.connect_get_namespaced_pod_exec, "shell", "default",
                 command=["sh", "-c", "echo $GREETING"], stderr=True, stdin=False, stdout=True, tty=False)
    assert out == "from-the-pod\n", out
    # kubectl cp is exec with tar, both ways.
    local = pathlib.Path(cluster.dir) / "to-the-pod.txt"
    local.write_text("copied in\n")
    inside = f"/tmp/wharf-e2e-cp-{os.getpid()}.txt"
    cluster.kubectl("cp", str(local), f"shell:{inside}")
    assert cluster.kubectl("exec", "shell", "--", "cat", inside).stdout == "copied in\n"
    back = pathlib.Path(cluster.dir) / "from-the-pod.txt"
    cluster.kubectl("cp", f"shell:{inside}", str(back))
    assert back.read_text() == "copied in\n"
    cluster.kubectl("exec", "shell", "--", "rm", "-f", inside)
    # A container that is not there is kubelet's answer.
    missing = cluster.kubectl("exec", "shell", "-c", "nope", "--", "true", check=False)
    assert missing.returncode != 0 and "nope" in missing.stderr, missing.stderr


def test_kubectl_logs_follow_streams_new_lines(node_cluster):
    cluster = node_cluster
    wait_node(cluster)
    cluster.kubectl("apply", "-f", "-", input=pod("ticker", ("tick", "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.2; done")))
    eventually(lambda: running_and_ready(cluster, "ticker"))
    command, env = cluster.kubectl_command("logs", "-f", "ticker")
    follower = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        lines = [follower.stdout.readline() for _ in range(8)]
    finally:
        follower.kill()
        follower.wait()
    assert [line.strip() for line in lines] == [f"tick-{i}" for i in range(8)]


def test_a_container_that_exits_restarts_and_its_previous_log_stays(node_cluster):
    cluster = node_cluster
    wait_node(cluster)
    cluster.kubectl("apply", "-f", "-", input=pod("crasher", ("app", "echo attempt; sleep 0.3; exit 3")))

    def restarted():
        statuses = status(cluster, "crasher").get("containerStatuses", [])
        assert statuses and statuses[0]["restartCount"] >= 1, statuses
        last = statuses[0]["lastState"]["terminated"]
        assert last["exitCode"] == 3 and last["reason"] == "Error", last
        return statuses[0]
    eventually(restarted, timeout=40)
    assert cluster.kubectl("logs", "crasher", "--previous").stdout == "attempt\n"
    described = cluster.kubectl("describe", "pod", "crasher").stdout
    assert "Restart Count:" in described

    def backed_off():
        events = get_json(cluster, "events", "--field-selector", "involvedObject.name=crasher,reason=BackOff")["items"]
        assert events and events[0]["type"] == "Warning", events
        assert events[0]["message"].startswith("Back-off restarting failed container app in pod crasher_default("), events
    eventually(backed_off, timeout=40)


def test_restart_policy_never_ends_failed_with_the_exit_code(node_cluster):
    cluster = node_cluster
    wait_node(cluster)
    cluster.kubectl("apply", "-f", "-", input=pod("once", ("app", "exit 7"), restart="Never"))

    def failed():
        current = status(cluster, "once")
        assert current.get("phase") == "Failed", current
        return current["containerStatuses"][0]["state"]["terminated"]
    terminated = eventually(failed)
    assert terminated["exitCode"] == 7


def test_deleting_a_pod_leaves_no_process_behind(node_cluster):
    cluster = node_cluster
    wait_node(cluster)
    marker = f"wharf-e2e-marker-{os.getpid()}-{time.time_ns()}"
    cluster.kubectl("apply", "-f", "-", input=pod("sleeper", ("app", f"sleep 3600 # {marker}"),
                                                  ("helper", f"trap '' TERM; sleep 3600 # {marker}")))
    eventually(lambda: running_and_ready(cluster, "sleeper"))

    def processes():
        return subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
    assert processes(), "the pod's processes run on this machine"
    cluster.kubectl("delete", "pod", "sleeper", "--wait=false")
    eventually(lambda: not processes() or fail(), timeout=30)


def fail():
    raise AssertionError("not yet")


def test_the_readme_example_a_deployment_behind_a_service_answers_on_its_cluster_ip(node_cluster):
    cluster = node_cluster
    wait_node(cluster)
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "python",
                                                       "command": ["python3", "-m", "http.server", "8000"],
                                                       "ports": [{"containerPort": 8000}]}]}}},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(deployment))
    cluster.kubectl("expose", "deployment", "web", "--port=80", "--target-port=8000")
    cluster.kubectl("rollout", "status", "deployment/web", "--timeout=60s", timeout=90)
    pods = get_json(cluster, "pods", "-l", "app=web")["items"]
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 2, ips  # a network namespace each
    cluster_ip = get_json(cluster, "service", "web")["spec"]["clusterIP"]

    # Both replicas behind the Service before counting who answers.
    def both_endpoints():
        subsets = get_json(cluster, "endpoints", "web").get("subsets") or []
        ready = {a["ip"] for s in subsets for a in s.get("addresses", [])}
        assert ready == ips, (ready, ips)
    eventually(both_endpoints, timeout=60)

    def answers():
        # A generous bound: python's one-threaded server on a busy machine.
        result = subprocess.run(["curl", "--noproxy", "*", "-s", "-m", "20", f"http://{cluster_ip}/"],
                                capture_output=True, text=True)
        assert "Directory listing" in result.stdout, result.stdout[:200]
    eventually(answers, timeout=60)
    for _ in range(30):
        answers()
    # Both replicas served some of the requests.
    for p in pods:
        log = cluster.kubectl("logs", p["metadata"]["name"]).stdout
        assert '"GET / HTTP/1.1" 200' in log, (p["metadata"]["name"], log[-300:])


def test_probes_restart_a_dead_container_and_take_an_unready_pod_out_of_its_endpoints(node_cluster):
    cluster = node_cluster
    wait_node(cluster)
    flag = f"/tmp/wharf-e2e-ready-{os.getpid()}-{time.time_ns()}"
    open(flag, "w").close()
    probed = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probed", "labels": {"app": "probed"}},
        "spec": {"terminationGracePeriodSeconds": 2, "containers": [{
            "name": "app", "image": "none", "command": ["python3", "-m", "http.server", "8000"],
            "ports": [{"containerPort": 8000}],
            "readinessProbe": {"exec": {"command": ["test", "-f", flag]}, "periodSeconds": 1, "failureThreshold": 1},
            "livenessProbe": {"httpGet": {"path": "/", "port": 8000}, "periodSeconds": 1, "failureThreshold": 3,
                              "initialDelaySeconds": 2},
        }]},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(probed))
    cluster.kubectl("expose", "pod", "probed", "--port=80", "--target-port=8000")
    pod_ip = eventually(lambda: running_and_ready(cluster, "probed"), timeout=60)["podIP"]

    def addresses(kind):
        subsets = get_json(cluster, "endpoints", "probed").get("subsets", [])
        return [a["ip"] for s in subsets for a in s.get(kind, [])]
    eventually(lambda: addresses("addresses") == [pod_ip] or fail(), timeout=60)
    # Not ready: out of the Service's endpoints, still running.
    os.remove(flag)
    eventually(lambda: addresses("notReadyAddresses") == [pod_ip] and not addresses("addresses") or fail(), timeout=60)
    assert status(cluster, "probed")["phase"] == "Running"
    open(flag, "w").close()
    eventually(lambda: addresses("addresses") == [pod_ip] or fail(), timeout=60)
    os.remove(flag)


def test_a_failing_liveness_probe_restarts_the_container(node_cluster):
    cluster = node_cluster
    wait_node(cluster)
    dying = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dying"},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
            "name": "app", "image": "none", "command": ["sleep", "3600"],
            "livenessProbe": {"tcpSocket": {"port": 9}, "periodSeconds": 1, "failureThreshold": 1},
        }]},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(dying))

    def restarted():
        statuses = status(cluster, "dying").get("containerStatuses", [])
        assert statuses and statuses[0]["restartCount"] >= 1, statuses
    eventually(restarted, timeout=60)

    def unhealthy():
        events = get_json(cluster, "events", "--field-selector", "involvedObject.name=dying,reason=Unhealthy")["items"]
        assert events and events[0]["message"].startswith("Liveness probe failed:"), events
        assert events[0]["source"] == {"component": "kubelet", "host": get_json(cluster, "pod", "dying")["spec"]["nodeName"]}
    eventually(unhealthy)


def test_a_host_port_reaches_the_pod_until_it_is_deleted(node_cluster):
    cluster = node_cluster
    wait_node(cluster)
    port = 18000 + os.getpid() % 1000
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ported"},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
            "name": "web", "image": "none", "command": ["python3", "-m", "http.server", "8000"],
            "ports": [{"containerPort": 8000, "hostPort": port}],
        }]},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
    pod_ip = eventually(lambda: running_and_ready(cluster, "ported"), timeout=60)["podIP"]
    assert pod_ip != "127.0.0.1"  # its own network; the portmap plugin maps the port

    def get():
        return subprocess.run(["curl", "--noproxy", "*", "-s", "-m", "2", f"http://127.0.0.1:{port}/"],
                              capture_output=True, text=True).stdout
    eventually(lambda: "Directory listing" in get() or fail(), timeout=30)
    cluster.kubectl("delete", "pod", "ported", "--wait=false")
    eventually(lambda: not get_json(cluster, "pods")["items"] or fail(), timeout=60)
    assert "Directory listing" not in get()


def test_a_deleted_pod_terminates_gracefully_before_it_is_gone(node_cluster):
    cluster = node_cluster
    wait_node(cluster)
    marker = f"wharf-e2e-graceful-{os.getpid()}-{time.time_ns()}"
    script = f"trap 'sleep 2; exit 0' TERM; while true; do sleep 0.1; done # {marker}"
    graceful = json.loads(pod("graceful", ("app", script)))
    graceful["spec"]["terminationGracePeriodSeconds"] = 20
    cluster.kubectl("apply", "-f", "-", input=json.dumps(graceful))
    eventually(lambda: running_and_ready(cluster, "graceful"))
    cluster.kubectl("delete", "pod", "graceful", "--wait=false")
    # Terminating: marked with its grace period while its container stops.
    marked = get_json(cluster, "pod", "graceful")["metadata"]
    assert marked["deletionGracePeriodSeconds"] == 20 and marked["deletionTimestamp"], marked
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0
    # The agent deletes it once its process has ended (the trap's 2 s).
    eventually(lambda: cluster.kubectl("get", "pod", "graceful", check=False).returncode != 0 or fail(), timeout=15)
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode != 0

    # --force --grace-period=0 deletes at once.
    cluster.kubectl("apply", "-f", "-", input=pod("forced", ("app", f"trap '' TERM; sleep 3600 # {marker}")))
    eventually(lambda: running_and_ready(cluster, "forced"))
    cluster.kubectl("delete", "pod", "forced", "--force", "--grace-period=0")
    assert cluster.kubectl("get", "pod", "forced", check=False).returncode != 0
    eventually(lambda: subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode != 0 or fail(), timeout=30)


def test_a_pod_lists_pods_with_the_python_clients_in_cluster_configuration(node_cluster):
    """In-cluster configuration, as client-go and the Python client read it:
    KUBERNETES_SERVICE_HOST/PORT (the `kubernetes` Service, through the
    service proxy) and the token, CA and namespace the agent projects."""
    import sys
    cluster = node_cluster
    wait_node(cluster)
    cluster.kubectl("create", "rolebinding", "default-view", "--clusterrole=view", "--serviceaccount=default:default")
    script = (
        "import os, stat\n"
        "from kubernetes import client, config\n"
        "base = '/var/run/secrets/kubernetes.io/serviceaccount'\n"
        "print('host', os.environ['KUBERNETES_SERVICE_HOST'], os.environ['KUBERNETES_SERVICE_PORT'])\n"
        "print('namespace', open(base + '/namespace').read())\n"
        "print('mode', oct(stat.S_IMODE(os.stat(base + '/token').st_mode)))\n"
        "config.load_incluster_config()\n"
        "names = sorted(p.metadata.name for p in client.CoreV1Api().list_namespaced_pod('default').items)\n"
        "print('pods', ','.join(names))\n"
    )
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "in-cluster"},
                "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 2,
                         "containers": [{"name": "client", "image": "none", "command": [sys.executable, "-c", script]}]}}
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))

    def finished():
        phase = status(cluster, "in-cluster").get("phase")
        assert phase in ("Succeeded", "Failed"), phase
        return phase
    phase = eventually(finished, timeout=90)
    logs = cluster.kubectl("logs", "in-cluster").stdout
    assert phase == "Succeeded", logs
    assert "host 10.96.0.1 443" in logs
    assert "namespace default" in logs
    assert "mode 0o600" in logs
    assert "pods in-cluster" in logs, logs


def test_a_pod_runs_as_its_user_with_its_groups_and_reaches_only_its_own_volumes(node_cluster):
    cluster = node_cluster
    wait_node(cluster)
    cluster.kubectl("create", "secret", "generic", "mine", "--from-literal=password=hunter2")
    pods_dir = os.path.join(cluster.dir, "node", "pods")
    script = ("echo uid $(id -u) gid $(id -g) groups $(id -G); cat /etc/mine/password; echo; "
              "cat /var/run/secrets/kubernetes.io/serviceaccount/token > /dev/null && echo token readable; "
              f"ls {pods_dir} > /dev/null 2>&1 || echo node data denied; sleep 3600")
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nobody"},
                "spec": {"terminationGracePeriodSeconds": 2,
                         "securityContext": {"runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 2000},
                         "volumes": [{"name": "mine", "secret": {"secretName": "mine"}}],
                         "containers": [{"name": "c", "image": "none", "command": ["sh", "-c", script],
                                         "volumeMounts": [{"name": "mine", "mountPath": "/etc/mine"}]}]}}
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))

    def printed():
        logs = cluster.kubectl("logs", "nobody", check=False).stdout
        assert "node data" in logs, logs
        return logs
    logs = eventually(printed, timeout=60)
    assert "uid 65534 gid 65534" in logs
    assert "2000" in logs.split("groups")[1].split("\n")[0]
    assert "hunter2" in logs
    assert "token readable" in logs
    assert "node data denied" in logs

    # runAsNonRoot with no user to run as: refused, as the kubelet refuses it.
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "rootless"},
                "spec": {"terminationGracePeriodSeconds": 2, "securityContext": {"runAsNonRoot": True},
                         "containers": [{"name": "c", "image": "none", "command": ["sleep", "3600"]}]}}
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))

    def refused():
        [container] = status(cluster, "rootless").get("containerStatuses", [{}])
        waiting = container.get("state", {}).get("waiting", {})
        assert waiting.get("reason") == "CreateContainerConfigError", container
        return waiting["message"]
    assert "container has runAsNonRoot and image will run as root" in eventually(refused)
