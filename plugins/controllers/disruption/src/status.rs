//! The budget's status (as `buildDisruptedPodMap`, `countHealthyPods`,
//! `updatePdbStatus`, `failSafe` and the `DisruptionAllowed` condition
//! helpers): computed from the selected pods, written through the status
//! subresource only when it changed.

use std::collections::BTreeMap;
use std::time::Duration;

use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use wharf_sdk::k8s_openapi::jiff::Timestamp;
use wharf_sdk::pods;
use wharf_sdk::prelude::*;

use crate::expected::Expectation;

/// How long an eviction's `disruptedPods` entry holds a pod out of the
/// healthy count while the pod is not seen being deleted (`DeletionTimeout`).
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(2 * 60);

/// The condition type the controller keeps.
pub const DISRUPTION_ALLOWED: &str = "DisruptionAllowed";

/// The `DisruptionAllowed` condition's reasons.
pub mod reasons {
    /// More healthy pods than the budget needs: `True`.
    pub const SUFFICIENT_PODS: &str = "SufficientPods";
    /// At or below what the budget needs: `False`.
    pub const INSUFFICIENT_PODS: &str = "InsufficientPods";
    /// The budget could not be worked out: `False`, nothing allowed.
    pub const SYNC_FAILED: &str = "SyncFailed";
}

/// The `disruptedPods` entries still in force, and the earliest time one of
/// them expires (`buildDisruptedPodMap`). An entry goes when its pod is
/// being deleted or is gone (the eviction took), or when it is older than
/// [`DELETION_TIMEOUT`] (the eviction did not take); the pods of the
/// latter are returned third, for a `NotDeleted` event each.
pub fn disrupted_pods<'p>(
    budget: &PodDisruptionBudget,
    pods: &'p [Pod],
    now: Timestamp,
) -> (BTreeMap<String, Time>, Option<Timestamp>, Vec<&'p Pod>) {
    let recorded = budget
        .status
        .as_ref()
        .and_then(|status| status.disrupted_pods.as_ref());
    let mut kept = BTreeMap::new();
    let mut next_expiry: Option<Timestamp> = None;
    let mut not_deleted = Vec::new();
    let Some(recorded) = recorded else {
        return (kept, next_expiry, not_deleted);
    };
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let Some(disrupted_at) = recorded.get(name) else {
            continue;
        };
        let expires = expiry(disrupted_at);
        if expires <= now {
            not_deleted.push(pod);
        } else {
            next_expiry = Some(next_expiry.map_or(expires, |next| next.min(expires)));
            kept.insert(name.to_owned(), disrupted_at.clone());
        }
    }
    (kept, next_expiry, not_deleted)
}

/// When a `disruptedPods` entry made at `disrupted_at` expires.
fn expiry(disrupted_at: &Time) -> Timestamp {
    let timeout = i64::try_from(DELETION_TIMEOUT.as_millis()).unwrap_or(i64::MAX);
    Timestamp::from_millisecond(disrupted_at.0.as_millisecond().saturating_add(timeout))
        .unwrap_or(Timestamp::MAX)
}

/// The pods that count as healthy (`countHealthyPods`): Ready, not being
/// deleted, and not just evicted (in `disrupted`).
pub fn current_healthy(pods: &[Pod], disrupted: &BTreeMap<String, Time>) -> i32 {
    let healthy = pods
        .iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        .filter(|pod| !disrupted.contains_key(pod.metadata.name.as_deref().unwrap_or_default()))
        .filter(|pod| pods::is_ready(pod))
        .count();
    i32::try_from(healthy).unwrap_or(i32::MAX)
}

