//! The pod worker's state machine through a fake runtime: init
//! containers, restarts and CrashLoopBackOff, restart policies, sidecars
//! and graceful deletion, against an in-process API server, with no
//! process started.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use wharf_apiserver::{ApiState, LocalClient};
use wharf_client::{ApiClient, ResourceDef};
use wharf_store::{EmbeddedConfig, EmbeddedStore};

use crate::agent::process::Signal;
use crate::agent::runtime::fake::FakeRuntime;
use crate::agent::{AgentConfig, BackOffConfig, Gate, Resources, Shared, checkpoint, logs};

const NODE: &str = "node-a";
/// The back-off's first delay; it doubles up to four times this.
const BACK_OFF: Duration = Duration::from_millis(200);

/// An API server, and one agent's pod workers running the pods bound to
/// `NODE` through a fake runtime.
struct Node {
    client: ApiClient,
    pods: Arc<ResourceDef>,
    runtime: FakeRuntime,
    gate: Gate,
    dispatcher: JoinHandle<()>,
    _store: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.gate.close();
        self.dispatcher.abort();
    }
}

async fn node() -> Node {
    let store_dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(EmbeddedConfig::new(store_dir.path())).unwrap();
    let state = ApiState::new(Arc::new(store)).await.unwrap();
    let client: ApiClient = LocalClient::new(state).into();
    let data = tempfile::tempdir().unwrap();
    let config = AgentConfig {
        crash_loop_back_off: BackOffConfig {
            initial: BACK_OFF,
            max: BACK_OFF * 4,
            reset_after: Duration::from_secs(60),
        },
        ..AgentConfig::new(NODE, data.path())
    };
    for dir in [
        logs::logs_dir(data.path()),
        checkpoint::pods_dir(data.path()),
    ] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let resource = |group: &str, kind: &str| client.resource(group, "v1", kind).unwrap();
    let runtime = FakeRuntime::default();
    let gate = Gate::default();
    let shared = Arc::new(Shared {
        warm: None,
        runtime: Arc::new(runtime.clone()),
        events: wharf_client::events::Recorder::start(
            client.clone(),
            wharf_client::events::Source {
                component: "kubelet",
                host: Some(NODE.into()),
            },
        ),
        resources: Resources {
            nodes: resource("", "Node"),
            pods: resource("", "Pod"),
            leases: resource("coordination.k8s.io", "Lease"),
            config_maps: resource("", "ConfigMap"),
            secrets: resource("", "Secret"),
            services: resource("", "Service"),
        },
        client: client.clone(),
        config,
        gate: gate.clone(),
    });
    Node {
        pods: shared.resources.pods.clone(),
        dispatcher: tokio::spawn(super::run(shared)),
        client,
        runtime,
        gate,
        _store: store_dir,
        _data: data,
    }
}

/// A pod bound to `NODE` with `restartPolicy` and app containers named
/// `apps` (each a fake `command`), mounting no token.
fn pod(name: &str, policy: &str, apps: &[&str]) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "restartPolicy": policy,
            "automountServiceAccountToken": false,
            "containers": apps.iter().map(|name| container(name)).collect::<Vec<_>>(),
        },
    })
}

fn container(name: &str) -> Value {
    json!({"name": name, "image": "fake", "command": ["run"]})
}

/// Adds init containers; `(name, true)` is a sidecar.
fn with_init(mut pod: Value, init: &[(&str, bool)]) -> Value {
    pod["spec"]["initContainers"] = init
        .iter()
        .map(|(name, sidecar)| {
            let mut init = container(name);
            if *sidecar {
                init["restartPolicy"] = json!("Always");
            }
            init
        })
        .collect();
    pod
}

impl Node {
    async fn create(&self, pod: &Value) {
        (self.client)
            .create(&self.pods, Some("default"), pod)
            .await
            .unwrap();
    }

    async fn get(&self, name: &str) -> Option<Value> {
        self.client
            .get(&self.pods, Some("default"), name)
            .await
            .ok()
    }

