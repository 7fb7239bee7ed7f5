//! Pods: the watch of the pods bound to this node, and one worker task per
//! pod (by UID) that runs it through the process driver.
//!
//! The dispatcher only routes: each pod's latest object goes to its worker
//! through a `watch` channel (a worker that falls behind sees the newest
//! object, never a queue of stale ones); a deleted pod's worker is told so.
//!
//! A worker is level-triggered: on every change (a new pod object, a
//! process that exits, a back-off that expires) it syncs — starts what
//! should run, writes the status if it changed — then waits again.
//!
//! A pod's life, as the kubelet leads it:
//!
//! 1. Init containers, in order, each to completion (exit 0) before the
//!    next. A failing one is restarted with back-off, unless the pod's
//!    `restartPolicy` is `Never`: then the pod has failed. An init container
//!    with `restartPolicy: Always` is a sidecar: once it runs, the next one
//!    starts, and it keeps running (restarted whenever it exits).
//! 2. App containers, all at once. One that exits is restarted per the
//!    pod's `restartPolicy` (`Always`; `OnFailure`: on a non-zero exit;
//!    `Never`), with CrashLoopBackOff: the first restart is immediate, then
//!    the delay starts at `initial` and doubles to `max`; a process that ran
//!    `reset_after` starts the back-off over. Each start is a new log file.
//! 3. When no app container will run again (`Never`/`OnFailure`), the
//!    sidecars are stopped and the pod has Succeeded or Failed.
//! 4. Deletion (the object is gone, or has a `deletionTimestamp`): SIGTERM
//!    to every container's process group, SIGKILL after the grace period
//!    (`deletionGracePeriodSeconds` if above zero, else the spec's
//!    `terminationGracePeriodSeconds`, 30 by default; at least 2 s, as the
//!    kubelet's minimum). A pod the API server still holds gets its final
//!    status and is then deleted for good.
//!
//! Probes (`probes.rs`) run in a task per container process and report
//! their findings back to the worker, which alone acts on them: a started
//! or ready container is reported so; a container whose liveness or
//! startup probe failed is killed as a deleted pod's are (SIGTERM, SIGKILL
//! after the grace period, without holding up the worker) and then
//! restarted per the restart policy, as any container that ended. A
//! sidecar with a startup probe holds the next init container until it
//! has started.
//!
//! After an agent restart a worker reads the pod's checkpoint: a process
//! whose pid and start time match is adopted (watched through `/proc`, its
//! exit code unknown), one that is gone has ended. Checkpoints of pods that
//! are no longer bound here have their processes stopped and are removed.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;
use wharf_client::{ApiError, DeleteParams, WatchType, now_rfc3339};

use super::Shared;
use super::cgroups::{self, Limits};
use super::checkpoint::{self, ContainerRecord, PodRecord, RunningProcess};
use super::docker::{DockerRuntime, DockerStart};
use super::env::str_at;
use super::env::{self, EnvError, PodAddresses};
use super::logs::{self, container_log_path};
use super::probes::{self, ContainerProbes, Finding, Known, ProbeKind, Report, Target};
use super::process::{self, DEFAULT_PATH, Identity, Launch, Signal};
use super::security;
use super::status::{self, ContainerView, PodView, State, Termination};
use super::volumes::{self, VolumeError};
use wharf_client::Selectors;
use wharf_client::watcher::{Seen, Watcher};
use wharf_native_runtime::{
    ContainerState, Mount as NativeMount, NativeRuntime, Signal as NativeSignal, StartSpec,
};

/// How often an adopted process (not the agent's child) is looked for.
const ADOPTED_POLL: Duration = Duration::from_millis(250);
/// The kubelet's shortest grace period for stopping a container.
const MIN_GRACE_SECONDS: u64 = 2;
/// The kubelet's default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE_SECONDS: u64 = 30;
/// How long SIGKILLed processes may take to be seen gone.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// When a failed status write is tried again.
const STATUS_RETRY: Duration = Duration::from_secs(1);

/// What a worker is told about its pod.
#[derive(Clone)]
enum PodEvent {
    Present(Arc<Value>),
    Deleted,
}

/// Watches the pods bound to this node and gives each its worker.
pub(super) async fn run(shared: Arc<Shared>) {
    let selector = format!("spec.nodeName={}", shared.config.node_name);
    let mut watcher = Watcher::new(
        shared.client.clone(),
        shared.resources.pods.clone(),
        Selectors::fields(selector),
    );
    let mut dispatcher = Dispatcher {
        shared,
        workers: HashMap::new(),
        tasks: JoinSet::new(),
        task_uids: HashMap::new(),
        done: HashSet::new(),
    };
    loop {
        tokio::select! {
            seen = watcher.next() => dispatcher.saw(seen),
            Some(finished) = dispatcher.tasks.join_next_with_id() => dispatcher.finished(finished),
        }
    }
}

struct Dispatcher {
    shared: Arc<Shared>,
    /// By pod UID.
    workers: HashMap<String, watch::Sender<PodEvent>>,
    /// Dropped with the dispatcher, which aborts every worker.
    tasks: JoinSet<bool>,
    task_uids: HashMap<tokio::task::Id, String>,
    /// Pods whose worker finished while the object stays (being deleted):
    /// not taken on again.
    done: HashSet<String>,
}

impl Dispatcher {
    fn saw(&mut self, seen: Seen) {
        let node = self.shared.config.node_name.as_str();
        match seen {
            Seen::Listed(pods) => {
                let listed: HashSet<String> = (pods.iter())
                    .filter(|pod| str_at(pod, "/spec/nodeName") == Some(node))
                    .filter_map(|pod| Some(str_at(pod, "/metadata/uid")?.to_string()))
                    .collect();
                for (uid, worker) in &self.workers {
                    if !listed.contains(uid) {
                        worker.send_replace(PodEvent::Deleted);
                    }
                }
                self.done.retain(|uid| listed.contains(uid));
                for pod in pods {
                    self.route(Arc::new(pod));
                }
                // Records of pods no longer here: stop what they started.
                for uid in checkpoint::recorded_uids(&self.shared.config.data_dir) {
                    if !listed.contains(&uid) && !self.workers.contains_key(&uid) {
                        self.spawn(uid, PodEvent::Deleted);
                    }
                }
            }
            Seen::Changed(WatchType::Deleted, pod) => {
                let Some(uid) = str_at(&pod, "/metadata/uid") else {
                    return;
                };
                self.done.remove(uid);
                if let Some(worker) = self.workers.get(uid) {
                    worker.send_replace(PodEvent::Deleted);
                }
            }
            Seen::Changed(_, pod) => self.route(pod),
        }
    }

    /// Sends a pod to its worker, starting one if it has none.
    fn route(&mut self, pod: Arc<Value>) {
        if str_at(&pod, "/spec/nodeName") != Some(self.shared.config.node_name.as_str()) {
            return;
        }
        let (Some(uid), Some(namespace), Some(name)) = (
            str_at(&pod, "/metadata/uid"),
            str_at(&pod, "/metadata/namespace"),
            str_at(&pod, "/metadata/name"),
        ) else {
            tracing::warn!("ignoring a pod without uid, namespace or name");
            return;
        };
        if ![uid, namespace, name]
            .iter()
            .all(|part| checkpoint::safe_name(part))
        {
            tracing::warn!(
                namespace,
                pod = name,
                uid,
                "ignoring a pod whose names are not Kubernetes names"
            );
            return;
        }
        if self.done.contains(uid) {
            return;
        }
        match self.workers.get(uid) {
            Some(worker) => {
                worker.send_replace(PodEvent::Present(pod));
            }
            None => {
                let uid = uid.to_string();
                self.spawn(uid, PodEvent::Present(pod));
            }
        }
    }

    fn spawn(&mut self, uid: String, first: PodEvent) {
        let (sender, updates) = watch::channel(first);
        let worker = Worker::new(self.shared.clone(), uid.clone(), updates);
        let task = self.tasks.spawn(worker.run());
        self.task_uids.insert(task.id(), uid.clone());
        self.workers.insert(uid, sender);
    }

    fn finished(&mut self, finished: Result<(tokio::task::Id, bool), tokio::task::JoinError>) {
        let (id, gone) = match finished {
            Ok((id, gone)) => (id, gone),
            Err(error) => {
                if error.is_panic() {
                    tracing::error!(%error, "a pod worker panicked; the pod is taken on again at its next change");
                }
                (error.id(), true)
            }
        };
        if let Some(uid) = self.task_uids.remove(&id) {
            self.workers.remove(&uid);
            if !gone {
                self.done.insert(uid);
            }
        }
    }
}

/// How a container's process ended, as its waiter saw it.
struct Exit {
    container: String,
    pid: u32,
    /// `None`: unknown (an adopted process, not the agent's child).
    code: Option<i32>,
    /// The runtime says it was killed for running out of memory.
    oom_killed: bool,
    at: SystemTime,
}

