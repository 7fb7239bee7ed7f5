use serde_json::{Value, json};

use crate::{BuiltinSchema, ListStrategy, PatchError, PatchSchema, strategic_merge};

/// A patch applied to an object, and what the API server makes of it.
struct Case {
    name: &'static str,
    original: Value,
    patch: Value,
    expected: Value,
}

fn check(cases: Vec<Case>, schema: &dyn PatchSchema) {
    for case in cases {
        match strategic_merge(&case.original, &case.patch, schema) {
            Ok(patched) => assert_eq!(
                patched, case.expected,
                "{}:\n got {patched:#}\nwant {:#}",
                case.name, case.expected
            ),
            Err(error) => panic!("{}: unexpected error: {error}", case.name),
        }
    }
}

/// A Deployment with these containers, as the API server stores it.
fn deployment(containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                "spec": {"containers": containers, "restartPolicy": "Always"}
            }
        }
    })
}

fn app() -> Value {
    json!({"name": "app", "image": "busybox:1.36", "command": ["sleep", "3600"]})
}

fn sidecar() -> Value {
    json!({"name": "sidecar", "image": "envoy:1.30"})
}

/// `{"spec": {"template": {"spec": template_spec}}}`
fn template_spec_patch(template_spec: Value) -> Value {
    json!({"spec": {"template": {"spec": template_spec}}})
}

#[test]
fn kubectl_apply_patches_merge_as_the_api_server_merges_them() {
    let cases = vec![
        Case {
            name: "kubectl apply changes the image and keeps the command",
            original: deployment(json!([app()])),
            patch: json!({
                "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}},
                "spec": {"replicas": 2, "template": {"spec": {
                    "$setElementOrder/containers": [{"name": "app"}],
                    "containers": [{"image": "busybox:1.37", "name": "app"}]
                }}}
            }),
            expected: {
                let mut expected = deployment(json!([
                    {"name": "app", "image": "busybox:1.37", "command": ["sleep", "3600"]}
                ]));
                expected["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
                    json!("{}\n");
                expected["spec"]["replicas"] = json!(2);
                expected
            },
        },
        Case {
            name: "kubectl apply adds a container where $setElementOrder puts it",
            original: deployment(json!([app()])),
            patch: template_spec_patch(json!({
                "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
                "containers": [sidecar()]
            })),
            expected: deployment(json!([app(), sidecar()])),
        },
        Case {
            name: "kubectl apply removes a container with a $patch delete item",
            original: deployment(json!([app(), sidecar()])),
            patch: template_spec_patch(json!({
                "$setElementOrder/containers": [{"name": "app"}],
                "containers": [{"$patch": "delete", "name": "sidecar"}]
            })),
            expected: deployment(json!([app()])),
        },
        Case {
            name: "kubectl apply switches a deployment from RollingUpdate to Recreate with $retainKeys",
            original: deployment(json!([app()])),
            patch: json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}}),
            expected: {
                let mut expected = deployment(json!([app()]));
                expected["spec"]["strategy"] = json!({"type": "Recreate"});
                expected
            },
        },
        Case {
            name: "kubectl scale sets the replicas",
            original: deployment(json!([app()])),
            patch: json!({"spec": {"replicas": 5}}),
            expected: {
                let mut expected = deployment(json!([app()]));
                expected["spec"]["replicas"] = json!(5);
                expected
            },
        },
        Case {
            name: "kubectl label adds a label and removes another",
            original: json!({"metadata": {"name": "p", "labels": {"app": "web", "tier": "front"}}}),
            patch: json!({"metadata": {"labels": {"tier": null, "env": "prod"}}}),
            expected: json!({"metadata": {"name": "p", "labels": {"app": "web", "env": "prod"}}}),
        },
    ];
    check(cases, &BuiltinSchema);
}

