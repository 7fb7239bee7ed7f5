//! The status and conditions `kubectl rollout status` reads.

use std::time::Duration;

use wharf_sdk::k8s_openapi::api::apps::v1::ReplicaSetCondition;

use super::*;

#[test]
fn rollout_status_follows_a_rolling_update_to_success() {
    let cluster = Cluster::new(
        deployment("web")
            .replicas(4)
            .rolling_update("1", "1")
            .build(),
    );
    cluster.settle();
    cluster.set_image("nginx:2");
    let mut seen = vec![rollout_status(&cluster.deployment()).unwrap().0];
    for _ in 0..20 {
        cluster.reconcile();
        cluster.run_replica_sets(Pods::ReadyNextRound);
        let (message, done) = rollout_status(&cluster.deployment()).unwrap();
        if seen.last() != Some(&message) {
            seen.push(message);
        }
        if done {
            break;
        }
    }
    let waiting =
        |what: &str| format!("Waiting for deployment \"web\" rollout to finish: {what}...");
    assert_eq!(
        seen,
        [
            "Waiting for deployment spec update to be observed...".to_owned(),
            waiting("0 out of 4 new replicas have been updated"),
            waiting("1 out of 4 new replicas have been updated"),
            waiting("2 out of 4 new replicas have been updated"),
            waiting("3 out of 4 new replicas have been updated"),
            waiting("1 old replicas are pending termination"),
            "deployment \"web\" successfully rolled out".to_owned(),
        ]
    );

    let deployment = cluster.deployment();
    let status = deployment.status.clone().unwrap();
    assert_eq!(status.observed_generation, deployment.metadata.generation);
    let counts = (
        status.replicas,
        status.updated_replicas,
        status.ready_replicas,
        status.available_replicas,
    );
    assert_eq!(counts, (Some(4), Some(4), Some(4), Some(4)));
    assert_eq!(
        status.unavailable_replicas, None,
        "zero is left out, as Go's omitempty does"
    );
    assert_eq!(status.terminating_replicas, Some(0));
    let new = rs::name(&cluster.revision(2)).to_owned();
    let expected = [
        (
            condition::AVAILABLE,
            "True",
            reason::MINIMUM_REPLICAS_AVAILABLE,
            "Deployment has minimum availability.".to_owned(),
        ),
        (
            condition::PROGRESSING,
            "True",
            reason::NEW_REPLICA_SET_AVAILABLE,
            format!("ReplicaSet \"{new}\" has successfully progressed."),
        ),
    ];
    for (type_, status_value, reason, message) in expected {
        let condition =
            conditions::get(&status, type_).unwrap_or_else(|| panic!("no {type_} condition"));
        assert_eq!(condition.status.as_deref(), Some(status_value), "{type_}");
        assert_eq!(condition.reason.as_deref(), Some(reason), "{type_}");
        assert_eq!(
            condition.message.as_deref(),
            Some(message.as_str()),
            "{type_}"
        );
    }
    assert_eq!(cluster.reconcile(), Action::Done);

    // Scaled up, the new pods take a round to become available.
    cluster.scale(6);
    cluster.reconcile();
    cluster.run_replica_sets(Pods::ReadyNextRound);
    cluster.reconcile();
    assert_eq!(
        rollout_status(&cluster.deployment()).unwrap(),
        (waiting("4 of 6 updated replicas are available"), false)
    );
}

#[test]
fn a_rollout_without_progress_exceeds_its_deadline_and_rollout_status_fails() {
    let cluster = Cluster::new(deployment("web").progress_deadline_seconds(60).build());
    cluster.settle();
    cluster.set_image("nginx:broken");
    let action = cluster.settle_with(Pods::NeverReady);
    let Action::RequeueAfter(after) = action else {
        panic!("a stuck rollout must be looked at again: {action:?}")
    };
    assert!(
        after > Duration::from_secs(55) && after <= Duration::from_secs(61),
        "{after:?}"
    );
    assert_eq!(
        cluster.progressing_reason().as_deref(),
        Some(reason::REPLICA_SET_UPDATED)
    );
    let (message, done) = rollout_status(&cluster.deployment()).unwrap();
    assert!(
        !done && message.contains("new replicas have been updated"),
        "{message}"
    );

    cluster.fake.advance(Duration::from_secs(30));
    cluster.reconcile();
    assert_eq!(
        cluster.progressing_reason().as_deref(),
        Some(reason::REPLICA_SET_UPDATED),
        "not yet"
    );

    cluster.fake.advance(Duration::from_secs(31));
    assert_eq!(
        cluster.reconcile(),
        Action::Done,
        "nothing to wait for once timed out"
    );
    let status = cluster.status();
    let progressing = conditions::get(&status, condition::PROGRESSING).unwrap();
    let new = rs::name(&cluster.revision(2)).to_owned();
    assert_eq!(progressing.status.as_deref(), Some("False"));
    assert_eq!(
        progressing.message,
        Some(format!("ReplicaSet \"{new}\" has timed out progressing."))
    );
    assert_eq!(
        rollout_status(&cluster.deployment()),
        Err("deployment \"web\" exceeded its progress deadline".to_owned())
    );

    // A fix rolls out again and clears the failure.
    cluster.set_image("nginx:2");
    cluster.settle();
    assert!(rollout_status(&cluster.deployment()).unwrap().1);
}

