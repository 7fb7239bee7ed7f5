//! `wharf bench plugins`: the plugin platform's costs, on the real stack
//! (embedded store, API server, informers, plugin host, wasmtime).
//!
//! 1. Instantiation of a controller component from its `InstancePre`.
//! 2. A no-op `reconcile` round trip: host → guest → one `cluster.get` served
//!    from the informer cache → back (the test guest in `read` mode), and an
//!    empty call for reference; and the WebAssembly overhead: the same
//!    near-empty reconcile (the ReplicaSet controller on a missing
//!    ReplicaSet: one `get` of a host that has nothing, done) as a
//!    component and as a native library.
//! 3. Hot-reload swap: from `reload()` of an already compiled module until
//!    a reconcile has run on the new instance.
//! 4. One Deployment scaled from 0 to 10,000 replicas: time until all pod
//!    objects exist, with the sample Deployment and ReplicaSet controllers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use wharf_client::{Client, Selectors};

use serde_json::json;
use wharf_apiserver::{ApiState, LocalClient};
use wharf_controller_manager::ControllerManager;
use wharf_controller_manager::host::PluginHost;
use wharf_controller_manager::informer::Informers;
use wharf_controller_manager::plugin::{ControllerPlugin, ControllerSpec};
use wharf_plugins::controller::{
    ApiError, ControllerHost, ControllerModule, Event, Kind, Level, ListOptions, ModuleKind,
    Outcome, PatchType,
};
use wharf_plugins::native::NativeControllerModule;
use wharf_plugins::{Limits, Runtime, RuntimeConfig};
use wharf_store::{EmbeddedConfig, EmbeddedStore};

use super::report::Latencies;

#[derive(clap::Args)]
pub struct PluginsBench {
    /// Where the plugin components are; by default the build's
    /// `wasm32-wasip2/plugin` folder next to this binary's.
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
    /// Reconcile calls timed in the round-trip phase.
    #[arg(long, default_value_t = 200_000)]
    calls: u32,
    /// Replicas of the scale phase.
    #[arg(long, default_value_t = 10_000)]
    replicas: u32,
    /// Instead: the same controller in each SDK's language (size,
    /// compile, cached load, instantiation, idle memory, reconcile cost).
    #[arg(long)]
    langs: bool,
    /// Reconcile calls of each kind per language with `--langs`.
    #[arg(long, default_value_t = 20_000)]
    lang_calls: u32,
}

fn plugin_dir(options: &PluginsBench) -> Result<PathBuf, String> {
    options
        .plugin_dir
        .clone()
        .or_else(|| {
            Some(
                std::env::current_exe()
                    .ok()?
                    .parent()?
                    .parent()?
                    .join("wasm32-wasip2/plugin"),
            )
        })
        .ok_or_else(|| "no plugin directory; pass --plugin-dir".to_string())
}

fn read(dir: &std::path::Path, file: &str) -> Result<Vec<u8>, String> {
    std::fs::read(dir.join(file)).map_err(|e| {
        format!(
            "{}: {e} (build the plugins with scripts/build-plugins.sh)",
            dir.join(file).display()
        )
    })
}

/// An API server on a temporary embedded store, and its in-process client.
pub(super) async fn cluster() -> Result<(LocalClient, tempfile::TempDir), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path().join("store")))
        .map_err(|e| e.to_string())?;
    let state = ApiState::new(Arc::new(store))
        .await
        .map_err(|e| e.to_string())?;
    // Pods get their ServiceAccount token volume, as under `wharf up`.
    let ca = wharf_pki::Ca::generate("wharf-bench-ca").map_err(|e| e.to_string())?;
    wharf_apiserver::serviceaccounts::prepare_for_pods(&state, "default", ca.cert_pem()).await?;
    Ok((LocalClient::new(state), dir))
}

/// The user of a plugin allowed everything: a Plugin object `name` with
/// `*` permissions (nothing runs it here), so the bench's host calls are
/// authorized as any plugin's are.
async fn plugin_allowed_everything(
    client: &LocalClient,
    name: &str,
) -> Result<wharf_apiserver::admission::UserInfo, String> {
    let plugins = client
        .resource("wharf.dev", "v1alpha1", "Plugin")
        .map_err(|e| e.to_string())?;
    let plugin = json!({
        "apiVersion": "wharf.dev/v1alpha1", "kind": "Plugin",
        "metadata": {"name": name},
        "spec": {"type": "controller", "module": "file:///nowhere/bench.wasm",
                 "permissions": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]},
    });
    match client.create(&plugins, None, &plugin).await {
        Ok(_) | Err(wharf_client::ApiError::AlreadyExists { .. }) => {}
        Err(error) => return Err(format!("the bench's Plugin: {error}")),
    }
    Ok(wharf_apiserver::authz::plugin_user(name))
}