#[test]
fn lists_merged_by_key_match_items_and_order_them_as_the_api_server_does() {
    let cases = vec![
        Case {
            name: "a matched container merges field by field",
            original: deployment(json!([app(), sidecar()])),
            patch: template_spec_patch(
                json!({"containers": [{"name": "sidecar", "args": ["-v"]}]}),
            ),
            expected: deployment(
                json!([app(), {"name": "sidecar", "image": "envoy:1.30", "args": ["-v"]}]),
            ),
        },
        Case {
            name: "a container added without $setElementOrder goes first",
            original: deployment(json!([app()])),
            patch: template_spec_patch(json!({"containers": [sidecar()]})),
            expected: deployment(json!([sidecar(), app()])),
        },
        Case {
            name: "a $patch delete item removes the matching container",
            original: deployment(json!([app(), sidecar()])),
            patch: template_spec_patch(
                json!({"containers": [{"name": "app", "$patch": "delete"}]}),
            ),
            expected: deployment(json!([sidecar()])),
        },
        Case {
            name: "a $patch delete item matching nothing changes nothing",
            original: deployment(json!([app()])),
            patch: template_spec_patch(
                json!({"containers": [{"name": "ghost", "$patch": "delete"}]}),
            ),
            expected: deployment(json!([app()])),
        },
        Case {
            name: "a $patch replace item replaces the whole list with the other items",
            original: deployment(json!([app(), sidecar()])),
            patch: template_spec_patch(
                json!({"containers": [{"$patch": "replace"}, {"name": "new", "image": "nginx"}]}),
            ),
            expected: deployment(json!([{"name": "new", "image": "nginx"}])),
        },
        Case {
            name: "$setElementOrder alone reorders the live list",
            original: deployment(json!([app(), sidecar()])),
            patch: template_spec_patch(
                json!({"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]}),
            ),
            expected: deployment(json!([sidecar(), app()])),
        },
        Case {
            name: "$setElementOrder orders a list the object did not have",
            original: deployment(json!([app()])),
            patch: template_spec_patch(json!({
                "$setElementOrder/initContainers": [{"name": "b"}, {"name": "a"}],
                "initContainers": [{"name": "b", "image": "x"}, {"name": "a", "image": "y"}]
            })),
            expected: {
                let mut expected = deployment(json!([app()]));
                expected["spec"]["template"]["spec"]["initContainers"] =
                    json!([{"name": "b", "image": "x"}, {"name": "a", "image": "y"}]);
                expected
            },
        },
        Case {
            name: "an item only the server has keeps its place before the items it preceded",
            original: deployment(json!([{"name": "a"}, {"name": "x"}, {"name": "b"}])),
            patch: template_spec_patch(
                json!({"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}),
            ),
            expected: deployment(json!([{"name": "x"}, {"name": "b"}, {"name": "a"}])),
        },
        Case {
            name: "env merges by name within a container",
            original: deployment(
                json!([{"name": "app", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]),
            ),
            patch: template_spec_patch(
                json!({"containers": [{"name": "app", "env": [{"name": "B", "value": "3"}]}]}),
            ),
            expected: deployment(
                json!([{"name": "app", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]}]),
            ),
        },
        Case {
            name: "container ports merge by containerPort",
            original: deployment(
                json!([{"name": "app", "ports": [{"containerPort": 80, "name": "http"}]}]),
            ),
            patch: template_spec_patch(json!({"containers": [{"name": "app", "ports": [
                {"containerPort": 80, "protocol": "TCP"},
                {"containerPort": 9090, "name": "metrics"}
            ]}]})),
            expected: deployment(json!([{"name": "app", "ports": [
                {"containerPort": 80, "name": "http", "protocol": "TCP"},
                {"containerPort": 9090, "name": "metrics"}
            ]}])),
        },
        Case {
            name: "service ports merge by port",
            original: json!({"kind": "Service", "spec": {"ports": [
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "https", "port": 443, "targetPort": 8443}
            ]}}),
            patch: json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
            expected: json!({"kind": "Service", "spec": {"ports": [
                {"name": "http", "port": 80, "targetPort": 9090},
                {"name": "https", "port": 443, "targetPort": 8443}
            ]}}),
        },
        Case {
            name: "volumes merge by name and honour $retainKeys in an item",
            original: json!({"spec": {"volumes": [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]}}),
            patch: json!({"spec": {"volumes": [{"$retainKeys": ["configMap", "name"], "name": "data", "configMap": {"name": "cfg"}}]}}),
            expected: json!({"spec": {"volumes": [{"name": "data", "configMap": {"name": "cfg"}}, {"name": "tmp", "emptyDir": {}}]}}),
        },
        Case {
            name: "owner references merge by uid",
            original: json!({"metadata": {"ownerReferences": [{"uid": "1", "kind": "ReplicaSet", "name": "rs"}]}}),
            patch: json!({"metadata": {"ownerReferences": [{"uid": "1", "controller": true}]}}),
            expected: json!({"metadata": {"ownerReferences": [{"uid": "1", "kind": "ReplicaSet", "name": "rs", "controller": true}]}}),
        },
        Case {
            name: "status conditions merge by type",
            original: json!({"status": {"conditions": [
                {"type": "Ready", "status": "False"},
                {"type": "PodScheduled", "status": "True"}
            ]}}),
            patch: json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
            expected: json!({"status": {"conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "PodScheduled", "status": "True"}
            ]}}),
        },
        Case {
            name: "$patch delete items for a list the object lacks are dropped",
            original: json!({"spec": {}}),
            patch: json!({"spec": {"containers": [{"name": "a"}, {"name": "b", "$patch": "delete"}]}}),
            expected: json!({"spec": {"containers": [{"name": "a"}]}}),
        },
    ];
    check(cases, &BuiltinSchema);
}

#[test]
fn finalizers_merge_as_a_set() {
    let cases = vec![
        Case {
            name: "the union keeps live finalizers first when the patch repeats one",
            original: json!({"metadata": {"finalizers": ["a", "b"]}}),
            patch: json!({"metadata": {"finalizers": ["b", "c"]}}),
            expected: json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
        },
        Case {
            name: "a finalizer new to the list goes first",
            original: json!({"metadata": {"finalizers": ["a"]}}),
            patch: json!({"metadata": {"finalizers": ["b"]}}),
            expected: json!({"metadata": {"finalizers": ["b", "a"]}}),
        },
        Case {
            name: "$deleteFromPrimitiveList removes finalizers",
            original: json!({"metadata": {"finalizers": ["a", "b", "c", "b"]}}),
            patch: json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
            expected: json!({"metadata": {"finalizers": ["a", "c"]}}),
        },
        Case {
            name: "$deleteFromPrimitiveList on a missing list adds nothing",
            original: json!({"metadata": {"name": "p"}}),
            patch: json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
            expected: json!({"metadata": {"name": "p"}}),
        },
        Case {
            name: "$setElementOrder and $deleteFromPrimitiveList together, as kubectl apply sends them",
            original: json!({"metadata": {"finalizers": ["a", "b", "c", "x"]}}),
            patch: json!({"metadata": {
                "$setElementOrder/finalizers": ["c", "a", "d"],
                "$deleteFromPrimitiveList/finalizers": ["b"],
                "finalizers": ["d"]
            }}),
            expected: json!({"metadata": {"finalizers": ["c", "a", "d", "x"]}}),
        },
    ];
    check(cases, &BuiltinSchema);
}

#[test]
fn maps_merge_key_by_key() {
    let cases = vec![
        Case {
            name: "null deletes a map key",
            original: json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
            patch: json!({"metadata": {"labels": {"b": null}}}),
            expected: json!({"metadata": {"labels": {"a": "1"}}}),
        },
        Case {
            name: "null for a key the object lacks is ignored",
            original: json!({"metadata": {"labels": {"a": "1"}}}),
            patch: json!({"metadata": {"labels": {"c": null}, "annotations": null}}),
            expected: json!({"metadata": {"labels": {"a": "1"}}}),
        },
        Case {
            name: "nulls inside a new map are dropped",
            original: json!({"spec": {}}),
            patch: json!({"spec": {"securityContext": {"runAsUser": 1000, "fsGroup": null}}}),
            expected: json!({"spec": {"securityContext": {"runAsUser": 1000}}}),
        },
        Case {
            name: "nulls already in the live object stay",
            original: json!({"metadata": {"creationTimestamp": null}, "spec": {"replicas": 1}}),
            patch: json!({"spec": {"replicas": 2}}),
            expected: json!({"metadata": {"creationTimestamp": null}, "spec": {"replicas": 2}}),
        },
        Case {
            name: "$patch replace replaces the whole map",
            original: json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
            patch: json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}}),
            expected: json!({"metadata": {"labels": {"c": "3"}}}),
        },
        Case {
            name: "$patch delete leaves an empty map",
            original: json!({"metadata": {"name": "p", "labels": {"a": "1"}}}),
            patch: json!({"metadata": {"labels": {"$patch": "delete"}}}),
            expected: json!({"metadata": {"name": "p", "labels": {}}}),
        },
        Case {
            name: "$patch replace at the root replaces the object",
            original: json!({"a": 1, "b": {"c": 2}}),
            patch: json!({"$patch": "replace", "d": 3}),
            expected: json!({"d": 3}),
        },
        Case {
            name: "a map carrying $patch for a key the object lacks adds nothing",
            original: json!({"metadata": {"name": "p"}}),
            patch: json!({"metadata": {"labels": {"$patch": "replace", "a": "1"}}}),
            expected: json!({"metadata": {"name": "p"}}),
        },
        Case {
            name: "a value of another type replaces the live one",
            original: json!({"spec": {"replicas": 1, "selector": "old"}}),
            patch: json!({"spec": {"replicas": "2", "selector": {"matchLabels": {"app": "web"}}}}),
            expected: json!({"spec": {"replicas": "2", "selector": {"matchLabels": {"app": "web"}}}}),
        },
        Case {
            name: "directives inside new list items do not reach the result",
            original: json!({"spec": {"containers": [{"name": "app"}]}}),
            patch: json!({"spec": {"containers": [{"name": "new", "env": [{"name": "A", "value": null}],
                "$setElementOrder/env": [{"name": "A"}]}]}}),
            expected: json!({"spec": {"containers": [{"name": "new", "env": [{"name": "A"}]}, {"name": "app"}]}}),
        },
        Case {
            name: "a null patch changes nothing",
            original: json!({"a": 1}),
            patch: Value::Null,
            expected: json!({"a": 1}),
        },
    ];
    check(cases, &BuiltinSchema);
}

