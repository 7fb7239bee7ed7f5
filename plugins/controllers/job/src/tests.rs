//! The Job controller against the SDK's fake cluster, after the cases of
//! kube's `job_controller_test.go` it can play.

use std::collections::BTreeMap;
use std::time::Duration;

use wharf_sdk::k8s_openapi::api::batch::v1::{Job, JobSpec};
use wharf_sdk::k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateTerminated, ContainerStatus, Pod, PodCondition,
    PodSpec, PodStatus, PodTemplateSpec,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wharf_sdk::prelude::*;
use wharf_sdk::testing::FakeCluster;

use crate::JobController;
use crate::indexes::{format_indexes, parse_indexes};
use crate::pods::{COMPLETION_INDEX, CONTROLLER_UID, TRACKING_FINALIZER};
use crate::status;

mod failure_policy;
mod indexes;
mod success_policy;

const KEY: &str = "default/work";

fn job(spec: impl FnOnce(&mut JobSpec)) -> Job {
    let labels = BTreeMap::from([(CONTROLLER_UID.to_owned(), "job-uid".to_owned())]);
    let mut job_spec = JobSpec {
        backoff_limit: Some(6),
        template: PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(labels),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                restart_policy: Some("Never".into()),
                containers: vec![Container {
                    name: "main".into(),
                    image: Some("busybox".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        },
        ..Default::default()
    };
    spec(&mut job_spec);
    Job {
        metadata: ObjectMeta {
            name: Some("work".into()),
            namespace: Some("default".into()),
            uid: Some("job-uid".into()),
            ..Default::default()
        },
        spec: Some(job_spec),
        status: None,
    }
}

fn pods(cluster: &FakeCluster) -> Vec<Pod> {
    cluster.list::<Pod>(Some("default"))
}

/// The pod's containers exit now (0 for `Succeeded`, 1 for `Failed`).
fn finish(cluster: &FakeCluster, pod: &Pod, phase: &str) {
    let exit_code = i32::from(phase == "Failed");
    end(cluster, pod, phase, exit_code, None);
}

/// The pod's container `main` exits now with `exit_code`; the pod ends in
/// `phase`, with the condition `condition` `True` if given.
fn end(cluster: &FakeCluster, pod: &Pod, phase: &str, exit_code: i32, condition: Option<&str>) {
    let name = pod.metadata.name.as_deref().unwrap();
    let now = wharf_sdk::time_from_millis(cluster.now_millis());
    cluster.modify::<Pod>(Some("default"), name, |pod| {
        pod.status = Some(PodStatus {
            phase: Some(phase.into()),
            conditions: condition.map(|type_| {
                vec![PodCondition {
                    type_: type_.into(),
                    status: "True".into(),
                    ..Default::default()
                }]
            }),
            container_statuses: Some(vec![ContainerStatus {
                name: "main".into(),
                state: Some(ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code,
                        finished_at: Some(now),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        });
    });
}

/// The Job's pods not finished yet (running, as far as the Job knows).
fn running(cluster: &FakeCluster) -> Vec<Pod> {
    let pods = pods(cluster).into_iter();
    pods.filter(|p| p.status.is_none() && p.metadata.deletion_timestamp.is_none())
        .collect()
}

/// The pod's completion index.
fn index(pod: &Pod) -> u32 {
    pod.metadata.annotations.as_ref().unwrap()[COMPLETION_INDEX]
        .parse()
        .unwrap()
}

/// The running pod of `index`.
fn running_at(cluster: &FakeCluster, at: u32) -> Pod {
    let found = running(cluster).into_iter().find(|p| index(p) == at);
    found.unwrap_or_else(|| panic!("no running pod at index {at}"))
}

/// The message of the Job's condition of this type, when `True`.
fn message(job: &Job, type_: &str) -> Option<String> {
    status::condition(job, type_)
        .filter(|c| c.status == "True")
        .and_then(|c| c.message.clone())
}

/// Reconciles until nothing changes (at most ten times).
fn settle(cluster: &FakeCluster, controller: &JobController) -> Action {
    let mut action = cluster.run_with(controller, KEY).unwrap();
    for _ in 0..10 {
        let revision = cluster.revision();
        action = cluster.run_with(controller, KEY).unwrap();
        if cluster.revision() == revision {
            break;
        }
    }
    action
}

fn stored(cluster: &FakeCluster) -> Job {
    cluster.get::<Job>(Some("default"), "work").unwrap()
}

fn counts(job: &Job) -> (i32, i32, i32) {
    let status = job.status.clone().unwrap_or_default();
    (
        status.active.unwrap_or(0),
        status.succeeded.unwrap_or(0),
        status.failed.unwrap_or(0),
    )
}

fn reason(job: &Job, type_: &str) -> Option<String> {
    status::condition(job, type_)
        .filter(|c| c.status == "True")
        .and_then(|c| c.reason.clone())
}

#[test]
fn a_job_runs_parallel_pods_until_its_completions_and_counts_each_once() {
    let cluster = FakeCluster::new();
    cluster.add(job(|spec| {
        spec.completions = Some(3);
        spec.parallelism = Some(2);
    }));
    let controller = JobController::default();
    cluster.run_with(&controller, KEY).unwrap();
    let first = pods(&cluster);
    assert_eq!(first.len(), 2);
    for pod in &first {
        assert_eq!(
            pod.metadata.finalizers.as_deref(),
            Some(&[TRACKING_FINALIZER.to_owned()][..])
        );
        assert!(is_controlled_by(pod, &stored(&cluster)));
        assert!(pod.metadata.generate_name.as_deref() == Some("work-"));
    }
    assert_eq!(counts(&stored(&cluster)), (2, 0, 0));
    assert!(stored(&cluster).status.unwrap().start_time.is_some());

    finish(&cluster, &first[0], "Succeeded");
    cluster.run_with(&controller, KEY).unwrap();
    // Counted, released, and one more made (3 completions, 1 succeeded, 1 running).
    assert_eq!(counts(&stored(&cluster)), (2, 1, 0));
    let done = cluster
        .get::<Pod>(Some("default"), first[0].metadata.name.as_deref().unwrap())
        .unwrap();
    assert!(done.metadata.finalizers.unwrap_or_default().is_empty());
    // Reconciling again counts nothing twice.
    cluster.run_with(&controller, KEY).unwrap();
    assert_eq!(counts(&stored(&cluster)), (2, 1, 0));

    for pod in pods(&cluster).iter().filter(|p| p.status.is_none()) {
        finish(&cluster, pod, "Succeeded");
    }
    cluster.run_with(&controller, KEY).unwrap();
    let job = stored(&cluster);
    assert_eq!(counts(&job), (0, 3, 0));
    assert_eq!(
        reason(&job, status::COMPLETE).as_deref(),
        Some("CompletionsReached")
    );
    assert_eq!(
        reason(&job, status::SUCCESS_CRITERIA_MET).as_deref(),
        Some("CompletionsReached")
    );
    assert!(job.status.unwrap().completion_time.is_some());
    assert!(
        cluster
            .events()
            .iter()
            .any(|e| e.reason == "Completed" && e.message == "Job completed")
    );
    assert_eq!(pods(&cluster).len(), 3, "finished pods stay");
}

#[test]
fn an_indexed_job_runs_one_pod_per_index_and_records_completed_indexes() {
    let cluster = FakeCluster::new();
    cluster.add(job(|spec| {
        spec.completions = Some(3);
        spec.parallelism = Some(3);
        spec.completion_mode = Some("Indexed".into());
    }));
    let controller = JobController::default();
    cluster.run_with(&controller, KEY).unwrap();
    let made = pods(&cluster);
    let mut indexes: Vec<String> = made
        .iter()
        .map(|p| p.metadata.annotations.as_ref().unwrap()[COMPLETION_INDEX].clone())
        .collect();
    indexes.sort();
    assert_eq!(indexes, ["0", "1", "2"]);
    let one = made
        .iter()
        .find(|p| p.metadata.labels.as_ref().unwrap()[COMPLETION_INDEX] == "1")
        .unwrap();
    let spec = one.spec.as_ref().unwrap();
    assert_eq!(spec.hostname.as_deref(), Some("work-1"));
    let env = spec.containers[0].env.as_ref().unwrap();
    assert_eq!(env[0].name, "JOB_COMPLETION_INDEX");
    assert!(one.metadata.generate_name.as_deref() == Some("work-1-"));

    finish(&cluster, one, "Succeeded");
    cluster.run_with(&controller, KEY).unwrap();
    let job = stored(&cluster);
    assert_eq!(
        job.status.as_ref().unwrap().completed_indexes.as_deref(),
        Some("1")
    );
    assert_eq!(counts(&job), (2, 1, 0));
    // A failed index is made again (after its backoff).
    let zero = made
        .iter()
        .find(|p| p.metadata.labels.as_ref().unwrap()[COMPLETION_INDEX] == "0")
        .unwrap();
    finish(&cluster, zero, "Failed");
    cluster.run_with(&controller, KEY).unwrap();
    assert_eq!(pods(&cluster).len(), 3);
    cluster.advance(Duration::from_secs(11));
    cluster.run_with(&controller, KEY).unwrap();
    assert_eq!(pods(&cluster).len(), 4);
    for pod in pods(&cluster).iter().filter(|p| p.status.is_none()) {
        finish(&cluster, pod, "Succeeded");
    }
    cluster.run_with(&controller, KEY).unwrap();
    let job = stored(&cluster);
    assert_eq!(
        job.status.as_ref().unwrap().completed_indexes.as_deref(),
        Some("0-2")
    );
    assert_eq!(counts(&job), (0, 3, 1));
    assert!(status::is_true(&job, status::COMPLETE));
}

#[test]
fn failures_back_off_then_exceed_the_backoff_limit() {
    let cluster = FakeCluster::new();
    cluster.add(job(|spec| spec.backoff_limit = Some(1)));
    let controller = JobController::default();
    cluster.run_with(&controller, KEY).unwrap();
    finish(&cluster, &pods(&cluster)[0], "Failed");
    let action = cluster.run_with(&controller, KEY).unwrap();
    assert_eq!(counts(&stored(&cluster)), (0, 0, 1));
    assert!(
        matches!(action, Action::RequeueAfter(wait) if wait <= Duration::from_secs(10)),
        "{action:?}"
    );
    assert_eq!(pods(&cluster).len(), 1, "no new pod before the backoff");
    cluster.advance(Duration::from_secs(10));
    cluster.run_with(&controller, KEY).unwrap();
    let second = pods(&cluster)
        .into_iter()
        .find(|p| p.status.is_none())
        .unwrap();
    finish(&cluster, &second, "Failed");
    cluster.run_with(&controller, KEY).unwrap();
    let job = stored(&cluster);
    assert_eq!(counts(&job), (0, 0, 2));
    assert_eq!(
        reason(&job, status::FAILED).as_deref(),
        Some("BackoffLimitExceeded")
    );
    assert_eq!(
        status::condition(&job, status::FAILED)
            .unwrap()
            .message
            .as_deref(),
        Some("Job has reached the specified backoff limit")
    );
    assert!(
        cluster
            .events()
            .iter()
            .any(|e| e.reason == "BackoffLimitExceeded")
    );
}

#[test]
fn a_job_past_its_deadline_fails_and_its_running_pods_go() {
    let cluster = FakeCluster::new();
    cluster.add(job(|spec| {
        spec.active_deadline_seconds = Some(5);
        spec.parallelism = Some(2);
        spec.completions = Some(4);
    }));
    let controller = JobController::default();
    let action = cluster.run_with(&controller, KEY).unwrap();
    assert!(
        matches!(action, Action::RequeueAfter(wait) if wait <= Duration::from_secs(5)),
        "{action:?}"
    );
    cluster.advance(Duration::from_secs(6));
    cluster.run_with(&controller, KEY).unwrap();
    let job = stored(&cluster);
    assert_eq!(
        reason(&job, status::FAILURE_TARGET).as_deref(),
        Some("DeadlineExceeded")
    );
    assert!(
        pods(&cluster)
            .iter()
            .all(|p| p.metadata.deletion_timestamp.is_some())
    );
    // The deleted pods are counted as failed and released; then it fails.
    cluster.run_with(&controller, KEY).unwrap();
    cluster.run_with(&controller, KEY).unwrap();
    let job = stored(&cluster);
    assert_eq!(
        reason(&job, status::FAILED).as_deref(),
        Some("DeadlineExceeded")
    );
    assert_eq!(counts(&job), (0, 0, 2));
    assert!(pods(&cluster).is_empty());
}

#[test]
fn a_suspended_job_has_no_pods_and_resumes() {
    let cluster = FakeCluster::new();
    cluster.add(job(|spec| spec.parallelism = Some(2)));
    let controller = JobController::default();
    cluster.run_with(&controller, KEY).unwrap();
    assert_eq!(pods(&cluster).len(), 2, "a work queue: parallelism pods");
    cluster.modify::<Job>(Some("default"), "work", |job| {
        job.spec.as_mut().unwrap().suspend = Some(true);
    });
    cluster.run_with(&controller, KEY).unwrap();
    cluster.run_with(&controller, KEY).unwrap();
    let job = stored(&cluster);
    assert_eq!(
        reason(&job, status::SUSPENDED).as_deref(),
        Some("JobSuspended")
    );
    assert_eq!(
        counts(&job),
        (0, 0, 0),
        "pods deleted on suspension are not failures"
    );
    assert!(pods(&cluster).is_empty());
    assert!(job.status.unwrap().start_time.is_none());
    cluster.modify::<Job>(Some("default"), "work", |job| {
        job.spec.as_mut().unwrap().suspend = Some(false);
    });
    cluster.run_with(&controller, KEY).unwrap();
    let job = stored(&cluster);
    let suspended = status::condition(&job, status::SUSPENDED).unwrap();
    assert_eq!(
        (suspended.status.as_str(), suspended.reason.as_deref()),
        ("False", Some("JobResumed"))
    );
    assert_eq!(pods(&cluster).len(), 2);
}

#[test]
fn a_count_is_never_made_twice_when_releasing_fails() {
    let cluster = FakeCluster::new();
    cluster.add(job(|spec| spec.completions = Some(2)));
    let controller = JobController::default();
    cluster.run_with(&controller, KEY).unwrap();
    finish(&cluster, &pods(&cluster)[0], "Succeeded");
    cluster.fail_when(|request| {
        (request.verb == wharf_sdk::testing::Verb::Patch)
            .then(|| Error::Other("the API server is away".into()))
    });
    assert!(cluster.run_with(&controller, KEY).is_err());
    let job = stored(&cluster);
    let uncounted = job
        .status
        .as_ref()
        .unwrap()
        .uncounted_terminated_pods
        .clone()
        .unwrap();
    assert_eq!(uncounted.succeeded.map(|u| u.len()), Some(1));
    assert_eq!(counts(&job).1, 0);
    cluster.clear_failures();
    cluster.run_with(&controller, KEY).unwrap();
    cluster.run_with(&controller, KEY).unwrap();
    let job = stored(&cluster);
    assert_eq!(counts(&job).1, 1);
    assert!(
        job.status
            .unwrap()
            .uncounted_terminated_pods
            .unwrap()
            .succeeded
            .unwrap_or_default()
            .is_empty()
    );
}

#[test]
fn a_finished_job_is_deleted_after_its_ttl() {
    let cluster = FakeCluster::new();
    cluster.add(job(|spec| spec.ttl_seconds_after_finished = Some(30)));
    let controller = JobController::default();
    cluster.run_with(&controller, KEY).unwrap();
    finish(&cluster, &pods(&cluster)[0], "Succeeded");
    let action = cluster.run_with(&controller, KEY).unwrap();
    assert!(status::is_true(&stored(&cluster), status::COMPLETE));
    assert!(
        matches!(action, Action::RequeueAfter(wait) if wait == Duration::from_secs(30)),
        "{action:?}"
    );
    cluster.advance(Duration::from_secs(30));
    cluster.run_with(&controller, KEY).unwrap();
    assert!(cluster.get::<Job>(Some("default"), "work").is_none());
}

#[test]
fn completed_indexes_read_and_write_as_kube_does() {
    // (text, completions, indexes, as kube writes them back)
    let cases: &[(&str, u32, &[u32], &str)] = &[
        ("1,3-5,7", 10, &[1, 3, 4, 5, 7], "1,3-5,7"),
        ("0,1", 10, &[0, 1], "0,1"),
        ("0-1", 10, &[0, 1], "0,1"),
        ("0-2", 10, &[0, 1, 2], "0-2"),
        ("x,2-a,", 10, &[], ""),
        ("", 10, &[], ""),
        // Cut at `completions`; parsing stops at the first interval past it.
        ("1-5,7", 4, &[1, 2, 3], "1-3"),
        ("1,5,2", 4, &[1], "1"),
    ];
    for (text, completions, indexes, written) in cases {
        let parsed = parse_indexes(text, *completions);
        assert_eq!(
            parsed.iter().copied().collect::<Vec<_>>(),
            *indexes,
            "{text:?}"
        );
        assert_eq!(format_indexes(&parsed), *written, "{text:?}");
    }
}
