//! The set's status (as kube's `updateStatus`, `completeRollingUpdate`,
//! `inconsistentStatus` and the status updater): counts of the set's pods
//! and the revisions, written through the status subresource only when a
//! field kube compares changed.
//!
//! `kubectl rollout status` reads `observedGeneration`, `readyReplicas`,
//! `updatedReplicas` against `replicas - partition`, and
//! `currentRevision == updateRevision`, which [`complete_rolling_update`]
//! makes true once every pod runs the update revision and is ready.

use wharf_sdk::k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::k8s_openapi::jiff::Timestamp;
use wharf_sdk::prelude::*;

use crate::identity::{self, ROLLING_UPDATE, is_created, is_running_and_ready, is_terminating};
use crate::revisions::Revisions;

/// The status before any pod is counted: the generation seen and the revisions.
pub fn base_status(set: &StatefulSet, revisions: &Revisions) -> StatefulSetStatus {
    StatefulSetStatus {
        observed_generation: set.metadata.generation,
        current_revision: revisions.current.metadata.name.clone(),
        update_revision: revisions.update.metadata.name.clone(),
        collision_count: Some(revisions.collision_count),
        ..StatefulSetStatus::default()
    }
}

/// Counts `pods` into `status` (`updateStatus`): replicas (created pods),
/// ready (Running and Ready), available (ready for minReadySeconds), and
/// those at the current and update revisions (created and not being
/// deleted).
pub fn count<'p>(
    status: &mut StatefulSetStatus,
    set: &StatefulSet,
    revisions: &Revisions,
    pods: impl IntoIterator<Item = &'p Pod>,
    now: Timestamp,
) {
    let min_ready_seconds = set.spec.min_ready_seconds.unwrap_or(0);
    let current = revisions
        .current
        .metadata
        .name
        .as_deref()
        .unwrap_or_default();
    let update = revisions
        .update
        .metadata
        .name
        .as_deref()
        .unwrap_or_default();
    let (mut replicas, mut ready, mut available, mut at_current, mut at_update) = (0, 0, 0, 0, 0);
    for pod in pods {
        if is_created(pod) {
            replicas += 1;
        }
        if is_running_and_ready(pod) {
            ready += 1;
            if identity::is_available(pod, min_ready_seconds, now) {
                available += 1;
            }
        }
        if is_created(pod) && !is_terminating(pod) {
            if identity::revision(pod) == current {
                at_current += 1;
            }
            if identity::revision(pod) == update {
                at_update += 1;
            }
        }
    }
    status.replicas = replicas;
    status.ready_replicas = non_zero(ready);
    status.available_replicas = Some(available);
    status.current_replicas = non_zero(at_current);
    status.updated_replicas = non_zero(at_update);
}

/// Ends a finished rolling update (`completeRollingUpdate`): when every
/// replica is updated and ready, the update revision becomes the current one.
pub fn complete_rolling_update(set: &StatefulSet, status: &mut StatefulSetStatus) {
    let strategy_type = set
        .spec
        .update_strategy
        .as_ref()
        .and_then(|strategy| strategy.type_.as_deref())
        .unwrap_or(ROLLING_UPDATE);
    let replicas = identity::replicas(set);
    if strategy_type == ROLLING_UPDATE
        && status.updated_replicas.unwrap_or(0) == replicas
        && status.ready_replicas.unwrap_or(0) == replicas
        && status.replicas == replicas
    {
        status.current_replicas = status.updated_replicas;
        status.current_revision = status.update_revision.clone();
    }
}

/// Completes a rolling update if it is done and writes the status when it
/// differs from the set's in a field kube compares (`inconsistentStatus`);
/// on a conflict reads the set again and retries. Returns the status.
pub fn update_status(
    ctx: &Context,
    set: &StatefulSet,
    mut status: StatefulSetStatus,
) -> Result<StatefulSetStatus, Error> {
    complete_rolling_update(set, &mut status);
    if !inconsistent(set.status.as_ref(), &status) {
        return Ok(status);
    }
    let mut target = set.clone();
    for attempt in 0..3 {
        target.status = Some(status.clone());
        match ctx.update_status(&target) {
            Err(error) if error.is_conflict() && attempt < 2 => {
                let namespace = set.metadata.namespace.as_deref();
                match ctx.get::<StatefulSet>(namespace, identity::set_name(set))? {
                    Some(fresh) => target = fresh,
                    None => return Ok(status),
                }
            }
            Err(error) => return Err(error),
            Ok(_) => return Ok(status),
        }
    }
    Ok(status)
}

/// Whether the new status differs from the stored one in what kube compares
/// (`inconsistentStatus`): a newer observed generation, a count or a revision.
pub fn inconsistent(stored: Option<&StatefulSetStatus>, status: &StatefulSetStatus) -> bool {
    let default = StatefulSetStatus::default();
    let stored = stored.unwrap_or(&default);
    let zero = |value: Option<i32>| value.unwrap_or(0);
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    status.observed_generation.unwrap_or(0) > stored.observed_generation.unwrap_or(0)
        || status.replicas != stored.replicas
        || zero(status.current_replicas) != zero(stored.current_replicas)
        || zero(status.ready_replicas) != zero(stored.ready_replicas)
        || zero(status.updated_replicas) != zero(stored.updated_replicas)
        || text(&status.current_revision) != text(&stored.current_revision)
        || zero(status.available_replicas) != zero(stored.available_replicas)
        || text(&status.update_revision) != text(&stored.update_revision)
}

/// The `omitempty` counts: zero is left out, as kube writes them.
fn non_zero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}
