//! Wharf's LimitRanger admission rule, following Kubernetes'
//! `plugin/pkg/admission/limitranger`.
//!
//! For a pod being created it fills in the resources its containers and
//! init containers leave out from the namespace's LimitRanges (`default` →
//! limits, `defaultRequest` → requests) and records what it set in the
//! `kubernetes.io/limit-ranger` annotation ([`limits::apply_defaults`]);
//! then it checks the pod, and PersistentVolumeClaims, against each
//! LimitRange's `min`, `max` and `maxLimitRequestRatio`
//! ([`limits::validate`], [`limits::validate_claim`]), with Kubernetes'
//! messages.
//!
//! [`LimitRanger`] is the plugin (world `admission`, mutating, CREATE of
//! Pods and PersistentVolumeClaims). Kubernetes checks in its validating
//! phase what it defaulted in its mutating one; here one review does both,
//! on the defaulted pod, so a denial names the limits the pod would have
//! been stored with. A denial is Kubernetes' message without its
//! `pods "x" is forbidden: ` prefix (the API server adds its own).
//!
//! Not reviewed, as in Kubernetes: pod updates (containers' resources
//! cannot change) and subresources. Unlike Kubernetes, claim updates (a
//! resize) are not checked either: the registration's operations apply to
//! every kind it names, and pod updates are too frequent to review for
//! nothing.

pub mod limits;

use wharf_sdk::admission::{Admission, Operation, Registration, Request, Response};
use wharf_sdk::k8s_openapi::api::core::v1::{
    Container, LimitRange, PersistentVolumeClaim, Pod, ResourceRequirements,
};
use wharf_sdk::prelude::*;
use wharf_sdk::serde_json::Value;

/// The plugin.
#[derive(Default)]
pub struct LimitRanger;

impl Admission for LimitRanger {
    fn registration(_config: &Value) -> Result<Registration, Error> {
        Ok(Registration::mutating()
            .kind::<Pod>()
            .kind::<PersistentVolumeClaim>()
            .operations(&[Operation::Create])
            .reads::<LimitRange>())
    }

    fn review(&self, ctx: &Context, request: &Request) -> Result<Response, Error> {
        if request.operation != Operation::Create || request.sub_resource.is_some() {
            return Ok(Response::allow());
        }
        let Some(namespace) = request.namespace.as_deref() else {
            return Ok(Response::allow());
        };
        let ranges: Vec<LimitRange> = ctx.list(Some(namespace), &ListParams::default())?;
        if ranges.is_empty() {
            return Ok(Response::allow());
        }
        if request.is::<Pod>() {
            review_pod(request, &ranges)
        } else if request.is::<PersistentVolumeClaim>() {
            let claim: PersistentVolumeClaim = request.object()?;
            Ok(match limits::validate_claim(&claim, &ranges) {
                Ok(()) => Response::allow(),
                Err(violations) => Response::deny(violations.to_string()),
            })
        } else {
            Ok(Response::allow())
        }
    }
}

/// Defaults the pod's resources, then checks the defaulted pod.
fn review_pod(request: &Request, ranges: &[LimitRange]) -> Result<Response, Error> {
    let original: Pod = request.object()?;
    let mut pod = original.clone();
    let annotation = limits::apply_defaults(&mut pod, ranges);
    if let Err(violations) = limits::validate(&pod, ranges) {
        return Ok(Response::deny(violations.to_string()));
    }
    let Some(annotation) = annotation else {
        return Ok(Response::allow());
    };
    let changed = with_defaults(request, &original, &pod, &annotation)?;
    Ok(Response::patch_json(request, &changed))
}

/// The request's object with only what the defaults changed: the
/// annotation and the resources of the containers that got some. (The
/// typed pod is not sent back whole: whatever it does not model would come
/// out of the patch as removals.)
fn with_defaults(
    request: &Request,
    original: &Pod,
    defaulted: &Pod,
    annotation: &str,
) -> Result<Value, Error> {
    let mut object = request.object.clone().unwrap_or(Value::Null);
    object["metadata"]["annotations"][limits::ANNOTATION] = Value::from(annotation);
    let (Some(before), Some(after)) = (original.spec.as_ref(), defaulted.spec.as_ref()) else {
        return Ok(object);
    };
    let lists: [(&str, &[Container], &[Container]); 2] = [
        ("containers", &before.containers, &after.containers),
        (
            "initContainers",
            before.init_containers.as_deref().unwrap_or_default(),
            after.init_containers.as_deref().unwrap_or_default(),
        ),
    ];
    for (field, before, after) in lists {
        for (index, (old, new)) in before.iter().zip(after).enumerate() {
            if old.resources == new.resources {
                continue;
            }
            let resources = new
                .resources
                .clone()
                .unwrap_or_else(ResourceRequirements::default);
            let Some(container) = object
                .pointer_mut(&format!("/spec/{field}/{index}"))
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            container.insert("resources".into(), serde_json::to_value(resources)?);
        }
    }
    Ok(object)
}

wharf_sdk::export_admission!(LimitRanger);

#[cfg(test)]
mod tests;