pub async fn run(options: PluginsBench) -> Result<(), String> {
    let dir = plugin_dir(&options)?;
    if options.langs {
        let calls = options.lang_calls;
        return tokio::task::spawn_blocking(move || super::langs::run(&dir, calls))
            .await
            .map_err(|e| e.to_string())?;
    }
    let guest = read(&dir, "wharf_test_guest.wasm")?;
    let runtime = Runtime::new(RuntimeConfig::default()).map_err(|e| e.to_string())?;
    let compile_started = Instant::now();
    let module = Arc::new(ControllerModule::load(&runtime, &guest).map_err(|e| e.to_string())?);
    println!(
        "compile the test guest ({} KB): {:.1} ms",
        guest.len() / 1024,
        compile_started.elapsed().as_secs_f64() * 1e3
    );

    let (client, _dir) = cluster().await?;
    let informers = Arc::new(Informers::new(
        client.clone(),
        tokio::runtime::Handle::current(),
    ));
    let configmaps = client
        .resource("", "v1", "ConfigMap")
        .map_err(|e| e.to_string())?;
    client
        .create(
            &configmaps,
            Some("default"),
            &json!({"metadata": {"name": "x"}, "data": {"k": "v"}}),
        )
        .await
        .map_err(|e| e.to_string())?;
    let user = plugin_allowed_everything(&client, "bench").await?;
    let host = Arc::new(PluginHost::new(
        "bench".into(),
        client.clone(),
        informers.clone(),
        user,
        tokio::runtime::Handle::current(),
    ));

    // 1 and 2 run on a worker thread, as controller calls do.
    let (instantiate, noop, round_trip) = {
        let (module, host) = (module.clone(), host.clone());
        let calls = options.calls;
        tokio::task::spawn_blocking(
            move || -> Result<(Latencies, Latencies, Latencies), String> {
                let limits = Limits::default();
                let mut instantiate = Latencies::new();
                for _ in 0..2000 {
                    let started = Instant::now();
                    let instance = module
                        .instantiate(host.clone() as Arc<dyn ControllerHost>, &limits)
                        .map_err(|e| e.to_string())?;
                    instantiate.record(started.elapsed());
                    drop(instance);
                }
                let mut noop_instance = module
                    .instantiate(host.clone(), &limits)
                    .map_err(|e| e.to_string())?;
                noop_instance
                    .init(r#"{"mode":"noop"}"#)
                    .map_err(|e| e.to_string())?;
                let mut reader = module
                    .instantiate(host.clone(), &limits)
                    .map_err(|e| e.to_string())?;
                let registration = reader
                    .init(r#"{"mode":"read"}"#)
                    .map_err(|e| e.to_string())?;
                host.set_watched(&[registration.primary])
                    .map_err(|e| e.to_string())?;
                informers_wait(&host)?;
                let mut noop = Latencies::new();
                let mut round_trip = Latencies::new();
                for _ in 0..calls {
                    let (outcome, elapsed) = noop_instance.reconcile(Some("default"), "x");
                    outcome.map_err(|e| e.to_string())?;
                    noop.record(elapsed);
                    let (outcome, elapsed) = reader.reconcile(Some("default"), "x");
                    if !matches!(outcome, Ok(Outcome::Done)) {
                        return Err(format!("the read reconcile failed: {outcome:?}"));
                    }
                    round_trip.record(elapsed);
                }
                Ok((instantiate, noop, round_trip))
            },
        )
        .await
        .map_err(|e| e.to_string())??
    };
    println!("instantiate (InstancePre): {}", instantiate.summary_us());
    println!("empty reconcile call:      {}", noop.summary_us());
    println!(
        "reconcile round trip:      {} (host → guest → cached get → back)",
        round_trip.summary_us()
    );

    match overhead_phase(&dir, &runtime, options.calls).await? {
        Some((wasm, native)) => println!(
            "wasm overhead (replicaset, empty reconcile): component {:.2} µs, native {:.2} µs ({:.1}×)",
            wasm.mean_us(),
            native.mean_us(),
            wasm.mean_us() / native.mean_us().max(1e-3)
        ),
        None => println!(
            "wasm overhead: skipped (no native libwharf_controller_replicaset.so; scripts/build-plugins.sh builds it)"
        ),
    }

    let swap = swap_phase(&client, &informers, &runtime, &guest).await?;
    println!(
        "hot-reload swap:           {} (reload → a reconcile on the new instance)",
        swap.summary()
    );

    let scale = scale_phase(&dir, &runtime, options.replicas).await?;
    println!(
        "deployment 0 → {} replicas: all pod objects in {:.2} s ({:.0} pods/s)",
        options.replicas,
        scale.as_secs_f64(),
        f64::from(options.replicas) / scale.as_secs_f64()
    );

    println!(
        "plugins bench: instantiate {:.1} µs, swap {:.1} ms, {} pods in {:.2} s; round trip {:.2} µs",
        instantiate.mean_us(),
        swap.quantile_ms(0.5),
        options.replicas,
        scale.as_secs_f64(),
        round_trip.mean_us(),
    );
    Ok(())
}

/// The same near-empty reconcile on the ReplicaSet controller as a
/// component and as a native library (`<target>/release`, next to the
/// plugin directory's `wasm32-wasip2/plugin`); `None` when the native
/// library is not built.
async fn overhead_phase(
    dir: &std::path::Path,
    runtime: &Arc<Runtime>,
    calls: u32,
) -> Result<Option<(Latencies, Latencies)>, String> {
    let Some(native_path) = dir
        .parent()
        .and_then(|p| p.parent())
        .map(|target| target.join("release/libwharf_controller_replicaset.so"))
        .filter(|path| path.exists())
    else {
        return Ok(None);
    };
    let wasm = read(dir, "wharf_controller_replicaset.wasm")?;
    let runtime = runtime.clone();
    let host: Arc<dyn ControllerHost> = Arc::new(EmptyHost);
    tokio::task::spawn_blocking(move || -> Result<Option<(Latencies, Latencies)>, String> {
        let modules: [ModuleKind; 2] = [
            Arc::new(ControllerModule::load(&runtime, &wasm).map_err(|e| e.to_string())?).into(),
            Arc::new(
                NativeControllerModule::load(&*native_runtime(&native_path)?, &native_path)
                    .map_err(|e| e.to_string())?,
            )
            .into(),
        ];
        let mut results = Vec::new();
        for module in modules {
            let mut instance = module
                .instantiate(host.clone(), &Limits::default())
                .map_err(|e| e.to_string())?;
            instance.init("{}").map_err(|e| e.to_string())?;
            let mut latencies = Latencies::new();
            for _ in 0..calls {
                let (outcome, elapsed) = instance.reconcile(Some("default"), "x");
                outcome.map_err(|e| e.to_string())?;
                latencies.record(elapsed);
            }
            results.push(latencies);
        }
        let native = results.pop().expect("two results");
        let wasm = results.pop().expect("two results");
        Ok(Some((wasm, native)))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// A host with no objects that ignores everything: the overhead phase
/// times the boundary, not the host.
struct EmptyHost;

impl ControllerHost for EmptyHost {
    fn get(&self, _: &Kind, _: Option<&str>, _: &str) -> Result<Option<String>, ApiError> {
        Ok(None)
    }
    fn list(&self, _: &Kind, _: &ListOptions) -> Result<Vec<String>, ApiError> {
        Ok(Vec::new())
    }
    fn create(&self, _: &Kind, _: Option<&str>, _: &str) -> Result<String, ApiError> {
        Err(ApiError::Forbidden("the empty host".into()))
    }
    fn update(&self, _: &Kind, _: Option<&str>, _: &str, _: bool) -> Result<String, ApiError> {
        Err(ApiError::Forbidden("the empty host".into()))
    }
    fn patch(
        &self,
        _: &Kind,
        _: Option<&str>,
        _: &str,
        _: PatchType,
        _: &str,
        _: bool,
    ) -> Result<String, ApiError> {
        Err(ApiError::Forbidden("the empty host".into()))
    }
    fn delete(&self, _: &Kind, _: Option<&str>, _: &str) -> Result<(), ApiError> {
        Err(ApiError::Forbidden("the empty host".into()))
    }
    fn log(&self, _: Level, _: &str) {}
    fn state_get(&self, _: &str) -> Option<Vec<u8>> {
        None
    }
    fn state_set(&self, _: &str, _: &[u8]) {}
    fn state_delete(&self, _: &str) {}
    fn emit(&self, _: Event) {}
}

/// Waits for the watched ConfigMap informer to list the object.
fn informers_wait(host: &PluginHost) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if host
            .get(
                &wharf_plugins::controller::Kind {
                    group: String::new(),
                    version: "v1".into(),
                    kind: "ConfigMap".into(),
                },
                Some("default"),
                "x",
            )
            .map_err(|e| format!("{e:?}"))?
            .is_some()
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err("the ConfigMap informer did not sync".into())
}

async fn swap_phase(
    client: &LocalClient,
    informers: &Arc<Informers>,
    runtime: &Arc<Runtime>,
    guest: &[u8],
) -> Result<Latencies, String> {
    let user = plugin_allowed_everything(client, "swap").await?;
    let host = Arc::new(PluginHost::new(
        "swap".into(),
        client.clone(),
        informers.clone(),
        user,
        tokio::runtime::Handle::current(),
    ));
    let spec = ControllerSpec {
        limits: Limits::default(),
        config: r#"{"mode":"noop"}"#.into(),
        workers: 1,
    };
    let (runtime, guest) = (runtime.clone(), guest.to_vec());
    let informers = informers.clone();
    tokio::task::spawn_blocking(move || -> Result<Latencies, String> {
        let first = Arc::new(ControllerModule::load(&runtime, &guest).map_err(|e| e.to_string())?);
        let plugin = ControllerPlugin::start("swap".into(), spec, first, host, &informers)
            .map_err(|e| e.to_string())?;
        // Twenty modules with distinct digests, compiled before timing.
        let modules: Vec<Arc<ControllerModule>> = (0..20)
            .map(|i| {
                let mut bytes = guest.clone();
                let name = b"wharf-bench";
                let payload = format!("{i}");
                bytes.push(0);
                bytes.push((1 + name.len() + payload.len()) as u8);
                bytes.push(name.len() as u8);
                bytes.extend_from_slice(name);
                bytes.extend_from_slice(payload.as_bytes());
                ControllerModule::load(&runtime, &bytes)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<_, _>>()?;
        let mut swaps = Latencies::new();
        for module in modules {
            let calls = plugin.stats.calls.load(Ordering::Relaxed);
            let started = Instant::now();
            plugin.reload(module);
            plugin.queue.add("default/x");
            while plugin.stats.calls.load(Ordering::Relaxed) == calls {
                std::thread::yield_now();
            }
            swaps.record(started.elapsed());
        }
        plugin.stop();
        Ok(swaps)
    })
    .await
    .map_err(|e| e.to_string())?
}

async fn scale_phase(
    dir: &std::path::Path,
    runtime: &Arc<Runtime>,
    replicas: u32,
) -> Result<Duration, String> {
    let (client, _temp) = cluster().await?;
    let plugins = client
        .resource("wharf.dev", "v1alpha1", "Plugin")
        .map_err(|e| e.to_string())?;
    for (name, file) in [
        ("replicaset-controller", "wharf_controller_replicaset.wasm"),
        ("deployment-controller", "wharf_controller_deployment.wasm"),
    ] {
        let path = dir.join(file).canonicalize().map_err(|e| {
            format!("{file}: {e} (build the plugins with scripts/build-plugins.sh)")
        })?;
        let plugin = json!({
            "apiVersion": "wharf.dev/v1alpha1",
            "kind": "Plugin",
            "metadata": {"name": name},
            "spec": {
                "type": "controller",
                "module": format!("file://{}", path.display()),
                "workers": 2,
                "limits": {"memory": "256Mi", "callTimeout": "10s"},
                "permissions": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
            },
        });
        client
            .create(&plugins, None, &plugin)
            .await
            .map_err(|e| e.to_string())?;
    }
    let manager = ControllerManager::new(client.clone(), runtime.clone());
    let pods_informer = manager
        .informers()
        .get_or_start("", "v1", "Pod")
        .map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(manager.clone().run(async move {
        let _ = stopped.await;
    }));
    let deployments = client
        .resource("apps", "v1", "Deployment")
        .map_err(|e| e.to_string())?;
    let deployment = json!({
        "metadata": {"name": "big"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "big"}},
            "template": {"metadata": {"labels": {"app": "big"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
        },
    });
    client
        .create(&deployments, Some("default"), &deployment)
        .await
        .map_err(|e| e.to_string())?;
    // Wait until both plugins run and the empty ReplicaSet exists.
    let replicasets = client
        .resource("apps", "v1", "ReplicaSet")
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while client
        .list(&replicasets, Some("default"), &Selectors::all())
        .await
        .map_err(|e| e.to_string())?
        .items
        .is_empty()
    {
        if Instant::now() > deadline {
            return Err("the Deployment controller did not create a ReplicaSet".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let patch = wharf_client::Patch::parse(
        "application/merge-patch+json",
        format!(r#"{{"spec":{{"replicas":{replicas}}}}}"#).as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    let started = Instant::now();
    client
        .patch(&deployments, Some("default"), "big", &patch, false)
        .await
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(300);
    while pods_informer.keys().len() < replicas as usize {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {replicas} pods after 300 s",
                pods_informer.keys().len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let _ = stop.send(());
    let _ = running.await;
    Ok(elapsed)
}

/// A runtime that loads native plugins from the folder `library` is in.
pub(crate) fn native_runtime(library: &Path) -> Result<Arc<Runtime>, String> {
    Runtime::new(RuntimeConfig {
        native_plugin_dir: library.parent().map(Path::to_path_buf),
        ..RuntimeConfig::default()
    })
    .map_err(|e| e.to_string())
}
