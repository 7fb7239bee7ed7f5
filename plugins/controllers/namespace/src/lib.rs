//! Wharf's namespace controller, a WebAssembly component (world
//! `wharf:plugin/controller`), following Kubernetes'
//! `pkg/controller/namespace` (its `namespaced_resources_deleter`).
//!
//! A deleted Namespace is marked `Terminating` by the API server and held by
//! its `spec.finalizers` (`kubernetes`). For each such Namespace key it:
//!
//! 1. asks the API server which kinds it serves (the `discovery` import:
//!    built-in and custom kinds alike);
//! 2. lists the Namespace's objects of every namespaced kind that can be
//!    listed and deleted, and deletes those not yet being deleted
//!    (propagation Background: their dependents follow);
//! 3. writes kube's conditions on the Namespace: `NamespaceDeletionDiscoveryFailure`,
//!    `NamespaceDeletionGroupVersionParsingFailure`,
//!    `NamespaceDeletionContentFailure`, `NamespaceContentRemaining` (which
//!    kinds still have how many objects) and `NamespaceFinalizersRemaining`
//!    (which finalizers hold how many of them), as `kubectl describe ns` shows;
//! 4. once nothing is left, removes `kubernetes` from `spec.finalizers`
//!    through the `namespaces/finalize` subresource, and the API server
//!    deletes the Namespace; until then it looks again shortly.

pub mod conditions;
pub mod controller;
#[cfg(test)]
mod tests;

pub use controller::NamespaceController;

wharf_sdk::export_controller!(NamespaceController);
