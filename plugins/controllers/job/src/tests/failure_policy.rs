//! `podFailurePolicy`: kube's `TestMatchPodFailurePolicy` cases, then the
//! rules' effect on a Job in the fake cluster.

use std::time::Duration;

use wharf_sdk::k8s_openapi::api::batch::v1::{
    PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};
use wharf_sdk::k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateTerminated, ContainerStatus, Pod, PodCondition, PodStatus,
};
use wharf_sdk::prelude::*;
use wharf_sdk::testing::{FakeCluster, Verb};

use super::{KEY, counts, end, job, message, pods, reason, running, settle, stored};
use crate::JobController;
use crate::failure_policy::{PolicyAction, match_pod_failure_policy};
use crate::status;

/// A rule on exit codes (`operator` In or NotIn).
pub(super) fn on_exit_codes(action: &str, operator: &str, values: &[i32]) -> PodFailurePolicyRule {
    PodFailurePolicyRule {
        action: action.into(),
        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
            operator: operator.into(),
            values: values.to_vec(),
            container_name: None,
        }),
        on_pod_conditions: None,
    }
}

/// A rule on a pod condition with this status.
pub(super) fn on_condition(action: &str, type_: &str, status: &str) -> PodFailurePolicyRule {
    PodFailurePolicyRule {
        action: action.into(),
        on_exit_codes: None,
        on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
            type_: type_.into(),
            status: Some(status.into()),
        }]),
    }
}

/// A failed pod `default/mypod`, to which containers and conditions are added.
struct FailedPod(Pod);

fn failed_pod() -> FailedPod {
    let mut pod = Pod::default();
    pod.metadata.namespace = Some("default".into());
    pod.metadata.name = Some("mypod".into());
    pod.status = Some(PodStatus {
        phase: Some("Failed".into()),
        ..Default::default()
    });
    FailedPod(pod)
}

impl FailedPod {
    fn status(&mut self) -> &mut PodStatus {
        self.0.status.as_mut().unwrap()
    }

    /// A container that exited with `code` (`None`: still running).
    fn container(mut self, name: &str, code: Option<i32>) -> Self {
        let status = terminated(name, code);
        self.status()
            .container_statuses
            .get_or_insert_with(Vec::new)
            .push(status);
        self
    }

    fn init_container(mut self, name: &str, code: i32) -> Self {
        let status = terminated(name, Some(code));
        (self
            .status()
            .init_container_statuses
            .get_or_insert_with(Vec::new))
        .push(status);
        self
    }

    fn condition(mut self, type_: &str, status: &str) -> Self {
        let condition = PodCondition {
            type_: type_.into(),
            status: status.into(),
            ..Default::default()
        };
        self.status()
            .conditions
            .get_or_insert_with(Vec::new)
            .push(condition);
        self
    }
}

