//! `wharf bench workloads`: the workload controllers at scale on simulated
//! nodes, with the real stack in process (embedded store, API server, the
//! scheduler with the sample policies, the controller manager with the
//! sample controller, hollow kubelets).
//!
//! The Job figure: a Job of `--completions` pods, `--parallelism` at a time,
//! each of whose simulated containers exits 0 `--pod-seconds` after it
//! starts, on `--nodes` nodes: completions per second from the Job's
//! creation to its `Complete` condition. Its ceiling is
//! parallelism ÷ pod seconds (500/s with the defaults), printed beside it.

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
    /// Where the plugin components are; by default the build's
    /// `wasm32-wasip2/plugin` folder next to this binary's.
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
}

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
    let plugins = client
        .resource("wharf.dev", "v1alpha1", "Plugin")
        .map_err(|e| e.to_string())?;
    let mut job_controller = crate::up::sample_plugins()?
        .into_iter()
        .find(|m| m["metadata"]["name"] == "job-controller")
        .ok_or("no sample manifest for the job controller")?;
    let module = dir.join("wharf_controller_job.wasm");
    if !module.exists() {
        return Err(format!(
            "{}: not built (scripts/build-plugins.sh builds it)",
            module.display()
        ));
    }
    job_controller["spec"]["module"] = json!(format!("file://{}", module.display()));
    client
        .create(&plugins, None, &job_controller)
        .await
        .map_err(|e| e.to_string())?;
    let nodes = wharf_node::HollowNodes::start(
        client.clone(),
        wharf_node::HollowConfig {
            count: options.nodes,
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
    wait_loaded(&client, "job-controller").await?;
    println!(
        "job: {} completions, parallelism {}, pods of {} s, on {} nodes",
        options.completions, options.parallelism, options.pod_seconds, options.nodes
    );

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
    let started = Instant::now();
    client
        .create(&jobs, Some("default"), &job)
        .await
        .map_err(|e| e.to_string())?;
    let ceiling = f64::from(options.parallelism) / f64::from(options.pod_seconds.max(1));
    let limit = Duration::from_secs_f64(f64::from(options.completions) / ceiling * 10.0 + 120.0);
    let mut last_report = Instant::now();
    let elapsed = loop {
        let now = client
            .get(&jobs, Some("default"), "bench")
            .await
            .map_err(|e| e.to_string())?;
        let complete = (now.pointer("/status/conditions").and_then(Value::as_array))
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Complete" && c["status"] == "True");
        if complete {
            break started.elapsed();
        }
        if (now
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten())
        .any(|c| c["type"] == "Failed" && c["status"] == "True")
        {
            return Err(format!("the Job failed: {}", now["status"]));
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            last_report = Instant::now();
            println!(
                "  {:>5.1} s: {} succeeded, {} active",
                started.elapsed().as_secs_f64(),
                now.pointer("/status/succeeded")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
                now.pointer("/status/active")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
            );
        }
        if started.elapsed() > limit {
            return Err(format!(
                "the Job did not complete in {limit:?}: {}",
                now["status"]
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let rate = f64::from(options.completions) / elapsed.as_secs_f64();
    println!(
        "job: complete after {:.2} s; {rate:.0} completions/s (ceiling {ceiling:.0}/s: parallelism ÷ pod seconds, {:.0}% of it)",
        elapsed.as_secs_f64(),
        rate / ceiling * 100.0
    );
    let _ = stop.send(());
    let _ = running.await;
    drop(scheduler);
    drop(nodes);
    println!(
        "wharf bench workloads: job completions {rate:.0} pods/s ({} completions, parallelism {}, {} nodes)",
        options.completions, options.parallelism, options.nodes
    );
    Ok(())
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
            Some("Loaded") => return Ok(()),
            Some("Failed") => return Err(format!("{name} failed: {}", plugin["status"])),
            _ if Instant::now() > deadline => return Err(format!("{name} did not load")),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
