//! Wharf's disruption controller, a WebAssembly component (world
//! `wharf:plugin/controller`), following Kubernetes'
//! `pkg/controller/disruption`: it keeps each PodDisruptionBudget's status,
//! which the eviction subresource and `kubectl drain` honour.
//!
//! For each PodDisruptionBudget key it:
//!
//! 1. reads the budget (gone: nothing to do) and lists the pods its
//!    selector matches in its namespace (`{}` selects every pod, no
//!    selector none, as `policy/v1` says);
//! 2. works out how many pods are expected and how many must stay healthy
//!    ([`expected`]): `minAvailable` as an integer counts the pods
//!    themselves; a percentage, or any `maxUnavailable`, counts the scale
//!    (`spec.replicas`) of the pods' controllers — ReplicaSet, Deployment
//!    (through its ReplicaSet), StatefulSet, ReplicationController;
//! 3. forgets `status.disruptedPods` entries (pods the eviction
//!    subresource let go) once the pod is being deleted, is gone, or has
//!    outlived [`status::DELETION_TIMEOUT`] without being deleted;
//! 4. counts the healthy pods (Ready, not being deleted, not just
//!    evicted) and writes the status when it changed ([`status`]):
//!    expectedPods, desiredHealthy, currentHealthy, disruptionsAllowed,
//!    disruptedPods, observedGeneration and the `DisruptionAllowed`
//!    condition;
//! 5. asks to be reconciled again when the next `disruptedPods` entry
//!    expires.
//!
//! When the budget cannot be worked out (an invalid selector, a pod whose
//! controller cannot be found), it fails safe as kube does: zero
//! disruptions allowed and the condition `False` with reason `SyncFailed`.

pub mod controller;
pub mod expected;
pub mod status;
#[cfg(test)]
mod tests;

pub use controller::DisruptionController;

wharf_sdk::export_controller!(DisruptionController);
