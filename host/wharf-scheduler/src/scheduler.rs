//! The scheduling loop: one thread that owns the queue, the node snapshot
//! and the policy instances. Watch events, policy changes and bind results
//! arrive as [`Input`]s; between them it schedules one pod at a time, as
//! kube-scheduler's `scheduleOne`: filter and score through the policies,
//! assume the pod on the chosen node, and bind asynchronously.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use wharf_apiserver::LocalClient;
use wharf_client::{ApiError, Client, Patch, ResourceDef, WatchType};

use wharf_client::events::{PodEvent, Recorder};

/// The scheduler's name: on its events, and in the `schedulerName` of the pods it takes.
pub const COMPONENT: &str = "default-scheduler";
use crate::framework::{ActivePolicy, Profile, ScheduleError};
use crate::nodes::{AssignedPod, NodeTable};
use crate::pod;
use crate::policies::PolicyEvent;
use crate::queue::{Popped, SchedulingQueue};

/// What the loop reacts to.
pub enum Input {
    Pod(WatchType, Arc<Value>),
    /// A fresh list of every pod (after a watch was lost, or at start).
    PodsListed(Vec<Value>),
    Node(WatchType, Arc<Value>),
    NodesListed(Vec<Value>),
    Policy(PolicyEvent),
    /// A bind failed: forget the assumption and retry (or drop) the pod.
    BindFailed {
        key: String,
        pod: Arc<Value>,
        error: ApiError,
    },
    /// Periodic housekeeping.
    Tick,
    Stop,
}

/// Counters the benchmark and logs read.
#[derive(Default)]
pub struct Counters {
    pub attempts: std::sync::atomic::AtomicU64,
    pub scheduled: std::sync::atomic::AtomicU64,
    pub unschedulable: std::sync::atomic::AtomicU64,
    pub errors: std::sync::atomic::AtomicU64,
}

pub(crate) struct Loop {
    pub client: LocalClient,
    pub handle: Handle,
    pub pods: Arc<ResourceDef>,
    pub inputs: Receiver<Input>,
    pub sender: Sender<Input>,
    pub recorder: Recorder,
    pub counters: Arc<Counters>,
    pub queue: SchedulingQueue,
    pub table: NodeTable,
    pub profile: Profile,
    pub binds: Arc<Semaphore>,
    /// Scheduling waits for the initial Plugins, pods and nodes.
    pub policies_ready: bool,
    pub pods_ready: bool,
    pub nodes_ready: bool,
    pub last_flush: Instant,
}

