//! Finalizer-tracked accounting of finished pods (kube's
//! `trackJobStatusAndRemoveFinalizers`): every pod of a Job holds
//! [`TRACKING_FINALIZER`] until it is counted, and a count is only ever
//! made in three steps, each written before the next:
//!
//! 1. a finished pod still holding the finalizer and not yet listed goes
//!    into `status.uncountedTerminatedPods` (and, for an Indexed Job, its
//!    index into `completedIndexes`, or `failedIndexes` when it fails its
//!    index); a failure an `Ignore` rule of the `podFailurePolicy` matches
//!    is not listed, and with `backoffLimitPerIndex` an index's latest
//!    failed pod is left alone until its replacement exists;
//! 2. the pods listed there lose their finalizer;
//! 3. listed pods that no longer hold it (or are gone) move into
//!    `succeeded` / `failed`.
//!
//! A restart between any two steps finds the state of the last write and
//! goes on from it: no pod is counted twice, none is lost.

use std::collections::{BTreeSet, HashSet};

use wharf_sdk::k8s_openapi::api::batch::v1::{Job, UncountedTerminatedPods};
use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::prelude::*;

use crate::failure_policy;
use crate::indexes::{PerIndex, completions, format_indexes, parse_indexes};
use crate::pods::{
    TRACKING_FINALIZER, counts_deleted_as_failed, index_of, is_indexed, is_tracked, outcome,
};

/// Counts the Job's finished pods, writing its status as it goes (`job`
/// becomes what was stored). With `count` false (a suspended or finished
/// Job, whose pods the controller deleted), finished pods are released
/// without being counted. `per_index` (a Job with `backoffLimitPerIndex`)
/// gives the failed indexes to write and the pods to leave alone.
pub fn track(
    ctx: &Context,
    job: &mut Job,
    pods: &[Pod],
    count: bool,
    per_index: Option<&PerIndex<'_>>,
) -> Result<(), Error> {
    let completions = completions(job);
    let indexed = is_indexed(job);
    let deleted_is_failed = !count || counts_deleted_as_failed(job);
    let held = per_index.map(PerIndex::held_uids).unwrap_or_default();
    let counted: Vec<bool> = pods
        .iter()
        .map(|pod| failure_policy::counts(job, pod))
        .collect();
    let status = job.status.get_or_insert_with(Default::default);
    let mut completed: BTreeSet<u32> = parse_indexes(status_indexes(status), completions);
    let uncounted = status
        .uncounted_terminated_pods
        .get_or_insert_with(UncountedTerminatedPods::default);
    let listed = |list: &Option<Vec<String>>, uid: &str| list.iter().flatten().any(|u| u == uid);

    // 1. Newly finished pods, listed.
    let mut release: Vec<&Pod> = Vec::new();
    let mut added = false;
    for (pod, counted) in pods.iter().zip(counted).filter(|(pod, _)| is_tracked(pod)) {
        let Some(succeeded) = outcome(pod, deleted_is_failed) else {
            continue;
        };
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        if held.contains(uid) {
            continue;
        }
        release.push(pod);
        if !count
            || listed(&uncounted.succeeded, uid)
            || listed(&uncounted.failed, uid)
            || (!succeeded && !counted)
            || (indexed && index_of(pod).is_none_or(|i| i >= completions))
        {
            continue;
        }
        let into = if succeeded {
            &mut uncounted.succeeded
        } else {
            &mut uncounted.failed
        };
        into.get_or_insert_with(Vec::new).push(uid.to_owned());
        if succeeded && let Some(index) = index_of(pod).filter(|_| indexed) {
            completed.insert(index);
        }
        added = true;
    }
    if let Some(per_index) = per_index.filter(|_| count) {
        let failed = Some(format_indexes(&per_index.failed));
        if status.failed_indexes != failed {
            status.failed_indexes = failed;
            added = true;
        }
    }
    if added {
        if indexed {
            status.completed_indexes = Some(format_indexes(&completed));
        }
        *job = ctx.update_status(job)?;
    }

    // 2. Their finalizers removed.
    let mut released: HashSet<&str> = HashSet::new();
    let mut first_error = None;
    let namespace = job.metadata.namespace.clone();
    let remove = Patch::Strategic(wharf_sdk::serde_json::json!({
        "metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}
    }));
    for pod in release {
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        match ctx.patch::<Pod>(namespace.as_deref(), name, &remove, false) {
            Ok(_) => {}
            Err(error) if error.is_not_found() => {}
            Err(error) => {
                first_error.get_or_insert(error);
                continue;
            }
        }
        released.insert(pod.metadata.uid.as_deref().unwrap_or_default());
    }

    // 3. Listed pods without their finalizer, counted.
    let held: HashSet<&str> = pods
        .iter()
        .filter(|pod| is_tracked(pod))
        .filter_map(|pod| pod.metadata.uid.as_deref())
        .filter(|uid| !released.contains(uid))
        .collect();
    let status = job.status.get_or_insert_with(Default::default);
    let uncounted = status
        .uncounted_terminated_pods
        .get_or_insert_with(UncountedTerminatedPods::default);
    let mut moved = false;
    for (list, counter) in [
        (&mut uncounted.succeeded, &mut status.succeeded),
        (&mut uncounted.failed, &mut status.failed),
    ] {
        let before = list.as_ref().map_or(0, Vec::len);
        if let Some(uids) = list.as_mut() {
            uids.retain(|uid| held.contains(uid.as_str()));
        }
        let counted = before - list.as_ref().map_or(0, Vec::len);
        if counted > 0 {
            *counter = Some(counter.unwrap_or(0) + i32::try_from(counted).unwrap_or(i32::MAX));
            moved = true;
        }
    }
    if moved {
        if indexed {
            // An Indexed Job's successes are its completed indexes.
            let completed = parse_indexes(status_indexes(status), completions).len();
            status.succeeded = Some(i32::try_from(completed).unwrap_or(i32::MAX));
        }
        *job = ctx.update_status(job)?;
    }
    first_error.map_or(Ok(()), Err)
}

fn status_indexes(status: &wharf_sdk::k8s_openapi::api::batch::v1::JobStatus) -> &str {
    status.completed_indexes.as_deref().unwrap_or_default()
}

/// Succeeded and failed pods, counted or about to be.
pub fn totals(job: &Job) -> (i32, i32) {
    let Some(status) = job.status.as_ref() else {
        return (0, 0);
    };
    let uncounted =
        |list: Option<&Vec<String>>| i32::try_from(list.map_or(0, Vec::len)).unwrap_or(0);
    let pending = status.uncounted_terminated_pods.as_ref();
    (
        status.succeeded.unwrap_or(0) + uncounted(pending.and_then(|u| u.succeeded.as_ref())),
        status.failed.unwrap_or(0) + uncounted(pending.and_then(|u| u.failed.as_ref())),
    )
}