#[test]
fn atomic_lists_are_replaced_whole() {
    let cases = vec![
        Case {
            name: "tolerations are replaced",
            original: json!({"spec": {"tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]}}),
            patch: json!({"spec": {"tolerations": [{"key": "c", "operator": "Exists"}]}}),
            expected: json!({"spec": {"tolerations": [{"key": "c", "operator": "Exists"}]}}),
        },
        Case {
            name: "a container's args are replaced",
            original: deployment(json!([{"name": "app", "args": ["a", "b"]}])),
            patch: template_spec_patch(json!({"containers": [{"name": "app", "args": ["c"]}]})),
            expected: deployment(json!([{"name": "app", "args": ["c"]}])),
        },
        Case {
            name: "$deleteFromPrimitiveList also removes from an atomic list",
            original: deployment(json!([{"name": "app", "args": ["a", "b", "c"]}])),
            patch: template_spec_patch(
                json!({"containers": [{"name": "app", "$deleteFromPrimitiveList/args": ["b"]}]}),
            ),
            expected: deployment(json!([{"name": "app", "args": ["a", "c"]}])),
        },
        Case {
            name: "$setElementOrder reorders an atomic list of scalars",
            original: deployment(json!([{"name": "app", "args": ["a", "b"]}])),
            patch: template_spec_patch(
                json!({"containers": [{"name": "app", "$setElementOrder/args": ["b", "a"]}]}),
            ),
            expected: deployment(json!([{"name": "app", "args": ["b", "a"]}])),
        },
    ];
    check(cases, &BuiltinSchema);
}

/// The field names of apimachinery's own strategic patch tests.
struct MergeItemSchema;

impl PatchSchema for MergeItemSchema {
    fn list_strategy(&self, _path: &[&str], field: &str) -> ListStrategy {
        match field {
            "mergingList" | "retainKeysMergingList" | "mergeItemPtr" => {
                ListStrategy::MergeByKey("name")
            }
            "mergingIntList" => ListStrategy::MergeSet,
            _ => ListStrategy::Atomic,
        }
    }
}

#[test]
fn apimachinery_test_vectors_give_the_same_results() {
    let cases = vec![
        Case {
            name: "unique scalars when merging lists",
            original: json!({"mergingIntList": [1, 2]}),
            patch: json!({"mergingIntList": [2, 3]}),
            expected: json!({"mergingIntList": [1, 2, 3]}),
        },
        Case {
            name: "delete all items from merging list",
            original: json!({"mergingList": [{"name": 1}, {"name": 2}]}),
            patch: json!({"mergingList": [{"$patch": "replace"}]}),
            expected: json!({"mergingList": []}),
        },
        Case {
            name: "merge empty merging lists",
            original: json!({"mergingList": []}),
            patch: json!({"mergingList": []}),
            expected: json!({"mergingList": []}),
        },
        Case {
            name: "add key and delete all keys from map",
            original: json!({"name": 1, "value": 1}),
            patch: json!({"other": "a", "$patch": "replace"}),
            expected: json!({"other": "a"}),
        },
        Case {
            name: "delete all duplicate entries in a merging list",
            original: json!({"mergingList": [{"name": 1}, {"name": 1}, {"name": 2, "value": "a"}, {"name": 3}, {"name": 3}]}),
            patch: json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 3, "$patch": "delete"}]}),
            expected: json!({"mergingList": [{"name": 2, "value": "a"}]}),
        },
        Case {
            name: "retainKeys list can delete a field when no retainKeys directive present",
            original: json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo", "value": "a"}]}),
            patch: json!({"retainKeysMergingList": [{"name": "foo", "value": null}]}),
            expected: json!({"retainKeysMergingList": [{"name": "bar"}, {"name": "foo"}]}),
        },
        Case {
            name: "preserve the order from the patch in a merging list",
            original: json!({"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]}),
            patch: json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}, {"name": 2, "other": "x"}]}),
            expected: json!({"mergingList": [
                {"name": 3, "value": "c"}, {"name": 1, "value": "a"}, {"name": 2, "value": "b", "other": "x"}
            ]}),
        },
        Case {
            name: "preserve the order from the patch in a merging list 2",
            original: json!({"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]}),
            patch: json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}]}),
            expected: json!({"mergingList": [{"name": 2, "value": "b"}, {"name": 3, "value": "c"}, {"name": 1, "value": "a"}]}),
        },
        Case {
            name: "preserve the order from the patch in a merging int list",
            original: json!({"mergingIntList": [1, 2, 3]}),
            patch: json!({"mergingIntList": [3, 1]}),
            expected: json!({"mergingIntList": [2, 3, 1]}),
        },
        Case {
            name: "$setElementOrder contains item that is not present in the list to be merged",
            original: json!({"mergingList": [{"name": 1}, {"name": 3}]}),
            patch: json!({
                "$setElementOrder/mergingList": [{"name": 3}, {"name": 2}, {"name": 1}],
                "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]
            }),
            expected: json!({"mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]}),
        },
        Case {
            name: "$setElementOrder contains item that is not present in the int list to be merged",
            original: json!({"mergingIntList": [1, 3]}),
            patch: json!({"$setElementOrder/mergingIntList": [3, 2, 1]}),
            expected: json!({"mergingIntList": [3, 1]}),
        },
        Case {
            name: "$deleteFromPrimitiveList of nonexistent item in primitive list should not add the item to the list",
            original: json!({"mergingIntList": [1, 2]}),
            patch: json!({"$deleteFromPrimitiveList/mergingIntList": [3]}),
            expected: json!({"mergingIntList": [1, 2]}),
        },
        Case {
            name: "$deleteFromPrimitiveList on empty primitive list should not add the item to the list",
            original: json!({"mergingIntList": null}),
            patch: json!({"$deleteFromPrimitiveList/mergingIntList": [3]}),
            expected: json!({"mergingIntList": null}),
        },
        Case {
            name: "$deleteFromPrimitiveList should delete item from a list without merge patch strategy",
            original: json!({"nonMergingIntList": [1, 2, 3]}),
            patch: json!({"$deleteFromPrimitiveList/nonMergingIntList": [2]}),
            expected: json!({"nonMergingIntList": [1, 3]}),
        },
        Case {
            name: "nested patch merge with empty list",
            original: json!({"name": "hi"}),
            patch: json!({"mergingList": [{"name": "hello"}, {"$patch": "delete", "name": "doesntexist"}]}),
            expected: json!({"name": "hi", "mergingList": [{"name": "hello"}]}),
        },
        Case {
            name: "delete items in lists of scalars",
            original: json!({"mergingIntList": [1, 2, 3, 4]}),
            patch: json!({"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]}),
            expected: json!({"mergingIntList": [1, 2, 4]}),
        },
        Case {
            name: "delete all duplicate items in lists of scalars",
            original: json!({"mergingIntList": [1, 2, 3, 3, 4]}),
            patch: json!({"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]}),
            expected: json!({"mergingIntList": [1, 2, 4]}),
        },
        Case {
            name: "add and delete items in lists of scalars",
            original: json!({"mergingIntList": [1, 2, 3, 4]}),
            patch: json!({
                "$setElementOrder/mergingIntList": [1, 2, 4],
                "$deleteFromPrimitiveList/mergingIntList": [3],
                "mergingIntList": [4]
            }),
            expected: json!({"mergingIntList": [1, 2, 4]}),
        },
        Case {
            name: "merge lists of maps",
            original: json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
            patch: json!({
                "$setElementOrder/mergingList": [{"name": 4}, {"name": 1}, {"name": 2}, {"name": 3}],
                "mergingList": [{"name": 4, "value": 4}, {"name": 3, "value": 3}]
            }),
            expected: json!({"mergingList": [
                {"name": 4, "value": 4}, {"name": 1, "other": "a"},
                {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}
            ]}),
        },
        Case {
            name: "add field to map in merging list with conflict",
            original: json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 3, "value": 2, "other": "b"}]}),
            patch: json!({
                "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
                "mergingList": [{"name": 1, "value": 1}, {"name": 2, "value": 2}]
            }),
            expected: json!({"mergingList": [
                {"name": 1, "value": 1, "other": "a"}, {"name": 2, "value": 2}, {"name": 3, "value": 2, "other": "b"}
            ]}),
        },
        Case {
            name: "delete missing map from merging list with conflict",
            original: json!({"mergingList": [{"name": 3, "other": "a"}]}),
            patch: json!({
                "$setElementOrder/mergingList": [{"name": 2}],
                "mergingList": [{"name": 2}, {"name": 1, "$patch": "delete"}]
            }),
            expected: json!({"mergingList": [{"name": 2}, {"name": 3, "other": "a"}]}),
        },
        Case {
            name: "add map and delete map from merging list",
            original: json!({"mergingList": [{"name": 1}, {"name": 2, "other": "b"}, {"name": 4, "other": "c"}]}),
            patch: json!({
                "$setElementOrder/mergingList": [{"name": 2}, {"name": 3}],
                "mergingList": [{"name": 3}, {"name": 1, "$patch": "delete"}]
            }),
            expected: json!({"mergingList": [{"name": 2, "other": "b"}, {"name": 4, "other": "c"}, {"name": 3}]}),
        },
        Case {
            name: "add map and delete map from merging list with conflict",
            original: json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 4, "other": "c"}]}),
            patch: json!({
                "$setElementOrder/mergingList": [{"name": 2}, {"name": 3}],
                "mergingList": [{"name": 2}, {"name": 3}, {"name": 1, "$patch": "delete"}]
            }),
            expected: json!({"mergingList": [{"name": 4, "other": "c"}, {"name": 2}, {"name": 3}]}),
        },
        Case {
            name: "add field to map in merging list nested in merging list with deletion conflict",
            original: json!({"mergingList": [
                {"name": 1, "other": "a", "mergingList": [{"name": 2, "value": 2, "other": "d"}]},
                {"name": 2, "other": "b"}
            ]}),
            patch: json!({
                "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}],
                "mergingList": [{
                    "$setElementOrder/mergingList": [{"name": 2}, {"name": 1}],
                    "name": 1,
                    "mergingList": [{"name": 1, "value": 1}]
                }]
            }),
            expected: json!({"mergingList": [
                {"name": 1, "other": "a", "mergingList": [{"name": 2, "value": 2, "other": "d"}, {"name": 1, "value": 1}]},
                {"name": 2, "other": "b"}
            ]}),
        },
        Case {
            name: "add map to merging list by pointer",
            original: json!({"mergeItemPtr": [{"name": 1, "other": "a"}, {"name": 3}]}),
            patch: json!({"$setElementOrder/mergeItemPtr": [{"name": 1}, {"name": 2}], "mergeItemPtr": [{"name": 2}]}),
            expected: json!({"mergeItemPtr": [{"name": 1, "other": "a"}, {"name": 2}, {"name": 3}]}),
        },
        Case {
            name: "merge lists of scalars",
            original: json!({"mergingIntList": [1, 2, 4]}),
            patch: json!({"$setElementOrder/mergingIntList": [1, 2, 3], "mergingIntList": [3]}),
            expected: json!({"mergingIntList": [1, 2, 3, 4]}),
        },
        Case {
            name: "add an item in a list of primitives and preserve order",
            original: json!({"mergingIntList": [1, 4, 2]}),
            patch: json!({"$setElementOrder/mergingIntList": [3, 1, 2], "mergingIntList": [3]}),
            expected: json!({"mergingIntList": [3, 1, 4, 2]}),
        },
        Case {
            name: "add and delete an item in a list and preserve order",
            original: json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3}]}),
            patch: json!({
                "$setElementOrder/mergingList": [{"name": 4}, {"name": 2}, {"name": 1}],
                "mergingList": [{"name": 4, "value": 4}, {"name": 3, "$patch": "delete"}]
            }),
            expected: json!({"mergingList": [
                {"name": 4, "value": 4}, {"name": 2, "value": 2, "other": "b"}, {"name": 1, "other": "a"}
            ]}),
        },
        Case {
            name: "set elements order in a list with server-only items 3",
            original: json!({"mergingList": [
                {"name": 1, "other": "a"}, {"name": 2, "value": 2}, {"name": 7}, {"name": 9}, {"name": 8},
                {"name": 3, "value": 3}, {"name": 4, "value": 4}
            ]}),
            patch: json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 1}, {"name": 4}, {"name": 3}]}),
            expected: json!({"mergingList": [
                {"name": 2, "value": 2}, {"name": 1, "other": "a"}, {"name": 7}, {"name": 9}, {"name": 8},
                {"name": 4, "value": 4}, {"name": 3, "value": 3}
            ]}),
        },
        Case {
            name: "set elements order in a int list with server-only items 2",
            original: json!({"mergingIntList": [1, 2, 9, 3, 4]}),
            patch: json!({"$setElementOrder/mergingIntList": [2, 1, 4, 3]}),
            expected: json!({"mergingIntList": [2, 1, 9, 4, 3]}),
        },
        Case {
            name: "add and delete an item in a int list and preserve order",
            original: json!({"mergingIntList": [1, 2, 3]}),
            patch: json!({
                "$setElementOrder/mergingIntList": [4, 2, 1],
                "mergingIntList": [4],
                "$deleteFromPrimitiveList/mergingIntList": [3]
            }),
            expected: json!({"mergingIntList": [4, 2, 1]}),
        },
        Case {
            name: "behavior of set element order for a merging list with duplicate",
            original: json!({"mergingList": [
                {"name": 1}, {"name": 2, "value": "dup1"}, {"name": 3}, {"name": 2, "value": "dup2"}, {"name": 4}
            ]}),
            patch: json!({"$setElementOrder/mergingList": [{"name": 2}, {"name": 1}, {"name": 4}, {"name": 3}, {"name": 2}]}),
            expected: json!({"mergingList": [
                {"name": 2, "value": "dup1"}, {"name": 2, "value": "dup2"}, {"name": 1}, {"name": 4}, {"name": 3}
            ]}),
        },
        Case {
            name: "behavior of set element order for a merging int list with duplicate",
            original: json!({"mergingIntList": [1, 2, 3, 2, 4]}),
            patch: json!({"$setElementOrder/mergingIntList": [2, 1, 4, 3, 2]}),
            expected: json!({"mergingIntList": [2, 2, 1, 4, 3]}),
        },
        Case {
            name: "retainKeys map should clear defaulted field with conflict (discriminated union)",
            original: json!({"retainKeysMap": {"name": "type1", "value": "foo"}}),
            patch: json!({"retainKeysMap": {"$retainKeys": ["name", "other"], "name": "type2", "other": "bar"}}),
            expected: json!({"retainKeysMap": {"name": "type2", "other": "bar"}}),
        },
        Case {
            name: "retainKeys map clears a field",
            original: json!({"retainKeysMap": {"name": "foo", "value": "bar", "other": "a"}}),
            patch: json!({"retainKeysMap": {"$retainKeys": ["name", "value"]}}),
            expected: json!({"retainKeysMap": {"name": "foo", "value": "bar"}}),
        },
        Case {
            name: "retainKeys map deletes a field in a nested map",
            original: json!({"retainKeysMap": {"name": "foo", "value": "bar", "simpleMap": {"key1": "a", "key2": "b", "key3": "c"}}}),
            patch: json!({"retainKeysMap": {"$retainKeys": ["name", "simpleMap", "value"], "simpleMap": {"key2": null}}}),
            expected: json!({"retainKeysMap": {"name": "foo", "value": "bar", "simpleMap": {"key1": "a", "key3": "c"}}}),
        },
    ];
    check(cases, &MergeItemSchema);
}

