//! `wharf bench workloads`: the workload controllers at scale on simulated
//! nodes, with the real stack in process (embedded store, API server, the
//! scheduler with the sample policies, the controller manager with the
//! sample controller, hollow kubelets).
//!
//! Four figures, one after the other on the same `--nodes` nodes (whose
//! Leases are renewed every 10 s as kubelet's, with kube's 40 s grace,
//! until the node-failure phase):
//!
//! - job: a Job of `--completions` pods, `--parallelism` at a time, each of
//!   whose simulated containers exits 0 `--pod-seconds` after it starts:
//!   completions per second from the Job's creation to its `Complete`
//!   condition. Its ceiling is parallelism ÷ pod seconds (500/s with the
//!   defaults), printed beside it;
//! - daemonset: a DaemonSet: seconds from its creation until its pod is
//!   available on every node;
//! - statefulset: a StatefulSet of `--stateful-replicas`, OrderedReady:
//!   seconds until all are ready;
//! - node failure: a Deployment of one pod per node tolerating an
//!   unreachable node for `--toleration-seconds`; `--failed-nodes` nodes
//!   stop heartbeating at once; seconds until every pod that was on them
//!   runs elsewhere, minus the grace period and the toleration (for this
//!   phase the nodes renew every second and the node lifecycle controller
//!   is reinstalled with a 4 s grace and an eviction rate that does not
//!   hold back, as kube's `--node-eviction-rate` would not for 100 nodes).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wharf_client::{Client, Delivery};
use wharf_controller_manager::ControllerManager;
use wharf_plugins::{Runtime, RuntimeConfig};
use wharf_scheduler::Scheduler;

#[derive(clap::Args)]
pub struct WorkloadsBench {
    /// Simulated nodes.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// The Job's completions.
    #[arg(long, default_value_t = 10_000)]
    completions: u32,
    /// The Job's parallelism.
    #[arg(long, default_value_t = 500)]
    parallelism: u32,
    /// Seconds each pod's containers run.
    #[arg(long, default_value_t = 1)]
    pod_seconds: u32,
    /// The StatefulSet's replicas.
    #[arg(long, default_value_t = 100)]
    stateful_replicas: u32,
    /// Nodes that stop heartbeating.
    #[arg(long, default_value_t = 100)]
    failed_nodes: usize,
    /// How long the node-failure Deployment's pods tolerate an unreachable node.
    #[arg(long, default_value_t = 2)]
    toleration_seconds: u32,
    /// Where the plugin components are; by default the build's
    /// `wasm32-wasip2/plugin` folder next to this binary's.
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
}

/// The sample controllers the bench runs.
const CONTROLLERS: &[&str] = &[
    "job-controller",
    "replicaset-controller",
    "deployment-controller",
    "daemonset-controller",
    "statefulset-controller",
    "nodelifecycle-controller",
];

/// The Job's namespace.
const JOB_NAMESPACE: &str = "bench-jobs";

/// The node lifecycle controller's grace period in the node-failure phase,
/// whose hollow nodes renew their Leases every [`FAILOVER_HEARTBEAT`]
/// (until then, every 10 s and kube's 40 s grace, as kubelet's defaults).
const GRACE_SECONDS: u32 = 4;
const FAILOVER_HEARTBEAT: Duration = Duration::from_secs(1);

