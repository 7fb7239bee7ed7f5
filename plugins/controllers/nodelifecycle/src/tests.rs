//! The node lifecycle controller and taint manager against the SDK's fake
//! cluster, after the cases of kube's `node_lifecycle_controller_test.go`
//! and `taint_eviction_test.go` it can play.

use std::collections::BTreeMap;
use std::time::Duration;

use wharf_sdk::k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use wharf_sdk::k8s_openapi::api::core::v1::{
    Node, NodeCondition, NodeSpec, NodeStatus, Pod, PodCondition, PodSpec, PodStatus, Taint,
    Toleration,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use wharf_sdk::k8s_openapi::jiff::{SignedDuration, Timestamp};
use wharf_sdk::prelude::*;
use wharf_sdk::taints::{NO_EXECUTE, NO_SCHEDULE, NOT_READY, UNREACHABLE, UNSCHEDULABLE};
use wharf_sdk::testing::FakeCluster;

use crate::NodeLifecycleController;
use crate::config::Config;
use crate::controller::LEASE_NAMESPACE;
use crate::eviction::{Verdict, verdict};

fn at(cluster: &FakeCluster, seconds_ago: i64) -> Timestamp {
    Timestamp::from_millisecond(cluster.now_millis() as i64).unwrap()
        - SignedDuration::from_secs(seconds_ago)
}

fn node(cluster: &FakeCluster, name: &str, zone: &str, ready: &str, heard_ago: i64) -> Node {
    let heard = at(cluster, heard_ago);
    let labels = BTreeMap::from([("topology.kubernetes.io/zone".to_owned(), zone.to_owned())]);
    let node = cluster.add(Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels),
            creation_timestamp: Some(Time(at(cluster, 3600))),
            ..Default::default()
        },
        spec: Some(NodeSpec::default()),
        status: Some(NodeStatus {
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: ready.into(),
                reason: Some("KubeletReady".into()),
                last_heartbeat_time: Some(Time(at(cluster, 3600))),
                last_transition_time: Some(Time(at(cluster, 3600))),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    });
    cluster.add(Lease {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(LEASE_NAMESPACE.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            renew_time: Some(MicroTime(heard)),
            lease_duration_seconds: Some(40),
            ..Default::default()
        }),
    });
    node
}

fn toleration(key: &str, seconds: Option<i64>) -> Toleration {
    Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(NO_EXECUTE.into()),
        toleration_seconds: seconds,
        ..Default::default()
    }
}

fn pod(cluster: &FakeCluster, name: &str, node: &str, tolerations: Vec<Toleration>) -> Pod {
    cluster.add(Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some(node.into()),
            tolerations: Some(tolerations),
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    })
}

fn taints(cluster: &FakeCluster, name: &str) -> Vec<(String, String)> {
    let node = cluster.get::<Node>(None, name).unwrap();
    node.spec
        .and_then(|spec| spec.taints)
        .unwrap_or_default()
        .into_iter()
        .map(|taint| (taint.key, taint.effect))
        .collect()
}

fn ready(cluster: &FakeCluster, name: &str) -> NodeCondition {
    let node = cluster.get::<Node>(None, name).unwrap();
    node.status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(key, effect)| (key.to_string(), effect.to_string()))
        .collect()
}

fn controller(config: serde_json::Value) -> NodeLifecycleController {
    let mut controller = NodeLifecycleController::default();
    controller.configure(&config).unwrap();
    controller
}

#[test]
fn a_node_heard_from_is_left_alone_and_looked_at_when_its_grace_ends() {
    let cluster = FakeCluster::new();
    node(&cluster, "n1", "a", "True", 10);
    let action = cluster.run::<NodeLifecycleController>("n1").unwrap();
    assert_eq!(action, Action::RequeueAfter(Duration::from_millis(30_100)));
    assert!(cluster.writes().is_empty(), "{:?}", cluster.writes());
    assert_eq!(ready(&cluster, "n1").status, "True");
}

