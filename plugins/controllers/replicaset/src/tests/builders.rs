//! Small builders for the objects of a case: `replica_set("web").replicas(3)`,
//! `pod("a").owned_by("web").ready()`, `replication_controller("web")`.

use std::collections::BTreeMap;

use wharf_sdk::k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use wharf_sdk::k8s_openapi::api::core::v1::{
    Container, ContainerStatus, Pod, PodCondition, PodSpec, PodStatus, PodTemplateSpec,
    ReplicationController, ReplicationControllerSpec,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};
use wharf_sdk::testing::START_MILLIS;
use wharf_sdk::time_from_millis;

pub const NS: &str = "default";

/// The uid the builders give the ReplicaSet called `name`.
pub fn uid_of(name: &str) -> String {
    format!("uid-{name}")
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// So many seconds before the fake cluster's clock starts.
pub fn seconds_ago(seconds: u64) -> Time {
    time_from_millis(START_MILLIS - seconds * 1000)
}

pub struct ReplicaSetBuilder(ReplicaSet);

/// A ReplicaSet of one replica, selecting and labelling its pods `app=<name>`.
pub fn replica_set(name: &str) -> ReplicaSetBuilder {
    let app = labels(&[("app", name)]);
    ReplicaSetBuilder(ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(NS.to_owned()),
            uid: Some(uid_of(name)),
            ..ObjectMeta::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(app.clone()),
                match_expressions: None,
            },
            template: Some(PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(app),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "app".to_owned(),
                        image: Some("nginx".to_owned()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            }),
            min_ready_seconds: None,
        },
        status: None,
    })
}

impl ReplicaSetBuilder {
    fn spec(&mut self) -> &mut ReplicaSetSpec {
        &mut self.0.spec
    }

    pub fn replicas(mut self, replicas: i32) -> Self {
        self.spec().replicas = Some(replicas);
        self
    }

    pub fn min_ready_seconds(mut self, seconds: i32) -> Self {
        self.spec().min_ready_seconds = Some(seconds);
        self
    }

    /// The pod template's labels (the selector stays).
    pub fn template_labels(mut self, pairs: &[(&str, &str)]) -> Self {
        let template = self
            .spec()
            .template
            .as_mut()
            .expect("the builder sets a template");
        template
            .metadata
            .as_mut()
            .expect("the builder sets template metadata")
            .labels = Some(labels(pairs));
        self
    }

    /// Controlled by a Deployment with this uid.
    pub fn controlled_by(mut self, uid: &str) -> Self {
        self.0.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "apps/v1".to_owned(),
            kind: "Deployment".to_owned(),
            name: "deployment".to_owned(),
            uid: uid.to_owned(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]);
        self
    }

    /// Being deleted (held by a finalizer).
    pub fn deleting(mut self) -> Self {
        self.0.metadata.deletion_timestamp = Some(seconds_ago(1));
        self.0.metadata.finalizers = Some(vec!["foregroundDeletion".to_owned()]);
        self
    }

    pub fn build(self) -> ReplicaSet {
        self.0
    }
}

/// A ReplicationController of `replicas`, selecting and labelling its pods
/// `app=<name>` (its selector a plain map), with the ReplicaSet builder's
/// template.
pub fn replication_controller(name: &str, replicas: i32) -> ReplicationController {
    let replica_set = replica_set(name).build();
    ReplicationController {
        metadata: replica_set.metadata,
        spec: Some(ReplicationControllerSpec {
            replicas: Some(replicas),
            selector: replica_set.spec.selector.match_labels,
            template: replica_set.spec.template,
            min_ready_seconds: None,
        }),
        status: None,
    }
}

pub struct PodBuilder(Pod);

/// A pod with no labels, owner, node or status.
pub fn pod(name: &str) -> PodBuilder {
    PodBuilder(Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(NS.to_owned()),
            creation_timestamp: Some(seconds_ago(3600)),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec::default()),
        status: Some(PodStatus::default()),
    })
}