fn terminated(name: &str, code: Option<i32>) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        state: code.map(|exit_code| ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn fail_job(message: &str) -> Option<PolicyAction> {
    Some(PolicyAction::FailJob(message.into()))
}

#[test]
fn pod_failure_policy_rules_match_as_kubes_do() {
    let disrupted = || failed_pod().condition("DisruptionTarget", "True");
    let exited = |code| failed_pod().container("main-container", Some(code));
    let cases: Vec<(
        &str,
        Vec<PodFailurePolicyRule>,
        FailedPod,
        Option<PolicyAction>,
    )> = vec![
        (
            "unknown action for rule matching by exit codes - skip rule with unknown action",
            vec![
                on_exit_codes("UnknownAction", "In", &[1, 2]),
                on_exit_codes("FailJob", "In", &[2, 3]),
            ],
            exited(2),
            fail_job(
                "Container main-container for pod default/mypod failed with exit code 2 matching FailJob rule at index 1",
            ),
        ),
        (
            "unknown action for rule matching by pod conditions - skip rule with unknown action",
            vec![
                on_condition("UnknownAction", "DisruptionTarget", "True"),
                on_condition("Ignore", "DisruptionTarget", "True"),
            ],
            disrupted(),
            Some(PolicyAction::Ignore),
        ),
        (
            "unknown operator - rule with unknown action is skipped for onExitCodes",
            vec![
                on_exit_codes("Ignore", "UnknownOperator", &[1, 2]),
                on_exit_codes("FailJob", "In", &[2, 3]),
            ],
            exited(2),
            fail_job(
                "Container main-container for pod default/mypod failed with exit code 2 matching FailJob rule at index 1",
            ),
        ),
        ("no policy rules", vec![], exited(2), None),
        (
            "ignore rule matched for exit codes",
            vec![on_exit_codes("Ignore", "In", &[1, 2, 3])],
            exited(2),
            Some(PolicyAction::Ignore),
        ),
        (
            "FailJob rule matched for exit codes",
            vec![on_exit_codes("FailJob", "In", &[1, 2, 3])],
            exited(2),
            fail_job(
                "Container main-container for pod default/mypod failed with exit code 2 matching FailJob rule at index 0",
            ),
        ),
        (
            "successful containers are skipped by the rules",
            vec![on_exit_codes("FailJob", "NotIn", &[111])],
            failed_pod()
                .init_container("init-container", 0)
                .container("main-container", Some(111))
                .container("suppport-container", Some(0)),
            None,
        ),
        (
            "FailIndex rule matched for exit codes",
            vec![on_exit_codes("FailIndex", "In", &[1, 2, 3])],
            exited(2),
            Some(PolicyAction::FailIndex),
        ),
        (
            "pod failure policy with NotIn operator and value 0",
            vec![on_exit_codes("FailJob", "NotIn", &[0])],
            exited(1).container("suppport-container", Some(0)),
            fail_job(
                "Container main-container for pod default/mypod failed with exit code 1 matching FailJob rule at index 0",
            ),
        ),
        (
            "second jobfail rule matched for exit codes",
            vec![
                on_exit_codes("Count", "In", &[1, 2, 3]),
                on_exit_codes("FailJob", "In", &[4, 5, 6]),
            ],
            exited(6),
            fail_job(
                "Container main-container for pod default/mypod failed with exit code 6 matching FailJob rule at index 1",
            ),
        ),
        (
            "count rule matched for exit codes",
            vec![on_exit_codes("Count", "In", &[1, 2, 3])],
            failed_pod()
                .container("foo", None)
                .container("bar", Some(2)),
            Some(PolicyAction::Count),
        ),
        (
            "FailIndex rule matched for pod conditions",
            vec![on_condition("FailIndex", "DisruptionTarget", "True")],
            disrupted(),
            Some(PolicyAction::FailIndex),
        ),
        (
            "ignore rule matched for pod conditions",
            vec![on_condition("Ignore", "DisruptionTarget", "True")],
            disrupted(),
            Some(PolicyAction::Ignore),
        ),
        (
            "ignore rule matches by the status=False",
            vec![on_condition("Ignore", "DisruptionTarget", "False")],
            failed_pod().condition("DisruptionTarget", "False"),
            Some(PolicyAction::Ignore),
        ),
        (
            "ignore rule matches by the status=Unknown",
            vec![on_condition("Ignore", "DisruptionTarget", "Unknown")],
            failed_pod().condition("DisruptionTarget", "Unknown"),
            Some(PolicyAction::Ignore),
        ),
        (
            "ignore rule does not match when status for pattern is False, but actual True",
            vec![on_condition("Ignore", "DisruptionTarget", "False")],
            disrupted(),
            None,
        ),
        (
            "ignore rule does not match when status for pattern is True, but actual False",
            vec![on_condition("Ignore", "DisruptionTarget", "True")],
            failed_pod().condition("DisruptionTarget", "False"),
            None,
        ),
        (
            "job fail rule matched for pod conditions",
            vec![on_condition("FailJob", "DisruptionTarget", "True")],
            disrupted(),
            fail_job(
                "Pod default/mypod has condition DisruptionTarget matching FailJob rule at index 0",
            ),
        ),
        (
            "count rule matched for pod conditions",
            vec![on_condition("Count", "DisruptionTarget", "True")],
            disrupted(),
            Some(PolicyAction::Count),
        ),
        (
            "no rule matched",
            vec![
                on_exit_codes("Count", "NotIn", &[8]),
                on_exit_codes("Ignore", "In", &[1, 2, 3]),
                on_exit_codes("FailJob", "NotIn", &[5, 6, 7]),
                on_condition("Count", "ResourceLimitExceeded", "True"),
                on_condition("Ignore", "DisruptionTarget", "True"),
            ],
            failed_pod().container("", Some(32)),
            Some(PolicyAction::Count),
        ),
        (
            "a rule naming another container does not match",
            vec![PodFailurePolicyRule {
                on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                    container_name: Some("sidecar".into()),
                    ..on_exit_codes("FailJob", "In", &[2]).on_exit_codes.unwrap()
                }),
                ..on_exit_codes("FailJob", "In", &[2])
            }],
            exited(2),
            None,
        ),
        (
            "an init container's exit code matches after the containers'",
            vec![on_exit_codes("FailJob", "In", &[3])],
            failed_pod()
                .init_container("setup", 3)
                .container("main-container", Some(1)),
            fail_job(
                "Container setup for pod default/mypod failed with exit code 3 matching FailJob rule at index 0",
            ),
        ),
    ];
    for (name, rules, pod, want) in cases {
        let policy = PodFailurePolicy { rules };
        assert_eq!(match_pod_failure_policy(&policy, &pod.0), want, "{name}");
    }
}

