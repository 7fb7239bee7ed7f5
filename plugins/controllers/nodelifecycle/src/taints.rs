//! The taints the node lifecycle controller keeps on nodes, as kube's
//! `doNoScheduleTaintingPass` and `doNoExecuteTaintingPass` do: NoSchedule
//! taints mirroring the node's conditions and `spec.unschedulable`, and a
//! NoExecute taint (`not-ready` or `unreachable`) while it is not Ready.

use wharf_sdk::k8s_openapi::api::core::v1::{Node, Taint};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use wharf_sdk::taints::{
    DISK_PRESSURE, MEMORY_PRESSURE, NETWORK_UNAVAILABLE, NO_EXECUTE, NO_SCHEDULE, NOT_READY,
    PID_PRESSURE, UNREACHABLE, UNSCHEDULABLE, taint,
};

use crate::health::condition;

/// The NoSchedule taints this controller owns: a node carries exactly those
/// its conditions call for.
const NO_SCHEDULE_KEYS: [&str; 7] = [
    NOT_READY,
    UNREACHABLE,
    MEMORY_PRESSURE,
    DISK_PRESSURE,
    PID_PRESSURE,
    NETWORK_UNAVAILABLE,
    UNSCHEDULABLE,
];

/// The NoSchedule taints the node's conditions call for (`nodeConditionToTaintKeyStatusMap`).
pub fn no_schedule_keys(node: &Node) -> Vec<&'static str> {
    let status_of = |type_: &str| condition(node, type_).map(|c| c.status.as_str());
    let mut keys = Vec::new();
    match status_of("Ready") {
        Some("False") => keys.push(NOT_READY),
        Some("Unknown") => keys.push(UNREACHABLE),
        _ => {}
    }
    for (type_, key) in [
        ("MemoryPressure", MEMORY_PRESSURE),
        ("DiskPressure", DISK_PRESSURE),
        ("PIDPressure", PID_PRESSURE),
        ("NetworkUnavailable", NETWORK_UNAVAILABLE),
    ] {
        if status_of(type_) == Some("True") {
            keys.push(key);
        }
    }
    if node.spec.as_ref().and_then(|spec| spec.unschedulable) == Some(true) {
        keys.push(UNSCHEDULABLE);
    }
    keys
}

/// The NoExecute taint a node's Ready condition calls for: `not-ready` when
/// False, `unreachable` when Unknown, none when True (or never posted).
pub fn no_execute_key(node: &Node) -> Option<&'static str> {
    match condition(node, "Ready").map(|c| c.status.as_str()) {
        Some("False") => Some(NOT_READY),
        Some("Unknown") => Some(UNREACHABLE),
        _ => None,
    }
}

fn is_managed_no_execute(taint: &Taint) -> bool {
    taint.effect == NO_EXECUTE && (taint.key == NOT_READY || taint.key == UNREACHABLE)
}

/// The node's taints once its managed NoSchedule taints are `keys` (others
/// untouched, those kept keep their `timeAdded`); `None` when unchanged.
pub fn with_no_schedule(current: &[Taint], keys: &[&str]) -> Option<Vec<Taint>> {
    let managed = |taint: &Taint| {
        taint.effect == NO_SCHEDULE && NO_SCHEDULE_KEYS.contains(&taint.key.as_str())
    };
    let mut next: Vec<Taint> = current
        .iter()
        .filter(|taint| !managed(taint) || keys.contains(&taint.key.as_str()))
        .cloned()
        .collect();
    for key in keys {
        if !next
            .iter()
            .any(|taint| taint.effect == NO_SCHEDULE && taint.key == *key)
        {
            next.push(taint(key, NO_SCHEDULE));
        }
    }
    (next != current).then_some(next)
}

/// The node's taints once its managed NoExecute taint is `key` (added at
/// `now`, the other one removed); `None` when unchanged.
pub fn with_no_execute(current: &[Taint], key: Option<&str>, now: &Time) -> Option<Vec<Taint>> {
    let mut next: Vec<Taint> = current
        .iter()
        .filter(|taint| !is_managed_no_execute(taint) || Some(taint.key.as_str()) == key)
        .cloned()
        .collect();
    if let Some(key) = key
        && !next
            .iter()
            .any(|taint| taint.effect == NO_EXECUTE && taint.key == key)
    {
        next.push(Taint {
            time_added: Some(now.clone()),
            ..taint(key, NO_EXECUTE)
        });
    }
    (next != current).then_some(next)
}

/// Whether the node carries a managed NoExecute taint other than `key`, or
/// lacks `key`: adding one is what the eviction rate limits.
pub fn adds_no_execute(current: &[Taint], key: &str) -> bool {
    !current
        .iter()
        .any(|taint| taint.effect == NO_EXECUTE && taint.key == key)
}
