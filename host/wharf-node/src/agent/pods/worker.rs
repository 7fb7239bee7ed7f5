//! One pod's worker: the state machine that takes the pod from its first
//! object to its deletion (init containers, app containers, completion,
//! stopping), syncing on every change.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use wharf_client::{ApiError, DeleteParams, now_rfc3339};

use super::dispatch::PodEvent;
use super::probing::Probed;
use super::restart::end;
use super::{
    DEFAULT_GRACE_SECONDS, KILL_WAIT, STATUS_RETRY, after, containers, earliest,
    grace_with_minimum, is_sidecar, name_of, restart_policy, spec_grace_seconds,
};
use crate::agent::Shared;
use crate::agent::cgroups::Limits;
use crate::agent::checkpoint::{self, ContainerRecord, PodRecord};
use crate::agent::env::{self, EnvError, PodAddresses, str_at};
use crate::agent::logs::{self, container_log_path};
use crate::agent::probes::Report;
use crate::agent::process::{Identity, Signal};
use crate::agent::runtime::{Adoption, ContainerSpec, CreateError, Ended, PodRef};
use crate::agent::security;
use crate::agent::volumes::{self, VolumeError};

/// How a container's process ended, as its waiter saw it.
pub(super) struct Exit {
    pub(super) container: String,
    pub(super) pid: u32,
    /// `None`: unknown (an adopted process, not the agent's child).
    pub(super) code: Option<i32>,
    /// The runtime says it was killed for running out of memory.
    pub(super) oom_killed: bool,
    pub(super) at: SystemTime,
}

/// Where a container is in its life, for the sync's decisions.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    NotStarted,
    Running,
    Exited(i32),
}

/// One pod's worker.
pub(super) struct Worker {
    pub(super) shared: Arc<Shared>,
    pub(super) uid: String,
    pub(super) updates: watch::Receiver<PodEvent>,
    /// The newest object (none before the first, or for a record whose pod
    /// is gone).
    pub(super) pod: Option<Arc<Value>>,
    pub(super) record: PodRecord,
    /// One waiter per running process.
    pub(super) processes: JoinSet<Exit>,
    /// Containers that cannot be created: waiting reason and message.
    pub(super) blocked: HashMap<String, (String, String)>,
    /// The back-offs reported (container, end of the process waited on).
    pub(super) backed_off: HashSet<(String, u64)>,
    /// A status write failed: sync again soon.
    pub(super) status_pending: bool,
    /// By container name.
    pub(super) probed: HashMap<String, Probed>,
    /// The probe tasks (aborted with the worker) and what they find.
    pub(super) probe_tasks: JoinSet<()>,
    pub(super) probe_reports: mpsc::UnboundedReceiver<Report>,
    pub(super) probe_sender: mpsc::UnboundedSender<Report>,
    /// When the pod's projected tokens need refreshing.
    pub(super) volumes_refresh: Option<Instant>,
}