#[test]
fn pausing_keeps_a_slow_rollout_from_timing_out() {
    let cluster = Cluster::new(deployment("web").progress_deadline_seconds(60).build());
    cluster.settle();
    cluster.set_image("nginx:2");
    cluster.settle_with(Pods::NeverReady);
    cluster.edit(|d| d.spec.paused = Some(true));
    cluster.reconcile();
    cluster.fake.advance(Duration::from_secs(3600));
    cluster.reconcile();
    assert_eq!(
        cluster.progressing_reason().as_deref(),
        Some(reason::DEPLOYMENT_PAUSED)
    );
    cluster.edit(|d| d.spec.paused = Some(false));
    cluster.reconcile();
    assert_eq!(
        cluster.progressing_reason().as_deref(),
        Some(reason::DEPLOYMENT_RESUMED)
    );
    cluster.settle();
    assert_eq!(
        cluster.progressing_reason().as_deref(),
        Some(reason::NEW_REPLICA_SET_AVAILABLE)
    );
}

#[test]
fn the_available_condition_needs_replicas_minus_max_unavailable_available_pods() {
    // (replicas, maxUnavailable, available pods, Available)
    let cases = [
        (4, "1", 3, "True"),
        (4, "1", 2, "False"),
        (4, "0", 3, "False"),
        (10, "25%", 8, "True"),
        (10, "25%", 7, "False"),
    ];
    for (replicas, unavailable, available, expected) in cases {
        let cluster = Cluster::new(
            deployment("web")
                .replicas(replicas)
                .rolling_update("1", unavailable)
                .build(),
        );
        cluster.reconcile();
        let name = rs::name(&cluster.revision(1)).to_owned();
        cluster.set_replica_set_status(&name, replicas, available);
        cluster.reconcile();
        let status = cluster.status();
        let condition = conditions::get(&status, condition::AVAILABLE).unwrap();
        assert_eq!(
            condition.status.as_deref(),
            Some(expected),
            "{replicas} {unavailable} {available}"
        );
        let reason = if expected == "True" {
            reason::MINIMUM_REPLICAS_AVAILABLE
        } else {
            reason::MINIMUM_REPLICAS_UNAVAILABLE
        };
        assert_eq!(condition.reason.as_deref(), Some(reason));
        assert_eq!(
            status.unavailable_replicas,
            (replicas - available != 0).then_some(replicas - available)
        );
    }
}

#[test]
fn a_replica_failure_of_a_replica_set_becomes_the_deployments() {
    let cluster = Cluster::new(deployment("web").build());
    cluster.settle();
    let name = rs::name(&cluster.revision(1)).to_owned();
    let failure = ReplicaSetCondition {
        type_: Some("ReplicaFailure".to_owned()),
        status: Some("True".to_owned()),
        reason: Some("FailedCreate".to_owned()),
        message: Some("pods \"web-x\" is forbidden: exceeded quota".to_owned()),
        last_transition_time: Some(cluster.fake.context().now()),
    };
    cluster
        .fake
        .modify::<ReplicaSet>(Some(NAMESPACE), &name, |r| {
            r.status.as_mut().unwrap().conditions = Some(vec![failure])
        });
    cluster.reconcile();
    let condition = conditions::get(&cluster.status(), condition::REPLICA_FAILURE)
        .cloned()
        .expect("promoted");
    assert_eq!(condition.reason.as_deref(), Some("FailedCreate"));
    cluster
        .fake
        .modify::<ReplicaSet>(Some(NAMESPACE), &name, |r| {
            r.status.as_mut().unwrap().conditions = None
        });
    cluster.reconcile();
    assert!(conditions::get(&cluster.status(), condition::REPLICA_FAILURE).is_none());
}

#[test]
fn without_a_progress_deadline_there_is_no_progressing_condition() {
    let cluster = Cluster::new(
        deployment("web")
            .progress_deadline_seconds(i32::MAX)
            .build(),
    );
    assert_eq!(cluster.reconcile(), Action::Done);
    cluster.set_image("nginx:2");
    cluster.settle_with(Pods::NeverReady);
    assert_eq!(cluster.progressing_reason(), None);
    assert!(conditions::get(&cluster.status(), condition::AVAILABLE).is_some());
}
