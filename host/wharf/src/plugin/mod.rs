//! `wharf plugin …`: the plugin author's workflow, in any SDK language.
//!
//! - `new`: a plugin folder from a template (source, build file, a unit
//!   test against the SDK's fake cluster, `plugin.yaml`);
//! - `build`: the component, with the language's pinned tool, checked
//!   against its world;
//! - `test`: the unit tests, in the language's own runner;
//! - `push`: a component checked against its world, then uploaded; prints
//!   its digest, for a `Plugin`'s `spec.module`;
//! - `dev`: build, push and hot-swap into the running cluster on every
//!   save, printing the Plugin's status.

pub(crate) mod build;
mod check;
mod dev;
mod new;

use std::path::{Path, PathBuf};

use axum::http::{Method, Request, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub use build::Lang;

#[derive(clap::Subcommand)]
pub enum PluginCommand {
    /// Write a new plugin folder: source, build file, a unit test and its
    /// `plugin.yaml`.
    New {
        /// The plugin's name (a DNS label); the folder is created as ./NAME.
        name: String,
        #[arg(long, value_enum)]
        lang: Lang,
        /// The world: controller, admission or scheduler.
        #[arg(long = "type", default_value = "controller")]
        world: String,
        /// Where to create the folder (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Build a plugin folder into its component and check it against its
    /// world.
    Build {
        dir: PathBuf,
        /// Where to write the component: a file, or a directory to write
        /// `spec.module` into (default: DIR/build/MODULE).
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Run a plugin folder's unit tests.
    Test { dir: PathBuf },
    /// Upload a module (a WebAssembly component); prints `sha256:…`.
    Push {
        /// The component file.
        file: PathBuf,
        /// The world to check it against (default: told by its exports).
        #[arg(long = "type")]
        world: Option<String>,
        /// The kubeconfig naming the server (default: $KUBECONFIG, then
        /// ~/.local/share/wharf/kubeconfig).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
    },
    /// Build, push and hot-swap a plugin folder into the running cluster
    /// on every save; prints the Plugin's status.
    Dev {
        dir: PathBuf,
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Build and swap once, then exit.
        #[arg(long)]
        once: bool,
    },
}

pub async fn run(command: PluginCommand) -> Result<(), String> {
    match command {
        PluginCommand::New {
            name,
            lang,
            world,
            dir,
        } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            new::create(&dir, &name, lang, &world)
        }
        PluginCommand::Build { dir, out } => {
            let folder = build::Folder::open(&dir)?;
            tokio::task::spawn_blocking(move || build::build(&folder, out.as_deref()))
                .await
                .map_err(|e| e.to_string())?
                .map(|out| println!("{}", out.display()))
        }
        PluginCommand::Test { dir } => {
            let folder = build::Folder::open(&dir)?;
            tokio::task::spawn_blocking(move || build::test(&folder))
                .await
                .map_err(|e| e.to_string())?
        }
        PluginCommand::Push {
            file,
            world,
            kubeconfig,
        } => {
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            checked(&bytes, world.as_deref())?;
            let api = Api::new(kubeconfig)?;
            println!("{}", api.push(bytes).await?);
            Ok(())
        }
        PluginCommand::Dev {
            dir,
            kubeconfig,
            once,
        } => dev::run(&dir, Api::new(kubeconfig)?, once).await,
    }
}

/// Checks a component against its world (given, or told by its exports).
fn checked(bytes: &[u8], world: Option<&str>) -> Result<(), String> {
    let world = match world {
        Some(world) => world,
        None => check::world_of(bytes)?,
    };
    let wit = build::source_root().map(|root| root.join("wit")).ok();
    let Some(wit) = wit else {
        // Without the WIT only the server's link checks it.
        return Ok(());
    };
    let problems = check::problems(bytes, world, &wit)?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the component does not fit the {world} world:\n  - {}",
            problems.join("\n  - ")
        ))
    }
}

/// The API server of a kubeconfig, over plain HTTP.
pub struct Api {
    server: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Api {
    pub fn new(kubeconfig: Option<PathBuf>) -> Result<Self, String> {
        Ok(Self {
            server: server(kubeconfig)?,
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// Sends a request; returns the status and the JSON answer (`null`
    /// when it is not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Value), String> {
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.server))
            .header("Content-Type", content_type)
            .header("Accept", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("{}: {e}", self.server))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, serde_json::from_slice(&body).unwrap_or_default()))
    }

    /// Uploads a module; returns its digest.
    pub async fn push(&self, bytes: Vec<u8>) -> Result<String, String> {
        let (status, answer) = self
            .call(Method::POST, "/wharf/v1/modules", "application/wasm", bytes)
            .await?;
        if status != StatusCode::CREATED {
            return Err(format!(
                "the server refused the module ({status}): {}",
                answer["message"].as_str().unwrap_or_default()
            ));
        }
        Ok(answer["digest"].as_str().unwrap_or_default().to_string())
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
    let config: Value =
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

/// A path relative to the current directory when it is under it.
fn shown(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}
