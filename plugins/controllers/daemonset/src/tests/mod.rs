//! The controller against the SDK's in-memory cluster, case by case, after
//! kube's `daemon_controller_test.go` and `update_test.go` where a case
//! can be played without informers.

mod builders;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use builders::{
    DaemonSetBuilder, NAME, NS, NodeBuilder, UID, daemon_set, node, pod_on, ready_status, run_pods,
    set_phase,
};
use wharf_sdk::history::CONTROLLER_REVISION_HASH_LABEL;
use wharf_sdk::k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use wharf_sdk::k8s_openapi::api::core::v1::{Node, Pod};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use wharf_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use wharf_sdk::prelude::*;
use wharf_sdk::testing::{FakeCluster, Verb};
use wharf_sdk::time_from_millis;

use crate::DaemonSetController;
use crate::controller::{BURST_REPLICAS, reasons};
use crate::placement::target_node_name;
use crate::pods::{POD_TEMPLATE_GENERATION_LABEL, is_ready};

const KEY: &str = "default/logs";

/// A cluster holding the set and the nodes.
fn cluster(daemon_set: DaemonSetBuilder, nodes: Vec<NodeBuilder>) -> FakeCluster {
    let fake = FakeCluster::new();
    fake.add(daemon_set.build());
    for node in nodes {
        fake.add(node.build());
    }
    fake
}

fn nodes(names: &[&str]) -> Vec<NodeBuilder> {
    names.iter().map(|name| node(name)).collect()
}

fn reconcile(fake: &FakeCluster) -> Result<Action, Error> {
    fake.run::<DaemonSetController>(KEY)
}

/// Reconciles with one controller instance, running the pods it creates,
/// until a reconcile changes nothing (at most `rounds` times).
fn settle(fake: &FakeCluster, controller: &DaemonSetController, rounds: usize) {
    for _ in 0..rounds {
        let revision = fake.revision();
        fake.run_with(controller, KEY)
            .expect("the reconcile succeeds");
        run_pods(fake);
        if fake.revision() == revision {
            return;
        }
    }
    panic!("the cluster did not settle in {rounds} reconciles");
}

fn pods(fake: &FakeCluster) -> Vec<Pod> {
    fake.list::<Pod>(Some(NS))
}

fn name(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

/// The nodes that have a daemon pod (not being deleted), each once.
fn nodes_with_pods(fake: &FakeCluster) -> Vec<String> {
    by_node(fake).into_keys().collect()
}

/// Pod names by the node they are for.
fn by_node(fake: &FakeCluster) -> BTreeMap<String, Vec<String>> {
    let mut by_node: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pod in pods(fake) {
        if let Some(node) = target_node_name(&pod) {
            by_node.entry(node.to_owned()).or_default().push(name(&pod));
        }
    }
    by_node
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
        .filter(|call| call.verb == verb && call.kind.kind == kind && call.succeeded())
        .count()
}

fn daemon_set_now(fake: &FakeCluster) -> DaemonSet {
    fake.get::<DaemonSet>(Some(NS), NAME)
        .expect("the DaemonSet exists")
}

fn status(fake: &FakeCluster) -> DaemonSetStatus {
    daemon_set_now(fake).status.expect("the set has a status")
}

fn revisions(fake: &FakeCluster) -> Vec<ControllerRevision> {
    let mut revisions = fake.list::<ControllerRevision>(Some(NS));
    wharf_sdk::history::sort_revisions(&mut revisions);
    revisions
}

fn label<'p>(pod: &'p Pod, key: &str) -> Option<&'p str> {
    pod.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

/// Changes the template's image through the API (the generation moves).
fn set_image(fake: &FakeCluster, image: &str) {
    let mut daemon_set = daemon_set_now(fake);
    daemon_set.spec.template.spec.as_mut().unwrap().containers[0].image = Some(image.to_owned());
    fake.context()
        .update(&daemon_set)
        .expect("the update succeeds");
}

fn image(pod: &Pod) -> &str {
    pod.spec.as_ref().unwrap().containers[0]
        .image
        .as_deref()
        .unwrap_or_default()
}

#[test]
fn registration_owns_pods_and_revisions_and_is_woken_by_every_node() {
    let registration = <DaemonSetController as Controller>::registration(&serde_json::json!({}))
        .expect("a registration");
    assert_eq!(registration.primary.kind, "DaemonSet");
    let owns: Vec<_> = registration
        .owns
        .iter()
        .map(|kind| kind.kind.as_str())
        .collect();
    assert_eq!(owns, ["Pod", "ControllerRevision"]);
    assert_eq!(registration.watches.len(), 1);
    assert_eq!(registration.watches[0].0.kind, "Node");
    assert_eq!(registration.watches[0].1, Wakes::All);
}

