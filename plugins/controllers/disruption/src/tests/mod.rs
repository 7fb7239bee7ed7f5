//! The disruption controller against the SDK's fake cluster, after the
//! cases of kube's `disruption_test.go` it can play.

mod builders;

use std::time::Duration;

use builders::{
    BudgetBuilder, NS, Object, budget, deployment, pod, replica_set, replica_set_of,
    replication_controller, seconds_ago, stateful_set,
};
use wharf_sdk::k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use wharf_sdk::prelude::*;
use wharf_sdk::testing::{FakeCluster, Verb};

use crate::DisruptionController;
use crate::status::{self, reasons as condition_reasons};

const KEY: &str = "default/db";

fn cluster(budget: BudgetBuilder, objects: Vec<Object>) -> FakeCluster {
    let fake = FakeCluster::new();
    fake.add(budget.build());
    for object in objects {
        object.add_to(&fake);
    }
    fake
}

fn reconcile(fake: &FakeCluster) -> Result<Action, Error> {
    fake.run::<DisruptionController>(KEY)
}

fn stored(fake: &FakeCluster) -> PodDisruptionBudget {
    fake.get::<PodDisruptionBudget>(Some(NS), "db")
        .expect("the budget exists")
}

fn status(fake: &FakeCluster) -> PodDisruptionBudgetStatus {
    stored(fake).status.expect("the budget has a status")
}

/// (disruptionsAllowed, currentHealthy, desiredHealthy, expectedPods), as
/// kube's `VerifyPdbStatus` takes them.
fn counts(fake: &FakeCluster) -> (i32, i32, i32, i32) {
    let status = status(fake);
    (
        status.disruptions_allowed.unwrap_or(0),
        status.current_healthy.unwrap_or(0),
        status.desired_healthy.unwrap_or(0),
        status.expected_pods.unwrap_or(0),
    )
}

/// The `DisruptionAllowed` condition's status and reason.
fn condition(fake: &FakeCluster) -> (String, String) {
    let budget = stored(fake);
    let condition = status::condition(&budget).expect("a DisruptionAllowed condition");
    (condition.status.clone(), condition.reason.clone())
}

fn event_reasons(fake: &FakeCluster) -> Vec<String> {
    fake.events()
        .into_iter()
        .map(|event| event.reason)
        .collect()
}

