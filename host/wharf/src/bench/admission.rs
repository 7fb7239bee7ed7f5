//! `wharf bench admission`: what admission plugins add to a write. Pod
//! creates at a steady rate (open loop) against an in-process API server on
//! the embedded store, once with no admission plugin and once with the
//! sample set (pod-security, limit-ranger, resource-quota) active in a
//! namespace where each applies: it enforces `restricted` (the pods pass),
//! its LimitRange gives the pods their resources, its ResourceQuota charges
//! each one. The headline is the p99 of what admission adds to a create,
//! measured in the server (`Objects::admission_time`: the plugins, the
//! create's turn in its namespace, its charge; not the store's fsync,
//! which both phases wait for and which varies by milliseconds from run to
//! run on a shared disk); the two phases' end-to-end p99s are printed too.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wharf_client::Client;

use axum::http::{Method, StatusCode};
use bytes::Bytes;
use serde_json::{Value, json};
use wharf_apiserver::LocalClient;

use super::api::Api;
use super::report::Latencies;

#[derive(clap::Args)]
pub struct AdmissionBench {
    /// Pod creates per second.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Seconds of each phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Where the sample plugins' components are (default: the build's).
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
    /// The admission plugins of the second phase (of pod-security,
    /// limit-ranger, resource-quota).
    #[arg(long, value_delimiter = ',', default_values_t = PLUGINS.map(String::from))]
    plugins: Vec<String>,
}

const NAMESPACE: &str = "bench-admission";
const PLUGINS: [&str; 3] = ["pod-security", "limit-ranger", "resource-quota"];

pub async fn run(options: AdmissionBench) -> Result<(), String> {
    let (state, dir) = super::embedded_state().await?;
    let client = LocalClient::new(state.clone());
    let runtime = wharf_plugins::Runtime::new(wharf_plugins::RuntimeConfig {
        cache_dir: Some(dir.path().join("plugin-cache")),
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    let admission = wharf_admission::AdmissionPlugins::new(client.clone(), runtime);
    let chain: Arc<dyn wharf_apiserver::AdmissionChain> = admission.chain();
    let _ = state.objects.admission.set(chain);
    tokio::spawn(
        wharf_plugin_host::Supervisor::new(admission, client.clone()).run(std::future::pending()),
    );
    let admission_time = state.objects.admission_time.clone();
    let api = Api::new(&super::api::serve_in_process(state).await?, false)?;
    prepare_namespace(&api).await?;
    println!(
        "server: in-process API server on a temporary embedded store; {} pod creates/s for {} s per phase",
        options.rate, options.seconds
    );

    let without = steady_creates(&api, &options, "plain").await?;
    println!("without admission plugins: {}", without.summary_us());

    let plugin_dir = options
        .plugin_dir
        .clone()
        .or_else(crate::up::default_plugin_dir)
        .ok_or("no plugin directory")?;
    let wanted = &options.plugins;
    if let Some(unknown) = wanted.iter().find(|p| !PLUGINS.contains(&p.as_str())) {
        return Err(format!("--plugins: {unknown:?} is not one of {PLUGINS:?}"));
    }
    let installed = crate::up::install_plugins(&client, &plugin_dir, "", |plugin| {
        wanted
            .iter()
            .any(|w| plugin["metadata"]["name"] == w.as_str())
    })
    .await?;
    if installed != wanted.len() {
        return Err(format!(
            "only {installed} of the plugins {wanted:?} are built in {}; run scripts/build-plugins.sh",
            plugin_dir.display()
        ));
    }
    wait_loaded(&client, wanted).await?;
    // Warm each plugin's instance pool, and check that every plugin applies.
    let warm = steady_creates(
        &api,
        &AdmissionBench {
            rate: 100,
            seconds: 1,
            plugin_dir: None,
            plugins: Vec::new(),
        },
        "warm",
    )
    .await?;
    check_applied(&api, wanted).await?;
    admission_time.reset();
    let with = steady_creates(&api, &options, "admitted").await?;
    println!(
        "with {}: {} (warm-up {} creates)",
        wanted.join(", "),
        with.summary_us(),
        warm.count()
    );
    let plugins = client
        .resource("wharf.dev", "v1alpha1", "Plugin")
        .map_err(|e| e.to_string())?;
    for name in wanted {
        let plugin = client
            .get(&plugins, None, name)
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "  {name}: {} reviews, mean {} per review (in the plugin, host calls included), {} errors",
            plugin.pointer("/status/calls").unwrap_or(&json!(0)),
            plugin
                .pointer("/status/latency")
                .and_then(Value::as_str)
                .unwrap_or("?"),
            plugin.pointer("/status/errors").unwrap_or(&json!(0)),
        );
    }
    let micros = |q: f64| admission_time.quantile(q).as_secs_f64() * 1e6;
    println!(
        "  admission in the server, per create ({} creates; plugins, turns and charges, the store's wait aside): p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs",
        admission_time.count(),
        micros(0.5),
        micros(0.9),
        micros(0.99),
    );
    println!(
        "  end to end: p99 {:.0} µs without plugins, {:.0} µs with them: {:+.0} µs (the store's fsync varies more than this from run to run)",
        without.quantile_us(0.99),
        with.quantile_us(0.99),
        with.quantile_us(0.99) - without.quantile_us(0.99),
    );
    println!(
        "admission: {} pod creates/s through {} — admission overhead p99 {:.0} µs",
        options.rate,
        wanted.join(", "),
        micros(0.99)
    );
    Ok(())
}

/// The namespace, its LimitRange and its ResourceQuota (counted, so that it
/// limits from the first create).
async fn prepare_namespace(api: &Api) -> Result<(), String> {
    let namespace = json!({"metadata": {"name": NAMESPACE, "labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }}});
    post(api, "/api/v1/namespaces", &namespace).await?;
    let limits = json!({"metadata": {"name": "defaults"}, "spec": {"limits": [{
        "type": "Container",
        "default": {"cpu": "200m", "memory": "128Mi"},
        "defaultRequest": {"cpu": "100m", "memory": "64Mi"},
        "max": {"cpu": "2", "memory": "1Gi"},
    }]}});
    post(
        api,
        &format!("/api/v1/namespaces/{NAMESPACE}/limitranges"),
        &limits,
    )
    .await?;
    let hard = json!({"pods": "1000000", "requests.cpu": "100000", "requests.memory": "10000Gi"});
    let quota = json!({"metadata": {"name": "pods"}, "spec": {"hard": hard}});
    post(
        api,
        &format!("/api/v1/namespaces/{NAMESPACE}/resourcequotas"),
        &quota,
    )
    .await?;
    let status = json!({"status": {"hard": hard, "used": {"pods": "0", "requests.cpu": "0", "requests.memory": "0"}}});
    api.send(
        Method::PATCH,
        &format!("/api/v1/namespaces/{NAMESPACE}/resourcequotas/pods/status"),
        "application/merge-patch+json",
        Bytes::from(status.to_string()),
        StatusCode::OK,
    )
    .await
    .map(drop)
}

async fn post(api: &Api, path: &str, body: &Value) -> Result<(), String> {
    api.send(
        Method::POST,
        path,
        "application/json",
        Bytes::from(body.to_string()),
        StatusCode::CREATED,
    )
    .await
    .map(drop)
}

/// A pod that passes `restricted`, without resources (the LimitRange
/// gives them).
fn pod(name: &str) -> Value {
    json!({
        "metadata": {"name": name},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "app",
                "image": "busybox",
                "command": ["sleep", "3600"],
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
            }],
        },
    })
}

/// Creates pods at `options.rate` per second for `options.seconds` (open
/// loop: each at its due time, latency counted from it).
async fn steady_creates(
    api: &Api,
    options: &AdmissionBench,
    prefix: &str,
) -> Result<Latencies, String> {
    let interval = Duration::from_secs_f64(1.0 / f64::from(options.rate.max(1)));
    let total = u64::from(options.rate) * options.seconds;
    let path = format!("/api/v1/namespaces/{NAMESPACE}/pods");
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = started + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (api, path) = (api.clone(), path.clone());
        let body = Bytes::from(pod(&format!("{prefix}-{i}")).to_string());
        tasks.push(tokio::spawn(async move {
            api.send(
                Method::POST,
                &path,
                "application/json",
                body,
                StatusCode::CREATED,
            )
            .await
            .map(|_| due.elapsed())
        }));
    }
    let mut latencies = Latencies::new();
    for task in tasks {
        latencies.record(task.await.map_err(|e| e.to_string())??);
    }
    Ok(latencies)
}