#[test]
fn a_pod_runs_on_every_node_that_should_run_it() {
    struct Case {
        name: &'static str,
        daemon_set: DaemonSetBuilder,
        nodes: Vec<NodeBuilder>,
        expected: &'static [&'static str],
    }
    let cases = [
        Case {
            name: "every node",
            daemon_set: daemon_set(),
            nodes: nodes(&["a", "b", "c"]),
            expected: &["a", "b", "c"],
        },
        Case {
            name: "no nodes",
            daemon_set: daemon_set(),
            nodes: vec![],
            expected: &[],
        },
        Case {
            name: "nodeSelector",
            daemon_set: daemon_set().node_selector(&[("disk", "ssd")]),
            nodes: vec![
                node("a").label("disk", "ssd"),
                node("b").label("disk", "hdd"),
                node("c"),
            ],
            expected: &["a"],
        },
        Case {
            name: "required node affinity",
            daemon_set: daemon_set().affinity(serde_json::json!({"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["x", "y"]}]}
            ]}}})),
            nodes: vec![
                node("a").label("zone", "y"),
                node("b").label("zone", "z"),
                node("c"),
            ],
            expected: &["a"],
        },
        Case {
            name: "required node affinity by field",
            daemon_set: daemon_set().affinity(serde_json::json!({"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]}
            ]}}})),
            nodes: nodes(&["a", "b"]),
            expected: &["b"],
        },
        Case {
            name: "template nodeName",
            daemon_set: daemon_set().template_node_name("b"),
            nodes: nodes(&["a", "b"]),
            expected: &["b"],
        },
        Case {
            name: "untolerated NoSchedule and NoExecute taints",
            daemon_set: daemon_set(),
            nodes: vec![
                node("a").taint("dedicated", "NoSchedule"),
                node("b").taint("dedicated", "NoExecute"),
                node("c").taint("dedicated", "PreferNoSchedule"),
            ],
            expected: &["c"],
        },
        Case {
            name: "tolerated taints",
            daemon_set: daemon_set().tolerate("dedicated"),
            nodes: vec![
                node("a").taint("dedicated", "NoSchedule"),
                node("b").taint("dedicated", "NoExecute"),
            ],
            expected: &["a", "b"],
        },
        Case {
            name: "unschedulable, not ready and pressured nodes still get their pod",
            daemon_set: daemon_set(),
            nodes: vec![
                node("a").unschedulable(),
                node("b").taint("node.kubernetes.io/not-ready", "NoExecute"),
                node("c").taint("node.kubernetes.io/unreachable", "NoExecute"),
                node("d")
                    .taint("node.kubernetes.io/disk-pressure", "NoSchedule")
                    .taint("node.kubernetes.io/memory-pressure", "NoSchedule")
                    .taint("node.kubernetes.io/pid-pressure", "NoSchedule"),
            ],
            expected: &["a", "b", "c", "d"],
        },
        Case {
            name: "network unavailable: pod network",
            daemon_set: daemon_set(),
            nodes: vec![node("a").taint("node.kubernetes.io/network-unavailable", "NoSchedule")],
            expected: &[],
        },
        Case {
            name: "network unavailable: host network",
            daemon_set: daemon_set().host_network(),
            nodes: vec![node("a").taint("node.kubernetes.io/network-unavailable", "NoSchedule")],
            expected: &["a"],
        },
    ];
    for case in cases {
        let fake = cluster(case.daemon_set, case.nodes);
        reconcile(&fake).unwrap_or_else(|error| panic!("{}: {error}", case.name));
        assert_eq!(nodes_with_pods(&fake), case.expected, "{}", case.name);
        assert_eq!(
            pods(&fake).len(),
            case.expected.len(),
            "{}: one pod per node",
            case.name
        );
        let created = reasons(&fake)
            .iter()
            .filter(|reason| *reason == reasons::SUCCESSFUL_CREATE)
            .count();
        assert_eq!(created, case.expected.len(), "{}: events", case.name);
    }
}

