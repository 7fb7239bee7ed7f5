//! The controller: one reconcile per Namespace key runs the ServiceAccounts
//! controller, then the root CA publisher.
//!
//! The ServiceAccount `default` and the ConfigMap `kube-root-ca.crt` carry
//! no owner reference, so the host's `owns` wiring cannot map their events
//! to their namespace. The registration reads them (the host caches them)
//! and asks for a resync of every Namespace every `resyncSeconds` instead.

use std::cell::Cell;

use wharf_sdk::k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use wharf_sdk::prelude::*;

use crate::config::Config;
use crate::{namespace, root_ca, service_accounts};

/// Reconciles Namespaces into their `default` ServiceAccount and their
/// `kube-root-ca.crt` ConfigMap.
#[derive(Debug, Default)]
pub struct ServiceAccountController {
    config: Config,
    /// Whether this instance has said that it publishes no root CA.
    /// `configure` has no log; the instance's first reconcile says it.
    warned_without_root_ca: Cell<bool>,
}

impl Controller for ServiceAccountController {
    fn registration(config: &serde_json::Value) -> Result<Registration, Error> {
        let config = Config::from_json(config)?;
        Ok(Registration::new::<Namespace>()
            .reads::<ServiceAccount>()
            .reads::<ConfigMap>()
            .resync(config.resync))
    }

    fn configure(&mut self, config: &serde_json::Value) -> Result<(), Error> {
        self.config = Config::from_json(config)?;
        self.warned_without_root_ca.set(false);
        Ok(())
    }

    /// `syncNamespace` of both controllers.
    fn reconcile(
        &self,
        ctx: &Context,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Action, Error> {
        if let Some(namespace) = namespace {
            ctx.warn(format!(
                "Namespace key {namespace}/{name} has a namespace; ignoring it"
            ));
            return Ok(Action::Done);
        }
        self.warn_once_without_root_ca(ctx);
        let Some(object) = ctx.get::<Namespace>(None, name)? else {
            return Ok(Action::Done);
        };
        if !namespace::accepts_content(&object) {
            // The API server refuses new objects in it.
            ctx.trace(format!("Namespace {name}: being deleted; skipped"));
            return Ok(Action::Done);
        }

        // Two controllers in Kubernetes: one failing does not stop the other.
        let service_accounts_result = service_accounts::sync(ctx, name);
        let root_ca_result = match &self.config.root_ca_cert {
            Some(root_ca) => root_ca::sync(ctx, name, root_ca),
            None => Ok(()),
        };
        service_accounts_result?;
        root_ca_result?;
        Ok(Action::Done)
    }
}

impl ServiceAccountController {
    fn warn_once_without_root_ca(&self, ctx: &Context) {
        if self.config.root_ca_cert.is_none() && !self.warned_without_root_ca.replace(true) {
            ctx.warn(
                "no rootCACert in the Plugin's config: kube-root-ca.crt is not published \
                 (the default ServiceAccounts still are)",
            );
        }
    }
}
