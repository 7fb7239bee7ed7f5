//! The same controller configured for ReplicationControllers (kube's
//! `replication` controller): the ReplicaSet logic over the other kind.

use wharf_sdk::k8s_openapi::api::apps::v1::ReplicaSet;
use wharf_sdk::k8s_openapi::api::core::v1::{Pod, ReplicationController};
use wharf_sdk::prelude::*;
use wharf_sdk::testing::{FakeCluster, Verb};

use super::builders::{NS, PodBuilder, pod, replica_set, replication_controller};
use crate::ReplicaSetController;
use crate::kind::ManagedKind;
use crate::status::REPLICA_FAILURE;

const KEY: &str = "default/web";

fn controller() -> ReplicaSetController {
    ReplicaSetController::for_kind(ManagedKind::ReplicationController)
}

fn cluster(rc: ReplicationController, pods: Vec<PodBuilder>) -> FakeCluster {
    let fake = FakeCluster::new();
    fake.add(rc);
    for pod in pods {
        fake.add(pod.build());
    }
    fake
}

fn stored(fake: &FakeCluster) -> ReplicationController {
    fake.get::<ReplicationController>(Some(NS), "web")
        .expect("the ReplicationController exists")
}

fn controlled(fake: &FakeCluster) -> Vec<Pod> {
    fake.list::<Pod>(Some(NS))
        .into_iter()
        .filter(|pod| {
            controller_of(pod).is_some_and(|reference| {
                reference.kind == "ReplicationController" && reference.uid == "uid-web"
            })
        })
        .collect()
}

fn reasons(fake: &FakeCluster) -> Vec<String> {
    fake.events()
        .into_iter()
        .map(|event| event.reason)
        .collect()
}

#[test]
fn keeps_the_replicas_of_a_replication_controller() {
    struct Case {
        name: &'static str,
        replicas: i32,
        pods: Vec<PodBuilder>,
        controlled: usize,
        events: &'static [&'static str],
    }
    let cases = vec![
        Case {
            name: "scales up from zero",
            replicas: 3,
            pods: vec![],
            controlled: 3,
            events: &["SuccessfulCreate"; 3],
        },
        Case {
            name: "scales down",
            replicas: 1,
            pods: vec![
                pod("a").owned_by_rc("web"),
                pod("b").owned_by_rc("web").ready(),
            ],
            controlled: 1,
            events: &["SuccessfulDelete"],
        },
        Case {
            name: "adopts an orphan its selector matches",
            replicas: 2,
            pods: vec![
                pod("orphan").labels(&[("app", "web")]),
                pod("stranger").labels(&[("app", "db")]),
            ],
            controlled: 2,
            events: &["SuccessfulCreate"],
        },
        Case {
            name: "leaves a ReplicaSet's pod alone",
            replicas: 1,
            pods: vec![pod("taken").labels(&[("app", "web")]).controller("other")],
            controlled: 1,
            events: &["SuccessfulCreate"],
        },
        Case {
            name: "releases a pod its selector no longer matches",
            replicas: 1,
            pods: vec![
                pod("relabelled")
                    .owned_by_rc("web")
                    .labels(&[("app", "debug")]),
                pod("kept").owned_by_rc("web"),
            ],
            controlled: 1,
            events: &[],
        },
    ];
    for case in cases {
        let fake = cluster(replication_controller("web", case.replicas), case.pods);
        assert_eq!(
            fake.run_with(&controller(), KEY).unwrap(),
            Action::Done,
            "{}",
            case.name
        );
        assert_eq!(controlled(&fake).len(), case.controlled, "{}", case.name);
        assert_eq!(reasons(&fake), case.events, "{}", case.name);
        assert!(
            fake.events()
                .iter()
                .all(|event| event.regarding.to_string() == "ReplicationController default/web"),
            "{}: events are on the ReplicationController",
            case.name
        );
    }
}

#[test]
fn creates_pods_from_its_template_controlled_by_it() {
    let fake = cluster(replication_controller("web", 2), vec![]);
    fake.run_with(&controller(), KEY).unwrap();
    let created = controlled(&fake);
    assert_eq!(created.len(), 2);
    for pod in &created {
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("web-"));
        assert_eq!(pod.metadata.labels.as_ref().unwrap()["app"], "web");
        let reference = controller_of(pod).unwrap();
        assert_eq!(
            (reference.api_version.as_str(), reference.kind.as_str()),
            ("v1", "ReplicationController")
        );
        assert_eq!(reference.block_owner_deletion, Some(true));
    }
    assert_eq!(
        fake.events()[0].message,
        format!(
            "Created pod: {}",
            created[0].metadata.name.as_deref().unwrap()
        )
    );
}

