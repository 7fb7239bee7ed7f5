//! PodSecurity admission (kube's `k8s.io/pod-security-admission`): the Pod
//! Security Standards — `privileged`, `baseline`, `restricted` — that a
//! namespace chooses with its `pod-security.kubernetes.io/*` labels.
//!
//! [`PodSecurity`] is the plugin (world `admission`, validating): Pods are
//! judged against the namespace's `enforce` level (a violation refuses the
//! write with kube's `violates PodSecurity "…"` message) and its `warn`
//! level (warnings kubectl prints); workloads' pod templates get warnings
//! only, as kube does; `audit` violations become audit annotations.
//!
//! The logic:
//! - [`policy`] — levels, policy versions (`latest`, `v1.N`), and the
//!   namespace labels that pick them for enforce, warn and audit.
//! - [`checks`] — kube's checks, with its check IDs, reasons and details,
//!   and [`checks::evaluate`], which runs those of one level and version.
//! - [`workloads`] — the pod (or pod template) of a Pod and of the workload
//!   kinds kube checks.
//! - [`admission`] — what kube answers: the denial, the warnings and the
//!   audit annotations of one request.

pub mod admission;
pub mod checks;
pub mod policy;
pub mod workloads;

use wharf_sdk::GroupVersionKind;
use wharf_sdk::admission::{Admission, Operation, Registration, Request, Response};
use wharf_sdk::k8s_openapi::api::core::v1::{Namespace, Pod};
use wharf_sdk::prelude::*;

/// The plugin.
#[derive(Default)]
pub struct PodSecurity;

impl Admission for PodSecurity {
    fn registration(_config: &serde_json::Value) -> Result<Registration, Error> {
        let mut registration = Registration::validating()
            .operations(&[Operation::Create, Operation::Update])
            .reads::<Namespace>();
        for kind in workloads::KINDS {
            let (group, version) = match *kind {
                "Pod" | "PodTemplate" | "ReplicationController" => ("", "v1"),
                "Job" | "CronJob" => ("batch", "v1"),
                _ => ("apps", "v1"),
            };
            registration = registration.for_kind(GroupVersionKind::new(group, version, *kind));
        }
        Ok(registration)
    }

    fn review(&self, ctx: &Context, request: &Request) -> Result<Response, Error> {
        // Status, binding and other subresources do not change the pod spec.
        if request.sub_resource.is_some() {
            return Ok(Response::allow());
        }
        let Some(object) = &request.object else {
            return Ok(Response::allow());
        };
        let Some((metadata, spec)) = workloads::pod_spec_of(&request.kind.kind, object) else {
            return Ok(Response::allow());
        };
        let labels = match request.namespace.as_deref() {
            Some(namespace) => ctx
                .get::<Namespace>(None, namespace)?
                .and_then(|n| n.metadata.labels)
                .unwrap_or_default(),
            None => Default::default(),
        };
        let policy = policy::NamespacePolicy::from_labels(&labels, &Default::default());
        let review = if request.is::<Pod>() {
            if request.operation == Operation::Update
                && let (Ok(pod), Ok(old)) = (request.object::<Pod>(), request.old_object::<Pod>())
                && !admission::is_significant_pod_update(&pod, &old)
            {
                return Ok(Response::allow());
            }
            admission::review_pod(&policy, &metadata, &spec)
        } else {
            admission::review_workload(&policy, &metadata, &spec)
        };
        let mut response = match review.denial {
            Some(denial) => Response::deny(denial),
            None => Response::allow(),
        };
        for warning in review.warnings {
            response = response.warn(warning);
        }
        for (key, value) in review.audit_annotations {
            response = response.annotate(key, value);
        }
        Ok(response)
    }
}

wharf_sdk::export_admission!(PodSecurity);