#[test]
fn pods_are_placed_through_the_scheduler_and_carry_the_revision() {
    let fake = cluster(
        daemon_set().affinity(serde_json::json!({"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}
            ]},
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 1, "preference": {"matchExpressions": [{"key": "ssd", "operator": "Exists"}]}}
            ]}})),
        vec![node("a").label("zone", "x")],
    );
    reconcile(&fake).unwrap();
    let pods = pods(&fake);
    let [pod] = pods.as_slice() else {
        panic!("one pod, not {}", pods.len());
    };
    assert_eq!(pod.metadata.generate_name.as_deref(), Some("logs-"));
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(spec.node_name, None, "the scheduler binds it");
    let node_affinity = spec
        .affinity
        .as_ref()
        .unwrap()
        .node_affinity
        .as_ref()
        .unwrap();
    let required = serde_json::to_value(
        node_affinity
            .required_during_scheduling_ignored_during_execution
            .as_ref()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        required,
        serde_json::json!({"nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["a"]}
        ]}]})
    );
    assert!(
        node_affinity
            .preferred_during_scheduling_ignored_during_execution
            .is_some(),
        "preferred terms stay"
    );
    let tolerations: Vec<_> = spec
        .tolerations
        .iter()
        .flatten()
        .filter_map(|toleration| toleration.key.as_deref())
        .collect();
    assert!(tolerations.contains(&"node.kubernetes.io/not-ready"));
    assert!(!tolerations.contains(&"node.kubernetes.io/network-unavailable"));

    let revisions = revisions(&fake);
    assert_eq!(revisions.len(), 1);
    let hash =
        revisions[0].metadata.labels.as_ref().unwrap()[CONTROLLER_REVISION_HASH_LABEL].clone();
    assert_eq!(label(pod, "app"), Some(NAME));
    assert_eq!(
        label(pod, CONTROLLER_REVISION_HASH_LABEL),
        Some(hash.as_str())
    );
    assert_eq!(label(pod, POD_TEMPLATE_GENERATION_LABEL), Some("1"));
    let owner = controller_of(pod).expect("a controller");
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("DaemonSet", UID)
    );

    let events = fake.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason, reasons::SUCCESSFUL_CREATE);
    assert_eq!(events[0].message, format!("Created pod: {}", name(pod)));
}

#[test]
fn a_settled_set_writes_nothing() {
    let fake = cluster(daemon_set(), nodes(&["a", "b"]));
    let controller = DaemonSetController::default();
    settle(&fake, &controller, 5);
    fake.clear_calls();
    let revision = fake.revision();
    assert_eq!(fake.run_with(&controller, KEY).unwrap(), Action::Done);
    assert_eq!(fake.revision(), revision);
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[test]
fn nodes_coming_and_going_and_changing() {
    struct Case {
        name: &'static str,
        change: fn(&FakeCluster),
        expected: &'static [&'static str],
    }
    let cases = [
        Case {
            name: "a new node gets a pod",
            change: |fake| {
                fake.add(node("c").label("daemons", "yes").build());
            },
            expected: &["a", "b", "c"],
        },
        Case {
            name: "a node no longer selected loses its pod",
            change: |fake| {
                fake.modify::<Node>(None, "b", |node| {
                    node.metadata.labels = None;
                });
            },
            expected: &["a"],
        },
        Case {
            name: "an untolerated NoSchedule taint leaves the running pod",
            change: |fake| {
                fake.modify::<Node>(None, "b", |node| {
                    node.spec.as_mut().unwrap().taints =
                        Some(vec![wharf_sdk::k8s_openapi::api::core::v1::Taint {
                            key: "dedicated".into(),
                            effect: "NoSchedule".into(),
                            ..Default::default()
                        }]);
                });
            },
            expected: &["a", "b"],
        },
        Case {
            name: "an untolerated NoExecute taint evicts it",
            change: |fake| {
                fake.modify::<Node>(None, "b", |node| {
                    node.spec.as_mut().unwrap().taints =
                        Some(vec![wharf_sdk::k8s_openapi::api::core::v1::Taint {
                            key: "dedicated".into(),
                            effect: "NoExecute".into(),
                            ..Default::default()
                        }]);
                });
            },
            expected: &["a"],
        },
        Case {
            name: "a bound pod of a removed node is left to the pod garbage collector",
            change: |fake| {
                fake.remove::<Node>(None, "b");
            },
            expected: &["a", "b"],
        },
    ];
    for case in cases {
        let fake = cluster(
            daemon_set().node_selector(&[("daemons", "yes")]),
            vec![
                node("a").label("daemons", "yes"),
                node("b").label("daemons", "yes"),
            ],
        );
        let controller = DaemonSetController::default();
        settle(&fake, &controller, 5);
        (case.change)(&fake);
        settle(&fake, &controller, 5);
        assert_eq!(nodes_with_pods(&fake), case.expected, "{}", case.name);
    }
}

#[test]
fn an_unscheduled_pod_for_a_removed_node_is_deleted() {
    let fake = cluster(daemon_set(), nodes(&["a", "b"]));
    reconcile(&fake).unwrap();
    fake.remove::<Node>(None, "b");
    fake.clear_calls();
    reconcile(&fake).unwrap();
    assert_eq!(nodes_with_pods(&fake), ["a"]);
    assert_eq!(reasons(&fake), [reasons::SUCCESSFUL_DELETE]);
}

