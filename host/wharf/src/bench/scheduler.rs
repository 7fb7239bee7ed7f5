//! `wharf bench scheduler`: kube-scheduler's scheduler_perf SchedulingBasic
//! on Wharf: N nodes (4 CPUs, 32 GiB, 110 pods each, as its
//! node-default.yaml), then P pods (100m CPU, 500 MiB each, as its
//! pod-default.yaml) created by 16 clients while the scheduler runs with the
//! sample policy set. Figures: pods/s from the first creation to the last
//! binding stored, per-pod latency from its creation to its binding seen on
//! a watch, and the process's peak memory. With `--compare`, the same run
//! with the policies built natively (loaded with `dlopen`) gives the
//! WebAssembly overhead.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wharf_client::{Client, Selectors};

use serde_json::{Value, json};
use wharf_apiserver::LocalClient;
use wharf_client::{Delivery, WatchType};
use wharf_plugins::{Runtime, RuntimeConfig};
use wharf_scheduler::Scheduler;

use super::report::Latencies;

/// The sample policies: (Plugin name, module file stem).
const POLICIES: &[&str] = &[
    "node-unschedulable",
    "node-name",
    "taint-toleration",
    "node-affinity",
    "node-ports",
    "node-resources-fit",
    "pod-topology-spread",
    "balanced-allocation",
];

#[derive(clap::Args)]
pub struct SchedulerBench {
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 5000)]
    nodes: usize,
    /// Pods to schedule.
    #[arg(long, default_value_t = 10_000)]
    pods: usize,
    /// Run with the natively built policies instead of the components.
    #[arg(long)]
    native: bool,
    /// Run both (components and native, alternating) and report the
    /// median ratio of their times.
    #[arg(long)]
    compare: bool,
    /// Rounds of the comparison.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Where the policy components are; by default the build's
    /// `wasm32-wasip2/plugin` folder next to this binary's.
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
    /// Where the native policies (`libwharf_policy_*.so`) are; by default
    /// this binary's folder.
    #[arg(long)]
    native_dir: Option<PathBuf>,
}

struct Run {
    throughput: f64,
    elapsed: Duration,
    latencies: Latencies,
    peak_rss: u64,
}

