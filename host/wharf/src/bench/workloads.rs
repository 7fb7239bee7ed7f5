//! `wharf bench workloads`: the workload controllers at scale on simulated
//! nodes, with the real stack in process (embedded store, API server, the
//! scheduler with the sample policies, the controller manager with the
//! sample controller, hollow kubelets).
//!
//! Four figures, one after the other on the same `--nodes` nodes (whose
//! Leases are renewed every second):
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
//!   runs elsewhere, minus the grace period and the toleration (the node
//!   lifecycle controller's config: grace 4 s, an eviction rate that does not
//!   hold back, as kube's `--node-eviction-rate` would for 100 nodes).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wharf_client::Client;
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

/// The node lifecycle controller's grace period in the bench (the hollow
/// nodes renew their Leases every second).
const GRACE_SECONDS: u32 = 4;

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
            heartbeat: Duration::from_secs(1),
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

/// Creates the sample controllers' Plugin objects, the node lifecycle
/// controller with the bench's grace period and no eviction pacing.
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
        if *name == "nodelifecycle-controller" {
            manifest["spec"]["config"] = json!({
                "nodeMonitorGracePeriodSeconds": GRACE_SECONDS,
                "nodeEvictionRate": 10_000,
            });
        }
        client
            .create(&plugins, None, &manifest)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Polls `check` every 50 ms until it says done, for at most `limit`;
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
        tokio::time::sleep(Duration::from_millis(50)).await;
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
    let failed: std::collections::HashSet<String> = (0..options.failed_nodes)
        .map(|i| format!("sim-{i}"))
        .collect();
    let victims: std::collections::HashSet<String> = listed
        .items
        .iter()
        .filter(|pod| {
            pod.pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|node| failed.contains(node))
        })
        .filter_map(|pod| pod.pointer("/metadata/name")?.as_str().map(str::to_owned))
        .collect();
    println!(
        "node failure: {} of {} nodes stop heartbeating, with {} of the Deployment's {replicas} pods",
        failed.len(),
        options.nodes,
        victims.len()
    );
    let stop = wharf_client::Patch::Merge(
        json!({"metadata": {"labels": {"wharf.dev/hollow-heartbeat": "stopped"}}}),
    );
    let started = Instant::now();
    let labels = failed
        .iter()
        .map(|node| client.patch(&nodes, None, node, &stop, false));
    for result in futures_util::future::join_all(labels).await {
        result.map_err(|e| e.to_string())?;
    }
    wait_for("the failover", Duration::from_secs(300), || async {
        let listed = client
            .list(&pods, Some("default"), &selector)
            .await
            .map_err(|e| e.to_string())?;
        let (mut left, mut elsewhere) = (0usize, 0usize);
        for pod in &listed.items {
            let name = pod
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let deleting = pod
                .pointer("/metadata/deletionTimestamp")
                .is_some_and(|t| !t.is_null());
            let node = pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if victims.contains(name) && !deleting {
                left += 1;
            } else if !deleting
                && !node.is_empty()
                && !failed.contains(node)
                && has_condition(pod, "Ready")
            {
                elsewhere += 1;
            }
        }
        let progress = format!(
            "{left} pods left on the failed nodes, {elsewhere} of {replicas} ready elsewhere"
        );
        Ok((left == 0 && elsewhere == replicas, progress))
    })
    .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let waited = f64::from(GRACE_SECONDS + options.toleration_seconds);
    println!(
        "node failure: every pod recreated elsewhere {elapsed:.2} s after the heartbeats stopped: \
         {:.2} s past the grace period ({GRACE_SECONDS} s) and the toleration ({} s)",
        elapsed - waited,
        options.toleration_seconds
    );
    Ok(elapsed - waited)
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