#[test]
fn the_status_follows_the_budget_and_its_pods() {
    struct Case {
        name: &'static str,
        budget: BudgetBuilder,
        objects: Vec<Object>,
        /// (disruptionsAllowed, currentHealthy, desiredHealthy, expectedPods)
        counts: (i32, i32, i32, i32),
        reason: &'static str,
        events: &'static [&'static str],
    }
    let rs7 = replica_set("rs", 7);
    let rs10 = replica_set("rs", 10);
    let rc3 = replication_controller("rc", 3);
    let ss3 = stateful_set("ss", 3);
    let web = deployment("web", 10);
    let web_rs = replica_set_of("web-1", 5, &web);
    let web_old_rs = replica_set_of("web-0", 5, &web);
    let cases = vec![
        Case {
            name: "minAvailable with no pods allows nothing",
            budget: budget().min_available(3),
            objects: vec![],
            counts: (0, 0, 3, 0),
            reason: condition_reasons::INSUFFICIENT_PODS,
            events: &["NoPods"],
        },
        Case {
            name: "an integer minAvailable counts the pods themselves",
            budget: budget().min_available(3),
            objects: vec![
                pod("a").into(),
                pod("b").into(),
                pod("c").into(),
                pod("d").into(),
            ],
            counts: (1, 4, 3, 4),
            reason: condition_reasons::SUFFICIENT_PODS,
            events: &[],
        },
        Case {
            name: "an unready pod is not healthy",
            budget: budget().min_available(3),
            objects: vec![
                pod("a").unready().into(),
                pod("b").into(),
                pod("c").into(),
                pod("d").into(),
            ],
            counts: (0, 3, 3, 4),
            reason: condition_reasons::INSUFFICIENT_PODS,
            events: &[],
        },
        Case {
            name: "a terminating pod is expected but not healthy",
            budget: budget().min_available(3),
            objects: vec![
                pod("a").terminating().into(),
                pod("b").into(),
                pod("c").into(),
                pod("d").into(),
            ],
            counts: (0, 3, 3, 4),
            reason: condition_reasons::INSUFFICIENT_PODS,
            events: &[],
        },
        Case {
            name: "pods the selector does not match, or of another namespace, do not count",
            budget: budget().min_available(1),
            objects: vec![
                pod("a").into(),
                pod("other").labels(&[("foo", "baz")]).into(),
                pod("away").namespace("elsewhere").into(),
            ],
            counts: (0, 1, 1, 1),
            reason: condition_reasons::INSUFFICIENT_PODS,
            events: &[],
        },
        Case {
            name: "an empty selector selects every pod of the namespace",
            budget: budget().select_everything().min_available(1),
            objects: vec![
                pod("a").into(),
                pod("b").labels(&[("app", "other")]).into(),
                pod("away").namespace("elsewhere").into(),
            ],
            counts: (1, 2, 1, 2),
            reason: condition_reasons::SUFFICIENT_PODS,
            events: &[],
        },
        Case {
            name: "no selector selects nothing",
            budget: budget().no_selector().min_available(1),
            objects: vec![pod("a").into()],
            counts: (0, 0, 1, 0),
            reason: condition_reasons::INSUFFICIENT_PODS,
            events: &["NoPods"],
        },
        Case {
            name: "a minAvailable percentage is of the ReplicaSet's scale",
            budget: budget().min_available_percent("20%"),
            objects: vec![rs10.clone().into(), pod("a").controlled_by(&rs10).into()],
            counts: (0, 1, 2, 10),
            reason: condition_reasons::INSUFFICIENT_PODS,
            events: &[],
        },
        Case {
            name: "an integer maxUnavailable is taken from the scale",
            budget: budget().max_unavailable(2),
            objects: vec![rs7.clone().into(), pod("a").controlled_by(&rs7).into()],
            counts: (0, 1, 5, 7),
            reason: condition_reasons::INSUFFICIENT_PODS,
            events: &[],
        },
        Case {
            name: "a maxUnavailable percentage rounds the unavailable pods up",
            budget: budget().max_unavailable_percent("30%"),
            objects: vec![rs7.clone().into(), pod("a").controlled_by(&rs7).into()],
            counts: (0, 1, 4, 7),
            reason: condition_reasons::INSUFFICIENT_PODS,
            events: &[],
        },
        Case {
            name: "maxUnavailable beyond the scale desires none healthy",
            budget: budget().max_unavailable(3),
            objects: vec![
                rc3.clone().into(),
                pod("a").controlled_by(&rc3).into(),
                pod("b").controlled_by(&rc3).into(),
            ],
            counts: (2, 2, 0, 3),
            reason: condition_reasons::SUFFICIENT_PODS,
            events: &[],
        },
        Case {
            name: "a pod without a controller is not counted by maxUnavailable",
            budget: budget().max_unavailable(1),
            objects: vec![pod("naked").into()],
            counts: (0, 1, 0, 0),
            reason: condition_reasons::INSUFFICIENT_PODS,
            events: &["UnmanagedPods"],
        },
        Case {
            name: "a pod without a controller is not counted by a percentage",
            budget: budget().min_available_percent("28%"),
            objects: vec![pod("naked").into()],
            counts: (0, 1, 0, 0),
            reason: condition_reasons::INSUFFICIENT_PODS,
            events: &["UnmanagedPods"],
        },
        Case {
            name: "a ReplicationController's scale, 34% rounding up to 2",
            budget: budget().min_available_percent("34%"),
            objects: vec![
                rc3.clone().into(),
                pod("a").controlled_by(&rc3).into(),
                pod("b").controlled_by(&rc3).into(),
                pod("c").controlled_by(&rc3).into(),
            ],
            counts: (1, 3, 2, 3),
            reason: condition_reasons::SUFFICIENT_PODS,
            events: &[],
        },
        Case {
            name: "a StatefulSet's scale",
            budget: budget().min_available_percent("34%"),
            objects: vec![
                ss3.clone().into(),
                pod("a").controlled_by(&ss3).into(),
                pod("b").controlled_by(&ss3).unready().into(),
            ],
            counts: (0, 1, 2, 3),
            reason: condition_reasons::INSUFFICIENT_PODS,
            events: &[],
        },
        Case {
            name: "a Deployment's scale, through its ReplicaSets, counted once",
            budget: budget().max_unavailable(1),
            objects: vec![
                web.clone().into(),
                web_rs.clone().into(),
                web_old_rs.clone().into(),
                pod("a").controlled_by(&web_rs).into(),
                pod("b").controlled_by(&web_old_rs).into(),
            ],
            counts: (0, 2, 9, 10),
            reason: condition_reasons::INSUFFICIENT_PODS,
            events: &[],
        },
        Case {
            name: "two controllers' scales add up",
            budget: budget().min_available_percent("28%"),
            objects: vec![
                rc3.clone().into(),
                ss3.clone().into(),
                pod("a").controlled_by(&rc3).into(),
                pod("b").controlled_by(&rc3).into(),
                pod("c").controlled_by(&ss3).into(),
            ],
            counts: (1, 3, 2, 6),
            reason: condition_reasons::SUFFICIENT_PODS,
            events: &[],
        },
        Case {
            name: "neither minAvailable nor maxUnavailable allows nothing",
            budget: budget(),
            objects: vec![pod("a").into()],
            counts: (0, 1, 0, 0),
            reason: condition_reasons::INSUFFICIENT_PODS,
            events: &[],
        },
    ];
    for case in cases {
        let fake = cluster(case.budget, case.objects);
        assert_eq!(reconcile(&fake).unwrap(), Action::Done, "{}", case.name);
        assert_eq!(counts(&fake), case.counts, "{}", case.name);
        let (condition_status, reason) = condition(&fake);
        assert_eq!(reason, case.reason, "{}", case.name);
        let allowed = case.counts.0 > 0;
        assert_eq!(
            condition_status,
            if allowed { "True" } else { "False" },
            "{}",
            case.name
        );
        assert_eq!(event_reasons(&fake), case.events, "{}", case.name);
        let status = status(&fake);
        assert_eq!(status.observed_generation, Some(1), "{}", case.name);
        assert_eq!(status.disrupted_pods, None, "{}", case.name);
    }
}

