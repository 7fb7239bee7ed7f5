//! The controller against the SDK's in-memory cluster, case by case.

use std::time::Duration;

use wharf_sdk::k8s_openapi::api::apps::v1::Deployment;
use wharf_sdk::k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Pod, ResourceQuota, Secret, Service,
};
use wharf_sdk::prelude::*;
use wharf_sdk::quantity::resource_list;
use wharf_sdk::quota::pretty_print;
use wharf_sdk::serde_json::{Value, json};
use wharf_sdk::testing::{FakeCluster, Verb};

use crate::ResourceQuotaController;

const NS: &str = "default";
const KEY: &str = "default/quota";

fn from<K: wharf_sdk::serde::de::DeserializeOwned>(value: Value) -> K {
    serde_json::from_value(value).expect("a valid object")
}

/// A quota `quota` limiting `hard`, with `spec` extras (scopes).
fn quota(hard: Value, spec: Value) -> ResourceQuota {
    let mut spec = spec;
    spec["hard"] = hard;
    from(json!({"metadata": {"name": "quota", "namespace": NS}, "spec": spec}))
}

/// A pod requesting `cpu` and `memory` (either may be empty: not set).
fn pod(name: &str, cpu: &str, memory: &str) -> Pod {
    pod_in(NS, name, cpu, memory)
}

fn pod_in(namespace: &str, name: &str, cpu: &str, memory: &str) -> Pod {
    let mut requests = serde_json::Map::new();
    if !cpu.is_empty() {
        requests.insert("cpu".to_owned(), json!(cpu));
    }
    if !memory.is_empty() {
        requests.insert("memory".to_owned(), json!(memory));
    }
    from(json!({
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "app", "resources": {"requests": requests}}]},
    }))
}

fn finished(mut pod: Pod) -> Pod {
    pod.status = Some(from(json!({"phase": "Succeeded"})));
    pod
}

fn named<K: wharf_sdk::serde::de::DeserializeOwned>(name: &str, extra: Value) -> K {
    let mut object = extra;
    object["metadata"] = json!({"name": name, "namespace": NS});
    from(object)
}

fn reconcile(fake: &FakeCluster) -> Result<Action, Error> {
    fake.run::<ResourceQuotaController>(KEY)
}

fn stored(fake: &FakeCluster) -> ResourceQuota {
    fake.get::<ResourceQuota>(Some(NS), "quota")
        .expect("the quota")
}

/// `status.hard` and `status.used`, printed `name=quantity,…`.
fn status(fake: &FakeCluster) -> (String, String) {
    let quota = stored(fake);
    let status = quota.status.expect("a status");
    (
        pretty_print(&resource_list(status.hard.as_ref())),
        pretty_print(&resource_list(status.used.as_ref())),
    )
}

fn used(fake: &FakeCluster) -> String {
    status(fake).1
}

fn status_writes(fake: &FakeCluster) -> usize {
    fake.writes()
        .iter()
        .filter(|call| call.verb == Verb::UpdateStatus)
        .count()
}

#[test]
fn status_hard_copies_spec_hard_and_used_counts_the_namespace() {
    let fake = FakeCluster::new();
    fake.add(quota(
        json!({"pods": "10", "count/pods": "10", "requests.cpu": "2", "requests.memory": "1Gi", "limits.cpu": "4000m"}),
        json!({}),
    ));
    fake.add(pod("a", "100m", "256Mi"));
    fake.add(pod("b", "0.5", "256Mi"));
    fake.add(pod("no-requests", "", ""));
    fake.add(finished(pod("done", "1", "1Gi")));
    fake.add(pod_in("elsewhere", "c", "1", "1Gi"));
    assert_eq!(reconcile(&fake).unwrap(), Action::Done);
    assert_eq!(
        status(&fake),
        (
            "count/pods=10,limits.cpu=4,pods=10,requests.cpu=2,requests.memory=1Gi".to_owned(),
            "count/pods=4,limits.cpu=0,pods=3,requests.cpu=600m,requests.memory=512Mi".to_owned()
        )
    );
}

#[test]
fn an_unchanged_count_writes_nothing_and_a_deleted_pod_gives_its_share_back() {
    let fake = FakeCluster::new();
    fake.add(quota(json!({"pods": "5", "requests.cpu": "1"}), json!({})));
    fake.add(pod("a", "200m", ""));
    fake.add(pod("b", "300m", ""));
    reconcile(&fake).unwrap();
    assert_eq!(used(&fake), "pods=2,requests.cpu=500m");
    assert_eq!(status_writes(&fake), 1);
    let revision = fake.revision();
    reconcile(&fake).unwrap();
    assert_eq!(fake.revision(), revision);
    fake.remove::<Pod>(Some(NS), "b");
    reconcile(&fake).unwrap();
    assert_eq!(used(&fake), "pods=1,requests.cpu=200m");
}

#[test]
fn a_changed_spec_is_copied_and_dropped_resources_leave_the_status() {
    let fake = FakeCluster::new();
    fake.add(quota(json!({"pods": "5", "secrets": "3"}), json!({})));
    fake.add(pod("a", "", ""));
    reconcile(&fake).unwrap();
    assert_eq!(used(&fake), "pods=1,secrets=0");
    fake.modify::<ResourceQuota>(Some(NS), "quota", |quota| {
        quota.spec = Some(from(json!({"hard": {"pods": "6"}})));
    });
    reconcile(&fake).unwrap();
    assert_eq!(status(&fake), ("pods=6".to_owned(), "pods=1".to_owned()));
}

