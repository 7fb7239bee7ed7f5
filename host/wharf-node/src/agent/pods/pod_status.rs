//! The pod's status as the kubelet reports it, written when it changes.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use wharf_client::{ApiError, now_rfc3339};

use super::restart::go_duration;
use super::worker::Worker;
use super::{containers, is_sidecar, name_of, restart_policy};
use crate::agent::env::str_at;
use crate::agent::status::{self, ContainerView, PodView, State, Termination};

impl Worker {
    /// Writes the pod's status if it differs from what the API server has.
    pub(super) async fn write_status(&mut self, terminal: bool) {
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
    pub(super) fn view(&self, pod: &Value, terminal: bool) -> PodView {
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
}
