//! The Job controller (as Kubernetes' `pkg/controller/job`): runs a Job's
//! pods until enough succeed, or too many fail, or time runs out.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use wharf_sdk::expectations::Expectations;
use wharf_sdk::k8s_openapi::api::batch::v1::{Job, JobStatus};
use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use wharf_sdk::pods::{is_active, is_ready, is_terminating};
use wharf_sdk::prelude::*;

use crate::failure_policy;
use crate::indexes::{PerIndex, completions, has_backoff_limit_per_index, parse_indexes};
use crate::pods::{
    CONTROLLER_UID, counts_deleted_as_failed, finished_at, index_of, is_indexed, is_tracked,
    new_pod, only_replace_failed_pods, outcome,
};
use crate::status::{self, reasons};
use crate::success_policy::match_success_policy;
use crate::tracking::{totals, track};

/// Reconciles Jobs and owns their pods.
#[derive(Debug, Default)]
pub struct JobController {
    /// Pods created or deleted but not yet seen, per `namespace/name`.
    expectations: RefCell<Expectations>,
}

/// At most this many pods are created or deleted in one reconcile.
pub const BURST: usize = 500;
/// The first wait after a failed pod; it doubles with each failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(10);
/// The longest wait after failures (`MaxJobPodFailureBackOff`).
pub const BACKOFF_MAX: Duration = Duration::from_secs(360);

impl Controller for JobController {
    fn registration(_config: &serde_json::Value) -> Result<Registration, Error> {
        Ok(Registration::new::<Job>().owns::<Pod>())
    }