#[test]
fn of_several_pods_on_a_node_the_oldest_stays() {
    // kube's TestDealsWithExistingPods: nodes with 0, 1, 2 and 5 pods.
    let fake = cluster(daemon_set(), nodes(&["n0", "n1", "n2", "n5"]));
    let start = fake.now_millis();
    let add = |name: &str, node: &str, age_seconds: u64| {
        let mut pod = pod_on(name, node);
        pod.metadata.creation_timestamp = Some(time_from_millis(start - age_seconds * 1000));
        fake.add(pod);
    };
    add("one", "n1", 10);
    add("two-young", "n2", 5);
    add("two-old", "n2", 50);
    for (i, age) in [3, 9, 1, 7, 2].into_iter().enumerate() {
        add(&format!("five-{i}"), "n5", age);
    }
    reconcile(&fake).unwrap();
    let by_node = by_node(&fake);
    assert_eq!(by_node["n0"].len(), 1, "created");
    assert_eq!(by_node["n1"], ["one"]);
    assert_eq!(by_node["n2"], ["two-old"]);
    assert_eq!(by_node["n5"], ["five-1"]);
    assert_eq!(count(&fake, Verb::Delete, "Pod"), 5);
}

#[test]
fn orphans_are_adopted_and_strays_released() {
    let fake = cluster(daemon_set(), nodes(&["a", "b"]));
    let mut orphan = pod_on("orphan", "a");
    orphan.metadata.owner_references = None;
    fake.add(orphan);
    // Relabelled out of the selector (`kubectl label pod stray app=other`):
    // the daemon pod's other labels stay.
    let mut stray = pod_on("stray", "b");
    let labels = stray.metadata.labels.get_or_insert_with(Default::default);
    labels.insert("app".to_owned(), "other".to_owned());
    labels.insert("pod-template-generation".to_owned(), "1".to_owned());
    fake.add(stray);
    reconcile(&fake).unwrap();
    let adopted = fake.get::<Pod>(Some(NS), "orphan").unwrap();
    assert_eq!(
        controller_of(&adopted).map(|owner| owner.uid.as_str()),
        Some(UID)
    );
    let released = fake.get::<Pod>(Some(NS), "stray").unwrap();
    assert!(controller_of(&released).is_none());
    let mut owned: Vec<String> = pods(&fake)
        .iter()
        .filter(|pod| controller_of(*pod).is_some())
        .filter_map(|pod| target_node_name(pod).map(str::to_owned))
        .collect();
    owned.sort();
    assert_eq!(owned, ["a", "b"], "b gets a pod of its own");
}

#[test]
fn failed_pods_are_replaced_with_backoff() {
    let fake = cluster(daemon_set(), nodes(&["a"]));
    let controller = DaemonSetController::default();
    settle(&fake, &controller, 5);
    let first = name(&pods(&fake)[0]);
    set_phase(&fake, &first, "Failed");
    fake.clear_calls();
    let action = fake.run_with(&controller, KEY).unwrap();
    assert_eq!(action, Action::Done);
    let events = fake.events();
    assert_eq!(events[0].reason, reasons::FAILED_DAEMON_POD);
    assert_eq!(
        events[0].message,
        format!("Found failed daemon pod default/{first} on node a, will try to kill it")
    );
    assert_eq!(events[1].reason, reasons::SUCCESSFUL_DELETE);
    assert!(pods(&fake).is_empty());

    // The next reconcile sees the deletion and creates a replacement.
    fake.run_with(&controller, KEY).unwrap();
    let second = name(&pods(&fake)[0]);
    run_pods(&fake);
    // It fails at once too: within the backoff it stays, and the set looks again later.
    set_phase(&fake, &second, "Failed");
    fake.advance(Duration::from_millis(500));
    fake.clear_calls();
    let action = fake.run_with(&controller, KEY).unwrap();
    assert!(
        matches!(action, Action::RequeueAfter(after) if after <= Duration::from_secs(2)),
        "{action:?}"
    );
    assert!(fake.get::<Pod>(Some(NS), &second).is_some(), "in backoff");
    fake.advance(Duration::from_secs(2));
    fake.run_with(&controller, KEY).unwrap();
    assert!(
        fake.get::<Pod>(Some(NS), &second).is_none(),
        "after the backoff"
    );
}

