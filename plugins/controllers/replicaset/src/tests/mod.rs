//! The controller against the SDK's in-memory cluster, case by case.

mod builders;
mod replication_controller;

use std::time::Duration;

use builders::{NS, PodBuilder, ReplicaSetBuilder, pod, replica_set, uid_of};
use wharf_sdk::k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::prelude::*;
use wharf_sdk::testing::{FakeCluster, Verb};

use crate::ReplicaSetController;
use crate::status::REPLICA_FAILURE;

const KEY: &str = "default/web";

/// A cluster holding `replica_set` and `pods`.
fn cluster(replica_set: ReplicaSetBuilder, pods: Vec<PodBuilder>) -> FakeCluster {
    let fake = FakeCluster::new();
    fake.add(replica_set.build());
    for pod in pods {
        fake.add(pod.build());
    }
    fake
}

fn reconcile(fake: &FakeCluster) -> Result<Action, Error> {
    fake.run::<ReplicaSetController>(KEY)
}

fn pods(fake: &FakeCluster) -> Vec<Pod> {
    fake.list::<Pod>(Some(NS))
}

fn names(pods: &[Pod]) -> Vec<String> {
    pods.iter()
        .map(|pod| pod.metadata.name.clone().unwrap_or_default())
        .collect()
}

fn owned_by(pod: &Pod, replica_set: &str) -> bool {
    controller_of(pod).is_some_and(|reference| reference.uid == uid_of(replica_set))
}

fn reasons(fake: &FakeCluster) -> Vec<String> {
    fake.events()
        .into_iter()
        .map(|event| event.reason)
        .collect()
}

fn count(fake: &FakeCluster, verb: Verb, kind: &str) -> usize {
    fake.calls()
        .iter()
        .filter(|call| call.verb == verb && call.kind.kind == kind)
        .count()
}

fn status(fake: &FakeCluster) -> ReplicaSetStatus {
    let replica_set = fake
        .get::<ReplicaSet>(Some(NS), "web")
        .expect("the ReplicaSet exists");
    replica_set.status.expect("the ReplicaSet has a status")
}

/// Pod creates fail with `Forbidden` from the `n`th on.
fn fail_creates_from(fake: &FakeCluster, n: usize) {
    let mut creates = 0;
    fake.fail_when(move |request| {
        if request.verb != Verb::Create || request.kind.kind != "Pod" {
            return None;
        }
        creates += 1;
        (creates >= n).then(|| Error::Forbidden("exceeded quota: pods".to_owned()))
    });
}

#[test]
fn scales_up_from_zero_in_slow_start_batches() {
    struct Case {
        name: &'static str,
        replicas: i32,
        fail_from: Option<usize>,
        attempts: usize,
        created: usize,
    }
    let cases = [
        Case {
            name: "all succeed",
            replicas: 10,
            fail_from: None,
            attempts: 10,
            created: 10,
        },
        Case {
            name: "the first fails",
            replicas: 10,
            fail_from: Some(1),
            attempts: 1,
            created: 0,
        },
        Case {
            name: "the second batch fails",
            replicas: 10,
            fail_from: Some(2),
            attempts: 3,
            created: 1,
        },
        Case {
            name: "the third batch fails",
            replicas: 10,
            fail_from: Some(4),
            attempts: 7,
            created: 3,
        },
        Case {
            name: "the last batch is what remains",
            replicas: 10,
            fail_from: Some(8),
            attempts: 10,
            created: 7,
        },
    ];
    for case in cases {
        let fake = cluster(replica_set("web").replicas(case.replicas), vec![]);
        if let Some(n) = case.fail_from {
            fail_creates_from(&fake, n);
        }
        let result = reconcile(&fake);
        assert_eq!(
            count(&fake, Verb::Create, "Pod"),
            case.attempts,
            "{}: attempts",
            case.name
        );
        assert_eq!(pods(&fake).len(), case.created, "{}: pods", case.name);
        let created_events = reasons(&fake)
            .iter()
            .filter(|r| *r == "SuccessfulCreate")
            .count();
        let failed_events = reasons(&fake)
            .iter()
            .filter(|r| *r == "FailedCreate")
            .count();
        assert_eq!(
            created_events, case.created,
            "{}: SuccessfulCreate events",
            case.name
        );
        assert_eq!(
            failed_events,
            case.attempts - case.created,
            "{}: FailedCreate events",
            case.name
        );
        let failure = status(&fake)
            .conditions
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_.as_deref() == Some(REPLICA_FAILURE));
        match case.fail_from {
            None => {
                assert_eq!(result.unwrap(), Action::Done, "{}", case.name);
                assert!(failure.is_none(), "{}", case.name);
            }
            Some(_) => {
                assert!(
                    matches!(result, Err(Error::Forbidden(_))),
                    "{}: {result:?}",
                    case.name
                );
                let failure =
                    failure.unwrap_or_else(|| panic!("{}: no ReplicaFailure condition", case.name));
                assert_eq!(failure.status.as_deref(), Some("True"));
                assert_eq!(failure.reason.as_deref(), Some("FailedCreate"));
                assert_eq!(
                    failure.message.as_deref(),
                    Some("forbidden: exceeded quota: pods")
                );
            }
        }
    }
}

