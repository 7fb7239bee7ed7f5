"""Plugins in other languages than Rust, as their authors use them: the
sample plugins written in Python (config-reloader) and C (the scheduling
policy, in test_scheduler.py) as `wharf up` installs them, and the
`wharf plugin` workflow — new, test, build, dev into a running cluster —
with a Python exception's traceback in `kubectl describe plugin`.

One cluster for the module: two simulated nodes, the sample set."""

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import Cluster, wharf_binary
from test_plugins import eventually, get_json, wait_loaded


@pytest.fixture(scope="module")
def cluster():
    cluster = Cluster("embedded", ["--sim-nodes", "2"])
    yield cluster
    cluster.cleanup()


def wharf(*args, check=True, timeout=300):
    result = subprocess.run([wharf_binary(), *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"wharf {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def apply(cluster, *objects):
    cluster.kubectl("apply", "-f", "-", input="\n---\n".join(json.dumps(o) for o in objects))


def replica_sets_of(cluster, deployment):
    items = get_json(cluster, "replicasets")["items"]
    return [rs for rs in items if any(o["name"] == deployment for o in rs["metadata"].get("ownerReferences", []))]


def test_the_python_config_reloader_rolls_a_deployment_out_when_its_configmap_changes(cluster):
    wait_loaded(cluster, "config-reloader")
    apply(cluster, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"},
                    "data": {"color": "blue"}})
    apply(cluster, {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "annotations": {"reloader.wharf.dev/auto": "true"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "web",
                                                       "envFrom": [{"configMapRef": {"name": "web-config"}}]}]}}},
    })

    def recorded():
        annotations = get_json(cluster, "deployment", "web")["metadata"].get("annotations", {})
        assert "reloader.wharf.dev/observed" in annotations, annotations

    # First sight: recorded, no rollout.
    eventually(recorded)
    assert len(replica_sets_of(cluster, "web")) == 1
    cluster.kubectl("patch", "configmap", "web-config", "--type=merge", "-p", '{"data": {"color": "green"}}')

    def rolled_out():
        deployment = get_json(cluster, "deployment", "web")
        template = deployment["spec"]["template"]["metadata"].get("annotations", {})
        assert "reloader.wharf.dev/config-hash" in template, template
        assert len(replica_sets_of(cluster, "web")) == 2

    eventually(rolled_out, timeout=60)
    events = get_json(cluster, "events", "--field-selector", "involvedObject.name=web,reason=Reloaded")["items"]
    assert any("web-config" in e["message"] for e in events), events
    status = get_json(cluster, "plugin", "config-reloader")["status"]
    assert status["load"]["instantiateTime"].endswith("µs"), status


def test_a_python_plugin_goes_from_wharf_plugin_new_to_running_and_its_traceback_is_in_describe(cluster):
    work = Path(tempfile.mkdtemp(prefix="wharf-plugin-py-"))
    folder = work / "crashy"
    wharf("plugin", "new", "crashy", "--lang", "python", "--type", "controller", "--dir", str(folder))
    assert "name: crashy" in (folder / "plugin.yaml").read_text()
    # The template's own unit tests pass with the fake cluster.
    assert "passed" in wharf("plugin", "test", str(folder)).stdout
    # An author's bug: an exception on one ConfigMap.
    app = (folder / "app.py").read_text()
    marker = "        source = ctx.get(CONFIG_MAP, namespace, name)\n"
    assert marker in app
    app = app.replace(marker, marker + '        if name == "crash-me":\n'
                                       '            raise ValueError("cannot handle crash-me")\n')
    (folder / "app.py").write_text(app)
    swapped = wharf("plugin", "dev", str(folder), "--once", "--kubeconfig", cluster.kubeconfig)
    assert "crashy Loaded" in swapped.stdout, swapped.stdout
    # It works…
    apply(cluster, {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "settings", "labels": {"mirror": "true"}}, "data": {"a": "b"}})
    eventually(lambda: get_json(cluster, "configmap", "settings-mirror")["data"] == {"a": "b"} or pytest.fail())
    # …and where it fails, the Python traceback is what the author reads.
    apply(cluster, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "crash-me"}})

    def traceback_in_status():
        status = get_json(cluster, "plugin", "crashy")["status"]
        error = status.get("lastError", "")
        assert "Traceback" in error and "ValueError: cannot handle crash-me" in error, status
        return error

    error = eventually(traceback_in_status)
    assert "app.py" in error, error

    def described():
        text = cluster.kubectl("describe", "plugin", "crashy").stdout
        assert "ValueError: cannot handle crash-me" in text and "Warning" in text, text

    eventually(described)
    cluster.kubectl("delete", "plugin", "crashy")


def test_a_c_policy_from_wharf_plugin_new_tests_builds_and_fits_its_world():
    work = Path(tempfile.mkdtemp(prefix="wharf-plugin-c-"))
    folder = work / "small-first"
    wharf("plugin", "new", "small-first", "--lang", "c", "--type", "scheduler", "--dir", str(folder))
    tested = wharf("plugin", "test", str(folder))
    assert ": ok" in tested.stdout, tested.stdout
    built = Path(wharf("plugin", "build", str(folder)).stdout.strip())
    assert built == folder / "build" / "small_first.wasm" and built.stat().st_size > 0
    # Pushed as the wrong world, it is refused before any upload, with why.
    refused = wharf("plugin", "push", str(built), "--type", "admission", "--kubeconfig", "/nonexistent", check=False)
    assert refused.returncode != 0
    assert "does not export wharf:plugin/review@0.1.0" in refused.stderr, refused.stderr
    assert "build it for world `admission`" in refused.stderr, refused.stderr
    # The admission template too.
    folder = work / "labels-required"
    wharf("plugin", "new", "labels-required", "--lang", "c", "--type", "admission", "--dir", str(folder))
    assert ": ok" in wharf("plugin", "test", str(folder)).stdout
    assert Path(wharf("plugin", "build", str(folder)).stdout.strip()).stat().st_size > 0


def test_the_typescript_image_policy_judges_pods_as_their_namespace_asks(cluster):
    wait_loaded(cluster, "image-policy")
    cluster.kubectl("create", "namespace", "shop")
    cluster.kubectl("annotate", "namespace", "shop", "image-policy.wharf.dev/forbid-latest=true",
                    "image-policy.wharf.dev/allowed-registries=ghcr.io/acme")
    # The annotations reach the plugin through its informer cache.
    def denied():
        result = cluster.kubectl("run", "web", "-n", "shop", "--image=nginx:latest", check=False)
        assert result.returncode != 0, result.stdout
        return result.stderr

    message = eventually(denied)
    assert 'admission plugin "image-policy" denied the request' in message, message
    assert 'image "nginx:latest": the :latest tag is not allowed' in message, message
    assert "is not from an allowed registry" in message, message
    cluster.kubectl("run", "web", "-n", "shop", "--image=ghcr.io/acme/web:1.4")
    # Namespaces that did not opt in are not judged.
    cluster.kubectl("run", "plain", "--image=busybox")


def test_a_typescript_plugin_from_wharf_plugin_new_tests_and_builds_for_its_world():
    work = Path(tempfile.mkdtemp(prefix="wharf-plugin-ts-"))
    folder = work / "labels"
    wharf("plugin", "new", "labels", "--lang", "ts", "--type", "admission", "--dir", str(folder))
    wharf("plugin", "test", str(folder))
    built = Path(wharf("plugin", "build", str(folder)).stdout.strip())
    assert built == folder / "build" / "labels.wasm" and built.stat().st_size > 0
