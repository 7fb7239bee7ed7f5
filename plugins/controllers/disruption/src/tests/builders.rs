//! Small builders for the objects of a case: `budget().min_available(3)`,
//! `pod("a").ready().controlled_by(&replica_set("web", 7))`.

use std::collections::BTreeMap;

use wharf_sdk::k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, ReplicaSet, ReplicaSetSpec, StatefulSet, StatefulSetSpec,
};
use wharf_sdk::k8s_openapi::api::core::v1::{
    Pod, PodCondition, PodSpec, PodStatus, ReplicationController, ReplicationControllerSpec,
};
use wharf_sdk::k8s_openapi::api::policy::v1::{
    PodDisruptionBudget, PodDisruptionBudgetSpec, PodDisruptionBudgetStatus,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta, OwnerReference, Time,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use wharf_sdk::k8s_openapi::{Metadata, Resource};
use wharf_sdk::testing::{FakeCluster, START_MILLIS};
use wharf_sdk::{owner_reference, time_from_millis};

pub const NS: &str = "default";

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

fn metadata(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(NS.to_owned()),
        uid: Some(format!("uid-{name}")),
        ..ObjectMeta::default()
    }
}

pub struct BudgetBuilder(PodDisruptionBudget);

/// The budget `db`, selecting `foo=bar`, with neither minAvailable nor
/// maxUnavailable yet.
pub fn budget() -> BudgetBuilder {
    BudgetBuilder(PodDisruptionBudget {
        metadata: metadata("db"),
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(LabelSelector {
                match_labels: Some(labels(&[("foo", "bar")])),
                match_expressions: None,
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    })
}

impl BudgetBuilder {
    fn spec(&mut self) -> &mut PodDisruptionBudgetSpec {
        self.0.spec.as_mut().expect("the builder sets a spec")
    }

    pub fn min_available(mut self, value: i32) -> Self {
        self.spec().min_available = Some(IntOrString::Int(value));
        self
    }

    pub fn min_available_percent(mut self, value: &str) -> Self {
        self.spec().min_available = Some(IntOrString::String(value.to_owned()));
        self
    }

    pub fn max_unavailable(mut self, value: i32) -> Self {
        self.spec().max_unavailable = Some(IntOrString::Int(value));
        self
    }

    pub fn max_unavailable_percent(mut self, value: &str) -> Self {
        self.spec().max_unavailable = Some(IntOrString::String(value.to_owned()));
        self
    }

    /// `selector: {}`: every pod of the namespace.
    pub fn select_everything(mut self) -> Self {
        self.spec().selector = Some(LabelSelector::default());
        self
    }

    pub fn no_selector(mut self) -> Self {
        self.spec().selector = None;
        self
    }

    /// A selector with an operator kube does not know.
    pub fn invalid_selector(mut self) -> Self {
        self.spec().selector = Some(LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "foo".to_owned(),
                operator: "illegal".to_owned(),
                values: Some(vec!["bar".to_owned()]),
            }]),
        });
        self
    }

    /// A `disruptedPods` entry: `pod` evicted so many seconds ago.
    pub fn disrupted(mut self, pod: &str, seconds_ago_: u64) -> Self {
        self.0
            .status
            .get_or_insert_with(PodDisruptionBudgetStatus::default)
            .disrupted_pods
            .get_or_insert_with(BTreeMap::new)
            .insert(pod.to_owned(), seconds_ago(seconds_ago_));
        self
    }

    pub fn build(self) -> PodDisruptionBudget {
        self.0
    }
}

pub struct PodBuilder(Pod);

/// A pod labelled `foo=bar`, running and Ready, with no controller.
pub fn pod(name: &str) -> PodBuilder {
    PodBuilder(Pod {
        metadata: ObjectMeta {
            labels: Some(labels(&[("foo", "bar")])),
            uid: None,
            ..metadata(name)
        },
        spec: Some(PodSpec {
            node_name: Some("node-1".to_owned()),
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".to_owned()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".to_owned(),
                status: "True".to_owned(),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        }),
    })
}

impl PodBuilder {
    pub fn labels(mut self, pairs: &[(&str, &str)]) -> Self {
        self.0.metadata.labels = Some(labels(pairs));
        self
    }

    pub fn namespace(mut self, namespace: &str) -> Self {
        self.0.metadata.namespace = Some(namespace.to_owned());
        self
    }

