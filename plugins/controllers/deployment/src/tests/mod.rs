//! Unit tests of the Deployment controller against the SDK's `FakeCluster`:
//! small builders, a harness that plays the ReplicaSet controller (it sets
//! the ReplicaSets' status as if their pods existed), and what kubectl does
//! for `rollout status`, `rollout history` and `rollout undo`, ported from
//! kubectl so the tests check what a kubectl user would see.

mod creation;
mod history;
mod recreate;
mod rolling;
mod scaling;
mod status;

use std::collections::BTreeMap;

use wharf_sdk::k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, ReplicaSet, ReplicaSetStatus,
    RollingUpdateDeployment,
};
use wharf_sdk::k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use wharf_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use wharf_sdk::prelude::*;
use wharf_sdk::serde_json::json;
use wharf_sdk::testing::FakeCluster;

use crate::DeploymentController;
use crate::conditions;
use crate::hash::equal_ignore_hash;
use crate::names::{POD_TEMPLATE_HASH_LABEL, annotation, condition, reason};
use crate::replica_sets as rs;

pub const NAMESPACE: &str = "default";

// --- Builders ---

/// A Deployment `name` of 3 `nginx:1` pods labelled `app=<name>`, with the
/// API server's defaults left out (the controller applies them).
pub fn deployment(name: &str) -> DeploymentBuilder {
    let labels: BTreeMap<String, String> = [("app".to_owned(), name.to_owned())].into();
    DeploymentBuilder(Deployment {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(NAMESPACE.to_owned()),
            ..ObjectMeta::default()
        },
        spec: DeploymentSpec {
            replicas: Some(3),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                match_expressions: None,
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "web".to_owned(),
                        image: Some("nginx:1".to_owned()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        },
        status: None,
    })
}

pub struct DeploymentBuilder(Deployment);

impl DeploymentBuilder {
    pub fn replicas(mut self, replicas: i32) -> Self {
        self.0.spec.replicas = Some(replicas);
        self
    }

    pub fn image(mut self, image: &str) -> Self {
        set_image(&mut self.0, image);
        self
    }

    /// RollingUpdate with these bounds (`"25%"` or `"1"`).
    pub fn rolling_update(mut self, max_surge: &str, max_unavailable: &str) -> Self {
        self.0.spec.strategy = Some(DeploymentStrategy {
            type_: Some("RollingUpdate".to_owned()),
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(int_or_string(max_surge)),
                max_unavailable: Some(int_or_string(max_unavailable)),
            }),
        });
        self
    }

    pub fn recreate(mut self) -> Self {
        self.0.spec.strategy = Some(DeploymentStrategy {
            type_: Some("Recreate".to_owned()),
            rolling_update: None,
        });
        self
    }

    pub fn paused(mut self) -> Self {
        self.0.spec.paused = Some(true);
        self
    }

    pub fn revision_history_limit(mut self, limit: i32) -> Self {
        self.0.spec.revision_history_limit = Some(limit);
        self
    }

    pub fn progress_deadline_seconds(mut self, seconds: i32) -> Self {
        self.0.spec.progress_deadline_seconds = Some(seconds);
        self
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_owned(), value.to_owned());
        self
    }

    pub fn build(self) -> Deployment {
        self.0
    }
}

pub fn int_or_string(text: &str) -> IntOrString {
    match text.parse() {
        Ok(n) => IntOrString::Int(n),
        Err(_) => IntOrString::String(text.to_owned()),
    }
}

pub fn set_image(deployment: &mut Deployment, image: &str) {
    let spec = deployment
        .spec
        .template
        .spec
        .as_mut()
        .expect("the template has a pod spec");
    spec.containers[0].image = Some(image.to_owned());
}

/// An image of the new template's ReplicaSet.
pub fn image_of(replica_set: &ReplicaSet) -> String {
    rs::template(replica_set).spec.unwrap().containers[0]
        .image
        .clone()
        .unwrap()
}

// --- The harness ---

/// How the pods of the ReplicaSets become available when
/// [`Cluster::run_replica_sets`] plays the ReplicaSet controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pods {
    /// Every pod is available as soon as it exists.
    ReadyAtOnce,
    /// A pod becomes available one round after it was created.
    ReadyNextRound,
    /// New pods never become available (a broken image).
    NeverReady,
}

/// One Deployment in a fake cluster, and the ReplicaSet controller played by hand.
pub struct Cluster {
    pub fake: FakeCluster,
    name: String,
}

impl Cluster {
    pub fn new(deployment: Deployment) -> Self {
        let fake = FakeCluster::new();
        let name = deployment.metadata.name.clone().unwrap();
        fake.add(deployment);
        Cluster { fake, name }
    }

    /// One reconcile of the Deployment.
    pub fn reconcile(&self) -> Action {
        let key = format!("{NAMESPACE}/{}", self.name);
        self.fake
            .run::<DeploymentController>(&key)
            .unwrap_or_else(|error| panic!("reconcile failed: {error}"))
    }

