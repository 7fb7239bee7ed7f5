//! The controller against the SDK's in-memory cluster, case by case, after
//! kube's `stateful_set_control_test.go` and `stateful_set_test.go` where
//! the fake cluster can play them.

mod builders;

use std::time::Duration;

use builders::{
    NS, SetBuilder, hold, labels, make_ready, make_ready_since, orphan_pod, set_image, set_phase,
    set_rolling_update, stateful_set,
};
use wharf_sdk::history::CONTROLLER_REVISION_HASH_LABEL;
use wharf_sdk::k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use wharf_sdk::k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use wharf_sdk::prelude::*;
use wharf_sdk::testing::{FakeCluster, Verb};

use crate::StatefulSetController;
use crate::identity::{POD_INDEX_LABEL, POD_NAME_LABEL};

const KEY: &str = "default/web";

fn cluster(set: SetBuilder) -> FakeCluster {
    let fake = FakeCluster::new();
    fake.add(set.build());
    fake
}

fn reconcile(fake: &FakeCluster) -> Result<Action, Error> {
    fake.run::<StatefulSetController>(KEY)
}

fn pod_names(fake: &FakeCluster) -> Vec<String> {
    let mut pods = fake.list::<Pod>(Some(NS));
    pods.sort_by_key(crate::identity::ordinal);
    pods.iter()
        .map(|pod| pod.metadata.name.clone().unwrap_or_default())
        .collect()
}

fn pod(fake: &FakeCluster, name: &str) -> Pod {
    fake.get::<Pod>(Some(NS), name)
        .unwrap_or_else(|| panic!("no pod {name}"))
}

fn revision_of(fake: &FakeCluster, name: &str) -> String {
    pod(fake, name).metadata.labels.unwrap()[CONTROLLER_REVISION_HASH_LABEL].clone()
}

fn status(fake: &FakeCluster) -> StatefulSetStatus {
    fake.get::<StatefulSet>(Some(NS), "web")
        .unwrap()
        .status
        .expect("the set has a status")
}

fn revisions(fake: &FakeCluster) -> Vec<ControllerRevision> {
    let mut revisions = fake.list::<ControllerRevision>(Some(NS));
    wharf_sdk::history::sort_revisions(&mut revisions);
    revisions
}

fn messages(fake: &FakeCluster) -> Vec<String> {
    fake.take_events()
        .into_iter()
        .map(|event| format!("{} {}", event.reason, event.message))
        .collect()
}

/// Reconciles, making every pod ready after each pass, until nothing changes.
fn settle(fake: &FakeCluster) {
    for _ in 0..50 {
        let revision = fake.revision();
        reconcile(fake).unwrap();
        for name in pod_names(fake) {
            if !crate::identity::is_running_and_ready(&pod(fake, &name)) {
                make_ready(fake, &name);
            }
        }
        if fake.revision() == revision {
            return;
        }
    }
    panic!("the set did not settle");
}

