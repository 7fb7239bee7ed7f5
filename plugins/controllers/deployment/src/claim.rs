//! Which ReplicaSets and pods belong to a Deployment, reconciling
//! ownership on the way as `ReplicaSetControllerRefManager.ClaimReplicaSets`
//! does: a matching orphan is adopted (a controller ownerReference added),
//! an owned ReplicaSet that no longer matches is released (the reference
//! removed), and a ReplicaSet another controller owns is left alone.
//!
//! Kubernetes adopts and releases with strategic merge patches keyed by the
//! owner's uid; here it is an update guarded by the resourceVersion, which
//! touches the same list and fails with a conflict where the patch's uid
//! precondition would.

use std::collections::BTreeMap;

use wharf_sdk::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::prelude::*;

use crate::replica_sets;

/// `getReplicaSetsForDeployment`: the ReplicaSets the Deployment controls,
/// after adopting and releasing.
pub fn replica_sets_for_deployment(
    ctx: &Context<'_>,
    deployment: &Deployment,
) -> Result<Vec<ReplicaSet>, Error> {
    let namespace = deployment.metadata.namespace.as_deref();
    let selector = deployment_selector(deployment)?;
    let mut adoption = Adoption::NotChecked;
    let mut claimed = Vec::new();
    let mut errors = Vec::new();
    for rs in ctx.list::<ReplicaSet>(namespace, &ListParams::default())? {
        match claim(ctx, deployment, &selector, rs, &mut adoption) {
            Ok(Some(rs)) => claimed.push(rs),
            Ok(None) => {}
            Err(error) => errors.push(error.to_string()),
        }
    }
    if !errors.is_empty() {
        return Err(Error::Other(errors.join("; ")));
    }
    Ok(claimed)
}

/// `getPodMapForDeployment`: the pods of the Deployment's selector, by the
/// uid of the claimed ReplicaSet that controls them (every claimed
/// ReplicaSet has an entry, perhaps empty).
pub fn pods_by_replica_set(
    ctx: &Context<'_>,
    deployment: &Deployment,
    claimed: &[ReplicaSet],
) -> Result<BTreeMap<String, Vec<Pod>>, Error> {
    let namespace = deployment.metadata.namespace.as_deref();
    let selector = deployment_selector(deployment)?;
    let mut pods: BTreeMap<String, Vec<Pod>> = claimed
        .iter()
        .map(|rs| (replica_sets::uid(rs).to_owned(), Vec::new()))
        .collect();
    for pod in ctx.list::<Pod>(
        namespace,
        &ListParams::default().labels(selector.to_string()),
    )? {
        let Some(uid) = controller_of(&pod).map(|reference| reference.uid.clone()) else {
            continue;
        };
        if let Some(list) = pods.get_mut(&uid) {
            list.push(pod);
        }
    }
    Ok(pods)
}

/// The Deployment's `spec.selector`, parsed.
pub fn deployment_selector(deployment: &Deployment) -> Result<Selector, Error> {
    Selector::from_label_selector(&deployment.spec.selector).map_err(|error| {
        Error::Invalid(format!(
            "deployment {}/{} has invalid label selector: {error}",
            deployment.metadata.namespace.as_deref().unwrap_or_default(),
            deployment.metadata.name.as_deref().unwrap_or_default()
        ))
    })
}

/// Whether the Deployment may adopt: checked once per sync, against a fresh
/// read, and only when an adoption is about to happen (`CanAdopt`).
enum Adoption {
    NotChecked,
    Allowed,
    Refused(String),
}

/// `ClaimObject`: the ReplicaSet if the Deployment controls it now.
fn claim(
    ctx: &Context<'_>,
    deployment: &Deployment,
    selector: &Selector,
    mut rs: ReplicaSet,
    adoption: &mut Adoption,
) -> Result<Option<ReplicaSet>, Error> {
    let deployment_uid = deployment.metadata.uid.as_deref().unwrap_or_default();
    let matches = selector.matches_labels(rs.metadata.labels.as_ref());
    let being_deleted = deployment.metadata.deletion_timestamp.is_some();
    if let Some(reference) = controller_of(&rs) {
        if reference.uid != deployment_uid {
            return Ok(None);
        }
        if matches {
            return Ok(Some(rs));
        }
        if being_deleted {
            return Ok(None);
        }
        // Owned, but the selector no longer matches: release it.
        if let Some(references) = rs.metadata.owner_references.as_mut() {
            references.retain(|reference| reference.uid != deployment_uid);
        }
        ctx.info(format!(
            "releasing ReplicaSet {}: it no longer matches the selector",
            qualified_name(&rs)
        ));
        return match ctx.update(&rs) {
            Ok(_) => Ok(None),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        };
    }
    // An orphan.
    if being_deleted || !matches || rs.metadata.deletion_timestamp.is_some() {
        return Ok(None);
    }
    if rs.metadata.namespace != deployment.metadata.namespace {
        return Ok(None);
    }
    check_can_adopt(ctx, deployment, adoption);
    if let Adoption::Refused(reason) = adoption {
        return Err(Error::Other(format!(
            "can't adopt ReplicaSet {}: {reason}",
            qualified_name(&rs)
        )));
    }
    rs.metadata
        .owner_references
        .get_or_insert_with(Vec::new)
        .push(owner_reference(deployment));
    ctx.info(format!("adopting ReplicaSet {}", qualified_name(&rs)));
    match ctx.update(&rs) {
        Ok(adopted) => Ok(Some(adopted)),
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error),
    }
}

/// `RecheckDeletionTimestamp`: the Deployment read afresh must be the same
/// one (same uid) and not being deleted.
fn check_can_adopt(ctx: &Context<'_>, deployment: &Deployment, adoption: &mut Adoption) {
    if !matches!(adoption, Adoption::NotChecked) {
        return;
    }
    let namespace = deployment.metadata.namespace.as_deref();
    let name = deployment.metadata.name.as_deref().unwrap_or_default();
    let wanted = deployment.metadata.uid.as_deref().unwrap_or_default();
    *adoption = match ctx.get::<Deployment>(namespace, name) {
        Err(error) => Adoption::Refused(error.to_string()),
        Ok(None) => Adoption::Refused(format!(
            "original Deployment {}/{name} is gone",
            namespace.unwrap_or_default()
        )),
        Ok(Some(fresh)) if fresh.metadata.uid.as_deref() != Some(wanted) => {
            Adoption::Refused(format!(
                "original Deployment {}/{name} is gone: got uid {}, wanted {wanted}",
                namespace.unwrap_or_default(),
                fresh.metadata.uid.as_deref().unwrap_or_default()
            ))
        }
        Ok(Some(fresh)) if fresh.metadata.deletion_timestamp.is_some() => {
            Adoption::Refused(format!(
                "{}/{name} has just been deleted",
                namespace.unwrap_or_default()
            ))
        }
        Ok(Some(_)) => Adoption::Allowed,
    };
}

fn qualified_name(rs: &ReplicaSet) -> String {
    format!(
        "{}/{}",
        rs.metadata.namespace.as_deref().unwrap_or_default(),
        replica_sets::name(rs)
    )
}
