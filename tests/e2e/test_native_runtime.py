"""A third party's runtime driver: the node agent loads the example native
driver (a shared library built with the SDK's runtime ABI) and runs pods
through it, in the pod's network namespace, with restarts, logs and
deletion as with the built-in drivers."""

import json
import os
import subprocess
import time

from test_node import fail, running_and_ready, status, wait_node
from test_plugins import eventually, get_json


def test_pods_run_through_a_native_runtime_driver(native_cluster):
    cluster = native_cluster
    node = wait_node(cluster)
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"] == "example://native"
    marker = f"wharf-e2e-native-{os.getpid()}-{time.time_ns()}"
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "driven"},
        "spec": {"terminationGracePeriodSeconds": 2, "containers": [
            {"name": "app", "image": "none",
             "command": ["sh", "-c", f"echo hello from $HOSTNAME; sleep 1; exit 4 # {marker}"]},
            {"name": "web", "image": "none", "command": ["sh", "-c", f"exec python3 -m http.server 8000 # {marker}"]},
        ]},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))

    def restarted():
        statuses = {c["name"]: c for c in status(cluster, "driven").get("containerStatuses", [])}
        app = statuses.get("app", {})
        assert app.get("restartCount", 0) >= 1 and app["lastState"]["terminated"]["exitCode"] == 4, statuses
        assert app["containerID"].startswith("example://"), app
        return status(cluster, "driven")
    current = eventually(restarted, timeout=60)
    assert cluster.kubectl("logs", "driven", "-c", "app", "--previous").stdout == "hello from driven\n"
    # Its own network namespace: the pod's IP answers.
    pod_ip = current["podIP"]
    assert pod_ip and pod_ip != current["hostIP"]

    def answers():
        result = subprocess.run(["curl", "--noproxy", "*", "-s", "-m", "2", f"http://{pod_ip}:8000/"],
                                capture_output=True, text=True)
        assert "Directory listing" in result.stdout, result.stdout[:200]
    eventually(answers, timeout=30)

    def processes():
        return subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
    cluster.kubectl("delete", "pod", "driven", "--wait=false")
    eventually(lambda: not processes() or fail(), timeout=30)
    eventually(lambda: not get_json(cluster, "pods")["items"] or fail(), timeout=30)
