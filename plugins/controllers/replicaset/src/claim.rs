//! Claiming pods (as `PodControllerRefManager.ClaimPods`): the ReplicaSet
//! adopts orphans its selector matches and releases pods it controls that
//! its selector no longer matches.
//!
//! Both are merge patches that write the whole `ownerReferences` list with
//! the pod's `uid` and `resourceVersion` as preconditions, so a concurrent
//! change of the pod is a conflict (retried with backoff), never a lost
//! owner reference. Kubernetes sends a strategic merge patch keyed by the
//! owner's uid instead; the merge patch means the same on every API server
//! (and on the SDK's fake cluster, whose strategic merge is approximate).

use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::prelude::*;

use crate::kind::Replicated;

/// The pods the ReplicaSet controls once orphans are adopted and strays
/// released; `pods` are the namespace's active pods. Every pod is tried; the
/// first error, if any, is returned after.
pub fn claim_pods<K: Replicated>(
    ctx: &Context,
    replica_set: &K,
    selector: &Selector,
    pods: Vec<Pod>,
) -> Result<Vec<Pod>, Error> {
    let uid = replica_set.metadata().uid.as_deref().unwrap_or_default();
    let replica_set_deleting = replica_set.metadata().deletion_timestamp.is_some();
    let mut can_adopt: Option<Result<(), String>> = None;
    let mut claimed = Vec::new();
    let mut first_error = None;
    for pod in pods {
        let matches = selector.matches_labels(pod.metadata.labels.as_ref());
        let outcome = match controller_of(&pod) {
            Some(reference) if reference.uid != uid => continue, // another controller's
            Some(_) if matches => {
                claimed.push(pod);
                continue;
            }
            Some(_) if replica_set_deleting => continue,
            Some(_) => release(ctx, replica_set, &pod).map(|_| None),
            None if replica_set_deleting
                || !matches
                || pod.metadata.deletion_timestamp.is_some() =>
            {
                continue;
            }
            None => {
                let checked =
                    can_adopt.get_or_insert_with(|| recheck_not_deleted(ctx, replica_set));
                match checked {
                    Ok(()) => adopt(ctx, replica_set, &pod).map(Some),
                    Err(message) => Err(Error::Other(message.clone())),
                }
            }
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

/// Before adopting, makes sure the ReplicaSet still exists as the same
/// object and is not being deleted (`RecheckDeletionTimestamp`): the listing
/// may be older than a deletion.
fn recheck_not_deleted<K: Replicated>(ctx: &Context, replica_set: &K) -> Result<(), String> {
    let kind = K::KIND;
    let namespace = replica_set.metadata().namespace.as_deref();
    let name = replica_set.metadata().name.as_deref().unwrap_or_default();
    let fresh = ctx
        .get::<K>(namespace, name)
        .map_err(|error| error.to_string())?
        .ok_or_else(|| {
            format!(
                "original {kind} {}/{name} is gone",
                namespace.unwrap_or_default()
            )
        })?;
    if fresh.metadata().uid != replica_set.metadata().uid {
        return Err(format!(
            "original {kind} {}/{name} is gone: got uid {:?}, wanted {:?}",
            namespace.unwrap_or_default(),
            fresh.metadata().uid,
            replica_set.metadata().uid
        ));
    }
    if let Some(deleted) = &fresh.metadata().deletion_timestamp {
        return Err(format!(
            "{kind} {}/{name} has just been deleted at {}",
            namespace.unwrap_or_default(),
            deleted.0
        ));
    }
    Ok(())
}

fn adopt<K: Replicated>(ctx: &Context, replica_set: &K, pod: &Pod) -> Result<Pod, Error> {
    let mut references = pod.metadata.owner_references.clone().unwrap_or_default();
    references.push(owner_reference(replica_set));
    let adopted = patch_owner_references(ctx, pod, serde_json::to_value(references)?)?;
    ctx.info(format!(
        "adopted pod {} into {} {}",
        name(pod),
        K::KIND,
        replica_set.metadata().name.as_deref().unwrap_or_default()
    ));
    Ok(adopted)
}

fn release<K: Replicated>(ctx: &Context, replica_set: &K, pod: &Pod) -> Result<Pod, Error> {
    let uid = replica_set.metadata().uid.as_deref().unwrap_or_default();
    let mut references = pod.metadata.owner_references.clone().unwrap_or_default();
    references.retain(|reference| reference.uid != uid);
    let references = if references.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::to_value(references)?
    };
    let released = patch_owner_references(ctx, pod, references)?;
    ctx.info(format!(
        "released pod {} from {} {}",
        name(pod),
        K::KIND,
        replica_set.metadata().name.as_deref().unwrap_or_default()
    ));
    Ok(released)
}

fn patch_owner_references(
    ctx: &Context,
    pod: &Pod,
    references: serde_json::Value,
) -> Result<Pod, Error> {
    let patch = serde_json::json!({
        "metadata": {
            "ownerReferences": references,
            "uid": pod.metadata.uid,
            "resourceVersion": pod.metadata.resource_version,
        }
    });
    ctx.patch(
        pod.metadata.namespace.as_deref(),
        name(pod),
        &Patch::Merge(patch),
        false,
    )
}

fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}
