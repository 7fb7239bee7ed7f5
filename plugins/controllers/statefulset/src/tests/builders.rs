//! Small builders for the objects of a case: `stateful_set("web").replicas(3)`,
//! and what the kubelet would do to a pod (`make_ready`, `set_phase`).

use std::collections::BTreeMap;

use wharf_sdk::k8s_openapi::api::apps::v1::{
    RollingUpdateStatefulSetStrategy, StatefulSet, StatefulSetOrdinals,
    StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec, StatefulSetUpdateStrategy,
};
use wharf_sdk::k8s_openapi::api::core::v1::{
    Container, PersistentVolumeClaim, Pod, PodCondition, PodSpec, PodStatus, PodTemplateSpec,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use wharf_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use wharf_sdk::testing::FakeCluster;
use wharf_sdk::time_from_millis;

pub const NS: &str = "default";

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

pub struct SetBuilder(StatefulSet);

/// A set of one replica selecting and labelling its pods `app=<name>`,
/// served by the Service `<name>-svc`, defaulted as the API server does
/// (OrderedReady, RollingUpdate with partition 0, 10 revisions).
pub fn stateful_set(name: &str) -> SetBuilder {
    let app = labels(&[("app", name)]);
    SetBuilder(StatefulSet {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(NS.to_owned()),
            uid: Some(format!("uid-{name}")),
            generation: Some(1),
            ..ObjectMeta::default()
        },
        spec: StatefulSetSpec {
            replicas: Some(1),
            service_name: Some(format!("{name}-svc")),
            pod_management_policy: Some("OrderedReady".to_owned()),
            revision_history_limit: Some(10),
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
                        name: "app".to_owned(),
                        image: Some("nginx:1".to_owned()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateStatefulSetStrategy {
                    partition: Some(0),
                    max_unavailable: None,
                }),
            }),
            ..StatefulSetSpec::default()
        },
        status: None,
    })
}

impl SetBuilder {
    pub fn replicas(mut self, replicas: i32) -> Self {
        self.0.spec.replicas = Some(replicas);
        self
    }

    pub fn parallel(mut self) -> Self {
        self.0.spec.pod_management_policy = Some("Parallel".to_owned());
        self
    }

    pub fn start_ordinal(mut self, start: i32) -> Self {
        self.0.spec.ordinals = Some(StatefulSetOrdinals { start: Some(start) });
        self
    }

    pub fn min_ready_seconds(mut self, seconds: i32) -> Self {
        self.0.spec.min_ready_seconds = Some(seconds);
        self
    }

    pub fn history_limit(mut self, limit: i32) -> Self {
        self.0.spec.revision_history_limit = Some(limit);
        self
    }

    pub fn on_delete(mut self) -> Self {
        self.0.spec.update_strategy = Some(StatefulSetUpdateStrategy {
            type_: Some("OnDelete".to_owned()),
            rolling_update: None,
        });
        self
    }

    pub fn max_unavailable(mut self, max_unavailable: i32) -> Self {
        set_rolling_update(&mut self.0, None, Some(max_unavailable));
        self
    }

    /// A volumeClaimTemplate named `name`.
    pub fn claim_template(mut self, name: &str) -> Self {
        self.0
            .spec
            .volume_claim_templates
            .get_or_insert_with(Vec::new)
            .push(PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(name.to_owned()),
                    labels: Some(labels(&[("tier", "data")])),
                    ..ObjectMeta::default()
                },
                ..PersistentVolumeClaim::default()
            });
        self
    }

    pub fn retention(mut self, when_deleted: &str, when_scaled: &str) -> Self {
        self.0.spec.persistent_volume_claim_retention_policy =
            Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
                when_deleted: Some(when_deleted.to_owned()),
                when_scaled: Some(when_scaled.to_owned()),
            });
        self
    }

    pub fn build(self) -> StatefulSet {
        self.0
    }
}

/// Sets the partition and/or maxUnavailable of the rolling update.
pub fn set_rolling_update(
    set: &mut StatefulSet,
    partition: Option<i32>,
    max_unavailable: Option<i32>,
) {
    let strategy = set
        .spec
        .update_strategy
        .get_or_insert_with(Default::default);
    let rolling_update = strategy.rolling_update.get_or_insert_with(Default::default);
    if let Some(partition) = partition {
        rolling_update.partition = Some(partition);
    }
    if let Some(max_unavailable) = max_unavailable {
        rolling_update.max_unavailable = Some(IntOrString::Int(max_unavailable));
    }
}

/// Changes the template's image, as `kubectl set image` does (a new generation).
pub fn set_image(fake: &FakeCluster, image: &str) {
    fake.modify::<StatefulSet>(Some(NS), "web", |set| {
        set.spec.template.spec.as_mut().unwrap().containers[0].image = Some(image.to_owned());
        set.metadata.generation = Some(set.metadata.generation.unwrap_or(1) + 1);
    });
}

/// The kubelet reports the pod Running and Ready since `ready_seconds_ago`.
pub fn make_ready_since(fake: &FakeCluster, name: &str, ready_seconds_ago: u64) {
    let since = time_from_millis(fake.now_millis() - ready_seconds_ago * 1000);
    fake.modify::<Pod>(Some(NS), name, |pod| {
        pod.status = Some(PodStatus {
            phase: Some("Running".to_owned()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".to_owned(),
                status: "True".to_owned(),
                last_transition_time: Some(since),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        });
    });
}

pub fn make_ready(fake: &FakeCluster, name: &str) {
    make_ready_since(fake, name, 3600);
}

pub fn set_phase(fake: &FakeCluster, name: &str, phase: &str) {
    fake.modify::<Pod>(Some(NS), name, |pod| {
        pod.status = Some(PodStatus {
            phase: Some(phase.to_owned()),
            ..PodStatus::default()
        });
    });
}

/// Gives the pod a finalizer, so that a delete leaves it terminating.
pub fn hold(fake: &FakeCluster, name: &str) {
    fake.modify::<Pod>(Some(NS), name, |pod| {
        pod.metadata.finalizers = Some(vec!["example.com/hold".to_owned()]);
    });
}

/// A pod not made by the controller.
pub fn orphan_pod(name: &str, pairs: &[(&str, &str)]) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(NS.to_owned()),
            labels: Some(labels(pairs)),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec::default()),
        status: Some(PodStatus {
            phase: Some("Pending".to_owned()),
            ..PodStatus::default()
        }),
    }
}