impl Loop {
    pub(crate) fn run(mut self) {
        loop {
            // Everything that arrived first: the snapshot is current when a
            // pod is scheduled.
            loop {
                match self.inputs.try_recv() {
                    Ok(Input::Stop) | Err(TryRecvError::Disconnected) => return,
                    Ok(input) => self.handle(input),
                    Err(TryRecvError::Empty) => break,
                }
            }
            if self.last_flush.elapsed() > Duration::from_secs(30) {
                self.queue.flush_stale_unschedulable();
                self.last_flush = Instant::now();
            }
            let ready = self.policies_ready && self.pods_ready && self.nodes_ready;
            if ready && let Some(popped) = self.queue.pop() {
                self.schedule_one(popped);
                continue;
            }
            let wait = self.queue.next_backoff_end().filter(|_| ready).map_or(
                Duration::from_secs(1),
                |end| {
                    end.saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(1))
                },
            );
            match self.inputs.recv_timeout(wait) {
                Ok(Input::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(input) => self.handle(input),
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Pod(kind, object) => self.on_pod(kind, object),
            Input::PodsListed(items) => {
                let listed: std::collections::HashSet<String> =
                    items.iter().map(pod::key_of).collect();
                for key in self.table.pod_keys() {
                    if !listed.contains(&key) {
                        self.table.remove_pod(&key);
                    }
                }
                for object in items {
                    self.on_pod(WatchType::Added, Arc::new(object));
                }
                self.pods_ready = true;
            }
            Input::Node(kind, object) => self.on_node(kind, &object),
            Input::NodesListed(items) => {
                let listed: std::collections::HashSet<&str> = items
                    .iter()
                    .map(|n| pod::text(n, "/metadata/name"))
                    .collect();
                for name in self.table.node_names() {
                    if !listed.contains(name.as_str()) {
                        self.table.remove_node(&name);
                    }
                }
                for object in &items {
                    self.on_node(WatchType::Added, object);
                }
                self.nodes_ready = true;
            }
            Input::Policy(PolicyEvent::Install(spec)) => {
                let name = spec.name.clone();
                let stats = spec.stats.clone();
                self.profile.push_changes(&mut self.table);
                match ActivePolicy::start(spec, &self.table) {
                    Ok(policy) => {
                        tracing::info!(plugin = %name, policy = %policy.registration.name, "scheduler policy loaded");
                        self.profile.install(policy);
                        *stats.start_failure.lock().expect("stats") = None;
                        // A new policy set may fit pods the old one did not.
                        self.queue.move_all_unschedulable();
                    }
                    Err(error) => {
                        tracing::warn!(plugin = %name, %error, "scheduler policy failed to start");
                        *stats.start_failure.lock().expect("stats") = Some(error.to_string());
                    }
                }
            }
            Input::Policy(PolicyEvent::Remove(name)) => {
                if self.profile.remove(&name) {
                    tracing::info!(plugin = %name, "scheduler policy removed");
                    self.queue.move_all_unschedulable();
                }
            }
            Input::Policy(PolicyEvent::InitialSetLoaded) => self.policies_ready = true,
            Input::BindFailed { key, pod, error } => {
                self.table.remove_pod(&key);
                self.counters
                    .errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match error {
                    ApiError::NotFound { .. } | ApiError::Conflict { .. } => {
                        // Gone, or assigned by someone else: the watch tells the rest.
                        tracing::debug!(%key, %error, "bind refused");
                    }
                    error => {
                        tracing::warn!(%key, %error, "bind failed; retrying");
                        self.queue.add_or_update(&key, pod);
                    }
                }
            }
            Input::Tick | Input::Stop => {}
        }
    }

    fn on_pod(&mut self, kind: WatchType, object: Arc<Value>) {
        let key = pod::key_of(&object);
        if kind == WatchType::Deleted {
            self.queue.delete(&key);
            if self.table.remove_pod(&key) {
                self.queue.move_all_unschedulable();
            }
            return;
        }
        match pod::node_name(&object) {
            Some(node) => {
                self.queue.delete(&key);
                if pod::is_terminal(&object) {
                    if self.table.remove_pod(&key) {
                        self.queue.move_all_unschedulable();
                    }
                } else if self.table.assigned_node(&key) != Some(node) {
                    self.table
                        .add_pod(&key, AssignedPod::from_object(&object, node));
                }
            }
            None => {
                if self.table.assigned_node(&key).is_some() {
                    // Assumed by us, the binding is on its way.
                    return;
                }
                if pod::scheduler_name(&object) != COMPONENT
                    || pod::is_deleting(&object)
                    || pod::is_terminal(&object)
                {
                    self.queue.delete(&key);
                    return;
                }
                self.queue.add_or_update(&key, object);
            }
        }
    }

    fn on_node(&mut self, kind: WatchType, object: &Value) {
        if kind == WatchType::Deleted {
            self.table.remove_node(pod::text(object, "/metadata/name"));
            return;
        }
        if self.table.upsert_node(object) {
            self.queue.move_all_unschedulable();
        }
    }

    fn schedule_one(&mut self, popped: Popped) {
        use std::sync::atomic::Ordering::Relaxed;
        let Popped {
            key, pod: object, ..
        } = popped;
        self.counters.attempts.fetch_add(1, Relaxed);
        let policy_pod = pod::policy_pod(&object);
        self.profile.push_changes(&mut self.table);
        match self.profile.schedule(&policy_pod, &object, &self.table) {
            Ok(index) => {
                let node = self
                    .table
                    .node(index)
                    .map(|n| n.name.clone())
                    .unwrap_or_default();
                self.queue.done(&key);
                // Assume: the next pods see this one's usage at once.
                self.table
                    .add_pod(&key, AssignedPod::from_object(&object, &node));
                self.counters.scheduled.fetch_add(1, Relaxed);
                self.bind(key, object, node);
            }
            Err(ScheduleError::Unschedulable(fit)) => {
                self.counters.unschedulable.fetch_add(1, Relaxed);
                self.queue.failed(&key, true);
                self.report_failure(&object, fit.to_string(), "Unschedulable");
            }
            Err(ScheduleError::Policy { policy, error }) => {
                self.counters.errors.fetch_add(1, Relaxed);
                tracing::warn!(%key, %policy, %error, "scheduling policy failed");
                self.queue.failed(&key, false);
                self.report_failure(
                    &object,
                    format!("running policy {policy:?}: {error}"),
                    "SchedulerError",
                );
            }
        }
    }

    /// Binds in the background; a failure comes back as an [`Input`].
    fn bind(&self, key: String, object: Arc<Value>, node: String) {
        let (client, pods, sender, recorder, binds) = (
            self.client.clone(),
            self.pods.clone(),
            self.sender.clone(),
            self.recorder.clone(),
            self.binds.clone(),
        );
        self.handle.spawn(async move {
            let Ok(_permit) = binds.acquire_owned().await else {
                return;
            };
            let namespace = pod::text(&object, "/metadata/namespace");
            let name = pod::text(&object, "/metadata/name");
            match client.bind(&pods, namespace, name, &node).await {
                Ok(_) => recorder.record(PodEvent {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                    uid: pod::text(&object, "/metadata/uid").to_string(),
                    warning: false,
                    reason: "Scheduled",
                    action: "Binding",
                    message: format!("Successfully assigned {namespace}/{name} to {node}"),
                }),
                Err(error) => {
                    let _ = sender.send(Input::BindFailed {
                        key,
                        pod: object.clone(),
                        error,
                    });
                }
            }
        });
    }

    /// A FailedScheduling event, and the PodScheduled=False condition (only
    /// when it changes, so the status write does not retry the pod).
    fn report_failure(&self, object: &Arc<Value>, message: String, reason: &'static str) {
        let namespace = pod::text(object, "/metadata/namespace").to_string();
        let name = pod::text(object, "/metadata/name").to_string();
        self.recorder.record(PodEvent {
            namespace: namespace.clone(),
            name: name.clone(),
            uid: pod::text(object, "/metadata/uid").to_string(),
            warning: true,
            reason: "FailedScheduling",
            action: "Scheduling",
            message: message.clone(),
        });
        let current = object
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["type"] == "PodScheduled"));
        if current.is_some_and(|c| c["status"] == "False" && c["message"] == message.as_str()) {
            return;
        }
        let patch = Patch::Strategic(json!({"status": {"conditions": [{
            "type": "PodScheduled",
            "status": "False",
            "reason": reason,
            "message": message,
            "lastProbeTime": null,
            "lastTransitionTime": wharf_client::now_rfc3339(),
        }]}}));
        let (client, pods) = (self.client.clone(), self.pods.clone());
        self.handle.spawn(async move {
            if let Err(error) = client
                .patch(&pods, Some(&namespace), &name, &patch, true)
                .await
            {
                tracing::debug!(%error, "PodScheduled condition not written");
            }
        });
    }
}