#[test]
fn succeeded_pods_are_deleted() {
    let fake = cluster(daemon_set(), nodes(&["a"]));
    fake.add(pod_on("done", "a"));
    set_phase(&fake, "done", "Succeeded");
    reconcile(&fake).unwrap();
    assert!(fake.get::<Pod>(Some(NS), "done").is_none());
    assert_eq!(
        reasons(&fake),
        [reasons::SUCCEEDED_DAEMON_POD, reasons::SUCCESSFUL_DELETE]
    );
}

#[test]
fn creation_runs_in_slow_start_batches() {
    struct Case {
        name: &'static str,
        fail_from: Option<usize>,
        attempts: usize,
        created: usize,
    }
    let cases = [
        Case {
            name: "all succeed",
            fail_from: None,
            attempts: 10,
            created: 10,
        },
        Case {
            name: "the first fails",
            fail_from: Some(1),
            attempts: 1,
            created: 0,
        },
        Case {
            name: "the second batch fails",
            fail_from: Some(2),
            attempts: 3,
            created: 1,
        },
        Case {
            name: "the third batch fails",
            fail_from: Some(4),
            attempts: 7,
            created: 3,
        },
    ];
    let names: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
    for case in cases {
        let fake = cluster(daemon_set(), names.iter().map(|n| node(n)).collect());
        if let Some(n) = case.fail_from {
            let mut creates = 0;
            fake.fail_when(move |request| {
                if request.verb != Verb::Create || request.kind.kind != "Pod" {
                    return None;
                }
                creates += 1;
                (creates >= n).then(|| Error::Forbidden("exceeded quota: pods".to_owned()))
            });
        }
        let result = reconcile(&fake);
        let attempts = fake
            .calls()
            .iter()
            .filter(|call| call.verb == Verb::Create && call.kind.kind == "Pod")
            .count();
        assert_eq!(attempts, case.attempts, "{}: attempts", case.name);
        assert_eq!(pods(&fake).len(), case.created, "{}: pods", case.name);
        assert_eq!(result.is_ok(), case.fail_from.is_none(), "{}", case.name);
        if case.fail_from.is_some() {
            assert!(reasons(&fake).contains(&reasons::FAILED_CREATE.to_owned()));
            assert_eq!(
                status(&fake).desired_number_scheduled,
                10,
                "status still written"
            );
        }
    }
}

#[test]
fn unseen_creations_are_not_made_twice() {
    let fake = cluster(daemon_set(), vec![]);
    let controller = DaemonSetController::default();
    fake.run_with(&controller, KEY).unwrap(); // the revision
    fake.add(node("a").build());
    fake.add(node("b").build());
    fake.freeze_cache();
    fake.run_with(&controller, KEY).unwrap();
    assert_eq!(pods(&fake).len(), 2);
    // The stale set's status write conflicts (retried later by the host).
    let _ = fake.run_with(&controller, KEY);
    assert_eq!(pods(&fake).len(), 2, "the stale cache did not double them");
    fake.thaw_cache();
    fake.run_with(&controller, KEY).unwrap();
    assert_eq!(pods(&fake).len(), 2);
}

#[test]
fn a_thousand_nodes_are_served_in_bursts_quickly() {
    let fake = FakeCluster::new();
    fake.add(daemon_set().build());
    for i in 0..1000 {
        fake.add(node(&format!("node-{i:04}")).build());
    }
    let controller = DaemonSetController::default();
    let started = Instant::now();
    let action = fake.run_with(&controller, KEY).unwrap();
    assert_eq!(pods(&fake).len(), BURST_REPLICAS);
    assert!(matches!(action, Action::RequeueAfter(_)), "{action:?}");
    run_pods(&fake);
    fake.run_with(&controller, KEY).unwrap();
    assert_eq!(pods(&fake).len(), 1000);
    run_pods(&fake);
    fake.clear_calls();
    fake.run_with(&controller, KEY).unwrap();
    let status = status(&fake);
    assert_eq!(
        (status.desired_number_scheduled, status.number_ready),
        (1000, 1000)
    );
    assert_eq!(fake.writes().len(), 1, "only the status");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}

