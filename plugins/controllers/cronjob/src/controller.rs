//! The CronJob controller (as Kubernetes' `pkg/controller/cronjob`, v2):
//! makes a Job at each scheduled time, as its concurrency policy allows,
//! and keeps its history short.

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use wharf_sdk::k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use wharf_sdk::k8s_openapi::api::core::v1::ObjectReference;
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use wharf_sdk::prelude::*;

use crate::schedule::Schedule;

/// The annotation kube puts on each Job: the time it was scheduled for.
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// More missed start times than this and only the latest is started.
pub const MAX_MISSED: usize = 100;

/// Event reasons, as kube's controller records them.
pub mod reasons {
    pub const SUCCESSFUL_CREATE: &str = "SuccessfulCreate";
    pub const FAILED_CREATE: &str = "FailedCreate";
    pub const SUCCESSFUL_DELETE: &str = "SuccessfulDelete";
    pub const SAW_COMPLETED_JOB: &str = "SawCompletedJob";
    pub const JOB_ALREADY_ACTIVE: &str = "JobAlreadyActive";
    pub const MISS_SCHEDULE: &str = "MissSchedule";
    pub const TOO_MANY_MISSED_TIMES: &str = "TooManyMissedTimes";
    pub const UNPARSEABLE_SCHEDULE: &str = "UnparseableSchedule";
    pub const UNKNOWN_TIME_ZONE: &str = "UnknownTimeZone";
}

#[derive(Debug, Default)]
pub struct CronJobController;

impl Controller for CronJobController {
    fn registration(_config: &serde_json::Value) -> Result<Registration, Error> {
        Ok(Registration::new::<CronJob>().owns::<Job>())
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
        let Some(mut cron_job) = ctx.get::<CronJob>(Some(namespace), name)? else {
            return Ok(Action::Done);
        };
        let jobs: Vec<Job> = ctx
            .list::<Job>(Some(namespace), &ListParams::default())?
            .into_iter()
            .filter(|job| is_controlled_by(job, &cron_job))
            .collect();
        let now = ctx.now().0;
        let mut status = cron_job.status.clone().unwrap_or_default();
        observe_jobs(ctx, &cron_job, &jobs, &mut status);
        let outcome = if cron_job.metadata.deletion_timestamp.is_some() {
            Ok(None)
        } else {
            self.schedule(ctx, &cron_job, &jobs, &mut status, now)
        };
        if cron_job.status.as_ref() != Some(&status) {
            cron_job.status = Some(status);
            cron_job = ctx.update_status(&cron_job)?;
        }
        clean_up_history(ctx, &cron_job, &jobs);
        // A little after the next time, so that it is not early.
        Ok(match outcome? {
            Some(next) => Action::RequeueAfter(
                Duration::try_from(next.duration_since(now)).unwrap_or_default()
                    + Duration::from_millis(100),
            ),
            None => Action::Done,
        })
    }
}