    fn reconcile(
        &self,
        ctx: &Context,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Action, Error> {
        let Some(namespace) = namespace else {
            return Ok(Action::Done);
        };
        let key = format!("{namespace}/{name}");
        let Some(mut job) = ctx.get::<Job>(Some(namespace), name)? else {
            self.expectations.borrow_mut().forget(&key);
            return Ok(Action::Done);
        };
        let uid = job.metadata.uid.clone().unwrap_or_default();
        let pods: Vec<Pod> = ctx
            .list::<Pod>(
                Some(namespace),
                &ListParams::default().labels(format!("{CONTROLLER_UID}={uid}")),
            )?
            .into_iter()
            .filter(|pod| is_controlled_by(pod, &job))
            .collect();
        let now = ctx.now();
        if status::is_finished(&job) || job.metadata.deletion_timestamp.is_some() {
            // Pods left over are released uncounted; then only the TTL.
            track(ctx, &mut job, &pods, false, None)?;
            return self.after_finished(ctx, &job, &now);
        }
        let suspended = job.spec.as_ref().and_then(|s| s.suspend) == Some(true);
        record_fail_job_rule(ctx, &mut job, &pods, &now)?;
        let per_index = PerIndex::of(&job, &pods);
        track(ctx, &mut job, &pods, !suspended, per_index.as_ref())?;
        let may_act = self
            .expectations
            .borrow_mut()
            .satisfied(&key, &pods, ctx.now_millis());
        let mut next = job.status.clone().unwrap_or_default();
        let active: Vec<&Pod> = pods.iter().filter(|pod| is_active(pod)).collect();
        let terminating: Vec<&Pod> = pods.iter().filter(|pod| is_terminating(pod)).collect();
        let (succeeded, failed) = totals(&job);
        let mut requeue: Option<Duration> = None;
        let mut changes = Changes::default();

        if !suspended && next.start_time.is_none() {
            next.start_time = Some(now.clone());
        }
        let deadline_left = deadline_left(&job, &next, suspended, &now);
        let past_deadline = deadline_left == Some(Duration::ZERO);
        let ending = ending(&job, &next, active.len(), succeeded, failed, past_deadline);
        if ending.is_none() {
            requeue = deadline_left;
        }

        if let Some(Ending {
            success,
            reason,
            message,
        }) = ending
        {
            let (target, last) = if success {
                (status::SUCCESS_CRITERIA_MET, status::COMPLETE)
            } else {
                (status::FAILURE_TARGET, status::FAILED)
            };
            if status::set_condition(&mut next, target, true, &reason, &message, &now) && !success {
                ctx.event(&job, EventType::Warning, &reason, message.clone());
            }
            changes.deleted = self.delete_pods(ctx, &job, &active);
            if active.is_empty() && terminating.is_empty() {
                status::set_condition(&mut next, last, true, &reason, &message, &now);
                if success {
                    next.completion_time = Some(now.clone());
                    ctx.event(&job, EventType::Normal, reasons::COMPLETED, "Job completed");
                }
            }
        } else if suspended {
            if status::set_condition(
                &mut next,
                status::SUSPENDED,
                true,
                reasons::JOB_SUSPENDED,
                "Job suspended",
                &now,
            ) {
                ctx.event(&job, EventType::Normal, reasons::SUSPENDED, "Job suspended");
            }
            next.start_time = None;
            changes.deleted = self.delete_pods(ctx, &job, &active);
        } else {
            if status::is_true(&job, status::SUSPENDED) {
                status::set_condition(
                    &mut next,
                    status::SUSPENDED,
                    false,
                    reasons::JOB_RESUMED,
                    "Job resumed",
                    &now,
                );
                ctx.event(&job, EventType::Normal, reasons::RESUMED, "Job resumed");
            }
            // With `backoffLimitPerIndex` each index backs off on its own.
            let backoff = match per_index {
                Some(_) => None,
                None => backoff_left(&job, &pods, failed, &now),
            };
            if let Some(wait) = backoff {
                requeue = Some(requeue.map_or(wait, |r| r.min(wait)));
            } else if may_act {
                let indexes = Indexes {
                    completed: parse_indexes(
                        next.completed_indexes.as_deref().unwrap_or_default(),
                        completions(&job),
                    ),
                    per_index: per_index.as_ref(),
                };
                changes =
                    self.manage(ctx, &job, &active, &terminating, succeeded, &indexes, &now)?;
                if let Some(wait) = changes.wait {
                    requeue = Some(requeue.map_or(wait, |r| r.min(wait)));
                }
            }
        }
        self.expectations.borrow_mut().expect(
            &key,
            changes.created.clone(),
            changes.deleted.clone(),
            ctx.now_millis(),
        );

        let still_active =
            active.len() + changes.created.len() - changes.deleted.len().min(active.len());
        next.active = Some(i32::try_from(still_active).unwrap_or(i32::MAX));
        next.ready =
            Some(i32::try_from(active.iter().filter(|p| is_ready(p)).count()).unwrap_or(0));
        next.terminating =
            Some(i32::try_from(terminating.len() + changes.deleted.len()).unwrap_or(0));
        next.succeeded.get_or_insert(0);
        next.failed.get_or_insert(0);
        if job.status.as_ref() != Some(&next) {
            job.status = Some(next);
            job = ctx.update_status(&job)?;
        }
        if let Some(error) = changes.error {
            return Err(error);
        }
        if status::is_finished(&job) {
            return self.after_finished(ctx, &job, &now);
        }
        Ok(requeue.map_or(Action::Done, Action::RequeueAfter))
    }
}

/// What one reconcile did to the Job's pods.
#[derive(Debug, Default)]
struct Changes {
    created: Vec<String>,
    deleted: Vec<String>,
    /// The first creation that failed (reported after the status is written).
    error: Option<Error>,
    /// When indexes still backing off may get their pods.
    wait: Option<Duration>,
}

/// Why the Job ends: the reason and message of its `SuccessCriteriaMet`
/// then `Complete`, or `FailureTarget` then `Failed`, conditions.
#[derive(Debug)]
struct Ending {
    success: bool,
    reason: String,
    message: String,
}

impl Ending {
    fn success(reason: &str, message: &str) -> Self {
        let (reason, message) = (reason.to_owned(), message.to_owned());
        Ending {
            success: true,
            reason,
            message,
        }
    }

