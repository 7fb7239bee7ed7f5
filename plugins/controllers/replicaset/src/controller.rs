//! The ReplicaSet controller (as Kubernetes' `pkg/controller/replicaset`):
//! keeps `spec.replicas` active pods matching the selector, made from the
//! pod template, and reports them in the status. Configured with
//! `kind: ReplicationController` it is kube's `replication` controller: the
//! same logic over ReplicationControllers ([`crate::kind`]).

use std::cell::RefCell;
use std::time::Duration;

use wharf_sdk::k8s_openapi::api::apps::v1::ReplicaSet;
use wharf_sdk::k8s_openapi::api::core::v1::{Pod, ReplicationController};
use wharf_sdk::prelude::*;

use crate::claim::claim_pods;
use crate::kind::{ManagedKind, Replicated};
use crate::pods;
use crate::status::{calculate_status, update_status};
use wharf_sdk::expectations::Expectations;
use wharf_sdk::pod_control::{create_pods, delete_pod, slow_start_batch};

/// Reconciles ReplicaSets (or ReplicationControllers) and owns their pods.
#[derive(Debug, Default)]
pub struct ReplicaSetController {
    /// Pods created or deleted but not yet seen, per `namespace/name`.
    expectations: RefCell<Expectations>,
    /// What this instance manages: the Plugin's `spec.config.kind`.
    kind: ManagedKind,
}

/// At most this many pods are created or deleted in one reconcile (`BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;

/// The first batch of creations has one pod; each successful batch doubles
/// the next (`SlowStartInitialBatchSize`).
pub const SLOW_START_INITIAL_BATCH_SIZE: usize = 1;

/// Event reasons, as Kubernetes' pod control records them on the ReplicaSet
/// (or ReplicationController).
pub use wharf_sdk::pod_control::reasons;

impl Controller for ReplicaSetController {
    /// ReplicaSets owning pods, or ReplicationControllers owning pods
    /// with `kind: ReplicationController` in `config`.
    fn registration(config: &serde_json::Value) -> Result<Registration, Error> {
        Ok(match ManagedKind::from_config(config)? {
            ManagedKind::ReplicaSet => Registration::new::<ReplicaSet>().owns::<Pod>(),
            ManagedKind::ReplicationController => {
                Registration::new::<ReplicationController>().owns::<Pod>()
            }
        })
    }

    fn configure(&mut self, config: &serde_json::Value) -> Result<(), Error> {
        self.kind = ManagedKind::from_config(config)?;
        Ok(())
    }

    fn reconcile(
        &self,
        ctx: &Context,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Action, Error> {
        match self.kind {
            ManagedKind::ReplicaSet => self.sync::<ReplicaSet>(ctx, namespace, name),
            ManagedKind::ReplicationController => {
                self.sync::<ReplicationController>(ctx, namespace, name)
            }
        }
    }
}

impl ReplicaSetController {
    /// An instance managing `kind` (what `configure` makes of the Plugin's config).
    pub fn for_kind(kind: ManagedKind) -> Self {
        ReplicaSetController {
            kind,
            ..ReplicaSetController::default()
        }
    }

