"""Admission plugins in the write path, through kubectl: Pod Security
refuses a privileged pod where the namespace enforces `restricted` (with
kube's message) and warns where it warns; a plugin that loops, panics or eats
memory fails the write under failurePolicy Fail and not under Ignore, and
nothing else; denials, warnings and mutations reach the client, dry runs
included; a plugin swapped under a steady write load fails no write; a
Plugin of a type not served yet is refused with 422."""

import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import Cluster
from test_plugins import eventually, get_json, plugin_dir, plugin_status, wait_loaded, with_custom_section

PRIVILEGED_POD = """
apiVersion: v1
kind: Pod
metadata: {name: priv}
spec:
  containers:
  - name: app
    image: busybox
    command: ["sleep", "3600"]
    securityContext: {privileged: true}
"""


@pytest.fixture(scope="module")
def cluster():
    cluster = Cluster("embedded")
    yield cluster
    cluster.cleanup()


def install_reviewer(cluster, name, policy, *, mutating=False, timeout="100ms", module=None):
    """Installs the test admission plugin as `name`, reviewing ConfigMaps
    labelled policy=<policy>."""
    manifest = {
        "apiVersion": "wharf.dev/v1alpha1",
        "kind": "Plugin",
        "metadata": {"name": name},
        "spec": {
            "type": "admission",
            "module": f"file://{module or plugin_dir() / 'wharf_test_admission.wasm'}",
            "limits": {"memory": "16Mi", "callTimeout": timeout},
            "config": {
                "name": name,
                "mutating": mutating,
                "failurePolicy": "Ignore" if policy == "ignore" else "Fail",
                "objectSelector": {"matchLabels": {"policy": policy}},
            },
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    return wait_loaded(cluster, name)




def config_map(name, policy, asked):
    return json.dumps({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"policy": policy},
                     "annotations": {"test.wharf.dev/admission": asked}},
        "data": {"a": "b"},
    })


def test_pod_security_refuses_a_privileged_pod_where_restricted_and_allows_it_where_privileged(cluster):
    wait_loaded(cluster, "pod-security")
    cluster.kubectl("create", "namespace", "strict")
    cluster.kubectl("label", "namespace", "strict", "pod-security.kubernetes.io/enforce=restricted")
    refused = cluster.kubectl("apply", "-n", "strict", "-f", "-", input=PRIVILEGED_POD, check=False)
    assert refused.returncode != 0
    assert "Error from server (Forbidden)" in refused.stderr, refused.stderr
    assert ('admission plugin "pod-security" denied the request: violates PodSecurity "restricted:latest": '
            'privileged (container "app" must not set securityContext.privileged=true), '
            'allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), '
            'unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), '
            'runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), '
            'seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'
            ) in refused.stderr, refused.stderr
    assert cluster.kubectl("get", "pods", "-n", "strict", "-o", "name").stdout.strip() == ""

    cluster.kubectl("create", "namespace", "loose")
    cluster.kubectl("label", "namespace", "loose", "pod-security.kubernetes.io/enforce=privileged")
    cluster.kubectl("apply", "-n", "loose", "-f", "-", input=PRIVILEGED_POD)
    assert get_json(cluster, "pod", "priv", "-n", "loose")["spec"]["containers"][0]["securityContext"]["privileged"]
    eventually(lambda: plugin_status(cluster, "pod-security")["calls"] >= 2 or pytest.fail("not counted yet"))


def test_pod_security_warn_reaches_kubectl_as_a_warning(cluster):
    cluster.kubectl("create", "namespace", "warned")
    cluster.kubectl("label", "namespace", "warned", "pod-security.kubernetes.io/warn=baseline")
    created = cluster.kubectl("apply", "-n", "warned", "-f", "-", input=PRIVILEGED_POD)
    assert ('Warning: would violate PodSecurity "baseline:latest": privileged '
            '(container "app" must not set securityContext.privileged=true)') in created.stderr, created.stderr
    # A Deployment's template is judged by the warn level too (enforce
    # applies to the pods it would make, as in kube).
    cluster.kubectl("label", "namespace", "strict", "pod-security.kubernetes.io/warn=restricted")
    deployment = cluster.kubectl("create", "deployment", "web", "-n", "strict", "--image=busybox")
    assert 'would violate PodSecurity "restricted:latest"' in deployment.stderr, deployment.stderr


@pytest.mark.parametrize("asked,reason", [("loop", "deadline"), ("panic", "trapped"), ("oom", "memory")])
def test_a_failing_plugin_fails_the_write_under_fail_and_not_under_ignore(cluster, asked, reason):
    install_reviewer(cluster, "strict-reviewer", "fail")
    install_reviewer(cluster, "lenient-reviewer", "ignore")
    errors_before = plugin_status(cluster, "strict-reviewer").get("errors", 0)

    refused = cluster.kubectl("create", "-f", "-", input=config_map(f"{asked}-fail", "fail", asked), check=False)
    assert refused.returncode != 0
    assert "Error from server (InternalError)" in refused.stderr, refused.stderr
    assert 'failed calling admission plugin "strict-reviewer"' in refused.stderr, refused.stderr
    assert reason in refused.stderr, refused.stderr
    assert cluster.kubectl("get", "configmap", f"{asked}-fail", check=False).returncode != 0

    cluster.kubectl("create", "-f", "-", input=config_map(f"{asked}-ignore", "ignore", asked))
    assert get_json(cluster, "configmap", f"{asked}-ignore")["data"] == {"a": "b"}

    def recorded():
        status = plugin_status(cluster, "strict-reviewer")
        assert status["errors"] > errors_before and reason in status["lastError"], status
        assert status["phase"] == "Degraded", status
        lenient = plugin_status(cluster, "lenient-reviewer")
        assert lenient["errors"] > 0, lenient
    eventually(recorded)
    # Everything else runs on: other kinds, other ConfigMaps, other plugins.
    cluster.kubectl("create", "secret", "generic", f"after-{asked}", "--from-literal=k=v")
    cluster.kubectl("create", "-f", "-", input=config_map(f"{asked}-fine", "fail", "nothing"))
    refused = cluster.kubectl("apply", "-n", "strict", "-f", "-", input=PRIVILEGED_POD, check=False)
    assert "violates PodSecurity" in refused.stderr