#[test]
fn creates_pods_from_the_template_with_a_generated_name_and_a_controller_reference() {
    let fake = cluster(
        replica_set("web")
            .replicas(2)
            .template_labels(&[("app", "web"), ("tier", "front")]),
        vec![],
    );
    reconcile(&fake).unwrap();
    let created = pods(&fake);
    assert_eq!(created.len(), 2);
    for pod in &created {
        let name = pod.metadata.name.as_deref().unwrap();
        assert!(
            name.starts_with("web-") && name.len() == "web-".len() + 5,
            "{name}"
        );
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("web-"));
        assert_eq!(pod.metadata.labels.as_ref().unwrap()["tier"], "front");
        assert_eq!(
            pod.spec.as_ref().unwrap().containers[0].image.as_deref(),
            Some("nginx")
        );
        let reference = controller_of(pod).unwrap();
        assert_eq!(
            (
                reference.kind.as_str(),
                reference.name.as_str(),
                reference.uid.as_str()
            ),
            ("ReplicaSet", "web", "uid-web")
        );
        assert_eq!(reference.block_owner_deletion, Some(true));
    }
    let messages: Vec<String> = fake
        .events()
        .into_iter()
        .map(|event| event.message)
        .collect();
    assert_eq!(
        messages,
        names(&created)
            .iter()
            .map(|name| format!("Created pod: {name}"))
            .collect::<Vec<_>>()
    );
    assert!(
        fake.events()
            .iter()
            .all(|event| event.regarding.to_string() == "ReplicaSet default/web")
    );
}

#[test]
fn creates_at_most_500_pods_per_reconcile() {
    let fake = cluster(replica_set("web").replicas(600), vec![]);
    reconcile(&fake).unwrap();
    assert_eq!(pods(&fake).len(), 500);
    reconcile(&fake).unwrap();
    assert_eq!(pods(&fake).len(), 600);
}

#[test]
fn scales_down_choosing_the_right_pods() {
    type Shape = fn(PodBuilder) -> PodBuilder;
    // Of two otherwise equal pods, the first goes.
    let cases: &[(&str, Shape, Shape)] = &[
        ("unscheduled before scheduled", |p| p, |p| p.running()),
        (
            "pending before running",
            |p| p.node("node-1").phase("Pending"),
            |p| p.running(),
        ),
        (
            "unknown before running",
            |p| p.node("node-1").phase("Unknown"),
            |p| p.running(),
        ),
        (
            "pending before unknown",
            |p| p.node("node-1").phase("Pending"),
            |p| p.node("node-1").phase("Unknown"),
        ),
        ("not ready before ready", |p| p.running(), |p| p.ready()),
        (
            "a lower deletion cost first",
            |p| p.ready().deletion_cost(-5),
            |p| p.ready().deletion_cost(10),
        ),
        (
            "readiness before deletion cost",
            |p| p.running().deletion_cost(100),
            |p| p.ready().deletion_cost(-100),
        ),
        (
            "ready recently before ready long ago",
            |p| p.ready_for(60),
            |p| p.ready_for(86_400),
        ),
        (
            "more restarts first",
            |p| p.ready().restarts(5),
            |p| p.ready().restarts(1),
        ),
        (
            "newer before older",
            |p| p.ready().created_ago(60),
            |p| p.ready().created_ago(86_400),
        ),
    ];
    for (name, doomed, survivor) in cases {
        // Both orders of listing, so that the choice is not the list's order.
        for (doomed_name, survivor_name) in [("a", "b"), ("b", "a")] {
            let doomed_pod = doomed(pod(doomed_name).owned_by("web"));
            let fake = cluster(
                replica_set("web").replicas(1),
                vec![doomed_pod, survivor(pod(survivor_name).owned_by("web"))],
            );
            reconcile(&fake).unwrap();
            assert_eq!(names(&pods(&fake)), [survivor_name], "{name}");
            assert_eq!(reasons(&fake), ["SuccessfulDelete"], "{name}");
            assert_eq!(
                fake.events()[0].message,
                format!("Deleted pod: {doomed_name}"),
                "{name}"
            );
        }
    }
}