/// A malformed patch, and the error it must give.
struct ErrorCase {
    name: &'static str,
    original: Value,
    patch: Value,
    is_expected: fn(&PatchError) -> bool,
}

#[test]
fn malformed_patches_are_errors_naming_what_is_wrong() {
    let pod = json!({"metadata": {"name": "p", "finalizers": ["a"]}, "spec": {"containers": [{"name": "app"}]}});
    let cases = vec![
        ErrorCase {
            name: "a patch that is a list",
            original: pod.clone(),
            patch: json!([{"op": "replace", "path": "/spec", "value": {}}]),
            is_expected: |e| matches!(e, PatchError::PatchNotObject { found: "a list" }),
        },
        ErrorCase {
            name: "a patch that is a string",
            original: pod.clone(),
            patch: json!("spec"),
            is_expected: |e| matches!(e, PatchError::PatchNotObject { .. }),
        },
        ErrorCase {
            name: "an object that is a number",
            original: json!(3),
            patch: json!({}),
            is_expected: |e| matches!(e, PatchError::OriginalNotObject { .. }),
        },
        ErrorCase {
            name: "$deleteFromPrimitiveList on a map",
            original: json!({"metadata": {"name": "p", "labels": {"a": "1"}}}),
            patch: json!({"metadata": {"$deleteFromPrimitiveList/labels": ["a"]}}),
            is_expected: |e| matches!(e, PatchError::BadPrimitiveList { path } if path == "metadata.labels"),
        },
        ErrorCase {
            name: "$deleteFromPrimitiveList whose value is not a list",
            original: pod.clone(),
            patch: json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
            is_expected: |e| matches!(e, PatchError::BadPrimitiveList { path } if path == "metadata.finalizers"),
        },
        ErrorCase {
            name: "a map $patch directive that is not replace or delete",
            original: pod.clone(),
            patch: json!({"metadata": {"$patch": "remove"}}),
            is_expected: |e| matches!(e, PatchError::BadMapDirective { path, .. } if path == "metadata"),
        },
        ErrorCase {
            name: "a map $patch merge directive, which the API server rejects too",
            original: pod.clone(),
            patch: json!({"$patch": "merge"}),
            is_expected: |e| matches!(e, PatchError::BadMapDirective { path, .. } if path == "<root>"),
        },
        ErrorCase {
            name: "a map $patch directive that is not a string",
            original: pod.clone(),
            patch: json!({"spec": {"$patch": null}}),
            is_expected: |e| matches!(e, PatchError::BadMapDirective { .. }),
        },
        ErrorCase {
            name: "a list item $patch directive that is unknown",
            original: pod.clone(),
            patch: json!({"spec": {"containers": [{"name": "app", "$patch": "remove"}]}}),
            is_expected: |e| matches!(e, PatchError::BadListDirective { path, .. } if path == "spec.containers"),
        },
        ErrorCase {
            name: "a list item $patch merge directive",
            original: pod.clone(),
            patch: json!({"spec": {"containers": [{"$patch": "merge"}]}}),
            is_expected: |e| matches!(e, PatchError::ListMergeDirective { .. }),
        },
        ErrorCase {
            name: "a container without its merge key",
            original: pod.clone(),
            patch: json!({"spec": {"containers": [{"image": "nginx"}]}}),
            is_expected: |e| matches!(e, PatchError::MissingMergeKey { path, key } if path == "spec.containers" && key == "name"),
        },
        ErrorCase {
            name: "a $patch delete item without its merge key",
            original: pod.clone(),
            patch: json!({"spec": {"containers": [{"$patch": "delete"}]}}),
            is_expected: |e| matches!(e, PatchError::MissingMergeKey { .. }),
        },
        ErrorCase {
            name: "a container that is a string",
            original: pod.clone(),
            patch: json!({"spec": {"containers": ["app"]}}),
            is_expected: |e| matches!(e, PatchError::MixedListItems { .. }),
        },
        ErrorCase {
            name: "containers given as strings on both sides",
            original: json!({"spec": {"containers": ["a"]}}),
            patch: json!({"spec": {"containers": ["b"]}}),
            is_expected: |e| {
                matches!(
                    e,
                    PatchError::ListItemNotObject {
                        found: "a string",
                        ..
                    }
                )
            },
        },
        ErrorCase {
            name: "a $setElementOrder that is not a list",
            original: pod.clone(),
            patch: json!({"spec": {"$setElementOrder/containers": {"name": "app"}}}),
            is_expected: |e| matches!(e, PatchError::DirectiveNotList { directive, .. } if directive == "$setElementOrder/containers"),
        },
        ErrorCase {
            name: "a $setElementOrder whose order the patch list contradicts",
            original: pod.clone(),
            patch: json!({"spec": {
                "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                "containers": [{"name": "b"}, {"name": "a"}]
            }}),
            is_expected: |e| matches!(e, PatchError::SetElementOrderMismatch { path } if path == "spec.containers"),
        },
        ErrorCase {
            name: "a $setElementOrder item without its merge key",
            original: pod.clone(),
            patch: json!({"spec": {"$setElementOrder/containers": [{"image": "x"}]}}),
            is_expected: |e| matches!(e, PatchError::MissingMergeKey { .. }),
        },
        ErrorCase {
            name: "a $setElementOrder for a field that is not a list",
            original: pod.clone(),
            patch: json!({"$setElementOrder/metadata": [{"name": "p"}]}),
            is_expected: |e| matches!(e, PatchError::NotAList { path, found: "an object" } if path == "metadata"),
        },
        ErrorCase {
            name: "a $setElementOrder over lists with no items",
            original: json!({"metadata": {"finalizers": []}}),
            patch: json!({"metadata": {"$setElementOrder/finalizers": ["a"]}}),
            is_expected: |e| matches!(e, PatchError::NothingToOrder { .. }),
        },
        ErrorCase {
            name: "a $setElementOrder key without a field",
            original: pod.clone(),
            patch: json!({"spec": {"$setElementOrdercontainers": []}}),
            is_expected: |e| {
                matches!(
                    e,
                    PatchError::MalformedDirectiveKey {
                        prefix: "$setElementOrder",
                        ..
                    }
                )
            },
        },
        ErrorCase {
            name: "a $deleteFromPrimitiveList key without a field",
            original: pod.clone(),
            patch: json!({"metadata": {"$deleteFromPrimitiveList": ["a"]}}),
            is_expected: |e| matches!(e, PatchError::MalformedDirectiveKey { key, .. } if key == "$deleteFromPrimitiveList"),
        },
        ErrorCase {
            name: "a $retainKeys that is not a list",
            original: pod.clone(),
            patch: json!({"spec": {"$retainKeys": "containers"}}),
            is_expected: |e| matches!(e, PatchError::DirectiveNotList { directive, .. } if directive == "$retainKeys"),
        },
        ErrorCase {
            name: "a field set next to a $retainKeys that does not list it",
            original: deployment(json!([app()])),
            patch: json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
            is_expected: |e| matches!(e, PatchError::FieldNotInRetainKeys { path, field } if path == "spec.strategy" && field == "rollingUpdate"),
        },
        ErrorCase {
            name: "finalizers mixing strings and numbers",
            original: pod.clone(),
            patch: json!({"metadata": {"finalizers": [1]}}),
            is_expected: |e| matches!(e, PatchError::MixedListItems { path } if path == "metadata.finalizers"),
        },
        ErrorCase {
            name: "finalizers holding lists",
            original: json!({"metadata": {"finalizers": [["a"]]}}),
            patch: json!({"metadata": {"finalizers": [["b"]]}}),
            is_expected: |e| matches!(e, PatchError::ListOfLists { .. }),
        },
        ErrorCase {
            name: "finalizers holding objects, which have no merge key",
            original: json!({"metadata": {"finalizers": [{"a": 1}]}}),
            patch: json!({"metadata": {"finalizers": [{"b": 1}]}}),
            is_expected: |e| matches!(e, PatchError::NoMergeKey { .. }),
        },
    ];
    for case in cases {
        match strategic_merge(&case.original, &case.patch, &BuiltinSchema) {
            Ok(patched) => panic!("{}: expected an error, got {patched}", case.name),
            Err(error) => assert!(
                (case.is_expected)(&error),
                "{}: unexpected error {error:?}",
                case.name
            ),
        }
    }
}