/// Waits until every plugin is loaded.
async fn wait_loaded(client: &LocalClient, wanted: &[String]) -> Result<(), String> {
    let plugins = client
        .resource("wharf.dev", "v1alpha1", "Plugin")
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut loaded = 0;
        for name in wanted {
            if let Ok(plugin) = client.get(&plugins, None, name).await
                && plugin.pointer("/status/phase") == Some(&json!("Loaded"))
            {
                loaded += 1;
            }
        }
        if loaded == wanted.len() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the plugins {wanted:?} did not load within 120 s"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every plugin applied to the warm-up pods: the LimitRange's defaults are
/// on them and the quota counted them.
async fn check_applied(api: &Api, wanted: &[String]) -> Result<(), String> {
    let pod = api
        .send(
            Method::GET,
            &format!("/api/v1/namespaces/{NAMESPACE}/pods/warm-0"),
            "application/json",
            Bytes::new(),
            StatusCode::OK,
        )
        .await?;
    let pod: Value = serde_json::from_slice(&pod).map_err(|e| e.to_string())?;
    let has = |name: &str| wanted.iter().any(|w| w == name);
    if has("limit-ranger")
        && pod.pointer("/spec/containers/0/resources/requests/cpu") != Some(&json!("100m"))
    {
        return Err(format!(
            "limit-ranger did not apply: {}",
            pod["spec"]["containers"][0]["resources"]
        ));
    }
    let quota = api
        .send(
            Method::GET,
            &format!("/api/v1/namespaces/{NAMESPACE}/resourcequotas/pods"),
            "application/json",
            Bytes::new(),
            StatusCode::OK,
        )
        .await?;
    let quota: Value = serde_json::from_slice(&quota).map_err(|e| e.to_string())?;
    if has("resource-quota") && quota.pointer("/status/used/pods") == Some(&json!("0")) {
        return Err("resource-quota charged nothing".into());
    }
    Ok(())
}
