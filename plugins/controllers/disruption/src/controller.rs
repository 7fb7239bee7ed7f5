//! The disruption controller (as Kubernetes' `pkg/controller/disruption`):
//! keeps each PodDisruptionBudget's status in line with the pods it
//! selects.

use std::time::Duration;

use wharf_sdk::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use wharf_sdk::k8s_openapi::api::core::v1::{Pod, ReplicationController};
use wharf_sdk::k8s_openapi::api::policy::v1::PodDisruptionBudget;
use wharf_sdk::prelude::*;

use crate::expected::expectation;
use crate::status::{
    calculate_status, current_healthy, disrupted_pods, fail_safe_status, update_status,
};

/// Reconciles PodDisruptionBudgets; owns nothing.
#[derive(Debug, Default)]
pub struct DisruptionController;

/// Event reasons, as kube's disruption controller records them.
pub mod reasons {
    /// On the budget: it selects no pods (Normal), or they could not be
    /// listed (Warning).
    pub const NO_PODS: &str = "NoPods";
    /// On the budget: some selected pods have no controller, so a
    /// percentage or `maxUnavailable` cannot count them (Warning).
    pub const UNMANAGED_PODS: &str = "UnmanagedPods";
    /// On the budget: the expected pods could not be worked out (Warning).
    pub const CALCULATE_EXPECTED_POD_COUNT_FAILED: &str = "CalculateExpectedPodCountFailed";
    /// On a pod: it was evicted but not deleted within the deletion
    /// timeout (Warning).
    pub const NOT_DELETED: &str = "NotDeleted";
}

impl Controller for DisruptionController {
    /// Budgets, woken by the pods their selectors match; the pods'
    /// controllers are read for their scale.
    fn registration(_config: &serde_json::Value) -> Result<Registration, Error> {
        Ok(Registration::new::<PodDisruptionBudget>()
            .watches::<Pod>(Wakes::Selecting("/spec/selector".into()))
            .reads::<ReplicaSet>()
            .reads::<Deployment>()
            .reads::<StatefulSet>()
            .reads::<ReplicationController>())
    }

    /// `sync`: the status, or the fail-safe status when the budget cannot
    /// be worked out; a conflict is retried without failing safe.
    fn reconcile(
        &self,
        ctx: &Context,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Action, Error> {
        let Some(namespace) = namespace else {
            ctx.warn(format!(
                "PodDisruptionBudget key {name:?} has no namespace; ignoring it"
            ));
            return Ok(Action::Done);
        };
        let Some(budget) = ctx.get::<PodDisruptionBudget>(Some(namespace), name)? else {
            return Ok(Action::Done);
        };
        match self.try_sync(ctx, &budget) {
            Ok(action) => Ok(action),
            Err(SyncError { error, .. }) if error.is_conflict() => Err(error),
            Err(SyncError { error, event }) => {
                ctx.error(format!(
                    "PodDisruptionBudget {namespace}/{name} failed to sync: {error}"
                ));
                let status = fail_safe_status(&budget, &error, &ctx.now());
                if update_status(ctx, &budget, status)?
                    && let Some((reason, message)) = event
                {
                    ctx.event(&budget, EventType::Warning, reason, message);
                }
                Ok(Action::Done)
            }
        }
    }
}

impl DisruptionController {
    /// `trySync`: pods, expectation, disrupted pods, healthy pods, status.
    fn try_sync(&self, ctx: &Context, budget: &PodDisruptionBudget) -> Result<Action, SyncError> {
        let pods = selected_pods(ctx, budget).map_err(|error| SyncError {
            event: Some((reasons::NO_PODS, format!("Failed to get pods: {error}"))),
            error,
        })?;
        let expectation = expectation(ctx, budget, &pods).map_err(|error| SyncError {
            event: Some((
                reasons::CALCULATE_EXPECTED_POD_COUNT_FAILED,
                format!("Failed to calculate the number of expected pods: {error}"),
            )),
            error,
        })?;
        let now = ctx.now();
        let (disrupted, next_expiry, not_deleted) = disrupted_pods(budget, &pods, now.0);
        let healthy = current_healthy(&pods, &disrupted);
        let status = calculate_status(budget, &expectation, healthy, disrupted, &now);
        let written = update_status(ctx, budget, status)?;

        // Events go with a change of the status, not with every look at it
        // (kube's recorder folds repeats into a count; ours would not).
        if written {
            self.record_events(
                ctx,
                budget,
                &pods,
                &expectation.unmanaged_pods,
                &not_deleted,
            );
        }
        Ok(match next_expiry {
            Some(expires) => {
                let millis = expires.as_millisecond() - now.0.as_millisecond();
                Action::RequeueAfter(Duration::from_millis(millis.max(1) as u64))
            }
            None => Action::Done,
        })
    }

    fn record_events(
        &self,
        ctx: &Context,
        budget: &PodDisruptionBudget,
        pods: &[Pod],
        unmanaged: &[String],
        not_deleted: &[&Pod],
    ) {
        let namespace = budget.metadata.namespace.as_deref().unwrap_or_default();
        let name = budget.metadata.name.as_deref().unwrap_or_default();
        if pods.is_empty() {
            ctx.event(
                budget,
                EventType::Normal,
                reasons::NO_PODS,
                "No matching pods found",
            );
        }
        if !unmanaged.is_empty() {
            ctx.event(
                budget,
                EventType::Warning,
                reasons::UNMANAGED_PODS,
                format!(
                    "Pods selected by this PodDisruptionBudget ({}) were found to be unmanaged. \
                     As a result, the status of the PDB cannot be calculated correctly, which may \
                     result in undefined behavior. To account for these pods please set \
                     \".spec.minAvailable\" field of the PDB to an integer value.",
                    unmanaged.join(", ")
                ),
            );
        }
        for pod in not_deleted {
            ctx.event(
                *pod,
                EventType::Warning,
                reasons::NOT_DELETED,
                format!("Pod was expected by PDB {namespace}/{name} to be deleted but it wasn't"),
            );
        }
    }
}

/// The pods of the budget's namespace its selector matches
/// (`getPodsForPdb`): `{}` matches every pod, no selector none; an invalid
/// selector is [`Error::Invalid`].
fn selected_pods(ctx: &Context, budget: &PodDisruptionBudget) -> Result<Vec<Pod>, Error> {
    let Some(selector) = budget.spec.as_ref().and_then(|spec| spec.selector.as_ref()) else {
        return Ok(Vec::new());
    };
    let selector = Selector::from_label_selector(selector)?;
    let params = if selector.is_everything() {
        ListParams::default()
    } else {
        ListParams::default().labels(selector.to_string())
    };
    ctx.list(budget.metadata.namespace.as_deref(), &params)
}

/// A sync that failed: the error, and the Warning event kube records on
/// the budget for it.
struct SyncError {
    error: Error,
    event: Option<(&'static str, String)>,
}

impl From<Error> for SyncError {
    fn from(error: Error) -> Self {
        SyncError { error, event: None }
    }
}
