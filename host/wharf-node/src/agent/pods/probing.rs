//! What the probes' findings do: a container started or ready is reported
//! so; one whose liveness or startup probe failed is killed (SIGTERM, then
//! SIGKILL after its grace period) and restarted as any that ended.

use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::worker::Worker;
use super::{
    after, containers, earliest, grace_with_minimum, is_sidecar, millis, name_of, restart_policy,
};
use crate::agent::env::{self, PodAddresses, str_at};
use crate::agent::probes::{self, ContainerProbes, Finding, Known, ProbeKind, Report, Target};
use crate::agent::process::{DEFAULT_PATH, Signal};

/// What the probes found of a container's current process.
pub(super) struct Probed {
    pub(super) pid: u32,
    /// The startup probe succeeded (or there is none).
    pub(super) started: bool,
    /// The readiness probe's verdict.
    pub(super) ready: bool,
    /// The task probing it.
    pub(super) task: AbortHandle,
    pub(super) health: Health,
}

/// Whether a probed process is being killed for failing a probe.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Health {
    /// Probed; nothing is wrong.
    Probing,
    /// Its liveness or startup probe failed: SIGTERM sent, SIGKILL due at
    /// this instant.
    Stopping(Instant),
    /// SIGKILL sent; its end is awaited.
    Killed,
}

impl Worker {
    /// Whether a running container has started and is ready, as far as
    /// its probes say (without probes: both).
    pub(super) fn probe_flags(&self, container: &Value, pid: u32) -> (bool, bool) {
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
    pub(super) fn started(&self, container: &Value) -> bool {
        let record = self.record.containers.get(name_of(container));
        match record.and_then(|r| r.running.as_ref()) {
            Some(process) => self.probe_flags(container, process.pid).0,
            None => false,
        }
    }

    /// Starts probing every running app container and sidecar that
    /// declares probes and is not probed yet (just started, or adopted).
    pub(super) async fn ensure_probes(&mut self, pod: &Value) {
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
                runtime: Some((self.shared.runtime.clone(), process.clone())),
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
    pub(super) fn probed(&mut self, report: Report) {
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
    pub(super) fn escalate_kills(&mut self) -> Option<Instant> {
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
    pub(super) fn stop_probing(&mut self) {
        self.probe_tasks.abort_all();
        self.probed.clear();
    }
}

/// What the pod's status already says of a container's process `pid`: an
/// adopted process keeps being started and ready until its probes say
/// otherwise, rather than flapping when the agent restarts.
pub(super) fn reported(pod: &Value, container: &str, id: &str) -> Known {
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