    /// `syncReplicaSet`: claim, create or delete, then status.
    fn sync<K: Replicated>(
        &self,
        ctx: &Context,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Action, Error> {
        let Some(namespace) = namespace else {
            ctx.warn(format!(
                "{} key {name:?} has no namespace; ignoring it",
                K::KIND
            ));
            return Ok(Action::Done);
        };
        let key = format!("{namespace}/{name}");
        let Some(replica_set) = ctx.get::<K>(Some(namespace), name)? else {
            // Gone: its pods are garbage-collected by their owner references.
            self.expectations.borrow_mut().forget(&key);
            return Ok(Action::Done);
        };
        let selector = match Selector::from_label_selector(&replica_set.label_selector()) {
            Ok(selector) => selector,
            Err(error) => {
                // Retrying cannot help until the object changes.
                ctx.error(format!(
                    "{} {key} has an invalid selector: {error}",
                    K::KIND
                ));
                return Ok(Action::Done);
            }
        };

        // Every pod of the namespace, to find pods that carry our owner
        // reference but no longer match the selector.
        let all_pods: Vec<Pod> = ctx.list(Some(namespace), &ListParams::default())?;
        let needs_sync =
            self.expectations
                .borrow_mut()
                .satisfied(&key, &all_pods, ctx.now_millis());
        let active: Vec<Pod> = all_pods
            .iter()
            .filter(|pod| pods::is_active(pod))
            .cloned()
            .collect();
        let claimed = claim_pods(ctx, &replica_set, &selector, active)?;

        let manage_result = if needs_sync && replica_set.metadata().deletion_timestamp.is_none() {
            self.manage_replicas(ctx, &replica_set, &key, &claimed, &all_pods)
        } else {
            Ok(())
        };

        let uid = replica_set.metadata().uid.as_deref();
        let terminating = all_pods
            .iter()
            .filter(|pod| pods::is_terminating(pod))
            .filter(|pod| controller_of(*pod).map(|reference| reference.uid.as_str()) == uid)
            .filter(|pod| selector.matches_labels(pod.metadata.labels.as_ref()))
            .count();
        let now = ctx.now();
        let status = calculate_status(
            &replica_set,
            &claimed,
            terminating,
            manage_result.as_ref().err(),
            &now,
        );
        update_status(ctx, &replica_set, status)?;
        manage_result?;

        // Availability comes with time, not with an event: look again when
        // the next ready pod has been ready for minReadySeconds.
        let min_ready_seconds = i64::from(replica_set.min_ready_seconds());
        let next_available = claimed
            .iter()
            .filter(|pod| pods::is_ready(pod) && !pods::is_available(pod, min_ready_seconds, now.0))
            .map(|pod| {
                pods::millis_until_available(pod, min_ready_seconds, now.0)
                    .unwrap_or(min_ready_seconds * 1000)
            })
            .min();
        Ok(match next_available {
            Some(millis) => Action::RequeueAfter(Duration::from_millis(
                millis.clamp(1, min_ready_seconds * 1000 + 1) as u64,
            )),
            None => Action::Done,
        })
    }

    /// `manageReplicas`: creates missing pods in slow-start batches or
    /// deletes surplus ones, at most [`BURST_REPLICAS`] either way.
    fn manage_replicas<K: Replicated>(
        &self,
        ctx: &Context,
        replica_set: &K,
        key: &str,
        claimed: &[Pod],
        all_pods: &[Pod],
    ) -> Result<(), Error> {
        let replicas = usize::try_from(replica_set.replicas()).unwrap_or(0);
        let namespace = replica_set.metadata().namespace.as_deref();
        if claimed.len() < replicas {
            let diff = (replicas - claimed.len()).min(BURST_REPLICAS);
            ctx.debug(format!(
                "{} {key}: too few replicas, need {replicas}, creating {diff}",
                K::KIND
            ));
            let pod = pods::pod_from_template(replica_set)?;
            let mut created = Vec::new();
            // Each batch is one `create_all`: the host writes it concurrently.
            let result = slow_start_batch(diff, SLOW_START_INITIAL_BATCH_SIZE, |batch| {
                create_pods(
                    ctx,
                    replica_set,
                    namespace,
                    &vec![pod.clone(); batch],
                    &mut created,
                )
            });
            self.expectations
                .borrow_mut()
                .expect(key, created, Vec::new(), ctx.now_millis());
            result
        } else if claimed.len() > replicas {
            let diff = (claimed.len() - replicas).min(BURST_REPLICAS);
            ctx.debug(format!(
                "{} {key}: too many replicas, need {replicas}, deleting {diff}",
                K::KIND
            ));
            let related = related_pods(ctx, replica_set, all_pods);
            let candidates: Vec<&Pod> = claimed.iter().collect();
            let to_delete = pods::pods_to_delete(&candidates, &related, diff, ctx.now().0);
            let mut deleted = Vec::new();
            let mut first_error = None;
            for pod in to_delete {
                let name = pod.metadata.name.clone().unwrap_or_default();
                match delete_pod(ctx, replica_set, namespace, &name) {
                    Ok(true) => deleted.push(name),
                    Ok(false) => {}
                    Err(error) => {
                        first_error.get_or_insert(error);
                    }
                }
            }
            self.expectations
                .borrow_mut()
                .expect(key, Vec::new(), deleted, ctx.now_millis());
            first_error.map_or(Ok(()), Err)
        } else {
            Ok(())
        }
    }
}

/// The pods of every ReplicaSet with the same controller as this one (its
/// Deployment's), used to prefer deleting pods from crowded nodes
/// (`getIndirectlyRelatedPods`). Empty when the ReplicaSet has no controller.
fn related_pods<'a, K: Replicated>(
    ctx: &Context,
    replica_set: &K,
    all_pods: &'a [Pod],
) -> Vec<&'a Pod> {
    let Some(owner) = controller_of(replica_set) else {
        return Vec::new();
    };
    let siblings: Vec<K> = match ctx.list(
        replica_set.metadata().namespace.as_deref(),
        &ListParams::default(),
    ) {
        Ok(siblings) => siblings,
        Err(error) => {
            ctx.warn(format!(
                "listing {}s to rank pods for deletion: {error}",
                K::KIND
            ));
            return Vec::new();
        }
    };
    let selectors: Vec<Selector> = siblings
        .iter()
        .filter(|sibling| {
            controller_of(*sibling).is_some_and(|reference| reference.uid == owner.uid)
        })
        .filter_map(|sibling| Selector::from_label_selector(&sibling.label_selector()).ok())
        .collect();
    all_pods
        .iter()
        .filter(|pod| {
            selectors
                .iter()
                .any(|selector| selector.matches_labels(pod.metadata.labels.as_ref()))
        })
        .collect()
}
