//! How many pods a budget expects and how many of them must stay healthy
//! (as `getExpectedPodCount` and `getExpectedScale`).
//!
//! `minAvailable` as an integer is about the pods that exist: the expected
//! count is the number of pods the budget selects. A percentage, and any
//! `maxUnavailable`, is about the pods that should exist: the sum of the
//! scale (`spec.replicas`) of the controllers of the selected pods, each
//! counted once. Pods without a controller are reported, not counted; a pod
//! whose controller is none of the kinds below is an error.

use std::collections::{BTreeMap, HashMap};

use wharf_sdk::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use wharf_sdk::k8s_openapi::api::core::v1::{Pod, ReplicationController};
use wharf_sdk::k8s_openapi::api::policy::v1::PodDisruptionBudget;
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use wharf_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use wharf_sdk::prelude::*;

/// What a budget asks of its pods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expectation {
    /// `status.expectedPods`.
    pub expected_pods: i32,
    /// `status.desiredHealthy`.
    pub desired_healthy: i32,
    /// Selected pods with no controller, by name (left out of a scale).
    pub unmanaged_pods: Vec<String>,
}

/// The budget's expected pods and desired healthy ones, given the pods it
/// selects (`getExpectedPodCount`). With neither `minAvailable` nor
/// `maxUnavailable`, both are zero.
pub fn expectation(
    ctx: &Context,
    budget: &PodDisruptionBudget,
    pods: &[Pod],
) -> Result<Expectation, Error> {
    let spec = budget.spec.clone().unwrap_or_default();
    if let Some(max_unavailable) = &spec.max_unavailable {
        let (expected_pods, unmanaged_pods) = expected_scale(ctx, pods)?;
        let max_unavailable = scaled_value(max_unavailable, expected_pods)?;
        return Ok(Expectation {
            expected_pods,
            desired_healthy: expected_pods.saturating_sub(max_unavailable).max(0),
            unmanaged_pods,
        });
    }
    match &spec.min_available {
        Some(IntOrString::Int(min_available)) => Ok(Expectation {
            expected_pods: count(pods.len()),
            desired_healthy: *min_available,
            unmanaged_pods: Vec::new(),
        }),
        Some(min_available) => {
            let (expected_pods, unmanaged_pods) = expected_scale(ctx, pods)?;
            Ok(Expectation {
                expected_pods,
                desired_healthy: scaled_value(min_available, expected_pods)?,
                unmanaged_pods,
            })
        }
        None => Ok(Expectation::default()),
    }
}

/// An integer, or a percentage of `total` rounded up
/// (`GetScaledValueFromIntOrPercent(…, true)`). A string that is not a
/// whole percentage (`"30%"`) is [`Error::Invalid`].
pub fn scaled_value(value: &IntOrString, total: i32) -> Result<i32, Error> {
    match value {
        IntOrString::Int(value) => Ok(*value),
        IntOrString::String(text) => {
            let percent: i64 = text
                .strip_suffix('%')
                .and_then(|percent| percent.parse().ok())
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "invalid value for IntOrString: {text:?} is not a percentage"
                    ))
                })?;
            let scaled = (percent * i64::from(total)).div_euclid(100)
                + i64::from((percent * i64::from(total)).rem_euclid(100) != 0);
            Ok(i32::try_from(scaled).unwrap_or(if scaled < 0 { i32::MIN } else { i32::MAX }))
        }
    }
}

/// The sum of the scale of the pods' controllers, each counted once, and
/// the pods that have no controller (`getExpectedScale`).
fn expected_scale(ctx: &Context, pods: &[Pod]) -> Result<(i32, Vec<String>), Error> {
    // The scale of each controller, by its uid (a Deployment's pods name
    // their ReplicaSet: both uids lead to the Deployment's entry).
    let mut scale_by_controller: BTreeMap<String, i32> = BTreeMap::new();
    let mut found_by_reference: HashMap<String, String> = HashMap::new();
    let mut unmanaged = Vec::new();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let Some(reference) = controller_of(pod) else {
            unmanaged.push(name);
            continue;
        };
        if found_by_reference.contains_key(&reference.uid) {
            continue;
        }
        let namespace = pod.metadata.namespace.as_deref();
        let found = find_controller(ctx, reference, namespace)?
            .ok_or_else(|| Error::Other(format!("found no controllers for pod {name:?}")))?;
        found_by_reference.insert(reference.uid.clone(), found.uid.clone());
        scale_by_controller.insert(found.uid, found.scale);
    }
    let expected = scale_by_controller
        .values()
        .fold(0i32, |sum, scale| sum.saturating_add(*scale));
    Ok((expected, unmanaged))
}

/// A controller of pods and its scale (`controllerAndScale`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerScale {
    pub uid: String,
    pub scale: i32,
}

