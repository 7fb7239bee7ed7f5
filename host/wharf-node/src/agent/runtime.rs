//! Which runtime driver runs the pods' containers, chosen once per agent.

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
}

/// A connected driver.
#[derive(Clone)]
pub(super) enum Driver {
    Process,
    Docker(DockerRuntime),
}

impl Driver {
    pub(super) async fn connect(config: &RuntimeConfig) -> Result<Self, String> {
        Ok(match config {
            RuntimeConfig::Process => Driver::Process,
            RuntimeConfig::Docker { host } => {
                Driver::Docker(DockerRuntime::connect(host.as_deref()).await?)
            }
        })
    }

    /// The Node's `nodeInfo.containerRuntimeVersion`.
    pub(super) fn version(&self) -> String {
        match self {
            Driver::Process => "process://1.0".into(),
            Driver::Docker(docker) => format!("docker://{}", docker.version),
        }
    }

    pub(super) fn docker(&self) -> Option<&DockerRuntime> {
        match self {
            Driver::Docker(docker) => Some(docker),
            Driver::Process => None,
        }
    }
}