    /// Running but not Ready.
    pub fn unready(mut self) -> Self {
        if let Some(status) = self.0.status.as_mut() {
            status.conditions = Some(vec![PodCondition {
                type_: "Ready".to_owned(),
                status: "False".to_owned(),
                ..PodCondition::default()
            }]);
        }
        self
    }

    /// Being deleted (held by a finalizer, so it stays listed).
    pub fn terminating(mut self) -> Self {
        self.0.metadata.deletion_timestamp = Some(seconds_ago(1));
        self.0.metadata.finalizers = Some(vec!["example.com/hold".to_owned()]);
        self
    }

    /// Controlled by `owner` (a ReplicaSet, StatefulSet, ReplicationController…).
    pub fn controlled_by<K>(mut self, owner: &K) -> Self
    where
        K: Resource + Metadata<Ty = ObjectMeta>,
    {
        self.0.metadata.owner_references = Some(vec![owner_reference(owner)]);
        self
    }

    /// Controlled by a kind the disruption controller does not know.
    pub fn controlled_by_unknown_kind(mut self) -> Self {
        self.0.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "apps.test.io/v1".to_owned(),
            kind: "TestWorkload".to_owned(),
            name: "fake-controller".to_owned(),
            uid: "uid-fake-controller".to_owned(),
            controller: Some(true),
            block_owner_deletion: None,
        }]);
        self
    }

    pub fn build(self) -> Pod {
        self.0
    }
}

/// Any of the objects a case holds.
pub enum Object {
    Pod(Pod),
    ReplicaSet(ReplicaSet),
    Deployment(Deployment),
    StatefulSet(StatefulSet),
    ReplicationController(ReplicationController),
}

impl Object {
    pub fn add_to(self, fake: &FakeCluster) {
        match self {
            Object::Pod(object) => drop(fake.add(object)),
            Object::ReplicaSet(object) => drop(fake.add(object)),
            Object::Deployment(object) => drop(fake.add(object)),
            Object::StatefulSet(object) => drop(fake.add(object)),
            Object::ReplicationController(object) => drop(fake.add(object)),
        }
    }
}

impl From<PodBuilder> for Object {
    fn from(pod: PodBuilder) -> Self {
        Object::Pod(pod.build())
    }
}

impl From<ReplicaSet> for Object {
    fn from(object: ReplicaSet) -> Self {
        Object::ReplicaSet(object)
    }
}

impl From<Deployment> for Object {
    fn from(object: Deployment) -> Self {
        Object::Deployment(object)
    }
}

impl From<StatefulSet> for Object {
    fn from(object: StatefulSet) -> Self {
        Object::StatefulSet(object)
    }
}

impl From<ReplicationController> for Object {
    fn from(object: ReplicationController) -> Self {
        Object::ReplicationController(object)
    }
}

pub fn replica_set(name: &str, replicas: i32) -> ReplicaSet {
    ReplicaSet {
        metadata: metadata(name),
        spec: ReplicaSetSpec {
            replicas: Some(replicas),
            ..ReplicaSetSpec::default()
        },
        status: None,
    }
}

/// A ReplicaSet of `replicas` controlled by `deployment`.
pub fn replica_set_of(name: &str, replicas: i32, deployment: &Deployment) -> ReplicaSet {
    let mut replica_set = replica_set(name, replicas);
    replica_set.metadata.owner_references = Some(vec![owner_reference(deployment)]);
    replica_set
}

pub fn deployment(name: &str, replicas: i32) -> Deployment {
    Deployment {
        metadata: metadata(name),
        spec: DeploymentSpec {
            replicas: Some(replicas),
            ..DeploymentSpec::default()
        },
        status: None,
    }
}

pub fn stateful_set(name: &str, replicas: i32) -> StatefulSet {
    StatefulSet {
        metadata: metadata(name),
        spec: StatefulSetSpec {
            replicas: Some(replicas),
            ..StatefulSetSpec::default()
        },
        status: None,
    }
}

pub fn replication_controller(name: &str, replicas: i32) -> ReplicationController {
    ReplicationController {
        metadata: metadata(name),
        spec: Some(ReplicationControllerSpec {
            replicas: Some(replicas),
            ..ReplicationControllerSpec::default()
        }),
        status: None,
    }
}