pub async fn run(options: SchedulerBench) -> Result<(), String> {
    let exe_dir = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .parent()
        .map(Path::to_path_buf)
        .ok_or("no binary directory")?;
    let wasm_dir = options.plugin_dir.clone().unwrap_or_else(|| {
        exe_dir
            .parent()
            .map_or_else(PathBuf::new, |p| p.join("wasm32-wasip2/plugin"))
    });
    let native_dir = options.native_dir.clone().unwrap_or(exe_dir);
    println!(
        "scheduler: {} nodes, {} pods (100m CPU, 500Mi each), 8 policies, 16 creating clients",
        options.nodes, options.pods
    );
    // With --compare, rounds alternate (components, native, components…)
    // and the ratio is the median of each round's; the first round's
    // component run is the headline (its peak memory is this process's).
    let rounds = if options.compare {
        options.rounds.max(1)
    } else {
        1
    };
    let mut runs: Vec<(bool, Run)> = Vec::new();
    for round in 0..rounds {
        let kinds: &[bool] = match (options.compare, round % 2) {
            (false, _) => &[options.native][..],
            (true, 0) => &[false, true],
            (true, _) => &[true, false],
        };
        for &native in kinds {
            let dir = if native { &native_dir } else { &wasm_dir };
            let run = run_once(&options, dir, native).await?;
            let label = if native { "native" } else { "WebAssembly" };
            println!(
                "  {label:<11} {:>8.0} pods/s  ({} pods in {:.2} s)  latency {}  peak RSS {} MiB",
                run.throughput,
                options.pods,
                run.elapsed.as_secs_f64(),
                run.latencies.summary(),
                run.peak_rss >> 20
            );
            runs.push((native, run));
        }
    }
    if options.compare {
        policy_calls(&wasm_dir, &native_dir, options.nodes)?;
    }
    let headline = &runs[0].1;
    let mut summary = format!(
        "summary: scheduler {} nodes {} pods: {:.0} pods/s, p50 {:.1} ms, p99 {:.1} ms, peak {} MiB",
        options.nodes,
        options.pods,
        headline.throughput,
        headline.latencies.quantile_ms(0.5),
        headline.latencies.quantile_ms(0.99),
        headline.peak_rss >> 20
    );
    if options.compare {
        let median = |mut values: Vec<f64>| {
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        let times = |native: bool| -> Vec<f64> {
            runs.iter()
                .filter(|(n, _)| *n == native)
                .map(|(_, run)| run.elapsed.as_secs_f64())
                .collect()
        };
        let (wasm, native) = (times(false), times(true));
        let ratios: Vec<f64> = wasm.iter().zip(&native).map(|(w, n)| w / n).collect();
        let native_rate = options.pods as f64 / median(native.clone());
        summary.push_str(&format!(
            " (WebAssembly time {:.2}x native's, median of {rounds}; native {native_rate:.0} pods/s)",
            median(ratios)
        ));
    }
    println!("{summary}");
    Ok(())
}

fn module_path(dir: &Path, policy: &str, native: bool) -> PathBuf {
    let stem = format!("wharf_policy_{}", policy.replace('-', "_"));
    if native {
        dir.join(format!("lib{stem}.so"))
    } else {
        dir.join(format!("{stem}.wasm"))
    }
}

async fn run_once(options: &SchedulerBench, dir: &Path, native: bool) -> Result<Run, String> {
    let (client, temp) = super::plugins::cluster().await?;
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(temp.path().join("cache")),
        native_plugin_dir: native.then(|| dir.to_path_buf()),
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    install_policies(&client, dir, native).await?;
    create_nodes(&client, options.nodes).await?;
    let scheduler = Scheduler::start(client.clone(), runtime).map_err(|e| e.to_string())?;
    wait_for_policies(&client).await?;

    let pods = client
        .resource("", "v1", "Pod")
        .map_err(|e| e.to_string())?;
    let revision = client
        .list(&pods, Some("bench"), &Selectors::all())
        .await
        .map_err(|e| e.to_string())?
        .revision;
    let created: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut events = client.watch(&pods, Some("bench"), &Selectors::all(), revision);
    let total = options.pods;
    let watcher_created = created.clone();
    let watcher = tokio::spawn(async move {
        let mut bound: HashMap<String, Instant> = HashMap::with_capacity(total);
        while bound.len() < total {
            let Some(delivery) = events.recv().await else {
                break;
            };
            if let Delivery::Event(WatchType::Modified, event) = delivery
                && event.object.pointer("/spec/nodeName").is_some()
            {
                let name = event
                    .object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                bound.entry(name).or_insert_with(Instant::now);
            }
        }
        let created = watcher_created.lock().expect("created").clone();
        (bound, created)
    });

    let started = Instant::now();
    let clients = 16;
    let mut creators = Vec::new();
    for c in 0..clients {
        let (client, pods, created) = (client.clone(), pods.clone(), created.clone());
        creators.push(tokio::spawn(async move {
            for i in (c..total).step_by(clients) {
                let name = format!("pod-{i}");
                let pod = json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "namespace": "bench"},
                    "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                        "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}]},
                });
                created
                    .lock()
                    .expect("created")
                    .insert(name, Instant::now());
                if let Err(error) = client.create(&pods, Some("bench"), &pod).await {
                    return Err(error.to_string());
                }
            }
            Ok(())
        }));
    }
    for creator in creators {
        creator.await.map_err(|e| e.to_string())??;
    }
    let (bound, created) = tokio::time::timeout(Duration::from_secs(600), watcher)
        .await
        .map_err(|_| {
            format!(
                "not every pod was bound within 10 minutes ({} scheduled)",
                scheduler
                    .counters()
                    .scheduled
                    .load(std::sync::atomic::Ordering::Relaxed)
            )
        })?
        .map_err(|e| e.to_string())?;
    if bound.len() < total {
        return Err(format!("only {} of {total} pods were bound", bound.len()));
    }
    let last = bound.values().max().copied().unwrap_or(started);
    let elapsed = last.duration_since(started);
    let mut latencies = Latencies::new();
    for (name, at) in &bound {
        if let Some(created_at) = created.get(name) {
            latencies.record(at.saturating_duration_since(*created_at));
        }
    }
    let peak_rss = peak_rss();
    // Each policy's calls and mean call time, from its Plugin status.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let plugins = client
        .resource("wharf.dev", "v1alpha1", "Plugin")
        .map_err(|e| e.to_string())?;
    let listed = client
        .list(&plugins, None, &Selectors::all())
        .await
        .map_err(|e| e.to_string())?;
    let calls: Vec<String> = listed
        .items
        .iter()
        .map(|p| {
            format!(
                "{} {}×{}",
                p["metadata"]["name"].as_str().unwrap_or_default(),
                p["status"]["calls"],
                p["status"]["latency"].as_str().unwrap_or("?")
            )
        })
        .collect();
    println!("    policy calls × mean time: {}", calls.join(", "));
    scheduler.stop();
    drop(temp);
    Ok(Run {
        throughput: total as f64 / elapsed.as_secs_f64(),
        elapsed,
        latencies,
        peak_rss,
    })
}

