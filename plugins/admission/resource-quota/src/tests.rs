//! The plugin's reviews over a fake cluster holding the quotas: what it
//! charges, what it refuses, and how it retries a charge that lost a race.

use wharf_sdk::admission::testing::Harness;
use wharf_sdk::admission::{Decision, Operation, Response};
use wharf_sdk::k8s_openapi::api::core::v1::ResourceQuota;
use wharf_sdk::quantity::resource_list;
use wharf_sdk::quota::pretty_print;
use wharf_sdk::serde_json::{self, Value, json};
use wharf_sdk::testing::Verb;

use super::QuotaAdmission;

/// A quota as the controller left it: `status.hard` = `spec.hard`, and the
/// usage it counted.
fn quota(namespace: &str, name: &str, hard: Value, used: Value) -> ResourceQuota {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"hard": hard},
        "status": {"hard": hard, "used": used},
    }))
    .unwrap()
}

fn harness(quotas: Vec<ResourceQuota>) -> Harness<QuotaAdmission> {
    let harness = Harness::<QuotaAdmission>::new(json!({})).unwrap();
    for quota in quotas {
        harness.cluster.add(quota);
    }
    harness
}

/// The stored quota's `status.used`, printed as kube prints usage.
fn used(harness: &Harness<QuotaAdmission>, namespace: &str, name: &str) -> String {
    let quota: ResourceQuota = harness.cluster.get(Some(namespace), name).unwrap();
    pretty_print(&resource_list(quota.status.unwrap().used.as_ref()))
}

fn status_writes(harness: &Harness<QuotaAdmission>) -> usize {
    harness
        .cluster
        .calls()
        .iter()
        .filter(|call| call.verb == Verb::UpdateStatus)
        .count()
}

const POD: &str = "
operation: CREATE
namespace: default
object:
  apiVersion: v1
  kind: Pod
  metadata: {name: web}
  spec: {containers: [{name: app, image: nginx, resources: {requests: {cpu: 250m}}}]}
";

/// Reviews `yaml` and, as the host does once it has stored the write,
/// stores the status updates the response asks for; returns the response
/// without them.
fn admit(harness: &Harness<QuotaAdmission>, yaml: &str) -> Response {
    let mut response = harness.review_yaml(yaml).unwrap();
    harness.store_status_updates(&response).unwrap();
    response.status_updates.clear();
    response
}

fn denial(response: &Response) -> Option<&str> {
    match &response.decision {
        Decision::Deny(message) => Some(message),
        _ => None,
    }
}

#[test]
fn it_reviews_creates_and_updates_of_the_kinds_it_charges_but_never_quotas() {
    let registration = Harness::<QuotaAdmission>::new(json!({}))
        .unwrap()
        .registration;
    assert!(!registration.mutating);
    assert_eq!(
        registration.operations,
        [Operation::Create, Operation::Update]
    );
    let kinds: Vec<String> = registration
        .kinds
        .iter()
        .map(|k| format!("{}/{}", k.group, k.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            "/Pod",
            "/Service",
            "/PersistentVolumeClaim",
            "/ConfigMap",
            "/Secret",
            "/ReplicationController",
            "apps/Deployment",
            "apps/ReplicaSet",
            "apps/StatefulSet",
            "apps/DaemonSet",
        ]
    );
    let reads: Vec<&str> = registration.reads.iter().map(|k| k.kind.as_str()).collect();
    assert_eq!(reads, ["ResourceQuota"]);
}

#[test]
fn a_create_is_charged_to_every_quota_that_limits_it() {
    let harness = harness(vec![
        quota(
            "default",
            "pods",
            json!({"pods": "2"}),
            json!({"pods": "1"}),
        ),
        quota(
            "default",
            "compute",
            json!({"requests.cpu": "1"}),
            json!({"requests.cpu": "500m"}),
        ),
        quota(
            "default",
            "services",
            json!({"services": "1"}),
            json!({"services": "0"}),
        ),
        quota("other", "pods", json!({"pods": "2"}), json!({"pods": "0"})),
    ]);
    let before: ResourceQuota = harness.cluster.get(Some("default"), "pods").unwrap();
    assert_eq!(admit(&harness, POD), Response::allow());
    assert_eq!(used(&harness, "default", "pods"), "pods=2");
    assert_eq!(used(&harness, "default", "compute"), "requests.cpu=750m");
    // Quotas that do not limit pods, or of another namespace, are not written.
    assert_eq!(used(&harness, "default", "services"), "services=0");
    assert_eq!(used(&harness, "other", "pods"), "pods=0");
    assert_eq!(status_writes(&harness), 2);
    let after: ResourceQuota = harness.cluster.get(Some("default"), "pods").unwrap();
    assert_ne!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
}