impl CronJobController {
    /// `syncCronJob`'s scheduling half: starts the Job of the most recent
    /// missed time, if any; returns when to look again.
    fn schedule(
        &self,
        ctx: &Context,
        cron_job: &CronJob,
        jobs: &[Job],
        status: &mut CronJobStatus,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, Error> {
        let spec = cron_job.spec.clone();
        let tz = match spec.time_zone.as_deref() {
            None => TimeZone::UTC,
            Some(zone) => match TimeZone::get(zone) {
                Ok(tz) => tz,
                Err(_) => {
                    ctx.event(
                        cron_job,
                        EventType::Warning,
                        reasons::UNKNOWN_TIME_ZONE,
                        format!("invalid timeZone: {zone:?}: unknown time zone {zone}"),
                    );
                    return Ok(None);
                }
            },
        };
        let schedule = match Schedule::parse(&spec.schedule) {
            Ok(schedule) => schedule,
            Err(error) => {
                ctx.event(
                    cron_job,
                    EventType::Warning,
                    reasons::UNPARSEABLE_SCHEDULE,
                    format!("unparseable schedule: {:?} : {error}", spec.schedule),
                );
                return Ok(None);
            }
        };
        if spec.suspend == Some(true) {
            return Ok(None);
        }
        let next_after_now = schedule.next(now, &tz);
        let Some(scheduled) = most_recent(ctx, cron_job, &schedule, &tz, status, now) else {
            return Ok(next_after_now);
        };
        if let Some(deadline) = spec.starting_deadline_seconds
            && scheduled.as_second() + deadline < now.as_second()
        {
            ctx.event(
                cron_job,
                EventType::Warning,
                reasons::MISS_SCHEDULE,
                format!(
                    "Missed scheduled time to start a job: {}",
                    rfc3339(scheduled)
                ),
            );
            return Ok(next_after_now);
        }
        let job_name = job_name(cron_job, scheduled);
        if jobs
            .iter()
            .any(|job| job.metadata.name.as_deref() == Some(&job_name))
        {
            return Ok(next_after_now);
        }
        let active: Vec<&Job> = jobs.iter().filter(|job| finished(job).is_none()).collect();
        match spec.concurrency_policy.as_deref() {
            Some("Forbid") if !active.is_empty() => {
                ctx.event(
                    cron_job,
                    EventType::Normal,
                    reasons::JOB_ALREADY_ACTIVE,
                    "Not starting job because prior execution is running and concurrency policy is Forbid",
                );
                return Ok(next_after_now);
            }
            Some("Replace") => {
                for job in &active {
                    delete_job(ctx, cron_job, job)?;
                    remove_active(status, job);
                }
            }
            _ => {}
        }
        let job = job_from_template(cron_job, &job_name, scheduled);
        match ctx.create(cron_job.metadata.namespace.as_deref(), &job) {
            Ok(created) => {
                ctx.event(
                    cron_job,
                    EventType::Normal,
                    reasons::SUCCESSFUL_CREATE,
                    format!("Created job {job_name}"),
                );
                status
                    .active
                    .get_or_insert_with(Vec::new)
                    .push(reference(&created));
            }
            Err(error) if error.is_already_exists() => {}
            Err(error) => {
                ctx.event(
                    cron_job,
                    EventType::Warning,
                    reasons::FAILED_CREATE,
                    format!("Error creating job: {error}"),
                );
                return Err(error);
            }
        }
        status.last_schedule_time = Some(Time(scheduled));
        Ok(next_after_now)
    }
}

/// The most recent scheduled time not yet started: after the last one (or
/// the CronJob's creation), within `startingDeadlineSeconds` if set; with
/// more than [`MAX_MISSED`] of them, kube's "too many missed start times"
/// event, and still the latest.
fn most_recent(
    ctx: &Context,
    cron_job: &CronJob,
    schedule: &Schedule,
    tz: &TimeZone,
    status: &CronJobStatus,
    now: Timestamp,
) -> Option<Timestamp> {
    let spec = &cron_job.spec;
    let mut earliest = status
        .last_schedule_time
        .as_ref()
        .or(cron_job.metadata.creation_timestamp.as_ref())
        .map(|t| t.0)?;
    if let Some(deadline) = spec.starting_deadline_seconds
        && let Ok(window) = Timestamp::from_second(now.as_second() - deadline)
        && window > earliest
    {
        earliest = window;
    }
    let mut latest = None;
    let mut missed = 0usize;
    let mut t = earliest;
    while let Some(next) = schedule.next(t, tz) {
        if next > now {
            break;
        }
        latest = Some(next);
        missed += 1;
        t = next;
        if missed > 100_000 {
            break;
        }
    }
    if missed > MAX_MISSED {
        ctx.event(
            cron_job,
            EventType::Warning,
            reasons::TOO_MANY_MISSED_TIMES,
            format!(
                "too many missed start times: {missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew"
            ),
        );
    }
    latest
}

/// A Job's name: the CronJob's and the scheduled minute since the epoch.
pub fn job_name(cron_job: &CronJob, scheduled: Timestamp) -> String {
    format!(
        "{}-{}",
        cron_job.metadata.name.as_deref().unwrap_or_default(),
        scheduled.as_second().div_euclid(60)
    )
}

fn job_from_template(cron_job: &CronJob, name: &str, scheduled: Timestamp) -> Job {
    let template = cron_job.spec.job_template.clone();
    let template_metadata = template.metadata.unwrap_or_default();
    let mut annotations = template_metadata.annotations.unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP.to_owned(), rfc3339(scheduled));
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: cron_job.metadata.namespace.clone(),
            labels: template_metadata.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![owner_reference(cron_job)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// Whether a Job finished, and how (`Complete`, `Failed`).
fn finished(job: &Job) -> Option<&str> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    conditions
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| c.type_.as_str())
}