/// The status the budget should have (`updatePdbStatus`): disruptions
/// allowed are the healthy pods beyond the desired ones, and none while no
/// pod is expected (so a budget whose pods appear before this controller
/// sees them starts safe). Other conditions stay; `DisruptionAllowed`
/// follows.
pub fn calculate_status(
    budget: &PodDisruptionBudget,
    expectation: &Expectation,
    current_healthy: i32,
    disrupted: BTreeMap<String, Time>,
    now: &Time,
) -> PodDisruptionBudgetStatus {
    let disruptions_allowed = if expectation.expected_pods <= 0 {
        0
    } else {
        current_healthy
            .saturating_sub(expectation.desired_healthy)
            .max(0)
    };
    let mut status = PodDisruptionBudgetStatus {
        current_healthy: Some(current_healthy),
        desired_healthy: Some(expectation.desired_healthy),
        expected_pods: Some(expectation.expected_pods),
        disruptions_allowed: Some(disruptions_allowed),
        disrupted_pods: (!disrupted.is_empty()).then_some(disrupted),
        observed_generation: budget.metadata.generation,
        conditions: current_conditions(budget),
    };
    let (condition_status, reason) = if disruptions_allowed > 0 {
        ("True", reasons::SUFFICIENT_PODS)
    } else {
        ("False", reasons::INSUFFICIENT_PODS)
    };
    set_condition(&mut status, condition_status, reason, "", now);
    status
}

/// The budget's status with nothing allowed and `DisruptionAllowed`
/// `False` for `SyncFailed` with the error's text (`failSafe`): what the
/// controller writes when it cannot work the budget out.
pub fn fail_safe_status(
    budget: &PodDisruptionBudget,
    error: &Error,
    now: &Time,
) -> PodDisruptionBudgetStatus {
    let mut status = budget.status.clone().unwrap_or_default();
    status.disruptions_allowed = Some(0);
    set_condition(
        &mut status,
        "False",
        reasons::SYNC_FAILED,
        &error.to_string(),
        now,
    );
    status
}

/// Writes `status` unless the budget already has it. Returns whether it
/// wrote. A conflict (an eviction recorded meanwhile) is returned: the key
/// is retried and the status computed again from what is new.
pub fn update_status(
    ctx: &Context,
    budget: &PodDisruptionBudget,
    status: PodDisruptionBudgetStatus,
) -> Result<bool, Error> {
    if normalized(budget.status.clone()) == normalized(Some(status.clone())) {
        return Ok(false);
    }
    let mut updated = budget.clone();
    updated.status = Some(status);
    ctx.update_status(&updated)?;
    Ok(true)
}

/// The budget's `DisruptionAllowed` condition, if it has one.
pub fn condition(budget: &PodDisruptionBudget) -> Option<&Condition> {
    budget
        .status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|condition| condition.type_ == DISRUPTION_ALLOWED)
}

fn current_conditions(budget: &PodDisruptionBudget) -> Option<Vec<Condition>> {
    budget
        .status
        .as_ref()
        .and_then(|status| status.conditions.clone())
}

/// Sets the `DisruptionAllowed` condition as `meta.SetStatusCondition`
/// does: its transition time moves only when its status changes.
fn set_condition(
    status: &mut PodDisruptionBudgetStatus,
    condition_status: &str,
    reason: &str,
    message: &str,
    now: &Time,
) {
    let observed_generation = status.observed_generation;
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    match conditions
        .iter_mut()
        .find(|condition| condition.type_ == DISRUPTION_ALLOWED)
    {
        Some(condition) => {
            if condition.status != condition_status {
                condition.status = condition_status.to_owned();
                condition.last_transition_time = now.clone();
            }
            condition.reason = reason.to_owned();
            condition.message = message.to_owned();
            condition.observed_generation = observed_generation;
        }
        None => conditions.push(Condition {
            type_: DISRUPTION_ALLOWED.to_owned(),
            status: condition_status.to_owned(),
            reason: reason.to_owned(),
            message: message.to_owned(),
            observed_generation,
            last_transition_time: now.clone(),
        }),
    }
}

/// The status as kube compares it: a missing count is zero, no map and an
/// empty one are the same, as are no conditions and an empty list.
fn normalized(status: Option<PodDisruptionBudgetStatus>) -> PodDisruptionBudgetStatus {
    let mut status = status.unwrap_or_default();
    for count in [
        &mut status.current_healthy,
        &mut status.desired_healthy,
        &mut status.expected_pods,
        &mut status.disruptions_allowed,
    ] {
        count.get_or_insert(0);
    }
    if status
        .disrupted_pods
        .as_ref()
        .is_some_and(BTreeMap::is_empty)
    {
        status.disrupted_pods = None;
    }
    if status.conditions.as_ref().is_some_and(Vec::is_empty) {
        status.conditions = None;
    }
    status
}
