//! `successPolicy`: kube's `TestMatchSuccessPolicy` cases, then an Indexed
//! Job ending early in the fake cluster.

use std::collections::BTreeSet;

use wharf_sdk::k8s_openapi::api::batch::v1::{SuccessPolicy, SuccessPolicyRule};
use wharf_sdk::testing::FakeCluster;

use super::{KEY, finish, job, message, pods, reason, running, running_at, settle, stored};
use crate::JobController;
use crate::status;
use crate::success_policy::match_success_policy;

fn indexes_rule(indexes: &str, count: Option<i32>) -> SuccessPolicyRule {
    SuccessPolicyRule {
        succeeded_indexes: Some(indexes.into()),
        succeeded_count: count,
    }
}

fn count_rule(count: i32) -> SuccessPolicyRule {
    SuccessPolicyRule {
        succeeded_indexes: None,
        succeeded_count: Some(count),
    }
}

/// Indexes from inclusive intervals.
fn intervals(intervals: &[(u32, u32)]) -> BTreeSet<u32> {
    intervals.iter().flat_map(|&(a, b)| a..=b).collect()
}

#[test]
fn success_policy_rules_match_as_kubes_do() {
    let rule_at = |index: usize| Some(format!("Matched rules at index {index}"));
    // (name, rules (None: no policy), succeeded indexes, message); completions 10.
    type Case = (
        &'static str,
        Option<Vec<SuccessPolicyRule>>,
        &'static [(u32, u32)],
        Option<String>,
    );
    let cases: Vec<Case> = vec![
        ("successPolicy is null", None, &[(0, 0)], None),
        ("any rules are nothing", Some(vec![]), &[(0, 0)], None),
        (
            "rules.succeededIndexes is invalid format",
            Some(vec![indexes_rule("invalid-form", None)]),
            &[(0, 0)],
            None,
        ),
        (
            "rules.succeededIndexes is specified; succeededIndexes matched rules",
            Some(vec![indexes_rule("0-2", None)]),
            &[(0, 2), (4, 7)],
            rule_at(0),
        ),
        (
            "rules.succeededIndexes is specified; succeededIndexes didn't match rules",
            Some(vec![indexes_rule("3", None)]),
            &[(0, 2)],
            None,
        ),
        (
            "rules.succeededCount is specified; succeededIndexes matched rules",
            Some(vec![count_rule(2)]),
            &[(0, 2)],
            rule_at(0),
        ),
        (
            "rules.succeededCount is specified; succeededIndexes didn't match rules",
            Some(vec![count_rule(4)]),
            &[(0, 2)],
            None,
        ),
        (
            "multiple rules; rules.succeededIndexes is specified; succeededIndexes met one of rules",
            Some(vec![indexes_rule("9", None), indexes_rule("4,6", None)]),
            &[(0, 2), (4, 7)],
            rule_at(1),
        ),
        (
            "multiple rules; rules.succeededIndexes is specified; succeededIndexes met all rules",
            Some(vec![indexes_rule("0,1", None), indexes_rule("5", None)]),
            &[(0, 2), (4, 7)],
            rule_at(0),
        ),
        (
            "rules.succeededIndexes and rules.succeededCount are specified; succeededIndexes met all rules",
            Some(vec![indexes_rule("3-6", Some(2))]),
            &[(0, 2), (4, 7)],
            rule_at(0),
        ),
        (
            "rules.succeededIndexes and rules.succeededCount are specified; succeededIndexes didn't match rules",
            Some(vec![indexes_rule("3-6", Some(2))]),
            &[(0, 2), (6, 7)],
            None,
        ),
        (
            "rules.succeededIndexes is specified; succeededIndexes are nothing",
            Some(vec![count_rule(4)]),
            &[],
            None,
        ),
        (
            "rules is proper subset of succeededIndexes",
            Some(vec![indexes_rule("2-4,6-8", None)]),
            &[(1, 5), (6, 9)],
            rule_at(0),
        ),
        (
            "rules equals succeededIndexes",
            Some(vec![indexes_rule("2-4,6-9", None)]),
            &[(2, 4), (6, 9)],
            rule_at(0),
        ),
        (
            "rules is subset of succeededIndexes",
            Some(vec![indexes_rule("2-4,8-12", None)]),
            &[(2, 5), (7, 15)],
            rule_at(0),
        ),
        (
            "rules is an empty set",
            Some(vec![indexes_rule("", None)]),
            &[(1, 3)],
            None,
        ),
        (
            "all elements of rules.succeededIndexes aren't included in succeededIndexes",
            Some(vec![indexes_rule("10-12,14-16", None)]),
            &[(1, 3), (5, 7)],
            None,
        ),
        (
            "rules overlaps succeededIndexes at first",
            Some(vec![indexes_rule("1-3,5-7", None)]),
            &[(2, 4), (6, 8)],
            None,
        ),
        (
            "rules overlaps succeededIndexes at first; succeededCount met",
            Some(vec![indexes_rule("1-3,5-7", Some(4))]),
            &[(2, 4), (6, 8)],
            rule_at(0),
        ),
        (
            "rules overlaps succeededIndexes at last",
            Some(vec![indexes_rule("2-4,6-9", None)]),
            &[(1, 3), (5, 7)],
            None,
        ),
        (
            "rules overlaps succeededIndexes at last; succeededCount met",
            Some(vec![indexes_rule("2-4,6-9", Some(4))]),
            &[(1, 3), (5, 7)],
            rule_at(0),
        ),
        (
            "rules completely overlaps succeededIndexes",
            Some(vec![indexes_rule("0-4,6-9", None)]),
            &[(1, 3), (7, 8)],
            None,
        ),
        (
            "rules completely overlaps succeededIndexes; succeededCount met",
            Some(vec![indexes_rule("0-4,6-9", Some(5))]),
            &[(1, 3), (7, 8)],
            rule_at(0),
        ),
        (
            "rules overlaps multiple succeededIndexes at last",
            Some(vec![indexes_rule("0-6,8-9", None)]),
            &[(1, 3), (5, 9)],
            None,
        ),
        (
            "rules overlaps multiple succeededIndexes at last; succeededCount met",
            Some(vec![indexes_rule("0-6,8-9", Some(7))]),
            &[(1, 3), (5, 9)],
            rule_at(0),
        ),
        (
            "rules overlaps succeededIndexes at first, and equals it at last",
            Some(vec![indexes_rule("0-5,7-9", None)]),
            &[(1, 5), (7, 10)],
            None,
        ),
        (
            "rules overlaps succeededIndexes at first, and equals it at last; succeededCount met",
            Some(vec![indexes_rule("0-5,7-9", Some(8))]),
            &[(1, 5), (7, 10)],
            rule_at(0),
        ),
        (
            "the first rules overlaps succeededIndexes at first",
            Some(vec![indexes_rule("0-3,6-9", None)]),
            &[(1, 10)],
            None,
        ),
        (
            "the first rules overlaps succeededIndexes at first; succeededCount met",
            Some(vec![indexes_rule("0-3,6-9", Some(7))]),
            &[(1, 10)],
            rule_at(0),
        ),
    ];
    for (name, rules, succeeded, want) in cases {
        let policy = rules.map(|rules| SuccessPolicy { rules });
        let got = match_success_policy(policy.as_ref(), 10, &intervals(succeeded));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn an_indexed_job_meeting_a_success_rule_deletes_its_other_pods_and_completes() {
    let cluster = FakeCluster::new();
    cluster.add(job(|spec| {
        spec.completion_mode = Some("Indexed".into());
        spec.completions = Some(4);
        spec.parallelism = Some(4);
        spec.success_policy = Some(SuccessPolicy {
            rules: vec![indexes_rule("0,1", None), indexes_rule("2-3", Some(1))],
        });
    }));
    let controller = JobController::default();
    cluster.run_with(&controller, KEY).unwrap();
    finish(&cluster, &running_at(&cluster, 0), "Succeeded");
    settle(&cluster, &controller);
    assert!(!status::is_true(
        &stored(&cluster),
        status::SUCCESS_CRITERIA_MET
    ));
    assert_eq!(running(&cluster).len(), 3);

    finish(&cluster, &running_at(&cluster, 3), "Succeeded");
    cluster.run_with(&controller, KEY).unwrap();
    let job = stored(&cluster);
    assert_eq!(
        reason(&job, status::SUCCESS_CRITERIA_MET).as_deref(),
        Some("SuccessPolicy")
    );
    assert_eq!(
        message(&job, status::SUCCESS_CRITERIA_MET).as_deref(),
        Some("Matched rules at index 1")
    );
    assert!(running(&cluster).is_empty(), "the other pods are deleted");
    assert!(
        !status::is_true(&job, status::COMPLETE),
        "not while they terminate"
    );

    settle(&cluster, &controller);
    let job = stored(&cluster);
    assert_eq!(
        reason(&job, status::COMPLETE).as_deref(),
        Some("SuccessPolicy")
    );
    assert_eq!(
        message(&job, status::COMPLETE).as_deref(),
        Some("Matched rules at index 1")
    );
    let status = job.status.clone().unwrap();
    assert_eq!(status.completed_indexes.as_deref(), Some("0,3"));
    assert_eq!(status.succeeded, Some(2));
    assert!(status.completion_time.is_some());
    assert!(!status::is_true(&job, status::FAILED));
    assert_eq!(
        pods(&cluster).len(),
        2,
        "the deleted pods are released and gone"
    );
}
