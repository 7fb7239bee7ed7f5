//! Wharf's Deployment controller: Kubernetes' `pkg/controller/deployment`
//! as a WebAssembly component, so that `kubectl rollout status`,
//! `kubectl rollout history` and `kubectl rollout undo` work against Wharf
//! as against Kubernetes.
//!
//! A Deployment owns ReplicaSets, one per pod template it has had, named
//! `<deployment>-<pod-template-hash>`; the ReplicaSet controller makes the
//! pods. Each sync adopts and releases ReplicaSets by selector, finds (or
//! creates) the ReplicaSet of the current template, numbers the revisions,
//! takes one step of the strategy (RollingUpdate within
//! `maxSurge`/`maxUnavailable`, or Recreate), deletes old ReplicaSets beyond
//! `revisionHistoryLimit`, and writes the status and conditions that
//! `kubectl rollout status` reads. Scaling during a rollout, or of a paused
//! Deployment, is spread over the ReplicaSets in proportion to their sizes.
//!
//! # Modules, in the order a sync uses them
//!
//! - [`names`]: the label, annotations, condition and event reasons.
//! - `spec`: the spec with defaults, and `maxSurge`/`maxUnavailable` resolved.
//! - `claim`: which ReplicaSets and pods are the Deployment's (adoption, release).
//! - `hash`: the pod-template hash and the template comparison.
//! - `replica_sets`: sizes, orders, revisions and annotations of ReplicaSets.
//! - `sync`: one sync, in Kubernetes' order of decisions; `rolling`,
//!   `recreate`, `progress` and `rollback` add the strategies, the
//!   Progressing condition and the deprecated rollback request to it.
//! - `conditions`: setting Deployment conditions.

mod claim;
mod conditions;
mod hash;
pub mod names;
mod progress;
mod recreate;
mod replica_sets;
mod rollback;
mod rolling;
mod spec;
mod sync;

#[cfg(test)]
mod tests;

use wharf_sdk::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::prelude::*;

/// The Deployment controller. It keeps nothing between syncs: everything it
/// needs is in the Deployment, its ReplicaSets and their annotations.
#[derive(Debug, Default)]
pub struct DeploymentController;

impl Controller for DeploymentController {
    /// Deployments, woken by their ReplicaSets and by those ReplicaSets'
    /// pods (a Recreate rollout waits for the old pods to go).
    fn registration(_config: &serde_json::Value) -> Result<Registration, Error> {
        Ok(Registration::new::<Deployment>()
            .owns::<ReplicaSet>()
            .owns::<Pod>())
    }

    fn reconcile(
        &self,
        ctx: &Context<'_>,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Action, Error> {
        let Some(deployment) = ctx.get::<Deployment>(namespace, name)? else {
            // Deleted: the garbage collector removes its ReplicaSets.
            return Ok(Action::Done);
        };
        sync::sync_deployment(ctx, deployment)
    }
}

wharf_sdk::export_controller!(DeploymentController);
