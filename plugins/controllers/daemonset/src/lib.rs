//! Wharf's DaemonSet controller, a WebAssembly component (world
//! `wharf:plugin/controller`), following Kubernetes' `pkg/controller/daemon`.
//!
//! It reconciles DaemonSets, owns their Pods and ControllerRevisions, and is
//! woken for every DaemonSet by any Node event (`Wakes::All`). For each key it:
//!
//! 1. reads the DaemonSet (gone or being deleted: nothing to do; a selector
//!    selecting everything: a `SelectingAll` warning and nothing else), every
//!    Node and every Pod of its namespace;
//! 2. claims pods ([`claim`]): adopts orphans the selector matches, releases
//!    pods it controls that the selector no longer matches;
//! 3. builds its history ([`revisions`]): claims the namespace's
//!    ControllerRevisions, finds the one whose data
//!    (`{"spec":{"template":{…,"$patch":"replace"}}}`, what `kubectl rollout
//!    undo` patches the set with) equals the template now, or creates it
//!    (bumping `status.collisionCount` on a hash collision), gives it the
//!    highest revision number; its hash labels the pods it makes;
//! 4. decides per node ([`placement`]): a pod should run where the
//!    template's nodeSelector, required node affinity and nodeName match and
//!    every NoSchedule and NoExecute taint is tolerated (with the tolerations
//!    every daemon pod gets: not-ready, unreachable, the pressure taints,
//!    unschedulable, network-unavailable for host-network pods); a running
//!    pod may stay where only a NoSchedule taint is not tolerated;
//! 5. unless a previous reconcile's creations or deletions are still unseen
//!    ([`wharf_sdk::expectations`]), manages the pods (`manage`): creates one
//!    where a node lacks it, deletes failed pods (a `FailedDaemonPod`
//!    warning, with a per-node backoff of 1 s doubling to 15 min) and
//!    succeeded ones, all but the oldest pod of a node (when surging, all but
//!    the oldest old and oldest new), the pods of nodes the set left, and
//!    unscheduled pods of nodes that are gone. A pod is created for its node
//!    through the scheduler: a required node affinity term
//!    `metadata.name In [node]`, no nodeName. At most 500 creations and 500
//!    deletions per pass, creations in slow-start batches of one
//!    `create_all` each, with `SuccessfulCreate`, `FailedCreate`,
//!    `SuccessfulDelete` and `FailedDelete` events;
//! 6. if manage did nothing, rolls the update ([`rolling`]): with
//!    RollingUpdate, deletes old pods while at most `maxUnavailable` nodes
//!    lack an available pod, or with `maxSurge` creates a new pod beside an
//!    old one on at most `maxSurge` nodes and deletes the old one once the
//!    new one is available; OnDelete does nothing;
//! 7. deletes the oldest revisions beyond `revisionHistoryLimit` that no pod
//!    still uses;
//! 8. writes the status ([`status`]) when it changed: desiredNumberScheduled,
//!    currentNumberScheduled, numberMisscheduled, numberReady,
//!    updatedNumberScheduled, numberAvailable, numberUnavailable and, when it
//!    managed, observedGeneration;
//! 9. asks to be reconciled again when a ready pod will have been ready for
//!    `minReadySeconds`, when a failed pod's backoff ends, or soon when the
//!    burst limit left work.
//!
//! A reconcile reads each node and pod a constant number of times: its cost
//! is linear in nodes plus pods. An error (a failed create, delete, adoption
//! or revision write) is returned after the status is written, and the host
//! retries the key with backoff.

pub mod backoff;
pub mod claim;
pub mod controller;
pub mod placement;
pub mod pods;
pub mod revisions;
pub mod rolling;
pub mod status;
#[cfg(test)]
mod tests;

pub use controller::DaemonSetController;

wharf_sdk::export_controller!(DaemonSetController);
