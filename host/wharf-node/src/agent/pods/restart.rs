//! Restarts: when an exited container starts again (CrashLoopBackOff: the
//! first restart is immediate, then the delay starts at `initial` and
//! doubles to `max`; a process that ran `reset_after` starts over), and
//! what a start and an end record.

use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::time::Instant;

use super::worker::{Worker, exit_of};
use super::{after, millis, name_of, rfc3339};
use crate::agent::checkpoint::{ContainerRecord, RunningProcess};
use crate::agent::runtime::{StartFailed, Started};
use crate::agent::status::Termination;

impl Worker {
    /// Starts a container that is not running, now or when its back-off
    /// ends (returned).
    pub(super) async fn ensure_running(
        &mut self,
        pod: &Value,
        container: &Value,
    ) -> Option<Instant> {
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

    /// Records a start (or a failure to start), with its restart count and
    /// back-off, and its events, and waits for its end. For callers under
    /// the gate.
    pub(super) fn record_start(
        &mut self,
        name: &str,
        restart_count: u32,
        outcome: Result<Started, StartFailed>,
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
            Ok(Started {
                identity,
                container_id,
                exit,
            }) => {
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
                self.processes
                    .spawn(exit_of(name.to_string(), identity.pid, exit));
            }
            Err(StartFailed { what, message }) => {
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
}

/// Records that a container's process ended (`code` unknown: `None`).
pub(super) fn end(
    record: &mut ContainerRecord,
    code: Option<i32>,
    oom_killed: bool,
    at: SystemTime,
    back_off: &crate::agent::BackOffConfig,
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

/// A duration as Go prints one (`10s`, `1m20s`, `5m0s`, `100ms`, `1.6s`).
pub(super) fn go_duration(duration: Duration) -> String {
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
        let back_off = crate::agent::BackOffConfig::default();
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
