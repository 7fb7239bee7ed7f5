//! A Job's pods: the pod its template makes, its completion index, and
//! how a pod ended as the Job sees it.

use std::collections::BTreeMap;

use wharf_sdk::k8s_openapi::api::batch::v1::Job;
use wharf_sdk::k8s_openapi::api::core::v1::{
    EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodSpec,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wharf_sdk::k8s_openapi::jiff::Timestamp;
use wharf_sdk::pods::phase;
use wharf_sdk::prelude::*;

/// The label the API server gives a Job's pods: the Job's uid.
pub const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
/// An Indexed Job's pod's index (annotation and label).
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// Held by every pod until the Job has counted it.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// The variable an Indexed Job's containers read their index from.
pub const INDEX_VARIABLE: &str = "JOB_COMPLETION_INDEX";

/// `completionMode: Indexed`.
pub fn is_indexed(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.completion_mode.as_deref()) == Some("Indexed")
}

/// An Indexed Job's pod's index, if it has a valid one.
pub fn index_of(pod: &Pod) -> Option<u32> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(COMPLETION_INDEX)?
        .parse()
        .ok()
}

/// The pod holds the Job's tracking finalizer.
pub fn is_tracked(pod: &Pod) -> bool {
    (pod.metadata.finalizers.iter().flatten()).any(|f| f == TRACKING_FINALIZER)
}

/// How a pod ended, as the Job counts it (kube's `isPodFailed`):
/// `Some(true)` succeeded, `Some(false)` failed — also a pod deleted
/// before it finished when `deleted_is_failed` ([`counts_deleted_as_failed`])
/// — `None` still running (or terminating).
pub fn outcome(pod: &Pod, deleted_is_failed: bool) -> Option<bool> {
    match phase(pod) {
        "Succeeded" => Some(true),
        "Failed" => Some(false),
        _ if deleted_is_failed && pod.metadata.deletion_timestamp.is_some() => Some(false),
        _ => None,
    }
}

/// kube's `onlyReplaceFailedPods`: with `podReplacementPolicy: Failed`, or
/// any `podFailurePolicy` (kube requires `Failed` with one), a pod being
/// deleted is neither replaced nor counted until it has failed, so that
/// the policy's rules see its exit codes.
pub fn only_replace_failed_pods(job: &Job) -> bool {
    let spec = job.spec.as_ref();
    spec.and_then(|s| s.pod_replacement_policy.as_deref()) == Some("Failed")
        || spec.is_some_and(|s| s.pod_failure_policy.is_some())
}

/// A deleted pod that has not finished counts as failed: kube's default
/// replacement policy, or a Job already finishing (whose pods the
/// controller deleted), or one no longer counting (suspended, finished).
pub fn counts_deleted_as_failed(job: &Job) -> bool {
    !only_replace_failed_pods(job)
        || crate::status::is_true(job, crate::status::FAILURE_TARGET)
        || crate::status::is_true(job, crate::status::SUCCESS_CRITERIA_MET)
        || crate::status::is_finished(job)
        || job.spec.as_ref().and_then(|s| s.suspend) == Some(true)
        || job.metadata.deletion_timestamp.is_some()
}

/// When the pod finished, as kube's `getFinishedTime` reads it: its
/// containers' latest finish, else its `Ready` condition's last change,
/// else its deletion, else its creation.
pub fn finished_at(pod: &Pod) -> Option<Timestamp> {
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref());
    (statuses.into_iter().flatten())
        .filter_map(|s| s.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max()
        .or_else(|| {
            wharf_sdk::pods::condition(pod, "Ready")?
                .last_transition_time
                .as_ref()
                .map(|t| t.0)
        })
        .or_else(|| pod.metadata.deletion_timestamp.as_ref().map(|t| t.0))
        .or_else(|| pod.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// The pod the Job's template makes (for an Indexed Job, at `index`):
/// owned by the Job, holding its tracking finalizer.
pub fn new_pod(job: &Job, index: Option<u32>) -> Result<Pod, Error> {
    let name = job.metadata.name.as_deref().unwrap_or_default();
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .ok_or_else(|| Error::Invalid(format!("Job {name} has no spec")))?;
    let template_metadata = template.metadata.unwrap_or_default();
    let mut labels = template_metadata.labels.unwrap_or_default();
    let mut annotations = template_metadata.annotations.unwrap_or_default();
    let mut finalizers = template_metadata.finalizers.unwrap_or_default();
    finalizers.push(TRACKING_FINALIZER.to_owned());
    let mut spec: PodSpec = template.spec.unwrap_or_default();
    let generate_name = match index {
        Some(index) => {
            annotations.insert(COMPLETION_INDEX.to_owned(), index.to_string());
            labels.insert(COMPLETION_INDEX.to_owned(), index.to_string());
            let index_variable = EnvVar {
                name: INDEX_VARIABLE.to_owned(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        // As kube stores it, defaulted.
                        api_version: Some("v1".to_owned()),
                        field_path: format!("metadata.annotations['{COMPLETION_INDEX}']"),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            };
            for container in spec
                .init_containers
                .iter_mut()
                .flatten()
                .chain(spec.containers.iter_mut())
            {
                let env = container.env.get_or_insert_with(Vec::new);
                if !env.iter().any(|v| v.name == INDEX_VARIABLE) {
                    env.push(index_variable.clone());
                }
            }
            if spec.hostname.is_none() {
                spec.hostname = Some(format!("{name}-{index}"));
            }
            format!("{name}-{index}-")
        }
        None => format!("{name}-"),
    };
    let some = |map: BTreeMap<String, String>| (!map.is_empty()).then_some(map);
    Ok(Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name),
            namespace: job.metadata.namespace.clone(),
            labels: some(labels),
            annotations: some(annotations),
            finalizers: Some(finalizers),
            owner_references: Some(vec![owner_reference(job)]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    })
}
