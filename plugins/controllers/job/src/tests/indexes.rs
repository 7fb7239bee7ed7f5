//! `backoffLimitPerIndex` and `maxFailedIndexes`: failures counted per
//! index on the pods' annotations, `failedIndexes`, and the Job's end.

use std::time::Duration;

use wharf_sdk::k8s_openapi::api::batch::v1::{Job, JobSpec, PodFailurePolicy};
use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::prelude::*;
use wharf_sdk::testing::FakeCluster;

use super::failure_policy::on_exit_codes;
use super::{
    KEY, counts, end, finish, index, job, message, pods, reason, running, running_at, settle,
    stored,
};
use crate::JobController;
use crate::indexes::{INDEX_FAILURE_COUNT, INDEX_IGNORED_FAILURE_COUNT, PerIndex};
use crate::status;

fn indexed(completions: i32, change: impl FnOnce(&mut JobSpec)) -> Job {
    job(|spec| {
        spec.completion_mode = Some("Indexed".into());
        spec.completions = Some(completions);
        spec.parallelism = Some(completions);
        // As kube defaults it with backoffLimitPerIndex.
        spec.backoff_limit = None;
        change(spec);
    })
}

fn annotation<'p>(pod: &'p Pod, key: &str) -> Option<&'p str> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

fn indexes(job: &Job) -> (Option<String>, Option<String>) {
    let status = job.status.clone().unwrap_or_default();
    (status.completed_indexes, status.failed_indexes)
}

#[test]
fn an_index_past_its_backoff_limit_fails_for_good_and_then_the_job() {
    let cluster = FakeCluster::new();
    cluster.add(indexed(3, |spec| spec.backoff_limit_per_index = Some(1)));
    let controller = JobController::default();
    cluster.run_with(&controller, KEY).unwrap();
    assert!(
        pods(&cluster)
            .iter()
            .all(|p| annotation(p, INDEX_FAILURE_COUNT) == Some("0")),
        "an index's first pod has no failures"
    );

    let first = running_at(&cluster, 0);
    finish(&cluster, &first, "Failed");
    let action = settle(&cluster, &controller);
    assert!(
        matches!(action, Action::RequeueAfter(wait) if wait <= Duration::from_secs(10)),
        "{action:?}"
    );
    let job = stored(&cluster);
    assert_eq!(counts(&job), (2, 0, 0), "held, uncounted, until replaced");
    let held = cluster.get::<Pod>(Some("default"), first.metadata.name.as_deref().unwrap());
    assert!(
        held.unwrap()
            .metadata
            .finalizers
            .is_some_and(|f| !f.is_empty())
    );
    assert_eq!(indexes(&job).1.as_deref(), Some(""));

    cluster.advance(Duration::from_secs(10));
    settle(&cluster, &controller);
    let second = running_at(&cluster, 0);
    assert_eq!(annotation(&second, INDEX_FAILURE_COUNT), Some("1"));
    assert_eq!(
        counts(&stored(&cluster)),
        (3, 0, 1),
        "counted once replaced"
    );

    finish(&cluster, &second, "Failed");
    settle(&cluster, &controller);
    cluster.advance(Duration::from_secs(600));
    settle(&cluster, &controller);
    let job = stored(&cluster);
    assert_eq!(indexes(&job).1.as_deref(), Some("0"));
    assert_eq!(counts(&job), (2, 0, 2));
    assert!(
        running(&cluster).iter().all(|p| index(p) != 0),
        "a failed index is not retried"
    );
    assert!(!status::is_true(&job, status::FAILURE_TARGET));

    for at in [1, 2] {
        finish(&cluster, &running_at(&cluster, at), "Succeeded");
    }
    settle(&cluster, &controller);
    let job = stored(&cluster);
    assert_eq!(indexes(&job), (Some("1,2".into()), Some("0".into())));
    assert_eq!(
        reason(&job, status::FAILED).as_deref(),
        Some("FailedIndexes")
    );
    assert_eq!(
        message(&job, status::FAILED).as_deref(),
        Some("Job has failed indexes")
    );
    assert_eq!(counts(&job), (0, 2, 2));
}

#[test]
fn more_failed_indexes_than_max_failed_indexes_fail_the_job_and_its_pods_go() {
    let cluster = FakeCluster::new();
    cluster.add(indexed(4, |spec| {
        spec.backoff_limit_per_index = Some(0);
        spec.max_failed_indexes = Some(1);
    }));
    let controller = JobController::default();
    cluster.run_with(&controller, KEY).unwrap();
    finish(&cluster, &running_at(&cluster, 1), "Failed");
    settle(&cluster, &controller);
    let job = stored(&cluster);
    assert_eq!(indexes(&job).1.as_deref(), Some("1"));
    assert!(
        !status::is_true(&job, status::FAILURE_TARGET),
        "1 is not more than 1"
    );
    assert_eq!(running(&cluster).len(), 3);

    finish(&cluster, &running_at(&cluster, 3), "Failed");
    cluster.run_with(&controller, KEY).unwrap();
    let job = stored(&cluster);
    assert_eq!(indexes(&job).1.as_deref(), Some("1,3"));
    assert_eq!(
        reason(&job, status::FAILURE_TARGET).as_deref(),
        Some("MaxFailedIndexesExceeded")
    );
    assert!(running(&cluster).is_empty(), "the running pods are deleted");
    settle(&cluster, &controller);
    let job = stored(&cluster);
    assert_eq!(
        message(&job, status::FAILED).as_deref(),
        Some("Job has exceeded the specified maximal number of failed indexes")
    );
    assert!(
        pods(&cluster).len() == 2,
        "the deleted pods are released and gone"
    );
}