    /// Waits until `check` holds for the pod, and returns it.
    async fn pod_when(&self, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(pod) = self.get(name).await.filter(|pod| check(pod)) {
                return pod;
            }
            assert!(
                Instant::now() < deadline,
                "pod {name}: timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn phase_is(&self, name: &str, phase: &str) -> Value {
        self.pod_when(name, phase, |pod| pod["status"]["phase"] == phase)
            .await
    }

    /// Waits until container `name` runs (its `starts`-th start).
    async fn running(&self, name: &str, starts: usize) {
        eventually(&format!("{name} running (start {starts})"), || {
            self.runtime.running(name) && self.runtime.starts(name).len() == starts
        })
        .await;
    }
}

/// Polls `check` until it holds (or fails the test after 20 s).
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn status<'a>(pod: &'a Value, list: &str, name: &str) -> &'a Value {
    (pod["status"][list].as_array().into_iter().flatten())
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no status of {name} in {list}: {pod}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_containers_run_in_order_to_completion_before_the_app_containers() {
    let node = node().await;
    let ordered = with_init(
        pod("ordered", "Always", &["app", "helper"]),
        &[("first", false), ("second", false)],
    );
    node.create(&ordered).await;

    node.running("first", 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        node.runtime.start_order(),
        ["first"],
        "one init container at a time"
    );
    let pending = node.phase_is("ordered", "Pending").await;
    assert_eq!(
        status(&pending, "containerStatuses", "app")["state"]["waiting"]["reason"],
        "PodInitializing"
    );

    assert!(node.runtime.exit("first", 0));
    node.running("second", 1).await;
    assert!(node.runtime.exit("second", 0));
    node.running("app", 1).await;
    node.running("helper", 1).await;
    let order = node.runtime.start_order();
    assert_eq!(order[..2], ["first", "second"]);
    assert_eq!(order.len(), 4, "{order:?}");
    node.phase_is("ordered", "Running").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_init_container_is_retried_unless_the_policy_is_never() {
    let node = node().await;
    for (name, policy) in [("retried", "OnFailure"), ("failed", "Never")] {
        let init = format!("{name}-init");
        let pod = with_init(
            pod(name, policy, &[&format!("{name}-app")]),
            &[(&init, false)],
        );
        node.create(&pod).await;
        node.running(&init, 1).await;
        assert!(node.runtime.exit(&init, 2));
    }
    node.running("retried-init", 2).await;
    let failed = node.phase_is("failed", "Failed").await;
    let init = status(&failed, "initContainerStatuses", "failed-init");
    assert_eq!(init["state"]["terminated"]["exitCode"], 2);
    assert!(node.runtime.starts("failed-app").is_empty());
    assert_eq!(node.runtime.starts("failed-init").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_container_restarts_with_a_crash_loop_back_off_that_doubles_to_its_maximum() {
    let node = node().await;
    node.create(&pod("crashing", "Always", &["app"])).await;
    let mut exits = Vec::new();
    for start in 1..=5 {
        node.running("app", start).await;
        exits.push(Instant::now());
        assert!(node.runtime.exit("app", 1));
        if start == 3 {
            let waiting = node
                .pod_when("crashing", "CrashLoopBackOff after 2 restarts", |pod| {
                    let app = &pod["status"]["containerStatuses"][0];
                    app["state"]["waiting"]["reason"] == "CrashLoopBackOff"
                        && app["restartCount"] == 2
                })
                .await;
            let app = status(&waiting, "containerStatuses", "app");
            assert_eq!(app["restartCount"], 2);
            assert_eq!(app["lastState"]["terminated"]["exitCode"], 1);
        }
    }
    node.running("app", 6).await;
    let starts = node.runtime.starts("app");
    let waits: Vec<Duration> = (exits.iter().zip(&starts[1..]))
        .map(|(exit, start)| *start - *exit)
        .collect();
    // The first restart is immediate; then 1, 2, 4 (the maximum), 4 times
    // the initial delay.
    assert!(waits[0] < BACK_OFF, "{waits:?}");
    for (wait, times) in waits[1..].iter().zip([1, 2, 4, 4]) {
        assert!(*wait >= BACK_OFF * times, "{waits:?}");
        assert!(*wait < BACK_OFF * (times + 3), "{waits:?}");
    }
    node.pod_when("crashing", "running after 5 restarts", |pod| {
        let app = &pod["status"]["containerStatuses"][0];
        pod["status"]["phase"] == "Running" && app["restartCount"] == 5 && app["ready"] == true
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_restart_policy_decides_whether_an_exited_container_restarts() {
    let node = node().await;
    // (policy, exit code, restarted, the pod's phase once not restarted)
    let cases = [
        ("Always", 0, true, ""),
        ("Always", 1, true, ""),
        ("OnFailure", 1, true, ""),
        ("OnFailure", 0, false, "Succeeded"),
        ("Never", 0, false, "Succeeded"),
        ("Never", 1, false, "Failed"),
    ];
    for (i, (policy, code, _, _)) in cases.iter().enumerate() {
        let (name, app) = (format!("pod-{i}"), format!("app-{i}"));
        node.create(&pod(&name, policy, &[&app])).await;
        node.running(&app, 1).await;
        assert!(node.runtime.exit(&app, *code));
    }
    for (i, (policy, code, restarted, phase)) in cases.into_iter().enumerate() {
        let (name, app) = (format!("pod-{i}"), format!("app-{i}"));
        let case = format!("{policy}, exit {code}");
        if restarted {
            node.running(&app, 2).await;
            continue;
        }
        let ended = node.phase_is(&name, phase).await;
        let terminated = &status(&ended, "containerStatuses", &app)["state"]["terminated"];
        assert_eq!(terminated["exitCode"], code, "{case}");
        assert_eq!(node.runtime.starts(&app).len(), 1, "{case}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_keeps_running_beside_the_app_and_stops_when_the_pod_completes() {
    let node = node().await;
    let with_sidecar = with_init(
        pod("with-sidecar", "OnFailure", &["app"]),
        &[("proxy", true), ("setup", false)],
    );
    node.create(&with_sidecar).await;

    // A running sidecar lets the next init container start.
    node.running("proxy", 1).await;
    node.running("setup", 1).await;
    assert!(node.runtime.exit("setup", 0));
    node.running("app", 1).await;
    // It is restarted whenever it exits, whatever the pod's policy.
    assert!(node.runtime.exit("proxy", 0));
    node.running("proxy", 2).await;
    assert!(node.runtime.signals("proxy").is_empty());

    assert!(node.runtime.exit("app", 0));
    let done = node.phase_is("with-sidecar", "Succeeded").await;
    assert_eq!(
        node.runtime.signals("proxy").first().map(|(s, _)| *s),
        Some(Signal::Term)
    );
    assert!(!node.runtime.running("proxy"));
    let proxy = status(&done, "initContainerStatuses", "proxy");
    assert_eq!(proxy["state"]["terminated"]["exitCode"], 143);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_signals_every_container_then_kills_those_left_after_the_grace_period() {
    let node = node().await;
    let mut stopping = pod("stopping", "Always", &["polite", "deaf"]);
    stopping["spec"]["terminationGracePeriodSeconds"] = json!(2);
    node.runtime.deaf("deaf");
    node.create(&stopping).await;
    node.running("polite", 1).await;
    node.running("deaf", 1).await;

    (node.client)
        .delete(&node.pods, Some("default"), "stopping")
        .await
        .unwrap();
    eventually("the pod stopped", || {
        !node.runtime.running("polite") && !node.runtime.running("deaf")
    })
    .await;
    let polite: Vec<Signal> = node
        .runtime
        .signals("polite")
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(polite, [Signal::Term]);
    let deaf = node.runtime.signals("deaf");
    assert_eq!(
        deaf.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [Signal::Term, Signal::Kill]
    );
    let grace = deaf[1].1 - deaf[0].1;
    assert!(grace >= Duration::from_secs(2), "killed after {grace:?}");
    assert!(grace < Duration::from_secs(4), "killed after {grace:?}");
    // Nothing runs any more: the pod is deleted for good.
    for _ in 0..2000 {
        if node.get("stopping").await.is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the pod is still there");
}