#[test]
fn pods_are_created_one_at_a_time_with_ordered_ready_and_all_at_once_with_parallel() {
    struct Case {
        name: &'static str,
        set: SetBuilder,
        /// Pods after each reconcile, the pods made ready in between.
        steps: &'static [&'static [&'static str]],
    }
    let cases = [
        Case {
            name: "OrderedReady waits for each pod to be Running and Ready",
            set: stateful_set("web").replicas(3),
            steps: &[
                &["web-0"],
                &["web-0"],
                &["web-0", "web-1"],
                &["web-0", "web-1", "web-2"],
            ],
        },
        Case {
            name: "Parallel creates every pod at once",
            set: stateful_set("web").replicas(3).parallel(),
            steps: &[&["web-0", "web-1", "web-2"]],
        },
        Case {
            name: "ordinals start at spec.ordinals.start",
            set: stateful_set("web").replicas(2).start_ordinal(5).parallel(),
            steps: &[&["web-5", "web-6"]],
        },
    ];
    for case in cases {
        let fake = cluster(case.set);
        for (step, expected) in case.steps.iter().enumerate() {
            reconcile(&fake).unwrap();
            assert_eq!(pod_names(&fake), *expected, "{}: step {step}", case.name);
            // The second step of OrderedReady sees web-0 not yet ready.
            if step > 0 || case.steps.len() == 1 {
                for name in pod_names(&fake) {
                    make_ready(&fake, &name);
                }
            }
        }
    }
}

#[test]
fn a_not_ready_pod_blocks_later_ordinals_but_parallel_goes_on() {
    for (parallel, expected) in [
        (false, vec!["web-0", "web-1"]),
        (true, vec!["web-0", "web-1", "web-2"]),
    ] {
        let set = stateful_set("web").replicas(3);
        let fake = cluster(if parallel { set.parallel() } else { set });
        fake.add(orphan_pod("web-0", &[("app", "web")]));
        make_ready(&fake, "web-0");
        fake.add(orphan_pod("web-1", &[("app", "web")])); // Pending
        reconcile(&fake).unwrap();
        assert_eq!(pod_names(&fake), expected, "parallel: {parallel}");
    }
}

#[test]
fn pods_have_a_stable_identity_labels_and_the_set_as_controller() {
    let fake = cluster(stateful_set("web").replicas(1));
    reconcile(&fake).unwrap();
    let web0 = pod(&fake, "web-0");
    let spec = web0.spec.as_ref().unwrap();
    assert_eq!(spec.hostname.as_deref(), Some("web-0"));
    assert_eq!(spec.subdomain.as_deref(), Some("web-svc"));
    assert_eq!(spec.containers[0].image.as_deref(), Some("nginx:1"));
    let pod_labels = web0.metadata.labels.clone().unwrap();
    assert_eq!(pod_labels["app"], "web");
    assert_eq!(pod_labels[POD_NAME_LABEL], "web-0");
    assert_eq!(pod_labels[POD_INDEX_LABEL], "0");
    assert_eq!(
        Some(&pod_labels[CONTROLLER_REVISION_HASH_LABEL]),
        status(&fake).update_revision.as_ref()
    );
    let owner = controller_of(&web0).unwrap();
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("StatefulSet", "uid-web")
    );
    assert_eq!(
        messages(&fake),
        ["SuccessfulCreate create Pod web-0 in StatefulSet web successful"]
    );
}

#[test]
fn claims_are_created_before_their_pod_and_mounted_by_it() {
    let fake = cluster(stateful_set("web").replicas(1).claim_template("www"));
    reconcile(&fake).unwrap();
    let creates: Vec<(String, String)> = fake
        .calls()
        .into_iter()
        .filter(|call| call.verb == Verb::Create && call.succeeded())
        .map(|call| (call.kind.kind.clone(), call.name.unwrap_or_default()))
        .collect();
    let position = |kind: &str| creates.iter().position(|(k, _)| k == kind).unwrap();
    assert!(
        position("PersistentVolumeClaim") < position("Pod"),
        "{creates:?}"
    );
    let claim = fake
        .get::<PersistentVolumeClaim>(Some(NS), "www-web-0")
        .expect("the claim www-web-0");
    assert_eq!(
        claim.metadata.labels.unwrap(),
        labels(&[("app", "web"), ("tier", "data")])
    );
    assert!(
        claim.metadata.owner_references.is_none(),
        "Retain: no owner"
    );
    let volumes = pod(&fake, "web-0").spec.unwrap().volumes.unwrap();
    assert_eq!(volumes[0].name, "www");
    assert_eq!(
        volumes[0]
            .persistent_volume_claim
            .as_ref()
            .unwrap()
            .claim_name,
        "www-web-0"
    );
    assert_eq!(
        messages(&fake),
        [
            "SuccessfulCreate create Claim www-web-0 Pod web-0 in StatefulSet web success",
            "SuccessfulCreate create Pod web-0 in StatefulSet web successful",
        ]
    );
    // An existing claim is kept as it is.
    fake.remove::<Pod>(Some(NS), "web-0");
    let before = fake
        .get::<PersistentVolumeClaim>(Some(NS), "www-web-0")
        .unwrap();
    reconcile(&fake).unwrap();
    assert_eq!(
        fake.get::<PersistentVolumeClaim>(Some(NS), "www-web-0")
            .unwrap(),
        before
    );
}