#[test]
fn a_fail_index_rule_fails_its_index_at_once_and_an_ignored_failure_is_recorded_apart() {
    let cluster = FakeCluster::new();
    cluster.add(indexed(3, |spec| {
        spec.backoff_limit_per_index = Some(3);
        spec.pod_failure_policy = Some(PodFailurePolicy {
            rules: vec![
                on_exit_codes("FailIndex", "In", &[3]),
                on_exit_codes("Ignore", "In", &[137]),
            ],
        });
    }));
    let controller = JobController::default();
    cluster.run_with(&controller, KEY).unwrap();
    end(&cluster, &running_at(&cluster, 0), "Failed", 3, None);
    end(&cluster, &running_at(&cluster, 1), "Failed", 137, None);
    settle(&cluster, &controller);
    let job = stored(&cluster);
    assert_eq!(indexes(&job).1.as_deref(), Some("0"));
    assert_eq!(counts(&job).2, 1, "the ignored failure is not counted");

    // The ignored failure still backs its index off (kube counts it there).
    cluster.advance(Duration::from_secs(10));
    settle(&cluster, &controller);
    let replacement = running_at(&cluster, 1);
    assert_eq!(annotation(&replacement, INDEX_FAILURE_COUNT), Some("0"));
    assert_eq!(
        annotation(&replacement, INDEX_IGNORED_FAILURE_COUNT),
        Some("1")
    );
    assert!(running(&cluster).iter().all(|p| index(p) != 0));
    assert_eq!(counts(&stored(&cluster)).2, 1);
}

#[test]
fn a_replacement_pod_carries_its_index_failure_counts_on() {
    // (rules, replaced pod's counts, its exit code, new pod's counts), as
    // kube's getNewIndexFailureCounts.
    type Counts = (Option<&'static str>, Option<&'static str>);
    let cases: &[(&str, bool, Counts, i32, Counts)] = &[
        ("a first failure", false, (None, None), 1, (Some("1"), None)),
        (
            "counted again",
            false,
            (Some("2"), None),
            1,
            (Some("3"), None),
        ),
        (
            "ignored",
            true,
            (Some("1"), None),
            137,
            (Some("1"), Some("1")),
        ),
        (
            "ignored again",
            true,
            (Some("1"), Some("4")),
            137,
            (Some("1"), Some("5")),
        ),
        (
            "counted after ignored",
            true,
            (Some("0"), Some("2")),
            1,
            (Some("1"), Some("2")),
        ),
        (
            "a malformed count reads 0",
            false,
            (Some("x"), None),
            1,
            (Some("1"), None),
        ),
    ];
    for (name, ignore, (failures, ignored), exit_code, want) in cases {
        let job = indexed(2, |spec| {
            spec.backoff_limit_per_index = Some(10);
            if *ignore {
                let rules = vec![on_exit_codes("Ignore", "In", &[137])];
                spec.pod_failure_policy = Some(PodFailurePolicy { rules });
            }
        });
        let cluster = FakeCluster::new();
        let job = cluster.add(job);
        let mut failed = crate::pods::new_pod(&job, Some(0)).unwrap();
        failed.metadata.name = Some("work-0-abcde".into());
        let annotations = failed
            .metadata
            .annotations
            .get_or_insert_with(Default::default);
        annotations.remove(INDEX_FAILURE_COUNT);
        for (key, value) in [
            (INDEX_FAILURE_COUNT, failures),
            (INDEX_IGNORED_FAILURE_COUNT, ignored),
        ] {
            if let Some(value) = value {
                annotations.insert(key.to_owned(), (*value).to_owned());
            }
        }
        let failed = cluster.add(failed);
        end(&cluster, &failed, "Failed", *exit_code, None);
        let pods = vec![cluster.get::<Pod>(Some("default"), "work-0-abcde").unwrap()];
        let per_index = PerIndex::of(&job, &pods).unwrap();
        assert!(per_index.held.contains_key(&0), "{name}");
        let mut new = crate::pods::new_pod(&job, Some(0)).unwrap();
        per_index.annotate(&job, 0, &mut new);
        let got = (
            annotation(&new, INDEX_FAILURE_COUNT),
            annotation(&new, INDEX_IGNORED_FAILURE_COUNT),
        );
        assert_eq!(got, *want, "{name}");
    }
}
