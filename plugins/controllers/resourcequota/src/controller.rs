//! The ResourceQuota controller (as Kubernetes' `syncResourceQuota`):
//! `status.hard` follows `spec.hard`, `status.used` what the namespace uses.

use wharf_sdk::k8s_openapi::api::core::v1::{ResourceQuota, ResourceQuotaStatus};
use wharf_sdk::prelude::*;
use wharf_sdk::quantity::{resource_list, to_wire_list};
use wharf_sdk::quota::mask;

use crate::config::Config;
use crate::usage::count_usage;

/// Reconciles ResourceQuotas; it owns nothing and reads what it counts
/// straight from the API server on each count.
#[derive(Debug, Default)]
pub struct ResourceQuotaController;

impl Controller for ResourceQuotaController {
    fn registration(config: &serde_json::Value) -> Result<Registration, Error> {
        let config = Config::from_json(config)?;
        Ok(Registration::new::<ResourceQuota>().resync(config.resync))
    }

    /// Counts the quota's resources and writes the status if it changed.
    /// A kind that could not be listed fails the reconcile (retried with
    /// backoff) after the rest is written.
    fn reconcile(
        &self,
        ctx: &Context,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Action, Error> {
        let Some(namespace) = namespace else {
            ctx.warn(format!(
                "ResourceQuota key {name:?} has no namespace; ignoring it"
            ));
            return Ok(Action::Done);
        };
        let Some(quota) = ctx.get::<ResourceQuota>(Some(namespace), name)? else {
            return Ok(Action::Done);
        };
        let hard = resource_list(quota.spec.as_ref().and_then(|s| s.hard.as_ref()));
        let status = quota.status.as_ref();
        let old_hard = status.and_then(|s| s.hard.as_ref());
        let old_used = status.and_then(|s| s.used.as_ref());
        let previous = resource_list(old_used);

        let counted = count_usage(ctx, namespace, &quota, &hard);
        // What could not be counted keeps its last count; what the quota
        // no longer limits goes.
        let mut used = previous.clone();
        used.extend(counted.used);
        let used = mask(&used, |resource| hard.contains_key(resource));

        let dirty = old_hard.is_none()
            || old_used.is_none()
            || resource_list(old_hard) != hard
            || used != previous;
        if dirty {
            let mut updated = quota.clone();
            updated.status = Some(ResourceQuotaStatus {
                hard: Some(to_wire_list(&hard)),
                used: Some(to_wire_list(&used)),
            });
            ctx.update_status(&updated)?;
        }
        if !counted.uncountable.is_empty() {
            ctx.debug(format!(
                "ResourceQuota {namespace}/{name}: no known kind counts {}",
                counted.uncountable.join(", ")
            ));
        }
        if let Some((kind, error)) = counted.failures.into_iter().next() {
            return Err(Error::other(format!(
                "counting {} for ResourceQuota {namespace}/{name}: {error}",
                kind.kind
            )));
        }
        Ok(Action::Done)
    }
}
