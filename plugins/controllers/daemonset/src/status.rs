//! The DaemonSet's status (`updateDaemonSetStatus`, `storeDaemonSetStatus`):
//! per node, from the oldest of its daemon pods; written through the status
//! subresource only when a count changed or the generation is newly observed.
//!
//! `kubectl rollout status daemonset/x` waits for `observedGeneration` to
//! reach the generation, then for `updatedNumberScheduled` and
//! `numberAvailable` to reach `desiredNumberScheduled`.

use std::collections::BTreeMap;

use wharf_sdk::k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::k8s_openapi::jiff::Timestamp;
use wharf_sdk::prelude::*;

use crate::placement::Fit;
use crate::pods::{is_available, is_ready, is_updated};

/// The counts of the status, one node at a time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Nodes that should run the daemon pod.
    pub desired: i32,
    /// Of those, nodes running at least one daemon pod.
    pub current: i32,
    /// Nodes running a daemon pod that should not.
    pub misscheduled: i32,
    pub ready: i32,
    pub updated: i32,
    pub available: i32,
}

impl Counts {
    /// Nodes that should run the pod and have none available.
    pub fn unavailable(&self) -> i32 {
        self.desired - self.available
    }
}

/// The inputs of [`count`].
pub struct Scheduled<'a> {
    /// Every node's name and fit.
    pub nodes: &'a [(String, Fit)],
    pub by_node: &'a BTreeMap<String, Vec<&'a Pod>>,
    pub hash: &'a str,
    pub generation: Option<i64>,
    pub min_ready_seconds: i64,
    pub now: Timestamp,
}

/// Counts the nodes as `updateDaemonSetStatus` does: a node that should run
/// the pod is current with any pod; ready, available and updated by its
/// oldest pod.
pub fn count(scheduled: &Scheduled<'_>) -> Counts {
    let mut counts = Counts::default();
    for (node, fit) in scheduled.nodes {
        let oldest = scheduled.by_node.get(node).and_then(|pods| pods.first());
        if !fit.should_run {
            if oldest.is_some() {
                counts.misscheduled += 1;
            }
            continue;
        }
        counts.desired += 1;
        let Some(pod) = oldest else {
            continue;
        };
        counts.current += 1;
        if is_ready(pod) {
            counts.ready += 1;
            if is_available(pod, scheduled.min_ready_seconds, scheduled.now) {
                counts.available += 1;
            }
        }
        if is_updated(pod, scheduled.hash, scheduled.generation) {
            counts.updated += 1;
        }
    }
    counts
}

/// `storeDaemonSetStatus`: writes the counts (and, with
/// `observe_generation`, the generation as observed) unless the status has
/// them already; on a conflict reads the set again and retries once.
/// `collisionCount` and conditions stay as stored.
pub fn store(
    ctx: &Context,
    daemon_set: &DaemonSet,
    counts: &Counts,
    observe_generation: bool,
) -> Result<(), Error> {
    let generation = daemon_set.metadata.generation.unwrap_or(0);
    let status = daemon_set.status.clone().unwrap_or_default();
    let unchanged = status.desired_number_scheduled == counts.desired
        && status.current_number_scheduled == counts.current
        && status.number_misscheduled == counts.misscheduled
        && status.number_ready == counts.ready
        && status.updated_number_scheduled.unwrap_or(0) == counts.updated
        && status.number_available.unwrap_or(0) == counts.available
        && status.number_unavailable.unwrap_or(0) == counts.unavailable()
        && status.observed_generation.unwrap_or(0) >= generation;
    if unchanged {
        return Ok(());
    }
    let mut updated = daemon_set.clone();
    for attempt in 0..2 {
        let status = updated.status.get_or_insert_with(DaemonSetStatus::default);
        if observe_generation {
            // The generation this reconcile read, even on a retry over a newer set.
            status.observed_generation = daemon_set.metadata.generation;
        }
        status.desired_number_scheduled = counts.desired;
        status.current_number_scheduled = counts.current;
        status.number_misscheduled = counts.misscheduled;
        status.number_ready = counts.ready;
        status.updated_number_scheduled = Some(counts.updated);
        status.number_available = Some(counts.available);
        status.number_unavailable = Some(counts.unavailable());
        match ctx.update_status(&updated) {
            Err(error) if error.is_conflict() && attempt == 0 => {
                let namespace = daemon_set.metadata.namespace.as_deref();
                let name = daemon_set.metadata.name.as_deref().unwrap_or_default();
                match ctx.get::<DaemonSet>(namespace, name)? {
                    Some(fresh) => updated = fresh,
                    None => return Ok(()),
                }
            }
            result => return result.map(drop),
        }
    }
    Ok(())
}
