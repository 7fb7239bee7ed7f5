//! Small builders for the objects of a case: `daemon_set().node_selector(..)`,
//! `node("a").label(..).taint(..)`, and the cluster's other actors in a
//! line each: the scheduler and kubelet (`run_pods`), a node's removal.

use std::collections::BTreeMap;

use wharf_sdk::k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use wharf_sdk::k8s_openapi::api::core::v1::{
    Container, Node, NodeSpec, Pod, PodCondition, PodSpec, PodStatus, PodTemplateSpec, Taint,
    Toleration,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use wharf_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use wharf_sdk::serde_json;
use wharf_sdk::testing::FakeCluster;
use wharf_sdk::time_from_millis;

use crate::placement::target_node_name;

pub const NS: &str = "default";
pub const NAME: &str = "logs";
pub const UID: &str = "uid-logs";

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

pub struct DaemonSetBuilder(DaemonSet);

/// The DaemonSet `logs`, selecting and labelling its pods `app=logs`, with
/// no update strategy (the defaults: RollingUpdate, maxUnavailable 1).
pub fn daemon_set() -> DaemonSetBuilder {
    let app = labels(&[("app", NAME)]);
    DaemonSetBuilder(DaemonSet {
        metadata: ObjectMeta {
            name: Some(NAME.to_owned()),
            namespace: Some(NS.to_owned()),
            uid: Some(UID.to_owned()),
            ..ObjectMeta::default()
        },
        spec: DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(app.clone()),
                match_expressions: None,
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(app),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "agent".to_owned(),
                        image: Some("fluentd:1".to_owned()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..DaemonSetSpec::default()
        },
        status: None,
    })
}

impl DaemonSetBuilder {
    fn pod_spec(&mut self) -> &mut PodSpec {
        self.0
            .spec
            .template
            .spec
            .as_mut()
            .expect("the builder sets a pod spec")
    }

    pub fn node_selector(mut self, pairs: &[(&str, &str)]) -> Self {
        self.pod_spec().node_selector = Some(labels(pairs));
        self
    }

    /// The pod spec's `affinity`, as JSON.
    pub fn affinity(mut self, affinity: serde_json::Value) -> Self {
        self.pod_spec().affinity = Some(serde_json::from_value(affinity).expect("an Affinity"));
        self
    }

    /// Tolerates the taint `key` whatever its value and effect.
    pub fn tolerate(mut self, key: &str) -> Self {
        self.pod_spec()
            .tolerations
            .get_or_insert_with(Vec::new)
            .push(Toleration {
                key: Some(key.to_owned()),
                operator: Some("Exists".to_owned()),
                ..Toleration::default()
            });
        self
    }

    pub fn host_network(mut self) -> Self {
        self.pod_spec().host_network = Some(true);
        self
    }

    pub fn template_node_name(mut self, node: &str) -> Self {
        self.pod_spec().node_name = Some(node.to_owned());
        self
    }

    pub fn min_ready_seconds(mut self, seconds: i32) -> Self {
        self.0.spec.min_ready_seconds = Some(seconds);
        self
    }

    pub fn revision_history_limit(mut self, limit: i32) -> Self {
        self.0.spec.revision_history_limit = Some(limit);
        self
    }

    pub fn rolling_update(mut self, max_unavailable: IntOrString, max_surge: IntOrString) -> Self {
        self.0.spec.update_strategy = Some(DaemonSetUpdateStrategy {
            type_: Some("RollingUpdate".to_owned()),
            rolling_update: Some(RollingUpdateDaemonSet {
                max_unavailable: Some(max_unavailable),
                max_surge: Some(max_surge),
            }),
        });
        self
    }

    pub fn on_delete(mut self) -> Self {
        self.0.spec.update_strategy = Some(DaemonSetUpdateStrategy {
            type_: Some("OnDelete".to_owned()),
            rolling_update: None,
        });
        self
    }

    pub fn selector(mut self, selector: LabelSelector) -> Self {
        self.0.spec.selector = selector;
        self
    }

    pub fn build(self) -> DaemonSet {
        self.0
    }
}

pub struct NodeBuilder(Node);

pub fn node(name: &str) -> NodeBuilder {
    NodeBuilder(Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec::default()),
        status: None,
    })
}

impl NodeBuilder {
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_owned(), value.to_owned());
        self
    }

    pub fn taint(mut self, key: &str, effect: &str) -> Self {
        self.spec().taints.get_or_insert_with(Vec::new).push(Taint {
            key: key.to_owned(),
            effect: effect.to_owned(),
            ..Taint::default()
        });
        self
    }

    /// Cordoned, as `kubectl cordon` and the node lifecycle controller leave it.
    pub fn unschedulable(mut self) -> Self {
        self.spec().unschedulable = Some(true);
        self.taint("node.kubernetes.io/unschedulable", "NoSchedule")
    }

    fn spec(&mut self) -> &mut NodeSpec {
        self.0.spec.get_or_insert_with(NodeSpec::default)
    }

    pub fn build(self) -> Node {
        self.0
    }
}

/// A pod of the set on `node` (bound), with the set's labels and owner.
pub fn pod_on(name: &str, node: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(NS.to_owned()),
            labels: Some(labels(&[("app", NAME)])),
            owner_references: Some(vec![
                wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                    api_version: "apps/v1".to_owned(),
                    kind: "DaemonSet".to_owned(),
                    name: NAME.to_owned(),
                    uid: UID.to_owned(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                },
            ]),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.to_owned()),
            containers: vec![Container {
                name: "agent".to_owned(),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: None,
    }
}

/// The scheduler and kubelet: every pod not yet bound is bound to the node
/// its affinity names and becomes Running and Ready now.
pub fn run_pods(fake: &FakeCluster) {
    let now = time_from_millis(fake.now_millis());
    for pod in fake.list::<Pod>(Some(NS)) {
        if pod.status.is_some() || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let node = target_node_name(&pod).map(str::to_owned);
        let name = pod.metadata.name.clone().unwrap_or_default();
        let now = now.clone();
        fake.modify::<Pod>(Some(NS), &name, move |pod| {
            if let Some(spec) = pod.spec.as_mut() {
                spec.node_name = node;
            }
            pod.status = Some(ready_status(now));
        });
    }
}

pub fn ready_status(
    since: wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
) -> PodStatus {
    PodStatus {
        phase: Some("Running".to_owned()),
        conditions: Some(vec![PodCondition {
            type_: "Ready".to_owned(),
            status: "True".to_owned(),
            last_transition_time: Some(since),
            ..PodCondition::default()
        }]),
        ..PodStatus::default()
    }
}

/// Sets the pod's phase (Running but not ready, Failed, Succeeded).
pub fn set_phase(fake: &FakeCluster, pod: &str, phase: &str) {
    let phase = phase.to_owned();
    fake.modify::<Pod>(Some(NS), pod, move |pod| {
        pod.status = Some(PodStatus {
            phase: Some(phase),
            ..PodStatus::default()
        });
    });
}
