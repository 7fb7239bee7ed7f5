//! A pod's PersistentVolumeClaims (as kube's `stateful_set_utils.go` and
//! `stateful_pod_control.go`): one per volumeClaimTemplate, named
//! `<template>-<set>-<ordinal>`, and the owner references the
//! `persistentVolumeClaimRetentionPolicy` asks for, so that the garbage
//! collector deletes a claim with its set (`whenDeleted: Delete`) or with
//! its pod when the set is scaled down (`whenScaled: Delete`).
//!
//! | whenScaled | whenDeleted | a kept pod's claim | a scaled-down pod's claim |
//! |------------|-------------|--------------------|---------------------------|
//! | Retain     | Retain      | no owner           | no owner                  |
//! | Retain     | Delete      | the set            | the set                   |
//! | Delete     | Retain      | no owner           | the pod                   |
//! | Delete     | Delete      | the set            | the pod                   |

use wharf_sdk::k8s_openapi::Metadata;
use wharf_sdk::k8s_openapi::api::apps::v1::StatefulSet;
use wharf_sdk::k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use wharf_sdk::prelude::*;

use crate::identity::{self, claim_templates, in_ordinal_range};

/// What happens to claims (`PersistentVolumeClaimRetentionPolicyType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    Retain,
    Delete,
}

/// `spec.persistentVolumeClaimRetentionPolicy`, Retain for what is absent
/// (or unknown: kube logs it and retains).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub when_deleted: Retention,
    pub when_scaled: Retention,
}

impl RetentionPolicy {
    pub fn of(set: &StatefulSet) -> Self {
        let policy = set.spec.persistent_volume_claim_retention_policy.as_ref();
        let read = |value: Option<&String>| match value.map(String::as_str) {
            Some("Delete") => Retention::Delete,
            _ => Retention::Retain,
        };
        RetentionPolicy {
            when_deleted: read(policy.and_then(|policy| policy.when_deleted.as_ref())),
            when_scaled: read(policy.and_then(|policy| policy.when_scaled.as_ref())),
        }
    }

    fn retains_all(self) -> bool {
        self.when_deleted == Retention::Retain && self.when_scaled == Retention::Retain
    }
}

/// `<template>-<set>-<ordinal>` (`getPersistentVolumeClaimName`).
pub fn claim_name(template: &str, set: &StatefulSet, ordinal: i32) -> String {
    format!("{template}-{}-{ordinal}", identity::set_name(set))
}

/// The claims the pod of `ordinal` needs, from the set's templates
/// (`getPersistentVolumeClaims`): named for the pod, in the set's
/// namespace, labelled with the template's labels and the selector's
/// matchLabels.
pub fn claims_for(set: &StatefulSet, ordinal: i32) -> Vec<PersistentVolumeClaim> {
    let match_labels = set.spec.selector.match_labels.clone().unwrap_or_default();
    claim_templates(set)
        .iter()
        .map(|template| {
            let mut claim = template.clone();
            let template_name = template.metadata.name.as_deref().unwrap_or_default();
            claim.metadata.name = Some(claim_name(template_name, set, ordinal));
            claim.metadata.namespace = set.metadata.namespace.clone();
            let labels = claim.metadata.labels.get_or_insert_with(Default::default);
            labels.extend(match_labels.clone());
            claim.status = None;
            claim
        })
        .collect()
}