    fn failure(reason: &str, message: &str) -> Self {
        let (reason, message) = (reason.to_owned(), message.to_owned());
        Ending {
            success: false,
            reason,
            message,
        }
    }
}

/// An Indexed Job's indexes, as one reconcile sees them.
#[derive(Debug, Default)]
struct Indexes<'a, 'p> {
    completed: BTreeSet<u32>,
    per_index: Option<&'a PerIndex<'p>>,
}

/// Whether, and why, the Job ends, decided in kube's order: a condition
/// already set (`SuccessCriteriaMet`, then `FailureTarget`, which a
/// `FailJob` rule sets), `backoffLimit` passed, `activeDeadlineSeconds`
/// over, too many or all remaining indexes failed
/// (`backoffLimitPerIndex`), a success-policy rule met, completions
/// reached.
fn ending(
    job: &Job,
    next: &JobStatus,
    active: usize,
    succeeded: i32,
    failed: i32,
    past_deadline: bool,
) -> Option<Ending> {
    let spec = job.spec.clone().unwrap_or_default();
    for type_ in [status::SUCCESS_CRITERIA_MET, status::FAILURE_TARGET] {
        if let Some(c) = status::condition(job, type_).filter(|c| c.status == "True") {
            return Some(Ending {
                success: type_ == status::SUCCESS_CRITERIA_MET,
                reason: c.reason.clone().unwrap_or_default(),
                message: c.message.clone().unwrap_or_default(),
            });
        }
    }
    // kube defaults `backoffLimit` to the largest int32 with `backoffLimitPerIndex`.
    let per_index = has_backoff_limit_per_index(job);
    let backoff_limit = (spec.backoff_limit).unwrap_or(if per_index { i32::MAX } else { 6 });
    if failed > backoff_limit {
        return Some(Ending::failure(
            reasons::BACKOFF_LIMIT_EXCEEDED,
            reasons::BACKOFF_LIMIT_EXCEEDED_MESSAGE,
        ));
    }
    if past_deadline {
        return Some(Ending::failure(
            reasons::DEADLINE_EXCEEDED,
            reasons::DEADLINE_EXCEEDED_MESSAGE,
        ));
    }
    if is_indexed(job) {
        let completions = completions(job);
        let indexes =
            |text: &Option<String>| parse_indexes(text.as_deref().unwrap_or_default(), completions);
        let completed = indexes(&next.completed_indexes);
        if per_index {
            let failed_indexes = indexes(&next.failed_indexes).len();
            let max = spec
                .max_failed_indexes
                .and_then(|m| usize::try_from(m).ok());
            if max.is_some_and(|max| failed_indexes > max) {
                return Some(Ending::failure(
                    reasons::MAX_FAILED_INDEXES_EXCEEDED,
                    reasons::MAX_FAILED_INDEXES_EXCEEDED_MESSAGE,
                ));
            }
            if failed_indexes > 0 && failed_indexes + completed.len() >= completions as usize {
                return Some(Ending::failure(
                    reasons::FAILED_INDEXES,
                    reasons::FAILED_INDEXES_MESSAGE,
                ));
            }
        }
        if let Some(message) =
            match_success_policy(spec.success_policy.as_ref(), completions, &completed)
        {
            return Some(Ending::success(reasons::SUCCESS_POLICY, &message));
        }
    }
    let reached = match (is_indexed(job), spec.completions) {
        (true, _) => {
            let completed = next.completed_indexes.as_deref().unwrap_or_default();
            parse_indexes(completed, completions(job)).len() >= completions(job) as usize
        }
        (false, Some(c)) => succeeded >= c,
        // A work queue: done once one pod succeeded and none runs.
        (false, None) => succeeded > 0 && active == 0,
    };
    reached.then(|| {
        Ending::success(
            reasons::COMPLETIONS_REACHED,
            reasons::COMPLETIONS_REACHED_MESSAGE,
        )
    })
}

/// How much of its `activeDeadlineSeconds` the running Job has left
/// (`Some(ZERO)` once over; `None` without one, or while suspended).
fn deadline_left(job: &Job, next: &JobStatus, suspended: bool, now: &Time) -> Option<Duration> {
    let deadline = job.spec.as_ref()?.active_deadline_seconds?;
    let start = next.start_time.as_ref().filter(|_| !suspended)?;
    let running = now.0.duration_since(start.0).as_secs_f64();
    let left = (deadline as f64 - running).max(0.0);
    Some(Duration::from_secs_f64(left.min(u32::MAX as f64 / 1000.0)))
}

/// A `FailJob` rule matched a failed pod: the `FailureTarget` condition
/// (reason `PodFailurePolicy`) is written before any pod is released, as
/// kube writes it with the uncounted pods, so its message outlives them.
fn record_fail_job_rule(
    ctx: &Context,
    job: &mut Job,
    pods: &[Pod],
    now: &Time,
) -> Result<(), Error> {
    if status::is_true(job, status::SUCCESS_CRITERIA_MET)
        || status::is_true(job, status::FAILURE_TARGET)
    {
        return Ok(());
    }
    let Some(message) = failure_policy::fail_job_message(job, pods) else {
        return Ok(());
    };
    let mut next = job.status.clone().unwrap_or_default();
    let reason = reasons::POD_FAILURE_POLICY;
    status::set_condition(
        &mut next,
        status::FAILURE_TARGET,
        true,
        reason,
        &message,
        now,
    );
    job.status = Some(next);
    *job = ctx.update_status(job)?;
    ctx.event(job, EventType::Warning, reason, message);
    Ok(())
}

impl JobController {
    /// Creates the pods the Job lacks, or deletes those over `parallelism`
    /// (for an Indexed Job: one pod per index neither succeeded nor failed,
    /// the lowest first, each after its own backoff with
    /// `backoffLimitPerIndex`; pods of an index twice, or out of range,
    /// deleted). With [`only_replace_failed_pods`], terminating pods still
    /// hold their place.
    #[allow(clippy::too_many_arguments)]
    fn manage(
        &self,
        ctx: &Context,
        job: &Job,
        active: &[&Pod],
        terminating: &[&Pod],
        succeeded: i32,
        indexes: &Indexes<'_, '_>,
        now: &Time,
    ) -> Result<Changes, Error> {
        let spec = job.spec.clone().unwrap_or_default();
        let parallelism = usize::try_from(spec.parallelism.unwrap_or(1)).unwrap_or(0);
        let terminating: &[&Pod] = if only_replace_failed_pods(job) {
            terminating
        } else {
            &[]
        };
        let mut changes = Changes::default();
        if is_indexed(job) {
            let completions = completions(job);
            let completed = &indexes.completed;
            let mut seen = BTreeSet::new();
            let (keep, extra): (Vec<&Pod>, Vec<&Pod>) = active.iter().partition(|pod| {
                index_of(pod)
                    .is_some_and(|i| i < completions && !completed.contains(&i) && seen.insert(i))
            });
            changes.deleted = self.delete_pods(ctx, job, &extra);
            let taken: BTreeSet<u32> = (keep.iter().chain(terminating))
                .filter_map(|pod| index_of(pod))
                .chain(
                    indexes
                        .per_index
                        .into_iter()
                        .flat_map(|p| p.failed.iter().copied()),
                )
                .collect();
            let room = parallelism
                .saturating_sub(keep.len() + terminating.len())
                .min(BURST);
            let pending = (0..completions)
                .filter(|i| !completed.contains(i) && !taken.contains(i))
                .take(room);
            let mut wanted = Vec::new();
            for index in pending {
                let wait = indexes.per_index.and_then(|p| p.backoff_left(index, now));
                match wait {
                    Some(wait) => changes.wait = Some(changes.wait.map_or(wait, |w| w.min(wait))),
                    None => wanted.push(index),
                }
            }
            let mut pods = Vec::with_capacity(wanted.len());
            for index in wanted {
                let mut pod = new_pod(job, Some(index))?;
                if let Some(per_index) = indexes.per_index {
                    per_index.annotate(job, index, &mut pod);
                }
                pods.push(pod);
            }
            self.create(ctx, job, &pods, &mut changes);
            return Ok(changes);
        }
        let want = match spec.completions {
            Some(completions) => {
                parallelism.min(usize::try_from(completions - succeeded).unwrap_or(0))
            }
            // A work queue: once one pod succeeded, no new ones.
            None if succeeded > 0 => active.len().min(parallelism),
            None => parallelism,
        };
        let in_use = active.len() + terminating.len();
        if in_use < want {
            let pod = new_pod(job, None)?;
            let pods = vec![pod; (want - in_use).min(BURST)];
            self.create(ctx, job, &pods, &mut changes);
        } else if active.len() > want {
            // Those not running yet go first, then the youngest.
            let mut surplus: Vec<&Pod> = active.to_vec();
            surplus.sort_by_key(|pod| {
                (
                    wharf_sdk::pods::phase(pod) == "Running",
                    std::cmp::Reverse(pod.metadata.creation_timestamp.as_ref().map(|t| t.0)),
                )
            });
            surplus.truncate((active.len() - want).min(BURST));
            changes.deleted = self.delete_pods(ctx, job, &surplus);
        }
        Ok(changes)
    }

