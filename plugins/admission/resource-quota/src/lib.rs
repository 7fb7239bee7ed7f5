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
//! The result is each charged quota's new `status.used`: the caller writes
//! it with the quota's `resourceVersion` as a precondition (on a conflict,
//! it reads the quotas again and retries), as kube-apiserver does, so two
//! objects admitted at once cannot both take the last unit.
//!
//! [`QuotaAdmission`] is that caller (world `admission`, validating): it
//! reviews creates of the kinds it charges and updates of Services and
//! PersistentVolumeClaims (the only updates that can charge more), reads
//! the namespace's quotas from the host's cache, and charges them by
//! writing their status. A dry run is checked but charges nothing.
//!
//! Where this differs from Kubernetes:
//!
//! - `resourcequotas` (the count of quotas) is not enforced on create: the
//!   registration's operations apply to every kind it names, and the
//!   plugin must not review the status writes it makes itself to quotas.
//!   The ResourceQuota controller still counts it.
//! - Conflicts that last through every retry deny the write (403) rather
//!   than answer 409 Conflict: an admission plugin can only allow or deny.
//! - Charges the API server then does not store (the write fails after
//!   admission) are given back by the controller's next count, as in
//!   Kubernetes.

pub mod quota;

use wharf_sdk::admission::{Admission, Operation, Registration, Request, Response};
use wharf_sdk::k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use wharf_sdk::k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Pod, ReplicationController, ResourceQuota, Secret, Service,
};
use wharf_sdk::prelude::*;
use wharf_sdk::serde_json::Value;

/// How many times a charge that lost a race is tried again on fresh
/// quotas (Kubernetes' `numRetries`).
pub const RETRIES: usize = 3;

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
            old: old.as_ref(),
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

/// The object with its `apiVersion` (the charge of a kind depends on its group).
fn with_api_version(object: &Value, api_version: &str) -> Value {
    let mut object = object.clone();
    if object.get("apiVersion").is_none()
        && let Some(fields) = object.as_object_mut()
    {
        fields.insert("apiVersion".into(), Value::from(api_version));
    }
    object
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

/// Checks `write` against the namespace's quotas and charges each one it
/// applies to by writing its new status, guarded by the resourceVersion
/// read. Quotas whose write lost a race (a conflict, or the quota went)
/// are read again and charged again, up to [`RETRIES`] times; the ones
/// already charged are not charged twice (`checkQuotas`).
fn charge(ctx: &Context, write: &Write<'_>) -> Result<Response, Error> {
    // The quotas still to charge; `None`: all of the namespace.
    let mut pending: Option<Vec<String>> = None;
    let mut lost = String::new();
    for _ in 0..=RETRIES {
        let mut quotas: Vec<ResourceQuota> =
            ctx.list(Some(write.namespace), &ListParams::default())?;
        if let Some(names) = &pending {
            quotas.retain(|quota| names.contains(&name_of(quota)));
        }
        let charges = match quota::admit(&quotas, write.kind, write.object, write.old) {
            Ok(charges) => charges,
            Err(refused) => return Ok(Response::deny(refused.to_string())),
        };
        if write.dry_run {
            return Ok(Response::allow());
        }
        let mut failed = Vec::new();
        for charge in charges {
            let name = name_of(&charge.quota);
            match ctx.update_status(&charge.quota) {
                Ok(_) => {}
                Err(error) if error.is_conflict() || error.is_not_found() => {
                    lost = name.clone();
                    failed.push(name);
                }
                Err(error) => return Err(error),
            }
        }
        if failed.is_empty() {
            return Ok(Response::allow());
        }
        pending = Some(failed);
    }
    Ok(Response::deny(format!(
        "Operation cannot be fulfilled on resourcequotas \"{lost}\": the object has been modified; \
         please apply your changes to the latest version and try again"
    )))
}

fn name_of(quota: &ResourceQuota) -> String {
    quota.metadata.name.clone().unwrap_or_default()
}

wharf_sdk::export_admission!(QuotaAdmission);

#[cfg(test)]
mod tests;