/// The process's peak resident memory (VmHWM), in bytes.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

pub(super) async fn install_policies(
    client: &LocalClient,
    dir: &Path,
    native: bool,
) -> Result<(), String> {
    let plugins = client
        .resource("wharf.dev", "v1alpha1", "Plugin")
        .map_err(|e| e.to_string())?;
    let manifests = crate::up::sample_plugins()?;
    for name in POLICIES {
        let mut plugin = manifests
            .iter()
            .find(|m| m["metadata"]["name"] == *name)
            .cloned()
            .ok_or_else(|| format!("no sample manifest for {name}"))?;
        let path = module_path(dir, name, native);
        if !path.exists() {
            return Err(format!(
                "{}: not built (scripts/build-plugins.sh builds the components and the native policies)",
                path.display()
            ));
        }
        plugin["spec"]["module"] = json!(format!("file://{}", path.display()));
        client
            .create(&plugins, None, &plugin)
            .await
            .map_err(|e| e.to_string())?;
    }
    let namespaces = client
        .resource("", "v1", "Namespace")
        .map_err(|e| e.to_string())?;
    client
        .create(&namespaces, None, &json!({"metadata": {"name": "bench"}}))
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

async fn create_nodes(client: &LocalClient, count: usize) -> Result<(), String> {
    let nodes = client
        .resource("", "v1", "Node")
        .map_err(|e| e.to_string())?;
    let limit = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let (client, nodes, limit) = (client.clone(), nodes.clone(), limit.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await.map_err(|e| e.to_string())?;
            let name = format!("node-{i}");
            let node = json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {
                    "kubernetes.io/hostname": name,
                    "topology.kubernetes.io/zone": format!("zone-{}", i % 3),
                }},
                "status": {
                    "capacity": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                    "allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                    "conditions": [{"type": "Ready", "status": "True"}],
                },
            });
            client
                .create(&nodes, None, &node)
                .await
                .map_err(|e| e.to_string())?;
            // Status may be dropped on create: write it as the kubelet does.
            let mut stored = client
                .get(&nodes, None, &name)
                .await
                .map_err(|e| e.to_string())?;
            if stored.pointer("/status/allocatable").is_none() {
                stored["status"] = node["status"].clone();
                client
                    .update(&nodes, None, &stored, true)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// Waits until every policy's Plugin reports it loaded.
pub(super) async fn wait_for_policies(client: &LocalClient) -> Result<(), String> {
    let plugins = client
        .resource("wharf.dev", "v1alpha1", "Plugin")
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let listed = client
            .list(&plugins, None, &Selectors::all())
            .await
            .map_err(|e| e.to_string())?;
        let failed: Vec<String> = listed
            .items
            .iter()
            .filter(|p| p.pointer("/status/phase") == Some(&json!("Failed")))
            .map(|p| format!("{}: {}", p["metadata"]["name"], p["status"]["lastError"]))
            .collect();
        if !failed.is_empty() {
            return Err(format!("policies failed to load: {}", failed.join("; ")));
        }
        let loaded = listed
            .items
            .iter()
            .filter(|p| p.pointer("/status/phase") == Some(&json!("Loaded")))
            .count();
        if loaded == POLICIES.len() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "only {loaded} of {} policies loaded",
                POLICIES.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each policy alone: one filter and one score call with 500 candidates of
/// `nodes`, as a component and natively (the cost kube-scheduler-wasm-extension
/// pays per node, we pay per call).
fn policy_calls(wasm_dir: &Path, native_dir: &Path, nodes: usize) -> Result<(), String> {
    use wharf_plugin_abi::policy::{Change, Node, Resources};
    use wharf_plugins::Limits;
    use wharf_plugins::policy::{PolicyModule, PreparedChanges, PreparedPod};

    let runtime = Runtime::new(RuntimeConfig::default()).map_err(|e| e.to_string())?;
    let changes: Vec<Change> = (0..nodes as u32)
        .map(|i| {
            Change::UpsertNode(Node {
                index: i,
                name: format!("node-{i}"),
                labels: vec![
                    ("kubernetes.io/hostname".into(), format!("node-{i}")),
                    (
                        "topology.kubernetes.io/zone".into(),
                        format!("zone-{}", i % 3),
                    ),
                ],
                allocatable: Resources {
                    milli_cpu: 4000,
                    memory_bytes: 32 << 30,
                    pods: 110,
                },
                ..Node::default()
            })
        })
        .collect();
    let object = json!({"metadata": {"name": "p", "namespace": "bench", "uid": "u"},
        "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}]}});
    let pod = wharf_scheduler::pod::policy_pod(&object);
    let candidates: Vec<u32> = (0..500.min(nodes) as u32).collect();
    let calls = 2000;
    println!(
        "  one call with {} candidates, µs (component / native):",
        candidates.len()
    );
    for name in POLICIES {
        let mut line = format!("    {name:<20}");
        for native in [false, true] {
            let path = module_path(if native { native_dir } else { wasm_dir }, name, native);
            let module = if native {
                PolicyModule::load_native(&*super::plugins::native_runtime(&path)?, &path)
            } else {
                let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                PolicyModule::load_wasm(&runtime, &bytes)
            }
            .map_err(|e| e.to_string())?;
            let (mut instance, registration) = module
                .instantiate(name, "{}", &Limits::default())
                .map_err(|e| e.to_string())?;
            instance
                .update(&PreparedChanges::new(&changes))
                .map_err(|e| e.to_string())?;
            let mut figures = Vec::new();
            for (enabled, is_filter) in [(registration.filters, true), (registration.scores, false)]
            {
                if !enabled {
                    figures.push("-".to_string());
                    continue;
                }
                let mut scores = Vec::new();
                let started = Instant::now();
                for _ in 0..calls {
                    // A fresh pod each call, as in a scheduling cycle.
                    let prepared = PreparedPod::new(&pod, &object);
                    if is_filter {
                        instance
                            .filter(&prepared, &candidates)
                            .map_err(|e| e.to_string())?;
                    } else {
                        instance
                            .score(&prepared, &candidates, &mut scores)
                            .map_err(|e| e.to_string())?;
                    }
                }
                figures.push(format!(
                    "{:.1}",
                    started.elapsed().as_secs_f64() * 1e6 / calls as f64
                ));
            }
            line.push_str(&format!(
                "  filter {:>5} score {:>5}",
                figures[0], figures[1]
            ));
            if !native {
                line.push_str("  |");
            }
        }
        println!("{line}");
    }
    Ok(())
}