#[test]
fn the_status_counts_nodes() {
    let fake = cluster(
        daemon_set().node_selector(&[("daemons", "yes")]),
        vec![
            node("ready").label("daemons", "yes"),
            node("unready").label("daemons", "yes"),
            node("empty")
                .label("daemons", "yes")
                .taint("x", "NoSchedule"),
            node("missing").label("daemons", "yes"),
            node("other"),
        ],
    );
    let controller = DaemonSetController::default();
    // Pods made by hand: the "ready" and "unready" ones from an older template.
    for (pod, node) in [
        ("p-ready", "ready"),
        ("p-unready", "unready"),
        ("p-other", "other"),
    ] {
        fake.add(pod_on(pod, node));
    }
    let now = time_from_millis(fake.now_millis());
    for pod in ["p-ready", "p-other"] {
        let now = now.clone();
        fake.modify::<Pod>(Some(NS), pod, move |pod| {
            pod.status = Some(ready_status(now))
        });
    }
    set_phase(&fake, "p-unready", "Running");
    // Deleting must wait: hold the pod on "other" with a finalizer.
    fake.modify::<Pod>(Some(NS), "p-other", |pod| {
        pod.metadata.finalizers = Some(vec!["hold".to_owned()]);
    });
    fake.fail_when(|request| {
        (request.verb == Verb::Delete).then(|| Error::Conflict("not now".to_owned()))
    });
    let _ = fake.run_with(&controller, KEY);
    let status = status(&fake);
    // "missing" needs a pod (created now, counted next time); "empty" has
    // an untolerated NoSchedule taint and no pod: not desired.
    assert_eq!(status.desired_number_scheduled, 3);
    assert_eq!(status.current_number_scheduled, 2);
    assert_eq!(status.number_misscheduled, 1);
    assert_eq!(status.number_ready, 1);
    assert_eq!(status.number_available, Some(1));
    assert_eq!(status.number_unavailable, Some(2));
    assert_eq!(
        status.updated_number_scheduled,
        Some(0),
        "made by hand: no hash"
    );
    assert_eq!(status.observed_generation, Some(1));
}

#[test]
fn the_generation_is_observed_only_when_the_set_was_managed() {
    let fake = cluster(daemon_set(), nodes(&["a"]));
    let controller = DaemonSetController::default();
    fake.run_with(&controller, KEY).unwrap();
    // The pod created is never seen (gone before the cache showed it).
    let created = name(&pods(&fake)[0]);
    fake.remove::<Pod>(Some(NS), &created);
    set_image(&fake, "fluentd:2");
    fake.run_with(&controller, KEY).unwrap();
    assert!(pods(&fake).is_empty(), "no creation while expecting one");
    let daemon_set = daemon_set_now(&fake);
    assert_eq!(daemon_set.metadata.generation, Some(2));
    assert_eq!(
        daemon_set.status.unwrap().observed_generation,
        Some(1),
        "creations unseen: the new generation is not observed"
    );
}

#[test]
fn availability_waits_for_min_ready_seconds() {
    let fake = cluster(daemon_set().min_ready_seconds(10), nodes(&["a"]));
    let controller = DaemonSetController::default();
    fake.run_with(&controller, KEY).unwrap();
    run_pods(&fake);
    fake.advance(Duration::from_secs(4));
    let action = fake.run_with(&controller, KEY).unwrap();
    assert_eq!(status(&fake).number_ready, 1);
    assert_eq!(status(&fake).number_available, Some(0));
    let Action::RequeueAfter(after) = action else {
        panic!("expected a requeue, got {action:?}");
    };
    assert!(
        after > Duration::from_secs(5) && after <= Duration::from_secs(7),
        "{after:?}"
    );
    fake.advance(after);
    assert_eq!(fake.run_with(&controller, KEY).unwrap(), Action::Done);
    assert_eq!(status(&fake).number_available, Some(1));
}

/// Rolls `image` out over five nodes, one reconcile and one scheduling pass
/// at a time, and returns the most nodes that lacked an available pod and
/// the most pods that ran at once.
fn roll_out(fake: &FakeCluster, controller: &DaemonSetController) -> (usize, usize) {
    settle(fake, controller, 10);
    set_image(fake, "fluentd:2");
    let mut most_unavailable = 0;
    let mut most_pods = 0;
    for _ in 0..40 {
        let revision = fake.revision();
        fake.run_with(controller, KEY).unwrap();
        let live: Vec<Pod> = pods(fake)
            .into_iter()
            .filter(|pod| pod.metadata.deletion_timestamp.is_none())
            .collect();
        let available_nodes: std::collections::BTreeSet<String> = live
            .iter()
            .filter(|pod| is_ready(pod))
            .filter_map(|pod| target_node_name(pod).map(str::to_owned))
            .collect();
        most_unavailable = most_unavailable.max(5 - available_nodes.len());
        most_pods = most_pods.max(live.len());
        run_pods(fake);
        if fake.revision() == revision {
            break;
        }
    }
    let pods = pods(fake);
    assert_eq!(pods.len(), 5);
    assert!(
        pods.iter().all(|pod| image(pod) == "fluentd:2"),
        "all updated"
    );
    let status = status(fake);
    assert_eq!(status.updated_number_scheduled, Some(5));
    assert_eq!(status.number_available, Some(5));
    assert_eq!(status.observed_generation, Some(2));
    (most_unavailable, most_pods)
}

