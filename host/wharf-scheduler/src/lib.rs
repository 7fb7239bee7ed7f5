//! Wharf's scheduler: kube-scheduler's loop in the host, with every filter
//! and score a policy plugin (WIT world `scheduler`).
//!
//! - [`queue`]: pending pods by priority, backoff, unschedulable pods
//!   parked until the cluster changes.
//! - [`nodes`]: the node snapshot, updated incrementally from watches and
//!   assumptions; the changes policies have not seen yet.
//! - [`framework`]: the policy set in filter order and one scheduling cycle
//!   (chunks of candidates through the filters, weighted scores, the best
//!   node), and kube-scheduler's FitError message.
//! - [`policies`]: `Plugin` objects of type `scheduler` → loaded policies,
//!   hot: swapping, reordering or reweighting one is a `kubectl` edit.
//! - [`scheduler`]: the loop thread (its Scheduled / FailedScheduling
//!   events go through `wharf_client::events`).
//!
//! Invariants: the loop thread alone owns the queue, the snapshot and the
//! policy instances; nothing else blocks it (binds, events and status
//! writes run on the async runtime and report back as inputs).

pub mod framework;
pub mod nodes;
pub mod pod;
pub mod policies;
pub mod queue;
pub mod scheduler;

use std::sync::Arc;
use std::time::Instant;
use wharf_client::Client;

use wharf_apiserver::LocalClient;
use wharf_client::Selectors;
use wharf_client::watcher::{Seen, Watcher};
use wharf_client::{ApiError, ResourceDef};
use wharf_plugins::Runtime;

pub use framework::FitError;
pub use scheduler::Counters;

use scheduler::{Input, Loop};

/// A running scheduler; stops when dropped.
pub struct Scheduler {
    sender: std::sync::mpsc::Sender<Input>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    counters: Arc<Counters>,
}

/// Why the scheduler could not start.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("the API server does not serve {0}: {1}")]
    MissingKind(&'static str, ApiError),
    #[error("the scheduling thread could not start: {0}")]
    Thread(std::io::Error),
}

impl Scheduler {
    /// Starts the watches, the policy loader and the loop thread on the
    /// current tokio runtime.
    pub fn start(client: LocalClient, runtime: Arc<Runtime>) -> Result<Self, SchedulerError> {
        let pods = client
            .resource("", "v1", "Pod")
            .map_err(|e| SchedulerError::MissingKind("pods", e))?;
        let nodes = client
            .resource("", "v1", "Node")
            .map_err(|e| SchedulerError::MissingKind("nodes", e))?;
        let (sender, inputs) = std::sync::mpsc::channel();
        let counters = Arc::new(Counters::default());
        let tasks = vec![
            tokio::spawn(watch(
                client.clone(),
                pods.clone(),
                sender.clone(),
                Input::Pod,
                Input::PodsListed,
            )),
            tokio::spawn(watch(
                client.clone(),
                nodes,
                sender.clone(),
                Input::Node,
                Input::NodesListed,
            )),
            tokio::spawn(
                wharf_plugin_host::Supervisor::new(
                    Arc::new(policies::PolicyWorld {
                        runtime,
                        inputs: sender.clone(),
                    }),
                    client.clone(),
                )
                .run(std::future::pending()),
            ),
            tokio::spawn(tick(sender.clone())),
        ];
        let state = Loop {
            recorder: wharf_client::events::Recorder::start(
                client.clone(),
                wharf_client::events::Source {
                    component: scheduler::COMPONENT,
                    host: None,
                },
            ),
            handle: tokio::runtime::Handle::current(),
            pods,
            client,
            inputs,
            sender: sender.clone(),
            counters: counters.clone(),
            queue: queue::SchedulingQueue::default(),
            table: nodes::NodeTable::default(),
            profile: framework::Profile::default(),
            binds: Arc::new(tokio::sync::Semaphore::new(256)),
            policies_ready: false,
            pods_ready: false,
            nodes_ready: false,
            last_flush: Instant::now(),
        };
        let thread = std::thread::Builder::new()
            .name("wharf-scheduler".into())
            .spawn(move || state.run())
            .map_err(SchedulerError::Thread)?;
        Ok(Self {
            sender,
            tasks,
            thread: Some(thread),
            counters,
        })
    }

    /// What it has done so far.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Stops the loop and its tasks.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.sender.send(Input::Stop);
        for task in &self.tasks {
            task.abort();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Wakes the loop for its housekeeping every 500 ms, until it is gone.
async fn tick(inputs: std::sync::mpsc::Sender<Input>) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        ticker.tick().await;
        if inputs.send(Input::Tick).is_err() {
            return;
        }
    }
}

/// Lists and watches one kind into the loop, re-listing when the watch is lost.
async fn watch(
    client: LocalClient,
    resource: Arc<ResourceDef>,
    sender: std::sync::mpsc::Sender<Input>,
    event: fn(wharf_client::WatchType, Arc<serde_json::Value>) -> Input,
    listed: fn(Vec<serde_json::Value>) -> Input,
) {
    let mut watcher = Watcher::new(client, resource, Selectors::all());
    loop {
        let input = match watcher.next().await {
            Seen::Listed(items) => listed(items),
            Seen::Changed(kind, object) => event(kind, object),
        };
        if sender.send(input).is_err() {
            return;
        }
    }
}
