//! `wharf plugin dev DIR`: build, push and hot-swap a plugin folder into
//! the running cluster on every save, printing the Plugin's status.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::build::{self, Folder};
use super::{Api, shown};

/// Folders whose changes are the build's own, not the author's.
const IGNORED: &[&str] = &[
    "build",
    "target",
    "node_modules",
    "__pycache__",
    ".pytest_cache",
    "dist",
    ".git",
];

/// How long a swap may take to show in the Plugin's status (a Python
/// component's first compile takes about 11 s on two cores).
const SWAP_TIMEOUT: Duration = Duration::from_secs(120);

pub async fn run(dir: &Path, api: Api, once: bool) -> Result<(), String> {
    let folder = Folder::open(dir)?;
    let mut seen = snapshot(&folder.dir);
    loop {
        let started = Instant::now();
        let swapped = swap(&folder, &api).await;
        match &swapped {
            Ok(status) => println!(
                "{} in {:.1} s: {status}",
                shown(&folder.dir),
                started.elapsed().as_secs_f64()
            ),
            Err(error) => eprintln!("{}: {error}", shown(&folder.dir)),
        }
        if once {
            return swapped.map(drop);
        }
        println!(
            "watching {} for changes (Ctrl-C to stop)",
            shown(&folder.dir)
        );
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = snapshot(&folder.dir);
            if now != seen {
                seen = now;
                break;
            }
        }
    }
}

/// Builds, pushes and applies the Plugin with the new module; waits until
/// the cluster runs it (or says why not). Returns the status in a line.
async fn swap(folder: &Folder, api: &Api) -> Result<String, String> {
    let built = {
        let folder = Folder::open(&folder.dir)?;
        tokio::task::spawn_blocking(move || build::build(&folder, None))
            .await
            .map_err(|e| e.to_string())??
    };
    let bytes = std::fs::read(&built).map_err(|e| format!("{}: {e}", built.display()))?;
    let digest = api.push(bytes).await?;
    let name = folder.manifest["metadata"]["name"]
        .as_str()
        .ok_or("plugin.yaml: metadata.name is not set")?
        .to_string();
    let mut plugin = folder.manifest.clone();
    plugin["spec"]["module"] = json!(digest);
    let path = format!("/apis/wharf.dev/v1alpha1/plugins/{name}");
    let (status, existing) = api
        .call(Method::GET, &path, "application/json", Vec::new())
        .await?;
    let (status, answer) = if status == StatusCode::NOT_FOUND {
        let body = serde_json::to_vec(&plugin).map_err(|e| e.to_string())?;
        api.call(
            Method::POST,
            "/apis/wharf.dev/v1alpha1/plugins",
            "application/json",
            body,
        )
        .await?
    } else {
        plugin["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"].clone();
        let body = serde_json::to_vec(&plugin).map_err(|e| e.to_string())?;
        api.call(Method::PUT, &path, "application/json", body)
            .await?
    };
    if !status.is_success() {
        return Err(format!(
            "the Plugin was not applied ({status}): {}",
            answer["message"].as_str().unwrap_or_default()
        ));
    }
    let deadline = Instant::now() + SWAP_TIMEOUT;
    loop {
        let (_, plugin) = api
            .call(Method::GET, &path, "application/json", Vec::new())
            .await?;
        let status = &plugin["status"];
        if status["loadedDigest"] == json!(digest) {
            return Ok(describe(&name, status));
        }
        if status["phase"] == "Failed" {
            return Err(format!(
                "{name} failed to load: {}",
                status["lastError"].as_str().unwrap_or_default()
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{name} did not load {digest} within {SWAP_TIMEOUT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A Plugin's status in a line.
fn describe(name: &str, status: &Value) -> String {
    let text = |pointer: &str| {
        status
            .pointer(pointer)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .unwrap_or_else(|| "-".into())
    };
    let mut line = format!(
        "{name} {} (module {}, {} {}, instantiate {})",
        text("/phase"),
        text("/loadedDigest").chars().take(19).collect::<String>(),
        text("/load/from"),
        text("/load/loadTime"),
        text("/load/instantiateTime"),
    );
    if let Some(error) = status["lastError"].as_str() {
        line.push_str(&format!("; last error: {error}"));
    }
    line
}

/// The folder's files and their times, to notice a save.
pub(super) fn snapshot(dir: &Path) -> Vec<(PathBuf, SystemTime, u64)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            if metadata.is_dir() {
                let name = entry.file_name();
                if !IGNORED.iter().any(|ignored| name == *ignored) {
                    pending.push(path);
                }
            } else if let Ok(modified) = metadata.modified() {
                files.push((path, modified, metadata.len()));
            }
        }
    }
    files.sort();
    files
}