/// Whether the claim's owner references are what the policy wants for this
/// pod (`isClaimOwnerUpToDate`). A claim another controller manages, or
/// one with references to an earlier set or pod of the same name, is left
/// alone (up to date) unless it also refers to this set or pod.
pub fn claim_owner_up_to_date(claim: &PersistentVolumeClaim, set: &StatefulSet, pod: &Pod) -> bool {
    if has_stale_owner_ref(claim, set) || has_stale_owner_ref(claim, pod) {
        return true;
    }
    if has_unexpected_controller(claim, set, pod) {
        return !(has_owner_ref(claim, uid(set)) || has_owner_ref(claim, uid(pod)));
    }
    if has_non_controller_owner(claim, set, pod) {
        return false;
    }
    let policy = RetentionPolicy::of(set);
    let scaled_down = !in_ordinal_range(set, pod);
    let wants_set = policy.when_deleted == Retention::Delete
        && !(policy.when_scaled == Retention::Delete && scaled_down);
    let wants_pod = policy.when_scaled == Retention::Delete && scaled_down;
    has_owner_ref(claim, uid(set)) == wants_set && has_owner_ref(claim, uid(pod)) == wants_pod
}

/// Rewrites the claim's references to the set and pod as the policy wants
/// (`updateClaimOwnerRefForSetAndPod`): both removed, then the wanted one
/// added as controller; with another controller, only removed.
pub fn update_claim_owner_refs(claim: &mut PersistentVolumeClaim, set: &StatefulSet, pod: &Pod) {
    let unexpected_controller = has_unexpected_controller(claim, set, pod);
    let mut references: Vec<OwnerReference> = claim
        .metadata
        .owner_references
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|reference| !matches_ref(reference, set) && !matches_ref(reference, pod))
        .collect();
    if !unexpected_controller {
        let policy = RetentionPolicy::of(set);
        let scaled_down = !in_ordinal_range(set, pod);
        let mut add = |reference: OwnerReference| {
            if !references.iter().any(|r| r.uid == reference.uid) {
                references.push(reference);
            }
        };
        match (policy.when_scaled, policy.when_deleted) {
            (Retention::Retain, Retention::Retain) => {}
            (Retention::Retain, Retention::Delete) => add(owner_reference(set)),
            (Retention::Delete, when_deleted) => {
                if scaled_down {
                    add(owner_reference(pod));
                } else if when_deleted == Retention::Delete {
                    add(owner_reference(set));
                }
            }
        }
    }
    claim.metadata.owner_references = (!references.is_empty()).then_some(references);
}

/// Whether a claim of this pod refers to an earlier pod of its name
/// (`PodClaimIsStale`'s test): with `whenScaled: Delete`, such a claim is
/// about to be deleted with its old pod, and the new pod must wait.
pub fn claim_is_stale_for(claim: &PersistentVolumeClaim, pod: &Pod) -> bool {
    has_stale_owner_ref(claim, pod)
}

/// Whether a controller other than the set or pod manages the claim
/// (`hasUnexpectedController`); never with a Retain/Retain policy. A
/// reference to the set or pod by name with another uid counts as one.
pub fn has_unexpected_controller(
    claim: &PersistentVolumeClaim,
    set: &StatefulSet,
    pod: &Pod,
) -> bool {
    if RetentionPolicy::of(set).retains_all() {
        return false;
    }
    claim
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|reference| {
            if matches_ref(reference, set) {
                return reference.uid != uid(set);
            }
            if matches_ref(reference, pod) {
                return reference.uid != uid(pod);
            }
            reference.controller == Some(true)
        })
}

fn has_non_controller_owner(claim: &PersistentVolumeClaim, set: &StatefulSet, pod: &Pod) -> bool {
    claim
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|reference| {
            (reference.uid == uid(set) || reference.uid == uid(pod))
                && reference.controller != Some(true)
        })
}

fn has_owner_ref(claim: &PersistentVolumeClaim, owner_uid: &str) -> bool {
    claim
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|reference| reference.uid == owner_uid)
}

/// The first reference naming `owner` (by kind and name) has another uid.
fn has_stale_owner_ref<K>(claim: &PersistentVolumeClaim, owner: &K) -> bool
where
    K: wharf_sdk::k8s_openapi::Resource + Metadata<Ty = ObjectMeta>,
{
    claim
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|reference| matches_ref(reference, owner))
        .is_some_and(|reference| reference.uid != uid(owner))
}