#[test]
fn rolling_updates_keep_within_max_unavailable() {
    let cases = [
        (IntOrString::Int(1), 1),
        (IntOrString::Int(2), 2),
        (IntOrString::String("40%".to_owned()), 2),
        (IntOrString::String("100%".to_owned()), 5),
        (IntOrString::Int(0), 1), // impossible with no surge: one at a time
    ];
    for (max_unavailable, expected) in cases {
        let fake = cluster(
            daemon_set().rolling_update(max_unavailable.clone(), IntOrString::Int(0)),
            nodes(&["a", "b", "c", "d", "e"]),
        );
        let controller = DaemonSetController::default();
        let (most_unavailable, most_pods) = roll_out(&fake, &controller);
        assert_eq!(most_unavailable, expected, "{max_unavailable:?}");
        assert_eq!(most_pods, 5, "{max_unavailable:?}: never two on a node");
    }
}

#[test]
fn surging_updates_start_the_new_pod_first() {
    let cases = [
        (IntOrString::Int(1), 6),
        (IntOrString::Int(2), 7),
        (IntOrString::String("100%".to_owned()), 10),
    ];
    for (max_surge, expected_most_pods) in cases {
        let fake = cluster(
            daemon_set().rolling_update(IntOrString::Int(0), max_surge.clone()),
            nodes(&["a", "b", "c", "d", "e"]),
        );
        let controller = DaemonSetController::default();
        let (most_unavailable, most_pods) = roll_out(&fake, &controller);
        assert_eq!(most_unavailable, 0, "{max_surge:?}: always available");
        assert_eq!(most_pods, expected_most_pods, "{max_surge:?}");
    }
}

#[test]
fn surging_keeps_the_old_pod_until_the_new_one_is_available() {
    let fake = cluster(
        daemon_set().rolling_update(IntOrString::Int(0), IntOrString::Int(1)),
        nodes(&["a"]),
    );
    let controller = DaemonSetController::default();
    settle(&fake, &controller, 5);
    let old = name(&pods(&fake)[0]);
    set_image(&fake, "fluentd:2");
    fake.run_with(&controller, KEY).unwrap();
    assert_eq!(pods(&fake).len(), 2, "the new pod beside the old");
    let new = pods(&fake)
        .into_iter()
        .map(|pod| name(&pod))
        .find(|pod| *pod != old)
        .unwrap();
    set_phase(&fake, &new, "Running"); // scheduled, not ready
    fake.run_with(&controller, KEY).unwrap();
    assert!(
        fake.get::<Pod>(Some(NS), &old).is_some(),
        "kept while the new one is not ready"
    );
    let now = time_from_millis(fake.now_millis());
    fake.modify::<Pod>(Some(NS), &new, move |pod| {
        pod.status = Some(ready_status(now))
    });
    fake.run_with(&controller, KEY).unwrap();
    assert!(
        fake.get::<Pod>(Some(NS), &old).is_none(),
        "deleted once the new one is available"
    );
    assert!(fake.get::<Pod>(Some(NS), &new).is_some());
}

#[test]
fn on_delete_replaces_only_deleted_pods() {
    let fake = cluster(daemon_set().on_delete(), nodes(&["a", "b"]));
    let controller = DaemonSetController::default();
    settle(&fake, &controller, 5);
    set_image(&fake, "fluentd:2");
    settle(&fake, &controller, 5);
    assert!(pods(&fake).iter().all(|pod| image(pod) == "fluentd:1"));
    assert_eq!(status(&fake).updated_number_scheduled, Some(0));
    let on_a = by_node(&fake)["a"][0].clone();
    fake.context().delete::<Pod>(Some(NS), &on_a).unwrap();
    settle(&fake, &controller, 5);
    let images: BTreeMap<String, String> = pods(&fake)
        .iter()
        .map(|pod| {
            (
                target_node_name(pod).unwrap().to_owned(),
                image(pod).to_owned(),
            )
        })
        .collect();
    assert_eq!(images["a"], "fluentd:2");
    assert_eq!(images["b"], "fluentd:1");
    assert_eq!(status(&fake).updated_number_scheduled, Some(1));
}

