//! Scaling outside a rollout: a finished Deployment, a paused one, and the
//! proportional scaling of a rollout in progress.

use super::*;
use crate::spec::ResolvedSpec;

#[test]
fn scaling_a_finished_deployment_resizes_its_replica_set_and_its_annotations() {
    let cases = [(3, 5, "up", 7), (3, 1, "down", 2), (3, 0, "down", 0)];
    for (from, to, direction, max_replicas) in cases {
        let cluster = Cluster::new(deployment("web").replicas(from).build());
        cluster.settle();
        cluster.events();
        cluster.scale(to);
        cluster.reconcile();
        let replica_set = cluster.revision(1);
        assert_eq!(rs::replicas(&replica_set), to, "{from} -> {to}");
        let annotations = replica_set.metadata.annotations.clone().unwrap();
        assert_eq!(annotations[annotation::DESIRED_REPLICAS], to.to_string());
        assert_eq!(
            annotations[annotation::MAX_REPLICAS],
            max_replicas.to_string()
        );
        let name = rs::name(&replica_set);
        assert_eq!(
            cluster.events(),
            [format!(
                "ScalingReplicaSet Scaled {direction} replica set {name} to {to} from {from}"
            )]
        );
        cluster.settle();
        assert!(
            rollout_status(&cluster.deployment()).unwrap().1,
            "{from} -> {to}"
        );
    }
}

#[test]
fn a_paused_deployment_does_not_roll_out_a_new_template_but_scales() {
    let cluster = Cluster::new(deployment("web").build());
    cluster.settle();
    cluster.edit(|d| d.spec.paused = Some(true));
    cluster.set_image("nginx:2");
    cluster.settle();
    let [only] = cluster
        .replica_sets()
        .try_into()
        .expect("no new ReplicaSet while paused");
    assert_eq!(image_of(&only), "nginx:1");
    assert_eq!(
        cluster.progressing_reason().as_deref(),
        Some(reason::DEPLOYMENT_PAUSED)
    );
    let progressing = conditions::get(&cluster.status(), condition::PROGRESSING)
        .unwrap()
        .clone();
    assert_eq!(
        (
            progressing.status.as_deref(),
            progressing.message.as_deref()
        ),
        (Some("Unknown"), Some("Deployment is paused"))
    );
    assert_eq!(
        rollout_status(&cluster.deployment()).unwrap(),
        ("Waiting for deployment \"web\" rollout to finish: 0 out of 3 new replicas have been updated...".to_owned(), false),
        "kubectl waits for a paused rollout"
    );

    cluster.scale(5);
    cluster.settle();
    assert_eq!(cluster.sizes(), [5]);
    assert_eq!(image_of(&cluster.revision(1)), "nginx:1");

    cluster.edit(|d| d.spec.paused = Some(false));
    cluster.reconcile();
    // Resumed, then at once the new ReplicaSet of the rollout.
    assert_eq!(
        cluster.progressing_reason().as_deref(),
        Some(reason::NEW_REPLICA_SET_CREATED)
    );
    cluster.settle();
    assert_eq!(cluster.sizes(), [0, 5]);
    assert_eq!(image_of(&cluster.revision(2)), "nginx:2");
    assert_eq!(
        cluster.progressing_reason().as_deref(),
        Some(reason::NEW_REPLICA_SET_AVAILABLE)
    );
}

#[test]
fn scaling_in_the_middle_of_a_rollout_is_spread_in_proportion() {
    // A stuck rollout of 10 (maxSurge 25% = 3, maxUnavailable 2): old 8, new 5, annotated max 13.
    // (new replicas, sizes after) — 20 allows 25 pods: 8·25/13 ≈ 15, 5·25/13 ≈ 10;
    // 5 allows 7: 8·7/13 ≈ 4, 5·7/13 ≈ 3.
    let cases = [(20, [15, 10], "up"), (5, [4, 3], "down"), (10, [8, 5], "")];
    for (replicas, expected, direction) in cases {
        let cluster = Cluster::new(deployment("web").replicas(10).build());
        cluster.settle();
        cluster.set_image("nginx:2");
        cluster.settle_with(Pods::NeverReady);
        assert_eq!(cluster.sizes(), [8, 5]);
        cluster.events();

        cluster.scale(replicas);
        cluster.reconcile();
        assert_eq!(cluster.sizes(), expected, "scaled to {replicas}");
        let max = ResolvedSpec::of(&cluster.deployment())
            .unwrap()
            .max_replicas();
        for replica_set in cluster.replica_sets() {
            let annotations = replica_set.metadata.annotations.unwrap();
            assert_eq!(
                annotations[annotation::DESIRED_REPLICAS],
                replicas.to_string()
            );
            assert_eq!(annotations[annotation::MAX_REPLICAS], max.to_string());
        }
        let events = cluster.events();
        if direction.is_empty() {
            assert_eq!(events, Vec::<String>::new());
        } else {
            assert_eq!(events.len(), 2, "{events:?}");
            assert!(events.iter().all(|e| {
                e.starts_with(&format!("ScalingReplicaSet Scaled {direction} replica set"))
            }));
        }
    }
}

#[test]
fn scaling_a_paused_deployment_mid_rollout_keeps_both_replica_sets_in_proportion() {
    let cluster = Cluster::new(deployment("web").replicas(10).build());
    cluster.settle();
    cluster.set_image("nginx:2");
    cluster.settle_with(Pods::NeverReady);
    cluster.edit(|d| d.spec.paused = Some(true));
    cluster.scale(20);
    cluster.settle_with(Pods::NeverReady);
    assert_eq!(cluster.sizes(), [15, 10]);
    assert_eq!(cluster.replica_sets().len(), 2);
}
