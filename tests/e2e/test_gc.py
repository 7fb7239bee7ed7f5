"""The garbage collector through kubectl: deleting an owner deletes its
dependents (background, kubectl's default, and foreground), or leaves them
without the owner's reference (`--cascade=orphan`)."""

import json

from test_node import fail
from test_plugins import eventually, get_json


def deployment(name):
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "none", "command": ["sleep", "3600"]}]}}},
    })


def names(cluster, kind, app):
    return sorted(o["metadata"]["name"] for o in get_json(cluster, kind, "-l", f"app={app}")["items"])


def created(cluster, name):
    cluster.kubectl("apply", "-f", "-", input=deployment(name))
    eventually(lambda: len(names(cluster, "pods", name)) == 2 or fail(), timeout=60)
    return names(cluster, "replicasets", name)


def test_deleting_a_deployment_deletes_its_replica_sets_and_their_pods(embedded_cluster):
    cluster = embedded_cluster
    assert len(created(cluster, "background")) == 1
    cluster.kubectl("delete", "deployment", "background")
    eventually(lambda: not names(cluster, "replicasets", "background") and not names(cluster, "pods", "background") or fail(),
               timeout=60)


def test_foreground_deletion_removes_the_dependents_before_the_owner(embedded_cluster):
    cluster = embedded_cluster
    created(cluster, "foreground")
    cluster.kubectl("delete", "deployment", "foreground", "--cascade=foreground", timeout=90)
    # kubectl waited for the Deployment to be gone: its ReplicaSet and their
    # pods went first.
    assert not names(cluster, "replicasets", "foreground")
    assert not names(cluster, "pods", "foreground")


def test_orphaned_dependents_stay_without_the_owners_reference(embedded_cluster):
    cluster = embedded_cluster
    [replica_set] = created(cluster, "orphans")
    pods = names(cluster, "pods", "orphans")
    cluster.kubectl("delete", "deployment", "orphans", "--cascade=orphan", timeout=90)
    eventually(lambda: not get_json(cluster, "deployments")["items"] or fail(), timeout=30)
    left = get_json(cluster, "replicaset", replica_set)
    assert not left["metadata"].get("ownerReferences"), left["metadata"]
    assert names(cluster, "pods", "orphans") == pods


def test_pods_bound_to_a_node_that_does_not_exist_are_collected(embedded_cluster):
    cluster = embedded_cluster
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "real"}}))
    for name, node in (("stranded", "ghost"), ("placed", "real")):
        cluster.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "none", "command": ["sleep", "3600"]}]},
        }))
    # Deleting it only marks it: no kubelet will ever finish the deletion...
    cluster.kubectl("delete", "pod", "stranded", "--wait=false")
    assert get_json(cluster, "pod", "stranded")["metadata"]["deletionTimestamp"]
    # ...so the pod garbage collector does, after its 40 s quarantine.
    eventually(lambda: cluster.kubectl("get", "pod", "stranded", check=False).returncode != 0 or fail(), timeout=120)
    assert get_json(cluster, "pod", "placed")["spec"]["nodeName"] == "real"
