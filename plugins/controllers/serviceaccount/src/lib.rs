//! Wharf's ServiceAccounts controller and root CA publisher, a WebAssembly
//! component (world `wharf:plugin/controller`), following two controllers
//! of kube-controller-manager over the same Namespace key:
//! `pkg/controller/serviceaccount` (`serviceaccounts_controller.go`) and
//! `pkg/controller/certificates/rootcacertpublisher` (`publisher.go`).
//!
//! For each Namespace key it:
//!
//! 1. reads the Namespace. Gone, or being deleted (a `deletionTimestamp`,
//!    or `status.phase: Terminating`): nothing to do, since the API server
//!    refuses new objects in it;
//! 2. makes sure the ServiceAccount `default` exists ([`service_accounts`]),
//!    creating it when it does not;
//! 3. when the Plugin's config holds a `rootCACert`, makes sure the
//!    ConfigMap `kube-root-ca.crt` holds exactly that bundle as `ca.crt`,
//!    with its description annotation ([`root_ca`]): created when missing,
//!    updated back when its data was edited, left alone when it matches.
//!
//! A create that finds the object already there is a success; one the
//! namespace refuses because it is going away ends the key rather than
//! being retried ([`namespace::create_in`]). An error from either part is
//! returned after both ran, and the host retries the key with backoff.
//!
//! Kubernetes watches ServiceAccounts and ConfigMaps and maps an event on
//! `default` or `kube-root-ca.crt` to its namespace's key. A Wharf
//! registration maps an event on another kind only through a controlling
//! ownerReference, which neither object carries (as in Kubernetes). The
//! registration reads them (the host caches them) and asks for a resync of
//! every Namespace every `resyncSeconds` (10) instead: one deleted or edited
//! by hand is put back within that time. A new Namespace is a primary
//! event and is served at once.

pub mod config;
pub mod controller;
pub mod names;
pub mod namespace;
pub mod root_ca;
pub mod service_accounts;
#[cfg(test)]
mod tests;

pub use config::Config;
pub use controller::ServiceAccountController;

wharf_sdk::export_controller!(ServiceAccountController);
