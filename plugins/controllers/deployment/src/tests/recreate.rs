//! Recreate: every old pod is gone before a new one starts.

use wharf_sdk::k8s_openapi::api::core::v1::{Pod, PodStatus};

use super::*;

/// A pod of `owner` in `phase`.
fn pod(name: &str, owner: &ReplicaSet, phase: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(NAMESPACE.to_owned()),
            labels: rs::template(owner).metadata.unwrap().labels,
            owner_references: Some(vec![owner_reference(owner)]),
            ..ObjectMeta::default()
        },
        spec: None,
        status: Some(PodStatus {
            phase: Some(phase.to_owned()),
            ..PodStatus::default()
        }),
    }
}

#[test]
fn recreate_scales_the_old_replica_set_down_waits_for_its_pods_then_scales_the_new_one_up() {
    let cluster = Cluster::new(deployment("web").recreate().build());
    cluster.settle();
    let old = cluster.revision(1);
    cluster.fake.add(pod("web-old-1", &old, "Running"));
    cluster.events();
    cluster.set_image("nginx:2");

    cluster.reconcile();
    assert_eq!(
        cluster.sizes(),
        [0],
        "old scaled to zero, no new ReplicaSet yet"
    );
    assert_eq!(
        cluster.events(),
        [format!(
            "ScalingReplicaSet Scaled down replica set {} to 0 from 3",
            rs::name(&old)
        )]
    );
    assert_eq!(
        rollout_status(&cluster.deployment()).unwrap().0,
        "Waiting for deployment \"web\" rollout to finish: 0 out of 3 new replicas have been updated..."
    );

    // The ReplicaSet counts no pods, but one still runs (terminating).
    cluster.run_replica_sets(Pods::ReadyAtOnce);
    // No polling: the pod's deletion wakes the Deployment; only the
    // progress deadline (600 s) is waited for.
    assert_eq!(
        cluster.reconcile(),
        Action::RequeueAfter(std::time::Duration::from_secs(601))
    );
    assert_eq!(cluster.sizes(), [0]);

    cluster.fake.remove::<Pod>(Some(NAMESPACE), "web-old-1");
    cluster.reconcile();
    assert_eq!(cluster.sizes(), [0, 3]);
    let new = cluster.revision(2);
    assert_eq!(image_of(&new), "nginx:2");
    assert_eq!(
        cluster.events(),
        [format!(
            "ScalingReplicaSet Scaled up replica set {} to 3",
            rs::name(&new)
        )]
    );
    cluster.settle();
    assert!(rollout_status(&cluster.deployment()).unwrap().1);
}

#[test]
fn old_pods_hold_a_recreate_rollout_until_they_finish() {
    let cases = [
        ("Running", true),
        ("Pending", true),
        ("Unknown", true),
        ("Succeeded", false),
        ("Failed", false),
    ];
    for (phase, holds) in cases {
        let cluster = Cluster::new(deployment("web").recreate().build());
        cluster.settle();
        let old = cluster.revision(1);
        cluster.set_image("nginx:2");
        cluster.reconcile();
        cluster.run_replica_sets(Pods::ReadyAtOnce);
        cluster.fake.add(pod("web-old-1", &old, phase));
        cluster.reconcile();
        assert_eq!(cluster.replica_sets().len() == 1, holds, "a {phase} pod");
    }
}

#[test]
fn an_old_replica_set_still_counting_pods_holds_a_recreate_rollout() {
    let cluster = Cluster::new(deployment("web").recreate().build());
    cluster.settle();
    let old = cluster.revision(1);
    cluster.set_image("nginx:2");
    cluster.reconcile();
    // Its controller has not caught up: 2 pods still counted.
    cluster.set_replica_set_status(rs::name(&old), 2, 2);
    cluster.reconcile();
    assert_eq!(cluster.sizes(), [0]);
    cluster.set_replica_set_status(rs::name(&old), 0, 0);
    cluster.reconcile();
    assert_eq!(cluster.sizes(), [0, 3]);
}