#[test]
fn reports_its_replicas_in_its_own_status() {
    let mut rc = replication_controller("web", 3);
    rc.spec.as_mut().unwrap().min_ready_seconds = Some(60);
    let fake = cluster(
        rc,
        vec![
            pod("available").owned_by_rc("web").ready_for(600),
            pod("warming-up").owned_by_rc("web").ready_for(20),
            pod("starting").owned_by_rc("web").running(),
        ],
    );
    fake.run_with(&controller(), KEY).unwrap();
    let status = stored(&fake).status.unwrap();
    assert_eq!(status.replicas, 3);
    assert_eq!(status.fully_labeled_replicas, Some(3));
    assert_eq!(status.ready_replicas, Some(2));
    assert_eq!(status.available_replicas, Some(1));
    assert_eq!(status.observed_generation, Some(1));
    assert!(status.conditions.is_none());

    // Nothing changed: nothing written.
    fake.clear_calls();
    let revision = fake.revision();
    fake.run_with(&controller(), KEY).unwrap();
    assert_eq!(fake.writes(), []);
    assert_eq!(fake.revision(), revision);
}

#[test]
fn follows_a_scale_of_its_replicas() {
    // `kubectl scale rc web --replicas=4` changes spec.replicas through the
    // scale subresource; the next reconcile makes the pods.
    let controller = controller();
    let fake = cluster(replication_controller("web", 1), vec![]);
    fake.run_with(&controller, KEY).unwrap();
    fake.run_with(&controller, KEY).unwrap();
    assert_eq!(controlled(&fake).len(), 1);
    let mut rc = stored(&fake);
    rc.spec.as_mut().unwrap().replicas = Some(4);
    fake.context().update(&rc).unwrap();
    fake.run_with(&controller, KEY).unwrap();
    fake.run_with(&controller, KEY).unwrap();
    assert_eq!(controlled(&fake).len(), 4);
    let status = stored(&fake).status.unwrap();
    assert_eq!(status.replicas, 4);
    assert_eq!(status.observed_generation, Some(2));
}

#[test]
fn a_failed_create_is_a_replica_failure_condition_on_it() {
    let fake = cluster(replication_controller("web", 2), vec![]);
    fake.fail_when(|request| {
        (request.verb == Verb::Create && request.kind.kind == "Pod")
            .then(|| Error::Forbidden("exceeded quota: pods".to_owned()))
    });
    let result = fake.run_with(&controller(), KEY);
    assert!(matches!(result, Err(Error::Forbidden(_))), "{result:?}");
    assert_eq!(reasons(&fake), ["FailedCreate"]);
    let conditions = stored(&fake).status.unwrap().conditions.unwrap();
    assert_eq!(conditions.len(), 1);
    assert_eq!(conditions[0].type_, REPLICA_FAILURE);
    assert_eq!(conditions[0].status, "True");
    assert_eq!(conditions[0].reason.as_deref(), Some("FailedCreate"));

    fake.clear_failures();
    fake.run_with(&controller(), KEY).unwrap();
    assert!(stored(&fake).status.unwrap().conditions.is_none());
}

#[test]
fn does_not_touch_replica_sets_of_the_same_name() {
    let fake = cluster(replication_controller("web", 1), vec![]);
    fake.add(replica_set("web").replicas(0).build());
    fake.run_with(&controller(), KEY).unwrap();
    let replica_set = fake.get::<ReplicaSet>(Some(NS), "web").unwrap();
    assert!(replica_set.status.is_none());
    assert!(
        fake.writes()
            .iter()
            .all(|write| write.kind.kind != "ReplicaSet")
    );
}

#[test]
fn registers_the_kind_its_config_names() {
    let cases = [
        (serde_json::json!({}), Some("apps/v1, Kind=ReplicaSet")),
        (
            serde_json::json!({"kind": "ReplicaSet"}),
            Some("apps/v1, Kind=ReplicaSet"),
        ),
        (
            serde_json::json!({"kind": "ReplicationController"}),
            Some("v1, Kind=ReplicationController"),
        ),
        (serde_json::json!({"kind": "Deployment"}), None),
        (serde_json::json!({"kind": 3}), None),
    ];
    for (config, primary) in cases {
        let registration = <ReplicaSetController as Controller>::registration(&config);
        assert_eq!(
            registration
                .as_ref()
                .ok()
                .map(|registration| registration.primary.to_string()),
            primary.map(str::to_owned),
            "{config}"
        );
        if let Ok(registration) = registration {
            assert_eq!(
                registration
                    .owns
                    .iter()
                    .map(|kind| kind.to_string())
                    .collect::<Vec<_>>(),
                ["v1, Kind=Pod"]
            );
        }
        let mut configured = ReplicaSetController::default();
        assert_eq!(
            configured.configure(&config).is_ok(),
            primary.is_some(),
            "{config}"
        );
    }

    // Configured, it reconciles ReplicationControllers.
    let mut configured = ReplicaSetController::default();
    configured
        .configure(&serde_json::json!({"kind": "ReplicationController"}))
        .unwrap();
    let fake = cluster(replication_controller("web", 1), vec![]);
    fake.run_with(&configured, KEY).unwrap();
    assert_eq!(controlled(&fake).len(), 1);
}
