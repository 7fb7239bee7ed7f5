//! Wharf's ResourceQuota admission rule, following Kubernetes'
//! `plugin/pkg/admission/resourcequota`.
//!
//! A new object is charged to every ResourceQuota of its namespace that
//! limits something it uses and whose scopes it falls in
//! ([`quota::admit`]): a pod must state the cpu and memory requests and
//! limits a quota limits ([`quota::constraints`]), and no quota may go over
//! its `hard` limits ([`quota::check`]). What it charges is computed as the
//! ResourceQuota controller recounts it (`wharf_sdk::quota::usage_of`).
//!
//! The result is each charged quota's new `status.used`, which the plugin
//! hands back as status updates: the host stores them in the same
//! transaction as the object, guarded by the quota's `resourceVersion`
//! (when a quota changed meanwhile, the host reviews the write again on
//! the newer quota), so two objects admitted at once cannot both take the
//! last unit, and a charge is never stored for an object that was not.
//!
//! [`QuotaAdmission`] is that caller (world `admission`, validating): it
//! reviews creates of the kinds it charges and updates of Services and
//! PersistentVolumeClaims (the only updates that can charge more), reads
//! the namespace's quotas from the host's cache, and charges them. A dry
//! run is checked but charges nothing.
//!
//! Where this differs from Kubernetes:
//!
//! - `resourcequotas` (the count of quotas) is not enforced on create: the
//!   registration's operations apply to every kind it names, and the
//!   plugin must not review the status writes it makes itself to quotas.
//!   The ResourceQuota controller still counts it.
//! - A charge is stored with its object in one transaction on the
//!   embedded store, so a write that fails after admission charges
//!   nothing (Kubernetes charges first and leaves the controller's next
//!   count to give it back; on etcd Wharf does the same).

pub mod quota;

use std::borrow::Cow;

use wharf_sdk::admission::{Admission, Operation, Registration, Request, Response};
use wharf_sdk::k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use wharf_sdk::k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Pod, ReplicationController, ResourceQuota, Secret, Service,
};
use wharf_sdk::prelude::*;
use wharf_sdk::serde_json::Value;

/// The plugin.
#[derive(Default)]
pub struct QuotaAdmission;

impl Admission for QuotaAdmission {
    fn registration(_config: &Value) -> Result<Registration, Error> {
        Ok(Registration::validating()
            .kind::<Pod>()
            .kind::<Service>()
            .kind::<PersistentVolumeClaim>()
            .kind::<ConfigMap>()
            .kind::<Secret>()
            .kind::<ReplicationController>()
            .kind::<Deployment>()
            .kind::<ReplicaSet>()
            .kind::<StatefulSet>()
            .kind::<DaemonSet>()
            .operations(&[Operation::Create, Operation::Update])
            .reads::<ResourceQuota>())
    }

    fn review(&self, ctx: &Context, request: &Request) -> Result<Response, Error> {
        if !charges(request) {
            return Ok(Response::allow());
        }
        let (Some(namespace), Some(object)) = (request.namespace.as_deref(), &request.object)
        else {
            return Ok(Response::allow());
        };
        let api_version = request.kind.api_version();
        let object = with_api_version(object, &api_version);
        let old = match request.operation {
            Operation::Update => request
                .old_object
                .as_ref()
                .map(|old| with_api_version(old, &api_version)),
            _ => None,
        };
        let write = Write {
            namespace,
            kind: &request.kind.kind,
            object: &object,
            old: old.as_deref(),
            dry_run: request.dry_run,
        };
        charge(ctx, &write)
    }
}

/// Whether the request can charge anything: creates, and updates of
/// Services and claims (Kubernetes' evaluators' `Handles`); never a
/// subresource.
fn charges(request: &Request) -> bool {
    if request.sub_resource.is_some() {
        return false;
    }
    match request.operation {
        Operation::Create => true,
        Operation::Update => request.is::<Service>() || request.is::<PersistentVolumeClaim>(),
        Operation::Delete => false,
    }
}

/// The object with its `apiVersion` (the charge of a kind depends on its
/// group); copied only when it has none.
fn with_api_version<'a>(object: &'a Value, api_version: &str) -> Cow<'a, Value> {
    if object.get("apiVersion").is_some() || !object.is_object() {
        return Cow::Borrowed(object);
    }
    let mut object = object.clone();
    if let Some(fields) = object.as_object_mut() {
        fields.insert("apiVersion".into(), Value::from(api_version));
    }
    Cow::Owned(object)
}

/// One write to charge.
struct Write<'a> {
    namespace: &'a str,
    kind: &'a str,
    object: &'a Value,
    /// The stored object, on an update.
    old: Option<&'a Value>,
    dry_run: bool,
}

/// Checks `write` against the namespace's quotas (as the host's cache has
/// them) and charges each one it applies to: its new status is stored with
/// the write, guarded by the resourceVersion read, so that two writes
/// admitted at once cannot both take the last unit. When a quota changed
/// since, the host reviews the write again once its cache shows the change.
fn charge(ctx: &Context, write: &Write<'_>) -> Result<Response, Error> {
    let quotas: Vec<ResourceQuota> = ctx.list(Some(write.namespace), &ListParams::default())?;
    let charges = match quota::admit(&quotas, write.kind, write.object, write.old) {
        Ok(charges) => charges,
        Err(refused) => return Ok(Response::deny(refused.to_string())),
    };
    let mut response = Response::allow();
    if !write.dry_run {
        for charge in charges {
            response = response.update_status(&charge.quota)?;
        }
    }
    Ok(response)
}

wharf_sdk::export_admission!(QuotaAdmission);

#[cfg(test)]
mod tests;
