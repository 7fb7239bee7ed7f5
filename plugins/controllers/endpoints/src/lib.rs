//! Wharf's Endpoints and EndpointSlice controller, a WebAssembly component
//! (world `wharf:plugin/controller`), following Kubernetes'
//! `pkg/controller/endpoint` and `pkg/controller/endpointslice` (with
//! `k8s.io/endpointslice`'s reconciler): two controllers of the same
//! Service key, run one after the other.
//!
//! For each Service key it:
//!
//! 1. reads the Service. Gone: deletes the Endpoints of the same name and
//!    the EndpointSlices it managed for it (Kubernetes leaves slices to the
//!    garbage collector, which Wharf does not have yet). A Service of type
//!    ExternalName, or without a selector, is left alone: its Endpoints and
//!    slices, if any, are someone else's;
//! 2. lists the pods of its namespace that the selector matches
//!    ([`pods`]: with an IP, not Succeeded or Failed);
//! 3. computes the Endpoints ([`endpoints`]): ready and not-ready addresses
//!    (not-ready unless the `Ready` condition is True or the Service
//!    publishes not-ready addresses; terminating pods left out unless it
//!    does), target ports resolved per pod (named ports from the pod's
//!    containers), repacked into subsets of addresses that share the same
//!    ports, at most 1000 addresses. It writes them only when they differ,
//!    labelled as the Service (plus `service.kubernetes.io/headless`
//!    without a cluster IP);
//! 4. computes the EndpointSlices ([`slices`]): per address type of the
//!    Service, endpoints grouped by their resolved ports, at most
//!    `maxEndpointsPerSlice` (100) per slice, terminating pods included
//!    with their `ready`, `serving` and `terminating` conditions. It keeps
//!    existing slices, updates those whose endpoints changed, fills them
//!    before creating new ones (`<service>-` and a generated suffix,
//!    controlled by the Service), deletes those left empty, and keeps one
//!    empty placeholder slice when there are no endpoints at all.
//!
//! Pods are not owned by Services, so the host enqueues nothing for a pod
//! change: the registration asks for a resync of every Service every
//! `resyncSeconds` (1) instead. An error from either controller is
//! returned after both ran, and the host retries the key with backoff.

pub mod config;
pub mod controller;
pub mod endpoints;
pub mod ip;
pub mod names;
pub mod pods;
pub mod service;
pub mod slices;
#[cfg(test)]
mod tests;

pub use config::Config;
pub use controller::EndpointsController;

wharf_sdk::export_controller!(EndpointsController);
