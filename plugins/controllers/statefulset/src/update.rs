//! The core of a reconcile (kube's `updateStatefulSet`): brings the set's
//! pods to `spec.replicas` pods of the right revisions.
//!
//! 1. Pods with an ordinal in `[start, start + replicas)` are the replicas;
//!    those with another ordinal are condemned; a missing replica is made
//!    at the current revision below the partition, the update revision
//!    from it.
//! 2. Each replica in ordinal order ([`Update::process_replica`]): a
//!    finished pod is deleted (and made again by a later reconcile), a
//!    missing one created (its claims first), a pending one gets its
//!    missing claims, a pod lacking identity, volumes or claim owners is
//!    updated. With `OrderedReady` the first pod that is created, being
//!    deleted, not Running and Ready, or not available ends the pass.
//! 3. The claims of condemned pods get the owners `whenScaled` asks for,
//!    then condemned pods are deleted from the highest ordinal down
//!    ([`Update::process_condemned`]); with `OrderedReady` one at a time,
//!    only once it has terminated and its successors are healthy.
//! 4. With `RollingUpdate`, pods from the highest ordinal down to the
//!    partition that are not at the update revision are deleted (to be made
//!    again at it), at most `maxUnavailable` unavailable pods at a time.
//!    `OnDelete` stops before: only pods deleted by someone are updated.
//!
//! With `Parallel` every replica and condemned pod is processed in
//! slow-start batches (1, 2, 4…), stopping after a batch with an error.

use wharf_sdk::k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use wharf_sdk::k8s_openapi::jiff::Timestamp;
use wharf_sdk::prelude::*;

use crate::identity::{
    self, ON_DELETE, PARALLEL, identity_matches, in_ordinal_range, is_created, is_finished,
    is_healthy, is_pending, is_running_and_ready, is_terminating, new_versioned_pod, start_ordinal,
    storage_matches,
};
use crate::pod_control::PodControl;
use crate::revisions::{Revisions, apply_revision};
use crate::status;

/// At most this many pods are written at once in `Parallel` mode (`MaxBatchSize`).
pub const MAX_BATCH_SIZE: usize = 500;

/// What updating the set came to: the status to write, and the error that
/// ended it early, if any (the status is written either way).
pub struct Updated {
    pub status: StatefulSetStatus,
    pub result: Result<(), Error>,
}

/// One pass over a set's pods.
struct Update<'u, 'c, 'a> {
    control: &'u PodControl<'c, 'a>,
    set: &'u StatefulSet,
    update_set: StatefulSet,
    monotonic: bool,
    min_ready_seconds: i32,
    now: Timestamp,
}