/// Where a container is in its life, for the sync's decisions.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    NotStarted,
    Running,
    Exited(i32),
}

/// What the probes found of a container's current process.
struct Probed {
    pid: u32,
    /// The startup probe succeeded (or there is none).
    started: bool,
    /// The readiness probe's verdict.
    ready: bool,
    /// The task probing it.
    task: AbortHandle,
    health: Health,
}

/// Whether a probed process is being killed for failing a probe.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Health {
    /// Probed; nothing is wrong.
    Probing,
    /// Its liveness or startup probe failed: SIGTERM sent, SIGKILL due at
    /// this instant.
    Stopping(Instant),
    /// SIGKILL sent; its end is awaited.
    Killed,
}

/// One pod's worker.
struct Worker {
    shared: Arc<Shared>,
    uid: String,
    updates: watch::Receiver<PodEvent>,
    /// The newest object (none before the first, or for a record whose pod
    /// is gone).
    pod: Option<Arc<Value>>,
    record: PodRecord,
    /// One waiter per running process.
    processes: JoinSet<Exit>,
    /// Containers that cannot be created: waiting reason and message.
    blocked: HashMap<String, (String, String)>,
    /// The back-offs reported (container, end of the process waited on).
    backed_off: HashSet<(String, u64)>,
    /// A status write failed: sync again soon.
    status_pending: bool,
    /// By container name.
    probed: HashMap<String, Probed>,
    /// The probe tasks (aborted with the worker) and what they find.
    probe_tasks: JoinSet<()>,
    probe_reports: mpsc::UnboundedReceiver<Report>,
    probe_sender: mpsc::UnboundedSender<Report>,
    /// When the pod's projected tokens need refreshing.
    volumes_refresh: Option<Instant>,
}

impl Worker {
    fn new(shared: Arc<Shared>, uid: String, updates: watch::Receiver<PodEvent>) -> Self {
        let record = checkpoint::load(&shared.config.data_dir, &uid).unwrap_or_else(|| {
            let pod = match &*updates.borrow() {
                PodEvent::Present(pod) => Some(pod.clone()),
                PodEvent::Deleted => None,
            };
            let text = |pointer| {
                pod.as_deref()
                    .and_then(|p| str_at(p, pointer))
                    .unwrap_or_default()
                    .to_string()
            };
            PodRecord {
                uid: uid.clone(),
                namespace: text("/metadata/namespace"),
                name: text("/metadata/name"),
                grace_period_seconds: DEFAULT_GRACE_SECONDS as i64,
                ..PodRecord::default()
            }
        });
        let (probe_sender, probe_reports) = mpsc::unbounded_channel();
        Self {
            shared,
            uid,
            updates,
            pod: None,
            record,
            processes: JoinSet::new(),
            blocked: HashMap::new(),
            backed_off: HashSet::new(),
            status_pending: false,
            probed: HashMap::new(),
            probe_tasks: JoinSet::new(),
            probe_reports,
            probe_sender,
            volumes_refresh: None,
        }
    }

    /// Runs the pod until it is deleted (true) or no longer runs here while
    /// its object stays (false).
    async fn run(mut self) -> bool {
        self.adopt();
        loop {
            let event = self.updates.borrow_and_update().clone();
            let pod = match event {
                PodEvent::Deleted => {
                    self.stop_pod(None).await;
                    return true;
                }
                PodEvent::Present(pod) => pod,
            };
            if pod
                .pointer("/metadata/deletionTimestamp")
                .is_some_and(|t| !t.is_null())
            {
                self.stop_pod(Some(pod)).await;
                return false;
            }
            self.pod = Some(pod);
            let wake = self.sync().await;
            let far = after(Duration::from_secs(24 * 3600));
            tokio::select! {
                changed = self.updates.changed() => {
                    if changed.is_err() {
                        // The dispatcher is gone: the agent is stopping.
                        return false;
                    }
                }
                Some(Ok(exit)) = self.processes.join_next() => self.record_exit(exit),
                Some(report) = self.probe_reports.recv() => self.probed(report),
                _ = tokio::time::sleep_until(wake.unwrap_or(far)) => {}
            }
        }
    }

    /// Takes on the processes of the record: watches those that still run,
    /// records the others as ended.
    fn adopt(&mut self) {
        let mut changed = false;
        let now = SystemTime::now();
        for (name, container) in &mut self.record.containers {
            let Some(process) = container.running.clone() else {
                continue;
            };
            if let (Some(native), Some(id)) = (self.shared.driver.native(), process.runtime_id()) {
                self.processes.spawn(native_waiter(
                    native.clone(),
                    name.clone(),
                    process.pid,
                    id.to_string(),
                ));
                continue;
            }
            if let (Some(docker), Some(id)) = (self.shared.driver.docker(), process.docker_id()) {
                // The engine knows how it ends, even if it already has.
                tracing::info!(
                    namespace = self.record.namespace,
                    pod = self.record.name,
                    container = name,
                    id,
                    "adopting a container"
                );
                let log = container_log_path(
                    &self.shared.config.data_dir,
                    &self.record.namespace,
                    &self.record.name,
                    &self.uid,
                    name,
                    container.restart_count,
                );
                let since = std::fs::metadata(&log)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(0, |d| i32::try_from(d.as_secs()).unwrap_or(0));
                self.processes.spawn(docker_waiter(
                    docker.clone(),
                    name.clone(),
                    process.pid,
                    id.to_string(),
                    log,
                    since,
                ));
                continue;
            }
            if process::is_running(process.identity()) {
                tracing::info!(
                    namespace = self.record.namespace,
                    pod = self.record.name,
                    container = name,
                    pid = process.pid,
                    "adopting a running process"
                );
                self.processes
                    .spawn(watch_adopted(name.clone(), process.identity()));
            } else {
                let oom_killed = cgroups::oom_killed(&self.uid, name);
                end(
                    container,
                    None,
                    oom_killed,
                    now,
                    &self.shared.config.crash_loop_back_off,
                );
                changed = true;
            }
        }
        if changed {
            self.save();
        }
    }

    /// Starts what should run, stops what should not, writes the status.
    /// Returns when to sync again if nothing happens before.
    async fn sync(&mut self) -> Option<Instant> {
        let pod = self.pod.clone()?;
        self.record.grace_period_seconds = spec_grace_seconds(&pod) as i64;
        if self.record.start_time.is_none() {
            let start_time =
                str_at(&pod, "/status/startTime").map_or_else(now_rfc3339, str::to_string);
            self.record.start_time = Some(start_time);
            self.save();
        }
        let mut wake = None;
        let api_terminal = matches!(str_at(&pod, "/status/phase"), Some("Succeeded" | "Failed"));
        if api_terminal && !self.record.finished {
            // Finished by someone else (or before a restart): nothing runs.
            self.finish().await;
        }
        if !self.record.finished {
            self.refresh_volumes(&pod).await;
            wake = self.start_containers(&pod).await;
            if self.completed(&pod) {
                self.finish().await;
                wake = None;
            } else {
                self.ensure_probes(&pod).await;
                wake = earliest(wake, self.escalate_kills());
            }
        }
        self.write_status(false).await;
        if self.status_pending {
            wake = earliest(wake, Some(after(STATUS_RETRY)));
        }
        if !self.record.finished {
            wake = earliest(wake, self.volumes_refresh);
        }
        wake
    }

    /// Rewrites the pod's volumes once its tokens are due (a failure is
    /// retried in a minute; the old token stays until it expires).
    async fn refresh_volumes(&mut self, pod: &Value) {
        if self.volumes_refresh.is_none_or(|at| Instant::now() < at) {
            return;
        }
        match volumes::prepare(&self.shared, pod, &self.uid).await {
            Ok(prepared) => self.volumes_refresh = prepared.refresh_at,
            Err(VolumeError(message)) => {
                tracing::warn!(pod = self.record.name, %message, "refreshing the pod's volumes failed");
                self.volumes_refresh = Some(after(Duration::from_secs(60)));
            }
        }
    }

    /// Init containers in order, then sidecars and app containers.
    async fn start_containers(&mut self, pod: &Value) -> Option<Instant> {
        if let Err(retry) = self.ensure_network(pod).await {
            return Some(retry);
        }
        let policy = restart_policy(pod);
        let mut wake = None;
        if !self.record.initialized {
            let mut initialized = true;
            for container in containers(pod, "initContainers") {
                let name = name_of(container);
                let sidecar = is_sidecar(container);
                match self.phase(name) {
                    Phase::Exited(0) if !sidecar => continue,
                    Phase::Exited(_) if !sidecar && policy == "Never" => {
                        initialized = false;
                        break;
                    }
                    _ => {}
                }
                wake = earliest(wake, self.ensure_running(pod, container).await);
                if sidecar && self.phase(name) == Phase::Running && self.started(container) {
                    continue;
                }
                initialized = false;
                break;
            }
            if initialized {
                self.record.initialized = true;
                self.save();
            }
        }
        if !self.record.initialized {
            return wake;
        }
        for container in containers(pod, "initContainers").filter(|c| is_sidecar(c)) {
            wake = earliest(wake, self.ensure_running(pod, container).await);
        }
        for container in containers(pod, "containers") {
            let restart = match (self.phase(name_of(container)), policy) {
                (Phase::Exited(_), "Always") => true,
                (Phase::Exited(code), "OnFailure") => code != 0,
                (Phase::Exited(_), _) => false,
                _ => true,
            };
            if restart {
                wake = earliest(wake, self.ensure_running(pod, container).await);
            }
        }
        wake
    }