/// How one failed pod, under one policy, leaves a Job of one pod.
struct Case {
    name: &'static str,
    rules: Vec<PodFailurePolicyRule>,
    backoff_limit: i32,
    exit_code: i32,
    condition: Option<&'static str>,
    /// `status.failed` after.
    failed: i32,
    /// The `Failed` condition's reason and message (`{pod}`: the pod's name).
    ended: Option<(&'static str, &'static str)>,
    /// A new pod runs at once (no backoff after an ignored failure).
    replaced_at_once: bool,
}

#[test]
fn a_failed_pod_fails_counts_or_is_ignored_as_the_first_matching_rule_says() {
    let cases = [
        Case {
            name: "a FailJob rule fails the Job at once, with kube's message",
            rules: vec![on_exit_codes("FailJob", "In", &[42])],
            backoff_limit: 6,
            exit_code: 42,
            condition: None,
            failed: 1,
            ended: Some((
                "PodFailurePolicy",
                "Container main for pod default/{pod} failed with exit code 42 matching FailJob rule at index 0",
            )),
            replaced_at_once: false,
        },
        Case {
            name: "a FailJob rule on a condition",
            rules: vec![
                on_exit_codes("Ignore", "In", &[7]),
                on_condition("FailJob", "DisruptionTarget", "True"),
            ],
            backoff_limit: 6,
            exit_code: 137,
            condition: Some("DisruptionTarget"),
            failed: 1,
            ended: Some((
                "PodFailurePolicy",
                "Pod default/{pod} has condition DisruptionTarget matching FailJob rule at index 1",
            )),
            replaced_at_once: false,
        },
        Case {
            name: "an Ignore rule: not counted against backoffLimit 0, and replaced",
            rules: vec![on_condition("Ignore", "DisruptionTarget", "True")],
            backoff_limit: 0,
            exit_code: 137,
            condition: Some("DisruptionTarget"),
            failed: 0,
            ended: None,
            replaced_at_once: true,
        },
        Case {
            name: "a Count rule counts as no policy does",
            rules: vec![on_exit_codes("Count", "In", &[1])],
            backoff_limit: 0,
            exit_code: 1,
            condition: None,
            failed: 1,
            ended: Some((
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )),
            replaced_at_once: false,
        },
        Case {
            name: "no rule matches: counted",
            rules: vec![on_exit_codes("FailJob", "In", &[42])],
            backoff_limit: 0,
            exit_code: 1,
            condition: None,
            failed: 1,
            ended: Some((
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )),
            replaced_at_once: false,
        },
        Case {
            name: "exit code 0 matches no rule, not even NotIn",
            rules: vec![on_exit_codes("FailJob", "NotIn", &[1])],
            backoff_limit: 6,
            exit_code: 0,
            condition: None,
            failed: 1,
            ended: None,
            replaced_at_once: false,
        },
    ];
    for case in cases {
        let cluster = FakeCluster::new();
        cluster.add(job(|spec| {
            spec.backoff_limit = Some(case.backoff_limit);
            spec.pod_failure_policy = Some(PodFailurePolicy { rules: case.rules });
        }));
        let controller = JobController::default();
        cluster.run_with(&controller, KEY).unwrap();
        let pod = pods(&cluster).remove(0);
        end(&cluster, &pod, "Failed", case.exit_code, case.condition);
        settle(&cluster, &controller);
        let job = stored(&cluster);
        let name = case.name;
        assert_eq!(counts(&job).2, case.failed, "{name}");
        let ended = reason(&job, status::FAILED).zip(message(&job, status::FAILED));
        let pod_name = pod.metadata.name.as_deref().unwrap();
        let want = case
            .ended
            .map(|(r, m)| (r.to_owned(), m.replace("{pod}", pod_name)));
        assert_eq!(ended, want, "{name}");
        assert_eq!(
            running(&cluster).len() == 1,
            case.replaced_at_once,
            "{name}"
        );
    }
}

