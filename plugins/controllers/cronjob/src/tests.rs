//! The CronJob controller against the SDK's fake cluster, its clock moved
//! by the tests.

use std::time::Duration;

use wharf_sdk::k8s_openapi::api::batch::v1::{
    CronJob, CronJobSpec, Job, JobCondition, JobSpec, JobStatus, JobTemplateSpec,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wharf_sdk::prelude::*;
use wharf_sdk::testing::FakeCluster;

use crate::CronJobController;
use crate::controller::SCHEDULED_TIMESTAMP;

const KEY: &str = "default/nightly";

fn cron_job(schedule: &str, spec: impl FnOnce(&mut CronJobSpec)) -> CronJob {
    let mut cron_spec = CronJobSpec {
        schedule: schedule.into(),
        job_template: JobTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_owned(), "nightly".to_owned())].into()),
                ..Default::default()
            }),
            spec: Some(JobSpec::default()),
        },
        ..Default::default()
    };
    spec(&mut cron_spec);
    CronJob {
        metadata: ObjectMeta {
            name: Some("nightly".into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec: cron_spec,
        status: None,
    }
}

fn jobs(cluster: &FakeCluster) -> Vec<Job> {
    let mut jobs = cluster.list::<Job>(Some("default"));
    jobs.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    jobs
}

fn finish(cluster: &FakeCluster, job: &Job, how: &str) {
    let now = wharf_sdk::time_from_millis(cluster.now_millis());
    cluster.modify::<Job>(
        Some("default"),
        job.metadata.name.as_deref().unwrap(),
        |job| {
            job.status = Some(JobStatus {
                start_time: Some(now.clone()),
                completion_time: (how == "Complete").then(|| now.clone()),
                conditions: Some(vec![JobCondition {
                    type_: how.into(),
                    status: "True".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            });
        },
    );
}

/// 2027-01-15T08:00:00Z, the 30,000,000th minute since the epoch: a
/// CronJob made then first runs `* * * * *` a minute later.
const WHOLE_MINUTE: u64 = 1_800_000_000_000;

fn minute() -> Duration {
    Duration::from_secs(60)
}

#[test]
fn a_job_is_started_at_each_scheduled_time_and_once() {
    let cluster = FakeCluster::new();
    cluster.set_now_millis(WHOLE_MINUTE);
    cluster.add(cron_job("* * * * *", |_| {}));
    let action = cluster.run::<CronJobController>(KEY).unwrap();
    assert!(jobs(&cluster).is_empty());
    assert!(
        matches!(action, Action::RequeueAfter(wait) if wait > minute() - Duration::from_secs(1) && wait <= minute() + Duration::from_secs(1)),
        "{action:?}"
    );
    cluster.advance(minute());
    cluster.run::<CronJobController>(KEY).unwrap();
    cluster.run::<CronJobController>(KEY).unwrap();
    let made = jobs(&cluster);
    assert_eq!(made.len(), 1);
    let job = &made[0];
    assert_eq!(job.metadata.name.as_deref(), Some("nightly-30000001"));
    assert_eq!(job.metadata.labels.as_ref().unwrap()["app"], "nightly");
    assert_eq!(
        job.metadata.annotations.as_ref().unwrap()[SCHEDULED_TIMESTAMP],
        "2027-01-15T08:01:00Z"
    );
    let cron = cluster.get::<CronJob>(Some("default"), "nightly").unwrap();
    let status = cron.status.unwrap();
    assert_eq!(status.active.unwrap()[0].name, job.metadata.name);
    assert!(status.last_schedule_time.is_some());
    assert!(
        cluster
            .events()
            .iter()
            .any(|e| e.reason == "SuccessfulCreate" && e.message == "Created job nightly-30000001")
    );
}

#[test]
fn forbid_skips_while_a_job_runs_and_replace_deletes_it() {
    let cluster = FakeCluster::new();
    cluster.set_now_millis(WHOLE_MINUTE);
    cluster.add(cron_job("* * * * *", |spec| {
        spec.concurrency_policy = Some("Forbid".into())
    }));
    cluster.advance(minute());
    cluster.run::<CronJobController>(KEY).unwrap();
    cluster.advance(minute());
    cluster.run::<CronJobController>(KEY).unwrap();
    assert_eq!(jobs(&cluster).len(), 1);
    assert!(
        cluster
            .events()
            .iter()
            .any(|e| e.reason == "JobAlreadyActive")
    );

    cluster.modify::<CronJob>(Some("default"), "nightly", |cron| {
        cron.spec.concurrency_policy = Some("Replace".into());
    });
    cluster.advance(minute());
    cluster.run::<CronJobController>(KEY).unwrap();
    let names: Vec<String> = jobs(&cluster)
        .into_iter()
        .filter_map(|j| j.metadata.name)
        .collect();
    assert_eq!(names, ["nightly-30000003"], "the running one replaced");
}

#[test]
fn history_limits_keep_the_newest_finished_jobs_and_completion_is_recorded() {
    let cluster = FakeCluster::new();
    cluster.set_now_millis(WHOLE_MINUTE);
    cluster.add(cron_job("* * * * *", |spec| {
        spec.successful_jobs_history_limit = Some(1);
    }));
    for _ in 0..3 {
        cluster.advance(minute());
        cluster.run::<CronJobController>(KEY).unwrap();
        let running = jobs(&cluster)
            .into_iter()
            .find(|j| j.status.is_none())
            .unwrap();
        finish(&cluster, &running, "Complete");
    }
    cluster.run::<CronJobController>(KEY).unwrap();
    let names: Vec<String> = jobs(&cluster)
        .into_iter()
        .filter_map(|j| j.metadata.name)
        .collect();
    assert_eq!(names, ["nightly-30000003"]);
    let status = cluster
        .get::<CronJob>(Some("default"), "nightly")
        .unwrap()
        .status
        .unwrap();
    assert!(
        status.active.is_none() && status.last_successful_time.is_some(),
        "{status:?}"
    );
    assert!(
        cluster
            .events()
            .iter()
            .any(|e| e.reason == "SawCompletedJob"
                && e.message == "Saw completed job: nightly-30000003, condition: Complete")
    );
}

#[test]
fn after_a_long_outage_one_job_catches_up_and_a_deadline_can_refuse_it() {
    let cluster = FakeCluster::new();
    cluster.set_now_millis(WHOLE_MINUTE);
    cluster.add(cron_job("* * * * *", |_| {}));
    cluster.advance(Duration::from_secs(200 * 60));
    cluster.run::<CronJobController>(KEY).unwrap();
    assert_eq!(jobs(&cluster).len(), 1, "only the latest missed time");
    assert!(
        cluster
            .events()
            .iter()
            .any(|e| e.reason == "TooManyMissedTimes"
                && e.message.starts_with("too many missed start times: 200."))
    );

    let cluster = FakeCluster::new();
    cluster.set_now_millis(WHOLE_MINUTE);
    cluster.add(cron_job("0 * * * *", |spec| {
        spec.starting_deadline_seconds = Some(10)
    }));
    cluster.advance(Duration::from_secs(3600 + 30));
    cluster.run::<CronJobController>(KEY).unwrap();
    assert!(jobs(&cluster).is_empty());
}

#[test]
fn suspended_or_unparseable_cron_jobs_start_nothing() {
    let cluster = FakeCluster::new();
    cluster.add(cron_job("* * * * *", |spec| spec.suspend = Some(true)));
    cluster.advance(Duration::from_secs(120));
    assert!(matches!(
        cluster.run::<CronJobController>(KEY).unwrap(),
        Action::Done
    ));
    assert!(jobs(&cluster).is_empty());

    let cluster = FakeCluster::new();
    cluster.add(cron_job("* * * * *", |spec| {
        spec.time_zone = Some("Mars/Olympus".into())
    }));
    cluster.advance(Duration::from_secs(120));
    cluster.run::<CronJobController>(KEY).unwrap();
    assert!(jobs(&cluster).is_empty());
    assert!(
        cluster
            .events()
            .iter()
            .any(|e| e.reason == "UnknownTimeZone")
    );
}