    /// True when nothing will run again: a failed init container under
    /// `Never`, or every app container ended for good.
    fn completed(&self, pod: &Value) -> bool {
        let policy = restart_policy(pod);
        if policy == "Always" {
            return false;
        }
        let init_failed = containers(pod, "initContainers")
            .filter(|c| !is_sidecar(c))
            .any(|c| matches!(self.phase(name_of(c)), Phase::Exited(code) if code != 0));
        if init_failed && policy == "Never" {
            return true;
        }
        self.record.initialized
            && containers(pod, "containers").all(|c| match self.phase(name_of(c)) {
                Phase::Exited(code) => policy == "Never" || code == 0,
                _ => false,
            })
    }

    /// Starts a container that is not running, now or when its back-off
    /// ends (returned).
    async fn ensure_running(&mut self, pod: &Value, container: &Value) -> Option<Instant> {
        let record = self.record.containers.get(name_of(container));
        match record {
            Some(record) if record.running.is_some() => None,
            Some(record) if record.terminated.is_some() => {
                let due = (record.finished_ms).saturating_add(record.back_off_ms.unwrap_or(0));
                let now = millis(SystemTime::now());
                if now >= due {
                    self.start(pod, container).await
                } else {
                    // As the kubelet: once per wait, repeats counted.
                    let (name, ended) = (name_of(container).to_string(), record.finished_ms);
                    if self.backed_off.insert((name.clone(), ended)) {
                        self.event(
                            true,
                            "BackOff",
                            format!(
                                "Back-off restarting failed container {name} in pod {}_{}({})",
                                self.record.name, self.record.namespace, self.uid
                            ),
                        );
                    }
                    Some(after(Duration::from_millis(due - now)))
                }
            }
            _ => self.start(pod, container).await,
        }
    }

    /// Starts one container. Returns when to try again if it cannot be
    /// created.
    async fn start(&mut self, pod: &Value, container: &Value) -> Option<Instant> {
        let name = name_of(container).to_string();
        let retry = Some(after(self.shared.config.crash_loop_back_off.initial));
        if !checkpoint::safe_name(&name) {
            self.block(
                &name,
                "CreateContainerError",
                "the container name is not a Kubernetes name",
            );
            return retry;
        }
        let strings = |field: &str| -> Vec<String> {
            (container
                .get(field)
                .and_then(Value::as_array)
                .into_iter()
                .flatten())
            .map(|item| item.as_str().unwrap_or_default().to_string())
            .collect()
        };
        let (command, args) = (strings("command"), strings("args"));
        let docker = self.shared.driver.docker().cloned();
        let argv_empty = command
            .first()
            .or(args.first())
            .is_none_or(String::is_empty);
        if docker.is_none() && argv_empty {
            self.block(
                &name,
                "CreateContainerError",
                "no command specified: the process runtime pulls no image, so the container needs `command` (or `args`) naming a program on the node",
            );
            return retry;
        }
        let run_as = match security::run_as(pod, container) {
            Ok(run_as) => run_as,
            Err(message) => {
                let message = format!(
                    "{message} (pod: \"{}_{}({})\", container: {name})",
                    self.record.name, self.record.namespace, self.uid
                );
                self.block(&name, "CreateContainerConfigError", &message);
                return retry;
            }
        };
        let pod_ip = self
            .record
            .pod_ip
            .clone()
            .unwrap_or_else(|| self.shared.config.node_ip.clone());
        let addresses = PodAddresses {
            pod_ip: &pod_ip,
            host_ip: &self.shared.config.node_ip,
        };
        let mut env = match env::container_env(&self.shared, pod, container, &addresses).await {
            Ok(env) => env,
            Err(EnvError(message)) => {
                self.block(&name, "CreateContainerConfigError", &message);
                return retry;
            }
        };
        let defined: HashMap<&str, &str> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let expand = |list: &[String]| -> Vec<String> {
            (list.iter())
                .map(|arg| env::expand(arg, |name| defined.get(name).copied()))
                .collect()
        };
        let (command, args) = (expand(&command), expand(&args));
        let working_dir = str_at(container, "/workingDir").map(str::to_string);
        let limits = Limits::of(container);
        let mounts = match volumes::prepare(&self.shared, pod, &self.uid).await {
            Ok(prepared) => {
                self.volumes_refresh = prepared.refresh_at;
                volumes::mounts(container, &prepared.paths)
            }
            Err(error) => Err(error),
        };
        let mounts = match mounts {
            Ok(mounts) => mounts,
            Err(VolumeError(message)) => {
                if self.blocked.get(&name).is_none_or(|(_, m)| *m != message) {
                    self.event(true, "FailedMount", message.clone());
                }
                self.block(&name, "ContainerCreating", &message);
                return retry;
            }
        };
        if self.shared.driver.is_process() && !mounts.is_empty() && !super::running_as_root() {
            self.block(
                &name,
                "CreateContainerError",
                "volumes need root: the process runtime bind-mounts them in a private mount namespace",
            );
            return retry;
        }
        if let Some(native) = self.shared.driver.native().cloned() {
            self.blocked.remove(&name);
            let mut argv = command;
            argv.extend(args);
            let image = str_at(container, "/image").unwrap_or_default().to_string();
            let launch = NativeLaunch {
                argv,
                env,
                working_dir,
                limits,
                image,
                mounts,
            };
            self.launch_native(native, &name, launch).await;
            return None;
        }
        let Some(docker) = docker else {
            self.blocked.remove(&name);
            let mut argv = command;
            argv.extend(args);
            let gate = self.shared.gate.clone();
            let run_as = run_as.setpriv_args();
            gate.run(|| {
                self.launch(
                    &name,
                    ProcessSpec {
                        argv: &argv,
                        env: &env,
                        working_dir: working_dir.as_deref(),
                        limits,
                        mounts: &mounts,
                        run_as: &run_as,
                    },
                )
            });
            return None;
        };
        // The image's PATH, unless the container sets one.
        if !env::declares(container, "PATH") {
            env.retain(|(key, _)| key != "PATH");
        }
        let image = str_at(container, "/image").unwrap_or_default();
        let policy = str_at(container, "/imagePullPolicy").unwrap_or("IfNotPresent");
        if let Err((reason, message)) = docker.ensure_image(image, policy).await {
            self.block(&name, &reason, &message);
            return retry;
        }
        self.blocked.remove(&name);
        let restart_count = self.next_restart_count(&name);
        let network_mode = match &self.record.sandbox_id {
            Some(sandbox) => format!("container:{sandbox}"),
            None => "host".into(),
        };
        let started = docker
            .start(DockerStart {
                uid: &self.uid,
                namespace: &self.record.namespace,
                pod: &self.record.name,
                container: &name,
                restart_count,
                image,
                command,
                args,
                env: &env,
                working_dir: working_dir.as_deref(),
                network_mode,
                memory_bytes: limits.memory_bytes,
                cpu_millis: limits.cpu_millis,
                binds: (mounts.iter())
                    .map(|m| {
                        let mode = if m.read_only { ":ro" } else { "" };
                        format!("{}:{}{mode}", m.host_path.display(), m.container_path)
                    })
                    .collect(),
                user: run_as.uid.map(|uid| match run_as.gid {
                    Some(gid) => format!("{uid}:{gid}"),
                    None => uid.to_string(),
                }),
                groups: run_as.groups.iter().map(u32::to_string).collect(),
            })
            .await;
        let log = self.log_path(&name, restart_count);
        let started_id = started.as_ref().ok().map(|started| started.id.clone());
        let outcome = started.map(|started| {
            let identity = process::identity_of(started.pid).unwrap_or(Identity {
                pid: started.pid,
                start_ticks: 0,
            });
            let waiter = docker_waiter(
                docker.clone(),
                name.clone(),
                identity.pid,
                started.id.clone(),
                log,
                0,
            );
            (identity, Some(format!("docker://{}", started.id)), waiter)
        });
        let recorded = (self.shared.gate.clone()).run(|| match outcome {
            Ok((identity, id, waiter)) => {
                self.record_start(&name, restart_count, Ok((identity, id)), image);
                self.processes.spawn(waiter);
            }
            Err(message) => self.record_start(&name, restart_count, Err(message), image),
        });
        if recorded.is_none()
            && let Some(id) = started_id
        {
            // The agent stopped meanwhile: nothing records the container.
            tokio::spawn(async move { docker.remove(&id).await });
        }
        None
    }