/// `updateStatefulSet`: `pods` are the set's claimed pods. With `act` false
/// (the set is being deleted, or pods written earlier are not yet seen)
/// only the status is computed. An error before any pod is looked at (a
/// revision without a template) is returned as is and no status is written.
pub fn update_stateful_set(
    control: &PodControl,
    set: &StatefulSet,
    revisions: &Revisions,
    pods: &[Pod],
    act: bool,
    now: Timestamp,
) -> Result<Updated, Error> {
    let current_set = apply_revision(set, &revisions.current)?;
    let update_set = apply_revision(set, &revisions.update)?;
    let current_name = revisions
        .current
        .metadata
        .name
        .as_deref()
        .unwrap_or_default();
    let update_name = revisions
        .update
        .metadata
        .name
        .as_deref()
        .unwrap_or_default();

    let mut status = status::base_status(set, revisions);
    status::count(&mut status, set, revisions, pods, now);

    let start = start_ordinal(set);
    let replica_count = identity::replicas(set);
    let mut slots: Vec<Option<Pod>> = vec![None; usize::try_from(replica_count).unwrap_or(0)];
    let mut condemned = Vec::new();
    for pod in pods {
        if in_ordinal_range(set, pod) {
            let ordinal = identity::ordinal(pod).unwrap_or(start);
            slots[usize::try_from(ordinal - start).unwrap_or(0)] = Some(pod.clone());
        } else if identity::ordinal(pod).is_some_and(|ordinal| ordinal >= 0) {
            condemned.push(pod.clone());
        }
        // A pod without an ordinal is ignored.
    }
    let replicas: Vec<Pod> = slots
        .into_iter()
        .zip(start..)
        .map(|(slot, ordinal)| {
            slot.unwrap_or_else(|| {
                new_versioned_pod(
                    &current_set,
                    &update_set,
                    current_name,
                    update_name,
                    ordinal,
                )
            })
        })
        .collect();
    condemned.sort_by_key(|pod| std::cmp::Reverse(identity::ordinal(pod)));

    // The lowest-ordinal unhealthy replica, else the lowest unhealthy condemned pod.
    let first_unhealthy: Option<String> = replicas
        .iter()
        .chain(condemned.iter().rev())
        .find(|pod| !is_healthy(pod))
        .map(|pod| identity::name(pod).to_owned());

    let recount = |status: &mut StatefulSetStatus, replicas: &[Pod], condemned: &[Pod]| {
        status::count(
            status,
            set,
            revisions,
            replicas.iter().chain(condemned),
            now,
        );
    };
    if !act || set.metadata.deletion_timestamp.is_some() {
        return Ok(Updated {
            status,
            result: Ok(()),
        });
    }

    let update = Update {
        control,
        set,
        update_set,
        monotonic: set.spec.pod_management_policy.as_deref() != Some(PARALLEL),
        min_ready_seconds: set.spec.min_ready_seconds.unwrap_or(0),
        now,
    };
    let stop = |status: &mut StatefulSetStatus, result: Result<bool, Error>| match result {
        Ok(false) => None,
        Ok(true) => {
            recount(status, &replicas, &condemned);
            Some(Ok(()))
        }
        Err(error) => {
            recount(status, &replicas, &condemned);
            Some(Err(error))
        }
    };

    let result = update.run_for_all(replicas.len(), |i| update.process_replica(&replicas[i]));
    if let Some(result) = stop(&mut status, result) {
        return Ok(Updated { status, result });
    }
    let result = update.run_for_all(condemned.len(), |i| update.fix_claims(&condemned[i]));
    if let Some(result) = stop(&mut status, result) {
        return Ok(Updated { status, result });
    }
    let result = update.run_for_all(condemned.len(), |i| {
        update.process_condemned(&condemned[i], first_unhealthy.as_deref())
    });
    if let Some(result) = stop(&mut status, result) {
        return Ok(Updated { status, result });
    }
    recount(&mut status, &replicas, &condemned);

    let strategy = set.spec.update_strategy.as_ref();
    if strategy.and_then(|strategy| strategy.type_.as_deref()) == Some(ON_DELETE) {
        return Ok(Updated {
            status,
            result: Ok(()),
        });
    }
    let result = update.rolling_update(&replicas, update_name, &mut status);
    Ok(Updated { status, result })
}