#[test]
fn scales_down_pods_on_nodes_crowded_with_their_deployment_first() {
    // web and web-old belong to one Deployment; node-2 holds two of its pods.
    let fake = cluster(
        replica_set("web")
            .replicas(1)
            .controlled_by("deployment-uid"),
        vec![
            pod("x").owned_by("web").ready().node("node-1"),
            pod("y").owned_by("web").ready().node("node-2"),
            pod("old").owned_by("web-old").ready().node("node-2"),
        ],
    );
    fake.add(
        replica_set("web-old")
            .replicas(1)
            .controlled_by("deployment-uid")
            .build(),
    );
    reconcile(&fake).unwrap();
    assert_eq!(names(&pods(&fake)), ["old", "x"]);

    // Without the Deployment, the tie goes to the first listed.
    let fake = cluster(
        replica_set("web").replicas(1),
        vec![
            pod("x").owned_by("web").ready().node("node-1"),
            pod("y").owned_by("web").ready().node("node-2"),
            pod("old").owned_by("web-old").ready().node("node-2"),
        ],
    );
    fake.add(replica_set("web-old").replicas(1).build());
    reconcile(&fake).unwrap();
    assert_eq!(names(&pods(&fake)), ["old", "y"]);
}

#[test]
fn scales_down_to_zero_deleting_every_pod() {
    let fake = cluster(
        replica_set("web").replicas(0),
        vec![pod("a").owned_by("web"), pod("b").owned_by("web").ready()],
    );
    reconcile(&fake).unwrap();
    assert!(pods(&fake).is_empty());
    assert_eq!(reasons(&fake), ["SuccessfulDelete", "SuccessfulDelete"]);
}

#[test]
fn a_failed_delete_is_an_event_a_condition_and_an_error() {
    let fake = cluster(
        replica_set("web").replicas(0),
        vec![pod("a").owned_by("web")],
    );
    fake.fail_when(|request| {
        (request.verb == Verb::Delete).then(|| Error::other("etcd is unhappy"))
    });
    let result = reconcile(&fake);
    assert!(matches!(result, Err(Error::Other(_))), "{result:?}");
    assert_eq!(reasons(&fake), ["FailedDelete"]);
    assert_eq!(fake.events()[0].message, "Error deleting: etcd is unhappy");
    let failure = status(&fake)
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_.as_deref() == Some(REPLICA_FAILURE))
        .unwrap();
    assert_eq!(failure.reason.as_deref(), Some("FailedDelete"));
}

#[test]
fn adopts_orphans_that_match_the_selector() {
    let fake = cluster(
        replica_set("web").replicas(2),
        vec![
            pod("orphan")
                .labels(&[("app", "web")])
                .also_owned_by("ConfigMap", "cm-uid"),
            pod("stranger").labels(&[("app", "db")]),
            pod("taken").labels(&[("app", "web")]).controller("other"),
        ],
    );
    reconcile(&fake).unwrap();
    let all = pods(&fake);
    let orphan = all
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("orphan"))
        .unwrap();
    assert!(owned_by(orphan, "web"));
    assert_eq!(
        orphan.metadata.owner_references.as_ref().unwrap().len(),
        2,
        "other owner references stay"
    );
    let stranger = all
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("stranger"))
        .unwrap();
    assert!(controller_of(stranger).is_none());
    let taken = all
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("taken"))
        .unwrap();
    assert!(owned_by(taken, "other"));
    assert_eq!(
        all.iter().filter(|p| owned_by(p, "web")).count(),
        2,
        "one adopted, one created"
    );
    assert_eq!(reasons(&fake), ["SuccessfulCreate"]);
}

#[test]
fn adopts_nothing_and_creates_nothing_while_the_replica_set_is_being_deleted() {
    let fake = cluster(
        replica_set("web").replicas(3).deleting(),
        vec![pod("orphan").labels(&[("app", "web")])],
    );
    reconcile(&fake).unwrap();
    assert_eq!(pods(&fake).len(), 1);
    assert!(controller_of(&pods(&fake)[0]).is_none());
    assert!(
        fake.writes()
            .iter()
            .all(|write| write.verb == Verb::UpdateStatus)
    );
}