#[test]
fn a_budget_that_cannot_be_worked_out_fails_safe() {
    struct Case {
        name: &'static str,
        budget: BudgetBuilder,
        objects: Vec<Object>,
        events: &'static [&'static str],
        message: &'static str,
    }
    let rs = replica_set("rs", 3);
    let cases = vec![
        Case {
            name: "a pod whose controller is of an unknown kind",
            budget: budget().min_available_percent("28%"),
            objects: vec![pod("a").controlled_by_unknown_kind().into()],
            events: &["CalculateExpectedPodCountFailed"],
            message: "found no controllers for pod \"a\"",
        },
        Case {
            name: "a pod whose ReplicaSet is gone",
            budget: budget().max_unavailable(1),
            objects: vec![pod("a").controlled_by(&rs).into()],
            events: &["CalculateExpectedPodCountFailed"],
            message: "found no controllers for pod \"a\"",
        },
        Case {
            name: "a percentage that is not one",
            budget: budget().max_unavailable_percent("30"),
            objects: vec![rs.clone().into(), pod("a").controlled_by(&rs).into()],
            events: &["CalculateExpectedPodCountFailed"],
            message: "is not a percentage",
        },
        Case {
            name: "an invalid selector",
            budget: budget().invalid_selector().min_available(3),
            objects: vec![pod("a").into()],
            events: &["NoPods"],
            message: "not a valid label selector operator",
        },
    ];
    for Case {
        name,
        budget,
        objects,
        events,
        message,
    } in cases
    {
        let fake = cluster(budget.disrupted("a", 10), objects);
        // A status that allowed a disruption before.
        fake.modify::<PodDisruptionBudget>(Some(NS), "db", |budget| {
            budget
                .status
                .get_or_insert_with(Default::default)
                .disruptions_allowed = Some(2);
        });
        assert_eq!(reconcile(&fake).unwrap(), Action::Done, "{name}");
        let status = status(&fake);
        assert_eq!(status.disruptions_allowed, Some(0), "{name}");
        assert!(
            status.disrupted_pods.is_some(),
            "{name}: the rest of the status stays"
        );
        let budget = stored(&fake);
        let condition = status::condition(&budget).unwrap();
        assert_eq!(condition.status, "False", "{name}");
        assert_eq!(condition.reason, condition_reasons::SYNC_FAILED, "{name}");
        assert!(
            condition.message.contains(message),
            "{name}: {}",
            condition.message
        );
        assert_eq!(event_reasons(&fake), events, "{name}");

        // Failing again writes nothing more, and says nothing more.
        fake.clear_calls();
        reconcile(&fake).unwrap();
        assert_eq!(fake.writes(), [], "{name}");
        assert!(fake.events().is_empty(), "{name}");
    }
}

