//! The controller: one reconcile per Service key runs the Endpoints
//! controller, then the EndpointSlice controller, over the same pods.
//!
//! Pods are not owned by Services: the registration watches them with
//! `Wakes::Selecting("/spec/selector")`, so a pod's change wakes every
//! Service whose selector matches its labels (old or new), as kube's pod
//! handlers do. EndpointSlices are owned (a change to one wakes its Service
//! at once); Endpoints carry no owner reference, so they are only read, and
//! one deleted by hand comes back at the next resync (every
//! `resyncSeconds`, which also catches what no event announces, such as a
//! node's zone label).

use wharf_sdk::k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use wharf_sdk::k8s_openapi::api::discovery::v1::EndpointSlice;
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use wharf_sdk::prelude::*;

use crate::config::Config;
use crate::{endpoints, service, slices};

/// Reconciles Services into their Endpoints and EndpointSlices.
#[derive(Debug, Default)]
pub struct EndpointsController {
    config: Config,
}

impl Controller for EndpointsController {
    fn registration(config: &serde_json::Value) -> Result<Registration, Error> {
        let config = Config::from_json(config)?;
        Ok(Registration::new::<Service>()
            .owns::<EndpointSlice>()
            .reads::<Endpoints>()
            .watches::<Pod>(Wakes::Selecting("/spec/selector".into()))
            .resync(config.resync))
    }

    fn configure(&mut self, config: &serde_json::Value) -> Result<(), Error> {
        self.config = Config::from_json(config)?;
        Ok(())
    }

    /// `syncService` of both controllers.
    fn reconcile(
        &self,
        ctx: &Context,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Action, Error> {
        let Some(namespace) = namespace else {
            ctx.warn(format!(
                "Service key {name:?} has no namespace; ignoring it"
            ));
            return Ok(Action::Done);
        };
        let Some(service) = ctx.get::<Service>(Some(namespace), name)? else {
            // Gone: its Endpoints (same name, no owner) and its slices.
            let endpoints_result = endpoints::delete_for_service(ctx, namespace, name);
            let slices_result = slices::delete_for_service(ctx, namespace, name);
            endpoints_result?;
            slices_result?;
            return Ok(Action::Done);
        };
        if service::is_external_name(&service) {
            // A DNS alias: no endpoints (https://issues.k8s.io/105986).
            return Ok(Action::Done);
        }
        let Some(selector) = service::selector(&service) else {
            // Its endpoints are written by someone else, through the API.
            return Ok(Action::Done);
        };
        let selector = match Selector::from_label_selector(&LabelSelector {
            match_labels: Some(selector.clone()),
            match_expressions: None,
        }) {
            Ok(selector) => selector,
            Err(error) => {
                // Retrying cannot help until the Service changes.
                ctx.error(format!(
                    "Service {namespace}/{name} has an invalid selector: {error}"
                ));
                return Ok(Action::Done);
            }
        };
        let pods: Vec<Pod> = ctx.list(
            Some(namespace),
            &ListParams::default().labels(selector.to_string()),
        )?;

        // Two controllers in Kubernetes: one failing does not stop the other.
        let endpoints_result = endpoints::sync(ctx, &service, &pods);
        let slices_result = slices::sync(ctx, &service, &pods, self.config.max_endpoints_per_slice);
        endpoints_result?;
        slices_result?;
        Ok(Action::Done)
    }
}