/// The controller a pod's controller reference leads to, asking each kind
/// in kube's order (`finders`): ReplicationController, Deployment (through
/// the ReplicaSet it controls), ReplicaSet (one no Deployment controls),
/// StatefulSet. `None` when none of them has it.
pub fn find_controller(
    ctx: &Context,
    reference: &OwnerReference,
    namespace: Option<&str>,
) -> Result<Option<ControllerScale>, Error> {
    if is_kind(reference, "ReplicationController", &[""])? {
        return Ok(ctx
            .get::<ReplicationController>(namespace, &reference.name)?
            .filter(|rc| rc.metadata.uid.as_deref() == Some(reference.uid.as_str()))
            .map(|rc| ControllerScale {
                uid: reference.uid.clone(),
                scale: rc.spec.and_then(|spec| spec.replicas).unwrap_or(1),
            }));
    }
    if is_kind(reference, "ReplicaSet", &["apps", "extensions"])? {
        let Some(replica_set) = ctx
            .get::<ReplicaSet>(namespace, &reference.name)?
            .filter(|rs| rs.metadata.uid.as_deref() == Some(reference.uid.as_str()))
        else {
            return Ok(None);
        };
        return match controller_of(&replica_set) {
            // `getPodDeployment`: the Deployment's scale.
            Some(owner) if is_kind(owner, "Deployment", &["apps", "extensions"])? => Ok(ctx
                .get::<Deployment>(namespace, &owner.name)?
                .filter(|deployment| deployment.metadata.uid.as_deref() == Some(owner.uid.as_str()))
                .map(|deployment| ControllerScale {
                    uid: owner.uid.clone(),
                    scale: deployment.spec.replicas.unwrap_or(1),
                })),
            // `getPodReplicaSet` skips a ReplicaSet a Deployment controls.
            Some(owner) if owner.kind == "Deployment" => Ok(None),
            _ => Ok(Some(ControllerScale {
                uid: reference.uid.clone(),
                scale: replica_set.spec.replicas.unwrap_or(1),
            })),
        };
    }
    if is_kind(reference, "StatefulSet", &["apps"])? {
        return Ok(ctx
            .get::<StatefulSet>(namespace, &reference.name)?
            .filter(|set| set.metadata.uid.as_deref() == Some(reference.uid.as_str()))
            .map(|set| ControllerScale {
                uid: reference.uid.clone(),
                scale: set.spec.replicas.unwrap_or(1),
            }));
    }
    Ok(None)
}

/// Whether the reference names `kind` in one of `groups`
/// (`verifyGroupKind`); an apiVersion with more than one `/` is
/// [`Error::Invalid`].
fn is_kind(reference: &OwnerReference, kind: &str, groups: &[&str]) -> Result<bool, Error> {
    let group = match reference.api_version.split_once('/') {
        None => "",
        Some((_, version)) if version.contains('/') => {
            return Err(Error::Invalid(format!(
                "unexpected GroupVersion string: {}",
                reference.api_version
            )));
        }
        Some((group, _)) => group,
    };
    Ok(reference.kind == kind && groups.contains(&group))
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percentage_is_of_the_total_rounded_up() {
        let cases: &[(IntOrString, i32, Option<i32>)] = &[
            (IntOrString::Int(3), 10, Some(3)),
            (IntOrString::String("20%".into()), 10, Some(2)),
            (IntOrString::String("34%".into()), 3, Some(2)),
            (IntOrString::String("30%".into()), 7, Some(3)),
            (IntOrString::String("28%".into()), 11, Some(4)),
            (IntOrString::String("1%".into()), 0, Some(0)),
            (IntOrString::String("100%".into()), 5, Some(5)),
            (IntOrString::String("3".into()), 5, None),
            (IntOrString::String("a%".into()), 5, None),
            (IntOrString::String("%".into()), 5, None),
        ];
        for (value, total, expected) in cases {
            assert_eq!(
                scaled_value(value, *total).ok(),
                *expected,
                "{value:?} of {total}"
            );
        }
    }

    #[test]
    fn a_reference_names_a_kind_in_its_groups() {
        let reference = |api_version: &str, kind: &str| OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            ..OwnerReference::default()
        };
        let cases = [
            (
                "apps/v1",
                "ReplicaSet",
                "ReplicaSet",
                &["apps", "extensions"][..],
                true,
            ),
            (
                "extensions/v1beta1",
                "ReplicaSet",
                "ReplicaSet",
                &["apps", "extensions"],
                true,
            ),
            (
                "invalid/v1",
                "ReplicaSet",
                "ReplicaSet",
                &["apps", "extensions"],
                false,
            ),
            (
                "v1",
                "ReplicationController",
                "ReplicationController",
                &[""],
                true,
            ),
            (
                "/v1",
                "ReplicationController",
                "ReplicationController",
                &[""],
                true,
            ),
            (
                "apps/v1",
                "ReplicationController",
                "ReplicationController",
                &[""],
                false,
            ),
            ("apps/v1", "ReplicaSet", "StatefulSet", &["apps"], false),
        ];
        for (api_version, kind, wanted, groups, expected) in cases {
            assert_eq!(
                is_kind(&reference(api_version, kind), wanted, groups).unwrap(),
                expected,
                "{api_version} {kind} as {wanted}"
            );
        }
        assert!(is_kind(&reference("a/b/c", "ReplicaSet"), "ReplicaSet", &["a"]).is_err());
    }
}
