//! Node health as kube's `monitorNodeHealth` judges it: a node is heard
//! from through its Lease's `renewTime` or its Ready condition's
//! `lastHeartbeatTime`, whichever is later; past the grace period without
//! either, its conditions become `Unknown`.

use std::time::Duration;

use wharf_sdk::k8s_openapi::api::coordination::v1::Lease;
use wharf_sdk::k8s_openapi::api::core::v1::{Node, NodeCondition};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use wharf_sdk::k8s_openapi::jiff::Timestamp;

use crate::config::Config;

/// The conditions a kubelet posts that turn `Unknown` when it goes silent.
pub const WATCHED_CONDITIONS: [&str; 4] =
    ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// What the controller concludes about a node's heartbeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heard {
    /// Heard from in time; look again after this long if nothing changes.
    Recently(Duration),
    /// Silent past its grace period.
    Silent,
}

/// The node's condition of this type.
pub fn condition<'n>(node: &'n Node, type_: &str) -> Option<&'n NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|condition| condition.type_ == type_)
}

/// The Ready condition's status: `True`, `False`, `Unknown`, or `None`
/// when the node has posted none.
pub fn ready_status(node: &Node) -> Option<&str> {
    condition(node, "Ready").map(|condition| condition.status.as_str())
}

/// When the node was last heard from, and the grace it gets: the later of
/// its Lease renewal and Ready heartbeat with the grace period; its
/// creation with the startup grace period if it never posted.
fn last_heard(
    node: &Node,
    lease: Option<&Lease>,
    config: &Config,
) -> (Option<Timestamp>, Duration) {
    let renewed = lease
        .and_then(|lease| lease.spec.as_ref())
        .and_then(|spec| spec.renew_time.as_ref())
        .map(|time| time.0);
    let heartbeat = condition(node, "Ready")
        .and_then(|ready| ready.last_heartbeat_time.as_ref())
        .map(|time| time.0);
    match renewed.max(heartbeat) {
        Some(heard) => (Some(heard), config.grace),
        None => (
            node.metadata.creation_timestamp.as_ref().map(|time| time.0),
            config.startup_grace,
        ),
    }
}

/// Whether the node has been heard from within its grace period at `now`.
pub fn heard(node: &Node, lease: Option<&Lease>, now: Timestamp, config: &Config) -> Heard {
    let (since, grace) = last_heard(node, lease, config);
    let Some(since) = since else {
        // Nothing to go by (no creation time): wait a whole grace period.
        return Heard::Recently(grace);
    };
    let silent_for = now.duration_since(since);
    let silent_millis = u64::try_from(silent_for.as_millis()).unwrap_or(0);
    let grace_millis = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
    if silent_for.is_negative() {
        return Heard::Recently(grace);
    }
    if silent_millis > grace_millis {
        Heard::Silent
    } else {
        // Just past the deadline, so the next look finds it passed.
        Heard::Recently(Duration::from_millis(grace_millis - silent_millis + 100))
    }
}

/// Sets the watched conditions of a silent node to `Unknown`, as kube does
/// (`NodeStatusUnknown`, "Kubelet stopped posting node status."; a
/// condition never posted gets `NodeStatusNeverUpdated`). Returns whether
/// anything changed.
pub fn mark_unknown(node: &mut Node, now: &Time) -> bool {
    let status = node.status.get_or_insert_with(Default::default);
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let mut changed = false;
    for type_ in WATCHED_CONDITIONS {
        match conditions
            .iter_mut()
            .find(|condition| condition.type_ == type_)
        {
            Some(condition) if condition.status == "Unknown" => {}
            Some(condition) => {
                condition.status = "Unknown".into();
                condition.reason = Some("NodeStatusUnknown".into());
                condition.message = Some("Kubelet stopped posting node status.".into());
                condition.last_transition_time = Some(now.clone());
                changed = true;
            }
            None => {
                conditions.push(NodeCondition {
                    type_: type_.into(),
                    status: "Unknown".into(),
                    reason: Some("NodeStatusNeverUpdated".into()),
                    message: Some("Kubelet never posted node status.".into()),
                    last_heartbeat_time: node.metadata.creation_timestamp.clone(),
                    last_transition_time: Some(now.clone()),
                });
                changed = true;
            }
        }
    }
    changed
}