#[test]
fn the_retention_policy_makes_the_set_or_the_condemned_pod_own_the_claims() {
    // whenDeleted, whenScaled, owner of www-web-0 (kept), owner of www-web-1 (scaled down)
    let cases: &[(&str, &str, Option<&str>, Option<&str>)] = &[
        ("Retain", "Retain", None, None),
        ("Delete", "Retain", Some("StatefulSet"), Some("StatefulSet")),
        ("Retain", "Delete", None, Some("Pod")),
        ("Delete", "Delete", Some("StatefulSet"), Some("Pod")),
    ];
    for (when_deleted, when_scaled, kept, scaled) in cases {
        let fake = cluster(
            stateful_set("web")
                .replicas(2)
                .claim_template("www")
                .retention(when_deleted, when_scaled),
        );
        settle(&fake);
        fake.modify::<StatefulSet>(Some(NS), "web", |set| set.spec.replicas = Some(1));
        hold(&fake, "web-1");
        reconcile(&fake).unwrap();
        let owner_kind = |name: &str| {
            let claim = fake.get::<PersistentVolumeClaim>(Some(NS), name).unwrap();
            claim
                .metadata
                .owner_references
                .unwrap_or_default()
                .first()
                .map(|owner| owner.kind.clone())
        };
        let case = format!("{when_deleted}/{when_scaled}");
        assert_eq!(owner_kind("www-web-0").as_deref(), *kept, "{case}: kept");
        assert_eq!(
            owner_kind("www-web-1").as_deref(),
            *scaled,
            "{case}: scaled down"
        );
        if *scaled == Some("Pod") {
            let claim = fake
                .get::<PersistentVolumeClaim>(Some(NS), "www-web-1")
                .unwrap();
            let owner = &claim.metadata.owner_references.unwrap()[0];
            assert_eq!(owner.name, "web-1");
            assert_eq!(owner.uid, pod(&fake, "web-1").metadata.uid.unwrap());
        }
        assert!(
            pod(&fake, "web-1").metadata.deletion_timestamp.is_some(),
            "{case}: web-1 is deleted"
        );
    }
}

#[test]
fn scaling_down_deletes_from_the_highest_ordinal_one_at_a_time() {
    let fake = cluster(stateful_set("web").replicas(4));
    settle(&fake);
    fake.modify::<StatefulSet>(Some(NS), "web", |set| set.spec.replicas = Some(1));
    hold(&fake, "web-3");
    fake.take_events();
    reconcile(&fake).unwrap();
    assert_eq!(
        messages(&fake),
        ["SuccessfulDelete delete Pod web-3 in StatefulSet web successful"]
    );
    // web-3 is terminating: no pod is deleted until it is gone.
    fake.clear_calls();
    reconcile(&fake).unwrap();
    assert!(
        !fake.writes().iter().any(|call| call.kind.kind == "Pod"),
        "waits for web-3 to terminate"
    );
    assert_eq!(
        status(&fake).current_replicas,
        Some(3),
        "web-3 no longer counts"
    );
    fake.remove::<Pod>(Some(NS), "web-3");
    reconcile(&fake).unwrap();
    assert_eq!(pod_names(&fake), ["web-0", "web-1"]);
    reconcile(&fake).unwrap();
    assert_eq!(pod_names(&fake), ["web-0"]);
    reconcile(&fake).unwrap();
    assert_eq!(status(&fake).replicas, 1);
}

#[test]
fn parallel_scales_down_at_once() {
    let fake = cluster(stateful_set("web").replicas(4).parallel());
    settle(&fake);
    fake.modify::<StatefulSet>(Some(NS), "web", |set| set.spec.replicas = Some(1));
    reconcile(&fake).unwrap();
    assert_eq!(pod_names(&fake), ["web-0"]);
}

#[test]
fn an_unhealthy_pod_below_blocks_scale_down_unless_it_is_the_one_deleted() {
    let fake = cluster(stateful_set("web").replicas(3));
    settle(&fake);
    fake.modify::<StatefulSet>(Some(NS), "web", |set| set.spec.replicas = Some(1));
    // The condemned web-2 is the first unhealthy pod: it may go.
    set_phase(&fake, "web-2", "Pending");
    reconcile(&fake).unwrap();
    assert_eq!(pod_names(&fake), ["web-0", "web-1"]);
    // web-0 is not ready: the replicas block before any deletion.
    set_phase(&fake, "web-0", "Pending");
    reconcile(&fake).unwrap();
    assert_eq!(pod_names(&fake), ["web-0", "web-1"]);
}