#[test]
fn a_silent_node_turns_unknown_gets_tainted_and_its_pods_go_after_their_toleration() {
    let cluster = FakeCluster::new();
    node(&cluster, "n1", "a", "True", 50);
    for i in 2..5 {
        node(&cluster, &format!("n{i}"), "a", "True", 1);
    }
    pod(&cluster, "intolerant", "n1", vec![]);
    pod(
        &cluster,
        "patient",
        "n1",
        vec![toleration(UNREACHABLE, Some(300))],
    );
    pod(
        &cluster,
        "forever",
        "n1",
        vec![toleration(UNREACHABLE, None)],
    );
    pod(&cluster, "elsewhere", "n2", vec![]);
    let lifecycle = controller(serde_json::json!({}));

    let action = cluster.run_with(&lifecycle, "n1").unwrap();
    let condition = ready(&cluster, "n1");
    assert_eq!(condition.status, "Unknown");
    assert_eq!(condition.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(
        condition.message.as_deref(),
        Some("Kubelet stopped posting node status.")
    );
    assert_eq!(
        taints(&cluster, "n1"),
        owned(&[(UNREACHABLE, NO_SCHEDULE), (UNREACHABLE, NO_EXECUTE)])
    );
    let left: Vec<String> = cluster
        .list::<Pod>(Some("default"))
        .into_iter()
        .map(|pod| pod.metadata.name.unwrap())
        .collect();
    assert_eq!(left, ["elsewhere", "forever", "patient"]);
    let patient = cluster.get::<Pod>(Some("default"), "patient").unwrap();
    assert!(
        !wharf_sdk::pods::is_ready(&patient),
        "pods of a node not ready are not ready"
    );
    assert!(wharf_sdk::pods::is_ready(
        &cluster.get::<Pod>(Some("default"), "elsewhere").unwrap()
    ));
    assert_eq!(action, Action::RequeueAfter(Duration::from_secs(300)));
    let reasons: Vec<String> = cluster.events().into_iter().map(|e| e.reason).collect();
    assert!(reasons.contains(&"NodeNotReady".to_owned()), "{reasons:?}");
    assert!(
        reasons.contains(&"TaintManagerEviction".to_owned()),
        "{reasons:?}"
    );

    cluster.advance(Duration::from_secs(300));
    cluster.run_with(&lifecycle, "n1").unwrap();
    assert!(cluster.get::<Pod>(Some("default"), "patient").is_none());
    assert!(cluster.get::<Pod>(Some("default"), "forever").is_some());
}

#[test]
fn a_node_heard_from_again_loses_its_taints() {
    let cluster = FakeCluster::new();
    node(&cluster, "n1", "a", "True", 50);
    node(&cluster, "n2", "a", "True", 1);
    let lifecycle = controller(serde_json::json!({}));
    cluster.run_with(&lifecycle, "n1").unwrap();
    assert_eq!(taints(&cluster, "n1").len(), 2);
    // The kubelet comes back: it renews its lease and posts Ready.
    let now = at(&cluster, 0);
    cluster.modify::<Lease>(Some(LEASE_NAMESPACE), "n1", |lease| {
        lease.spec.as_mut().unwrap().renew_time = Some(MicroTime(now));
    });
    cluster.modify::<Node>(None, "n1", |node| {
        let conditions = node.status.as_mut().unwrap().conditions.as_mut().unwrap();
        let ready = conditions.iter_mut().find(|c| c.type_ == "Ready").unwrap();
        ready.status = "True".into();
    });
    cluster.run_with(&lifecycle, "n1").unwrap();
    assert!(taints(&cluster, "n1").is_empty());
}

#[test]
fn conditions_and_cordons_become_no_schedule_taints_and_foreign_taints_stay() {
    let cluster = FakeCluster::new();
    node(&cluster, "n1", "a", "False", 1);
    node(&cluster, "n2", "a", "True", 1);
    cluster.modify::<Node>(None, "n1", |node| {
        let spec = node.spec.as_mut().unwrap();
        spec.unschedulable = Some(true);
        spec.taints = Some(vec![Taint {
            key: "dedicated".into(),
            value: Some("db".into()),
            effect: NO_SCHEDULE.into(),
            time_added: None,
        }]);
    });
    cluster.run::<NodeLifecycleController>("n1").unwrap();
    assert_eq!(
        taints(&cluster, "n1"),
        owned(&[
            ("dedicated", NO_SCHEDULE),
            (NOT_READY, NO_SCHEDULE),
            (UNSCHEDULABLE, NO_SCHEDULE),
            (NOT_READY, NO_EXECUTE),
        ])
    );
}

#[test]
fn any_no_execute_taint_evicts_the_pods_that_do_not_tolerate_it() {
    let cluster = FakeCluster::new();
    node(&cluster, "n1", "a", "True", 1);
    let now = at(&cluster, 0);
    cluster.modify::<Node>(None, "n1", |node| {
        node.spec.as_mut().unwrap().taints = Some(vec![Taint {
            key: "maintenance".into(),
            effect: NO_EXECUTE.into(),
            time_added: Some(Time(now)),
            value: None,
        }]);
    });
    pod(&cluster, "plain", "n1", vec![]);
    pod(
        &cluster,
        "tolerant",
        "n1",
        vec![toleration("maintenance", None)],
    );
    cluster.run::<NodeLifecycleController>("n1").unwrap();
    assert!(cluster.get::<Pod>(Some("default"), "plain").is_none());
    assert!(cluster.get::<Pod>(Some("default"), "tolerant").is_some());
}

#[test]
fn no_execute_taints_are_added_at_the_zones_eviction_rate() {
    let cluster = FakeCluster::new();
    for i in 0..10 {
        node(
            &cluster,
            &format!("n{i}"),
            "a",
            "True",
            if i < 2 { 50 } else { 1 },
        );
    }
    let lifecycle = controller(serde_json::json!({"nodeEvictionRate": 0.1}));
    cluster.run_with(&lifecycle, "n0").unwrap();
    let action = cluster.run_with(&lifecycle, "n1").unwrap();
    assert!(taints(&cluster, "n0").contains(&(UNREACHABLE.to_owned(), NO_EXECUTE.to_owned())));
    assert_eq!(taints(&cluster, "n1"), owned(&[(UNREACHABLE, NO_SCHEDULE)]));
    assert_eq!(action, Action::RequeueAfter(Duration::from_secs(10)));
    cluster.advance(Duration::from_secs(10));
    cluster.run_with(&lifecycle, "n1").unwrap();
    assert!(taints(&cluster, "n1").contains(&(UNREACHABLE.to_owned(), NO_EXECUTE.to_owned())));
}

#[test]
fn a_zone_gone_dark_is_not_evicted() {
    let cluster = FakeCluster::new();
    for i in 0..4 {
        node(&cluster, &format!("n{i}"), "a", "True", 50);
    }
    node(&cluster, "other", "b", "True", 1);
    let lifecycle = controller(serde_json::json!({}));
    for i in 0..4 {
        cluster.run_with(&lifecycle, &format!("n{i}")).unwrap();
    }
    // Once the whole zone is seen down, no more NoExecute taints: the first
    // node went before the zone was seen down (as in kube).
    let no_execute: Vec<bool> = (0..4)
        .map(|i| {
            taints(&cluster, &format!("n{i}"))
                .iter()
                .any(|(_, effect)| effect == NO_EXECUTE)
        })
        .collect();
    assert_eq!(
        no_execute.iter().filter(|tainted| **tainted).count(),
        1,
        "{no_execute:?}"
    );
}

#[test]
fn a_deleted_node_is_forgotten() {
    let cluster = FakeCluster::new();
    assert_eq!(
        cluster.run::<NodeLifecycleController>("gone").unwrap(),
        Action::Done
    );
}

#[test]
fn verdicts_follow_kubes_min_toleration_time() {
    let cluster = FakeCluster::new();
    let now = at(&cluster, 0);
    let taint = |key: &str, added_ago: i64| Taint {
        key: key.into(),
        effect: NO_EXECUTE.into(),
        time_added: Some(Time(at(&cluster, added_ago))),
        value: None,
    };
    let with = |tolerations: Vec<Toleration>| Pod {
        spec: Some(PodSpec {
            tolerations: Some(tolerations),
            ..Default::default()
        }),
        ..Default::default()
    };
    let unreachable = taint(UNREACHABLE, 100);
    let other = taint("other", 10);
    let cases: Vec<(&str, Pod, Vec<&Taint>, Verdict)> = vec![
        ("no taints", with(vec![]), vec![], Verdict::Stays),
        (
            "not tolerated",
            with(vec![]),
            vec![&unreachable],
            Verdict::Evict,
        ),
        (
            "tolerated forever",
            with(vec![toleration(UNREACHABLE, None)]),
            vec![&unreachable],
            Verdict::Stays,
        ),
        (
            "tolerated for a while, counted from the taint",
            with(vec![toleration(UNREACHABLE, Some(300))]),
            vec![&unreachable],
            Verdict::EvictAt(now + SignedDuration::from_secs(200)),
        ),
        (
            "ran out",
            with(vec![toleration(UNREACHABLE, Some(60))]),
            vec![&unreachable],
            Verdict::Evict,
        ),
        (
            "zero seconds",
            with(vec![toleration(UNREACHABLE, Some(0))]),
            vec![&unreachable],
            Verdict::Evict,
        ),
        (
            "one of two taints not tolerated",
            with(vec![toleration(UNREACHABLE, None)]),
            vec![&unreachable, &other],
            Verdict::Evict,
        ),
        (
            "the least time, from the latest taint",
            with(vec![
                toleration(UNREACHABLE, Some(300)),
                toleration("other", Some(120)),
            ]),
            vec![&unreachable, &other],
            Verdict::EvictAt(now + SignedDuration::from_secs(110)),
        ),
    ];
    for (name, pod, taints, expected) in cases {
        assert_eq!(verdict(&pod, &taints, now), expected, "{name}");
    }
}

#[test]
fn the_default_config_is_kubes() {
    let config = Config::default();
    assert_eq!(config.grace, Duration::from_secs(40));
    assert_eq!(config.eviction_rate, 0.1);
}