    fn create(&self, ctx: &Context, job: &Job, pods: &[Pod], changes: &mut Changes) {
        let namespace = job.metadata.namespace.as_deref();
        for outcome in ctx.create_all(namespace, pods) {
            match outcome {
                Ok(stored) => {
                    let name = stored.metadata.name.unwrap_or_default();
                    ctx.event(
                        job,
                        EventType::Normal,
                        reasons::SUCCESSFUL_CREATE,
                        format!("Created pod: {name}"),
                    );
                    changes.created.push(name);
                }
                Err(error) => {
                    ctx.event(
                        job,
                        EventType::Warning,
                        reasons::FAILED_CREATE,
                        format!("Error creating: {error}"),
                    );
                    changes.error.get_or_insert(error);
                }
            }
        }
    }

    /// Deletes pods (their tracking finalizers hold them until counted);
    /// returns the names it deleted.
    fn delete_pods(&self, ctx: &Context, job: &Job, pods: &[&Pod]) -> Vec<String> {
        let namespace = job.metadata.namespace.as_deref();
        let mut deleted = Vec::new();
        for pod in pods {
            let name = pod.metadata.name.clone().unwrap_or_default();
            match ctx.delete::<Pod>(namespace, &name) {
                Ok(()) => {
                    ctx.event(
                        job,
                        EventType::Normal,
                        reasons::SUCCESSFUL_DELETE,
                        format!("Deleted pod: {name}"),
                    );
                    deleted.push(name);
                }
                Err(error) if error.is_not_found() => {}
                Err(error) => ctx.warn(format!("deleting pod {name}: {error}")),
            }
        }
        deleted
    }

