//! The namespace controller against the SDK's fake cluster, after kube's
//! `namespaced_resources_deleter_test.go`.

use wharf_sdk::k8s_openapi::api::apps::v1::Deployment;
use wharf_sdk::k8s_openapi::api::core::v1::{ConfigMap, Namespace, NamespaceSpec, Node, Pod};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use wharf_sdk::prelude::*;
use wharf_sdk::testing::FakeCluster;
use wharf_sdk::{GroupVersionKind, ServedKind, time_from_millis};

use crate::NamespaceController;
use crate::conditions::{CONTENT_REMAINING, FINALIZERS_REMAINING};

fn served<K: wharf_sdk::k8s_openapi::Resource>(plural: &str, namespaced: bool) -> ServedKind {
    ServedKind {
        kind: GroupVersionKind::of::<K>(),
        plural: plural.into(),
        namespaced,
        verbs: [
            "get",
            "list",
            "watch",
            "create",
            "delete",
            "deletecollection",
        ]
        .map(String::from)
        .to_vec(),
    }
}

fn cluster() -> FakeCluster {
    let cluster = FakeCluster::new();
    cluster.serve(served::<Pod>("pods", true));
    cluster.serve(served::<ConfigMap>("configmaps", true));
    cluster.serve(served::<Deployment>("deployments", true));
    cluster.serve(served::<Node>("nodes", false));
    cluster
}

fn namespace(cluster: &FakeCluster, name: &str, deleted: bool) {
    cluster.add(Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            deletion_timestamp: deleted.then(|| Time(time_from_millis(cluster.now_millis()).0)),
            ..Default::default()
        },
        spec: Some(NamespaceSpec {
            finalizers: Some(vec!["kubernetes".into()]),
        }),
        status: None,
    });
}

fn meta(namespace: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        ..Default::default()
    }
}

fn condition(cluster: &FakeCluster, name: &str, type_: &str) -> (String, String) {
    let namespace = cluster.get::<Namespace>(None, name).expect("the namespace");
    let condition = namespace
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == type_)
        .expect("the condition");
    (condition.status, condition.message.unwrap_or_default())
}

#[test]
fn a_live_namespace_is_left_alone() {
    let cluster = cluster();
    namespace(&cluster, "live", false);
    cluster.add(ConfigMap {
        metadata: meta("live", "settings"),
        ..Default::default()
    });
    assert_eq!(
        cluster.run::<NamespaceController>("live").unwrap(),
        Action::Done
    );
    assert!(cluster.writes().is_empty());
}

#[test]
fn a_deleted_namespace_is_emptied_of_every_kind_then_finalized() {
    let cluster = cluster();
    namespace(&cluster, "doomed", true);
    namespace(&cluster, "other", false);
    cluster.add(ConfigMap {
        metadata: meta("doomed", "settings"),
        ..Default::default()
    });
    cluster.add(Deployment {
        metadata: meta("doomed", "web"),
        ..Default::default()
    });
    cluster.add(ConfigMap {
        metadata: meta("other", "kept"),
        ..Default::default()
    });
    // A pod held by a finalizer: deleted (marked), then waited for.
    cluster.add(Pod {
        metadata: ObjectMeta {
            finalizers: Some(vec!["example.com/hold".into()]),
            ..meta("doomed", "held")
        },
        ..Default::default()
    });

    let action = cluster.run::<NamespaceController>("doomed").unwrap();
    assert_eq!(action, Action::RequeueAfter(crate::controller::RECHECK));
    assert!(
        cluster
            .get::<ConfigMap>(Some("doomed"), "settings")
            .is_none()
    );
    assert!(cluster.get::<Deployment>(Some("doomed"), "web").is_none());
    assert!(cluster.get::<ConfigMap>(Some("other"), "kept").is_some());
    let held = cluster.get::<Pod>(Some("doomed"), "held").unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());

    // What kubectl describe shows: what remained at the pass, and why.
    let (status, message) = condition(&cluster, "doomed", CONTENT_REMAINING);
    assert_eq!(status, "True");
    assert_eq!(
        message,
        "Some resources are remaining: configmaps has 1 resource instances, deployments.apps has 1 resource instances, pods has 1 resource instances"
    );
    let (status, message) = condition(&cluster, "doomed", FINALIZERS_REMAINING);
    assert_eq!(status, "True");
    assert_eq!(
        message,
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
    );
    let phase = cluster
        .get::<Namespace>(None, "doomed")
        .unwrap()
        .status
        .unwrap()
        .phase;
    assert_eq!(phase.as_deref(), Some("Terminating"));

    // The finalizer's owner lets go of the pod: the namespace goes.
    cluster.modify::<Pod>(Some("doomed"), "held", |pod| pod.metadata.finalizers = None);
    cluster.remove::<Pod>(Some("doomed"), "held");
    assert_eq!(
        cluster.run::<NamespaceController>("doomed").unwrap(),
        Action::Done
    );
    assert!(cluster.get::<Namespace>(None, "doomed").is_none());
}

#[test]
fn a_namespace_of_no_served_kinds_is_finalized_at_once() {
    let cluster = FakeCluster::new();
    namespace(&cluster, "doomed", true);
    cluster.add(ConfigMap {
        metadata: meta("doomed", "settings"),
        ..Default::default()
    });
    // No kinds served: an empty namespace as far as discovery knows, so the
    // namespace is finalized; with a failing discovery it would not be.
    assert_eq!(
        cluster.run::<NamespaceController>("doomed").unwrap(),
        Action::Done
    );
    assert!(cluster.get::<Namespace>(None, "doomed").is_none());
}

#[test]
fn a_failed_deletion_is_reported_and_retried() {
    let cluster = cluster();
    namespace(&cluster, "doomed", true);
    cluster.add(ConfigMap {
        metadata: meta("doomed", "settings"),
        ..Default::default()
    });
    cluster.fail_when(|request| {
        (request.verb == wharf_sdk::testing::Verb::Delete)
            .then(|| Error::Forbidden("no deleting today".into()))
    });
    let action = cluster.run::<NamespaceController>("doomed").unwrap();
    assert_eq!(action, Action::RequeueAfter(crate::controller::RECHECK));
    let (status, message) = condition(&cluster, "doomed", crate::conditions::CONTENT_FAILURE);
    assert_eq!(status, "True");
    assert!(message.contains("configmaps: "), "{message}");
    assert!(cluster.get::<Namespace>(None, "doomed").is_some());
}

#[test]
fn a_namespace_already_gone_is_done() {
    assert_eq!(
        cluster().run::<NamespaceController>("gone").unwrap(),
        Action::Done
    );
}