#[test]
fn a_fail_job_rule_is_recorded_before_the_pod_is_released_and_running_pods_go() {
    let cluster = FakeCluster::new();
    cluster.add(job(|spec| {
        spec.parallelism = Some(2);
        spec.completions = Some(2);
        spec.pod_failure_policy = Some(PodFailurePolicy {
            rules: vec![on_exit_codes("FailJob", "In", &[42])],
        });
    }));
    let controller = JobController::default();
    cluster.run_with(&controller, KEY).unwrap();
    let failed = pods(&cluster).remove(0);
    end(&cluster, &failed, "Failed", 42, None);
    cluster.fail_when(|request| {
        (request.verb == Verb::Patch).then(|| Error::Other("the API server is away".into()))
    });
    assert!(cluster.run_with(&controller, KEY).is_err());
    let job = stored(&cluster);
    assert_eq!(
        reason(&job, status::FAILURE_TARGET).as_deref(),
        Some("PodFailurePolicy"),
        "written before the pod could go"
    );
    assert!(!status::is_true(&job, status::FAILED));
    cluster.clear_failures();
    cluster.run_with(&controller, KEY).unwrap();
    let job = stored(&cluster);
    assert!(
        pods(&cluster)
            .iter()
            .any(|p| p.metadata.deletion_timestamp.is_some()),
        "the running pod is deleted"
    );
    assert!(
        !status::is_true(&job, status::FAILED),
        "not while a pod terminates"
    );
    settle(&cluster, &controller);
    let job = stored(&cluster);
    let name = failed.metadata.name.as_deref().unwrap();
    assert_eq!(
        message(&job, status::FAILED),
        Some(format!(
            "Container main for pod default/{name} failed with exit code 42 matching FailJob rule at index 0"
        ))
    );
    assert_eq!(
        reason(&job, status::FAILED).as_deref(),
        Some("PodFailurePolicy")
    );
    assert_eq!(
        counts(&job),
        (0, 0, 2),
        "the deleted pod counts as failed too"
    );
    let events = cluster.events();
    assert!(events.iter().any(|e| e.reason == "PodFailurePolicy"));
}

#[test]
fn with_a_pod_failure_policy_a_deleted_pod_is_replaced_once_it_has_failed() {
    let cluster = FakeCluster::new();
    cluster.add(job(|spec| {
        spec.pod_failure_policy = Some(PodFailurePolicy {
            rules: vec![on_condition("Ignore", "DisruptionTarget", "True")],
        });
    }));
    let controller = JobController::default();
    cluster.run_with(&controller, KEY).unwrap();
    let pod = pods(&cluster).remove(0);
    let name = pod.metadata.name.clone().unwrap();
    cluster
        .context()
        .delete::<Pod>(Some("default"), &name)
        .unwrap();
    settle(&cluster, &controller);
    let job = stored(&cluster);
    assert_eq!(
        pods(&cluster).len(),
        1,
        "no replacement while it terminates"
    );
    assert_eq!(job.status.as_ref().unwrap().terminating, Some(1));
    assert_eq!(counts(&job), (0, 0, 0));
    // Evicted: it fails with the DisruptionTarget condition, ignored.
    let pod = cluster.get::<Pod>(Some("default"), &name).unwrap();
    end(&cluster, &pod, "Failed", 137, Some("DisruptionTarget"));
    settle(&cluster, &controller);
    let job = stored(&cluster);
    assert_eq!(counts(&job), (1, 0, 0));
    assert_eq!(running(&cluster).len(), 1);
    cluster.advance(Duration::from_secs(1));
    assert!(!status::is_finished(&job));
}
