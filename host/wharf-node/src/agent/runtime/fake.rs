//! A runtime that runs nothing: its containers run until the test ends
//! them ([`FakeRuntime::exit`]) or signals do, so that the pod worker's
//! state machine is tested without processes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::BoxFuture;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{
    Adoption, ContainerRuntime, ContainerSpec, CreateError, Created, Ended, PodRef, StartFailed,
    Started,
};
use crate::agent::checkpoint::RunningProcess;
use crate::agent::process::{Identity, Signal};

/// The fake containers' pids start here (no process of the machine is
/// ever signalled: the fake signals nothing).
const FIRST_PID: u32 = 4_000_000;

/// Every container it started and every signal it was sent, in order.
#[derive(Clone, Default)]
pub(in crate::agent) struct FakeRuntime {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    started: Vec<FakeContainer>,
    signals: Vec<(String, Signal, Instant)>,
    /// Containers that ignore SIGTERM.
    deaf: Vec<String>,
}

/// One start of a container.
struct FakeContainer {
    name: String,
    pid: u32,
    at: Instant,
    /// Ends it; none once it ended.
    end: Option<oneshot::Sender<Ended>>,
}

impl FakeRuntime {
    /// Makes the containers named `name` ignore SIGTERM (SIGKILL ends them).
    pub(in crate::agent) fn deaf(&self, name: &str) {
        self.lock().deaf.push(name.to_string());
    }

    /// Ends the running container `name` with `code`; false if none runs.
    pub(in crate::agent) fn exit(&self, name: &str, code: i32) -> bool {
        let mut state = self.lock();
        let latest = (state.started.iter().rev()).find(|c| c.name == name);
        match latest.map(|c| c.pid) {
            Some(pid) => state.end(pid, code),
            None => false,
        }
    }

    /// When each start of `name` happened, in order.
    pub(in crate::agent) fn starts(&self, name: &str) -> Vec<Instant> {
        (self.lock().started.iter())
            .filter(|c| c.name == name)
            .map(|c| c.at)
            .collect()
    }

    /// The names of the containers started, in order.
    pub(in crate::agent) fn start_order(&self) -> Vec<String> {
        self.lock().started.iter().map(|c| c.name.clone()).collect()
    }

    /// Whether a start of `name` runs now.
    pub(in crate::agent) fn running(&self, name: &str) -> bool {
        (self.lock().started.iter()).any(|c| c.name == name && c.end.is_some())
    }

    /// The signals `name` was sent, with when.
    pub(in crate::agent) fn signals(&self, name: &str) -> Vec<(Signal, Instant)> {
        (self.lock().signals.iter())
            .filter(|(to, _, _)| to == name)
            .map(|(_, signal, at)| (*signal, *at))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Ends the container started as `pid`, if it runs.
    fn end(&mut self, pid: u32, code: i32) -> bool {
        let running = (self.started.iter_mut())
            .find(|c| c.pid == pid)
            .and_then(|c| c.end.take());
        match running {
            Some(end) => {
                let _ = end.send(Ended {
                    code: Some(code),
                    oom_killed: false,
                });
                true
            }
            None => false,
        }
    }
}

impl ContainerRuntime for FakeRuntime {
    fn version(&self) -> String {
        "fake://1.0".into()
    }

    fn create<'a>(
        &'a self,
        spec: ContainerSpec<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn Created>, CreateError>> {
        let created = FakeCreated {
            runtime: self.clone(),
            name: spec.container.to_string(),
        };
        Box::pin(async move { Ok(Box::new(created) as Box<dyn Created>) })
    }

    fn adopt(&self, _: PodRef<'_>, _: &str, _: &RunningProcess, _: &Path) -> Adoption {
        Adoption::Gone { oom_killed: false }
    }

    fn signal(&self, _: PodRef<'_>, container: &str, process: &RunningProcess, signal: Signal) {
        let mut state = self.lock();
        state
            .signals
            .push((container.to_string(), signal, Instant::now()));
        let deaf = state.deaf.iter().any(|name| name == container);
        match signal {
            Signal::Term if !deaf => state.end(process.pid, 143),
            Signal::Term => false,
            Signal::Kill => state.end(process.pid, 137),
        };
    }

    fn remove_exited(&self, _: PodRef<'_>, _: &str, _: &RunningProcess) -> bool {
        false
    }
}

struct FakeCreated {
    runtime: FakeRuntime,
    name: String,
}

impl Created for FakeCreated {
    fn start(self: Box<Self>, _: &mut Vec<PathBuf>) -> Result<Started, StartFailed> {
        let mut state = self.runtime.lock();
        let pid = FIRST_PID + state.started.len() as u32;
        let (end, ended) = oneshot::channel();
        state.started.push(FakeContainer {
            name: self.name,
            pid,
            at: Instant::now(),
            end: Some(end),
        });
        Ok(Started {
            identity: Identity {
                pid,
                start_ticks: 0,
            },
            container_id: Some(format!("fake://{pid}")),
            // A dropped runtime ends nothing: the container runs on.
            exit: Box::pin(async move {
                match ended.await {
                    Ok(ended) => ended,
                    Err(_) => std::future::pending().await,
                }
            }),
        })
    }

    fn abandon(self: Box<Self>) {}
}
