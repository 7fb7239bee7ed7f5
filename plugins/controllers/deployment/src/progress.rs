//! Rollout progress (`progress.go`): the Progressing condition that
//! `kubectl rollout status` reads — NewReplicaSetAvailable when complete,
//! ReplicaSetUpdated while pods move, ProgressDeadlineExceeded when nothing
//! moved for `progressDeadlineSeconds` — the ReplicaFailure condition
//! promoted from the ReplicaSets, and the requeue that notices a deadline
//! passing while nothing else happens.

use std::time::Duration;

use wharf_sdk::k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet,
};

use crate::conditions;
use crate::names::{condition, reason};
use crate::replica_sets as rs;
use crate::sync::DeploymentSync;

impl DeploymentSync<'_, '_> {
    /// `syncRolloutStatus`: the status after a rollout step, with progress estimated.
    pub(crate) fn sync_rollout_status(
        &mut self,
        all: &[ReplicaSet],
        new: Option<&ReplicaSet>,
    ) -> Result<(), wharf_sdk::Error> {
        let mut status = self.calculate_status(all, new);
        if !self.spec.has_progress_deadline() {
            conditions::remove(&mut status, condition::PROGRESSING);
        }
        let old_status = self.deployment.status.clone().unwrap_or_default();
        let current = conditions::get(&old_status, condition::PROGRESSING).cloned();
        // A resync of a finished rollout estimates nothing.
        let is_complete_deployment = status.replicas == status.updated_replicas
            && current
                .as_ref()
                .is_some_and(|c| c.reason.as_deref() == Some(reason::NEW_REPLICA_SET_AVAILABLE));
        if self.spec.has_progress_deadline() && !is_complete_deployment {
            let subject = match new {
                Some(new) => format!("ReplicaSet {:?}", rs::name(new)),
                None => format!(
                    "Deployment {:?}",
                    self.deployment.metadata.name.as_deref().unwrap_or_default()
                ),
            };
            if deployment_complete(&self.deployment, self.spec.replicas, &status) {
                let message = format!("{subject} has successfully progressed.");
                let complete = conditions::new(
                    condition::PROGRESSING,
                    condition::TRUE,
                    reason::NEW_REPLICA_SET_AVAILABLE,
                    message,
                    &self.now,
                );
                conditions::set(&mut status, complete);
            } else if deployment_progressing(&old_status, &status) {
                let message = format!("{subject} is progressing.");
                let mut progressing = conditions::new(
                    condition::PROGRESSING,
                    condition::TRUE,
                    reason::REPLICA_SET_UPDATED,
                    message,
                    &self.now,
                );
                // Progress moves lastUpdateTime even when the reason stays:
                // replace the condition, keeping a True one's transition time.
                if let Some(current) = &current {
                    if current.status.as_deref() == Some(condition::TRUE) {
                        progressing.last_transition_time = current.last_transition_time.clone();
                    }
                    conditions::remove(&mut status, condition::PROGRESSING);
                }
                conditions::set(&mut status, progressing);
            } else if self.timed_out(&status) {
                let message = format!("{subject} has timed out progressing.");
                let timed_out = conditions::new(
                    condition::PROGRESSING,
                    condition::FALSE,
                    reason::PROGRESS_DEADLINE_EXCEEDED,
                    message,
                    &self.now,
                );
                conditions::set(&mut status, timed_out);
            }
        }
        match replica_failure(all, new) {
            Some(failure) => conditions::set(&mut status, failure),
            None => conditions::remove(&mut status, condition::REPLICA_FAILURE),
        }
        self.deployment.status = Some(status);
        self.update_deployment_status()?;
        self.requeue_stuck_deployment();
        Ok(())
    }

    /// `DeploymentTimedOut`: the Progressing condition has not moved for
    /// longer than the deadline (or has timed out already).
    fn timed_out(&self, status: &DeploymentStatus) -> bool {
        let Some(deadline) = self.spec.progress_deadline_seconds else {
            return false;
        };
        let Some(progressing) = conditions::get(status, condition::PROGRESSING) else {
            return false;
        };
        match progressing.reason.as_deref() {
            Some(reason::NEW_REPLICA_SET_AVAILABLE) => return false,
            Some(reason::PROGRESS_DEADLINE_EXCEEDED) => return true,
            _ => {}
        }
        let Some(from) = last_update_millis(progressing) else {
            return false;
        };
        from + i64::from(deadline) * 1000 < self.now_millis as i64
    }

    /// `requeueStuckDeployment`: a rollout that has not finished nor timed
    /// out is looked at again when its deadline passes (a second late, as
    /// Kubernetes does against clock skew). Computed on the status just
    /// written, so the requeue does not depend on the host delivering this
    /// sync's own status write back as an event.
    fn requeue_stuck_deployment(&mut self) {
        let Some(deadline) = self.spec.progress_deadline_seconds else {
            return;
        };
        let status = self.deployment.status.clone().unwrap_or_default();
        let Some(progressing) = conditions::get(&status, condition::PROGRESSING) else {
            return;
        };
        if deployment_complete(&self.deployment, self.spec.replicas, &status)
            || progressing.reason.as_deref() == Some(reason::PROGRESS_DEADLINE_EXCEEDED)
        {
            return;
        }
        let Some(from) = last_update_millis(progressing) else {
            return;
        };
        let remaining = from + i64::from(deadline) * 1000 - self.now_millis as i64;
        let after = Duration::from_millis(remaining.max(0) as u64) + Duration::from_secs(1);
        self.requeue_after = Some(
            self.requeue_after
                .map_or(after, |earlier| earlier.min(after)),
        );
    }
}

/// `DeploymentComplete`: every replica updated and available, no old pod
/// left, and the latest spec observed.
pub(crate) fn deployment_complete(
    deployment: &Deployment,
    replicas: i32,
    status: &DeploymentStatus,
) -> bool {
    status.updated_replicas.unwrap_or(0) == replicas
        && status.replicas.unwrap_or(0) == replicas
        && status.available_replicas.unwrap_or(0) == replicas
        && status.observed_generation.unwrap_or(0) >= deployment.metadata.generation.unwrap_or(0)
}

/// `DeploymentProgressing`: pods were updated, became ready or available,
/// or old ones went, since the stored status.
fn deployment_progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let get = |value: Option<i32>| value.unwrap_or(0);
    let old_old_replicas = get(old.replicas) - get(old.updated_replicas);
    let new_old_replicas = get(new.replicas) - get(new.updated_replicas);
    get(new.updated_replicas) > get(old.updated_replicas)
        || new_old_replicas < old_old_replicas
        || get(new.ready_replicas) > get(old.ready_replicas)
        || get(new.available_replicas) > get(old.available_replicas)
}

/// `getReplicaFailures`: the new ReplicaSet's ReplicaFailure condition, else an old one's.
fn replica_failure(all: &[ReplicaSet], new: Option<&ReplicaSet>) -> Option<DeploymentCondition> {
    let failure_of = |replica_set: &ReplicaSet| {
        replica_set
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| {
                c.iter()
                    .find(|c| c.type_.as_deref() == Some(condition::REPLICA_FAILURE))
            })
            .map(conditions::from_replica_set)
    };
    new.and_then(failure_of)
        .or_else(|| all.iter().find_map(failure_of))
}

fn last_update_millis(condition: &DeploymentCondition) -> Option<i64> {
    Some(condition.last_update_time.as_ref()?.0.as_millisecond())
}