#[test]
fn failed_pods_are_deleted_and_made_again() {
    let fake = cluster(stateful_set("web").replicas(2));
    settle(&fake);
    set_phase(&fake, "web-1", "Failed");
    let old_uid = pod(&fake, "web-1").metadata.uid;
    fake.take_events();
    reconcile(&fake).unwrap();
    assert!(fake.get::<Pod>(Some(NS), "web-1").is_none());
    reconcile(&fake).unwrap();
    assert_ne!(pod(&fake, "web-1").metadata.uid, old_uid);
    assert_eq!(
        messages(&fake),
        [
            "SuccessfulDelete delete Pod web-1 in StatefulSet web successful",
            "SuccessfulCreate create Pod web-1 in StatefulSet web successful",
        ]
    );
}

#[test]
fn a_rolling_update_goes_from_the_highest_ordinal_down_to_the_partition() {
    let fake = cluster(stateful_set("web").replicas(3));
    settle(&fake);
    let first = status(&fake).current_revision.unwrap();
    // Partition 2: only web-2 is updated.
    fake.modify::<StatefulSet>(Some(NS), "web", |set| {
        set_rolling_update(set, Some(2), None)
    });
    set_image(&fake, "nginx:2");
    reconcile(&fake).unwrap();
    let second = status(&fake).update_revision.unwrap();
    assert_ne!(first, second);
    assert_eq!(pod_names(&fake), ["web-0", "web-1"], "web-2 deleted first");
    settle(&fake);
    let revisions_by_pod: Vec<String> = ["web-0", "web-1", "web-2"]
        .iter()
        .map(|name| revision_of(&fake, name))
        .collect();
    assert_eq!(
        revisions_by_pod,
        [first.clone(), first.clone(), second.clone()]
    );
    let partitioned = status(&fake);
    assert_eq!(partitioned.updated_replicas, Some(1));
    assert_eq!(partitioned.current_replicas, Some(2));
    assert_eq!(partitioned.current_revision.as_ref(), Some(&first));
    assert_eq!(
        pod(&fake, "web-2").spec.unwrap().containers[0]
            .image
            .as_deref(),
        Some("nginx:2")
    );

    // Partition 0: web-1, then web-0; then the update revision is current.
    fake.modify::<StatefulSet>(Some(NS), "web", |set| {
        set_rolling_update(set, Some(0), None)
    });
    reconcile(&fake).unwrap();
    assert_eq!(pod_names(&fake), ["web-0", "web-2"]);
    settle(&fake);
    let done = status(&fake);
    assert_eq!(done.current_revision.as_ref(), Some(&second));
    assert_eq!(done.update_revision.as_ref(), Some(&second));
    assert_eq!(
        (
            done.replicas,
            done.ready_replicas,
            done.updated_replicas,
            done.current_replicas
        ),
        (3, Some(3), Some(3), Some(3))
    );
    assert_eq!(done.observed_generation, Some(2));
}

#[test]
fn max_unavailable_deletes_several_pods_at_once() {
    let fake = cluster(stateful_set("web").replicas(4).max_unavailable(2));
    settle(&fake);
    set_image(&fake, "nginx:2");
    reconcile(&fake).unwrap();
    assert_eq!(pod_names(&fake), ["web-0", "web-1"]);
}

#[test]
fn on_delete_updates_only_pods_deleted_by_someone() {
    let fake = cluster(stateful_set("web").replicas(2).on_delete());
    settle(&fake);
    let first = status(&fake).current_revision.unwrap();
    set_image(&fake, "nginx:2");
    settle(&fake);
    assert_eq!(revision_of(&fake, "web-0"), first);
    assert_eq!(revision_of(&fake, "web-1"), first);
    fake.remove::<Pod>(Some(NS), "web-1");
    settle(&fake);
    let second = status(&fake).update_revision.unwrap();
    assert_ne!(first, second);
    assert_eq!(revision_of(&fake, "web-0"), first);
    assert_eq!(revision_of(&fake, "web-1"), second);
    assert_eq!(
        status(&fake).current_revision,
        Some(first),
        "OnDelete never completes"
    );
}

