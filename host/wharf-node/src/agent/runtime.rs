//! The runtime drivers, chosen once per agent, behind one trait: what a
//! pod's worker asks of whatever runs its containers, as the kubelet asks
//! `kubecontainer.Runtime`.
//!
//! The worker decides (what runs, when, with what back-off) and records
//! (the pod's checkpoint, its status and events); a [`ContainerRuntime`]
//! only does: it makes the pod's sandbox, creates, starts, signals,
//! adopts and removes containers, and tells how they ended. The drivers:
//! `process.rs` ([`ProcessRuntime`](super::process::ProcessRuntime), host
//! processes), `docker.rs` ([`DockerRuntime`](super::docker::DockerRuntime),
//! the Docker Engine) and `native.rs` ([`NativeDriver`](super::native::NativeDriver),
//! a third party's shared library).
//!
//! Starting is two steps, as CRI's CreateContainer and StartContainer: the
//! worker awaits [`ContainerRuntime::create`] (pulling an image, or
//! starting the container when the driver can only do both at once), then
//! calls [`Created::start`] and records what started in one step under the
//! agent's [`Gate`], so that a stopped agent leaves no container started
//! and unrecorded.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use wharf_native_runtime::NativeRuntime;

use super::Gate;
use super::cgroups::Limits;
use super::checkpoint::RunningProcess;
use super::docker::DockerRuntime;
use super::native::NativeDriver;
use super::process::{Identity, ProcessRuntime, Signal};
use super::security::RunAs;
use super::volumes::Mount;

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

/// Connects the configured driver.
pub(super) async fn connect(config: &RuntimeConfig) -> Result<Arc<dyn ContainerRuntime>, String> {
    Ok(match config {
        RuntimeConfig::Process => Arc::new(ProcessRuntime),
        RuntimeConfig::Docker { host } => Arc::new(DockerRuntime::connect(host.as_deref()).await?),
        RuntimeConfig::Native { library, config } => {
            let (library, config) = (library.clone(), config.clone());
            let loaded =
                tokio::task::spawn_blocking(move || NativeRuntime::load(&library, &config))
                    .await
                    .map_err(|join| join.to_string())?;
            let loaded = loaded.map_err(|error| error.to_string())?;
            Arc::new(NativeDriver::new(Arc::new(loaded)))
        }
    })
}

/// What runs the pods' containers. Every method that changes the machine
/// is called under the agent's gate (or, when async, once the gate was
/// found open), never by a stopped agent.
pub(super) trait ContainerRuntime: Send + Sync {
    /// The Node's `nodeInfo.containerRuntimeVersion` (`process://1.0`).
    fn version(&self) -> String;

    /// Whether an image gives a container its program. A runtime that
    /// pulls none needs `command` (or `args`) naming one on the node.
    fn pulls_images(&self) -> bool {
        false
    }

    /// Whether the pod's network namespace is the sandbox's own (docker's
    /// pause container): the pod then takes no warm network.
    fn sandbox_owns_network(&self) -> bool {
        false
    }

    /// Makes the pod's sandbox ready for the CNI plugins to wire the
    /// network namespace named `wharf_cni::netns_name(uid)`. `sandbox_id`
    /// is the record's (the worker saves it, whether or not this succeeds).
    /// The error is the containers' `ContainerCreating` message.
    fn prepare_sandbox<'a>(
        &'a self,
        _pod: PodRef<'a>,
        _sandbox_id: &'a mut Option<String>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    /// Creates a container, ready to start.
    fn create<'a>(
        &'a self,
        spec: ContainerSpec<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn Created>, CreateError>>;

    /// Takes on a container that a previous agent started (its record
    /// says it runs); `log` is its current log file.
    fn adopt(
        &self,
        pod: PodRef<'_>,
        container: &str,
        process: &RunningProcess,
        log: &Path,
    ) -> Adoption;