pub async fn run(options: WorkloadsBench) -> Result<(), String> {
    let dir = options
        .plugin_dir
        .clone()
        .or_else(crate::up::default_plugin_dir)
        .ok_or("no plugin directory; pass --plugin-dir")?;
    let (client, temp) = super::plugins::cluster().await?;
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(temp.path().join("cache")),
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    super::scheduler::install_policies(&client, &dir, false).await?;
    install_controllers(&client, &dir).await?;
    let nodes = wharf_node::HollowNodes::start(
        client.clone(),
        wharf_node::HollowConfig {
            count: options.nodes,
            // kubelet's lease renewal interval; the node-failure phase
            // shortens it.
            heartbeat: Duration::from_secs(10),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| format!("simulated nodes: {e}"))?;
    let scheduler = Scheduler::start(client.clone(), runtime.clone()).map_err(|e| e.to_string())?;
    super::scheduler::wait_for_policies(&client).await?;
    let manager = ControllerManager::new(client.clone(), runtime);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(manager.clone().run(async move {
        let _ = stopped.await;
    }));
    for name in CONTROLLERS {
        wait_loaded(&client, name).await?;
    }

    let rate = job_completions(&client, &options).await?;
    let daemons = daemon_set_available(&client, options.nodes).await?;
    let stateful = stateful_set_ready(&client, options.stateful_replicas).await?;
    nodes.set_heartbeat(FAILOVER_HEARTBEAT);
    // Every node renews at the new interval within one of them.
    tokio::time::sleep(FAILOVER_HEARTBEAT * 2).await;
    reinstall_node_lifecycle(&client).await?;
    let failover = node_failure_recovered(&client, &options).await?;

    let _ = stop.send(());
    let _ = running.await;
    drop(scheduler);
    drop(nodes);
    println!(
        "wharf bench workloads: job completions {rate:.0} pods/s ({} completions, parallelism {}, {} nodes); \
         daemonset available on {} nodes in {daemons:.1} s; statefulset of {} ready in {stateful:.1} s; \
         {} failed nodes' pods recreated {failover:.1} s past grace and toleration",
        options.completions,
        options.parallelism,
        options.nodes,
        options.nodes,
        options.stateful_replicas,
        options.failed_nodes,
    );
    Ok(())
}

/// Creates the sample controllers' Plugin objects, as `wharf up` does.
async fn install_controllers(
    client: &wharf_apiserver::LocalClient,
    dir: &std::path::Path,
) -> Result<(), String> {
    let plugins = client
        .resource("wharf.dev", "v1alpha1", "Plugin")
        .map_err(|e| e.to_string())?;
    let manifests = crate::up::sample_plugins()?;
    for name in CONTROLLERS {
        let mut manifest = manifests
            .iter()
            .find(|m| m["metadata"]["name"] == *name)
            .cloned()
            .ok_or_else(|| format!("no sample manifest for {name}"))?;
        let file = manifest["spec"]["module"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let module = dir.join(&file);
        if !module.exists() {
            return Err(format!(
                "{}: not built (scripts/build-plugins.sh builds it)",
                module.display()
            ));
        }
        manifest["spec"]["module"] = json!(format!("file://{}", module.display()));
        client
            .create(&plugins, None, &manifest)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Replaces the node lifecycle controller (installed with kube's defaults)
/// by one with the node-failure phase's grace period and no eviction
/// pacing, as kube's `--node-eviction-rate` would not hold back 100 nodes.
async fn reinstall_node_lifecycle(client: &wharf_apiserver::LocalClient) -> Result<(), String> {
    let plugins = client
        .resource("wharf.dev", "v1alpha1", "Plugin")
        .map_err(|e| e.to_string())?;
    let name = "nodelifecycle-controller";
    let mut manifest = client
        .get(&plugins, None, name)
        .await
        .map_err(|e| e.to_string())?;
    client
        .delete(&plugins, None, name)
        .await
        .map_err(|e| e.to_string())?;
    wait_for(
        "the node lifecycle controller's removal",
        Duration::from_secs(60),
        || async {
            let gone = matches!(
                client.get(&plugins, None, name).await,
                Err(wharf_client::ApiError::NotFound { .. })
            );
            Ok((gone, "still there".to_owned()))
        },
    )
    .await?;
    let module = manifest["spec"]["module"].clone();
    manifest = json!({
        "apiVersion": manifest["apiVersion"],
        "kind": manifest["kind"],
        "metadata": {"name": name},
        "spec": manifest["spec"],
    });
    manifest["spec"]["module"] = module;
    manifest["spec"]["config"] = json!({
        "nodeMonitorGracePeriodSeconds": GRACE_SECONDS,
        "nodeEvictionRate": 10_000,
    });
    client
        .create(&plugins, None, &manifest)
        .await
        .map_err(|e| e.to_string())?;
    wait_loaded(client, name).await
}

/// Polls `check` every 100 ms until it says done, for at most `limit`;
/// prints its progress line every 5 s. Returns the time it took.
async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F) -> Result<Duration, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(bool, String), String>>,
{
    let started = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let (done, progress) = check().await?;
        if done {
            return Ok(started.elapsed());
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            last_report = Instant::now();
            println!("  {:>5.1} s: {progress}", started.elapsed().as_secs_f64());
        }
        if started.elapsed() > limit {
            return Err(format!("{what} did not finish in {limit:?}: {progress}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn int_at(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn has_condition(object: &Value, type_: &str) -> bool {
    (object
        .pointer("/status/conditions")
        .and_then(Value::as_array))
    .into_iter()
    .flatten()
    .any(|c| c["type"] == type_ && c["status"] == "True")
}

async fn job_completions(
    client: &wharf_apiserver::LocalClient,
    options: &WorkloadsBench,
) -> Result<f64, String> {
    println!(
        "job: {} completions, parallelism {}, pods of {} s, on {} nodes",
        options.completions, options.parallelism, options.pod_seconds, options.nodes
    );
    // In a namespace of its own: the other figures' controllers list the
    // pods of their namespace, which the Job's 10,000 finished pods would
    // otherwise crowd.
    let namespaces = client
        .resource("", "v1", "Namespace")
        .map_err(|e| e.to_string())?;
    client
        .create(
            &namespaces,
            None,
            &json!({"metadata": {"name": JOB_NAMESPACE}}),
        )
        .await
        .map_err(|e| e.to_string())?;
    let jobs = client
        .resource("batch", "v1", "Job")
        .map_err(|e| e.to_string())?;
    let job = json!({
        "metadata": {"name": "bench"},
        "spec": {
            "completions": options.completions,
            "parallelism": options.parallelism,
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": {
                    "wharf.dev/hollow-exit-code": "0",
                    "wharf.dev/hollow-exit-after": format!("{}s", options.pod_seconds),
                }},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    });
    client
        .create(&jobs, Some(JOB_NAMESPACE), &job)
        .await
        .map_err(|e| e.to_string())?;
    let ceiling = f64::from(options.parallelism) / f64::from(options.pod_seconds.max(1));
    let limit = Duration::from_secs_f64(f64::from(options.completions) / ceiling * 10.0 + 120.0);
    let elapsed = wait_for("the Job", limit, || async {
        let now = client
            .get(&jobs, Some(JOB_NAMESPACE), "bench")
            .await
            .map_err(|e| e.to_string())?;
        if has_condition(&now, "Failed") {
            return Err(format!("the Job failed: {}", now["status"]));
        }
        let progress = format!(
            "{} succeeded, {} active",
            int_at(&now, "/status/succeeded"),
            int_at(&now, "/status/active")
        );
        Ok((has_condition(&now, "Complete"), progress))
    })
    .await?;
    let rate = f64::from(options.completions) / elapsed.as_secs_f64();
    println!(
        "job: complete after {:.2} s; {rate:.0} completions/s (ceiling {ceiling:.0}/s: parallelism ÷ pod seconds, {:.0}% of it)",
        elapsed.as_secs_f64(),
        rate / ceiling * 100.0
    );
    Ok(rate)
}

fn pod_template(app: &str, extra_spec: Value) -> Value {
    let mut spec = json!({"containers": [{"name": "c", "image": "busybox"}]});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
        spec.extend(extra.clone());
    }
    json!({"metadata": {"labels": {"app": app}}, "spec": spec})
}

async fn daemon_set_available(
    client: &wharf_apiserver::LocalClient,
    nodes: usize,
) -> Result<f64, String> {
    let sets = client
        .resource("apps", "v1", "DaemonSet")
        .map_err(|e| e.to_string())?;
    let set = json!({
        "metadata": {"name": "bench-agents"},
        "spec": {"selector": {"matchLabels": {"app": "bench-agents"}}, "template": pod_template("bench-agents", json!({}))},
    });
    client
        .create(&sets, Some("default"), &set)
        .await
        .map_err(|e| e.to_string())?;
    let elapsed = wait_for("the DaemonSet", Duration::from_secs(300), || async {
        let now = client
            .get(&sets, Some("default"), "bench-agents")
            .await
            .map_err(|e| e.to_string())?;
        let (desired, available) = (
            int_at(&now, "/status/desiredNumberScheduled"),
            int_at(&now, "/status/numberAvailable"),
        );
        let progress = format!("{available} of {desired} available");
        Ok((desired == nodes as i64 && available == desired, progress))
    })
    .await?;
    println!(
        "daemonset: available on all {nodes} nodes {:.2} s after its creation",
        elapsed.as_secs_f64()
    );
    Ok(elapsed.as_secs_f64())
}

async fn stateful_set_ready(
    client: &wharf_apiserver::LocalClient,
    replicas: u32,
) -> Result<f64, String> {
    let sets = client
        .resource("apps", "v1", "StatefulSet")
        .map_err(|e| e.to_string())?;
    let set = json!({
        "metadata": {"name": "bench-ordered"},
        "spec": {
            "replicas": replicas,
            "serviceName": "bench-ordered",
            "podManagementPolicy": "OrderedReady",
            "selector": {"matchLabels": {"app": "bench-ordered"}},
            "template": pod_template("bench-ordered", json!({})),
        },
    });
    client
        .create(&sets, Some("default"), &set)
        .await
        .map_err(|e| e.to_string())?;
    let elapsed = wait_for("the StatefulSet", Duration::from_secs(600), || async {
        let now = client
            .get(&sets, Some("default"), "bench-ordered")
            .await
            .map_err(|e| e.to_string())?;
        let ready = int_at(&now, "/status/readyReplicas");
        Ok((
            ready == i64::from(replicas),
            format!("{ready} of {replicas} ready"),
        ))
    })
    .await?;
    println!(
        "statefulset: {replicas} replicas, OrderedReady, all ready {:.2} s after its creation",
        elapsed.as_secs_f64()
    );
    Ok(elapsed.as_secs_f64())
}

async fn node_failure_recovered(
    client: &wharf_apiserver::LocalClient,
    options: &WorkloadsBench,
) -> Result<f64, String> {
    let deployments = client
        .resource("apps", "v1", "Deployment")
        .map_err(|e| e.to_string())?;
    let pods = client
        .resource("", "v1", "Pod")
        .map_err(|e| e.to_string())?;
    let nodes = client
        .resource("", "v1", "Node")
        .map_err(|e| e.to_string())?;
    let replicas = options.nodes;
    let toleration = json!({"tolerations": [{
        "key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
        "tolerationSeconds": options.toleration_seconds,
    }]});
    let deployment = json!({
        "metadata": {"name": "bench-roaming"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "bench-roaming"}},
            "template": pod_template("bench-roaming", toleration),
        },
    });
    client
        .create(&deployments, Some("default"), &deployment)
        .await
        .map_err(|e| e.to_string())?;
    wait_for("the Deployment", Duration::from_secs(300), || async {
        let now = client
            .get(&deployments, Some("default"), "bench-roaming")
            .await
            .map_err(|e| e.to_string())?;
        let available = int_at(&now, "/status/availableReplicas");
        Ok((
            available == replicas as i64,
            format!("{available} of {replicas} available"),
        ))
    })
    .await?;
    let selector = wharf_client::Selectors::labels("app=bench-roaming");
    let listed = client
        .list(&pods, Some("default"), &selector)
        .await
        .map_err(|e| e.to_string())?;
    let failed: HashSet<String> = (0..options.failed_nodes)
        .map(|i| format!("sim-{i}"))
        .collect();
    let mut failover = Failover {
        failed,
        replicas,
        ..Failover::default()
    };
    for pod in &listed.items {
        failover.saw_pod(pod, false);
    }
    failover.victims = failover
        .pods
        .iter()
        .filter(|(_, pod)| failover.failed.contains(&pod.node))
        .map(|(name, _)| name.clone())
        .collect();
    println!(
        "node failure: {} of {} nodes stop heartbeating, with {} of the Deployment's {replicas} pods",
        failover.failed.len(),
        options.nodes,
        failover.victims.len()
    );
    // Watched rather than polled: listing a thousand pods every few
    // milliseconds would take the CPU the controllers are measured on.
    let mut pod_events = client.watch(&pods, Some("default"), &selector, listed.revision);
    let listed_nodes = client
        .list(&nodes, None, &wharf_client::Selectors::all())
        .await
        .map_err(|e| e.to_string())?;
    let mut node_events = client.watch(
        &nodes,
        None,
        &wharf_client::Selectors::all(),
        listed_nodes.revision,
    );
    let before = plugin_time(client, "nodelifecycle-controller").await?;
    let stop = wharf_client::Patch::Merge(
        json!({"metadata": {"labels": {"wharf.dev/hollow-heartbeat": "stopped"}}}),
    );
    let started = Instant::now();
    let labels = failover
        .failed
        .iter()
        .map(|node| client.patch(&nodes, None, node, &stop, false));
    for result in futures_util::future::join_all(labels).await {
        result.map_err(|e| e.to_string())?;
    }
    let limit = Duration::from_secs(300);
    let mut report = tokio::time::interval(Duration::from_secs(5));
    report.tick().await;
    while !failover.recovered() {
        let delivery = tokio::select! {
            Some(delivery) = pod_events.recv() => (true, delivery),
            Some(delivery) = node_events.recv() => (false, delivery),
            _ = report.tick() => {
                println!("  {:>5.1} s: {}", started.elapsed().as_secs_f64(), failover.progress());
                continue;
            }
            else => return Err("the bench's watches ended".into()),
        };
        if started.elapsed() > limit {
            return Err(format!(
                "the failover did not finish in {limit:?}: {}",
                failover.progress()
            ));
        }
        match delivery {
            (is_pod, Delivery::Event(kind, event)) => {
                let gone = kind == wharf_client::WatchType::Deleted;
                if is_pod {
                    failover.saw_pod(&event.object, gone);
                } else {
                    failover.saw_node(&event.object);
                }
                failover.note_phases(started.elapsed());
            }
            (_, Delivery::Progress(_)) => {}
            (_, Delivery::Error(error)) => return Err(format!("the bench's watch: {error}")),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let waited = f64::from(GRACE_SECONDS + options.toleration_seconds);
    println!(
        "node failure: every pod recreated elsewhere {elapsed:.2} s after the heartbeats stopped: \
         {:.2} s past the grace period ({GRACE_SECONDS} s) and the toleration ({} s)",
        elapsed - waited,
        options.toleration_seconds
    );
    println!("node failure: {}", failover.phases());
    // The Plugin's status is written on the supervisor's tick.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = plugin_time(client, "nodelifecycle-controller").await?;
    let calls = after.0.saturating_sub(before.0);
    println!(
        "node failure: the node lifecycle controller made {calls} calls in {:.2} s of call time",
        (after.1 - before.1).max(0.0)
    );
    Ok(elapsed - waited)
}

/// A pod of the node-failure Deployment as the bench sees it.
struct Seen {
    node: String,
    deleting: bool,
    ready: bool,
}

/// What the bench follows of a node failure, from watch events.
#[derive(Default)]
struct Failover {
    failed: HashSet<String>,
    replicas: usize,
    /// The pods on the failed nodes when their heartbeats stopped.
    victims: HashSet<String>,
    pods: HashMap<String, Seen>,
    /// Failed nodes whose Ready condition is Unknown, and tainted ones.
    unknown: HashSet<String>,
    tainted: HashSet<String>,
    /// When each step was first done for every failed node or victim.
    all_unknown: Option<Duration>,
    all_tainted: Option<Duration>,
    all_evicted: Option<Duration>,
}

impl Failover {
    fn saw_pod(&mut self, pod: &Value, gone: bool) {
        let name = str_of(pod, "/metadata/name").to_owned();
        if gone {
            self.pods.remove(&name);
            return;
        }
        let seen = Seen {
            node: str_of(pod, "/spec/nodeName").to_owned(),
            deleting: pod
                .pointer("/metadata/deletionTimestamp")
                .is_some_and(|t| !t.is_null()),
            ready: has_condition(pod, "Ready"),
        };
        self.pods.insert(name, seen);
    }

    fn saw_node(&mut self, node: &Value) {
        let name = str_of(node, "/metadata/name");
        if !self.failed.contains(name) {
            return;
        }
        let ready = (node.pointer("/status/conditions").and_then(Value::as_array))
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Ready");
        if ready.is_some_and(|c| c["status"] == "Unknown") {
            self.unknown.insert(name.to_owned());
        }
        let taints = node.pointer("/spec/taints").and_then(Value::as_array);
        if taints
            .into_iter()
            .flatten()
            .any(|t| t["key"] == "node.kubernetes.io/unreachable" && t["effect"] == "NoExecute")
        {
            self.tainted.insert(name.to_owned());
        }
    }

    /// Victims neither deleted nor being deleted.
    fn left(&self) -> usize {
        self.victims
            .iter()
            .filter(|name| self.pods.get(*name).is_some_and(|pod| !pod.deleting))
            .count()
    }

    /// Pods ready on nodes that did not fail.
    fn elsewhere(&self) -> usize {
        self.pods
            .values()
            .filter(|pod| {
                !pod.deleting
                    && pod.ready
                    && !pod.node.is_empty()
                    && !self.failed.contains(&pod.node)
            })
            .count()
    }

    fn note_phases(&mut self, at: Duration) {
        if self.unknown.len() == self.failed.len() {
            self.all_unknown.get_or_insert(at);
        }
        if self.tainted.len() == self.failed.len() {
            self.all_tainted.get_or_insert(at);
        }
        if self.left() == 0 {
            self.all_evicted.get_or_insert(at);
        }
    }

    fn recovered(&self) -> bool {
        self.left() == 0 && self.elsewhere() == self.replicas
    }

    fn progress(&self) -> String {
        format!(
            "{} nodes Unknown, {} tainted; {} pods left on the failed nodes, {} of {} ready elsewhere",
            self.unknown.len(),
            self.tainted.len(),
            self.left(),
            self.elsewhere(),
            self.replicas
        )
    }

    fn phases(&self) -> String {
        let at = |phase: Option<Duration>| {
            phase.map_or("-".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()))
        };
        format!(
            "every failed node Ready=Unknown at {}, tainted NoExecute at {}, its pods evicted at {}",
            at(self.all_unknown),
            at(self.all_tainted),
            at(self.all_evicted)
        )
    }
}

fn str_of<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A Plugin's calls and their total time in seconds, from its status.
async fn plugin_time(
    client: &wharf_apiserver::LocalClient,
    name: &str,
) -> Result<(u64, f64), String> {
    let plugins = client
        .resource("wharf.dev", "v1alpha1", "Plugin")
        .map_err(|e| e.to_string())?;
    let plugin = client
        .get(&plugins, None, name)
        .await
        .map_err(|e| e.to_string())?;
    let calls = plugin
        .pointer("/status/calls")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let mean_micros = plugin
        .pointer("/status/latency")
        .and_then(Value::as_str)
        .and_then(|latency| latency.trim_end_matches("µs").parse::<f64>().ok())
        .unwrap_or(0.0);
    Ok((calls, calls as f64 * mean_micros / 1e6))
}

/// Waits until the Plugin reports its component loaded.
async fn wait_loaded(client: &wharf_apiserver::LocalClient, name: &str) -> Result<(), String> {
    let plugins = client
        .resource("wharf.dev", "v1alpha1", "Plugin")
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let plugin = client
            .get(&plugins, None, name)
            .await
            .map_err(|e| e.to_string())?;
        match plugin.pointer("/status/phase").and_then(Value::as_str) {
            // Degraded: loaded, and some reconcile failed (a conflict, retried).
            Some("Loaded" | "Degraded") => return Ok(()),
            Some("Failed") => return Err(format!("{name} failed: {}", plugin["status"])),
            _ if Instant::now() > deadline => return Err(format!("{name} did not load")),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