#[test]
fn revisions_hold_the_template_as_a_replace_patch_and_are_numbered() {
    let fake = cluster(stateful_set("web").replicas(1));
    fake.modify::<StatefulSet>(Some(NS), "web", |set| {
        set.metadata.annotations = Some(labels(&[("kubernetes.io/change-cause", "first")]));
    });
    reconcile(&fake).unwrap();
    let [revision] = revisions(&fake).try_into().unwrap();
    assert_eq!(revision.revision, Some(1));
    let data = &revision.data.0;
    assert_eq!(data["spec"]["template"]["$patch"], "replace");
    assert_eq!(
        data["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1"
    );
    assert_eq!(data.as_object().unwrap().len(), 1);
    assert_eq!(
        revision.metadata.annotations.clone().unwrap()["kubernetes.io/change-cause"],
        "first"
    );
    let revision_labels = revision.metadata.labels.clone().unwrap();
    assert_eq!(revision_labels["app"], "web", "the set's selector finds it");
    assert_eq!(
        Some(&revision.metadata.name.clone().unwrap()),
        status(&fake).update_revision.as_ref()
    );
    assert_eq!(controller_of(&revision).unwrap().uid, "uid-web");
}

#[test]
fn going_back_to_an_earlier_template_renumbers_its_revision() {
    let fake = cluster(stateful_set("web").replicas(1));
    settle(&fake);
    set_image(&fake, "nginx:2");
    settle(&fake);
    set_image(&fake, "nginx:1");
    settle(&fake);
    let numbers: Vec<(Option<i64>, String)> = revisions(&fake)
        .iter()
        .map(|r| {
            (
                r.revision,
                r.data.0["spec"]["template"]["spec"]["containers"][0]["image"].to_string(),
            )
        })
        .collect();
    assert_eq!(
        numbers,
        [
            (Some(2), "\"nginx:2\"".to_owned()),
            (Some(3), "\"nginx:1\"".to_owned())
        ]
    );
}

#[test]
fn history_is_truncated_to_the_limit_but_never_the_revisions_in_use() {
    let fake = cluster(stateful_set("web").replicas(2).history_limit(1).on_delete());
    settle(&fake);
    let first = status(&fake).current_revision.unwrap();
    for image in ["nginx:2", "nginx:3", "nginx:4"] {
        set_image(&fake, image);
        settle(&fake);
    }
    // OnDelete: the pods are still at the first revision, which stays; the
    // update revision stays; one more is history.
    let names: Vec<String> = revisions(&fake)
        .iter()
        .map(|r| r.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&first));
    assert!(names.contains(status(&fake).update_revision.as_ref().unwrap()));
    assert_eq!(
        revisions(&fake)
            .iter()
            .map(|r| r.revision)
            .collect::<Vec<_>>(),
        [Some(1), Some(3), Some(4)]
    );
}

#[test]
fn a_revision_name_held_by_other_data_bumps_the_collision_count() {
    let fake = cluster(stateful_set("web").replicas(1));
    let set = fake.get::<StatefulSet>(Some(NS), "web").unwrap();
    let mut squatter = crate::revisions::new_revision(&set, 1, 0);
    squatter.data.0 =
        serde_json::json!({"spec": {"template": {"metadata": {"labels": {"x": "y"}}}}});
    squatter.metadata.owner_references = None;
    squatter.metadata.labels = Some(labels(&[("other", "x")]));
    fake.add(squatter.clone());
    reconcile(&fake).unwrap();
    let status = status(&fake);
    assert_eq!(status.collision_count, Some(1));
    assert_ne!(status.update_revision, squatter.metadata.name);
}

#[test]
fn orphans_are_adopted_by_name_and_selector_and_strays_released() {
    // OnDelete: a rolling update would replace the adopted pod, which has no revision.
    let fake = cluster(stateful_set("web").replicas(1).on_delete());
    fake.add(orphan_pod("web-0", &[("app", "web")]));
    fake.add(orphan_pod("other-0", &[("app", "web")]));
    let mut stray = orphan_pod("web-7", &[("app", "db")]);
    stray.metadata.owner_references = Some(vec![owner_reference(
        &fake.get::<StatefulSet>(Some(NS), "web").unwrap(),
    )]);
    fake.add(stray);
    reconcile(&fake).unwrap();
    assert_eq!(controller_of(&pod(&fake, "web-0")).unwrap().uid, "uid-web");
    assert!(
        controller_of(&pod(&fake, "other-0")).is_none(),
        "not a member by name"
    );
    assert!(controller_of(&pod(&fake, "web-7")).is_none(), "released");
    // The adopted web-0 gets its identity label.
    assert_eq!(
        pod(&fake, "web-0")
            .metadata
            .labels
            .unwrap()
            .get(POD_NAME_LABEL),
        None,
        "a pending pod is not updated in OrderedReady"
    );
    make_ready(&fake, "web-0");
    reconcile(&fake).unwrap();
    assert_eq!(
        pod(&fake, "web-0").metadata.labels.unwrap()[POD_NAME_LABEL],
        "web-0"
    );
}