#[test]
fn other_kinds_are_counted_by_their_object_counts() {
    let fake = FakeCluster::new();
    fake.add(quota(
        json!({
            "services": "5", "services.nodeports": "5", "services.loadbalancers": "1",
            "configmaps": "5", "count/secrets": "5", "count/deployments.apps": "5",
            "persistentvolumeclaims": "5", "requests.storage": "10Gi",
        }),
        json!({}),
    ));
    fake.add::<Service>(named(
        "web",
        json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}}),
    ));
    fake.add::<Service>(named(
        "lb",
        json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}),
    ));
    fake.add::<Service>(named(
        "internal",
        json!({"spec": {"ports": [{"port": 80}]}}),
    ));
    fake.add::<ConfigMap>(named("settings", json!({})));
    fake.add::<Secret>(named("token", json!({})));
    fake.add::<Secret>(named("key", json!({})));
    fake.add::<Deployment>(named(
        "web",
        json!({"spec": {"selector": {}, "template": {}}}),
    ));
    fake.add::<PersistentVolumeClaim>(named(
        "data",
        json!({"spec": {"resources": {"requests": {"storage": "2Gi"}}}}),
    ));
    reconcile(&fake).unwrap();
    assert_eq!(
        used(&fake),
        "configmaps=1,count/deployments.apps=1,count/secrets=2,persistentvolumeclaims=1,\
         requests.storage=2Gi,services=3,services.loadbalancers=1,services.nodeports=3"
    );
}

#[test]
fn a_scoped_quota_counts_only_the_pods_in_its_scopes() {
    let fake = FakeCluster::new();
    fake.add(quota(
        json!({"pods": "5"}),
        json!({"scopes": ["BestEffort"]}),
    ));
    fake.add(pod("best-effort", "", ""));
    fake.add(pod("burstable", "100m", ""));
    let mut terminating = pod("terminating", "", "");
    terminating.spec.as_mut().unwrap().active_deadline_seconds = Some(30);
    fake.add(terminating);
    reconcile(&fake).unwrap();
    assert_eq!(used(&fake), "pods=2");
    fake.modify::<ResourceQuota>(Some(NS), "quota", |quota| {
        quota.spec = Some(from(
            json!({"hard": {"pods": "5"}, "scopes": ["BestEffort", "NotTerminating"]}),
        ));
    });
    reconcile(&fake).unwrap();
    assert_eq!(used(&fake), "pods=1");
}

#[test]
fn a_pod_stuck_terminating_past_its_grace_period_stops_counting() {
    let fake = FakeCluster::new();
    fake.add(quota(json!({"pods": "5", "count/pods": "5"}), json!({})));
    let mut stuck = pod("stuck", "", "");
    stuck.metadata.deletion_timestamp = Some(fake.context().now());
    stuck.metadata.deletion_grace_period_seconds = Some(30);
    fake.add(stuck);
    reconcile(&fake).unwrap();
    assert_eq!(used(&fake), "count/pods=1,pods=1");
    fake.advance(Duration::from_secs(31));
    reconcile(&fake).unwrap();
    assert_eq!(used(&fake), "count/pods=1,pods=0");
}

#[test]
fn what_cannot_be_counted_keeps_its_last_count() {
    let fake = FakeCluster::new();
    let mut limited = quota(
        json!({"pods": "5", "count/widgets.example.com": "3"}),
        json!({}),
    );
    limited.status = Some(from(json!({
        "hard": {"pods": "5", "count/widgets.example.com": "3"},
        "used": {"pods": "4", "count/widgets.example.com": "2"},
    })));
    fake.add(limited);
    fake.add(pod("a", "", ""));
    fake.fail_when(|request| {
        (request.verb == Verb::List && request.kind.kind == "Pod")
            .then(|| Error::Forbidden("no listing pods today".into()))
    });
    let error = reconcile(&fake).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("counting Pod for ResourceQuota default/quota"),
        "{error}"
    );
    assert_eq!(used(&fake), "count/widgets.example.com=2,pods=4");
    fake.clear_failures();
    reconcile(&fake).unwrap();
    assert_eq!(used(&fake), "count/widgets.example.com=2,pods=1");
}

#[test]
fn a_kind_the_api_server_does_not_serve_counts_nothing() {
    let fake = FakeCluster::new();
    fake.add(quota(
        json!({"persistentvolumeclaims": "5", "pods": "5"}),
        json!({}),
    ));
    fake.fail_when(|request| {
        (request.kind.kind == "PersistentVolumeClaim")
            .then(|| Error::NotFound("the server could not find the requested resource".into()))
    });
    reconcile(&fake).unwrap();
    assert_eq!(used(&fake), "persistentvolumeclaims=0,pods=0");
}

#[test]
fn a_missing_quota_needs_nothing() {
    let fake = FakeCluster::new();
    assert_eq!(reconcile(&fake).unwrap(), Action::Done);
    assert!(fake.writes().is_empty());
}

#[test]
fn every_quota_is_counted_again_every_resync() {
    let registration = |config: Value| ResourceQuotaController::registration(&config);
    let default = registration(json!({})).unwrap();
    assert_eq!(default.primary.kind, "ResourceQuota");
    assert_eq!(default.resync, Duration::from_secs(10));
    assert!(default.owns.is_empty() && default.reads.is_empty());
    assert_eq!(
        registration(json!({"resyncSeconds": 3})).unwrap().resync,
        Duration::from_secs(3)
    );
    for invalid in [json!({"resyncSeconds": 0}), json!({"resyncSeconds": "10s"})] {
        assert!(matches!(registration(invalid), Err(Error::Invalid(_))));
    }
}
