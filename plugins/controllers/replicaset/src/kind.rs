//! The kinds the controller manages: ReplicaSets (`apps/v1`) and
//! ReplicationControllers (`v1`). Kubernetes' `replication` controller is
//! the ReplicaSet controller run over a conversion of each
//! ReplicationController to a ReplicaSet; here the conversion is this
//! trait: the controller reads a [`Replicated`] object as a ReplicaSet
//! (its selector a `LabelSelector`, its status a `ReplicaSetStatus`) and
//! writes its status back in the object's own shape, while owner
//! references, events and API calls name the object's own kind.

use std::collections::BTreeMap;

use wharf_sdk::k8s_openapi::Metadata;
use wharf_sdk::k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use wharf_sdk::k8s_openapi::api::core::v1::{
    PodTemplateSpec, ReplicationController, ReplicationControllerCondition,
    ReplicationControllerStatus,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use wharf_sdk::prelude::*;
use wharf_sdk::serde::Serialize;
use wharf_sdk::serde::de::DeserializeOwned;

/// An object that keeps a number of pods from a template: what the
/// controller reads and writes of it, as a ReplicaSet would have it.
pub trait Replicated:
    wharf_sdk::k8s_openapi::Resource + Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned + Clone
{
    /// `spec.replicas` (1 when unset, as the API server defaults it).
    fn replicas(&self) -> i32;
    /// `spec.minReadySeconds`.
    fn min_ready_seconds(&self) -> i32;
    /// The pods it selects, as a `LabelSelector`.
    fn label_selector(&self) -> LabelSelector;
    /// The template of its pods.
    fn template(&self) -> Option<&PodTemplateSpec>;
    /// Its status as a ReplicaSet's (empty when it has none).
    fn replica_status(&self) -> Option<ReplicaSetStatus>;
    /// Sets its status from a ReplicaSet's.
    fn set_replica_status(&mut self, status: ReplicaSetStatus);
}

impl Replicated for ReplicaSet {
    fn replicas(&self) -> i32 {
        self.spec.replicas.unwrap_or(1)
    }

    fn min_ready_seconds(&self) -> i32 {
        self.spec.min_ready_seconds.unwrap_or(0)
    }

    fn label_selector(&self) -> LabelSelector {
        self.spec.selector.clone()
    }

    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.template.as_ref()
    }

    fn replica_status(&self) -> Option<ReplicaSetStatus> {
        self.status.clone()
    }

    fn set_replica_status(&mut self, status: ReplicaSetStatus) {
        self.status = Some(status);
    }
}

/// As kube's `convertRCtoRS` and `convertRSStatusToRC`: the selector map
/// is the `matchLabels`; the status has no `terminatingReplicas`.
impl Replicated for ReplicationController {
    fn replicas(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|spec| spec.replicas)
            .unwrap_or(1)
    }

    fn min_ready_seconds(&self) -> i32 {
        self.spec
            .as_ref()
            .and_then(|spec| spec.min_ready_seconds)
            .unwrap_or(0)
    }

    fn label_selector(&self) -> LabelSelector {
        let labels: Option<BTreeMap<String, String>> =
            self.spec.as_ref().and_then(|spec| spec.selector.clone());
        LabelSelector {
            match_labels: labels,
            match_expressions: None,
        }
    }

    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref().and_then(|spec| spec.template.as_ref())
    }

    fn replica_status(&self) -> Option<ReplicaSetStatus> {
        let status = self.status.as_ref()?;
        Some(ReplicaSetStatus {
            replicas: status.replicas,
            fully_labeled_replicas: status.fully_labeled_replicas,
            ready_replicas: status.ready_replicas,
            available_replicas: status.available_replicas,
            observed_generation: status.observed_generation,
            terminating_replicas: None,
            conditions: status.conditions.as_ref().map(|conditions| {
                conditions
                    .iter()
                    .map(|condition| ReplicaSetCondition {
                        type_: Some(condition.type_.clone()),
                        status: Some(condition.status.clone()),
                        reason: condition.reason.clone(),
                        message: condition.message.clone(),
                        last_transition_time: condition.last_transition_time.clone(),
                    })
                    .collect()
            }),
        })
    }

    fn set_replica_status(&mut self, status: ReplicaSetStatus) {
        self.status = Some(ReplicationControllerStatus {
            replicas: status.replicas,
            fully_labeled_replicas: status.fully_labeled_replicas,
            ready_replicas: status.ready_replicas,
            available_replicas: status.available_replicas,
            observed_generation: status.observed_generation,
            conditions: status.conditions.map(|conditions| {
                conditions
                    .into_iter()
                    .map(|condition| ReplicationControllerCondition {
                        type_: condition.type_.unwrap_or_default(),
                        status: condition.status.unwrap_or_default(),
                        reason: condition.reason,
                        message: condition.message,
                        last_transition_time: condition.last_transition_time,
                    })
                    .collect()
            }),
        });
    }
}

/// Which kind one instance of the controller manages: the Plugin's
/// `spec.config.kind`, `ReplicaSet` when absent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ManagedKind {
    #[default]
    ReplicaSet,
    ReplicationController,
}

impl ManagedKind {
    /// The kind `config` names; another kind is [`Error::Invalid`].
    pub fn from_config(config: &serde_json::Value) -> Result<Self, Error> {
        match config.get("kind") {
            None => Ok(ManagedKind::ReplicaSet),
            Some(kind) => match kind.as_str() {
                Some("ReplicaSet") => Ok(ManagedKind::ReplicaSet),
                Some("ReplicationController") => Ok(ManagedKind::ReplicationController),
                _ => Err(Error::Invalid(format!(
                    "kind must be ReplicaSet or ReplicationController, not {kind}"
                ))),
            },
        }
    }
}
