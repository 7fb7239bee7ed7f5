//! The node agent against a real in-process API server on the embedded
//! store, running real processes from this machine (`sh`, `sleep`, `env`,
//! `true`, `false`): what kubectl would see, and what /proc shows.
//!
//! Every process a test starts is killed by the test's `Processes` guard,
//! even when the test fails.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wharf_apiserver::{ApiState, LocalClient};
use wharf_client::{Client, Patch, ResourceDef};
use wharf_node::{AgentConfig, BackOffConfig, NodeAgent, container_log_path};
use wharf_store::{EmbeddedConfig, EmbeddedStore};

const NODE: &str = "node-a";

struct Cluster {
    client: LocalClient,
    nodes: Arc<ResourceDef>,
    pods: Arc<ResourceDef>,
    leases: Arc<ResourceDef>,
    config_maps: Arc<ResourceDef>,
    secrets: Arc<ResourceDef>,
    /// The agent's data directory.
    data: tempfile::TempDir,
    processes: Processes,
    _store: tempfile::TempDir,
}

async fn cluster() -> Cluster {
    let store_dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(EmbeddedConfig::new(store_dir.path())).unwrap();
    let state = ApiState::new(Arc::new(store)).await.unwrap();
    // Pods get their ServiceAccount token volume, as under `wharf up`.
    let ca = wharf_pki::Ca::generate("agent-test-ca").unwrap();
    wharf_apiserver::serviceaccounts::prepare_for_pods(&state, "default", ca.cert_pem())
        .await
        .unwrap();
    let client = LocalClient::new(state);
    let resource = |group: &str, kind: &str| client.resource(group, "v1", kind).unwrap();
    Cluster {
        nodes: resource("", "Node"),
        pods: resource("", "Pod"),
        leases: resource("coordination.k8s.io", "Lease"),
        config_maps: resource("", "ConfigMap"),
        secrets: resource("", "Secret"),
        client,
        data: tempfile::tempdir().unwrap(),
        processes: Processes::default(),
        _store: store_dir,
    }
}

/// Fast periods and back-off, so that the tests run quickly.
fn config(data: &Path) -> AgentConfig {
    AgentConfig {
        heartbeat: Duration::from_millis(100),
        node_status_period: Duration::from_millis(300),
        pod_cidr_hint: Some("10.244.0.0/24".into()),
        crash_loop_back_off: BackOffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(400),
            reset_after: Duration::from_secs(60),
        },
        ..AgentConfig::new(NODE, data)
    }
}

/// Polls `probe` until it gives a value (or fails the test after 30 s).
async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A pod bound to the node, with `containers` (name, command) and
/// `restartPolicy`.
fn pod(name: &str, policy: &str, containers: &[(&str, &[&str])]) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|(name, command)| json!({"name": name, "image": "busybox", "command": command}))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {"nodeName": NODE, "restartPolicy": policy, "containers": containers},
    })
}

impl Cluster {
    async fn start_agent(&self) -> NodeAgent {
        NodeAgent::start(self.client.clone(), config(self.data.path()))
            .await
            .unwrap()
    }

    async fn create(&self, pod: &Value) -> Value {
        (self.client)
            .create(&self.pods, Some("default"), pod)
            .await
            .unwrap()
    }

    async fn get(&self, name: &str) -> Option<Value> {
        let pod = self
            .client
            .get(&self.pods, Some("default"), name)
            .await
            .ok();
        if let Some(pod) = &pod {
            self.processes.note(pod);
        }
        pod
    }

    /// Waits until `check` holds for the pod, and returns it.
    async fn pod_when(&self, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        eventually(&format!("pod {name}: {what}"), async || {
            self.get(name).await.filter(|pod| check(pod))
        })
        .await
    }

    async fn pod_in_phase(&self, name: &str, phase: &str) -> Value {
        self.pod_when(name, phase, |pod| pod["status"]["phase"] == phase)
            .await
    }

    async fn delete(&self, name: &str) {
        (self.client)
            .delete(&self.pods, Some("default"), name)
            .await
            .unwrap();
    }

    fn log(&self, pod: &Value, container: &str, restart: u32) -> String {
        let path = container_log_path(
            self.data.path(),
            "default",
            pod["metadata"]["name"].as_str().unwrap(),
            pod["metadata"]["uid"].as_str().unwrap(),
            container,
            restart,
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

fn condition<'a>(object: &'a Value, kind: &str) -> &'a Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

fn container_status<'a>(pod: &'a Value, name: &str) -> &'a Value {
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|list| pod["status"][list].as_array())
        .flatten()
        .find(|c| c["name"] == name)
        .unwrap_or(&Value::Null)
}

/// The pid in a `process://<pid>` container ID.
fn pid_of(status: &Value) -> u32 {
    let id = status["containerID"].as_str().unwrap_or_default();
    id.strip_prefix("process://")
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("not a process container ID: {status}"))
}

/// `/proc/<pid>/stat`: (state, process group, start time), if it exists.
fn stat(pid: u32) -> Option<(String, u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some((
        fields[0].to_string(),
        fields[2].parse().ok()?,
        fields[19].parse().ok()?,
    ))
}

/// Alive: exists and is not a zombie (a zombie has ended; this machine's
/// init may not reap orphans).
fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(state, _, _)| state != "Z" && state != "X")
}

/// Live processes in group `pgid`.
fn group(pgid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| alive(*pid) && stat(*pid).is_some_and(|(_, group, _)| group == pgid))
        .collect()
}

/// Live processes whose command line is exactly `argv`.
fn processes_running(argv: &[&str]) -> Vec<u32> {
    let wanted: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            alive(*pid) && std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted)
        })
        .collect()
}

fn kill_group(pgid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stderr(std::process::Stdio::null())
        .status();
}

/// Every container process a test saw (pid and start time, so a reused pid
/// is left alone); their groups are killed when the test ends, and the
/// cgroups of the pods it saw removed.
#[derive(Default)]
struct Processes {
    seen: Mutex<HashSet<(u32, u64)>>,
    pods: Mutex<HashSet<String>>,
}

