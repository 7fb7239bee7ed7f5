//! Wharf's ResourceQuota controller, a WebAssembly component (world
//! `wharf:plugin/controller`), following Kubernetes'
//! `pkg/controller/resourcequota`.
//!
//! For each ResourceQuota key it:
//!
//! 1. reads the ResourceQuota (gone: nothing to do);
//! 2. for each kind whose objects count towards a resource of its
//!    `spec.hard` (pods for `cpu` and `count/pods`, services for
//!    `services.nodeports`, deployments for `count/deployments.apps`…),
//!    lists the objects of its namespace that fall in the quota's scopes
//!    and adds up what each charges ([`usage`], with the same
//!    `wharf_sdk::quota` the admission rule charges with);
//! 3. writes the status when it changed: `hard` a copy of `spec.hard`,
//!    `used` the new counts (a resource it could not count keeps its last
//!    count).
//!
//! Pods and the other counted objects are not owned by quotas, so their
//! changes reach a quota through the resync: every quota is counted again
//! every `resyncSeconds` (10 by default; [`config`]). Admission charges new
//! objects at once; the resync gives back what deleted objects held.

pub mod config;
pub mod controller;
#[cfg(test)]
mod tests;
pub mod usage;

pub use controller::ResourceQuotaController;

wharf_sdk::export_controller!(ResourceQuotaController);
