//! An Indexed Job's indexes: the interval text of `completedIndexes`,
//! `failedIndexes` and success-policy rules (kube's `orderedIntervals`),
//! and `backoffLimitPerIndex` (kube's `indexed_job_utils.go`): each index
//! counts its own failures on its pods' annotations, an index past its
//! limit (or hit by a `FailIndex` rule) fails for good, and a failed pod's
//! release waits until its replacement, which reads its counts off it,
//! exists.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use wharf_sdk::k8s_openapi::api::batch::v1::Job;
use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use wharf_sdk::pods::{is_active, phase};

use crate::controller::{BACKOFF_BASE, BACKOFF_MAX};
use crate::failure_policy::{self, PolicyAction};
use crate::pods::{
    counts_deleted_as_failed, finished_at, index_of, is_indexed, is_tracked, outcome,
};
use crate::status;

/// How many counted failures the pod's index had before the pod.
pub const INDEX_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";
/// How many failures an `Ignore` rule matched in the pod's index before it.
pub const INDEX_IGNORED_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-ignored-failure-count";

/// Indexes as kube writes them: ascending, runs of three or more as `a-b`
/// (`1,3-5,7`; two in a row stay `0,1`).
pub fn format_indexes(indexes: &BTreeSet<u32>) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &index in indexes {
        match runs.last_mut() {
            Some((_, last)) if index == *last + 1 => *last = index,
            _ => runs.push((index, index)),
        }
    }
    let texts: Vec<String> = runs
        .into_iter()
        .map(|(first, last)| match last - first {
            0 => first.to_string(),
            1 => format!("{first},{last}"),
            _ => format!("{first}-{last}"),
        })
        .collect();
    texts.join(",")
}

/// The indexes below `completions` that an interval text lists, as kube's
/// `parseIndexesFromString` reads it: malformed parts are skipped, an
/// interval reaching past `completions` is cut, and parsing stops at the
/// first one starting at or past it.
pub fn parse_indexes(text: &str, completions: u32) -> BTreeSet<u32> {
    let mut indexes = BTreeSet::new();
    for part in text.split(',').filter(|part| !part.is_empty()) {
        let mut limits = part.split('-');
        let Some(Ok(first)) = limits.next().map(str::parse::<u32>) else {
            continue;
        };
        if first >= completions {
            break;
        }
        let last = match limits.next().map(str::parse::<u32>) {
            None => first,
            Some(Ok(last)) => last.min(completions - 1),
            Some(Err(_)) => continue,
        };
        indexes.extend(first..=last);
    }
    indexes
}

/// `completions` as an index bound (an Indexed Job always has one).
pub fn completions(job: &Job) -> u32 {
    let completions = job.spec.as_ref().and_then(|s| s.completions).unwrap_or(1);
    u32::try_from(completions).unwrap_or(0)
}

/// An Indexed Job with `backoffLimitPerIndex`.
pub fn has_backoff_limit_per_index(job: &Job) -> bool {
    is_indexed(job) && backoff_limit_per_index(job).is_some()
}

fn backoff_limit_per_index(job: &Job) -> Option<i32> {
    job.spec.as_ref()?.backoff_limit_per_index
}

/// The failures of its index the pod's annotation records (0 when absent
/// or not a number from 0 to `i32::MAX`, as kube reads it).
pub fn failure_count(pod: &Pod) -> i32 {
    annotation_count(pod, INDEX_FAILURE_COUNT)
}

/// The ignored failures of its index the pod's annotation records.
pub fn ignored_failure_count(pod: &Pod) -> i32 {
    annotation_count(pod, INDEX_IGNORED_FAILURE_COUNT)
}

fn annotation_count(pod: &Pod, key: &str) -> i32 {
    let value = pod.metadata.annotations.as_ref().and_then(|a| a.get(key));
    value
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|n| *n >= 0)
        .unwrap_or(0)
}

/// The failed pod fails its index for good: a `FailIndex` rule matched
/// it, or it was its index's last counted failure allowed (kube's
/// `isIndexFailed`).
pub fn fails_index(job: &Job, pod: &Pod) -> bool {
    if outcome(pod, counts_deleted_as_failed(job)) != Some(false) {
        return false;
    }
    let counted = match failure_policy::matching_action(job, pod) {
        Some(PolicyAction::FailIndex) => return true,
        Some(PolicyAction::Ignore) => false,
        _ => true,
    };
    counted && failure_count(pod) >= backoff_limit_per_index(job).unwrap_or(i32::MAX)
}

