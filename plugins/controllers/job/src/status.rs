//! A Job's conditions, as kube's Job controller sets them.

use wharf_sdk::k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Condition types.
pub const COMPLETE: &str = "Complete";
pub const FAILED: &str = "Failed";
pub const SUSPENDED: &str = "Suspended";
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
pub const FAILURE_TARGET: &str = "FailureTarget";

/// Reasons and messages, as kube writes them (conditions and events).
pub mod reasons {
    pub const COMPLETIONS_REACHED: &str = "CompletionsReached";
    pub const COMPLETIONS_REACHED_MESSAGE: &str = "Reached expected number of succeeded pods";
    pub const BACKOFF_LIMIT_EXCEEDED: &str = "BackoffLimitExceeded";
    pub const BACKOFF_LIMIT_EXCEEDED_MESSAGE: &str = "Job has reached the specified backoff limit";
    pub const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
    pub const DEADLINE_EXCEEDED_MESSAGE: &str = "Job was active longer than specified deadline";
    pub const POD_FAILURE_POLICY: &str = "PodFailurePolicy";
    pub const FAILED_INDEXES: &str = "FailedIndexes";
    pub const FAILED_INDEXES_MESSAGE: &str = "Job has failed indexes";
    pub const MAX_FAILED_INDEXES_EXCEEDED: &str = "MaxFailedIndexesExceeded";
    pub const MAX_FAILED_INDEXES_EXCEEDED_MESSAGE: &str =
        "Job has exceeded the specified maximal number of failed indexes";
    pub const SUCCESS_POLICY: &str = "SuccessPolicy";
    pub const JOB_SUSPENDED: &str = "JobSuspended";
    pub const JOB_RESUMED: &str = "JobResumed";
    /// Events.
    pub const COMPLETED: &str = "Completed";
    pub const SUSPENDED: &str = "Suspended";
    pub const RESUMED: &str = "Resumed";
    pub const SUCCESSFUL_CREATE: &str = "SuccessfulCreate";
    pub const FAILED_CREATE: &str = "FailedCreate";
    pub const SUCCESSFUL_DELETE: &str = "SuccessfulDelete";
}

/// The Job's condition of this type.
pub fn condition<'j>(job: &'j Job, type_: &str) -> Option<&'j JobCondition> {
    (job.status.as_ref()?.conditions.as_ref()?)
        .iter()
        .find(|c| c.type_ == type_)
}

/// The condition is there and `True`.
pub fn is_true(job: &Job, type_: &str) -> bool {
    condition(job, type_).is_some_and(|c| c.status == "True")
}

/// `Complete` or `Failed`: nothing more happens to the Job but its TTL.
pub fn is_finished(job: &Job) -> bool {
    is_true(job, COMPLETE) || is_true(job, FAILED)
}

/// Sets a condition as kube's `ensureJobConditionStatus` does: a new
/// status moves `lastTransitionTime`; the same status with another reason
/// or message only updates them. Returns whether anything changed.
pub fn set_condition(
    status: &mut JobStatus,
    type_: &str,
    value: bool,
    reason: &str,
    message: &str,
    now: &Time,
) -> bool {
    let value = if value { "True" } else { "False" };
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) if c.status == value => {
            if c.reason.as_deref() == Some(reason) && c.message.as_deref() == Some(message) {
                return false;
            }
            c.reason = Some(reason.to_owned());
            c.message = Some(message.to_owned());
            c.last_probe_time = Some(now.clone());
        }
        Some(c) => {
            c.status = value.to_owned();
            c.reason = Some(reason.to_owned());
            c.message = Some(message.to_owned());
            c.last_probe_time = Some(now.clone());
            c.last_transition_time = Some(now.clone());
        }
        None => conditions.push(JobCondition {
            type_: type_.to_owned(),
            status: value.to_owned(),
            reason: Some(reason.to_owned()),
            message: Some(message.to_owned()),
            last_probe_time: Some(now.clone()),
            last_transition_time: Some(now.clone()),
        }),
    }
    true
}
