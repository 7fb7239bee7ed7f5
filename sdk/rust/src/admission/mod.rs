//! Admission plugins: a look at every write before it is stored, as
//! Kubernetes' admission webhooks have, without the webhook's round trip.
//!
//! A plugin implements [`Admission`] and exports it with
//! [`export_admission!`](crate::export_admission) (the crate enables the
//! SDK's `admission` feature, without the default `controller` one). The
//! host calls [`Admission::review`] for each write of the kinds and
//! operations it registered; a mutating plugin may answer with changes
//! ([`Response::patch`]), any plugin may deny ([`Response::deny`]) and add
//! warnings, which kubectl prints.
//!
//! # A plugin
//!
//! Gives every new Pod a `team` label (mutating) and refuses one in the
//! namespace `frozen`:
//!
//! ```
//! use wharf_sdk::admission::{Admission, Operation, Registration, Request, Response};
//! use wharf_sdk::k8s_openapi::api::core::v1::Pod;
//! use wharf_sdk::prelude::*;
//!
//! #[derive(Default)]
//! struct Teams;
//!
//! impl Admission for Teams {
//!     fn registration(_config: &serde_json::Value) -> Result<Registration, Error> {
//!         Ok(Registration::mutating().kind::<Pod>().operations(&[Operation::Create]))
//!     }
//!
//!     fn review(&self, _ctx: &Context, request: &Request) -> Result<Response, Error> {
//!         if request.namespace.as_deref() == Some("frozen") {
//!             return Ok(Response::deny("the namespace frozen takes no new pods"));
//!         }
//!         let mut pod: Pod = request.object()?;
//!         let labels = pod.metadata.labels.get_or_insert_with(Default::default);
//!         if labels.contains_key("team") {
//!             return Ok(Response::allow());
//!         }
//!         labels.insert("team".into(), "unknown".into());
//!         Ok(Response::patch(request, &pod)?.warn("no team label: set to unknown"))
//!     }
//! }
//!
//! wharf_sdk::export_admission!(Teams);
//! # // Its test, with no host:
//! # use wharf_sdk::admission::testing::Harness;
//! # let harness = Harness::<Teams>::new(serde_json::json!({})).unwrap();
//! # let response = harness.review_yaml("
//! # operation: CREATE
//! # namespace: default
//! # object: {apiVersion: v1, kind: Pod, metadata: {name: web}, spec: {containers: [{name: app, image: nginx}]}}
//! # ").unwrap();
//! # let pod = harness.patched(&response).unwrap();
//! # assert_eq!(pod["metadata"]["labels"]["team"], "unknown");
//! # assert_eq!(response.warnings, ["no team label: set to unknown"]);
//! ```
//!
//! Test it with [`testing::Harness`] (native targets): requests built from
//! YAML, the cluster a [`FakeCluster`](crate::testing::FakeCluster).

#[cfg(any(not(target_arch = "wasm32"), doc))]
pub mod testing;
mod types;
#[cfg(all(target_arch = "wasm32", feature = "admission"))]
#[doc(hidden)]
pub mod wit;

pub use types::{
    Decision, Operation, PatchOperation, Registration, Request, Response, StatusUpdate, UserInfo,
};

use crate::context::Context;
use crate::error::Result;

/// What an admission plugin implements: one instance per component
/// instance, built on `init` with `Default` and then
/// [`configure`](Admission::configure).
pub trait Admission: Default + 'static {
    /// What the plugin reviews, from the Plugin's `spec.config`.
    fn registration(config: &serde_json::Value) -> Result<Registration>;

    /// Reads the Plugin's `spec.config` into the instance.
    fn configure(&mut self, config: &serde_json::Value) -> Result<()> {
        let _ = config;
        Ok(())
    }

    /// Judges one write. An error is the plugin's failure (the host applies
    /// the Plugin's `failurePolicy`), not a denial: deny with
    /// [`Response::deny`].
    fn review(&self, ctx: &Context<'_>, request: &Request) -> Result<Response>;
}