/// What `backoffLimitPerIndex` adds to one reconcile of an Indexed Job.
#[derive(Debug, Default)]
pub struct PerIndex<'p> {
    /// The indexes failed for good: those of `status.failedIndexes` and
    /// those of pods not yet counted that fail their index.
    pub failed: BTreeSet<u32>,
    /// Per index neither finished nor running, its latest failed pod: it
    /// keeps its tracking finalizer (uncounted) until its replacement, made
    /// with its counts plus one, exists (kube's
    /// `getPodsWithDelayedDeletionPerIndex`).
    pub held: BTreeMap<u32, &'p Pod>,
}

impl<'p> PerIndex<'p> {
    /// For a Job with `backoffLimitPerIndex`, from its status and pods.
    pub fn of(job: &Job, pods: &'p [Pod]) -> Option<Self> {
        if !has_backoff_limit_per_index(job) {
            return None;
        }
        let completions = completions(job);
        let job_status = job.status.as_ref();
        let text =
            |field: Option<&String>| field.map(String::as_str).unwrap_or_default().to_owned();
        let mut failed = parse_indexes(
            &text(job_status.and_then(|s| s.failed_indexes.as_ref())),
            completions,
        );
        let mut succeeded = parse_indexes(
            &text(job_status.and_then(|s| s.completed_indexes.as_ref())),
            completions,
        );
        let uncounted: Vec<(&Pod, u32)> = pods
            .iter()
            .filter(|pod| is_tracked(pod))
            .filter_map(|pod| Some((pod, index_of(pod).filter(|i| *i < completions)?)))
            .collect();
        for &(pod, index) in &uncounted {
            if phase(pod) == "Succeeded" {
                succeeded.insert(index);
            } else if fails_index(job, pod) {
                failed.insert(index);
            }
        }
        let mut held: BTreeMap<u32, &Pod> = BTreeMap::new();
        // A finishing Job releases every pod.
        if !status::is_true(job, status::FAILURE_TARGET)
            && !status::is_true(job, status::SUCCESS_CRITERIA_MET)
        {
            let running: BTreeSet<u32> = pods
                .iter()
                .filter(|pod| is_active(pod))
                .filter_map(index_of)
                .collect();
            let deleted_is_failed = counts_deleted_as_failed(job);
            for &(pod, index) in &uncounted {
                if outcome(pod, deleted_is_failed) != Some(false)
                    || succeeded.contains(&index)
                    || failed.contains(&index)
                    || running.contains(&index)
                {
                    continue;
                }
                let later = |held: &Pod| {
                    absolute_failure_count(held) <= absolute_failure_count(pod)
                        && finished_at(pod) >= finished_at(held)
                };
                if held.get(&index).is_none_or(|h| later(h)) {
                    held.insert(index, pod);
                }
            }
        }
        Some(PerIndex { failed, held })
    }

    /// The uids of the held pods.
    pub fn held_uids(&self) -> BTreeSet<&str> {
        (self.held.values())
            .filter_map(|pod| pod.metadata.uid.as_deref())
            .collect()
    }

    /// How long `index` still waits after its latest failure before it
    /// gets a new pod: kube's backoff (10 s doubled per failure of the
    /// index, ignored ones too, at most 6 minutes) from that pod's end.
    pub fn backoff_left(&self, index: u32, now: &Time) -> Option<Duration> {
        let pod = self.held.get(&index)?;
        let failures = u32::try_from(absolute_failure_count(pod)).unwrap_or(0) + 1;
        let delay = BACKOFF_BASE
            .saturating_mul(2u32.saturating_pow((failures - 1).min(16)))
            .min(BACKOFF_MAX);
        let since = now
            .0
            .duration_since(finished_at(pod)?)
            .as_secs_f64()
            .max(0.0);
        let left = delay.as_secs_f64() - since;
        (left > 0.0).then(|| Duration::from_secs_f64(left))
    }

    /// Writes the failure counts on a new pod of `index`: those of the pod
    /// it replaces plus that pod's failure (counted, or ignored by an
    /// `Ignore` rule); 0 for an index's first pod.
    pub fn annotate(&self, job: &Job, index: u32, pod: &mut Pod) {
        let (failures, ignored) = match self.held.get(&index) {
            None => (0, 0),
            Some(replaced) => {
                let (failures, ignored) =
                    (failure_count(replaced), ignored_failure_count(replaced));
                match failure_policy::matching_action(job, replaced) {
                    Some(PolicyAction::Ignore) => (failures, ignored.saturating_add(1)),
                    _ => (failures.saturating_add(1), ignored),
                }
            }
        };
        let annotations = pod
            .metadata
            .annotations
            .get_or_insert_with(Default::default);
        annotations.insert(INDEX_FAILURE_COUNT.to_owned(), failures.to_string());
        if ignored > 0 {
            annotations.insert(INDEX_IGNORED_FAILURE_COUNT.to_owned(), ignored.to_string());
        }
    }
}

fn absolute_failure_count(pod: &Pod) -> i32 {
    failure_count(pod).saturating_add(ignored_failure_count(pod))
}
