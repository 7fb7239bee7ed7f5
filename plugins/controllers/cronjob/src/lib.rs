//! Wharf's CronJob controller, a WebAssembly component (world
//! `wharf:plugin/controller`), following Kubernetes' `pkg/controller/cronjob`
//! (its second version).
//!
//! For each CronJob key it:
//!
//! 1. lists the Jobs it controls and brings `status.active` up to date:
//!    finished Jobs leave it (`SawCompletedJob`), a completed one moves
//!    `lastSuccessfulTime`;
//! 2. unless suspended, finds the most recent scheduled time not yet
//!    started ([`schedule`]: kube's cron syntax, macros, `timeZone` from the
//!    IANA database built in), after `lastScheduleTime` (else the CronJob's
//!    creation) and within `startingDeadlineSeconds`: at most one catch-up
//!    after a restart, with kube's "too many missed start times" event past
//!    100, and `MissSchedule` when it is past the deadline;
//! 3. starts its Job, named `NAME-MINUTES` (the scheduled minute since the
//!    epoch, so a time is never started twice) with the
//!    `batch.kubernetes.io/cronjob-scheduled-timestamp` annotation, as
//!    `concurrencyPolicy` allows: `Allow`, `Forbid` (`JobAlreadyActive`),
//!    `Replace` (the running Jobs deleted first);
//! 4. writes the status (`active`, `lastScheduleTime`,
//!    `lastSuccessfulTime`), deletes finished Jobs beyond
//!    `successfulJobsHistoryLimit` (3) and `failedJobsHistoryLimit` (1), and
//!    asks to be reconciled again just after the next scheduled time.

pub mod controller;
pub mod schedule;
#[cfg(test)]
mod tests;

pub use controller::CronJobController;

wharf_sdk::export_controller!(CronJobController);