#[test]
fn revisions_follow_the_template_and_undo_reuses_them() {
    let fake = cluster(daemon_set(), nodes(&["a"]));
    let controller = DaemonSetController::default();
    settle(&fake, &controller, 5);
    let first = revisions(&fake);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].revision, Some(1));
    let data = &first[0].data.0;
    assert_eq!(data["spec"]["template"]["$patch"], "replace");
    assert_eq!(
        data["spec"]["template"]["spec"]["containers"][0]["image"],
        "fluentd:1"
    );
    assert_eq!(
        controller_of(&first[0]).map(|owner| owner.uid.as_str()),
        Some(UID)
    );

    set_image(&fake, "fluentd:2");
    settle(&fake, &controller, 10);
    let second = revisions(&fake);
    assert_eq!(second.len(), 2);
    assert_eq!(second[1].revision, Some(2));

    // `kubectl rollout undo`: the set patched with revision 1's data.
    fake.context()
        .patch::<DaemonSet>(
            Some(NS),
            NAME,
            &Patch::Strategic(first[0].data.0.clone()),
            false,
        )
        .unwrap();
    settle(&fake, &controller, 10);
    let after_undo = revisions(&fake);
    assert_eq!(after_undo.len(), 2, "no new revision");
    assert_eq!(after_undo[1].metadata.name, first[0].metadata.name);
    assert_eq!(after_undo[1].revision, Some(3), "renumbered as the newest");
    assert!(pods(&fake).iter().all(|pod| image(pod) == "fluentd:1"));
}

#[test]
fn history_is_truncated_but_revisions_in_use_are_kept() {
    let fake = cluster(
        daemon_set().on_delete().revision_history_limit(1),
        nodes(&["a"]),
    );
    let controller = DaemonSetController::default();
    settle(&fake, &controller, 5);
    for image in ["fluentd:2", "fluentd:3", "fluentd:4"] {
        set_image(&fake, image);
        settle(&fake, &controller, 5);
    }
    // OnDelete: the pod still runs revision 1, which stays; as in kube it
    // still counts against the limit, so 2 and 3 go and 4 is current.
    let numbers: Vec<Option<i64>> = revisions(&fake).iter().map(|r| r.revision).collect();
    assert_eq!(numbers, [Some(1), Some(4)]);
}

#[test]
fn a_hash_collision_bumps_the_collision_count() {
    let fake = cluster(daemon_set(), nodes(&["a"]));
    // What the controller will create, with other data under its name.
    let daemon_set = daemon_set_now(&fake);
    let data = crate::revisions::revision_data(&daemon_set).unwrap();
    let mut squatter = wharf_sdk::history::new_revision(&daemon_set, None, data, 1, None);
    squatter.data.0 = serde_json::json!({"spec": {"template": {"other": true}}});
    squatter.metadata.owner_references = None;
    squatter.metadata.labels = None;
    fake.add(squatter);
    assert!(reconcile(&fake).is_err(), "the colliding create fails");
    assert_eq!(status(&fake).collision_count, Some(1));
    reconcile(&fake).unwrap();
    assert_eq!(revisions(&fake).len(), 2);
    assert_eq!(pods(&fake).len(), 1);
    assert_eq!(
        status(&fake).collision_count,
        Some(1),
        "kept by the status write"
    );
}

#[test]
fn a_set_selecting_everything_or_being_deleted_does_nothing() {
    let fake = cluster(
        daemon_set().selector(LabelSelector::default()),
        nodes(&["a"]),
    );
    reconcile(&fake).unwrap();
    assert!(pods(&fake).is_empty());
    assert_eq!(reasons(&fake), [reasons::SELECTING_ALL]);

    let fake = cluster(daemon_set(), nodes(&["a"]));
    fake.modify::<DaemonSet>(Some(NS), NAME, |daemon_set| {
        daemon_set.metadata.deletion_timestamp = Some(time_from_millis(0));
        daemon_set.metadata.finalizers = Some(vec!["foregroundDeletion".to_owned()]);
    });
    reconcile(&fake).unwrap();
    assert!(fake.writes().is_empty());
}

#[test]
fn old_pods_that_are_not_available_are_replaced_beyond_max_unavailable() {
    // kube's TestDaemonSetUpdatesAllOldPodsNotReady.
    let fake = cluster(
        daemon_set().rolling_update(IntOrString::Int(1), IntOrString::Int(0)),
        nodes(&["a", "b", "c"]),
    );
    let controller = DaemonSetController::default();
    fake.run_with(&controller, KEY).unwrap();
    for pod in pods(&fake) {
        set_phase(&fake, &name(&pod), "Running"); // never ready
    }
    set_image(&fake, "fluentd:2");
    fake.clear_calls();
    fake.run_with(&controller, KEY).unwrap();
    assert_eq!(count(&fake, Verb::Delete, "Pod"), 3, "all at once");
    fake.run_with(&controller, KEY).unwrap();
    assert_eq!(nodes_with_pods(&fake), ["a", "b", "c"]);
    assert!(pods(&fake).iter().all(|pod| image(pod) == "fluentd:2"));
}
