//! The plugin's reviews, after kube's `admission_test.go` cases.

use wharf_sdk::admission::testing::Harness;
use wharf_sdk::admission::{Decision, Operation};
use wharf_sdk::serde_json::{Value, json};

use super::DefaultTolerationSeconds;

fn create_pod(tolerations: &str) -> String {
    format!(
        "
operation: CREATE
namespace: default
object:
  apiVersion: v1
  kind: Pod
  metadata: {{name: web}}
  spec:
    containers: [{{name: app, image: nginx}}]
    tolerations: {tolerations}
"
    )
}

fn tolerations_after(harness: &Harness<DefaultTolerationSeconds>, tolerations: &str) -> Value {
    let response = harness.review_yaml(&create_pod(tolerations)).unwrap();
    assert!(!matches!(response.decision, Decision::Deny(_)));
    harness.patched(&response).unwrap()["spec"]["tolerations"].clone()
}

fn default_pair(seconds: i64) -> Value {
    json!([
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds},
    ])
}

#[test]
fn it_mutates_pod_creations_only() {
    let registration = Harness::<DefaultTolerationSeconds>::new(json!({}))
        .unwrap()
        .registration;
    assert!(registration.mutating);
    assert_eq!(registration.operations, [Operation::Create]);
}

#[test]
fn pods_get_the_tolerations_they_lack() {
    let harness = Harness::<DefaultTolerationSeconds>::new(json!({})).unwrap();
    let own = json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60});
    let cases: Vec<(&str, &str, Value)> = vec![
        ("none", "[]", default_pair(300)),
        ("absent field", "null", default_pair(300)),
        (
            "its own unreachable toleration kept",
            "[{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 60}]",
            json!([own, default_pair(300)[0]]),
        ),
        (
            "every key tolerated",
            "[{operator: Exists}]",
            json!([{"operator": "Exists"}]),
        ),
        (
            "every effect of the key",
            "[{key: node.kubernetes.io/not-ready, operator: Exists}]",
            json!([{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}, default_pair(300)[1]]),
        ),
        (
            "a NoSchedule toleration does not count",
            "[{key: node.kubernetes.io/not-ready, operator: Exists, effect: NoSchedule}]",
            json!([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"},
                default_pair(300)[0], default_pair(300)[1]]),
        ),
    ];
    for (name, tolerations, expected) in cases {
        assert_eq!(tolerations_after(&harness, tolerations), expected, "{name}");
    }
}

#[test]
fn the_seconds_are_configurable_and_checked() {
    let harness = Harness::<DefaultTolerationSeconds>::new(json!({
        "defaultNotReadyTolerationSeconds": 5, "defaultUnreachableTolerationSeconds": 5
    }))
    .unwrap();
    assert_eq!(tolerations_after(&harness, "[]"), default_pair(5));
    assert!(
        Harness::<DefaultTolerationSeconds>::new(json!({"defaultNotReadyTolerationSeconds": -1}))
            .is_err()
    );
}