    /// One reconcile that must fail.
    pub fn reconcile_err(&self) -> Error {
        let key = format!("{NAMESPACE}/{}", self.name);
        self.fake
            .run::<DeploymentController>(&key)
            .expect_err("the reconcile should fail")
    }

    /// Reconciles and plays the ReplicaSet controller (every pod ready at
    /// once) until nothing changes any more.
    pub fn settle(&self) -> Action {
        self.settle_with(Pods::ReadyAtOnce)
    }

    pub fn settle_with(&self, pods: Pods) -> Action {
        for _ in 0..50 {
            let before = self.fake.revision();
            let action = self.reconcile();
            self.run_replica_sets(pods);
            if self.fake.revision() == before {
                return action;
            }
        }
        panic!(
            "the Deployment did not settle in 50 rounds: {:?}",
            self.sizes()
        );
    }

    pub fn deployment(&self) -> Deployment {
        self.fake
            .get::<Deployment>(Some(NAMESPACE), &self.name)
            .expect("the Deployment exists")
    }

    pub fn status(&self) -> wharf_sdk::k8s_openapi::api::apps::v1::DeploymentStatus {
        self.deployment().status.unwrap_or_default()
    }

    /// The Deployment's ReplicaSets (those it controls), lowest revision first.
    pub fn replica_sets(&self) -> Vec<ReplicaSet> {
        let deployment = self.deployment();
        let mut list: Vec<ReplicaSet> = (self.fake.list::<ReplicaSet>(Some(NAMESPACE)).into_iter())
            .filter(|r| is_controlled_by(r, &deployment))
            .collect();
        list.sort_by(rs::by_revision);
        list
    }

    /// The ReplicaSet of revision `revision`.
    pub fn revision(&self, revision: i64) -> ReplicaSet {
        (self.replica_sets().into_iter())
            .find(|r| rs::revision(r) == Ok(revision))
            .unwrap_or_else(|| panic!("no ReplicaSet of revision {revision}"))
    }

    /// `spec.replicas` of each ReplicaSet, lowest revision first.
    pub fn sizes(&self) -> Vec<i32> {
        self.replica_sets().iter().map(rs::replicas).collect()
    }

    /// Changes the Deployment as a client would (an update: the generation moves).
    pub fn edit(&self, change: impl FnOnce(&mut Deployment)) {
        let mut deployment = self.deployment();
        change(&mut deployment);
        self.fake
            .context()
            .update(&deployment)
            .expect("the edit is stored");
    }

    pub fn set_image(&self, image: &str) {
        self.edit(|d| set_image(d, image));
    }

    pub fn scale(&self, replicas: i32) {
        self.edit(|d| d.spec.replicas = Some(replicas));
    }

    /// Plays the ReplicaSet controller once: each ReplicaSet's pods are
    /// created or deleted to its size at once (so `status.replicas` is the
    /// size), and become available as `pods` says. Writes only what changes.
    pub fn run_replica_sets(&self, pods: Pods) {
        for replica_set in self.fake.list::<ReplicaSet>(Some(NAMESPACE)) {
            let size = rs::replicas(&replica_set);
            let before = replica_set.status.clone().unwrap_or_default();
            let available = match pods {
                Pods::ReadyAtOnce => size,
                Pods::ReadyNextRound => size.min(before.replicas),
                Pods::NeverReady => size.min(before.available_replicas.unwrap_or(0)),
            };
            self.set_replica_set_status(rs::name(&replica_set), size, available);
        }
    }

    /// Sets a ReplicaSet's status as its controller would: `replicas` pods,
    /// `available` of them ready and available, and its spec observed.
    pub fn set_replica_set_status(&self, name: &str, replicas: i32, available: i32) {
        let replica_set = self
            .fake
            .get::<ReplicaSet>(Some(NAMESPACE), name)
            .expect("the ReplicaSet exists");
        let status = ReplicaSetStatus {
            replicas,
            fully_labeled_replicas: nonzero(replicas),
            ready_replicas: nonzero(available),
            available_replicas: nonzero(available),
            terminating_replicas: Some(0),
            observed_generation: replica_set.metadata.generation,
            conditions: None,
        };
        if replica_set.status.as_ref() != Some(&status) {
            self.fake
                .modify::<ReplicaSet>(Some(NAMESPACE), name, |r| r.status = Some(status));
        }
    }

    /// The messages of the events recorded since the last call.
    pub fn events(&self) -> Vec<String> {
        self.fake
            .take_events()
            .into_iter()
            .map(|e| format!("{} {}", e.reason, e.message))
            .collect()
    }

    /// The Progressing condition's reason.
    pub fn progressing_reason(&self) -> Option<String> {
        conditions::get(&self.status(), condition::PROGRESSING).and_then(|c| c.reason.clone())
    }
}

fn nonzero(value: i32) -> Option<i32> {
    (value != 0).then_some(value)
}

// --- kubectl, ported ---