#[test]
fn errors_read_as_sentences_naming_the_place() {
    let error = strategic_merge(
        &json!({"spec": {"containers": [{"name": "app"}]}}),
        &json!({"spec": {"containers": [{"image": "nginx"}]}}),
        &BuiltinSchema,
    )
    .err()
    .map(|error| error.to_string());
    assert_eq!(
        error.as_deref(),
        Some("an item of the list at spec.containers does not contain its merge key \"name\"")
    );
}

/// A small deterministic generator of JSON documents that look enough like
/// Kubernetes objects and patches to reach every merge path.
struct Generator(u64);

impl Generator {
    const FIELDS: &'static [&'static str] = &[
        "spec",
        "metadata",
        "template",
        "status",
        "containers",
        "initContainers",
        "name",
        "image",
        "ports",
        "containerPort",
        "port",
        "env",
        "value",
        "finalizers",
        "labels",
        "conditions",
        "type",
        "strategy",
        "volumes",
        "args",
        "tolerations",
    ];
    const DIRECTIVES: &'static [&'static str] = &[
        "$patch",
        "$retainKeys",
        "$setElementOrder/containers",
        "$setElementOrder/finalizers",
        "$setElementOrder/ports",
        "$setElementOrder/args",
        "$deleteFromPrimitiveList/finalizers",
        "$deleteFromPrimitiveList/args",
        "$deleteFromPrimitiveList/containers",
        "$deleteFromPrimitiveList/",
        "$setElementOrder/",
    ];

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }

    fn scalar(&mut self) -> Value {
        match self.below(9) {
            0 => json!("a"),
            1 => json!("b"),
            2 => json!(1),
            3 => json!(2),
            4 => json!(1.5),
            5 => json!(true),
            6 => Value::Null,
            7 => json!("replace"),
            _ => json!("delete"),
        }
    }

    fn value(&mut self, depth: usize, directives: bool) -> Value {
        match (depth, self.below(10)) {
            (0, _) | (_, 0..=2) => self.scalar(),
            (_, 3..=5) => {
                let len = self.below(4);
                // Mostly lists of one kind, as real lists are, so they merge.
                let kind = self.below(10);
                let items = (0..len).map(|_| match kind {
                    0..=4 => self.object(depth - 1, directives),
                    5..=7 => json!(self.pick(&["a", "b", "c"])),
                    _ => self.value(depth - 1, directives),
                });
                Value::Array(items.collect())
            }
            _ => self.object(depth - 1, directives),
        }
    }

    fn object(&mut self, depth: usize, directives: bool) -> Value {
        let mut map = serde_json::Map::new();
        if self.below(10) < 7 {
            let name = if self.below(2) == 0 { "a" } else { "b" };
            map.insert("name".to_owned(), json!(name));
        }
        for _ in 0..self.below(4) {
            let key = if directives && self.below(4) == 0 {
                self.pick(Self::DIRECTIVES)
            } else {
                self.pick(Self::FIELDS)
            };
            map.insert(key.to_owned(), self.value(depth, directives));
        }
        Value::Object(map)
    }
}