/// The reference names `object` by apiVersion, kind and name (`matchesRef`).
fn matches_ref<K>(reference: &OwnerReference, object: &K) -> bool
where
    K: wharf_sdk::k8s_openapi::Resource + Metadata<Ty = ObjectMeta>,
{
    reference.api_version == K::API_VERSION
        && reference.kind == K::KIND
        && Some(&reference.name) == object.metadata().name.as_ref()
}

fn uid<K: Metadata<Ty = ObjectMeta>>(object: &K) -> &str {
    object.metadata().uid.as_deref().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_sdk::k8s_openapi::api::apps::v1::{
        StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    };

    fn set(when_deleted: &str, when_scaled: &str) -> StatefulSet {
        StatefulSet {
            metadata: ObjectMeta {
                name: Some("web".into()),
                uid: Some("set-uid".into()),
                ..ObjectMeta::default()
            },
            spec: StatefulSetSpec {
                replicas: Some(2),
                persistent_volume_claim_retention_policy: Some(
                    StatefulSetPersistentVolumeClaimRetentionPolicy {
                        when_deleted: Some(when_deleted.into()),
                        when_scaled: Some(when_scaled.into()),
                    },
                ),
                ..StatefulSetSpec::default()
            },
            status: None,
        }
    }

    fn pod(name: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        }
    }

    fn owners(claim: &PersistentVolumeClaim) -> Vec<(String, bool)> {
        claim
            .metadata
            .owner_references
            .iter()
            .flatten()
            .map(|r| (r.kind.clone(), r.controller == Some(true)))
            .collect()
    }

    #[test]
    fn the_retention_policy_decides_the_claims_owners() {
        let cases: &[(&str, &str, &str, &[&str])] = &[
            // whenDeleted, whenScaled, pod, owner kinds
            ("Retain", "Retain", "web-0", &[]),
            ("Retain", "Retain", "web-5", &[]),
            ("Delete", "Retain", "web-0", &["StatefulSet"]),
            ("Delete", "Retain", "web-5", &["StatefulSet"]),
            ("Retain", "Delete", "web-0", &[]),
            ("Retain", "Delete", "web-5", &["Pod"]),
            ("Delete", "Delete", "web-1", &["StatefulSet"]),
            ("Delete", "Delete", "web-2", &["Pod"]),
        ];
        for (when_deleted, when_scaled, pod_name, kinds) in cases {
            let set = set(when_deleted, when_scaled);
            let pod = pod(pod_name);
            let mut claim = PersistentVolumeClaim::default();
            let expect_changed = !kinds.is_empty();
            assert_eq!(
                claim_owner_up_to_date(&claim, &set, &pod),
                !expect_changed,
                "{when_deleted}/{when_scaled} {pod_name}"
            );
            update_claim_owner_refs(&mut claim, &set, &pod);
            let expected: Vec<(String, bool)> =
                kinds.iter().map(|kind| (kind.to_string(), true)).collect();
            assert_eq!(
                owners(&claim),
                expected,
                "{when_deleted}/{when_scaled} {pod_name}"
            );
            assert!(claim_owner_up_to_date(&claim, &set, &pod));
        }
    }

    #[test]
    fn claims_another_controller_manages_are_left_alone() {
        let set = set("Delete", "Delete");
        let pod = pod("web-0");
        let mut claim = PersistentVolumeClaim::default();
        claim.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "example.com/v1".into(),
            kind: "Other".into(),
            name: "x".into(),
            uid: "x".into(),
            controller: Some(true),
            block_owner_deletion: None,
        }]);
        assert!(claim_owner_up_to_date(&claim, &set, &pod));
        let mut stale = PersistentVolumeClaim::default();
        let mut old_pod = pod.clone();
        old_pod.metadata.uid = Some("old".into());
        stale.metadata.owner_references = Some(vec![owner_reference(&old_pod)]);
        assert!(claim_is_stale_for(&stale, &pod));
        assert!(!claim_is_stale_for(&stale, &old_pod));
    }
}
