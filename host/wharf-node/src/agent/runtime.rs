//! Which runtime driver runs the pods' containers, chosen once per agent.

use std::path::PathBuf;
use std::sync::Arc;

use wharf_native_runtime::NativeRuntime;

use super::docker::DockerRuntime;

/// The runtime driver the agent runs containers with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RuntimeConfig {
    /// Containers are host processes (the default; needs no daemon).
    #[default]
    Process,
    /// Containers of the Docker Engine at `host` (`unix:///path`; `None`:
    /// `DOCKER_HOST` or the default socket).
    Docker { host: Option<String> },
    /// A third party's driver: a shared library speaking the runtime ABI
    /// (`wharf_sdk::runtime_driver`), given `config`.
    Native { library: PathBuf, config: String },
}

impl RuntimeConfig {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            RuntimeConfig::Process => "process",
            RuntimeConfig::Docker { .. } => "docker",
            RuntimeConfig::Native { .. } => "native",
        }
    }
}

/// A connected driver.
#[derive(Clone)]
pub(super) enum Driver {
    Process,
    Docker(DockerRuntime),
    Native(Arc<NativeRuntime>),
}

impl Driver {
    pub(super) async fn connect(config: &RuntimeConfig) -> Result<Self, String> {
        Ok(match config {
            RuntimeConfig::Process => Driver::Process,
            RuntimeConfig::Docker { host } => {
                Driver::Docker(DockerRuntime::connect(host.as_deref()).await?)
            }
            RuntimeConfig::Native { library, config } => {
                let (library, config) = (library.clone(), config.clone());
                let loaded =
                    tokio::task::spawn_blocking(move || NativeRuntime::load(&library, &config))
                        .await
                        .map_err(|join| join.to_string())?;
                Driver::Native(Arc::new(loaded.map_err(|error| error.to_string())?))
            }
        })
    }

    /// The Node's `nodeInfo.containerRuntimeVersion`.
    pub(super) fn version(&self) -> String {
        match self {
            Driver::Process => "process://1.0".into(),
            Driver::Docker(docker) => format!("docker://{}", docker.version),
            Driver::Native(native) => format!("{}://native", native.name()),
        }
    }

    pub(super) fn docker(&self) -> Option<&DockerRuntime> {
        match self {
            Driver::Docker(docker) => Some(docker),
            _ => None,
        }
    }

    pub(super) fn is_process(&self) -> bool {
        matches!(self, Driver::Process)
    }

    pub(super) fn native(&self) -> Option<&Arc<NativeRuntime>> {
        match self {
            Driver::Native(native) => Some(native),
            _ => None,
        }
    }
}