#[test]
fn refusals_carry_kubernetes_messages_and_charge_nothing() {
    let cases: Vec<(&str, ResourceQuota, &str)> = vec![
        (
            "the last pod taken",
            quota(
                "default",
                "pods",
                json!({"pods": "2"}),
                json!({"pods": "2"}),
            ),
            "exceeded quota: pods, requested: pods=1, used: pods=2, limited: pods=2",
        ),
        (
            "over the cpu requested",
            quota(
                "default",
                "compute",
                json!({"requests.cpu": "1", "pods": "10"}),
                json!({"requests.cpu": "800m", "pods": "3"}),
            ),
            "exceeded quota: compute, requested: requests.cpu=250m, used: requests.cpu=800m, limited: requests.cpu=1",
        ),
        (
            "a limit the pod does not state",
            quota(
                "default",
                "limits",
                json!({"limits.cpu": "2"}),
                json!({"limits.cpu": "0"}),
            ),
            "failed quota: limits: must specify limits.cpu for: app",
        ),
    ];
    for (case, quota, expected) in cases {
        let harness = harness(vec![quota]);
        let response = admit(&harness, POD);
        assert_eq!(denial(&response), Some(expected), "{case}");
        assert_eq!(status_writes(&harness), 0, "{case}");
    }
}

#[test]
fn a_dry_run_is_checked_but_charges_nothing() {
    let dry_run = format!("{POD}dryRun: true\n");
    let room = harness(vec![quota(
        "default",
        "pods",
        json!({"pods": "2"}),
        json!({"pods": "1"}),
    )]);
    assert_eq!(admit(&room, &dry_run), Response::allow());
    assert_eq!(used(&room, "default", "pods"), "pods=1");
    assert!(room.cluster.writes().is_empty());

    let full = harness(vec![quota(
        "default",
        "pods",
        json!({"pods": "1"}),
        json!({"pods": "1"}),
    )]);
    let response = admit(&full, &dry_run);
    assert_eq!(
        denial(&response),
        Some("exceeded quota: pods, requested: pods=1, used: pods=1, limited: pods=1")
    );
}

#[test]
fn nothing_to_charge_writes_nothing() {
    let uncounted: ResourceQuota = serde_json::from_value(json!({
        "metadata": {"name": "new", "namespace": "default"},
        "spec": {"hard": {"pods": "0"}},
    }))
    .unwrap();
    let cases: Vec<(&str, Vec<ResourceQuota>, String)> = vec![
        ("no quota", vec![], POD.to_owned()),
        (
            // The controller has not copied spec.hard yet: it limits nothing.
            "a quota not counted yet",
            vec![uncounted],
            POD.to_owned(),
        ),
        (
            "a pod update",
            vec![quota(
                "default",
                "pods",
                json!({"pods": "0"}),
                json!({"pods": "5"}),
            )],
            POD.replace("CREATE", "UPDATE"),
        ),
        (
            "a subresource",
            vec![quota(
                "default",
                "pods",
                json!({"pods": "0"}),
                json!({"pods": "5"}),
            )],
            format!("{POD}subResource: status\n"),
        ),
        (
            "a kind the quota does not limit",
            vec![quota(
                "default",
                "services",
                json!({"services": "0"}),
                json!({"services": "0"}),
            )],
            "
operation: CREATE
namespace: default
kind: {group: '', version: v1, kind: ConfigMap}
object: {apiVersion: v1, kind: ConfigMap, metadata: {name: settings}}
"
            .to_owned(),
        ),
    ];
    for (case, quotas, request) in cases {
        let harness = harness(quotas);
        assert_eq!(admit(&harness, &request), Response::allow(), "{case}");
        assert!(harness.cluster.writes().is_empty(), "{case}");
    }
}