/// The status's `active` list follows the Jobs: finished ones leave it
/// (`SawCompletedJob`), a completed one moves `lastSuccessfulTime`, Jobs
/// gone are dropped.
fn observe_jobs(ctx: &Context, cron_job: &CronJob, jobs: &[Job], status: &mut CronJobStatus) {
    for job in jobs {
        let listed = (status.active.iter().flatten()).any(|r| r.uid == job.metadata.uid);
        match finished(job) {
            None if !listed => status
                .active
                .get_or_insert_with(Vec::new)
                .push(reference(job)),
            None => {}
            Some(how) => {
                if listed {
                    let name = job.metadata.name.as_deref().unwrap_or_default();
                    ctx.event(
                        cron_job,
                        EventType::Normal,
                        reasons::SAW_COMPLETED_JOB,
                        format!("Saw completed job: {name}, condition: {how}"),
                    );
                    remove_active(status, job);
                }
                if how == "Complete"
                    && let Some(done) = job.status.as_ref().and_then(|s| s.completion_time.clone())
                    && status
                        .last_successful_time
                        .as_ref()
                        .is_none_or(|t| t.0 < done.0)
                {
                    status.last_successful_time = Some(done);
                }
            }
        }
    }
    if let Some(active) = status.active.as_mut() {
        active.retain(|r| jobs.iter().any(|job| job.metadata.uid == r.uid));
        if active.is_empty() {
            status.active = None;
        }
    }
}

fn remove_active(status: &mut CronJobStatus, job: &Job) {
    if let Some(active) = status.active.as_mut() {
        active.retain(|r| r.uid != job.metadata.uid);
        if active.is_empty() {
            status.active = None;
        }
    }
}

fn reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".to_owned()),
        kind: Some("Job".to_owned()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        ..Default::default()
    }
}

/// Deletes the oldest finished Jobs beyond `successfulJobsHistoryLimit`
/// (3) and `failedJobsHistoryLimit` (1).
fn clean_up_history(ctx: &Context, cron_job: &CronJob, jobs: &[Job]) {
    let spec = cron_job.spec.clone();
    for (how, limit) in [
        ("Complete", spec.successful_jobs_history_limit.unwrap_or(3)),
        ("Failed", spec.failed_jobs_history_limit.unwrap_or(1)),
    ] {
        let mut done: Vec<&Job> = jobs
            .iter()
            .filter(|job| finished(job) == Some(how))
            .collect();
        let keep = usize::try_from(limit).unwrap_or(0);
        if done.len() <= keep {
            continue;
        }
        done.sort_by_key(|job| {
            job.status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .or(job.metadata.creation_timestamp.as_ref())
                .map(|t| t.0)
        });
        for job in &done[..done.len() - keep] {
            if let Err(error) = delete_job(ctx, cron_job, job) {
                ctx.warn(format!("deleting a finished job: {error}"));
            }
        }
    }
}

/// Deletes one of the CronJob's Jobs (gone already is fine), with kube's
/// `SuccessfulDelete` event.
fn delete_job(ctx: &Context, cron_job: &CronJob, job: &Job) -> Result<(), Error> {
    let name = job.metadata.name.as_deref().unwrap_or_default();
    match ctx.delete::<Job>(job.metadata.namespace.as_deref(), name) {
        Ok(()) => {
            ctx.event(
                cron_job,
                EventType::Normal,
                reasons::SUCCESSFUL_DELETE,
                format!("Deleted job {name}"),
            );
            Ok(())
        }
        Err(error) if error.is_not_found() => Ok(()),
        Err(error) => Err(error),
    }
}

fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}