    /// Signals a running container (if it still is the recorded one).
    fn signal(&self, pod: PodRef<'_>, container: &str, process: &RunningProcess, signal: Signal);

    /// A container ended: removes it (its log is in the agent's files) and
    /// kills what it left behind. True if the runtime found it killed for
    /// running out of memory (beyond what its end said).
    fn remove_exited(&self, pod: PodRef<'_>, container: &str, process: &RunningProcess) -> bool;

    /// The pod is stopping and its containers are gone: kills whatever
    /// they left and frees what the runtime holds for them on the node
    /// (the process driver's cgroups), checking `gate` before each step.
    fn release_containers<'a>(
        &'a self,
        _pod_uid: &'a str,
        _containers: Vec<String>,
        _gate: &'a Gate,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// Removes the pod's sandbox and every container the runtime still
    /// has of it, whatever the records say.
    fn remove_pod_sandbox<'a>(&'a self, _pod_uid: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// Runs `command` inside the container (an exec probe): its exit code
    /// and output. `None`: the runtime has no exec of its own, and the
    /// probe runs the command on the node, in the pod's namespaces.
    fn exec(&self, _process: &RunningProcess, _command: &[String]) -> Option<ExecRun> {
        None
    }

    /// Starts a command inside the running container for a client's
    /// `kubectl exec`: its pipes or terminal, resize and exit.
    fn stream_exec(
        &self,
        _process: &RunningProcess,
        _request: &super::enter::ExecRequest<'_>,
    ) -> Result<crate::streaming::Session, String> {
        Err(format!(
            "exec is not supported by the {} runtime yet",
            self.version()
        ))
    }
}

/// A command running in a container: its exit code and output.
pub(super) type ExecRun = BoxFuture<'static, Result<(i32, Vec<u8>), String>>;

/// A created container, started under the agent's gate together with its
/// record.
pub(super) trait Created: Send {
    /// Starts it (a driver that created it running just hands it over).
    /// `mount_points`: the record's, to which the mount points made on the
    /// node for its volumes are added (even when the start fails).
    fn start(self: Box<Self>, mount_points: &mut Vec<PathBuf>) -> Result<Started, StartFailed>;

    /// The agent stopped before the start was recorded: undoes what the
    /// creation left.
    fn abandon(self: Box<Self>);
}

/// The pod a runtime call is about.
#[derive(Clone, Copy, Debug)]
pub(super) struct PodRef<'a> {
    pub uid: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

/// One container to create.
pub(super) struct ContainerSpec<'a> {
    pub pod: PodRef<'a>,
    pub container: &'a str,
    pub restart_count: u32,
    /// `image` and `imagePullPolicy` (`IfNotPresent` unless set).
    pub image: &'a str,
    pub image_pull_policy: &'a str,
    /// `command` and `args`, already expanded.
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The container sets `PATH` itself (else an image's stays).
    pub declares_path: bool,
    pub working_dir: Option<String>,
    pub limits: Limits,
    pub mounts: Vec<Mount>,
    pub run_as: RunAs,
    /// Where its output goes (this start's log file).
    pub log: PathBuf,
    /// The pod's network namespace (`ip netns` name), if it has its own.
    pub netns: Option<String>,
    /// The pod's sandbox container, if the runtime made one.
    pub sandbox_id: Option<&'a str>,
}

/// Why a container could not be created.
#[derive(Debug)]
pub(super) enum CreateError {
    /// Not yet (its image cannot be pulled, it needs what the node lacks):
    /// it waits with this reason and message and is tried again later.
    Blocked { reason: String, message: String },
    /// Its start failed: recorded as a start that failed (`StartError`).
    Failed(StartFailed),
}

/// A start that failed.
#[derive(Debug)]
pub(super) struct StartFailed {
    /// What was to start (the program, or the image), for the log.
    pub what: String,
    pub message: String,
}

/// A started container.
pub(super) struct Started {
    /// Its (main) process on the node.
    pub identity: Identity,
    /// `<runtime>://<id>`; none: `process://<pid>`.
    pub container_id: Option<String>,
    /// Ready when the container ends.
    pub exit: BoxFuture<'static, Ended>,
}

/// How a container ended, as its runtime tells it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Ended {
    /// `None`: unknown (an adopted process, or a container the runtime
    /// no longer knows).
    pub code: Option<i32>,
    /// The runtime says it was killed for running out of memory.
    pub oom_killed: bool,
}

/// What a recorded container turned out to be, on adoption.
pub(super) enum Adoption {
    /// It runs (or the runtime still knows how it ended): ready when it ends.
    Running(BoxFuture<'static, Ended>),
    /// It ended while no agent watched it; its exit code is unknown.
    Gone { oom_killed: bool },
}

#[cfg(test)]
pub(super) mod fake;