impl Worker {
    pub(super) fn new(
        shared: Arc<Shared>,
        uid: String,
        updates: watch::Receiver<PodEvent>,
    ) -> Self {
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
    pub(super) async fn run(mut self) -> bool {
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

    /// Takes on the containers of the record: watches those that still
    /// run, records the others as ended.
    pub(super) fn adopt(&mut self) {
        let mut changed = false;
        let now = SystemTime::now();
        let runtime = self.shared.runtime.clone();
        let pod = PodRef {
            uid: &self.uid,
            namespace: &self.record.namespace,
            name: &self.record.name,
        };
        for (name, container) in &mut self.record.containers {
            let Some(process) = container.running.clone() else {
                continue;
            };
            let log = container_log_path(
                &self.shared.config.data_dir,
                pod.namespace,
                pod.name,
                pod.uid,
                name,
                container.restart_count,
            );
            match runtime.adopt(pod, name, &process, &log) {
                Adoption::Running(ended) => {
                    self.processes
                        .spawn(exit_of(name.clone(), process.pid, ended));
                }
                Adoption::Gone { oom_killed } => {
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
        }
        if changed {
            self.save();
        }
    }

    /// Starts what should run, stops what should not, writes the status.
    /// Returns when to sync again if nothing happens before.
    pub(super) async fn sync(&mut self) -> Option<Instant> {
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
    pub(super) async fn refresh_volumes(&mut self, pod: &Value) {
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
    pub(super) async fn start_containers(&mut self, pod: &Value) -> Option<Instant> {
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
    pub(super) fn completed(&self, pod: &Value) -> bool {
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

    /// Starts one container. Returns when to try again if it cannot be
    /// created.
    pub(super) async fn start(&mut self, pod: &Value, container: &Value) -> Option<Instant> {
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
        let argv_empty = command
            .first()
            .or(args.first())
            .is_none_or(String::is_empty);
        if !self.shared.runtime.pulls_images() && argv_empty {
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
        let env = match env::container_env(&self.shared, pod, container, &addresses).await {
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
        let restart_count = self.next_restart_count(&name);
        let runtime = self.shared.runtime.clone();
        let spec = ContainerSpec {
            pod: PodRef {
                uid: &self.uid,
                namespace: &self.record.namespace,
                name: &self.record.name,
            },
            container: &name,
            restart_count,
            image: str_at(container, "/image").unwrap_or_default(),
            image_pull_policy: str_at(container, "/imagePullPolicy").unwrap_or("IfNotPresent"),
            command,
            args,
            env,
            declares_path: env::declares(container, "PATH"),
            working_dir,
            limits,
            mounts,
            run_as,
            log: self.log_path(&name, restart_count),
            netns: self.record.pod_ip.is_some().then(|| self.netns()),
            sandbox_id: self.record.sandbox_id.as_deref(),
        };
        let created = match runtime.create(spec).await {
            Ok(created) => Ok(created),
            Err(CreateError::Blocked { reason, message }) => {
                self.block(&name, &reason, &message);
                return retry;
            }
            Err(CreateError::Failed(failed)) => Err(failed),
        };
        self.blocked.remove(&name);
        // Started and recorded in one step, under the gate.
        let gate = self.shared.gate.clone();
        let mut created = Some(created);
        gate.run(|| {
            if let Some(created) = created.take() {
                let started = created.and_then(|c| c.start(&mut self.record.mount_points));
                self.record_start(&name, restart_count, started);
            }
        });
        if let Some(Ok(created)) = created {
            // The agent stopped meanwhile: nothing records the container.
            created.abandon();
        }
        None
    }

    /// The restart count of the container's next start.
    pub(super) fn next_restart_count(&self, name: &str) -> u32 {
        match self.record.containers.get(name) {
            Some(record) if record.started_once => record.restart_count.saturating_add(1),
            _ => 0,
        }
    }

    pub(super) fn log_path(&self, name: &str, restart_count: u32) -> std::path::PathBuf {
        container_log_path(
            &self.shared.config.data_dir,
            &self.record.namespace,
            &self.record.name,
            &self.uid,
            name,
            restart_count,
        )
    }

    /// Records how a process ended and kills what it left in its group.
    pub(super) fn record_exit(&mut self, exit: Exit) {
        let back_off = self.shared.config.crash_loop_back_off;
        let Some(record) = self.record.containers.get_mut(&exit.container) else {
            return;
        };
        if record.running.as_ref().is_none_or(|p| p.pid != exit.pid) {
            return;
        }
        let pod = PodRef {
            uid: &self.uid,
            namespace: &self.record.namespace,
            name: &self.record.name,
        };
        let runtime = &self.shared.runtime;
        let recorded = self.shared.gate.run(|| {
            let oom_killed = match &record.running {
                Some(process) => runtime.remove_exited(pod, &exit.container, process),
                None => false,
            };
            end(
                record,
                exit.code,
                exit.oom_killed || oom_killed,
                exit.at,
                &back_off,
            );
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
    pub(super) async fn finish(&mut self) {
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
    pub(super) async fn stop_pod(&mut self, being_deleted: Option<Arc<Value>>) {
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
        let containers = self.record.containers.keys().cloned().collect();
        (self.shared.runtime)
            .release_containers(&self.uid, containers, &self.shared.gate)
            .await;
        self.teardown_network().await;
        let mount_points = std::mem::take(&mut self.record.mount_points);
        self.shared
            .gate
            .run(|| volumes::remove_created(&mount_points));
        if self.shared.gate.run(|| ()).is_some() {
            self.shared.runtime.remove_pod_sandbox(&self.uid).await;
        }
        self.record.sandbox_id = None;
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
    pub(super) async fn stop_processes(&mut self, grace: Duration) {
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

    pub(super) fn signal_running(&self, signal: Signal) {
        for (name, _) in self.running() {
            self.signal(&name, None, signal);
        }
    }

    /// Signals the container's current process (if it is still `pid`).
    pub(super) fn signal(&self, name: &str, pid: Option<u32>, signal: Signal) {
        let Some(process) = (self.record.containers.get(name))
            .and_then(|c| c.running.as_ref())
            .filter(|process| pid.is_none_or(|pid| process.pid == pid))
        else {
            return;
        };
        let pod = PodRef {
            uid: &self.uid,
            namespace: &self.record.namespace,
            name: &self.record.name,
        };
        (self.shared.gate).run(|| (self.shared.runtime).signal(pod, name, process, signal));
    }

    pub(super) async fn wait_running(&mut self, deadline: Instant) {
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
    pub(super) fn running(&self) -> Vec<(String, Identity)> {
        (self.record.containers.iter())
            .filter_map(|(name, c)| Some((name.clone(), c.running.as_ref()?.identity())))
            .collect()
    }

    /// Deletes the pod object (still this pod) now that nothing runs.
    pub(super) async fn delete_for_good(&self) {
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

    pub(super) fn phase(&self, name: &str) -> Phase {
        match self.record.containers.get(name) {
            Some(c) if c.running.is_some() => Phase::Running,
            Some(ContainerRecord {
                terminated: Some(t),
                ..
            }) => Phase::Exited(t.exit_code),
            _ => Phase::NotStarted,
        }
    }

    /// An event about this pod, as the kubelet reports it.
    pub(super) fn event(&self, warning: bool, reason: &'static str, message: String) {
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

    pub(super) fn block(&mut self, name: &str, reason: &str, message: &str) {
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

    pub(super) fn save(&self) {
        self.shared.gate.run(|| self.save_ungated());
    }

    /// For callers already under the gate.
    pub(super) fn save_ungated(&self) {
        if let Err(error) = checkpoint::save(&self.shared.config.data_dir, &self.record) {
            tracing::error!(namespace = self.record.namespace, pod = self.record.name, %error, "cannot write the pod's checkpoint; a restarted agent may not adopt its processes");
        }
    }
}

/// Waits for a container to end (`ended`, from its runtime).
pub(super) async fn exit_of(container: String, pid: u32, ended: BoxFuture<'static, Ended>) -> Exit {
    let Ended { code, oom_killed } = ended.await;
    Exit {
        container,
        pid,
        code,
        oom_killed,
        at: SystemTime::now(),
    }
}