impl Processes {
    fn note(&self, pod: &Value) {
        if let Some(uid) = pod["metadata"]["uid"].as_str() {
            self.pods.lock().unwrap().insert(uid.to_string());
        }
        for list in ["containerStatuses", "initContainerStatuses"] {
            for status in pod["status"][list].as_array().into_iter().flatten() {
                let id = status["containerID"].as_str().unwrap_or_default();
                let Some(pid) = id.strip_prefix("process://").and_then(|p| p.parse().ok()) else {
                    continue;
                };
                if let Some((_, _, start)) = stat(pid) {
                    self.seen.lock().unwrap().insert((pid, start));
                }
            }
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (pid, start) in self.seen.lock().unwrap().drain() {
            if stat(pid).is_some_and(|(_, group, s)| group == pid && s == start) {
                kill_group(pid, "KILL");
            }
        }
        let roots = [
            "/sys/fs/cgroup",
            "/sys/fs/cgroup/memory",
            "/sys/fs/cgroup/cpu",
        ];
        for uid in self.pods.lock().unwrap().drain() {
            for root in roots {
                let pod = Path::new(root).join("wharf").join(&uid);
                // Killed processes may take a moment to leave.
                for _ in 0..40 {
                    for container in std::fs::read_dir(&pod).into_iter().flatten().flatten() {
                        if container.path().is_dir() {
                            let _ = std::fs::remove_dir(container.path());
                        }
                    }
                    if std::fs::remove_dir(&pod).is_ok() || !pod.exists() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_the_node_from_this_machine_and_renews_its_lease() {
    let cluster = cluster().await;
    let agent = cluster.start_agent().await;

    let node = cluster
        .client
        .get(&cluster.nodes, None, NODE)
        .await
        .unwrap();
    let labels = &node["metadata"]["labels"];
    assert_eq!(labels["kubernetes.io/hostname"], NODE);
    assert_eq!(labels["kubernetes.io/os"], "linux");
    assert!(labels["kubernetes.io/arch"].is_string());
    assert_eq!(node["spec"]["podCIDR"], "10.244.0.0/24");
    let status = &node["status"];
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(status["capacity"]["cpu"], cpus.to_string());
    assert_eq!(status["capacity"]["pods"], "110");
    let memory = status["capacity"]["memory"].as_str().unwrap();
    assert!(memory.ends_with("Ki") && memory.len() > 3, "{memory}");
    assert!(status["allocatable"]["memory"].is_string());
    for (kind, state, reason) in [
        ("Ready", "True", "KubeletReady"),
        ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID"),
    ] {
        let condition = condition(&node, kind);
        assert_eq!(
            (&condition["status"], &condition["reason"]),
            (&json!(state), &json!(reason)),
            "{kind}"
        );
    }
    assert_eq!(
        status["addresses"],
        json!([{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": NODE}])
    );
    let info = &status["nodeInfo"];
    assert_eq!(info["kubeletVersion"], "v1.37.0");
    assert_eq!(info["containerRuntimeVersion"], "process://1.0");
    assert_eq!(info["operatingSystem"], "linux");
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(info["kernelVersion"], kernel.trim());
    assert!(!info["osImage"].as_str().unwrap().is_empty());

    let lease = eventually("the lease", async || {
        (cluster.client)
            .get(&cluster.leases, Some("kube-node-lease"), NODE)
            .await
            .ok()
    })
    .await;
    assert_eq!(lease["spec"]["holderIdentity"], NODE);
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
    assert_eq!(
        lease["metadata"]["ownerReferences"][0]["uid"],
        node["metadata"]["uid"]
    );
    let renewed = lease["spec"]["renewTime"].clone();
    eventually("a lease renewal", async || {
        let lease = (cluster.client)
            .get(&cluster.leases, Some("kube-node-lease"), NODE)
            .await
            .ok()?;
        (lease["spec"]["renewTime"] != renewed).then_some(())
    })
    .await;
    let heartbeat = condition(&node, "Ready")["lastHeartbeatTime"].clone();
    eventually("a node status heartbeat", async || {
        let node = cluster.client.get(&cluster.nodes, None, NODE).await.ok()?;
        let ready = condition(&node, "Ready");
        (ready["lastHeartbeatTime"] != heartbeat).then_some(())
    })
    .await;
    let transition = condition(&node, "Ready")["lastTransitionTime"].clone();

    // Restarted, the agent adopts its node rather than making another.
    agent.stop();
    let _agent = cluster.start_agent().await;
    let again = cluster
        .client
        .get(&cluster.nodes, None, NODE)
        .await
        .unwrap();
    assert_eq!(again["metadata"]["uid"], node["metadata"]["uid"]);
    assert_eq!(condition(&again, "Ready")["lastTransitionTime"], transition);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_bound_to_the_node_runs_and_reports_running_and_ready() {
    let cluster = cluster().await;
    let _agent = cluster.start_agent().await;
    let mut elsewhere = pod("elsewhere", "Always", &[("app", &["sleep", "1000"])]);
    elsewhere["spec"]["nodeName"] = json!("node-b");
    cluster.create(&elsewhere).await;
    let created = cluster
        .create(&pod("web", "Always", &[("app", &["sleep", "1001"])]))
        .await;

    let web = cluster
        .pod_when("web", "running and ready", |pod| {
            pod["status"]["phase"] == "Running" && condition(pod, "Ready")["status"] == "True"
        })
        .await;
    let status = &web["status"];
    assert_eq!(
        (&status["hostIP"], &status["podIP"]),
        (&json!("127.0.0.1"), &json!("127.0.0.1"))
    );
    assert_eq!(status["podIPs"], json!([{"ip": "127.0.0.1"}]));
    assert_eq!(status["hostIPs"], json!([{"ip": "127.0.0.1"}]));
    assert!(status["startTime"].is_string());
    for kind in [
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
        "Ready",
        "PodScheduled",
    ] {
        assert_eq!(condition(&web, kind)["status"], "True", "{kind}");
    }
    let app = container_status(&web, "app");
    assert_eq!(
        (
            &app["ready"],
            &app["started"],
            &app["restartCount"],
            &app["image"]
        ),
        (&json!(true), &json!(true), &json!(0), &json!("busybox"))
    );
    assert!(app["state"]["running"]["startedAt"].is_string());
    assert_eq!(app["lastState"], json!({}));
    let pid = pid_of(app);
    assert!(alive(pid));
    // Running is reported once the process started, which may be before
    // it has exec'd into its command (setpriv, then sleep): until then the
    // command line shows in more than one process of the chain.
    let running = eventually("the container's command alone", async || {
        let found = processes_running(&["sleep", "1001"]);
        (found == [pid]).then_some(found)
    })
    .await;
    assert_eq!(running, [pid]);
    assert_eq!(stat(pid).unwrap().1, pid, "the process leads its own group");
    assert_eq!(created["metadata"]["uid"], web["metadata"]["uid"]);

    // The status is written only when it changes: a settled pod is quiet.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let settled = cluster.get("web").await.unwrap();
    assert_eq!(
        settled["metadata"]["resourceVersion"], web["metadata"]["resourceVersion"],
        "no status rewrites: {}",
        settled["status"]
    );

    let other = cluster.get("elsewhere").await.unwrap();
    assert!(
        other["status"].get("phase").is_none_or(|p| p == "Pending"),
        "a pod of another node is left alone: {}",
        other["status"]
    );
    assert!(processes_running(&["sleep", "1000"]).is_empty());

    cluster.delete("web").await;
    eventually("the process gone", async || (!alive(pid)).then_some(())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_that_exits_is_restarted_with_its_restart_count_incremented() {
    let cluster = cluster().await;
    let _agent = cluster.start_agent().await;
    cluster
        .create(&pod(
            "crash",
            "Always",
            &[("app", &["sh", "-c", "echo started; exit 3"])],
        ))
        .await;

    let crashing = cluster
        .pod_when("crash", "restarted twice, in back-off", |pod| {
            let app = container_status(pod, "app");
            app["restartCount"].as_u64() >= Some(2)
                && app["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        })
        .await;
    let app = container_status(&crashing, "app");
    let last = &app["lastState"]["terminated"];
    assert_eq!(
        (&last["exitCode"], &last["reason"]),
        (&json!(3), &json!("Error"))
    );
    assert!(last["startedAt"].is_string() && last["finishedAt"].is_string());
    let message = app["state"]["waiting"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("back-off ")
            && message.contains("restarting failed container=app pod=crash_default("),
        "{message}"
    );
    assert_eq!(app["ready"], false);
    assert_eq!(crashing["status"]["phase"], "Running");
    let ready = condition(&crashing, "Ready");
    assert_eq!(
        (&ready["status"], &ready["reason"], &ready["message"]),
        (
            &json!("False"),
            &json!("ContainersNotReady"),
            &json!("containers with unready status: [app]")
        )
    );
    // One log file per start.
    for restart in 0..2 {
        assert_eq!(cluster.log(&crashing, "app", restart), "started\n");
    }
    cluster.delete("crash").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_policy_never_leaves_a_failed_pod_failed_with_the_exit_code() {
    let cluster = cluster().await;
    let _agent = cluster.start_agent().await;
    cluster
        .create(&pod("fails", "Never", &[("app", &["sh", "-c", "exit 7"])]))
        .await;
    cluster
        .create(&pod("succeeds", "Never", &[("app", &["true"])]))
        .await;
    cluster
        .create(&pod("retries", "OnFailure", &[("app", &["false"])]))
        .await;

    let failed = cluster.pod_in_phase("fails", "Failed").await;
    let app = container_status(&failed, "app");
    let terminated = &app["state"]["terminated"];
    assert_eq!(
        (&terminated["exitCode"], &terminated["reason"]),
        (&json!(7), &json!("Error"))
    );
    assert_eq!(app["restartCount"], 0);
    assert_eq!(condition(&failed, "Ready")["reason"], "PodFailed");
    assert_eq!(
        condition(&failed, "PodReadyToStartContainers")["status"],
        "False"
    );

    let succeeded = cluster.pod_in_phase("succeeds", "Succeeded").await;
    let terminated = &container_status(&succeeded, "app")["state"]["terminated"];
    assert_eq!(
        (&terminated["exitCode"], &terminated["reason"]),
        (&json!(0), &json!("Completed"))
    );
    assert_eq!(condition(&succeeded, "Ready")["reason"], "PodCompleted");

    let retrying = cluster
        .pod_when("retries", "restarted", |pod| {
            container_status(pod, "app")["restartCount"].as_u64() >= Some(1)
        })
        .await;
    assert_eq!(retrying["status"]["phase"], "Running");
    assert_eq!(
        container_status(&retrying, "app")["lastState"]["terminated"]["exitCode"],
        1
    );

    // Terminal pods stay as they are.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = cluster.get("fails").await.unwrap();
    assert_eq!(again["status"], failed["status"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_containers_run_in_order_before_the_app() {
    let cluster = cluster().await;
    let _agent = cluster.start_agent().await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().to_str().unwrap();
    let mut ordered = pod(
        "ordered",
        "Always",
        &[("app", &["sh", "-c", "echo app >> order; exec sleep 1002"])],
    );
    ordered["spec"]["containers"][0]["workingDir"] = json!(dir);
    ordered["spec"]["initContainers"] = json!([
        // Fails once, then succeeds: retried under restartPolicy Always.
        {"name": "first", "image": "busybox", "workingDir": dir,
         "command": ["sh", "-c", "[ -e tried ] || { touch tried; exit 1; }; echo first >> order"]},
        {"name": "second", "image": "busybox", "workingDir": dir,
         "command": ["sh", "-c", "grep -q first order && echo second >> order"]},
    ]);
    cluster.create(&ordered).await;

    let running = cluster.pod_in_phase("ordered", "Running").await;
    // Running means the app's process started, not that its shell has
    // written yet: wait for its line (or give up after 10 s).
    let order_file = work.path().join("order");
    let mut order = String::new();
    for _ in 0..100 {
        order = std::fs::read_to_string(&order_file).unwrap();
        if order.lines().count() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(order, "first\nsecond\napp\n");
    let first = container_status(&running, "first");
    assert_eq!(first["restartCount"], 1);
    assert_eq!(first["lastState"]["terminated"]["exitCode"], 1);
    for name in ["first", "second"] {
        let terminated = &container_status(&running, name)["state"]["terminated"];
        assert_eq!(
            (&terminated["exitCode"], &terminated["reason"]),
            (&json!(0), &json!("Completed")),
            "{name}"
        );
    }
    assert_eq!(condition(&running, "Initialized")["status"], "True");

    // A failing init container under restartPolicy Never fails the pod
    // and the app never starts.
    let mut blocked = pod("blocked", "Never", &[("app", &["sleep", "1003"])]);
    blocked["spec"]["initContainers"] =
        json!([{"name": "check", "image": "busybox", "command": ["false"]}]);
    cluster.create(&blocked).await;
    let failed = cluster.pod_in_phase("blocked", "Failed").await;
    assert_eq!(
        container_status(&failed, "check")["state"]["terminated"]["exitCode"],
        1
    );
    let initialized = condition(&failed, "Initialized");
    assert_eq!(
        (&initialized["status"], &initialized["message"]),
        (
            &json!("False"),
            &json!("containers with incomplete status: [check]")
        )
    );
    assert!(container_status(&failed, "app")["state"]["waiting"].is_object());
    assert!(processes_running(&["sleep", "1003"]).is_empty());
    cluster.delete("ordered").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_from_config_maps_secrets_and_fields_reaches_the_process() {
    let cluster = cluster().await;
    let _agent = cluster.start_agent().await;
    let config_map = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "default"},
        "data": {"greeting": "hello", "color": "blue"},
    });
    cluster
        .client
        .create(&cluster.config_maps, Some("default"), &config_map)
        .await
        .unwrap();
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "credentials", "namespace": "default"},
        "data": {"password": "czNjcjN0"},
    });
    cluster
        .client
        .create(&cluster.secrets, Some("default"), &secret)
        .await
        .unwrap();
    let field = |path: &str| json!({"fieldRef": {"fieldPath": path}});
    let mut printer = pod("printer", "Never", &[("app", &["env"])]);
    printer["spec"]["containers"][0]["env"] = json!([
        {"name": "PLAIN", "value": "x"},
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "credentials", "key": "password"}}},
        {"name": "MISSING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "nope", "optional": true}}},
        {"name": "POD_NAME", "valueFrom": field("metadata.name")},
        {"name": "POD_NAMESPACE", "valueFrom": field("metadata.namespace")},
        {"name": "POD_UID", "valueFrom": field("metadata.uid")},
        {"name": "NODE_NAME", "valueFrom": field("spec.nodeName")},
        {"name": "POD_IP", "valueFrom": field("status.podIP")},
        {"name": "HOST_IP", "valueFrom": field("status.hostIP")},
        {"name": "APP", "valueFrom": field("metadata.labels['app']")},
        {"name": "COMPOSED", "value": "$(GREETING)-world-$(UNDEFINED)"},
    ]);
    printer["spec"]["containers"][0]["envFrom"] =
        json!([{"prefix": "CM_", "configMapRef": {"name": "settings"}}]);
    let created = cluster.create(&printer).await;

    let done = cluster.pod_in_phase("printer", "Succeeded").await;
    let log = cluster.log(&done, "app", 0);
    let env: HashSet<&str> = log.lines().collect();
    let uid = format!("POD_UID={}", created["metadata"]["uid"].as_str().unwrap());
    for expected in [
        "PLAIN=x",
        "GREETING=hello",
        "PASSWORD=s3cr3t",
        "POD_NAME=printer",
        "POD_NAMESPACE=default",
        uid.as_str(),
        "NODE_NAME=node-a",
        "POD_IP=127.0.0.1",
        "HOST_IP=127.0.0.1",
        "APP=printer",
        "COMPOSED=hello-world-$(UNDEFINED)",
        "CM_greeting=hello",
        "CM_color=blue",
        "HOSTNAME=printer",
    ] {
        assert!(env.contains(expected), "{expected} not in:\n{log}");
    }
    assert!(!log.contains("MISSING="), "{log}");
    assert!(
        !log.contains("CARGO_MANIFEST_DIR"),
        "the agent's environment does not leak: {log}"
    );

    // A missing ConfigMap holds the container until it exists.
    let mut waiting = pod("waiting", "Never", &[("app", &["env"])]);
    waiting["spec"]["containers"][0]["env"] = json!([
        {"name": "LATE", "valueFrom": {"configMapKeyRef": {"name": "late", "key": "k"}}},
    ]);
    cluster.create(&waiting).await;
    let held = cluster
        .pod_when("waiting", "held by its config", |pod| {
            container_status(pod, "app")["state"]["waiting"]["reason"]
                == "CreateContainerConfigError"
        })
        .await;
    assert_eq!(
        container_status(&held, "app")["state"]["waiting"]["message"],
        "configmap \"late\" not found"
    );
    assert_eq!(held["status"]["phase"], "Pending");
    let late = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "late", "namespace": "default"},
        "data": {"k": "finally"},
    });
    cluster
        .client
        .create(&cluster.config_maps, Some("default"), &late)
        .await
        .unwrap();
    let done = cluster.pod_in_phase("waiting", "Succeeded").await;
    assert!(cluster.log(&done, "app", 0).contains("LATE=finally\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_without_a_command_waits_with_a_create_container_error() {
    let cluster = cluster().await;
    let _agent = cluster.start_agent().await;
    let mut imageless = pod("imageless", "Always", &[]);
    imageless["spec"]["containers"] = json!([{"name": "app", "image": "nginx"}]);
    cluster.create(&imageless).await;
    cluster
        .create(&pod("missing", "Never", &[("app", &["/no/such/program"])]))
        .await;

    let waiting = cluster
        .pod_when("imageless", "a create error", |pod| {
            container_status(pod, "app")["state"]["waiting"]["reason"] == "CreateContainerError"
        })
        .await;
    let message = container_status(&waiting, "app")["state"]["waiting"]["message"]
        .as_str()
        .unwrap();
    assert!(message.starts_with("no command specified"), "{message}");
    assert_eq!(waiting["status"]["phase"], "Pending");

    let failed = cluster.pod_in_phase("missing", "Failed").await;
    let terminated = &container_status(&failed, "app")["state"]["terminated"];
    assert_eq!(
        (&terminated["exitCode"], &terminated["reason"]),
        (&json!(128), &json!("StartError"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_pod_stops_its_processes_and_leaves_none_behind() {
    let cluster = cluster().await;
    let _agent = cluster.start_agent().await;
    let mut stubborn = pod(
        "stubborn",
        "Always",
        &[
            ("polite", &["sleep", "1004"]),
            // Ignores SIGTERM, and leaves a child in its group.
            (
                "deaf",
                &["sh", "-c", "trap '' TERM; sleep 1005 & sleep 1006; wait"],
            ),
        ],
    );
    stubborn["spec"]["terminationGracePeriodSeconds"] = json!(1);
    let created = cluster.create(&stubborn).await;
    let uid = created["metadata"]["uid"].as_str().unwrap().to_string();
    let running = cluster.pod_in_phase("stubborn", "Running").await;
    let mut pids = Vec::new();
    for name in ["polite", "deaf"] {
        pids.extend(group(pid_of(container_status(&running, name))));
    }
    eventually("the deaf container's children", async || {
        (!processes_running(&["sleep", "1005"]).is_empty()
            && !processes_running(&["sleep", "1006"]).is_empty())
        .then_some(())
    })
    .await;
    pids.extend(group(pid_of(container_status(&running, "deaf"))));
    assert!(pids.len() >= 3, "{pids:?}");
    let records = cluster.data.path().join("pods").join(&uid);
    assert!(records.exists());

    cluster.delete("stubborn").await;
    eventually("every process gone", async || {
        pids.iter().all(|pid| !alive(*pid)).then_some(())
    })
    .await;
    // None of the commands runs any more (a killed process leaves /proc
    // once reaped, which a loaded machine may take a moment to do).
    eventually("no command of the pod left", async || {
        [["sleep", "1004"], ["sleep", "1005"], ["sleep", "1006"]]
            .iter()
            .all(|argv| processes_running(argv).is_empty())
            .then_some(())
    })
    .await;
    eventually("the pod's records gone", async || {
        (!records.exists()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_held_by_a_finalizer_is_stopped_and_reported_terminated() {
    let cluster = cluster().await;
    let _agent = cluster.start_agent().await;
    let mut held = pod("held", "Always", &[("app", &["sleep", "1007"])]);
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    cluster.create(&held).await;
    let running = cluster.pod_in_phase("held", "Running").await;
    let pid = pid_of(container_status(&running, "app"));

    cluster.delete("held").await;
    let stopped = cluster.pod_in_phase("held", "Failed").await;
    assert!(!alive(pid));
    let terminated = &container_status(&stopped, "app")["state"]["terminated"];
    assert_eq!(
        (&terminated["exitCode"], &terminated["reason"]),
        (&json!(143), &json!("Error")),
        "ended by SIGTERM"
    );
    assert_eq!(condition(&stopped, "Ready")["status"], "False");

    let release = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    (cluster.client)
        .patch(&cluster.pods, Some("default"), "held", &release, false)
        .await
        .unwrap();
    eventually("the pod gone", async || {
        cluster.get("held").await.is_none().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_adopts_running_pods_without_restarting_them() {
    let cluster = cluster().await;
    let agent = cluster.start_agent().await;
    cluster
        .create(&pod("kept", "Always", &[("app", &["sleep", "1008"])]))
        .await;
    cluster
        .create(&pod("orphaned", "Always", &[("app", &["sleep", "1009"])]))
        .await;
    let kept = cluster.pod_in_phase("kept", "Running").await;
    let orphaned = cluster.pod_in_phase("orphaned", "Running").await;
    let pid = pid_of(container_status(&kept, "app"));
    let orphan_pid = pid_of(container_status(&orphaned, "app"));

    agent.stop();
    assert!(
        alive(pid) && alive(orphan_pid),
        "a stopped agent leaves its pods running"
    );
    // Deleted while no agent runs: the next one stops it.
    cluster.delete("orphaned").await;
    let _agent = cluster.start_agent().await;
    // A new pod running shows the new agent has taken on the listed pods.
    cluster
        .create(&pod("probe", "Always", &[("app", &["sleep", "1010"])]))
        .await;
    cluster.pod_in_phase("probe", "Running").await;

    eventually("the orphan stopped", async || {
        (!alive(orphan_pid)).then_some(())
    })
    .await;
    let adopted = cluster.get("kept").await.unwrap();
    let app = container_status(&adopted, "app");
    assert_eq!(pid_of(app), pid, "the same process");
    assert_eq!(app["restartCount"], 0);
    assert_eq!(
        processes_running(&["sleep", "1008"]),
        [pid],
        "never a second one"
    );

    // The adopted process is watched: when it ends, it is restarted.
    kill_group(pid, "KILL");
    let restarted = cluster
        .pod_when("kept", "restarted", |pod| {
            container_status(pod, "app")["restartCount"] == 1
                && container_status(pod, "app")["state"]["running"].is_object()
        })
        .await;
    let app = container_status(&restarted, "app");
    assert_ne!(pid_of(app), pid);
    assert_eq!(
        app["lastState"]["terminated"]["reason"],
        "ContainerStatusUnknown"
    );
    cluster.delete("kept").await;
    cluster.delete("probe").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_runs_beside_the_app_and_stops_when_the_pod_completes() {
    let cluster = cluster().await;
    let _agent = cluster.start_agent().await;
    let mut job = pod(
        "job",
        "Never",
        &[("app", &["sh", "-c", "sleep 1.5; echo done"])],
    );
    job["spec"]["initContainers"] = json!([
        {"name": "proxy", "image": "envoy", "restartPolicy": "Always", "command": ["sleep", "1011"]},
    ]);
    job["spec"]["terminationGracePeriodSeconds"] = json!(1);
    cluster.create(&job).await;

    let running = cluster.pod_in_phase("job", "Running").await;
    let proxy = container_status(&running, "proxy");
    assert_eq!(
        (&proxy["ready"], &proxy["started"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(condition(&running, "Initialized")["status"], "True");
    let pid = pid_of(proxy);

    let done = cluster.pod_in_phase("job", "Succeeded").await;
    assert!(!alive(pid), "the sidecar is stopped with the pod");
    assert_eq!(
        container_status(&done, "app")["state"]["terminated"]["reason"],
        "Completed"
    );
    assert!(container_status(&done, "proxy")["state"]["terminated"].is_object());
    assert_eq!(cluster.log(&done, "app", 0), "done\n");
}

/// A loopback port nothing listens on (one just freed).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Cluster {
    /// Deletes the pod and waits until the agent has stopped it (its
    /// records gone), so that no process of it outlives the test.
    async fn delete_and_wait(&self, pod: &Value) {
        let name = pod["metadata"]["name"].as_str().unwrap();
        let uid = pod["metadata"]["uid"].as_str().unwrap();
        self.delete(name).await;
        let records = self.data.path().join("pods").join(uid);
        eventually(&format!("pod {name} stopped"), async || {
            (!records.exists()).then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_liveness_probe_restarts_the_container() {
    let cluster = cluster().await;
    let _agent = cluster.start_agent().await;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("healthy"), "").unwrap();
    let mut checked = pod("checked", "Always", &[("app", &["sleep", "1020"])]);
    checked["spec"]["terminationGracePeriodSeconds"] = json!(1);
    checked["spec"]["containers"][0]["workingDir"] = json!(work.path());
    checked["spec"]["containers"][0]["livenessProbe"] = json!({
        "exec": {"command": ["test", "-f", "healthy"]},
        "periodSeconds": 1, "failureThreshold": 1,
    });
    // Ignores SIGTERM, and its probe's port has nothing listening: killed
    // once its grace period is over. (Its first probe waits a second, so
    // that the SIGTERM does not come before its trap is set.)
    let mut deaf = pod(
        "deaf",
        "Always",
        &[(
            "app",
            &["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"],
        )],
    );
    deaf["spec"]["terminationGracePeriodSeconds"] = json!(1);
    deaf["spec"]["containers"][0]["livenessProbe"] = json!({
        "httpGet": {"port": free_port(), "path": "/healthz"},
        "initialDelaySeconds": 1, "periodSeconds": 1, "failureThreshold": 1,
    });
    let checked = cluster.create(&checked).await;
    let deaf = cluster.create(&deaf).await;

    let healthy = cluster
        .pod_when("checked", "running and ready", |pod| {
            condition(pod, "Ready")["status"] == "True"
        })
        .await;
    let app = container_status(&healthy, "app");
    assert_eq!(
        (&app["restartCount"], &app["started"]),
        (&json!(0), &json!(true))
    );
    let first = pid_of(app);

    std::fs::remove_file(work.path().join("healthy")).unwrap();
    let restarted = cluster
        .pod_when("checked", "restarted after failing its probe", |pod| {
            let app = container_status(pod, "app");
            app["restartCount"].as_u64() >= Some(1) && app["state"]["running"].is_object()
        })
        .await;
    let app = container_status(&restarted, "app");
    assert_ne!(pid_of(app), first);
    assert!(!alive(first));
    let last = &app["lastState"]["terminated"];
    assert_eq!(
        (&last["exitCode"], &last["reason"]),
        (&json!(143), &json!("Error")),
        "ended by SIGTERM"
    );

    let killed = cluster
        .pod_when("deaf", "killed and restarted", |pod| {
            container_status(pod, "app")["restartCount"].as_u64() >= Some(1)
        })
        .await;
    assert_eq!(
        container_status(&killed, "app")["lastState"]["terminated"]["exitCode"],
        137,
        "SIGKILLed after the grace period"
    );
    cluster.delete_and_wait(&checked).await;
    cluster.delete_and_wait(&deaf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_readiness_probe_decides_when_the_container_is_ready() {
    let cluster = cluster().await;
    let agent = cluster.start_agent().await;
    let work = tempfile::tempdir().unwrap();
    let marker = work.path().join("ready");
    let mut gated = pod("gated", "Always", &[("app", &["sleep", "1021"])]);
    gated["spec"]["containers"][0]["env"] = json!([{"name": "MARKER", "value": marker}]);
    gated["spec"]["containers"][0]["readinessProbe"] = json!({
        "exec": {"command": ["sh", "-c", "test -f \"$MARKER\""]},
        "periodSeconds": 1, "failureThreshold": 1,
    });
    let gated = cluster.create(&gated).await;
    let is_ready = |ready: bool| {
        move |pod: &Value| {
            let expected = if ready { "True" } else { "False" };
            container_status(pod, "app")["ready"] == ready
                && condition(pod, "Ready")["status"] == expected
                && condition(pod, "ContainersReady")["status"] == expected
        }
    };

    let unready = cluster
        .pod_when("gated", "running", |pod| {
            container_status(pod, "app")["state"]["running"].is_object()
        })
        .await;
    assert!(is_ready(false)(&unready), "{}", unready["status"]);
    assert_eq!(container_status(&unready, "app")["started"], true);
    assert_eq!(unready["status"]["phase"], "Running");
    assert_eq!(
        condition(&unready, "Ready")["message"],
        "containers with unready status: [app]"
    );
    let pid = pid_of(container_status(&unready, "app"));

    std::fs::write(&marker, "").unwrap();
    cluster.pod_when("gated", "ready", is_ready(true)).await;

    // A restarted agent adopts the container and probes it too.
    agent.stop();
    let _agent = cluster.start_agent().await;
    std::fs::remove_file(&marker).unwrap();
    let unready = cluster
        .pod_when("gated", "unready again", is_ready(false))
        .await;
    std::fs::write(&marker, "").unwrap();
    let ready = cluster
        .pod_when("gated", "ready again", is_ready(true))
        .await;

    for pod in [&unready, &ready] {
        let app = container_status(pod, "app");
        assert_eq!(
            (pid_of(app), &app["restartCount"]),
            (pid, &json!(0)),
            "readiness restarts nothing"
        );
    }
    cluster.delete_and_wait(&gated).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_readiness_probe_passes_once_the_port_listens() {
    let cluster = cluster().await;
    let _agent = cluster.start_agent().await;
    let work = tempfile::tempdir().unwrap();
    let (tcp_port, http_port) = (free_port(), free_port());
    let listen_later = format!(
        "import socket, time\n\
         time.sleep(2)\n\
         s = socket.socket()\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('127.0.0.1', {tcp_port}))\n\
         s.listen()\n\
         time.sleep(1022)\n"
    );
    let serve = format!("sleep 2; exec python3 -m http.server {http_port} --bind 127.0.0.1");
    let mut listening = pod(
        "listening",
        "Always",
        &[
            ("tcp", &["python3", "-c", &listen_later]),
            ("http", &["sh", "-c", &serve]),
        ],
    );
    let containers = &mut listening["spec"]["containers"];
    containers[0]["ports"] = json!([{"name": "service", "containerPort": tcp_port}]);
    containers[0]["readinessProbe"] = json!({
        "tcpSocket": {"port": "service"}, "periodSeconds": 1,
    });
    // The same with an HTTP GET (the pod's IP is 127.0.0.1 without CNI).
    containers[1]["workingDir"] = json!(work.path());
    containers[1]["readinessProbe"] = json!({
        "httpGet": {"port": http_port, "path": "/", "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
        "periodSeconds": 1,
    });
    let listening = cluster.create(&listening).await;

    let starting = cluster
        .pod_when("listening", "running", |pod| {
            ["tcp", "http"]
                .iter()
                .all(|name| container_status(pod, name)["state"]["running"].is_object())
        })
        .await;
    for name in ["tcp", "http"] {
        let status = container_status(&starting, name);
        assert_eq!(
            (&status["started"], &status["ready"]),
            (&json!(true), &json!(false)),
            "{name}"
        );
    }
    assert_eq!(condition(&starting, "Ready")["status"], "False");

    let ready = cluster
        .pod_when("listening", "ready", |pod| {
            condition(pod, "Ready")["status"] == "True"
        })
        .await;
    for name in ["tcp", "http"] {
        let status = container_status(&ready, name);
        assert_eq!(
            (&status["ready"], &status["restartCount"]),
            (&json!(true), &json!(0)),
            "{name}"
        );
    }
    cluster.delete_and_wait(&listening).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_startup_probe_holds_liveness_until_it_succeeds() {
    let cluster = cluster().await;
    let _agent = cluster.start_agent().await;
    let work = tempfile::tempdir().unwrap();
    let check = json!({"exec": {"command": ["test", "-f", "started"]}});
    let mut slow = pod(
        "slow",
        "Always",
        &[(
            "app",
            &["sh", "-c", "sleep 2; touch started; exec sleep 1023"],
        )],
    );
    slow["spec"]["terminationGracePeriodSeconds"] = json!(1);
    let app = &mut slow["spec"]["containers"][0];
    app["workingDir"] = json!(work.path());
    app["startupProbe"] =
        json!({"periodSeconds": 1, "failureThreshold": 30, "exec": check["exec"]});
    // Would kill the container at its first run, before the file exists.
    app["livenessProbe"] =
        json!({"periodSeconds": 1, "failureThreshold": 1, "exec": check["exec"]});
    // Never starts: killed and restarted once its startup probe gives up.
    let mut stuck = pod("stuck", "Always", &[("app", &["sleep", "1024"])]);
    stuck["spec"]["terminationGracePeriodSeconds"] = json!(1);
    stuck["spec"]["containers"][0]["startupProbe"] = json!({
        "exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 2,
    });
    let slow = cluster.create(&slow).await;
    let stuck = cluster.create(&stuck).await;

    let starting = cluster
        .pod_when("slow", "running", |pod| {
            container_status(pod, "app")["state"]["running"].is_object()
        })
        .await;
    let app = container_status(&starting, "app");
    assert_eq!(
        (&app["started"], &app["ready"]),
        (&json!(false), &json!(false))
    );
    assert_eq!(condition(&starting, "Ready")["status"], "False");
    let pid = pid_of(app);

    let started = cluster
        .pod_when("slow", "started", |pod| {
            container_status(pod, "app")["started"] == true
        })
        .await;
    let app = container_status(&started, "app");
    assert_eq!(
        (pid_of(app), &app["restartCount"], &app["ready"]),
        (pid, &json!(0), &json!(true)),
        "liveness waited for the startup probe"
    );

    // From now on liveness is probed.
    std::fs::remove_file(work.path().join("started")).unwrap();
    let restarted = cluster
        .pod_when("slow", "restarted by its liveness probe", |pod| {
            container_status(pod, "app")["restartCount"].as_u64() >= Some(1)
        })
        .await;
    assert_eq!(
        container_status(&restarted, "app")["lastState"]["terminated"]["exitCode"],
        143
    );

    let given_up = cluster
        .pod_when("stuck", "restarted by its startup probe", |pod| {
            container_status(pod, "app")["restartCount"].as_u64() >= Some(1)
        })
        .await;
    let app = container_status(&given_up, "app");
    assert_eq!(app["started"], false);
    assert_eq!(app["ready"], false);
    cluster.delete_and_wait(&slow).await;
    cluster.delete_and_wait(&stuck).await;
}

/// The directories of a container's cgroup, one per hierarchy (v2: one, v1:
/// memory and cpu), if this machine has writable cgroups.
fn container_cgroups(uid: &str, container: &str) -> Option<Vec<std::path::PathBuf>> {
    let root = Path::new("/sys/fs/cgroup");
    let roots = if root.join("cgroup.controllers").exists() {
        vec![root.to_path_buf()]
    } else if root.join("memory/cgroup.procs").exists() && root.join("cpu/cgroup.procs").exists() {
        vec![root.join("memory"), root.join("cpu")]
    } else {
        return None;
    };
    if !roots
        .iter()
        .all(|root| std::fs::create_dir_all(root.join("wharf")).is_ok())
    {
        return None;
    }
    Some(
        roots
            .iter()
            .map(|root| root.join("wharf").join(uid).join(container))
            .collect(),
    )
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

fn limited(mut pod: Value, memory: &str, cpu: Option<&str>) -> Value {
    let mut limits = json!({"memory": memory});
    if let Some(cpu) = cpu {
        limits["cpu"] = json!(cpu);
    }
    pod["spec"]["containers"][0]["resources"] = json!({"limits": limits});
    pod
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_runs_in_its_cgroup_with_its_memory_and_cpu_limits() {
    let cluster = cluster().await;
    let _agent = cluster.start_agent().await;
    let created = cluster
        .create(&limited(
            pod("limited", "Always", &[("app", &["sleep", "1011"])]),
            "64Mi",
            Some("500m"),
        ))
        .await;
    let uid = created["metadata"]["uid"].as_str().unwrap().to_string();
    let running = cluster.pod_in_phase("limited", "Running").await;
    let pid = pid_of(container_status(&running, "app"));
    let Some(dirs) = container_cgroups(&uid, "app") else {
        eprintln!("SKIPPED: this machine has no writable cgroups (not root?)");
        return;
    };

    let expected = format!("/wharf/{uid}/app");
    // The container's `sh` joins its cgroup first thing, but may not have
    // run yet when the pod is reported Running.
    let joined = |memberships: &str| memberships.contains(&expected);
    let memberships = eventually("the process joins its cgroup", async || {
        let memberships = read_trimmed(Path::new(&format!("/proc/{pid}/cgroup")));
        joined(&memberships).then_some(memberships)
    })
    .await;
    let in_cgroup = |controller: &str| {
        memberships.lines().any(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next(), fields.next(), fields.next());
            let named = match controllers {
                Some("") => controller.is_empty(),
                Some(list) => list.split(',').any(|c| c == controller),
                None => false,
            };
            named && path == Some(expected.as_str())
        })
    };
    if dirs.len() == 1 {
        assert!(in_cgroup(""), "{memberships}");
        assert_eq!(read_trimmed(&dirs[0].join("memory.max")), "67108864");
        assert_eq!(read_trimmed(&dirs[0].join("cpu.max")), "50000 100000");
    } else {
        assert!(in_cgroup("memory") && in_cgroup("cpu"), "{memberships}");
        assert_eq!(
            read_trimmed(&dirs[0].join("memory.limit_in_bytes")),
            "67108864"
        );
        assert_eq!(read_trimmed(&dirs[1].join("cpu.cfs_period_us")), "100000");
        assert_eq!(read_trimmed(&dirs[1].join("cpu.cfs_quota_us")), "50000");
    }
    let procs = read_trimmed(&dirs[0].join("cgroup.procs"));
    assert!(procs.lines().any(|line| line == pid.to_string()), "{procs}");

    cluster.delete("limited").await;
    eventually("the container's cgroups removed", async || {
        dirs.iter()
            .all(|dir| !dir.exists() && !dir.parent().unwrap().exists())
            .then_some(())
    })
    .await;
    assert!(!alive(pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_escapes_its_group_with_setsid_is_still_stopped() {
    let cluster = cluster().await;
    let _agent = cluster.start_agent().await;
    let mut escaping = pod(
        "escaping",
        "Always",
        &[("app", &["sh", "-c", "setsid sleep 1012 & sleep 1013; wait"])],
    );
    escaping["spec"]["terminationGracePeriodSeconds"] = json!(1);
    let created = cluster.create(&escaping).await;
    let uid = created["metadata"]["uid"].as_str().unwrap().to_string();
    let running = cluster.pod_in_phase("escaping", "Running").await;
    let pgid = pid_of(container_status(&running, "app"));
    let escaped = eventually("the process that left the group", async || {
        processes_running(&["sleep", "1012"]).first().copied()
    })
    .await;
    assert!(
        stat(escaped).is_some_and(|(_, group, _)| group != pgid),
        "setsid gave it a group of its own"
    );
    let Some(_) = container_cgroups(&uid, "app") else {
        eprintln!("SKIPPED: this machine has no writable cgroups (not root?)");
        kill_group(escaped, "KILL");
        return;
    };

    cluster.delete("escaping").await;
    eventually("the pod gone", async || {
        cluster.get("escaping").await.is_none().then_some(())
    })
    .await;
    eventually("no process with the marker left", async || {
        (processes_running(&["sleep", "1012"]).is_empty()
            && processes_running(&["sleep", "1013"]).is_empty())
        .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_over_its_memory_limit_is_oom_killed() {
    let python = ["/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3"]
        .into_iter()
        .find(|path| Path::new(path).exists());
    let Some(python) = python else {
        eprintln!("SKIPPED: no python3 on this machine");
        return;
    };
    let cluster = cluster().await;
    let _agent = cluster.start_agent().await;
    let created = cluster
        .create(&limited(
            pod(
                "hungry",
                "Never",
                &[(
                    "app",
                    &[
                        python,
                        "-c",
                        "b = b'x' * (200 << 20); import time; time.sleep(60)",
                    ],
                )],
            ),
            "32Mi",
            None,
        ))
        .await;
    let uid = created["metadata"]["uid"].as_str().unwrap().to_string();
    let Some(dirs) = container_cgroups(&uid, "app") else {
        eprintln!("SKIPPED: this machine has no writable cgroups (not root?)");
        cluster.delete("hungry").await;
        return;
    };
    let failed = cluster.pod_in_phase("hungry", "Failed").await;
    let terminated = &container_status(&failed, "app")["state"]["terminated"];
    assert_eq!(
        (&terminated["exitCode"], &terminated["reason"]),
        (&json!(137), &json!("OOMKilled")),
        "{terminated}"
    );

    cluster.delete("hungry").await;
    eventually("the container's cgroups removed", async || {
        dirs.iter().all(|dir| !dir.exists()).then_some(())
    })
    .await;
}
