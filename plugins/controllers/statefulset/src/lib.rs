//! Wharf's StatefulSet controller, a WebAssembly component (world
//! `wharf:plugin/controller`), following Kubernetes'
//! `pkg/controller/statefulset`.
//!
//! A StatefulSet keeps `spec.replicas` pods with stable identities: pod
//! `<set>-<ordinal>` (ordinals from `spec.ordinals.start`), hostname its
//! name, subdomain `spec.serviceName`, labelled
//! `statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index` and
//! `controller-revision-hash`, with a PersistentVolumeClaim
//! `<template>-<set>-<ordinal>` per volumeClaimTemplate that outlives it.
//!
//! For each StatefulSet key it:
//!
//! 1. reads the set (gone: nothing to do, garbage collection removes its
//!    pods and revisions), lists the ControllerRevisions its selector
//!    matches and adopts orphans ([`revisions`]);
//! 2. lists every pod of the namespace and claims them ([`adoption`]):
//!    adopts orphans the selector matches whose names are the set's,
//!    releases pods it controls that no longer match;
//! 3. finds the current and update revisions, creating or renumbering one
//!    when the template changed ([`revisions`]);
//! 4. unless pods it created or deleted are not yet seen
//!    ([`wharf_sdk::expectations`]) or the set is being deleted, creates,
//!    updates and deletes pods and claims ([`update`], [`pod_control`],
//!    [`volumes`]): in ordinal order waiting for each to be Running, Ready
//!    and available (`OrderedReady`) or all at once (`Parallel`); failed
//!    pods replaced; scale-down from the highest ordinal; a rolling update
//!    from the highest ordinal down to the partition, `maxUnavailable` at a
//!    time; claims owned by the set or the condemned pod as
//!    `persistentVolumeClaimRetentionPolicy` asks; with
//!    `SuccessfulCreate`, `FailedCreate`, `SuccessfulDelete`,
//!    `FailedDelete` (and `…Update`) events;
//! 5. writes the status when it changed ([`status`]): replicas,
//!    readyReplicas, availableReplicas, currentReplicas, updatedReplicas,
//!    observedGeneration, currentRevision, updateRevision (the current
//!    revision once every pod is updated and ready), collisionCount;
//! 6. deletes the oldest revisions beyond `revisionHistoryLimit` that
//!    neither the status nor a pod uses;
//! 7. asks to be reconciled again when a ready pod will have been ready for
//!    `minReadySeconds`, since availability comes with time, not an event.
//!
//! An error is returned after the status is written, and the host retries
//! the key with backoff.

pub mod adoption;
pub mod controller;
pub mod identity;
pub mod pod_control;
pub mod revisions;
pub mod status;
#[cfg(test)]
mod tests;
pub mod update;
pub mod volumes;

pub use controller::StatefulSetController;

wharf_sdk::export_controller!(StatefulSetController);