#[test]
fn the_status_is_written_only_when_it_changes() {
    let fake = cluster(stateful_set("web").replicas(2));
    settle(&fake);
    let revision = fake.revision();
    reconcile(&fake).unwrap();
    assert_eq!(fake.revision(), revision);
    let settled = status(&fake);
    assert_eq!(
        (
            settled.replicas,
            settled.ready_replicas,
            settled.available_replicas
        ),
        (2, Some(2), Some(2))
    );
    assert_eq!(settled.observed_generation, Some(1));
    assert_eq!(settled.collision_count, Some(0));
}

#[test]
fn min_ready_seconds_holds_the_next_pod_and_requeues_until_available() {
    let fake = cluster(stateful_set("web").replicas(2).min_ready_seconds(10));
    reconcile(&fake).unwrap();
    make_ready_since(&fake, "web-0", 2);
    let action = reconcile(&fake).unwrap();
    assert_eq!(pod_names(&fake), ["web-0"], "web-0 is not yet available");
    assert_eq!(action, Action::RequeueAfter(Duration::from_millis(8001)));
    assert_eq!(status(&fake).available_replicas, Some(0));
    fake.advance(Duration::from_secs(9));
    reconcile(&fake).unwrap();
    assert_eq!(pod_names(&fake), ["web-0", "web-1"]);
    assert_eq!(status(&fake).available_replicas, Some(1));
}

#[test]
fn a_deleted_set_only_gets_its_status() {
    let fake = cluster(stateful_set("web").replicas(2));
    let now = wharf_sdk::time_from_millis(fake.now_millis());
    fake.modify::<StatefulSet>(Some(NS), "web", |set| {
        set.metadata.deletion_timestamp = Some(now);
        set.metadata.finalizers = Some(vec!["foregroundDeletion".to_owned()]);
    });
    reconcile(&fake).unwrap();
    assert!(pod_names(&fake).is_empty());
    assert!(
        fake.get::<StatefulSet>(Some(NS), "web")
            .unwrap()
            .status
            .is_some()
    );
}

#[test]
fn pods_not_yet_seen_hold_further_writes() {
    let fake = cluster(stateful_set("web").replicas(1).parallel());
    let controller = StatefulSetController::default();
    fake.run_with(&controller, KEY).unwrap();
    fake.modify::<StatefulSet>(Some(NS), "web", |set| set.spec.replicas = Some(2));
    // The host's cache will not show what this reconcile creates.
    fake.freeze_cache();
    fake.run_with(&controller, KEY).unwrap();
    assert_eq!(pod_names(&fake), ["web-0", "web-1"]);
    fake.clear_calls();
    // The cache still shows no web-1: no second create. (The status write
    // conflicts with the cache's older set, and is retried with backoff.)
    let _ = fake.run_with(&controller, KEY);
    assert!(
        !fake.calls().iter().any(|call| call.verb == Verb::Create),
        "{:?}",
        fake.calls()
    );
    fake.thaw_cache();
    fake.clear_calls();
    fake.run_with(&controller, KEY).unwrap();
    assert_eq!(pod_names(&fake), ["web-0", "web-1"]);
    assert!(fake.calls().iter().all(|call| call.succeeded()));
}

#[test]
fn creation_failures_are_events_and_errors() {
    let fake = cluster(stateful_set("web").replicas(1));
    fake.fail_when(|request| {
        (request.verb == Verb::Create && request.kind.kind == "Pod")
            .then(|| Error::Forbidden("exceeded quota: pods".to_owned()))
    });
    assert!(matches!(reconcile(&fake), Err(Error::Forbidden(_))));
    assert_eq!(
        messages(&fake),
        [
            "FailedCreate create Pod web-0 in StatefulSet web failed error: forbidden: exceeded quota: pods"
        ]
    );
    assert!(
        status(&fake).update_revision.is_some(),
        "the status is written anyway"
    );
}