/// `kubectl rollout status deployment/<name>`: the message it prints,
/// whether it is done, or its error (`DeploymentStatusViewer.Status`).
pub fn rollout_status(deployment: &Deployment) -> Result<(String, bool), String> {
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let status = deployment.status.clone().unwrap_or_default();
    if deployment.metadata.generation.unwrap_or(0) > status.observed_generation.unwrap_or(0) {
        return Ok((
            "Waiting for deployment spec update to be observed...".to_owned(),
            false,
        ));
    }
    let progressing = conditions::get(&status, condition::PROGRESSING);
    if progressing.and_then(|c| c.reason.as_deref()) == Some(reason::PROGRESS_DEADLINE_EXCEEDED) {
        return Err(format!(
            "deployment {name:?} exceeded its progress deadline"
        ));
    }
    let updated = status.updated_replicas.unwrap_or(0);
    let (replicas, available) = (
        status.replicas.unwrap_or(0),
        status.available_replicas.unwrap_or(0),
    );
    if let Some(wanted) = deployment.spec.replicas
        && updated < wanted
    {
        let message = format!(
            "Waiting for deployment {name:?} rollout to finish: {updated} out of {wanted} new replicas have been updated..."
        );
        return Ok((message, false));
    }
    if replicas > updated {
        let old = replicas - updated;
        let message = format!(
            "Waiting for deployment {name:?} rollout to finish: {old} old replicas are pending termination..."
        );
        return Ok((message, false));
    }
    if available < updated {
        let message = format!(
            "Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available..."
        );
        return Ok((message, false));
    }
    Ok((format!("deployment {name:?} successfully rolled out"), true))
}

/// The ReplicaSets kubectl considers the Deployment's (`deploymentutil.ListReplicaSets`:
/// the Deployment's selector, and controlled by it).
fn kubectl_replica_sets(cluster: &Cluster, deployment: &Deployment) -> Vec<ReplicaSet> {
    let selector = Selector::from_label_selector(&deployment.spec.selector).unwrap();
    let params = ListParams::default().labels(selector.to_string());
    let ctx = cluster.fake.context();
    let list: Vec<ReplicaSet> = ctx.list(Some(NAMESPACE), &params).unwrap();
    list.into_iter()
        .filter(|r| is_controlled_by(r, deployment))
        .collect()
}

/// `kubectl rollout history deployment/<name>`: each revision and its CHANGE-CAUSE.
pub fn rollout_history(cluster: &Cluster) -> Vec<(i64, Option<String>)> {
    let deployment = cluster.deployment();
    let mut history: Vec<(i64, Option<String>)> = kubectl_replica_sets(cluster, &deployment)
        .iter()
        .filter_map(|r| {
            let revision = rs::revision(r).ok()?;
            Some((
                revision,
                rs::annotation_of(r, annotation::CHANGE_CAUSE).map(str::to_owned),
            ))
        })
        .collect();
    history.sort();
    history
}

/// `kubectl rollout undo deployment/<name> [--to-revision=N]`
/// (`DeploymentRollbacker.Rollback`): the template of the ReplicaSet of that
/// revision (0: the previous one), without its hash label, and its
/// annotations, sent as a JSON patch. Returns what kubectl prints.
pub fn rollout_undo(cluster: &Cluster, to_revision: i64) -> Result<String, String> {
    let deployment = cluster.deployment();
    let replica_sets = kubectl_replica_sets(cluster, &deployment);
    let target = if to_revision == 0 {
        let mut by_revision: Vec<&ReplicaSet> = replica_sets
            .iter()
            .filter(|r| rs::revision(r).is_ok())
            .collect();
        by_revision.sort_by_key(|r| rs::revision(r).unwrap());
        if by_revision.len() < 2 {
            return Err(format!(
                "no rollout history found for deployment {:?}",
                cluster.name
            ));
        }
        by_revision[by_revision.len() - 2].clone()
    } else {
        (replica_sets
            .iter()
            .find(|r| rs::revision(r) == Ok(to_revision))
            .cloned())
        .ok_or_else(|| format!("unable to find specified revision {to_revision} in history"))?
    };
    if deployment.spec.paused == Some(true) {
        return Err(format!(
            "you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume deployment/{}' and try again",
            cluster.name
        ));
    }
    let mut template = rs::template(&target);
    if equal_ignore_hash(&template, &deployment.spec.template) {
        return Ok(format!(
            "deployment.apps/{} skipped rollback (current template already matches revision {to_revision})",
            cluster.name
        ));
    }
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    let mut annotations: BTreeMap<String, String> =
        (deployment.metadata.annotations.iter().flatten())
            .filter(|(key, _)| annotation::is_not_copied(key))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
    for (key, value) in target.metadata.annotations.iter().flatten() {
        if !annotation::is_not_copied(key) {
            annotations.insert(key.clone(), value.clone());
        }
    }
    let patch = json!([
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]);
    let ctx = cluster.fake.context();
    ctx.patch::<Deployment>(Some(NAMESPACE), &cluster.name, &Patch::Json(patch), false)
        .map_err(|e| format!("failed restoring revision {to_revision}: {e}"))?;
    Ok(format!("deployment.apps/{} rolled back", cluster.name))
}
