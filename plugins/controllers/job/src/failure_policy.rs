//! `spec.podFailurePolicy` (kube's `pod_failure_policy.go`): its rules,
//! in order, judge a failed pod by its containers' exit codes or its
//! conditions; the first that matches decides whether the Job fails at
//! once (`FailJob`), the pod's index fails (`FailIndex`), or the failure
//! is counted against `backoffLimit` (`Count`, also when none matches) or
//! not (`Ignore`).
//!
//! Validation (rules only with `restartPolicy: Never`, `FailIndex` only
//! with `backoffLimitPerIndex`) is the API server's: a rule with an
//! unknown action or operator matches nothing here.

use wharf_sdk::k8s_openapi::api::batch::v1::{
    Job, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern,
};
use wharf_sdk::k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use crate::pods::{counts_deleted_as_failed, outcome};

/// What the first matching rule does with a failed pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyAction {
    /// The Job fails; the message says which container or condition and
    /// rule (kube's `FailureTarget` message, reason `PodFailurePolicy`).
    FailJob(String),
    /// The pod's index fails for good (`backoffLimitPerIndex`).
    FailIndex,
    /// The failure is counted, as without a rule.
    Count,
    /// The failure is not counted: the pod is replaced.
    Ignore,
}

/// The action of the first rule of the Job's policy that matches the
/// failed pod (`None`: no policy, or no rule matched — the failure counts).
pub fn matching_action(job: &Job, pod: &Pod) -> Option<PolicyAction> {
    let policy = job.spec.as_ref()?.pod_failure_policy.as_ref()?;
    match_pod_failure_policy(policy, pod)
}

/// The failed pod's failure counts against `backoffLimit` (and
/// `backoffLimitPerIndex`): no `Ignore` rule matched it.
pub fn counts(job: &Job, pod: &Pod) -> bool {
    matching_action(job, pod) != Some(PolicyAction::Ignore)
}

/// The message of the first failed pod a `FailJob` rule matches (kube's
/// `getFailJobMessage`).
pub fn fail_job_message(job: &Job, pods: &[Pod]) -> Option<String> {
    job.spec.as_ref()?.pod_failure_policy.as_ref()?;
    let deleted_is_failed = counts_deleted_as_failed(job);
    pods.iter()
        .filter(|pod| outcome(pod, deleted_is_failed) == Some(false))
        .find_map(|pod| match matching_action(job, pod) {
            Some(PolicyAction::FailJob(message)) => Some(message),
            _ => None,
        })
}

/// kube's `matchPodFailurePolicy`: the rules in order; a rule with an
/// unknown action is passed over.
pub fn match_pod_failure_policy(policy: &PodFailurePolicy, pod: &Pod) -> Option<PolicyAction> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    for (index, rule) in policy.rules.iter().enumerate() {
        let fail_job_message = if let Some(requirement) = &rule.on_exit_codes {
            let Some(container) = matching_container(pod, requirement) else {
                continue;
            };
            let exit_code = exit_code(container).unwrap_or_default();
            format!(
                "Container {} for pod {namespace}/{name} failed with exit code {exit_code} matching {} rule at index {index}",
                container.name, rule.action
            )
        } else if let Some(patterns) = &rule.on_pod_conditions {
            let Some(condition) = matching_condition(pod, patterns) else {
                continue;
            };
            format!(
                "Pod {namespace}/{name} has condition {condition} matching {} rule at index {index}",
                rule.action
            )
        } else {
            continue;
        };
        match rule.action.as_str() {
            "FailJob" => return Some(PolicyAction::FailJob(fail_job_message)),
            "FailIndex" => return Some(PolicyAction::FailIndex),
            "Count" => return Some(PolicyAction::Count),
            "Ignore" => return Some(PolicyAction::Ignore),
            _ => {}
        }
    }
    None
}

/// The first terminated container (then init container) with a non-zero
/// exit code the requirement matches: an exit code 0 never matches, not
/// even `NotIn [0]`.
fn matching_container<'p>(
    pod: &'p Pod,
    requirement: &PodFailurePolicyOnExitCodesRequirement,
) -> Option<&'p ContainerStatus> {
    let status = pod.status.as_ref()?;
    let lists = [&status.container_statuses, &status.init_container_statuses];
    lists.into_iter().find_map(|list| {
        list.iter().flatten().find(|container| {
            let name_matches = requirement
                .container_name
                .as_ref()
                .is_none_or(|name| *name == container.name);
            let code = exit_code(container);
            name_matches
                && code.is_some_and(|code| code != 0 && operator_matches(requirement, code))
        })
    })
}

fn exit_code(container: &ContainerStatus) -> Option<i32> {
    Some(container.state.as_ref()?.terminated.as_ref()?.exit_code)
}

fn operator_matches(requirement: &PodFailurePolicyOnExitCodesRequirement, code: i32) -> bool {
    match requirement.operator.as_str() {
        "In" => requirement.values.contains(&code),
        "NotIn" => !requirement.values.contains(&code),
        _ => false,
    }
}

/// The type of the pod's first condition a pattern matches (a pattern
/// without a status means `True`).
fn matching_condition<'p>(
    pod: &'p Pod,
    patterns: &[PodFailurePolicyOnPodConditionsPattern],
) -> Option<&'p str> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .find(|condition| {
            patterns.iter().any(|pattern| {
                condition.type_ == pattern.type_
                    && condition.status == pattern.status.as_deref().unwrap_or("True")
            })
        })
        .map(|condition| condition.type_.as_str())
}
