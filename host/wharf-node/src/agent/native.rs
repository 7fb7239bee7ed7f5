//! The `native` runtime driver: a third party's shared library speaking
//! the runtime ABI, loaded by `wharf-native-runtime`. Its calls block, so
//! a start runs on the blocking pool; a container's end is seen by asking
//! its state.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use wharf_native_runtime::{
    ContainerState, Mount as NativeMount, NativeRuntime, Signal as NativeSignal, StartSpec,
};

use super::checkpoint::RunningProcess;
use super::process::{self, Identity, Signal};
use super::runtime::{
    Adoption, ContainerRuntime, ContainerSpec, CreateError, Created, Ended, PodRef, StartFailed,
    Started,
};

/// How often a native driver is asked whether a container still runs.
const NATIVE_POLL: Duration = Duration::from_millis(200);

/// A loaded native driver.
pub(super) struct NativeDriver {
    native: Arc<NativeRuntime>,
}

impl NativeDriver {
    pub(super) fn new(native: Arc<NativeRuntime>) -> Self {
        Self { native }
    }
}

impl ContainerRuntime for NativeDriver {
    fn version(&self) -> String {
        format!("{}://native", self.native.name())
    }

    /// The driver starts the container (its calls block: on the blocking
    /// pool), creating its log directory first.
    fn create<'a>(
        &'a self,
        spec: ContainerSpec<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn Created>, CreateError>> {
        Box::pin(async move {
            let mut argv = spec.command;
            argv.extend(spec.args);
            let log = spec.log;
            if let Some(dir) = log.parent()
                && let Err(error) = std::fs::create_dir_all(dir)
            {
                tracing::warn!(path = %dir.display(), %error, "cannot create a container's log directory");
            }
            let start = StartSpec {
                pod_uid: spec.pod.uid.to_string(),
                pod_namespace: spec.pod.namespace.to_string(),
                pod_name: spec.pod.name.to_string(),
                container: spec.container.to_string(),
                image: spec.image.to_string(),
                argv,
                env: spec.env,
                working_dir: spec.working_dir,
                log_path: log.to_string_lossy().into_owned(),
                netns: spec.netns,
                memory_limit_bytes: spec.limits.memory_bytes,
                cpu_limit_millis: spec.limits.cpu_millis,
                mounts: (spec.mounts.into_iter())
                    .map(|m| NativeMount {
                        host_path: m.host_path.to_string_lossy().into_owned(),
                        container_path: m.container_path,
                        read_only: m.read_only,
                    })
                    .collect(),
            };
            let program = start.argv.first().cloned().unwrap_or_default();
            let driver = self.native.clone();
            let started = tokio::task::spawn_blocking(move || {
                let id = driver.start(&start).map_err(|error| error.to_string())?;
                let pid = match driver.state(&id) {
                    Ok(ContainerState::Running { pid }) => pid.unwrap_or(0),
                    _ => 0,
                };
                Ok::<_, String>((id, pid))
            })
            .await
            .unwrap_or_else(|join| Err(format!("the driver's start panicked: {join}")));
            let (id, pid) = started.map_err(|message| {
                CreateError::Failed(StartFailed {
                    message: format!(
                        "the {} runtime cannot start {program:?}: {message}",
                        self.native.name()
                    ),
                    what: program.clone(),
                })
            })?;
            let identity = process::identity_of(pid).unwrap_or(Identity {
                pid,
                start_ticks: 0,
            });
            let started = Started {
                identity,
                container_id: Some(format!("{}://{id}", self.native.name())),
                exit: Box::pin(wait(self.native.clone(), spec.container.to_string(), id)),
            };
            Ok(Box::new(NativeCreated { started }) as Box<dyn Created>)
        })
    }

    fn adopt(
        &self,
        pod: PodRef<'_>,
        container: &str,
        process: &RunningProcess,
        _log: &Path,
    ) -> Adoption {
        match process.runtime_id() {
            Some(id) => Adoption::Running(Box::pin(wait(
                self.native.clone(),
                container.to_string(),
                id.to_string(),
            ))),
            None => process::adopt_process(pod, container, process),
        }
    }

    fn signal(&self, pod: PodRef<'_>, container: &str, process: &RunningProcess, signal: Signal) {
        let Some(id) = process.runtime_id() else {
            return process::signal_process(pod, container, process, signal);
        };
        let signal = match signal {
            Signal::Term => NativeSignal::Term,
            Signal::Kill => NativeSignal::Kill,
        };
        if let Err(error) = self.native.signal(id, signal) {
            tracing::warn!(id, %error, "the runtime driver cannot signal a container");
        }
    }

    fn remove_exited(&self, _pod: PodRef<'_>, _container: &str, process: &RunningProcess) -> bool {
        if let Some(id) = process.runtime_id()
            && let Err(error) = self.native.remove(id)
        {
            tracing::warn!(id, %error, "the runtime driver cannot remove a container");
        }
        false
    }
}

/// A container the driver runs already (it is started outside the gate).
struct NativeCreated {
    started: Started,
}

impl Created for NativeCreated {
    fn start(self: Box<Self>, _mount_points: &mut Vec<PathBuf>) -> Result<Started, StartFailed> {
        Ok(self.started)
    }

    /// Left to the driver, which a next agent does not know of it.
    fn abandon(self: Box<Self>) {}
}

/// Waits for a native driver's container to end, asking its state.
async fn wait(native: Arc<NativeRuntime>, container: String, id: String) -> Ended {
    loop {
        match native.state(&id) {
            Ok(ContainerState::Running { .. }) => tokio::time::sleep(NATIVE_POLL).await,
            Ok(ContainerState::Exited { code, oom_killed }) => {
                return Ended {
                    code: Some(code),
                    oom_killed,
                };
            }
            // The driver no longer knows it (it was reloaded): unknown.
            Ok(ContainerState::Unknown) => return Ended::default(),
            Err(error) => {
                tracing::warn!(container, id, %error, "the runtime driver cannot tell a container's state");
                return Ended::default();
            }
        }
    }
}
