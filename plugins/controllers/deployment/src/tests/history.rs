//! Revisions: `kubectl rollout history`, `revisionHistoryLimit`, and
//! `kubectl rollout undo` (and the deprecated rollback annotation).

use super::*;

/// Sets a new image with a change-cause, as `kubectl set image … --record` did.
fn set_image_because(cluster: &Cluster, image: &str, cause: &str) {
    cluster.edit(|d| {
        set_image(d, image);
        d.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(annotation::CHANGE_CAUSE.to_owned(), cause.to_owned());
    });
    cluster.settle();
}

fn history(entries: &[(i64, &str)]) -> Vec<(i64, Option<String>)> {
    entries
        .iter()
        .map(|(revision, cause)| (*revision, Some(cause.to_string())))
        .collect()
}

#[test]
fn each_new_template_is_the_next_revision_with_its_change_cause() {
    let cluster = Cluster::new(
        deployment("web")
            .annotation(annotation::CHANGE_CAUSE, "kubectl create")
            .annotation(annotation::LAST_APPLIED_CONFIGURATION, "{}")
            .build(),
    );
    cluster.settle();
    set_image_because(&cluster, "nginx:2", "kubectl set image nginx:2");
    set_image_because(&cluster, "nginx:3", "kubectl set image nginx:3");

    assert_eq!(
        rollout_history(&cluster),
        history(&[
            (1, "kubectl create"),
            (2, "kubectl set image nginx:2"),
            (3, "kubectl set image nginx:3")
        ])
    );
    let annotations = cluster.deployment().metadata.annotations.unwrap();
    assert_eq!(annotations[annotation::REVISION], "3");
    assert_eq!(cluster.sizes(), [0, 0, 3]);
    // kubectl's last-applied copy stays on the Deployment.
    for replica_set in cluster.replica_sets() {
        assert_eq!(
            rs::annotation_of(&replica_set, annotation::LAST_APPLIED_CONFIGURATION),
            None
        );
    }
}

#[test]
fn old_replica_sets_beyond_the_revision_history_limit_are_deleted_oldest_first() {
    // (revisionHistoryLimit, revisions left after six templates)
    let cases: [(i32, &[i64]); 4] = [
        (0, &[6]),
        (1, &[5, 6]),
        (3, &[3, 4, 5, 6]),
        (10, &[1, 2, 3, 4, 5, 6]),
    ];
    for (limit, left) in cases {
        let cluster = Cluster::new(deployment("web").revision_history_limit(limit).build());
        cluster.settle();
        for version in 2..=6 {
            cluster.set_image(&format!("nginx:{version}"));
            cluster.settle();
        }
        let revisions: Vec<i64> = cluster
            .replica_sets()
            .iter()
            .map(|r| rs::revision(r).unwrap())
            .collect();
        assert_eq!(revisions, left, "revisionHistoryLimit {limit}");
        assert_eq!(image_of(cluster.replica_sets().last().unwrap()), "nginx:6");
    }
}

#[test]
fn cleanup_keeps_old_replica_sets_that_still_count_pods_or_are_not_yet_observed() {
    let cluster = Cluster::new(deployment("web").build());
    cluster.settle();
    for version in 2..=4 {
        cluster.set_image(&format!("nginx:{version}"));
        cluster.settle();
    }
    let name = |revision| rs::name(&cluster.revision(revision)).to_owned();
    // Revision 2 is scaled to zero but its controller still counts a
    // terminating pod; revision 3's controller has not seen its last change.
    cluster.set_replica_set_status(&name(2), 1, 0);
    cluster
        .fake
        .modify::<ReplicaSet>(Some(NAMESPACE), &name(3), |r| {
            r.status.as_mut().unwrap().observed_generation = Some(0);
        });
    // A paused Deployment is cleaned up on every sync.
    cluster.edit(|d| {
        d.spec.revision_history_limit = Some(0);
        d.spec.paused = Some(true);
    });
    cluster.reconcile();
    let revisions: Vec<i64> = cluster
        .replica_sets()
        .iter()
        .map(|r| rs::revision(r).unwrap())
        .collect();
    assert_eq!(revisions, [2, 3, 4]);
}