impl PodBuilder {
    fn status(&mut self) -> &mut PodStatus {
        self.0.status.as_mut().expect("the builder sets a status")
    }

    pub fn labels(mut self, pairs: &[(&str, &str)]) -> Self {
        self.0.metadata.labels = Some(labels(pairs));
        self
    }

    /// Labelled `app=<replica_set>` and controlled by that ReplicaSet.
    pub fn owned_by(self, replica_set: &str) -> Self {
        self.labels(&[("app", replica_set)]).controller(replica_set)
    }

    /// Controlled by the ReplicaSet `replica_set`, labels unchanged.
    pub fn controller(mut self, replica_set: &str) -> Self {
        self.0
            .metadata
            .owner_references
            .get_or_insert_with(Vec::new)
            .push(OwnerReference {
                api_version: "apps/v1".to_owned(),
                kind: "ReplicaSet".to_owned(),
                name: replica_set.to_owned(),
                uid: uid_of(replica_set),
                controller: Some(true),
                block_owner_deletion: Some(true),
            });
        self
    }

    /// Labelled `app=<name>` and controlled by that ReplicationController.
    pub fn owned_by_rc(mut self, name: &str) -> Self {
        self = self.labels(&[("app", name)]);
        self.0.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "v1".to_owned(),
            kind: "ReplicationController".to_owned(),
            name: name.to_owned(),
            uid: uid_of(name),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]);
        self
    }

    /// An owner reference that is not a controller's.
    pub fn also_owned_by(mut self, kind: &str, uid: &str) -> Self {
        self.0
            .metadata
            .owner_references
            .get_or_insert_with(Vec::new)
            .push(OwnerReference {
                api_version: "v1".to_owned(),
                kind: kind.to_owned(),
                name: "other".to_owned(),
                uid: uid.to_owned(),
                controller: None,
                block_owner_deletion: None,
            });
        self
    }

    pub fn node(mut self, node: &str) -> Self {
        self.0
            .spec
            .as_mut()
            .expect("the builder sets a spec")
            .node_name = Some(node.to_owned());
        self
    }

    pub fn phase(mut self, phase: &str) -> Self {
        self.status().phase = Some(phase.to_owned());
        self
    }

    /// Scheduled on `node-1`, Running, not ready.
    pub fn running(self) -> Self {
        self.node("node-1").phase("Running")
    }

    /// Running and ready for an hour.
    pub fn ready(self) -> Self {
        self.ready_for(3600)
    }

    /// Running and ready since so many seconds before the clock's start.
    pub fn ready_for(mut self, seconds: u64) -> Self {
        self = self.running();
        self.status().conditions = Some(vec![PodCondition {
            type_: "Ready".to_owned(),
            status: "True".to_owned(),
            last_transition_time: Some(seconds_ago(seconds)),
            ..PodCondition::default()
        }]);
        self
    }

    pub fn restarts(mut self, restarts: i32) -> Self {
        self.status().container_statuses = Some(vec![ContainerStatus {
            name: "app".to_owned(),
            restart_count: restarts,
            ..ContainerStatus::default()
        }]);
        self
    }

    pub fn created_ago(mut self, seconds: u64) -> Self {
        self.0.metadata.creation_timestamp = Some(seconds_ago(seconds));
        self
    }

    pub fn deletion_cost(mut self, cost: i32) -> Self {
        self.0.metadata.annotations = Some(labels(&[(
            "controller.kubernetes.io/pod-deletion-cost",
            &cost.to_string(),
        )]));
        self
    }

    /// Being deleted (held by a finalizer, so it stays listed).
    pub fn terminating(mut self) -> Self {
        self.0.metadata.deletion_timestamp = Some(seconds_ago(1));
        self.0.metadata.finalizers = Some(vec!["example.com/hold".to_owned()]);
        self
    }

    pub fn build(self) -> Pod {
        self.0
    }
}
