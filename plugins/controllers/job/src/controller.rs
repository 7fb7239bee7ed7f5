//! The Job controller (as Kubernetes' `pkg/controller/job`): runs a Job's
//! pods until enough succeed, or too many fail, or time runs out.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use wharf_sdk::expectations::Expectations;
use wharf_sdk::k8s_openapi::api::batch::v1::Job;
use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use wharf_sdk::pods::{is_active, is_ready, is_terminating};
use wharf_sdk::prelude::*;

use crate::pods::{
    CONTROLLER_UID, finished_at, index_of, is_indexed, is_tracked, new_pod, outcome, parse_indexes,
};
use crate::status::{self, reasons};
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
            track(ctx, &mut job, &pods, false)?;
            return self.after_finished(ctx, &job, &now);
        }
        let suspended = job.spec.as_ref().and_then(|s| s.suspend) == Some(true);
        track(ctx, &mut job, &pods, !suspended)?;
        let may_act = self
            .expectations
            .borrow_mut()
            .satisfied(&key, &pods, ctx.now_millis());
        let spec = job.spec.clone().unwrap_or_default();
        let mut next = job.status.clone().unwrap_or_default();
        let active: Vec<&Pod> = pods.iter().filter(|pod| is_active(pod)).collect();
        let terminating = pods.iter().filter(|pod| is_terminating(pod)).count();
        let (succeeded, failed) = totals(&job);
        let mut requeue: Option<Duration> = None;
        let mut changes = Changes::default();

        if !suspended && next.start_time.is_none() {
            next.start_time = Some(now.clone());
        }
        let failure = if status::is_true(&job, status::FAILURE_TARGET) {
            let target = status::condition(&job, status::FAILURE_TARGET);
            target.map(|c| {
                (
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default(),
                )
            })
        } else if failed > spec.backoff_limit.unwrap_or(6) {
            Some((
                reasons::BACKOFF_LIMIT_EXCEEDED.to_owned(),
                reasons::BACKOFF_LIMIT_EXCEEDED_MESSAGE.to_owned(),
            ))
        } else if let (Some(deadline), Some(start), false) = (
            spec.active_deadline_seconds,
            next.start_time.as_ref(),
            suspended,
        ) {
            let running = now.0.duration_since(start.0).as_secs_f64();
            let left = deadline as f64 - running;
            if left <= 0.0 {
                Some((
                    reasons::DEADLINE_EXCEEDED.to_owned(),
                    reasons::DEADLINE_EXCEEDED_MESSAGE.to_owned(),
                ))
            } else {
                requeue = Some(Duration::from_secs_f64(left.min(u32::MAX as f64 / 1000.0)));
                None
            }
        } else {
            None
        };
        let completions = spec.completions;
        let completed: BTreeSet<u32> =
            parse_indexes(next.completed_indexes.as_deref().unwrap_or_default());
        let success = status::is_true(&job, status::SUCCESS_CRITERIA_MET)
            || match (is_indexed(&job), completions) {
                (true, Some(c)) => completed.len() >= usize::try_from(c).unwrap_or(0),
                (_, Some(c)) => succeeded >= c,
                (_, None) => succeeded > 0 && active.is_empty(),
            };

        if let Some((reason, message)) = failure {
            if status::set_condition(
                &mut next,
                status::FAILURE_TARGET,
                true,
                &reason,
                &message,
                &now,
            ) {
                ctx.event(&job, EventType::Warning, &reason, message.clone());
            }
            changes.deleted = self.delete_pods(ctx, &job, &active);
            if active.is_empty() && terminating == 0 {
                status::set_condition(&mut next, status::FAILED, true, &reason, &message, &now);
            }
        } else if success {
            let (reason, message) = (
                reasons::COMPLETIONS_REACHED,
                reasons::COMPLETIONS_REACHED_MESSAGE,
            );
            status::set_condition(
                &mut next,
                status::SUCCESS_CRITERIA_MET,
                true,
                reason,
                message,
                &now,
            );
            changes.deleted = self.delete_pods(ctx, &job, &active);
            if active.is_empty() && terminating == 0 {
                status::set_condition(&mut next, status::COMPLETE, true, reason, message, &now);
                next.completion_time = Some(now.clone());
                ctx.event(&job, EventType::Normal, reasons::COMPLETED, "Job completed");
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
            let backoff = backoff_left(&pods, failed, &now);
            if let Some(wait) = backoff {
                requeue = Some(requeue.map_or(wait, |r| r.min(wait)));
            } else if may_act {
                changes = self.manage(ctx, &job, &active, succeeded, &completed)?;
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
        next.terminating = Some(i32::try_from(terminating + changes.deleted.len()).unwrap_or(0));
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
}

impl JobController {
    /// Creates the pods the Job lacks, or deletes those over `parallelism`
    /// (for an Indexed Job: one pod per index not yet succeeded, the lowest
    /// first; pods of an index twice, or out of range, deleted).
    fn manage(
        &self,
        ctx: &Context,
        job: &Job,
        active: &[&Pod],
        succeeded: i32,
        completed: &BTreeSet<u32>,
    ) -> Result<Changes, Error> {
        let spec = job.spec.clone().unwrap_or_default();
        let parallelism = usize::try_from(spec.parallelism.unwrap_or(1)).unwrap_or(0);
        let mut changes = Changes::default();
        if is_indexed(job) {
            let completions = u32::try_from(spec.completions.unwrap_or(1)).unwrap_or(0);
            let mut seen = BTreeSet::new();
            let (keep, extra): (Vec<&Pod>, Vec<&Pod>) = active.iter().partition(|pod| {
                index_of(pod)
                    .is_some_and(|i| i < completions && !completed.contains(&i) && seen.insert(i))
            });
            changes.deleted = self.delete_pods(ctx, job, &extra);
            let running: BTreeSet<u32> = keep.iter().filter_map(|pod| index_of(pod)).collect();
            let room = parallelism.saturating_sub(keep.len()).min(BURST);
            let wanted: Vec<u32> = (0..completions)
                .filter(|i| !completed.contains(i) && !running.contains(i))
                .take(room)
                .collect();
            let pods = wanted
                .into_iter()
                .map(|index| new_pod(job, Some(index)))
                .collect::<Result<Vec<_>, _>>()?;
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
        if active.len() < want {
            let pod = new_pod(job, None)?;
            let pods = vec![pod; (want - active.len()).min(BURST)];
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
fn backoff_left(pods: &[Pod], failed: i32, now: &Time) -> Option<Duration> {
    if failed <= 0 {
        return None;
    }
    let last = pods
        .iter()
        .filter(|pod| outcome(pod) == Some(false) && !is_tracked_and_deleted_by_us(pod))
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