#[test]
fn the_status_moves_as_pods_become_ready_and_unready() {
    // kube's TestUnavailable: minAvailable 3, pods added one by one.
    let fake = cluster(budget().min_available(3), vec![]);
    let expected = [
        (0, 0, 3, 0),
        (0, 1, 3, 1),
        (0, 2, 3, 2),
        (0, 3, 3, 3),
        (1, 4, 3, 4),
    ];
    for (i, counts_now) in expected.iter().enumerate() {
        if i > 0 {
            fake.add(pod(&format!("pod-{i}")).build());
        }
        reconcile(&fake).unwrap();
        assert_eq!(counts(&fake), *counts_now, "with {i} pods");
    }
    let (_, reason) = condition(&fake);
    assert_eq!(reason, condition_reasons::SUFFICIENT_PODS);
    let became_sufficient = status::condition(&stored(&fake))
        .unwrap()
        .last_transition_time
        .clone();

    fake.advance(Duration::from_secs(30));
    fake.modify::<wharf_sdk::k8s_openapi::api::core::v1::Pod>(Some(NS), "pod-1", |pod| {
        pod.status.as_mut().unwrap().conditions = Some(vec![]);
    });
    reconcile(&fake).unwrap();
    assert_eq!(counts(&fake), (0, 3, 3, 4));
    let budget = stored(&fake);
    let condition = status::condition(&budget).unwrap();
    assert_eq!(condition.reason, condition_reasons::INSUFFICIENT_PODS);
    assert_ne!(condition.last_transition_time, became_sufficient);
}

#[test]
fn a_controller_scaled_changes_the_expected_pods() {
    // kube's TestIntegerMaxUnavailableWithScaling.
    let rs = replica_set("rs", 7);
    let fake = cluster(
        budget().max_unavailable(2),
        vec![rs.clone().into(), pod("a").controlled_by(&rs).into()],
    );
    reconcile(&fake).unwrap();
    assert_eq!(counts(&fake), (0, 1, 5, 7));
    fake.modify::<wharf_sdk::k8s_openapi::api::apps::v1::ReplicaSet>(Some(NS), "rs", |rs| {
        rs.spec.replicas = Some(5);
    });
    reconcile(&fake).unwrap();
    assert_eq!(counts(&fake), (0, 1, 3, 5));
}

#[test]
fn disrupted_pods_are_forgotten_once_deleted_gone_or_expired() {
    // kube's TestUpdateDisruptedPods.
    let fake = cluster(
        budget()
            .min_available(1)
            .disrupted("p1", 0) // its deletion started: forgotten
            .disrupted("p2", 180) // expired: forgotten, healthy again
            .disrupted("p3", 60) // still in force
            .disrupted("notthere", 0), // gone: forgotten
        vec![
            pod("p1").terminating().into(),
            pod("p2").into(),
            pod("p3").into(),
        ],
    );
    let action = reconcile(&fake).unwrap();
    assert_eq!(counts(&fake), (0, 1, 1, 3));
    let disrupted = status(&fake).disrupted_pods.unwrap();
    assert_eq!(
        disrupted.keys().collect::<Vec<_>>(),
        ["p3"],
        "only the entry in force stays"
    );
    assert_eq!(disrupted["p3"], seconds_ago(60));
    // p3's entry expires 60 s from now.
    assert_eq!(action, Action::RequeueAfter(Duration::from_secs(60)));
    let events = fake.events();
    assert_eq!(event_reasons(&fake), ["NotDeleted"]);
    assert_eq!(events[0].regarding.to_string(), "Pod default/p2");
    assert_eq!(
        events[0].message,
        "Pod was expected by PDB default/db to be deleted but it wasn't"
    );

    fake.advance(Duration::from_secs(60));
    assert_eq!(reconcile(&fake).unwrap(), Action::Done);
    assert_eq!(counts(&fake), (1, 2, 1, 3));
    assert_eq!(status(&fake).disrupted_pods, None);
}

#[test]
fn an_eviction_recorded_meanwhile_is_a_conflict_retried_without_failing_safe() {
    let fake = cluster(
        budget().min_available(1),
        vec![pod("a").into(), pod("b").into()],
    );
    fake.fail_when(|request| {
        (request.verb == Verb::UpdateStatus)
            .then(|| Error::Conflict("the object has been modified".into()))
    });
    let result = reconcile(&fake);
    assert!(matches!(result, Err(Error::Conflict(_))), "{result:?}");
    assert!(stored(&fake).status.is_none(), "no fail-safe status either");
    fake.clear_failures();
    reconcile(&fake).unwrap();
    assert_eq!(counts(&fake), (1, 2, 1, 2));
}

