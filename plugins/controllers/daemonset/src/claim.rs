//! Claiming pods and ControllerRevisions (as `PodControllerRefManager` and
//! `ControllerRevisionControllerRefManager`): the DaemonSet adopts orphans
//! its selector matches and releases what it controls that its selector no
//! longer matches.
//!
//! Both are merge patches writing the whole `ownerReferences` list with the
//! object's `uid` and `resourceVersion` as preconditions, so that a
//! concurrent change is a conflict (retried), never a lost reference.

use wharf_sdk::k8s_openapi::api::apps::v1::DaemonSet;
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wharf_sdk::k8s_openapi::{Metadata, Resource};
use wharf_sdk::prelude::*;
use wharf_sdk::serde::de::DeserializeOwned;

/// The objects (every one of the namespace, of one kind) the DaemonSet
/// controls once orphans are adopted and strays released. Objects being
/// deleted are not adopted. Every object is tried; the first error, if
/// any, is returned after.
pub fn claim<K>(
    ctx: &Context,
    daemon_set: &DaemonSet,
    selector: &Selector,
    objects: Vec<K>,
) -> Result<Vec<K>, Error>
where
    K: Resource + Metadata<Ty = ObjectMeta> + DeserializeOwned,
{
    let uid = daemon_set.metadata.uid.as_deref().unwrap_or_default();
    let mut can_adopt: Option<Result<(), String>> = None;
    let mut claimed = Vec::new();
    let mut first_error = None;
    for object in objects {
        let metadata = object.metadata();
        let matches = selector.matches_labels(metadata.labels.as_ref());
        let outcome = match controller_of(&object) {
            Some(reference) if reference.uid != uid => continue, // another controller's
            Some(_) if matches => {
                claimed.push(object);
                continue;
            }
            Some(_) => release(ctx, daemon_set, &object).map(|_| None),
            None if !matches || metadata.deletion_timestamp.is_some() => continue,
            None => {
                let checked = can_adopt.get_or_insert_with(|| recheck_not_deleted(ctx, daemon_set));
                match checked {
                    Ok(()) => adopt(ctx, daemon_set, &object).map(Some),
                    Err(message) => Err(Error::Other(message.clone())),
                }
            }
        };
        match outcome {
            Ok(Some(adopted)) => claimed.push(adopted),
            Ok(None) => {}
            Err(error) if error.is_not_found() => {} // gone meanwhile
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

/// Before adopting, makes sure the DaemonSet still exists as the same object
/// and is not being deleted (`RecheckDeletionTimestamp`).
fn recheck_not_deleted(ctx: &Context, daemon_set: &DaemonSet) -> Result<(), String> {
    let namespace = daemon_set.metadata.namespace.as_deref();
    let name = daemon_set.metadata.name.as_deref().unwrap_or_default();
    let key = format!("{}/{name}", namespace.unwrap_or_default());
    let fresh = ctx
        .get::<DaemonSet>(namespace, name)
        .map_err(|error| error.to_string())?
        .ok_or_else(|| format!("original DaemonSet {key} is gone"))?;
    if fresh.metadata.uid != daemon_set.metadata.uid {
        return Err(format!(
            "original DaemonSet {key} is gone: got uid {:?}, wanted {:?}",
            fresh.metadata.uid, daemon_set.metadata.uid
        ));
    }
    if let Some(deleted) = &fresh.metadata.deletion_timestamp {
        return Err(format!(
            "DaemonSet {key} has just been deleted at {}",
            deleted.0
        ));
    }
    Ok(())
}

fn adopt<K>(ctx: &Context, daemon_set: &DaemonSet, object: &K) -> Result<K, Error>
where
    K: Resource + Metadata<Ty = ObjectMeta> + DeserializeOwned,
{
    let mut references = object
        .metadata()
        .owner_references
        .clone()
        .unwrap_or_default();
    references.push(owner_reference(daemon_set));
    let adopted = patch_owner_references(ctx, object, serde_json::to_value(references)?)?;
    ctx.info(format!(
        "adopted {} {} into DaemonSet {}",
        K::KIND,
        name(object),
        daemon_set.metadata.name.as_deref().unwrap_or_default()
    ));
    Ok(adopted)
}

fn release<K>(ctx: &Context, daemon_set: &DaemonSet, object: &K) -> Result<K, Error>
where
    K: Resource + Metadata<Ty = ObjectMeta> + DeserializeOwned,
{
    let uid = daemon_set.metadata.uid.as_deref().unwrap_or_default();
    let mut references = object
        .metadata()
        .owner_references
        .clone()
        .unwrap_or_default();
    references.retain(|reference| reference.uid != uid);
    let references = if references.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::to_value(references)?
    };
    let released = patch_owner_references(ctx, object, references)?;
    ctx.info(format!(
        "released {} {} from DaemonSet {}",
        K::KIND,
        name(object),
        daemon_set.metadata.name.as_deref().unwrap_or_default()
    ));
    Ok(released)
}

fn patch_owner_references<K>(
    ctx: &Context,
    object: &K,
    references: serde_json::Value,
) -> Result<K, Error>
where
    K: Resource + Metadata<Ty = ObjectMeta> + DeserializeOwned,
{
    let metadata = object.metadata();
    let patch = serde_json::json!({
        "metadata": {
            "ownerReferences": references,
            "uid": metadata.uid,
            "resourceVersion": metadata.resource_version,
        }
    });
    ctx.patch(
        metadata.namespace.as_deref(),
        name(object),
        &Patch::Merge(patch),
        false,
    )
}

fn name<K: Metadata<Ty = ObjectMeta>>(object: &K) -> &str {
    object.metadata().name.as_deref().unwrap_or_default()
}
