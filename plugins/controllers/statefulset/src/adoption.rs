//! Claiming pods and revisions (as `PodControllerRefManager.ClaimPods` with
//! the StatefulSet's `isMemberOf` filter, and `AdoptControllerRevision`):
//! the set adopts orphans its selector matches and releases pods it
//! controls that no longer match or whose names are not its own.
//!
//! Adoption and release are merge patches that write the whole
//! `ownerReferences` list with the object's `uid` and `resourceVersion` as
//! preconditions, as the ReplicaSet plugin's are: a concurrent change is a
//! conflict (retried with backoff), never a lost owner reference.

use wharf_sdk::k8s_openapi::Metadata;
use wharf_sdk::k8s_openapi::api::apps::v1::StatefulSet;
use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wharf_sdk::prelude::*;
use wharf_sdk::serde::Serialize;
use wharf_sdk::serde::de::DeserializeOwned;

use crate::identity::{self, is_member_of};

/// The pods the set controls once orphans are adopted and strays released;
/// `pods` are all the pods of its namespace (being deleted and finished
/// ones too: the set waits for the first and replaces the second). Every
/// pod is tried; the first error, if any, is returned after.
pub fn claim_pods(
    ctx: &Context,
    set: &StatefulSet,
    selector: &Selector,
    pods: &[Pod],
) -> Result<Vec<Pod>, Error> {
    let uid = set.metadata.uid.as_deref().unwrap_or_default();
    let set_deleting = set.metadata.deletion_timestamp.is_some();
    let mut can_adopt: Option<Result<(), String>> = None;
    let mut claimed = Vec::new();
    let mut first_error = None;
    for pod in pods {
        let matches =
            selector.matches_labels(pod.metadata.labels.as_ref()) && is_member_of(set, pod);
        let outcome = match controller_of(pod) {
            Some(reference) if reference.uid != uid => continue, // another controller's
            Some(_) if matches => {
                claimed.push(pod.clone());
                continue;
            }
            Some(_) if set_deleting => continue,
            Some(_) => release(ctx, set, pod).map(|_| None),
            None if set_deleting || !matches || pod.metadata.deletion_timestamp.is_some() => {
                continue;
            }
            None => match can_adopt.get_or_insert_with(|| recheck_not_deleted(ctx, set)) {
                Ok(()) => adopt(ctx, set, pod).map(Some),
                Err(message) => Err(Error::Other(message.clone())),
            },
        };
        match outcome {
            Ok(Some(adopted)) => claimed.push(adopted),
            Ok(None) => {}
            Err(error) if error.is_not_found() => {} // the pod is gone
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(claimed),
    }
}

/// Before adopting, makes sure the set still exists as the same object and
/// is not being deleted (`RecheckDeletionTimestamp`): the listing may be
/// older than a deletion.
pub fn recheck_not_deleted(ctx: &Context, set: &StatefulSet) -> Result<(), String> {
    let namespace = set.metadata.namespace.as_deref();
    let name = identity::set_name(set);
    let namespace_text = namespace.unwrap_or_default();
    let fresh = ctx
        .get::<StatefulSet>(namespace, name)
        .map_err(|error| error.to_string())?
        .ok_or_else(|| format!("original StatefulSet {namespace_text}/{name} is gone"))?;
    if fresh.metadata.uid != set.metadata.uid {
        return Err(format!(
            "original StatefulSet {namespace_text}/{name} is gone: got uid {:?}, wanted {:?}",
            fresh.metadata.uid, set.metadata.uid
        ));
    }
    if let Some(deleted) = &fresh.metadata.deletion_timestamp {
        return Err(format!(
            "StatefulSet {namespace_text}/{name} has just been deleted at {}",
            deleted.0
        ));
    }
    Ok(())
}

/// Adds the set as the object's controller.
pub fn adopt<K>(ctx: &Context, set: &StatefulSet, object: &K) -> Result<K, Error>
where
    K: wharf_sdk::k8s_openapi::Resource + Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned,
{
    let mut references = object
        .metadata()
        .owner_references
        .clone()
        .unwrap_or_default();
    references.push(owner_reference(set));
    let adopted =
        patch_owner_references(ctx, object, wharf_sdk::serde_json::to_value(references)?)?;
    ctx.info(format!(
        "adopted {} {} into StatefulSet {}",
        K::KIND,
        object.metadata().name.as_deref().unwrap_or_default(),
        identity::set_name(set)
    ));
    Ok(adopted)
}

fn release(ctx: &Context, set: &StatefulSet, pod: &Pod) -> Result<Pod, Error> {
    let uid = set.metadata.uid.as_deref().unwrap_or_default();
    let mut references = pod.metadata.owner_references.clone().unwrap_or_default();
    references.retain(|reference| reference.uid != uid);
    let references = if references.is_empty() {
        wharf_sdk::serde_json::Value::Null
    } else {
        wharf_sdk::serde_json::to_value(references)?
    };
    let released = patch_owner_references(ctx, pod, references)?;
    ctx.info(format!(
        "released pod {} from StatefulSet {}",
        identity::name(pod),
        identity::set_name(set)
    ));
    Ok(released)
}

fn patch_owner_references<K>(
    ctx: &Context,
    object: &K,
    references: wharf_sdk::serde_json::Value,
) -> Result<K, Error>
where
    K: wharf_sdk::k8s_openapi::Resource + Metadata<Ty = ObjectMeta> + DeserializeOwned,
{
    let metadata = object.metadata();
    let patch = wharf_sdk::serde_json::json!({
        "metadata": {
            "ownerReferences": references,
            "uid": metadata.uid,
            "resourceVersion": metadata.resource_version,
        }
    });
    ctx.patch(
        metadata.namespace.as_deref(),
        metadata.name.as_deref().unwrap_or_default(),
        &Patch::Merge(patch),
        false,
    )
}