#[test]
fn workloads_are_counted_by_their_group() {
    let harness = harness(vec![quota(
        "default",
        "objects",
        json!({"count/deployments.apps": "1", "configmaps": "5"}),
        json!({"count/deployments.apps": "0", "configmaps": "0"}),
    )]);
    let deployment = "
operation: CREATE
namespace: default
kind: {group: apps, version: v1, kind: Deployment}
object: {kind: Deployment, metadata: {name: web}, spec: {selector: {}, template: {}}}
";
    assert_eq!(admit(&harness, deployment), Response::allow());
    assert_eq!(
        used(&harness, "default", "objects"),
        "configmaps=0,count/deployments.apps=1"
    );
    let response = admit(&harness, deployment);
    assert_eq!(
        denial(&response),
        Some(
            "exceeded quota: objects, requested: count/deployments.apps=1, \
             used: count/deployments.apps=1, limited: count/deployments.apps=1"
        )
    );
}

#[test]
fn a_service_update_is_charged_only_what_it_adds() {
    let harness = harness(vec![quota(
        "default",
        "services",
        json!({"services": "5", "services.nodeports": "1"}),
        json!({"services": "1", "services.nodeports": "0"}),
    )]);
    let update = |old_type: &str, new_type: &str| {
        format!(
            "
operation: UPDATE
namespace: default
kind: {{group: '', version: v1, kind: Service}}
object: {{apiVersion: v1, kind: Service, metadata: {{name: web}}, spec: {{type: {new_type}, ports: [{{port: 80}}]}}}}
oldObject: {{apiVersion: v1, kind: Service, metadata: {{name: web}}, spec: {{type: {old_type}, ports: [{{port: 80}}]}}}}
"
        )
    };
    // Unchanged: nothing charged (not even `services` again).
    assert_eq!(
        admit(&harness, &update("ClusterIP", "ClusterIP")),
        Response::allow()
    );
    assert!(harness.cluster.writes().is_empty());
    // ClusterIP → NodePort takes the node port.
    assert_eq!(
        admit(&harness, &update("ClusterIP", "NodePort")),
        Response::allow()
    );
    assert_eq!(
        used(&harness, "default", "services"),
        "services=1,services.nodeports=1"
    );
    let response = admit(&harness, &update("ClusterIP", "NodePort"));
    assert_eq!(
        denial(&response),
        Some(
            "exceeded quota: services, requested: services.nodeports=1, \
             used: services.nodeports=1, limited: services.nodeports=1"
        )
    );
}

#[test]
fn a_charge_read_from_a_stale_cache_conflicts_and_a_fresh_review_charges_the_new_usage() {
    let harness = harness(vec![
        quota("default", "a", json!({"pods": "5"}), json!({"pods": "1"})),
        quota("default", "b", json!({"pods": "2"}), json!({"pods": "1"})),
    ]);
    // Another write charged `b` after the cache was filled.
    harness.cluster.freeze_cache();
    harness
        .cluster
        .modify::<ResourceQuota>(Some("default"), "b", |quota| {
            let status = quota.status.as_mut().unwrap();
            status.used = serde_json::from_value(json!({"pods": "2"})).unwrap();
        });
    let stale = harness.review_yaml(POD).unwrap();
    assert_eq!(stale.decision, Decision::Allow);
    let names: Vec<&str> = stale
        .status_updates
        .iter()
        .map(|u| u.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    // The host stores both or neither: `b` changed since it was read.
    let error = harness.store_status_updates(&stale).unwrap_err();
    assert!(error.is_conflict(), "{error:?}");
    // Reviewed again once the cache shows the other charge: `b` is full.
    harness.cluster.thaw_cache();
    let response = admit(&harness, POD);
    assert_eq!(
        denial(&response),
        Some("exceeded quota: b, requested: pods=1, used: pods=2, limited: pods=2")
    );
}