#[test]
fn rollout_undo_reuses_the_old_replica_set_and_gives_it_the_next_revision() {
    let cluster = Cluster::new(deployment("web").build());
    cluster.settle();
    let first = cluster.revision(1);
    cluster.set_image("nginx:2");
    cluster.settle();
    let second = cluster.revision(2);
    cluster.events();

    assert_eq!(
        rollout_undo(&cluster, 0),
        Ok("deployment.apps/web rolled back".to_owned())
    );
    assert_eq!(
        rollout_status(&cluster.deployment()).unwrap().0,
        "Waiting for deployment spec update to be observed..."
    );
    cluster.settle();

    assert_eq!(
        cluster.replica_sets().len(),
        2,
        "no new ReplicaSet: the old one is reused"
    );
    let reused = cluster.revision(3);
    assert_eq!(rs::name(&reused), rs::name(&first));
    assert_eq!(
        rs::annotation_of(&reused, annotation::REVISION_HISTORY),
        Some("1")
    );
    assert_eq!(
        (rs::replicas(&reused), rs::replicas(&cluster.revision(2))),
        (3, 0)
    );
    assert_eq!(
        cluster.deployment().metadata.annotations.unwrap()[annotation::REVISION],
        "3"
    );
    assert!(rollout_status(&cluster.deployment()).unwrap().1);
    let events = cluster.events();
    assert!(
        events.contains(&format!(
            "ScalingReplicaSet Scaled up replica set {} to 1 from 0",
            rs::name(&first)
        )),
        "{events:?}"
    );
    assert!(
        events.contains(&format!(
            "ScalingReplicaSet Scaled down replica set {} to 0 from 1",
            rs::name(&second)
        )),
        "{events:?}"
    );

    // Undo again: back to nginx:2 as revision 4.
    rollout_undo(&cluster, 0).unwrap();
    cluster.settle();
    let again = cluster.revision(4);
    assert_eq!(
        (rs::name(&again), image_of(&again)),
        (rs::name(&second), "nginx:2".to_owned())
    );
    assert_eq!(
        rs::annotation_of(&again, annotation::REVISION_HISTORY),
        Some("2")
    );
    // To a named revision, and to the current one (skipped by kubectl).
    rollout_undo(&cluster, 3).unwrap();
    cluster.settle();
    assert_eq!(image_of(&cluster.revision(5)), "nginx:1");
    assert_eq!(
        rs::annotation_of(&cluster.revision(5), annotation::REVISION_HISTORY),
        Some("1,3")
    );
    assert_eq!(
        rollout_undo(&cluster, 5),
        Ok(
            "deployment.apps/web skipped rollback (current template already matches revision 5)"
                .to_owned()
        )
    );
}

#[test]
fn rollout_undo_brings_the_revisions_change_cause_back() {
    let cluster = Cluster::new(
        deployment("web")
            .annotation(annotation::CHANGE_CAUSE, "kubectl create")
            .build(),
    );
    cluster.settle();
    set_image_because(&cluster, "nginx:2", "kubectl set image nginx:2");
    rollout_undo(&cluster, 1).unwrap();
    cluster.settle();
    assert_eq!(
        rollout_history(&cluster),
        history(&[(2, "kubectl set image nginx:2"), (3, "kubectl create")])
    );
    let annotations = cluster.deployment().metadata.annotations.unwrap();
    assert_eq!(annotations[annotation::CHANGE_CAUSE], "kubectl create");
}

#[test]
fn the_deprecated_rollback_annotation_restores_a_revision_and_is_cleared() {
    // (requested revision, image afterwards, event)
    let cases = [
        (
            "0",
            "nginx:1",
            "DeploymentRollback Rolled back deployment \"web\" to revision 1",
        ),
        (
            "1",
            "nginx:1",
            "DeploymentRollback Rolled back deployment \"web\" to revision 1",
        ),
        (
            "2",
            "nginx:2",
            "DeploymentRollbackTemplateUnchanged The rollback revision contains the same template as current deployment \"web\"",
        ),
        (
            "9",
            "nginx:2",
            "DeploymentRollbackRevisionNotFound Unable to find the revision to rollback to.",
        ),
    ];
    for (requested, image, expected_event) in cases {
        let cluster = Cluster::new(deployment("web").build());
        cluster.settle();
        cluster.set_image("nginx:2");
        cluster.settle();
        cluster.events();
        cluster.edit(|d| {
            let annotations = d.metadata.annotations.get_or_insert_with(BTreeMap::new);
            annotations.insert(
                annotation::DEPRECATED_ROLLBACK_TO.to_owned(),
                requested.to_owned(),
            );
        });
        cluster.reconcile();
        let deployment = cluster.deployment();
        assert!(
            !deployment
                .metadata
                .annotations
                .clone()
                .unwrap()
                .contains_key(annotation::DEPRECATED_ROLLBACK_TO)
        );
        assert_eq!(
            cluster.events(),
            [expected_event],
            "rollback to {requested}"
        );
        cluster.settle();
        let newest = cluster.replica_sets().into_iter().last().unwrap();
        assert_eq!(image_of(&newest), image, "rollback to {requested}");
        assert_eq!(rs::replicas(&newest), 3);
    }
}