def test_denials_warnings_and_mutations_reach_the_client_dry_run_included(cluster):
    install_reviewer(cluster, "strict-reviewer", "fail")
    install_reviewer(cluster, "labeller", "mutate", mutating=True)

    denied = cluster.kubectl("create", "-f", "-", input=config_map("denied", "fail", "deny"), check=False)
    assert "Error from server (Forbidden)" in denied.stderr, denied.stderr
    assert 'admission plugin "strict-reviewer" denied the request: denied on request' in denied.stderr

    warned = cluster.kubectl("create", "-f", "-", input=config_map("warned", "fail", "warn"))
    assert "Warning: warned on request" in warned.stderr and "(dry run)" not in warned.stderr, warned.stderr

    labelled = cluster.kubectl("create", "-f", "-", input=config_map("labelled", "mutate", "label"))
    assert "created" in labelled.stdout
    assert get_json(cluster, "configmap", "labelled")["metadata"]["labels"]["admitted-by"] == "labeller"

    # Dry run: the plugins are asked (and know it), nothing is stored.
    dry = cluster.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-",
                          input=config_map("dry-labelled", "mutate", "label"))
    assert json.loads(dry.stdout)["metadata"]["labels"]["admitted-by"] == "labeller"
    assert cluster.kubectl("get", "configmap", "dry-labelled", check=False).returncode != 0
    dry_warned = cluster.kubectl("create", "--dry-run=server", "-f", "-", input=config_map("dry-warned", "fail", "warn"))
    assert "Warning: warned on request (dry run)" in dry_warned.stderr, dry_warned.stderr
    dry_denied = cluster.kubectl("create", "--dry-run=server", "-f", "-",
                                 input=config_map("dry-denied", "fail", "deny"), check=False)
    assert "denied on request" in dry_denied.stderr, dry_denied.stderr

    # Updates and deletes are reviewed too.
    cluster.kubectl("annotate", "configmap", "warned", "--overwrite", "test.wharf.dev/admission=deny", check=False)
    assert get_json(cluster, "configmap", "warned")["metadata"]["annotations"]["test.wharf.dev/admission"] == "warn"
    deleted = cluster.kubectl("delete", "configmap", "labelled")
    assert "deleted" in deleted.stdout


def test_a_plugin_swapped_under_a_steady_write_load_fails_no_write(cluster):
    original = (plugin_dir() / "wharf_test_admission.wasm").read_bytes()
    workdir = Path(tempfile.mkdtemp(prefix="wharf-admission-swap-"))
    module = workdir / "test-admission.wasm"
    module.write_bytes(original)
    install_reviewer(cluster, "swapped", "swap", mutating=True, module=module)
    api = cluster.client()
    from kubernetes import client as k8s
    core = k8s.CoreV1Api(api)
    failures, written, stop = [], [], threading.Event()

    def writer(worker):
        index = 0
        while not stop.is_set():
            name = f"swap-{worker}-{index}"
            body = json.loads(config_map(name, "swap", "label"))
            try:
                created = core.create_namespaced_config_map("default", body)
                written.append(created.metadata.labels.get("admitted-by"))
            except Exception as error:  # noqa: BLE001 — any failed write fails the test
                failures.append(f"{name}: {error}")
            index += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    try:
        digests = set()
        for version in range(6):
            time.sleep(0.7)
            replacement = workdir / "next.wasm"
            replacement.write_bytes(with_custom_section(original, f"v{version}".encode()))
            replacement.rename(module)

            def swapped():
                status = plugin_status(cluster, "swapped")
                assert status.get("loadedDigest") not in digests, status
                return status["loadedDigest"]
            digests.add(eventually(swapped, timeout=30))
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        shutil.rmtree(workdir, ignore_errors=True)
    assert not failures, failures[:5]
    assert len(written) > 50 and all(label == "swapped" for label in written), (len(written), set(written))
    assert len(digests) == 6


def test_a_plugin_of_a_type_not_served_yet_is_refused_with_422(cluster):
    manifest = {
        "apiVersion": "wharf.dev/v1alpha1", "kind": "Plugin", "metadata": {"name": "cloud"},
        "spec": {"type": "cloud-provider", "module": "file:///nowhere.wasm"},
    }
    refused = cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest), check=False)
    assert refused.returncode != 0
    assert ('The Plugin "cloud" is invalid: spec.type: Unsupported value: "cloud-provider": '
            'plugins of type "cloud-provider" are not served by this host yet') in refused.stderr, refused.stderr
    from kubernetes import client as k8s
    custom = k8s.CustomObjectsApi(cluster.client())
    with pytest.raises(k8s.exceptions.ApiException) as refusal:
        custom.create_cluster_custom_object("wharf.dev", "v1alpha1", "plugins", manifest)
    assert refusal.value.status == 422
    assert json.loads(refusal.value.body)["reason"] == "Invalid"
