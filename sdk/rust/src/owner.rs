//! Owner references: how a controller marks what it owns, as apimachinery's
//! `NewControllerRef` and `GetControllerOf` do.

use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// A controlling owner reference to `owner` (`controller: true`,
/// `blockOwnerDeletion: true`), to put in an owned object's
/// `metadata.ownerReferences`.
pub fn owner_reference<K>(owner: &K) -> OwnerReference
where
    K: k8s_openapi::Resource + Metadata<Ty = ObjectMeta>,
{
    let metadata = owner.metadata();
    OwnerReference {
        api_version: K::API_VERSION.to_owned(),
        kind: K::KIND.to_owned(),
        name: metadata.name.clone().unwrap_or_default(),
        uid: metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The controlling owner reference of `object` (the one with `controller: true`), if any.
pub fn controller_of<K>(object: &K) -> Option<&OwnerReference>
where
    K: Metadata<Ty = ObjectMeta>,
{
    object
        .metadata()
        .owner_references
        .iter()
        .flatten()
        .find(|reference| reference.controller == Some(true))
}

/// Whether `owner` is `object`'s controlling owner (compared by uid).
pub fn is_controlled_by<K, O>(object: &K, owner: &O) -> bool
where
    K: Metadata<Ty = ObjectMeta>,
    O: Metadata<Ty = ObjectMeta>,
{
    match (controller_of(object), owner.metadata().uid.as_deref()) {
        (Some(reference), Some(uid)) => reference.uid == uid,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::api::core::v1::Pod;

    fn replica_set(uid: &str) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some("web".to_owned()),
                namespace: Some("default".to_owned()),
                uid: Some(uid.to_owned()),
                ..ObjectMeta::default()
            },
            ..ReplicaSet::default()
        }
    }

    #[test]
    fn an_owner_reference_names_the_owner_as_controller() {
        let reference = owner_reference(&replica_set("u1"));
        assert_eq!(reference.api_version, "apps/v1");
        assert_eq!(reference.kind, "ReplicaSet");
        assert_eq!(reference.name, "web");
        assert_eq!(reference.uid, "u1");
        assert_eq!(reference.controller, Some(true));
        assert_eq!(reference.block_owner_deletion, Some(true));
    }

    #[test]
    fn the_controller_is_the_reference_marked_controller() {
        let owner = replica_set("u1");
        let mut other = owner_reference(&replica_set("u2"));
        other.controller = None;
        let mut pod = Pod::default();
        assert!(controller_of(&pod).is_none());
        pod.metadata.owner_references = Some(vec![other]);
        assert!(controller_of(&pod).is_none());
        pod.metadata
            .owner_references
            .as_mut()
            .unwrap()
            .push(owner_reference(&owner));
        assert_eq!(controller_of(&pod).unwrap().uid, "u1");
        assert!(is_controlled_by(&pod, &owner));
        assert!(!is_controlled_by(&pod, &replica_set("u2")));
    }
}