    /// Starts a container through a native driver and records it.
    async fn launch_native(
        &mut self,
        native: Arc<NativeRuntime>,
        name: &str,
        launch: NativeLaunch,
    ) {
        let NativeLaunch {
            argv,
            env,
            working_dir,
            limits,
            image,
            mounts,
        } = launch;
        let restart_count = self.next_restart_count(name);
        let log = self.log_path(name, restart_count);
        if let Some(dir) = log.parent()
            && let Err(error) = std::fs::create_dir_all(dir)
        {
            tracing::warn!(path = %dir.display(), %error, "cannot create a container's log directory");
        }
        let spec = StartSpec {
            pod_uid: self.uid.clone(),
            pod_namespace: self.record.namespace.clone(),
            pod_name: self.record.name.clone(),
            container: name.to_string(),
            image,
            argv,
            env,
            working_dir,
            log_path: log.to_string_lossy().into_owned(),
            netns: (self.record.pod_ip.is_some()).then(|| self.netns()),
            memory_limit_bytes: limits.memory_bytes,
            cpu_limit_millis: limits.cpu_millis,
            mounts: (mounts.into_iter())
                .map(|m| NativeMount {
                    host_path: m.host_path.to_string_lossy().into_owned(),
                    container_path: m.container_path,
                    read_only: m.read_only,
                })
                .collect(),
        };
        let program = spec.argv.first().cloned().unwrap_or_default();
        let driver = native.clone();
        let started = tokio::task::spawn_blocking(move || {
            let id = driver.start(&spec).map_err(|error| error.to_string())?;
            let pid = match driver.state(&id) {
                Ok(ContainerState::Running { pid }) => pid.unwrap_or(0),
                _ => 0,
            };
            Ok::<_, String>((id, pid))
        })
        .await
        .unwrap_or_else(|join| Err(format!("the driver's start panicked: {join}")));
        let gate = self.shared.gate.clone();
        gate.run(|| match started {
            Ok((id, pid)) => {
                let identity = process::identity_of(pid).unwrap_or(Identity {
                    pid,
                    start_ticks: 0,
                });
                let container_id = format!("{}://{id}", native.name());
                self.record_start(
                    name,
                    restart_count,
                    Ok((identity, Some(container_id))),
                    &program,
                );
                self.processes
                    .spawn(native_waiter(native, name.to_string(), pid, id));
            }
            Err(message) => {
                let message = format!(
                    "the {} runtime cannot start {program:?}: {message}",
                    native.name()
                );
                self.record_start(name, restart_count, Err(message), &program);
            }
        });
    }

    /// The restart count of the container's next start.
    fn next_restart_count(&self, name: &str) -> u32 {
        match self.record.containers.get(name) {
            Some(record) if record.started_once => record.restart_count.saturating_add(1),
            _ => 0,
        }
    }

    fn log_path(&self, name: &str, restart_count: u32) -> std::path::PathBuf {
        container_log_path(
            &self.shared.config.data_dir,
            &self.record.namespace,
            &self.record.name,
            &self.uid,
            name,
            restart_count,
        )
    }

    /// Spawns the process and records it, in one step under the gate.
    fn launch(&mut self, name: &str, spec: ProcessSpec<'_>) {
        let ProcessSpec {
            argv,
            env,
            working_dir,
            limits,
            mounts,
            run_as,
        } = spec;
        let mount_script = if mounts.is_empty() {
            None
        } else {
            match volumes::mount_script(mounts, &mut self.record.mount_points) {
                Ok(script) => Some(script),
                Err(VolumeError(message)) => {
                    let restart_count = self.next_restart_count(name);
                    self.record_start(name, restart_count, Err(message), &argv[0]);
                    return;
                }
            }
        };
        let netns = self.record.pod_ip.is_some().then(|| self.netns());
        let restart_count = self.next_restart_count(name);
        let log = self.log_path(name, restart_count);
        let spawned = logs::open_log(&log).and_then(|log| {
            let cgroup_procs = cgroups::create(&self.uid, name, limits)?;
            process::spawn(Launch {
                program: &argv[0],
                args: &argv[1..],
                env,
                working_dir,
                log,
                netns: netns.as_deref(),
                cgroup_procs: &cgroup_procs,
                mount_script: mount_script.as_deref(),
                run_as,
            })
        });
        match spawned {
            Ok((child, identity)) => {
                self.record_start(name, restart_count, Ok((identity, None)), &argv[0]);
                self.processes
                    .spawn(wait_child(name.to_string(), identity.pid, child));
            }
            Err(error) => {
                let message = format!("failed to start {:?}: {error}", argv[0]);
                self.record_start(name, restart_count, Err(message), &argv[0]);
            }
        }
    }

    /// Records a start (or a failure to start), with its restart count and
    /// back-off, and its events. For callers under the gate.
    fn record_start(
        &mut self,
        name: &str,
        restart_count: u32,
        outcome: Result<(Identity, Option<String>), String>,
        what: &str,
    ) {
        let config = &self.shared.config;
        let record = self.record.containers.entry(name.to_string()).or_default();
        let now = SystemTime::now();
        if record.started_once {
            let back_off = &config.crash_loop_back_off;
            let next = match record.back_off_ms {
                None => back_off.initial,
                Some(ms) => Duration::from_millis(ms)
                    .saturating_mul(2)
                    .min(back_off.max),
            };
            record.back_off_ms = Some(next.as_millis() as u64);
        }
        record.restart_count = restart_count;
        record.started_once = true;
        if let Some(previous) = record.terminated.take() {
            record.last_termination = Some(previous);
        }
        let started_at = rfc3339(now);
        match outcome {
            Ok((identity, container_id)) => {
                tracing::info!(
                    namespace = self.record.namespace,
                    pod = self.record.name,
                    container = name,
                    pid = identity.pid,
                    restart_count,
                    "started a container"
                );
                let events = [
                    ("Created", format!("Created container: {name}")),
                    ("Started", format!("Started container {name}")),
                ];
                for (reason, message) in events {
                    self.shared.events.record(wharf_client::events::PodEvent {
                        namespace: self.record.namespace.clone(),
                        name: self.record.name.clone(),
                        uid: self.uid.clone(),
                        warning: false,
                        reason,
                        action: "",
                        message,
                    });
                }
                record.running = Some(RunningProcess {
                    pid: identity.pid,
                    start_ticks: identity.start_ticks,
                    started_at,
                    started_ms: millis(now),
                    container_id,
                });
            }
            Err(message) => {
                tracing::warn!(
                    namespace = self.record.namespace,
                    pod = self.record.name,
                    container = name,
                    what,
                    message,
                    "cannot start a container"
                );
                record.terminated = Some(Termination {
                    exit_code: 128,
                    reason: "StartError".into(),
                    message: Some(message),
                    started_at: started_at.clone(),
                    finished_at: started_at,
                    container_id: String::new(),
                });
                record.finished_ms = millis(now);
            }
        }
        self.save_ungated();
    }

    /// Records how a process ended and kills what it left in its group.
    fn record_exit(&mut self, exit: Exit) {
        let back_off = self.shared.config.crash_loop_back_off;
        let Some(record) = self.record.containers.get_mut(&exit.container) else {
            return;
        };
        if record.running.as_ref().is_none_or(|p| p.pid != exit.pid) {
            return;
        }
        let uid = &self.uid;
        let docker = self.shared.driver.docker();
        let native = self.shared.driver.native();
        let recorded = self.shared.gate.run(|| {
            if let Some(native) = native {
                if let Some(id) = record.running.as_ref().and_then(|p| p.runtime_id())
                    && let Err(error) = native.remove(id)
                {
                    tracing::warn!(id, %error, "the runtime driver cannot remove a container");
                }
                end(record, exit.code, exit.oom_killed, exit.at, &back_off);
                return;
            }
            if let Some(docker) = docker {
                // Its log is in the agent's files: the container can go.
                if let Some(id) = record.running.as_ref().and_then(|p| p.docker_id()) {
                    let (docker, id) = (docker.clone(), id.to_string());
                    tokio::spawn(async move { docker.remove(&id).await });
                }
                end(record, exit.code, exit.oom_killed, exit.at, &back_off);
                return;
            }
            if !process::group_members(exit.pid).is_empty() {
                process::signal_group(exit.pid, Signal::Kill);
            }
            // Also what left the group (setsid) but not the cgroup.
            cgroups::kill_all(uid, &exit.container);
            let oom_killed = exit.oom_killed || cgroups::oom_killed(uid, &exit.container);
            end(record, exit.code, oom_killed, exit.at, &back_off);
        });
        if recorded.is_some() {
            tracing::info!(
                namespace = self.record.namespace,
                pod = self.record.name,
                container = exit.container,
                pid = exit.pid,
                code = exit.code,
                "a container ended"
            );
            self.save();
        }
        // Its probes end with it.
        if let Some(probed) = self.probed.remove(&exit.container) {
            probed.task.abort();
        }
    }

