//! RollingUpdate, step by step, with pods turning available a round after
//! they start.

use super::*;

/// Rolls `cluster` (settled at revision 1) to `nginx:2`, one reconcile and
/// one ReplicaSet-controller round at a time; checks the bounds after each
/// and returns the (old, new) sizes after each reconcile.
fn roll(cluster: &Cluster, replicas: i32, surge: i32, unavailable: i32) -> Vec<(i32, i32)> {
    cluster.set_image("nginx:2");
    let mut trace = Vec::new();
    for _ in 0..40 {
        cluster.reconcile();
        let sizes = cluster.sizes();
        assert!(
            sizes.iter().sum::<i32>() <= replicas + surge,
            "more than replicas + maxSurge: {sizes:?}"
        );
        if let [old, new] = sizes[..]
            && trace.last() != Some(&(old, new))
        {
            trace.push((old, new));
        }
        cluster.run_replica_sets(Pods::ReadyNextRound);
        let available: i32 = cluster
            .replica_sets()
            .iter()
            .map(rs::available_replicas)
            .sum();
        assert!(
            available >= replicas - unavailable,
            "fewer than replicas - maxUnavailable available: {available}"
        );
        if rollout_status(&cluster.deployment()).unwrap().1 {
            return trace;
        }
    }
    panic!("the rollout did not finish: {trace:?}");
}

#[test]
fn a_rolling_update_stays_within_max_surge_and_max_unavailable_at_every_step() {
    // (replicas, maxSurge, maxUnavailable, resolved surge, resolved unavailable)
    let cases = [
        (4, "1", "1", 1, 1),
        (10, "25%", "25%", 3, 2),
        (5, "0", "1", 0, 1),
        (5, "2", "0", 2, 0),
        (3, "100%", "0", 3, 0),
        (1, "25%", "25%", 1, 0),
        (2, "0%", "1%", 0, 1),
        (7, "30%", "40%", 3, 2),
    ];
    for (replicas, surge, unavailable, resolved_surge, resolved_unavailable) in cases {
        let cluster = Cluster::new(
            deployment("web")
                .replicas(replicas)
                .rolling_update(surge, unavailable)
                .build(),
        );
        cluster.settle();
        let trace = roll(&cluster, replicas, resolved_surge, resolved_unavailable);
        assert_eq!(
            trace.last(),
            Some(&(0, replicas)),
            "{replicas} {surge} {unavailable}: {trace:?}"
        );
        let status = cluster.status();
        assert_eq!(status.updated_replicas, Some(replicas));
        assert_eq!(image_of(&cluster.revision(2)), "nginx:2");
    }
}

#[test]
fn four_replicas_with_one_surge_and_one_unavailable_roll_in_these_steps() {
    let cluster = Cluster::new(
        deployment("web")
            .replicas(4)
            .rolling_update("1", "1")
            .build(),
    );
    cluster.settle();
    cluster.events();
    let trace = roll(&cluster, 4, 1, 1);
    assert_eq!(
        trace,
        [(3, 1), (3, 2), (2, 2), (2, 3), (1, 3), (1, 4), (0, 4)]
    );
    let (old, new) = (
        rs::name(&cluster.revision(1)).to_owned(),
        rs::name(&cluster.revision(2)).to_owned(),
    );
    let expected = [
        format!("ScalingReplicaSet Scaled up replica set {new} to 1"),
        format!("ScalingReplicaSet Scaled down replica set {old} to 3 from 4"),
        format!("ScalingReplicaSet Scaled up replica set {new} to 2 from 1"),
        format!("ScalingReplicaSet Scaled down replica set {old} to 2 from 3"),
        format!("ScalingReplicaSet Scaled up replica set {new} to 3 from 2"),
        format!("ScalingReplicaSet Scaled down replica set {old} to 1 from 2"),
        format!("ScalingReplicaSet Scaled up replica set {new} to 4 from 3"),
        format!("ScalingReplicaSet Scaled down replica set {old} to 0 from 1"),
    ];
    assert_eq!(cluster.events(), expected);
    assert_eq!(
        cluster.deployment().metadata.annotations.unwrap()[annotation::REVISION],
        "2"
    );
}

#[test]
fn new_pods_that_never_become_available_hold_the_old_ones_and_an_undo_removes_them_first() {
    // Kubernetes' example: 10 replicas, maxSurge 3, maxUnavailable 2.
    let cluster = Cluster::new(
        deployment("web")
            .replicas(10)
            .rolling_update("3", "2")
            .build(),
    );
    cluster.settle();
    cluster.set_image("nginx:broken");
    cluster.settle_with(Pods::NeverReady);
    assert_eq!(
        cluster.sizes(),
        [8, 5],
        "old scaled to 8, new to 5, then stuck"
    );
    let status = cluster.status();
    assert_eq!(
        (status.available_replicas, status.unavailable_replicas),
        (Some(8), Some(5))
    );

    rollout_undo(&cluster, 0).unwrap();
    cluster.reconcile();
    // The broken new pods go first; the available old ones stay.
    let broken = cluster
        .replica_sets()
        .into_iter()
        .find(|r| image_of(r) == "nginx:broken")
        .unwrap();
    assert_eq!(rs::replicas(&broken), 0);
    cluster.settle();
    let good = cluster
        .replica_sets()
        .into_iter()
        .find(|r| image_of(r) == "nginx:1")
        .unwrap();
    assert_eq!((rs::replicas(&good), rs::revision(&good)), (10, Ok(3)));
}

#[test]
fn a_new_template_mid_rollout_rolls_over_and_drains_both_old_replica_sets() {
    let cluster = Cluster::new(deployment("web").replicas(10).build());
    cluster.settle();
    cluster.set_image("nginx:2");
    for _ in 0..3 {
        cluster.reconcile();
        cluster.run_replica_sets(Pods::ReadyNextRound);
    }
    assert!(
        matches!(cluster.sizes()[..], [old, mid] if old > 0 && mid > 0),
        "{:?}",
        cluster.sizes()
    );
    cluster.set_image("nginx:3");
    cluster.settle_with(Pods::ReadyNextRound);
    assert_eq!(cluster.sizes(), [0, 0, 10]);
    assert_eq!(image_of(&cluster.revision(3)), "nginx:3");
}