    /// A finished Job waits for its `ttlSecondsAfterFinished`, then is
    /// deleted (kube's TTL-after-finished controller).
    fn after_finished(&self, ctx: &Context, job: &Job, now: &Time) -> Result<Action, Error> {
        let Some(ttl) = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished) else {
            return Ok(Action::Done);
        };
        if job.metadata.deletion_timestamp.is_some() {
            return Ok(Action::Done);
        }
        let finished = [status::COMPLETE, status::FAILED]
            .iter()
            .filter_map(|type_| status::condition(job, type_))
            .filter(|c| c.status == "True")
            .filter_map(|c| c.last_transition_time.as_ref())
            .map(|t| t.0)
            .max();
        let Some(finished) = finished else {
            return Ok(Action::Done);
        };
        let since = now.0.duration_since(finished).as_secs_f64();
        let left = f64::from(ttl) - since;
        if left > 0.0 {
            return Ok(Action::RequeueAfter(Duration::from_secs_f64(
                left.min(86_400.0),
            )));
        }
        let name = job.metadata.name.as_deref().unwrap_or_default();
        match ctx.delete::<Job>(job.metadata.namespace.as_deref(), name) {
            Ok(()) => Ok(Action::Done),
            Err(error) if error.is_not_found() => Ok(Action::Done),
            Err(error) => Err(error),
        }
    }
}

/// How long the Job still waits after its latest failed pod before it
/// makes another: 10 s doubled per failure, at most 6 minutes.
fn backoff_left(job: &Job, pods: &[Pod], failed: i32, now: &Time) -> Option<Duration> {
    if failed <= 0 {
        return None;
    }
    let deleted_is_failed = counts_deleted_as_failed(job);
    let last = pods
        .iter()
        .filter(|pod| outcome(pod, deleted_is_failed) == Some(false))
        .filter(|pod| !is_tracked_and_deleted_by_us(pod))
        .filter_map(finished_at)
        .max()?;
    let exponent = u32::try_from(failed - 1).unwrap_or(0).min(16);
    let delay = BACKOFF_BASE
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(BACKOFF_MAX);
    let since = now.0.duration_since(last).as_secs_f64().max(0.0);
    let left = delay.as_secs_f64() - since;
    (left > 0.0).then(|| Duration::from_secs_f64(left))
}

/// A pod being deleted that still holds the finalizer: the controller's
/// own deletion, not a failure to wait after.
fn is_tracked_and_deleted_by_us(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
        && is_tracked(pod)
        && wharf_sdk::pods::phase(pod) != "Failed"
}