impl Generator {
    /// A patch shaped like `original`: some fields kept and changed, some
    /// dropped, nulled or replaced, directives sprinkled in.
    fn mutate(&mut self, original: &Value, depth: usize) -> Value {
        match original {
            Value::Object(map) => {
                let mut patch = serde_json::Map::new();
                for (key, value) in map {
                    match self.below(6) {
                        0 | 1 if depth > 0 => {
                            patch.insert(key.clone(), self.mutate(value, depth - 1));
                        }
                        2 => {
                            patch.insert(key.clone(), self.value(depth, true));
                        }
                        3 => {
                            patch.insert(key.clone(), Value::Null);
                        }
                        // Merge keys mostly stay, so items match.
                        4 if key == "name" => {
                            patch.insert(key.clone(), value.clone());
                        }
                        _ => {}
                    }
                }
                if self.below(3) == 0 {
                    let directive = self.pick(Self::DIRECTIVES);
                    patch.insert(directive.to_owned(), self.value(1, false));
                }
                Value::Object(patch)
            }
            Value::Array(items) => {
                let mut patch = Vec::new();
                for item in items {
                    if self.below(2) == 0 {
                        patch.push(self.mutate(item, depth.saturating_sub(1)));
                    }
                }
                if self.below(4) == 0 {
                    let directive = self.pick(&["delete", "replace", "merge"]);
                    patch.push(json!({"$patch": directive, "name": "a"}));
                }
                Value::Array(patch)
            }
            scalar => match self.below(3) {
                0 => scalar.clone(),
                _ => self.scalar(),
            },
        }
    }
}

fn holds_directive(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| crate::directives::is_directive_key(key) || holds_directive(value)),
        Value::Array(items) => items.iter().any(holds_directive),
        _ => false,
    }
}

#[test]
fn arbitrary_patches_never_panic_and_never_leave_directives() {
    let mut generator = Generator(0x9e37_79b9_7f4a_7c15);
    let mut applied = 0;
    for _ in 0..20_000 {
        let original = generator.object(5, false);
        let patch = if generator.below(2) == 0 {
            generator.object(5, true)
        } else {
            generator.mutate(&original, 5)
        };
        for schema in [&BuiltinSchema as &dyn PatchSchema, &MergeItemSchema] {
            if let Ok(patched) = strategic_merge(&original, &patch, schema) {
                applied += 1;
                assert!(
                    !holds_directive(&patched),
                    "directive left in {patched}\noriginal {original}\npatch {patch}"
                );
            }
        }
    }
    assert!(
        applied > 10_000,
        "too few patches applied ({applied}) to exercise the merge"
    );
}
