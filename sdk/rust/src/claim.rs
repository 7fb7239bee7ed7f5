//! Claiming objects for a controller, as kube's `ControllerRefManager`
//! (`ClaimPods`, `ClaimControllerRevisions`): the owner adopts orphans its
//! selector matches and releases what it controls that no longer matches.
//!
//! Adoption and release are merge patches that write the whole
//! `ownerReferences` list with the object's `uid` and `resourceVersion` as
//! preconditions, so a concurrent change of the object is a conflict
//! (retried with backoff), never a lost owner reference. Kubernetes sends a
//! strategic merge patch keyed by the owner's uid instead; the merge patch
//! means the same on every API server (and on the fake cluster).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{Metadata, Resource};
use serde::de::DeserializeOwned;

use crate::context::{Context, Patch};
use crate::error::{Error, Result};
use crate::owner::{controller_of, owner_reference};

/// The objects `owner` controls once orphans that `matches` are adopted
/// and the ones it controls that no longer match are released. Objects of
/// other controllers are left out; orphans being deleted are not adopted;
/// an owner being deleted adopts and releases nothing. Every object is
/// tried; the first error, if any, is returned after.
pub fn claim<O, K>(
    ctx: &Context<'_>,
    owner: &O,
    objects: impl IntoIterator<Item = K>,
    matches: impl Fn(&K) -> bool,
) -> Result<Vec<K>>
where
    O: Resource + Metadata<Ty = ObjectMeta> + DeserializeOwned,
    K: Resource + Metadata<Ty = ObjectMeta> + DeserializeOwned,
{
    let uid = owner.metadata().uid.as_deref().unwrap_or_default();
    let owner_deleting = owner.metadata().deletion_timestamp.is_some();
    let mut can_adopt: Option<std::result::Result<(), String>> = None;
    let mut claimed = Vec::new();
    let mut first_error = None;
    for object in objects {
        let matched = matches(&object);
        let outcome = match controller_of(&object) {
            Some(reference) if reference.uid != uid => continue, // another controller's
            Some(_) if matched => {
                claimed.push(object);
                continue;
            }
            Some(_) if owner_deleting => continue,
            Some(_) => release(ctx, owner, &object).map(|_| None),
            None if owner_deleting
                || !matched
                || object.metadata().deletion_timestamp.is_some() =>
            {
                continue;
            }
            None => match can_adopt.get_or_insert_with(|| recheck_not_deleted(ctx, owner)) {
                Ok(()) => adopt(ctx, owner, &object).map(Some),
                Err(message) => Err(Error::Other(message.clone())),
            },
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

/// Before adopting, makes sure the owner still exists as the same object
/// and is not being deleted (`RecheckDeletionTimestamp`): the listing may
/// be older than a deletion.
pub fn recheck_not_deleted<O>(ctx: &Context<'_>, owner: &O) -> std::result::Result<(), String>
where
    O: Resource + Metadata<Ty = ObjectMeta> + DeserializeOwned,
{
    let kind = O::KIND;
    let namespace = owner.metadata().namespace.as_deref();
    let name = name(owner);
    let key = format!("{}/{name}", namespace.unwrap_or_default());
    let fresh = ctx
        .get::<O>(namespace, name)
        .map_err(|error| error.to_string())?
        .ok_or_else(|| format!("original {kind} {key} is gone"))?;
    if fresh.metadata().uid != owner.metadata().uid {
        return Err(format!(
            "original {kind} {key} is gone: got uid {:?}, wanted {:?}",
            fresh.metadata().uid,
            owner.metadata().uid
        ));
    }
    if let Some(deleted) = &fresh.metadata().deletion_timestamp {
        return Err(format!(
            "{kind} {key} has just been deleted at {}",
            deleted.0
        ));
    }
    Ok(())
}

/// Adds `owner` as the object's controller.
pub fn adopt<O, K>(ctx: &Context<'_>, owner: &O, object: &K) -> Result<K>
where
    O: Resource + Metadata<Ty = ObjectMeta>,
    K: Resource + Metadata<Ty = ObjectMeta> + DeserializeOwned,
{
    let mut references = object
        .metadata()
        .owner_references
        .clone()
        .unwrap_or_default();
    references.push(owner_reference(owner));
    let adopted = patch_owner_references(ctx, object, serde_json::to_value(references)?)?;
    ctx.info(format!(
        "adopted {} {} into {} {}",
        K::KIND,
        name(object),
        O::KIND,
        name(owner)
    ));
    Ok(adopted)
}

/// Removes `owner`'s reference from the object.
pub fn release<O, K>(ctx: &Context<'_>, owner: &O, object: &K) -> Result<K>
where
    O: Resource + Metadata<Ty = ObjectMeta>,
    K: Resource + Metadata<Ty = ObjectMeta> + DeserializeOwned,
{
    let uid = owner.metadata().uid.as_deref().unwrap_or_default();
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
        "released {} {} from {} {}",
        K::KIND,
        name(object),
        O::KIND,
        name(owner)
    ));
    Ok(released)
}

fn patch_owner_references<K>(
    ctx: &Context<'_>,
    object: &K,
    references: serde_json::Value,
) -> Result<K>
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
