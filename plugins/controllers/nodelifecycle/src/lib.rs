//! Wharf's node lifecycle controller and taint manager, a WebAssembly
//! component (world `wharf:plugin/controller`), following Kubernetes'
//! `pkg/controller/nodelifecycle` and `pkg/controller/tainteviction`.
//!
//! For each Node key (woken by the Node's events, its pods' events, and
//! again when its grace period or a pod's toleration runs out) it:
//!
//! 1. judges the node's health ([`health`]): heard from through its Lease
//!    (`kube-node-lease/NAME`) or its Ready heartbeat within
//!    `nodeMonitorGracePeriodSeconds` (40 s), else its Ready, MemoryPressure,
//!    DiskPressure and PIDPressure conditions become `Unknown`
//!    (`NodeStatusUnknown`, "Kubelet stopped posting node status.") with a
//!    `NodeNotReady` event; pods on a node that is not Ready are marked not
//!    Ready (their endpoints go);
//! 2. keeps its taints ([`taints`]): NoSchedule taints mirroring its
//!    conditions and `spec.unschedulable` (`not-ready`, `unreachable`,
//!    `memory-pressure`, `disk-pressure`, `pid-pressure`,
//!    `network-unavailable`, `unschedulable`), and the NoExecute
//!    `not-ready` / `unreachable` taint while it is not Ready — added at the
//!    zone's eviction rate ([`zones`]: `nodeEvictionRate` per zone, slower
//!    or none when the zone is partially or fully disrupted), removed at once
//!    when it is Ready again;
//! 3. evicts ([`eviction`]) its pods that do not tolerate a NoExecute taint
//!    (any taint, not only its own) at once, and those that tolerate it for
//!    `tolerationSeconds` when that runs out: `DisruptionTarget` condition,
//!    `TaintManagerEviction` event, deletion. Their controllers recreate
//!    them elsewhere.
//!
//! Pods get their 300 s tolerations of `not-ready` and `unreachable` at
//! admission (the `default-toleration-seconds` admission plugin, as kube's
//! DefaultTolerationSeconds).

pub mod config;
pub mod controller;
pub mod eviction;
pub mod health;
pub mod taints;
#[cfg(test)]
mod tests;
pub mod zones;

pub use controller::NodeLifecycleController;

wharf_sdk::export_controller!(NodeLifecycleController);
