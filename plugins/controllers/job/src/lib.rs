//! Wharf's Job controller, a WebAssembly component (world
//! `wharf:plugin/controller`), following Kubernetes' `pkg/controller/job`.
//!
//! For each Job key it:
//!
//! 1. reads the Job and the pods it controls (by its
//!    `batch.kubernetes.io/controller-uid` label and owner reference);
//! 2. counts finished pods exactly once, as kube's finalizer-tracked
//!    accounting does ([`tracking`]): a finished pod still holding the
//!    `batch.kubernetes.io/job-tracking` finalizer goes into
//!    `status.uncountedTerminatedPods` (written), then loses its finalizer,
//!    then moves into `succeeded`/`failed` (written again), so a restart at
//!    any point neither loses nor repeats a count;
//! 3. decides whether the Job is finished: its completions reached
//!    (`SuccessCriteriaMet`, then `Complete` once no pod runs), its
//!    `backoffLimit` passed or its `activeDeadlineSeconds` over
//!    (`FailureTarget`, then `Failed`), with kube's reasons, messages and
//!    events;
//! 4. otherwise, unless suspended (`Suspended` condition, active pods
//!    deleted), creates pods up to `parallelism` from the template — for an
//!    Indexed Job one per index not yet succeeded, with the
//!    `batch.kubernetes.io/job-completion-index` annotation and label, the
//!    `JOB_COMPLETION_INDEX` variable and the hostname `JOB-INDEX` — waiting
//!    out kube's exponential backoff (10 s, doubled per failure, at most
//!    6 minutes) after failures;
//! 5. writes the status (`active`, `ready`, `terminating`, `succeeded`,
//!    `failed`, `completedIndexes`, `startTime`, `completionTime`) when it
//!    changed, and asks to be reconciled again when a deadline or backoff
//!    ends, or when a finished Job's `ttlSecondsAfterFinished` runs out (then
//!    it deletes the Job, as kube's TTL-after-finished controller does).
//!
//!
//! With kube's policies: `podFailurePolicy` ([`failure_policy`]: a failed
//! pod's exit codes or conditions fail the Job at once — reason
//! `PodFailurePolicy` — or its index, or are not counted), for Indexed
//! Jobs `backoffLimitPerIndex` and `maxFailedIndexes` ([`indexes`]:
//! failures counted per index on the pods' annotations, `failedIndexes`,
//! reasons `FailedIndexes` and `MaxFailedIndexesExceeded`) and
//! `successPolicy` ([`success_policy`]: `SuccessCriteriaMet` with reason
//! `SuccessPolicy` once a rule's indexes succeeded). With a
//! `podFailurePolicy` or `podReplacementPolicy: Failed`, a deleted pod is
//! replaced and counted only once it has failed.
//!
//! Not yet: `managedBy`; the `restartPolicy: OnFailure` restart count
//! against `backoffLimit`.

pub mod controller;
pub mod failure_policy;
pub mod indexes;
pub mod pods;
pub mod status;
pub mod success_policy;
#[cfg(test)]
mod tests;
pub mod tracking;

pub use controller::JobController;

wharf_sdk::export_controller!(JobController);
