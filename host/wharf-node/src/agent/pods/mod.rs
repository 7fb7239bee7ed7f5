//! Pods: the watch of the pods bound to this node, and one worker task per
//! pod (by UID) that runs it through the agent's runtime
//! ([`ContainerRuntime`](super::runtime::ContainerRuntime)): the worker
//! decides and records, the runtime runs; no driver is named here.
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
//!
//! Along the pod's life: `dispatch.rs` (the watch, a worker per pod),
//! `worker.rs` (the worker's state machine: sync, init and app
//! containers, completion, stopping and deletion), `restart.rs` (back-off
//! and what a start and an end record), `probing.rs` (the probes'
//! effects), `pod_status.rs` (the status written), `network.rs` (the pod's
//! network and sandbox); `lifecycle_tests.rs` runs the state machine
//! through a fake runtime.

mod dispatch;
#[cfg(test)]
mod lifecycle_tests;
mod network;
mod pod_status;
mod probing;
mod restart;
mod worker;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::time::Instant;

use super::env::str_at;

pub(super) use dispatch::run;
pub(super) use network::node_pod_cidr;

/// The kubelet's shortest grace period for stopping a container.
const MIN_GRACE_SECONDS: u64 = 2;
/// The kubelet's default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE_SECONDS: u64 = 30;
/// How long SIGKILLed processes may take to be seen gone.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// When a failed status write is tried again.
const STATUS_RETRY: Duration = Duration::from_secs(1);

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
