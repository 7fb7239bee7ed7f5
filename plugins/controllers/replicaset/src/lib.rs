//! Wharf's ReplicaSet controller, a WebAssembly component (world
//! `wharf:plugin/controller`), following Kubernetes'
//! `pkg/controller/replicaset`. The same component is kube's
//! ReplicationController controller (`pkg/controller/replication`) when its
//! Plugin's `spec.config` says `kind: ReplicationController`
//! (`replicationcontroller.yaml`): kube runs the ReplicaSet logic over a
//! conversion, and so does this crate ([`kind`]).
//!
//! For each ReplicaSet key it:
//!
//! 1. reads the ReplicaSet (gone: nothing to do, garbage collection removes
//!    its pods) and lists every pod of its namespace;
//! 2. claims pods ([`claim`]): adopts active orphans the selector matches,
//!    releases pods it controls that the selector no longer matches, and
//!    ignores pods being deleted or finished (Succeeded, Failed);
//! 3. unless a previous reconcile's creations or deletions are still unseen
//!    ([`wharf_sdk::expectations`]) or the ReplicaSet is being deleted, creates missing
//!    pods from the template in slow-start batches (1, 2, 4…, stopping after
//!    the first batch with a failure) or deletes the surplus, preferring
//!    pods that are unscheduled, pending, not ready, cheap to delete,
//!    crowded on a node, recently ready, restarting or young ([`pods`]),
//!    at most 500 either way, with `SuccessfulCreate`, `FailedCreate`,
//!    `SuccessfulDelete`, `FailedDelete` events;
//! 4. writes the status ([`status`]) when it changed: replicas,
//!    fullyLabeledReplicas, readyReplicas, availableReplicas,
//!    terminatingReplicas, observedGeneration, and the `ReplicaFailure`
//!    condition while creating or deleting fails;
//! 5. asks to be reconciled again when a ready pod will have been ready for
//!    `minReadySeconds`, since availability comes with time, not an event.
//!
//! An error (a failed create, delete, adoption or status write) is returned
//! after the status is written, and the host retries the key with backoff.

pub mod claim;
pub mod controller;
pub mod kind;
pub mod pods;
pub mod status;
#[cfg(test)]
mod tests;

pub use controller::ReplicaSetController;

wharf_sdk::export_controller!(ReplicaSetController);