#[test]
fn the_status_is_written_only_when_it_changes() {
    let rs = replica_set("rs", 3);
    let cases: Vec<(&str, BudgetBuilder, Vec<Object>)> = vec![
        ("no pods", budget().min_available(1), vec![]),
        (
            "healthy pods",
            budget().max_unavailable(1),
            vec![
                rs.clone().into(),
                pod("a").controlled_by(&rs).into(),
                pod("b").controlled_by(&rs).into(),
                pod("c").controlled_by(&rs).into(),
            ],
        ),
        (
            "unmanaged pods",
            budget().min_available_percent("50%"),
            vec![pod("a").into()],
        ),
        (
            "an entry in force",
            budget().min_available(1).disrupted("a", 30),
            vec![pod("a").into(), pod("b").into()],
        ),
    ];
    for (name, budget, objects) in cases {
        let fake = cluster(budget, objects);
        reconcile(&fake).unwrap();
        assert_eq!(
            fake.writes()
                .iter()
                .filter(|write| write.verb == Verb::UpdateStatus)
                .count(),
            1,
            "{name}"
        );
        fake.clear_calls();
        let revision = fake.revision();
        reconcile(&fake).unwrap();
        assert_eq!(fake.writes(), [], "{name}");
        assert_eq!(fake.revision(), revision, "{name}");
        assert!(fake.events().is_empty(), "{name}: events go with changes");
    }
}

#[test]
fn observed_generation_follows_the_spec() {
    let fake = cluster(budget().min_available(1), vec![pod("a").into()]);
    reconcile(&fake).unwrap();
    assert_eq!(status(&fake).observed_generation, Some(1));
    let mut changed = stored(&fake);
    changed.spec.as_mut().unwrap().min_available = None;
    changed.spec.as_mut().unwrap().max_unavailable =
        Some(wharf_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(0));
    fake.context().update(&changed).unwrap();
    reconcile(&fake).unwrap();
    let status = status(&fake);
    assert_eq!(status.observed_generation, Some(2));
    let condition = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == status::DISRUPTION_ALLOWED)
        .unwrap();
    assert_eq!(condition.observed_generation, Some(2));
}

#[test]
fn other_conditions_are_kept() {
    let fake = cluster(budget().min_available(1), vec![pod("a").into()]);
    fake.modify::<PodDisruptionBudget>(Some(NS), "db", |budget| {
        budget.status = Some(PodDisruptionBudgetStatus {
            conditions: Some(vec![
                wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
                    type_: "Example".into(),
                    status: "True".into(),
                    reason: "Because".into(),
                    message: String::new(),
                    observed_generation: None,
                    last_transition_time: seconds_ago(60),
                },
            ]),
            ..Default::default()
        });
    });
    reconcile(&fake).unwrap();
    let types: Vec<String> = status(&fake)
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| c.type_)
        .collect();
    assert_eq!(types, ["Example", status::DISRUPTION_ALLOWED]);
}

#[test]
fn does_nothing_when_the_budget_is_gone() {
    let fake = FakeCluster::new();
    fake.add(pod("a").build());
    assert_eq!(reconcile(&fake).unwrap(), Action::Done);
    assert_eq!(fake.writes(), []);
}

#[test]
fn registers_budgets_woken_by_the_pods_they_select() {
    let registration =
        <DisruptionController as Controller>::registration(&serde_json::json!({})).unwrap();
    assert_eq!(
        registration.primary.to_string(),
        "policy/v1, Kind=PodDisruptionBudget"
    );
    assert!(registration.owns.is_empty());
    assert_eq!(
        registration
            .watches
            .iter()
            .map(|(kind, wakes)| (kind.to_string(), wakes.clone()))
            .collect::<Vec<_>>(),
        [(
            "v1, Kind=Pod".to_owned(),
            Wakes::Selecting("/spec/selector".into())
        )]
    );
    let mut reads: Vec<String> = registration
        .reads
        .iter()
        .map(|kind| kind.to_string())
        .collect();
    reads.sort();
    assert_eq!(
        reads,
        [
            "apps/v1, Kind=Deployment",
            "apps/v1, Kind=ReplicaSet",
            "apps/v1, Kind=StatefulSet",
            "v1, Kind=ReplicationController",
        ]
    );
}
