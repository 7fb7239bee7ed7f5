//! `wharf up`: the store and the API server in one process, a kubeconfig for
//! kubectl, and a clean stop on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use wharf_apiserver::ApiState;
use wharf_store::{EmbeddedConfig, EmbeddedStore, EtcdConfig, EtcdStore, Store};

#[derive(clap::Args)]
pub struct Up {
    /// Where the embedded store and the kubeconfig live.
    #[arg(long, default_value_os_t = default_data_dir())]
    data_dir: PathBuf,
    /// The API server's address.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// `embedded` (default) or `etcd=URL[,URL…]`.
    #[arg(long, default_value = "embedded")]
    store: String,
    /// Where the sample plugins' components are (`*.wasm`); by default the
    /// build's `wasm32-wasip2/plugin` folder next to this binary's.
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
    /// Start only the API server: no controller manager, no sample plugins.
    #[arg(long)]
    no_controllers: bool,
}

/// The sample plugin set: each manifest's `spec.module` names its component.
const SAMPLE_PLUGINS: &[&str] = &[
    include_str!("../../../plugins/controllers/replicaset/plugin.yaml"),
    include_str!("../../../plugins/controllers/deployment/plugin.yaml"),
];

fn default_plugin_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.join("wasm32-wasip2").join("plugin"))
}

/// Creates or updates the sample `Plugin` objects whose components exist.
async fn install_sample_plugins(
    client: &wharf_apiserver::LocalClient,
    dir: &std::path::Path,
) -> Result<usize, String> {
    let plugins = client
        .resource("wharf.dev", "v1alpha1", "Plugin")
        .map_err(|e| e.to_string())?;
    let mut installed = 0;
    for manifest in SAMPLE_PLUGINS {
        let mut plugin: serde_json::Value = serde_yaml_ng::from_str(manifest)
            .map_err(|e| format!("sample plugin manifest: {e}"))?;
        let file = plugin["spec"]["module"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let path = dir.join(&file);
        if !path.exists() {
            tracing::warn!(module = %path.display(), "sample plugin not built; skipping it");
            continue;
        }
        let path = path
            .canonicalize()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        plugin["spec"]["module"] = serde_json::json!(format!("file://{}", path.display()));
        let name = plugin["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match client.get(&plugins, None, &name).await {
            Ok(existing) if existing["spec"] == plugin["spec"] => {}
            Ok(existing) => {
                plugin["metadata"]["resourceVersion"] =
                    existing["metadata"]["resourceVersion"].clone();
                client
                    .update(&plugins, None, &plugin, false)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Err(_) => {
                client
                    .create(&plugins, None, &plugin)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        installed += 1;
    }
    Ok(installed)
}

/// Runs the controller manager whenever this process holds the leader lease.
async fn start_controllers(
    state: Arc<ApiState>,
    data_dir: &std::path::Path,
    plugin_dir: Option<PathBuf>,
) -> Result<(), String> {
    let runtime = wharf_plugins::Runtime::new(wharf_plugins::RuntimeConfig {
        cache_dir: Some(data_dir.join("plugin-cache")),
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    let client = wharf_apiserver::LocalClient::new(state);
    match plugin_dir.or_else(default_plugin_dir) {
        Some(dir) => {
            let installed = install_sample_plugins(&client, &dir).await?;
            tracing::info!(installed, dir = %dir.display(), "sample plugins installed");
        }
        None => tracing::warn!("no plugin directory; no sample plugins installed"),
    }
    let identity = format!("{}-{}", hostname(), std::process::id());
    let election = wharf_controller_manager::leader::ElectionConfig::new(identity);
    tokio::spawn(wharf_controller_manager::leader::run(
        client.clone(),
        election,
        move |mut stopped| {
            let manager =
                wharf_controller_manager::ControllerManager::new(client.clone(), runtime.clone());
            async move {
                manager
                    .run(async move {
                        let _ = stopped.wait_for(|stop| *stop).await;
                    })
                    .await;
            }
        },
    ));
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "wharf".into())
}

fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("wharf")
}

pub async fn run(options: Up) -> Result<(), String> {
    std::fs::create_dir_all(&options.data_dir)
        .map_err(|e| format!("{}: {e}", options.data_dir.display()))?;
    let store: Arc<dyn Store> = match options.store.as_str() {
        "embedded" => Arc::new(
            EmbeddedStore::open(EmbeddedConfig::new(options.data_dir.join("store")))
                .map_err(|e| e.to_string())?,
        ),
        other => match other.strip_prefix("etcd=") {
            Some(urls) => {
                let endpoints: Vec<String> = urls.split(',').map(String::from).collect();
                Arc::new(
                    EtcdStore::connect(EtcdConfig::new(endpoints))
                        .await
                        .map_err(|e| format!("etcd: {e}"))?,
                )
            }
            None => {
                return Err(format!(
                    "--store must be `embedded` or `etcd=URL`, not {other:?}"
                ));
            }
        },
    };
    let state = ApiState::new(store)
        .await
        .map_err(|e| format!("starting the API server: {e}"))?;
    if !options.no_controllers {
        start_controllers(state.clone(), &options.data_dir, options.plugin_dir.clone()).await?;
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let kubeconfig = options.data_dir.join("kubeconfig");
    write_kubeconfig(&kubeconfig, &format!("http://{address}"))?;
    println!(
        "wharf: ready — API server at http://{address}, kubeconfig {}",
        kubeconfig.display()
    );

    let shutdown = async {
        shutdown_signal().await;
        tracing::info!("shutting down");
    };
    wharf_apiserver::serve(listener, state, shutdown)
        .await
        .map_err(|e| format!("the API server failed: {e}"))?;
    println!("wharf: stopped");
    Ok(())
}

async fn shutdown_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return std::future::pending().await,
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

fn write_kubeconfig(path: &std::path::Path, server: &str) -> Result<(), String> {
    let text = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: wharf
  cluster:
    server: {server}
contexts:
- name: wharf
  context:
    cluster: wharf
    user: wharf
    namespace: default
current-context: wharf
users:
- name: wharf
  user: {{}}
"
    );
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| format!("{}: {e}", path.display()))
}
