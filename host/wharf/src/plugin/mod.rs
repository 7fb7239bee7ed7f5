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

use axum::http::{Method, StatusCode};
use bytes::Bytes;
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

/// The API server of a kubeconfig, with its credentials.
pub struct Api {
    transport: wharf_client::Transport,
}

impl Api {
    pub fn new(kubeconfig: Option<PathBuf>) -> Result<Self, String> {
        let path = wharf_client::ClusterAccess::default_path(kubeconfig)?;
        let access = wharf_client::ClusterAccess::from_kubeconfig(&path, None)?;
        Ok(Self {
            transport: wharf_client::Transport::new(&access, Default::default())?,
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
        let headers = [
            ("content-type", content_type),
            ("accept", "application/json"),
        ];
        let (status, body) = self
            .transport
            .call(method, path, &headers, Bytes::from(body))
            .await?;
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

/// A path relative to the current directory when it is under it.
fn shown(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}