#[test]
fn releases_pods_that_no_longer_match() {
    let fake = cluster(
        replica_set("web").replicas(1),
        vec![
            pod("relabelled")
                .labels(&[("app", "debug")])
                .controller("web")
                .also_owned_by("ConfigMap", "cm-uid")
                .ready(),
        ],
    );
    reconcile(&fake).unwrap();
    let released = fake.get::<Pod>(Some(NS), "relabelled").unwrap();
    let references = released.metadata.owner_references.unwrap();
    assert_eq!(references.len(), 1, "only our reference goes");
    assert_eq!(references[0].uid, "cm-uid");
    assert_eq!(
        pods(&fake).iter().filter(|p| owned_by(p, "web")).count(),
        1,
        "a replacement is created"
    );
}

#[test]
fn ignores_terminating_and_finished_pods() {
    let fake = cluster(
        replica_set("web").replicas(2),
        vec![
            pod("done")
                .owned_by("web")
                .node("node-1")
                .phase("Succeeded"),
            pod("failed").owned_by("web").node("node-1").phase("Failed"),
            pod("going").owned_by("web").ready().terminating(),
            pod("orphan-going").labels(&[("app", "web")]).terminating(),
            pod("alive").owned_by("web").ready(),
        ],
    );
    reconcile(&fake).unwrap();
    assert_eq!(
        reasons(&fake),
        ["SuccessfulCreate"],
        "one new pod: alive is the other"
    );
    assert!(
        fake.get::<Pod>(Some(NS), "orphan-going")
            .unwrap()
            .metadata
            .owner_references
            .is_none()
    );
    let status = status(&fake);
    assert_eq!(
        status.replicas, 1,
        "counted before the create, as Kubernetes does"
    );
    assert_eq!(status.terminating_replicas, Some(1));

    // Scaling down never picks what is already going.
    let fake = cluster(
        replica_set("web").replicas(1),
        vec![
            pod("going").owned_by("web").terminating(),
            pod("alive").owned_by("web").ready(),
        ],
    );
    reconcile(&fake).unwrap();
    assert!(fake.events().is_empty());
}

#[test]
fn status_counts_replicas_as_kubernetes_does() {
    let fake = cluster(
        replica_set("web")
            .replicas(5)
            .min_ready_seconds(60)
            .template_labels(&[("app", "web"), ("tier", "front")]),
        vec![
            pod("available")
                .labels(&[("app", "web"), ("tier", "front")])
                .controller("web")
                .ready_for(600),
            pod("warming-up")
                .labels(&[("app", "web"), ("tier", "front")])
                .controller("web")
                .ready_for(20),
            pod("starting")
                .labels(&[("app", "web"), ("tier", "front")])
                .controller("web")
                .running(),
            pod("unlabelled").owned_by("web").ready_for(600),
            pod("pending").owned_by("web"),
        ],
    );
    let action = reconcile(&fake).unwrap();
    let status = status(&fake);
    assert_eq!(status.replicas, 5);
    assert_eq!(status.fully_labeled_replicas, Some(3));
    assert_eq!(status.ready_replicas, Some(3));
    assert_eq!(status.available_replicas, Some(2));
    assert_eq!(status.terminating_replicas, Some(0));
    assert_eq!(status.observed_generation, Some(1));
    assert!(status.conditions.is_none());
    // warming-up becomes available 40 s from now.
    assert_eq!(action, Action::RequeueAfter(Duration::from_millis(40_001)));
    assert!(fake.events().is_empty());
}

#[test]
fn becomes_available_after_min_ready_seconds() {
    let fake = cluster(
        replica_set("web").replicas(1).min_ready_seconds(30),
        vec![pod("a").owned_by("web").ready_for(0)],
    );
    let Action::RequeueAfter(after) = reconcile(&fake).unwrap() else {
        panic!("expected a requeue")
    };
    assert_eq!(status(&fake).available_replicas, None);
    fake.advance(after);
    assert_eq!(reconcile(&fake).unwrap(), Action::Done);
    assert_eq!(status(&fake).available_replicas, Some(1));
}

#[test]
fn observed_generation_follows_the_spec() {
    let fake = cluster(
        replica_set("web").replicas(1),
        vec![pod("a").owned_by("web")],
    );
    reconcile(&fake).unwrap();
    assert_eq!(status(&fake).observed_generation, Some(1));
    let mut replica_set = fake.get::<ReplicaSet>(Some(NS), "web").unwrap();
    replica_set.spec.replicas = Some(2);
    fake.context().update(&replica_set).unwrap();
    reconcile(&fake).unwrap();
    assert_eq!(status(&fake).observed_generation, Some(2));
}

