//! `wharf plugin push FILE.wasm`: uploads a plugin module to the API server
//! and prints its digest, for a `Plugin`'s `spec.module`.

use std::path::PathBuf;

use axum::http::{Method, Request, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

#[derive(clap::Subcommand)]
pub enum PluginCommand {
    /// Upload a module (a WebAssembly component); prints `sha256:…`.
    Push {
        /// The component file.
        file: PathBuf,
        /// The kubeconfig naming the server (default: $KUBECONFIG, then
        /// ~/.local/share/wharf/kubeconfig).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
    },
}

pub async fn run(command: PluginCommand) -> Result<(), String> {
    match command {
        PluginCommand::Push { file, kubeconfig } => push(&file, kubeconfig).await,
    }
}

/// The server URL of the kubeconfig's current context.
fn server(kubeconfig: Option<PathBuf>) -> Result<String, String> {
    let path = kubeconfig
        .or_else(|| std::env::var_os("KUBECONFIG").map(PathBuf::from))
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".local/share/wharf/kubeconfig"))
        })
        .ok_or("no kubeconfig: pass --kubeconfig")?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let config: serde_json::Value =
        serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let context_name = config["current-context"].as_str().unwrap_or_default();
    let find = |list: &str, name: &str| {
        config[list]
            .as_array()
            .and_then(|items| items.iter().find(|item| item["name"] == name).cloned())
    };
    let cluster_name = find("contexts", context_name)
        .and_then(|c| c["context"]["cluster"].as_str().map(String::from));
    let cluster = match cluster_name {
        Some(name) => find("clusters", &name),
        None => config["clusters"]
            .as_array()
            .and_then(|c| c.first().cloned()),
    };
    cluster
        .and_then(|c| {
            c["cluster"]["server"]
                .as_str()
                .map(|s| s.trim_end_matches('/').to_string())
        })
        .ok_or_else(|| format!("{}: no server for the current context", path.display()))
}

async fn push(file: &std::path::Path, kubeconfig: Option<PathBuf>) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let server = server(kubeconfig)?;
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("{server}/wharf/v1/modules"))
        .header("Content-Type", "application/wasm")
        .body(Full::new(Bytes::from(bytes)))
        .map_err(|e| e.to_string())?;
    let response = client
        .request(request)
        .await
        .map_err(|e| format!("{server}: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if status != StatusCode::CREATED {
        return Err(format!(
            "the server refused the module ({status}): {}",
            answer["message"].as_str().unwrap_or_default()
        ));
    }
    println!("{}", answer["digest"].as_str().unwrap_or_default());
    Ok(())
}