    /// Marks the pod finished: stops whatever still runs (sidecars).
    async fn finish(&mut self) {
        self.stop_probing();
        let grace = Duration::from_secs(grace_with_minimum(
            self.record.grace_period_seconds.max(0) as u64,
        ));
        self.stop_processes(grace).await;
        self.record.finished = true;
        self.save();
    }

    /// Stops every process of a deleted (or being deleted) pod, writes its
    /// final status, deletes it for good if the API server still holds it,
    /// and forgets it.
    async fn stop_pod(&mut self, being_deleted: Option<Arc<Value>>) {
        let seconds = match &being_deleted {
            Some(pod) => pod
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_u64)
                .filter(|s| *s > 0)
                .unwrap_or_else(|| spec_grace_seconds(pod)),
            None => self.record.grace_period_seconds.max(0) as u64,
        };
        tracing::info!(
            namespace = self.record.namespace,
            pod = self.record.name,
            grace_seconds = seconds,
            "stopping the pod"
        );
        for (container, _) in self.running() {
            self.event(false, "Killing", format!("Stopping container {container}"));
        }
        self.stop_probing();
        self.stop_processes(Duration::from_secs(grace_with_minimum(seconds)))
            .await;
        self.remove_cgroups().await;
        self.teardown_network().await;
        let mount_points = std::mem::take(&mut self.record.mount_points);
        self.shared
            .gate
            .run(|| volumes::remove_created(&mount_points));
        if let Some(docker) = self.shared.driver.docker() {
            // Whatever the records say: every container labelled as the pod's.
            let docker = docker.clone();
            if self.shared.gate.run(|| ()).is_some() {
                docker.remove_pod(&self.uid).await;
            }
            self.record.sandbox_id = None;
        }
        self.record.finished = true;
        if let Some(pod) = being_deleted {
            self.pod = Some(pod);
            self.write_status(true).await;
            self.delete_for_good().await;
        }
        let data_dir = self.shared.config.data_dir.clone();
        let record = &self.record;
        self.shared.gate.run(|| {
            let logs = logs::pod_logs_dir(&data_dir, &record.namespace, &record.name, &record.uid);
            if !record.namespace.is_empty()
                && let Err(error) = std::fs::remove_dir_all(&logs)
                && error.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %logs.display(), %error, "cannot remove a pod's logs");
            }
            if let Err(error) = checkpoint::remove(&data_dir, &record.uid) {
                tracing::warn!(uid = record.uid, %error, "cannot remove a pod's checkpoint");
            }
        });
    }

    /// SIGTERM to every running container's group, SIGKILL to those left
    /// after `grace`; returns once they are seen gone (or after `KILL_WAIT`).
    async fn stop_processes(&mut self, grace: Duration) {
        if self.running().is_empty() {
            return;
        }
        self.signal_running(Signal::Term);
        self.wait_running(after(grace)).await;
        if self.running().is_empty() {
            return;
        }
        self.signal_running(Signal::Kill);
        self.wait_running(after(KILL_WAIT)).await;
        for (name, identity) in self.running() {
            tracing::warn!(
                namespace = self.record.namespace,
                pod = self.record.name,
                container = name,
                pid = identity.pid,
                "a container's process outlived SIGKILL"
            );
        }
    }

    fn signal_running(&self, signal: Signal) {
        for (name, _) in self.running() {
            self.signal(&name, None, signal);
        }
    }

    /// Signals the container's current process (if it is still `pid`).
    fn signal(&self, name: &str, pid: Option<u32>, signal: Signal) {
        let Some(process) = (self.record.containers.get(name))
            .and_then(|c| c.running.as_ref())
            .filter(|process| pid.is_none_or(|pid| process.pid == pid))
        else {
            return;
        };
        if let (Some(native), Some(id)) = (self.shared.driver.native(), process.runtime_id()) {
            let signal = match signal {
                Signal::Term => NativeSignal::Term,
                Signal::Kill => NativeSignal::Kill,
            };
            self.shared.gate.run(|| {
                if let Err(error) = native.signal(id, signal) {
                    tracing::warn!(id, %error, "the runtime driver cannot signal a container");
                }
            });
            return;
        }
        if let (Some(docker), Some(id)) = (self.shared.driver.docker(), process.docker_id()) {
            let (docker, id) = (docker.clone(), id.to_string());
            self.shared
                .gate
                .run(|| tokio::spawn(async move { docker.kill(&id, signal).await }));
            return;
        }
        let identity = process.identity();
        // A pid that is now another process's is not signalled.
        if process::is_running(identity) {
            self.shared.gate.run(|| {
                process::signal_group(identity.pid, signal);
                if signal == Signal::Kill {
                    // Also what left the group (setsid) but not the cgroup.
                    cgroups::kill_all(&self.uid, name);
                }
            });
        }
    }

    /// Kills whatever is left in the containers' cgroups (processes that
    /// left their group), and removes the cgroups once they are empty.
    async fn remove_cgroups(&self) {
        let names: Vec<String> = self.record.containers.keys().cloned().collect();
        let deadline = after(KILL_WAIT);
        loop {
            let last_try = Instant::now() >= deadline;
            let removed = self.shared.gate.run(|| {
                for name in &names {
                    cgroups::kill_all(&self.uid, name);
                }
                cgroups::remove_pod(&self.uid, names.iter().map(String::as_str), last_try)
            });
            if removed != Some(false) || last_try {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_running(&mut self, deadline: Instant) {
        while !self.running().is_empty() {
            tokio::select! {
                next = self.processes.join_next() => match next {
                    Some(Ok(exit)) => self.record_exit(exit),
                    Some(Err(_)) => {}
                    // No waiter left: nothing more will be seen.
                    None => return,
                },
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
    }

    /// The containers with a live process.
    fn running(&self) -> Vec<(String, Identity)> {
        (self.record.containers.iter())
            .filter_map(|(name, c)| Some((name.clone(), c.running.as_ref()?.identity())))
            .collect()
    }

    /// Deletes the pod object (still this pod) now that nothing runs.
    async fn delete_for_good(&self) {
        let pods = &self.shared.resources.pods;
        let (namespace, name) = (&self.record.namespace, &self.record.name);
        let current = self.shared.client.get(pods, Some(namespace), name).await;
        if current
            .as_ref()
            .ok()
            .and_then(|pod| str_at(pod, "/metadata/uid"))
            != Some(&self.uid)
        {
            return;
        }
        // Stopped: no grace period is left.
        let deleted = (self.shared.client)
            .delete_with(
                pods,
                Some(namespace),
                name,
                &DeleteParams::of_uid(&self.uid).at_once(),
            )
            .await;
        match deleted {
            Ok(_) | Err(ApiError::NotFound { .. } | ApiError::Conflict { .. }) => {}
            Err(error) => {
                tracing::warn!(namespace, pod = name, %error, "cannot delete the stopped pod")
            }
        }
    }

    /// Writes the pod's status if it differs from what the API server has.
    async fn write_status(&mut self, terminal: bool) {
        let Some(pod) = self.pod.clone() else {
            return;
        };
        let api_terminal = matches!(str_at(&pod, "/status/phase"), Some("Succeeded" | "Failed"));
        if api_terminal && self.record.containers.is_empty() {
            // Finished before this agent knew it: its statuses stay as written.
            return;
        }
        let now = now_rfc3339();
        let desired = status::pod_status(&pod, &self.view(&pod, terminal), &now);
        if pod.get("status") == Some(&desired) {
            self.status_pending = false;
            return;
        }
        let (namespace, name) = (self.record.namespace.clone(), self.record.name.clone());
        let written = (self.shared.client)
            .read_modify_write(
                &self.shared.resources.pods,
                Some(&namespace),
                &name,
                true,
                |fresh| {
                    if str_at(fresh, "/metadata/uid") != Some(self.uid.as_str()) {
                        return false;
                    }
                    let status = status::pod_status(fresh, &self.view(fresh, terminal), &now);
                    if fresh.get("status") == Some(&status) {
                        return false;
                    }
                    fresh["status"] = status;
                    true
                },
            )
            .await;
        self.status_pending = false;
        match written {
            Ok(written) if str_at(&written, "/metadata/uid") == Some(self.uid.as_str()) => {
                self.pod = Some(Arc::new(written));
            }
            Ok(_) | Err(ApiError::NotFound { .. }) => {}
            Err(error) => {
                tracing::warn!(namespace, pod = name, %error, "cannot write the pod status; retrying");
                self.status_pending = true;
            }
        }
    }

    /// What the runtime knows of the pod, for its status.
    fn view(&self, pod: &Value, terminal: bool) -> PodView {
        let api_terminal = matches!(str_at(pod, "/status/phase"), Some("Succeeded" | "Failed"));
        let stopped = terminal || api_terminal || self.record.finished;
        let policy = restart_policy(pod);
        // As the kubelet's default waiting state.
        let waiting_reason = if containers(pod, "initContainers").next().is_some() {
            "PodInitializing"
        } else {
            "ContainerCreating"
        };
        let view_of = |container: &Value, init: bool| {
            let name = name_of(container);
            let sidecar = init && is_sidecar(container);
            let record = self
                .record
                .containers
                .get(name)
                .cloned()
                .unwrap_or_default();
            let will_restart = |t: &Termination| {
                !stopped
                    && match (init, sidecar, policy) {
                        (_, true, _) | (false, _, "Always") => true,
                        (_, _, "Never") => false,
                        _ => t.exit_code != 0,
                    }
            };
            let (state, last) = match (&record.running, &record.terminated, self.blocked.get(name))
            {
                (Some(process), _, _) => (
                    State::Running {
                        started_at: process.started_at.clone(),
                    },
                    record.last_termination.clone(),
                ),
                (None, Some(t), Some((reason, message))) if will_restart(t) => (
                    State::Waiting {
                        reason: reason.clone(),
                        message: Some(message.clone()),
                    },
                    Some(t.clone()),
                ),
                (None, Some(t), _) if will_restart(t) => {
                    let back_off = Duration::from_millis(record.back_off_ms.unwrap_or(0));
                    let message = format!(
                        "back-off {} restarting failed container={name} pod={}_{}({})",
                        go_duration(back_off),
                        self.record.name,
                        self.record.namespace,
                        self.uid
                    );
                    (
                        State::Waiting {
                            reason: "CrashLoopBackOff".into(),
                            message: Some(message),
                        },
                        Some(t.clone()),
                    )
                }
                (None, Some(t), _) => (
                    State::Terminated(t.clone()),
                    record.last_termination.clone(),
                ),
                (None, None, Some((reason, message))) => (
                    State::Waiting {
                        reason: reason.clone(),
                        message: Some(message.clone()),
                    },
                    None,
                ),
                (None, None, None) => (State::waiting(waiting_reason), None),
            };
            let (started, ready) = match &record.running {
                // Regular init containers are never probed.
                Some(_) if init && !sidecar => (true, true),
                Some(process) => self.probe_flags(container, process.pid),
                None => (false, false),
            };
            ContainerView {
                name: name.to_string(),
                image: str_at(container, "/image").unwrap_or_default().to_string(),
                container_id: record.container_id(),
                restart_count: record.restart_count,
                state,
                last,
                sidecar,
                started,
                ready,
            }
        };
        PodView {
            init: containers(pod, "initContainers")
                .map(|c| view_of(c, true))
                .collect(),
            app: containers(pod, "containers")
                .map(|c| view_of(c, false))
                .collect(),
            sandbox_ready: !stopped,
            initialized: self.record.initialized,
            terminal,
            host_ip: self.shared.config.node_ip.clone(),
            pod_ip: (self.record.pod_ip.clone())
                .unwrap_or_else(|| self.shared.config.node_ip.clone()),
            start_time: self.record.start_time.clone().unwrap_or_else(now_rfc3339),
        }
    }

    /// Whether a running container has started and is ready, as far as
    /// its probes say (without probes: both).
    fn probe_flags(&self, container: &Value, pid: u32) -> (bool, bool) {
        let probed = self.probed.get(name_of(container)).filter(|p| p.pid == pid);
        let started =
            !probes::declares(container, ProbeKind::Startup) || probed.is_some_and(|p| p.started);
        let healthy = probed.is_none_or(|p| p.health == Health::Probing);
        let ready = started
            && healthy
            && (!probes::declares(container, ProbeKind::Readiness)
                || probed.is_some_and(|p| p.ready));
        (started, ready)
    }

    /// A running container whose startup probe (if any) succeeded.
    fn started(&self, container: &Value) -> bool {
        let record = self.record.containers.get(name_of(container));
        match record.and_then(|r| r.running.as_ref()) {
            Some(process) => self.probe_flags(container, process.pid).0,
            None => false,
        }
    }

    /// Starts probing every running app container and sidecar that
    /// declares probes and is not probed yet (just started, or adopted).
    async fn ensure_probes(&mut self, pod: &Value) {
        // Finished probe tasks are forgotten.
        while self.probe_tasks.try_join_next().is_some() {}
        let sidecars = containers(pod, "initContainers").filter(|c| is_sidecar(c));
        for container in sidecars.chain(containers(pod, "containers")) {
            let name = name_of(container);
            let Some(process) = (self.record.containers.get(name)).and_then(|c| c.running.clone())
            else {
                continue;
            };
            if self.probed.get(name).is_some_and(|p| p.pid == process.pid) {
                continue;
            }
            let declared = ContainerProbes::of(container);
            if declared.is_empty() {
                continue;
            }
            if let Some(stale) = self.probed.remove(name) {
                stale.task.abort();
            }
            let pod_ip =
                (self.record.pod_ip.clone()).unwrap_or_else(|| self.shared.config.node_ip.clone());
            let env = if declared.execs() {
                let addresses = PodAddresses {
                    pod_ip: &pod_ip,
                    host_ip: &self.shared.config.node_ip,
                };
                // Made as for the start; if that no longer can be (a
                // ConfigMap deleted since), the probe gets a bare one.
                env::container_env(&self.shared, pod, container, &addresses)
                    .await
                    .unwrap_or_else(|_| vec![("PATH".into(), DEFAULT_PATH.into())])
            } else {
                Vec::new()
            };
            let age = millis(SystemTime::now()).saturating_sub(process.started_ms);
            let now = Instant::now();
            let target = Target {
                container: name.to_string(),
                pid: process.pid,
                started_at: now.checked_sub(Duration::from_millis(age)).unwrap_or(now),
                pod_ip,
                env,
                working_dir: str_at(container, "/workingDir").map(str::to_string),
                netns: (self.record.pod_ip.is_some()).then(|| self.netns()),
                docker: (self.shared.driver.docker().cloned())
                    .zip(process.docker_id().map(str::to_string)),
            };
            let known = reported(pod, name, &process.container_id());
            let task = self.probe_tasks.spawn(probes::run(
                target,
                declared,
                known,
                self.shared.gate.clone(),
                self.probe_sender.clone(),
            ));
            self.probed.insert(
                name.to_string(),
                Probed {
                    pid: process.pid,
                    started: known.started,
                    ready: known.ready,
                    task,
                    health: Health::Probing,
                },
            );
        }
    }

    /// Takes in what a probe found of a container's current process.
    fn probed(&mut self, report: Report) {
        let Some(probed) = (self.probed.get_mut(&report.container))
            .filter(|p| p.pid == report.pid && p.health == Health::Probing)
        else {
            return;
        };
        let (kind, message, grace_seconds) = match report.finding {
            Finding::Started => {
                probed.started = true;
                return;
            }
            Finding::Ready(ready) => {
                probed.ready = ready;
                return;
            }
            Finding::Unhealthy {
                kind,
                message,
                termination_grace_seconds,
            } => (kind, message, termination_grace_seconds),
        };
        let seconds = grace_seconds.unwrap_or(self.record.grace_period_seconds.max(0) as u64);
        let grace = Duration::from_secs(grace_with_minimum(seconds));
        probed.ready = false;
        probed.health = Health::Stopping(after(grace));
        let restarts = self.pod.as_deref().is_some_and(|pod| {
            restart_policy(pod) != "Never"
                || containers(pod, "initContainers")
                    .any(|c| name_of(c) == report.container && is_sidecar(c))
        });
        tracing::info!(
            namespace = self.record.namespace,
            pod = self.record.name,
            container = report.container,
            pid = report.pid,
            reason = "Killing",
            grace_seconds = grace.as_secs(),
            probe_message = message,
            "Container {} failed {} probe{}",
            report.container,
            kind.name().to_lowercase(),
            if restarts { ", will be restarted" } else { "" }
        );
        self.event(
            true,
            "Unhealthy",
            format!("{} probe failed: {message}", kind.name()),
        );
        self.event(
            false,
            "Killing",
            format!(
                "Container {} failed {} probe{}",
                report.container,
                kind.name().to_lowercase(),
                if restarts { ", will be restarted" } else { "" }
            ),
        );
        self.signal(&report.container, Some(report.pid), Signal::Term);
    }

    /// SIGKILL to the unhealthy containers whose grace period is over;
    /// returns when the next one's is.
    fn escalate_kills(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let mut wake = None;
        let mut kills = Vec::new();
        for (name, probed) in &mut self.probed {
            let Health::Stopping(deadline) = probed.health else {
                continue;
            };
            if deadline > now {
                wake = earliest(wake, Some(deadline));
                continue;
            }
            probed.health = Health::Killed;
            tracing::info!(
                namespace = self.record.namespace,
                pod = self.record.name,
                container = name,
                pid = probed.pid,
                "an unhealthy container outlived its grace period: SIGKILL"
            );
            kills.push((name.clone(), probed.pid));
        }
        for (name, pid) in kills {
            self.signal(&name, Some(pid), Signal::Kill);
        }
        wake
    }

    /// Ends every probe task (the pod stops).
    fn stop_probing(&mut self) {
        self.probe_tasks.abort_all();
        self.probed.clear();
    }

    fn phase(&self, name: &str) -> Phase {
        match self.record.containers.get(name) {
            Some(c) if c.running.is_some() => Phase::Running,
            Some(ContainerRecord {
                terminated: Some(t),
                ..
            }) => Phase::Exited(t.exit_code),
            _ => Phase::NotStarted,
        }
    }

    /// Gives the pod its network namespace and address (once; a restarted
    /// agent finds the address in the record), unless the agent runs pods
    /// in the host's network or the pod asks for it.
    async fn ensure_network(&mut self, pod: &Value) -> Result<(), Instant> {
        let Some(plugin_dir) = self.shared.config.cni_plugin_dir.clone() else {
            return Ok(());
        };
        if self.record.pod_ip.is_some()
            || pod.pointer("/spec/hostNetwork").and_then(Value::as_bool) == Some(true)
        {
            return Ok(());
        }
        let retry = Instant::now() + Duration::from_secs(2);
        let names: Vec<String> = containers(pod, "initContainers")
            .chain(containers(pod, "containers"))
            .map(|c| name_of(c).to_string())
            .collect();
        let cidr = self.node_pod_cidr().await;
        let Some(cidr) = cidr else {
            for name in &names {
                self.block(
                    name,
                    "ContainerCreating",
                    "network is not ready: the node has no pod CIDR yet",
                );
            }
            return Err(retry);
        };
        // Host ports are mapped as the pod's network is wired: not warm.
        let ports = host_ports(pod);
        if let Some(warm) = (self.shared.warm.as_ref())
            .filter(|_| self.shared.driver.docker().is_none() && ports.is_empty())
            && let Some(taken) = warm.take(&cidr)
        {
            tracing::info!(
                namespace = self.record.namespace,
                pod = self.record.name,
                ip = taken.ip,
                "pod network ready (warm)"
            );
            self.record.pod_ip = Some(taken.ip);
            self.record.netns = Some(taken.netns);
            self.record.cni_id = Some(taken.cni_id);
            self.save();
            self.network_ready(&names);
            return Ok(());
        }
        if let Some(docker) = self.shared.driver.docker().cloned()
            && let Err(message) = self.ensure_sandbox(&docker).await
        {
            for name in &names {
                self.block(name, "ContainerCreating", &message);
            }
            return Err(retry);
        }
        let mut config = wharf_cni::CniConfig::new(&cidr, &self.shared.config.data_dir);
        config.plugin_dir = plugin_dir;
        let (uid, netns) = (self.uid.clone(), wharf_cni::netns_name(&self.uid));
        // Recorded first: a teardown after a failed setup removes them too.
        self.record.host_ports = ports.clone();
        self.save();
        match tokio::task::spawn_blocking(move || {
            wharf_cni::setup_named(&config, &netns, &uid, &ports)
        })
        .await
        {
            Ok(Ok(network)) => {
                tracing::info!(
                    namespace = self.record.namespace,
                    pod = self.record.name,
                    ip = network.ip,
                    "pod network ready"
                );
                self.record.pod_ip = Some(network.ip);
                self.save();
                self.network_ready(&names);
                Ok(())
            }
            Ok(Err(error)) => {
                let message = format!("failed to set up the pod's network: {error}");
                for name in &names {
                    self.block(name, "ContainerCreating", &message);
                }
                Err(retry)
            }
            Err(join) => {
                tracing::error!(%join, "pod network setup panicked");
                Err(retry)
            }
        }
    }

    /// The network is up: containers held for it may be created.
    fn network_ready(&mut self, names: &[String]) {
        for name in names {
            if (self.blocked.get(name)).is_some_and(|(reason, _)| reason == "ContainerCreating") {
                self.blocked.remove(name);
            }
        }
    }

    /// The docker driver's pause container, whose network namespace is
    /// named as the process driver's (`ip netns attach`), so the CNI
    /// plugins wire it the same way.
    async fn ensure_sandbox(&mut self, docker: &DockerRuntime) -> Result<(), String> {
        let netns = wharf_cni::netns_name(&self.uid);
        let named = Path::new("/var/run/netns").join(&netns).exists();
        if self.record.sandbox_id.is_some() && named {
            return Ok(());
        }
        if let Some(stale) = self.record.sandbox_id.take() {
            docker.remove(&stale).await;
        }
        let started = docker
            .run_sandbox(&self.uid, &self.record.namespace, &self.record.name)
            .await
            .map_err(|message| format!("failed to create the pod sandbox: {message}"))?;
        self.record.sandbox_id = Some(started.id.clone());
        self.save();
        if named {
            // A namespace of an earlier sandbox: this one's replaces it.
            let _ = tokio::process::Command::new(process::ip_binary())
                .args(["netns", "delete", &netns])
                .status()
                .await;
        }
        let attached = tokio::process::Command::new(process::ip_binary())
            .args(["netns", "attach", &netns, &started.pid.to_string()])
            .output()
            .await;
        match attached {
            Ok(output) if output.status.success() => Ok(()),
            Ok(output) => Err(format!(
                "cannot name the sandbox's network namespace: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )),
            Err(error) => Err(format!("cannot run ip: {error}")),
        }
    }

    async fn node_pod_cidr(&self) -> Option<String> {
        node_pod_cidr(&self.shared).await
    }

    /// The pod's network namespace: a warm one it took, or its own.
    fn netns(&self) -> String {
        (self.record.netns.clone()).unwrap_or_else(|| wharf_cni::netns_name(&self.uid))
    }

    /// Takes the pod's network down (its address back to the pool).
    async fn teardown_network(&mut self) {
        let (Some(plugin_dir), Some(_)) = (
            self.shared.config.cni_plugin_dir.clone(),
            self.record.pod_ip.as_ref(),
        ) else {
            return;
        };
        let cidr = self.node_pod_cidr().await.unwrap_or_default();
        let mut config = wharf_cni::CniConfig::new(&cidr, &self.shared.config.data_dir);
        config.plugin_dir = plugin_dir;
        let netns = self.netns();
        let cni_id = (self.record.cni_id.clone()).unwrap_or_else(|| self.uid.clone());
        let ports = self.record.host_ports.clone();
        match tokio::task::spawn_blocking(move || {
            wharf_cni::teardown_named(&config, &netns, &cni_id, &ports)
        })
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "pod network teardown failed"),
            Err(join) => tracing::error!(%join, "pod network teardown panicked"),
        }
    }

    /// An event about this pod, as the kubelet reports it.
    fn event(&self, warning: bool, reason: &'static str, message: String) {
        self.shared.events.record(wharf_client::events::PodEvent {
            namespace: self.record.namespace.clone(),
            name: self.record.name.clone(),
            uid: self.uid.clone(),
            warning,
            reason,
            action: "",
            message,
        });
    }

    fn block(&mut self, name: &str, reason: &str, message: &str) {
        let blocked = (reason.to_string(), message.to_string());
        if self.blocked.get(name) != Some(&blocked) {
            tracing::warn!(
                namespace = self.record.namespace,
                pod = self.record.name,
                container = name,
                reason,
                message,
                "cannot create a container"
            );
            self.blocked.insert(name.to_string(), blocked);
        }
    }

    fn save(&self) {
        self.shared.gate.run(|| self.save_ungated());
    }

    /// For callers already under the gate.
    fn save_ungated(&self) {
        if let Err(error) = checkpoint::save(&self.shared.config.data_dir, &self.record) {
            tracing::error!(namespace = self.record.namespace, pod = self.record.name, %error, "cannot write the pod's checkpoint; a restarted agent may not adopt its processes");
        }
    }
}

/// The pod's `hostPort`s, for the portmap plugin.
fn host_ports(pod: &Value) -> Vec<wharf_cni::PortMapping> {
    let mut ports = Vec::new();
    for container in containers(pod, "initContainers").chain(containers(pod, "containers")) {
        for port in (container.get("ports").and_then(Value::as_array))
            .into_iter()
            .flatten()
        {
            let number = |field: &str| {
                (port.get(field).and_then(Value::as_u64)).and_then(|n| u16::try_from(n).ok())
            };
            let Some(host_port) = number("hostPort").filter(|p| *p > 0) else {
                continue;
            };
            ports.push(wharf_cni::PortMapping {
                host_port,
                container_port: number("containerPort").unwrap_or(host_port),
                protocol: str_at(port, "/protocol").unwrap_or("TCP").to_string(),
                host_ip: str_at(port, "/hostIP").map(str::to_string),
            });
        }
    }
    ports
}

/// The node's `spec.podCIDR`, which pod networks take addresses from.
pub(super) async fn node_pod_cidr(shared: &Shared) -> Option<String> {
    let nodes = &shared.resources.nodes;
    let node = (shared.client.get(nodes, None, &shared.config.node_name))
        .await
        .ok()?;
    str_at(&node, "/spec/podCIDR")
        .filter(|cidr| !cidr.is_empty())
        .map(str::to_string)
}

/// Records that a container's process ended (`code` unknown: `None`).
fn end(
    record: &mut ContainerRecord,
    code: Option<i32>,
    oom_killed: bool,
    at: SystemTime,
    back_off: &super::BackOffConfig,
) {
    let Some(process) = record.running.take() else {
        return;
    };
    let (exit_code, reason, message) = match code {
        // The kernel killed it for exceeding its memory limit.
        _ if oom_killed => (code.unwrap_or(137), "OOMKilled", None),
        Some(0) => (0, "Completed", None),
        Some(code) => (code, "Error", None),
        None => (
            137,
            "ContainerStatusUnknown",
            Some("The process was adopted from an earlier node agent, or ended while none ran, so its exit code is unknown".to_string()),
        ),
    };
    record.terminated = Some(Termination {
        exit_code,
        reason: reason.into(),
        message,
        container_id: process.container_id(),
        started_at: process.started_at,
        finished_at: rfc3339(at),
    });
    record.finished_ms = millis(at);
    let ran = Duration::from_millis(record.finished_ms.saturating_sub(process.started_ms));
    if ran >= back_off.reset_after {
        record.back_off_ms = None;
    }
}

/// Waits for a child process of this agent.
async fn wait_child(container: String, pid: u32, mut child: tokio::process::Child) -> Exit {
    let code = match child.wait().await {
        Ok(status) => Some(process::exit_code(status)),
        Err(error) => {
            tracing::warn!(container, pid, %error, "cannot wait for a container's process");
            None
        }
    };
    Exit {
        container,
        pid,
        code,
        oom_killed: false,
        at: SystemTime::now(),
    }
}

/// Watches an adopted process (not this agent's child) until it is gone.
async fn watch_adopted(container: String, identity: Identity) -> Exit {
    while process::is_running(identity) {
        tokio::time::sleep(ADOPTED_POLL).await;
    }
    Exit {
        container,
        pid: identity.pid,
        code: None,
        oom_killed: false,
        at: SystemTime::now(),
    }
}

/// What a native driver starts.
/// What the process driver starts for a container.
struct ProcessSpec<'a> {
    argv: &'a [String],
    env: &'a [(String, String)],
    working_dir: Option<&'a str>,
    limits: Limits,
    mounts: &'a [volumes::Mount],
    /// `setpriv` arguments (empty: the agent's user).
    run_as: &'a [String],
}

struct NativeLaunch {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    working_dir: Option<String>,
    limits: Limits,
    image: String,
    mounts: Vec<volumes::Mount>,
}

/// How often a native driver is asked whether a container still runs.
const NATIVE_POLL: Duration = Duration::from_millis(200);

/// Waits for a native driver's container to end, asking its state.
async fn native_waiter(
    native: Arc<NativeRuntime>,
    container: String,
    pid: u32,
    id: String,
) -> Exit {
    let (code, oom_killed) = loop {
        match native.state(&id) {
            Ok(ContainerState::Running { .. }) => tokio::time::sleep(NATIVE_POLL).await,
            Ok(ContainerState::Exited { code, oom_killed }) => break (Some(code), oom_killed),
            // The driver no longer knows it (it was reloaded): unknown.
            Ok(ContainerState::Unknown) => break (None, false),
            Err(error) => {
                tracing::warn!(container, id, %error, "the runtime driver cannot tell a container's state");
                break (None, false);
            }
        }
    };
    Exit {
        container,
        pid,
        code,
        oom_killed,
        at: SystemTime::now(),
    }
}

/// Follows a Docker container's log and waits for its end. `since`: where
/// an adopted container's log resumes (seconds since the epoch).
async fn docker_waiter(
    docker: DockerRuntime,
    container: String,
    pid: u32,
    id: String,
    log: std::path::PathBuf,
    since: i32,
) -> Exit {
    let ended = docker.wait(&id, &log, since).await;
    Exit {
        container,
        pid,
        code: ended.code,
        oom_killed: ended.oom_killed,
        at: SystemTime::now(),
    }
}

/// What the pod's status already says of a container's process `pid`: an
/// adopted process keeps being started and ready until its probes say
/// otherwise, rather than flapping when the agent restarts.
fn reported(pod: &Value, container: &str, id: &str) -> Known {
    let status = ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|list| pod.pointer(&format!("/status/{list}"))?.as_array())
        .flatten()
        .find(|c| str_at(c, "/name") == Some(container) && str_at(c, "/containerID") == Some(id));
    let flag = |field: &str| status.and_then(|c| c.get(field)?.as_bool()) == Some(true);
    Known {
        started: flag("started"),
        ready: flag("ready"),
    }
}

fn containers<'a>(pod: &'a Value, list: &str) -> impl Iterator<Item = &'a Value> {
    (pod.pointer(&format!("/spec/{list}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten())
    .filter(|c| !name_of(c).is_empty())
}

fn is_sidecar(container: &Value) -> bool {
    str_at(container, "/restartPolicy") == Some("Always")
}

fn restart_policy(pod: &Value) -> &str {
    str_at(pod, "/spec/restartPolicy").unwrap_or("Always")
}

fn spec_grace_seconds(pod: &Value) -> u64 {
    (pod.pointer("/spec/terminationGracePeriodSeconds")
        .and_then(Value::as_i64))
    .map_or(DEFAULT_GRACE_SECONDS, |s| s.max(0) as u64)
}

fn grace_with_minimum(seconds: u64) -> u64 {
    seconds.max(MIN_GRACE_SECONDS)
}

fn name_of(object: &Value) -> &str {
    str_at(object, "/name").unwrap_or_default()
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `delay` from now; a delay past what an `Instant` holds is a day.
fn after(delay: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(delay)
        .unwrap_or_else(|| now + Duration::from_secs(24 * 3600))
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn rfc3339(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    k8s_openapi::jiff::Timestamp::from_second(seconds as i64)
        .unwrap_or_default()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A duration as Go prints one (`10s`, `1m20s`, `5m0s`, `100ms`, `1.6s`).
fn go_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".into();
    }
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let seconds = |ms: u128| {
        let (whole, fraction) = (ms / 1000, ms % 1000);
        if fraction == 0 {
            format!("{whole}s")
        } else {
            format!(
                "{whole}.{}s",
                format!("{fraction:03}").trim_end_matches('0')
            )
        }
    };
    let (hours, rest) = (millis / 3_600_000, millis % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    match (hours, minutes) {
        (0, 0) => seconds(rest),
        (0, m) => format!("{m}m{}", seconds(rest)),
        (h, m) => format!("{h}h{m}m{}", seconds(rest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_prints_them() {
        let cases = [
            (0, "0s"),
            (100, "100ms"),
            (1_600, "1.6s"),
            (10_000, "10s"),
            (80_000, "1m20s"),
            (300_000, "5m0s"),
            (3_725_000, "1h2m5s"),
        ];
        for (ms, expected) in cases {
            assert_eq!(go_duration(Duration::from_millis(ms)), expected);
        }
    }

    #[test]
    fn an_ended_process_is_recorded_and_a_long_run_resets_the_back_off() {
        let back_off = super::super::BackOffConfig::default();
        let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let running = ContainerRecord {
            started_once: true,
            running: Some(RunningProcess {
                pid: 7,
                start_ticks: 1,
                started_at: rfc3339(started),
                started_ms: millis(started),
                container_id: None,
            }),
            back_off_ms: Some(40_000),
            ..ContainerRecord::default()
        };
        let mut short = running.clone();
        end(
            &mut short,
            Some(3),
            false,
            started + Duration::from_secs(5),
            &back_off,
        );
        let ended = short.terminated.as_ref().unwrap();
        assert_eq!((ended.exit_code, ended.reason.as_str()), (3, "Error"));
        assert_eq!(ended.container_id, "process://7");
        assert_eq!(
            (short.back_off_ms, short.running.is_none()),
            (Some(40_000), true)
        );

        let mut long = running.clone();
        end(
            &mut long,
            Some(0),
            false,
            started + Duration::from_secs(601),
            &back_off,
        );
        assert_eq!(long.terminated.as_ref().unwrap().reason, "Completed");
        assert_eq!(long.back_off_ms, None);

        let mut unknown = running;
        end(&mut unknown, None, false, started, &back_off);
        let ended = unknown.terminated.unwrap();
        assert_eq!(
            (ended.exit_code, ended.reason.as_str()),
            (137, "ContainerStatusUnknown")
        );
    }
}