#[test]
fn clears_the_replica_failure_condition_once_creates_succeed() {
    let fake = cluster(replica_set("web").replicas(2), vec![]);
    fail_creates_from(&fake, 1);
    assert!(reconcile(&fake).is_err());
    assert!(status(&fake).conditions.is_some());
    fake.clear_failures();
    reconcile(&fake).unwrap();
    assert!(status(&fake).conditions.is_none());
    assert_eq!(pods(&fake).len(), 2);
}

#[test]
fn is_idempotent() {
    let cases: Vec<(&str, ReplicaSetBuilder, Vec<PodBuilder>)> = vec![
        (
            "scaled up from zero",
            replica_set("web").replicas(3),
            vec![],
        ),
        (
            "scaled down",
            replica_set("web").replicas(1),
            vec![pod("a").owned_by("web"), pod("b").owned_by("web").ready()],
        ),
        (
            "adopted and released",
            replica_set("web").replicas(1),
            vec![
                pod("orphan").labels(&[("app", "web")]),
                pod("stray").labels(&[("app", "x")]).controller("web"),
            ],
        ),
        (
            "ready pods",
            replica_set("web").replicas(2),
            vec![
                pod("a").owned_by("web").ready(),
                pod("b").owned_by("web").ready(),
            ],
        ),
        (
            "terminating pods",
            replica_set("web").replicas(1),
            vec![
                pod("a").owned_by("web").terminating(),
                pod("b").owned_by("web"),
            ],
        ),
    ];
    for (name, replica_set, pods) in cases {
        let fake = cluster(replica_set, pods);
        reconcile(&fake).unwrap();
        reconcile(&fake).unwrap(); // the status catches up with the first pass's changes
        fake.clear_calls();
        let revision = fake.revision();
        reconcile(&fake).unwrap();
        assert_eq!(fake.writes(), [], "{name}");
        assert_eq!(fake.revision(), revision, "{name}");
        assert!(fake.events().is_empty(), "{name}");
    }
}

#[test]
fn converges_in_two_reconciles_and_then_writes_nothing() {
    let fake = cluster(replica_set("web").replicas(3), vec![]);
    reconcile(&fake).unwrap();
    assert_eq!(status(&fake).replicas, 0, "counted before creating");
    reconcile(&fake).unwrap();
    assert_eq!(status(&fake).replicas, 3);
    assert_eq!(
        fake.writes()
            .iter()
            .filter(|w| w.verb == Verb::UpdateStatus)
            .count(),
        2
    );
}

#[test]
fn does_nothing_when_the_replica_set_is_gone() {
    let fake = FakeCluster::new();
    fake.add(pod("a").owned_by("web").build());
    assert_eq!(reconcile(&fake).unwrap(), Action::Done);
    assert_eq!(fake.writes(), []);
    assert_eq!(pods(&fake).len(), 1);
}

#[test]
fn an_invalid_selector_is_logged_not_retried() {
    let mut bad = replica_set("web").build();
    bad.spec.selector.match_expressions = Some(vec![Default::default()]);
    let fake = FakeCluster::new();
    fake.add(bad);
    assert_eq!(reconcile(&fake).unwrap(), Action::Done);
    assert_eq!(fake.writes(), []);
    assert!(
        fake.logs()
            .iter()
            .any(|(_, message)| message.contains("invalid selector"))
    );
}

#[test]
fn a_stale_pod_cache_does_not_make_it_create_twice() {
    let controller = ReplicaSetController::default();
    let fake = cluster(replica_set("web").replicas(3), vec![]);
    fake.freeze_cache(); // reads stay where they are now: no pods
    fake.run_with(&controller, KEY).unwrap();
    assert_eq!(pods(&fake).len(), 3);

    // The cache has not seen the new pods (nor the new status: that write conflicts and is retried later).
    let result = fake.run_with(&controller, KEY);
    assert!(matches!(result, Err(Error::Conflict(_))), "{result:?}");
    assert_eq!(pods(&fake).len(), 3, "expectations held the creates back");

    // A controller without those expectations would have doubled up.
    let forgetful = ReplicaSetController::default();
    let _ = fake.run_with(&forgetful, KEY);
    assert_eq!(pods(&fake).len(), 6);
}

#[test]
fn registers_replica_sets_owning_pods() {
    let registration =
        <ReplicaSetController as Controller>::registration(&serde_json::json!({})).unwrap();
    assert_eq!(registration.primary.to_string(), "apps/v1, Kind=ReplicaSet");
    assert_eq!(
        registration
            .owns
            .iter()
            .map(|kind| kind.to_string())
            .collect::<Vec<_>>(),
        ["v1, Kind=Pod"]
    );
    assert!(registration.reads.is_empty());
}
