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