impl Update<'_, '_, '_> {
    /// `runForAll`: in order, stopping at the first pod that blocks or
    /// fails (`OrderedReady`); or all of them in slow-start batches,
    /// stopping after a batch with a failure (`Parallel`). `Ok(true)`: stop
    /// the reconcile here.
    fn run_for_all(
        &self,
        count: usize,
        mut process: impl FnMut(usize) -> Result<bool, Error>,
    ) -> Result<bool, Error> {
        if self.monotonic {
            for i in 0..count {
                if process(i)? {
                    return Ok(true);
                }
            }
            return Ok(false);
        }
        let mut next = 0;
        let mut batch_size = count.min(1);
        while batch_size > 0 {
            let mut first_error = None;
            for i in next..next + batch_size {
                if let Err(error) = process(i) {
                    first_error.get_or_insert(error);
                }
            }
            if let Some(error) = first_error {
                return Err(error);
            }
            next += batch_size;
            batch_size = (2 * batch_size).min(count - next).min(MAX_BATCH_SIZE);
        }
        Ok(false)
    }

    /// `processReplica`: `Ok(true)` when the pass must wait here.
    fn process_replica(&self, pod: &Pod) -> Result<bool, Error> {
        // A finished pod (evicted, or its containers exited) is deleted;
        // the next reconcile, once it is gone, makes it again.
        if is_finished(pod) {
            if !is_terminating(pod) {
                self.control.delete_pod(pod)?;
            }
            return Ok(true);
        }
        if !is_created(pod) {
            if self.control.pod_claim_is_stale(self.set, pod)? {
                // The claim of an earlier pod of this name is being deleted.
                return Ok(true);
            }
            self.control.create_pod(self.set, pod)?;
            return Ok(self.monotonic);
        }
        if is_pending(pod) {
            self.control.create_missing_claims(self.set, pod)?;
        }
        if self.monotonic
            && (is_terminating(pod)
                || !is_running_and_ready(pod)
                || !identity::is_available(pod, self.min_ready_seconds, self.now))
        {
            return Ok(true);
        }
        // An error means the pod is about to be updated anyway.
        let claims_match = self
            .control
            .claims_match_retention_policy(&self.update_set, pod)
            .unwrap_or(true);
        if identity_matches(self.set, pod) && storage_matches(self.set, pod) && claims_match {
            return Ok(false);
        }
        self.control.update_pod(&self.update_set, pod.clone())?;
        Ok(false)
    }

    /// Gives a condemned pod's claims the owners `whenScaled` asks for.
    fn fix_claims(&self, pod: &Pod) -> Result<bool, Error> {
        if !self
            .control
            .claims_match_retention_policy(&self.update_set, pod)?
        {
            self.control
                .update_claims_for_retention_policy(&self.update_set, pod)?;
        }
        Ok(false)
    }

    /// `processCondemned`: deletes a pod beyond the replicas, waiting (with
    /// `OrderedReady`) for one being deleted to go and for unhealthy pods
    /// other than the first unhealthy one.
    fn process_condemned(&self, pod: &Pod, first_unhealthy: Option<&str>) -> Result<bool, Error> {
        if is_terminating(pod) {
            return Ok(self.monotonic);
        }
        let is_first_unhealthy = first_unhealthy == Some(identity::name(pod));
        if self.monotonic
            && !is_first_unhealthy
            && (!is_running_and_ready(pod)
                || !identity::is_available(pod, self.min_ready_seconds, self.now))
        {
            return Ok(true);
        }
        self.control.delete_pod(pod)?;
        Ok(true)
    }

    /// `updateStatefulSetAfterInvariantEstablished`: deletes pods not at the
    /// update revision, from the highest ordinal down to the partition, so
    /// that at most `maxUnavailable` replicas are unavailable.
    fn rolling_update(
        &self,
        replicas: &[Pod],
        update_revision: &str,
        status: &mut StatefulSetStatus,
    ) -> Result<(), Error> {
        let rolling_update = self
            .set
            .spec
            .update_strategy
            .as_ref()
            .and_then(|strategy| strategy.rolling_update.as_ref());
        let partition = rolling_update
            .and_then(|rolling_update| rolling_update.partition)
            .unwrap_or(0)
            .max(0);
        let max_unavailable = max_unavailable(
            rolling_update.and_then(|rolling_update| rolling_update.max_unavailable.as_ref()),
            identity::replicas(self.set),
        );
        let unavailable = replicas
            .iter()
            .filter(|pod| {
                !is_healthy(pod) || !identity::is_available(pod, self.min_ready_seconds, self.now)
            })
            .count();
        if unavailable >= max_unavailable {
            return Ok(());
        }
        let mut budget = max_unavailable - unavailable;
        let update_min = usize::try_from(partition).unwrap_or(0);
        for pod in replicas.iter().skip(update_min).rev() {
            if budget == 0 {
                break;
            }
            if identity::revision(pod) != update_revision && !is_terminating(pod) {
                match self.control.delete_pod(pod) {
                    Err(error) if !error.is_not_found() => return Err(error),
                    _ => {}
                }
                budget -= 1;
                let current = status.current_replicas.unwrap_or(0) - 1;
                status.current_replicas = (current != 0).then_some(current);
            }
        }
        Ok(())
    }
}

/// `maxUnavailable` as a number of pods (`getStatefulSetMaxUnavailable`):
/// 1 by default, a percentage of the replicas rounded down, at least 1.
pub fn max_unavailable(value: Option<&IntOrString>, replicas: i32) -> usize {
    let pods = match value {
        None => 1,
        Some(IntOrString::Int(n)) => i64::from(*n),
        Some(IntOrString::String(text)) => match text.strip_suffix('%').map(str::parse::<i64>) {
            Some(Ok(percent)) => percent * i64::from(replicas) / 100,
            _ => 1,
        },
    };
    usize::try_from(pods.max(1)).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_unavailable_scales_percentages_down_and_is_at_least_one() {
        let cases: &[(Option<IntOrString>, i32, usize)] = &[
            (None, 5, 1),
            (Some(IntOrString::Int(3)), 5, 3),
            (Some(IntOrString::Int(0)), 5, 1),
            (Some(IntOrString::String("50%".into())), 5, 2),
            (Some(IntOrString::String("10%".into())), 5, 1),
            (Some(IntOrString::String("100%".into())), 4, 4),
        ];
        for (value, replicas, expected) in cases {
            assert_eq!(
                max_unavailable(value.as_ref(), *replicas),
                *expected,
                "{value:?}"
            );
        }
    }
}
