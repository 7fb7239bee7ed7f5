//! The ReplicaSet's status (as `calculateStatus` and
//! `updateReplicaSetStatus`): replica counts from the claimed pods, the
//! `ReplicaFailure` condition, written through the status subresource only
//! when something changed. A ReplicationController's is computed as a
//! ReplicaSet's and written in its own shape ([`crate::kind`]).

use wharf_sdk::k8s_openapi::api::apps::v1::{ReplicaSetCondition, ReplicaSetStatus};
use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use wharf_sdk::prelude::*;

use crate::kind::Replicated;
use crate::pods;

/// The condition type set while creating or deleting pods fails.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// The status the claimed active pods and the terminating ones give, with
/// `ReplicaFailure` set (reason `FailedCreate` or `FailedDelete`) when
/// managing replicas failed and cleared when it succeeded.
pub fn calculate_status<K: Replicated>(
    replica_set: &K,
    active: &[Pod],
    terminating: usize,
    manage_error: Option<&Error>,
    now: &Time,
) -> ReplicaSetStatus {
    let template_labels = replica_set
        .template()
        .and_then(|template| template.metadata.as_ref())
        .and_then(|metadata| metadata.labels.clone())
        .unwrap_or_default();
    let min_ready_seconds = i64::from(replica_set.min_ready_seconds());
    let fully_labeled = active
        .iter()
        .filter(|pod| {
            let labels = pod.metadata.labels.clone().unwrap_or_default();
            template_labels
                .iter()
                .all(|(key, value)| labels.get(key) == Some(value))
        })
        .count();
    let ready = active.iter().filter(|pod| pods::is_ready(pod)).count();
    let available = active
        .iter()
        .filter(|pod| pods::is_available(pod, min_ready_seconds, now.0))
        .count();

    let mut status = replica_set.replica_status().unwrap_or_default();
    let has_failure = condition(&status, REPLICA_FAILURE).is_some();
    match manage_error {
        Some(error) if !has_failure => {
            let replicas = i64::from(replica_set.replicas());
            let diff = count(active.len()) as i64 - replicas;
            let reason = match diff.signum() {
                -1 => "FailedCreate",
                1 => "FailedDelete",
                _ => "",
            };
            status
                .conditions
                .get_or_insert_with(Vec::new)
                .push(ReplicaSetCondition {
                    type_: Some(REPLICA_FAILURE.to_owned()),
                    status: Some("True".to_owned()),
                    reason: Some(reason.to_owned()),
                    message: Some(error.to_string()),
                    last_transition_time: Some(now.clone()),
                });
        }
        None if has_failure => {
            if let Some(conditions) = status.conditions.as_mut() {
                conditions.retain(|condition| condition.type_.as_deref() != Some(REPLICA_FAILURE));
            }
            if status.conditions.as_ref().is_some_and(Vec::is_empty) {
                status.conditions = None;
            }
        }
        _ => {}
    }
    status.replicas = count(active.len());
    status.fully_labeled_replicas = non_zero(fully_labeled);
    status.ready_replicas = non_zero(ready);
    status.available_replicas = non_zero(available);
    status.terminating_replicas = Some(count(terminating));
    status
}

/// Writes `status` (with `observedGeneration`) unless the ReplicaSet already
/// has it (as its kind's status shows it); on a conflict, reads the
/// ReplicaSet again and retries once. Returns the ReplicaSet as stored.
pub fn update_status<K: Replicated>(
    ctx: &Context,
    replica_set: &K,
    mut status: ReplicaSetStatus,
) -> Result<K, Error> {
    status.observed_generation = replica_set
        .metadata()
        .generation
        .filter(|generation| *generation != 0);
    let mut updated = replica_set.clone();
    updated.set_replica_status(status.clone());
    if normalized(replica_set.replica_status()) == normalized(updated.replica_status()) {
        return Ok(replica_set.clone());
    }
    match ctx.update_status(&updated) {
        Err(error) if error.is_conflict() => {
            let namespace = replica_set.metadata().namespace.as_deref();
            let name = replica_set.metadata().name.as_deref().unwrap_or_default();
            let Some(mut fresh) = ctx.get::<K>(namespace, name)? else {
                return Ok(replica_set.clone());
            };
            status.observed_generation = fresh
                .metadata()
                .generation
                .filter(|generation| *generation != 0);
            fresh.set_replica_status(status);
            ctx.update_status(&fresh)
        }
        result => result,
    }
}

fn condition<'a>(status: &'a ReplicaSetStatus, type_: &str) -> Option<&'a ReplicaSetCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|condition| condition.type_.as_deref() == Some(type_))
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The `omitempty` int32 fields: zero is left out, as the Kubernetes
/// controller writes them.
fn non_zero(n: usize) -> Option<i32> {
    (n > 0).then(|| count(n))
}

/// The status as the wire sees it: absent and zero are the same for the
/// `omitempty` fields, and no status is an empty one.
fn normalized(status: Option<ReplicaSetStatus>) -> ReplicaSetStatus {
    let mut status = status.unwrap_or_default();
    for field in [
        &mut status.fully_labeled_replicas,
        &mut status.ready_replicas,
        &mut status.available_replicas,
    ] {
        if *field == Some(0) {
            *field = None;
        }
    }
    if status.observed_generation == Some(0) {
        status.observed_generation = None;
    }
    if status.conditions.as_ref().is_some_and(Vec::is_empty) {
        status.conditions = None;
    }
    status
}
