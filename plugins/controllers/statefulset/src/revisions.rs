//! The set's ControllerRevisions (as kube's `stateful_set_control.go` and
//! `pkg/controller/history`): each holds the strategic merge patch that
//! restores a pod template (`{"spec":{"template":{…,"$patch":"replace"}}}`,
//! `getPatch`), which is also what `kubectl rollout undo` applies to the set.
//!
//! The update revision is the revision of the set's template now: the
//! latest revision when it is equal, an older equal one renumbered (a
//! rollback), or a new one, whose name takes the next collision count when
//! a different revision holds its hash's name. The current revision is the
//! one `status.currentRevision` names (the update revision at first).

use std::collections::BTreeSet;

use wharf_sdk::history::{self, equal_revisions, next_revision_number, sort_revisions};
use wharf_sdk::k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use wharf_sdk::k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use wharf_sdk::prelude::*;
use wharf_sdk::serde_json::{Value, json};

use crate::identity;
use wharf_sdk::claim::{adopt, recheck_not_deleted};

/// The revisions a reconcile works with.
#[derive(Clone, Debug)]
pub struct Revisions {
    /// What pods below the partition are made from.
    pub current: ControllerRevision,
    /// The set's template now.
    pub update: ControllerRevision,
    /// `status.collisionCount` after any name collisions met here.
    pub collision_count: i32,
}

/// The data of the set's revision (`getPatch`): its template, to be put
/// back whole.
pub fn patch_of(set: &StatefulSet) -> Value {
    let mut template =
        wharf_sdk::serde_json::to_value(&set.spec.template).unwrap_or_else(|_| json!({}));
    if let Value::Object(fields) = &mut template {
        fields.insert("$patch".to_owned(), json!("replace"));
    }
    json!({ "spec": { "template": template } })
}

/// The set with the template of `revision` (`ApplyRevision`: the revision's
/// patch replaces the template).
pub fn apply_revision(
    set: &StatefulSet,
    revision: &ControllerRevision,
) -> Result<StatefulSet, Error> {
    let mut applied = set.clone();
    if let Some(template) = revision.data.0.pointer("/spec/template") {
        let mut template = template.clone();
        if let Value::Object(fields) = &mut template {
            fields.remove("$patch");
        }
        applied.spec.template = wharf_sdk::serde_json::from_value::<PodTemplateSpec>(template)
            .map_err(|error| {
                Error::Invalid(format!(
                    "ControllerRevision {} holds no pod template: {error}",
                    name(revision)
                ))
            })?;
    }
    Ok(applied)
}

/// The revision `number` of the set's template now (`newRevision`): the
/// template's labels, the set's annotations (a `kubernetes.io/change-cause`
/// shows in `kubectl rollout history`), controlled by the set.
pub fn new_revision(set: &StatefulSet, number: i64, collision_count: i32) -> ControllerRevision {
    let template_labels = set
        .spec
        .template
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.labels.as_ref());
    let mut revision = history::new_revision(
        set,
        template_labels,
        patch_of(set),
        number,
        Some(collision_count),
    );
    if let Some(annotations) = set.metadata.annotations.as_ref().filter(|a| !a.is_empty()) {
        revision
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .extend(annotations.clone());
    }
    revision
}

/// The revisions the selector matches that the set controls or nobody does
/// (`ListControllerRevisions`), orphans adopted (`adoptOrphanRevisions`,
/// after checking that the set is not being deleted), sorted.
pub fn list_and_adopt(
    ctx: &Context,
    set: &StatefulSet,
    selector: &Selector,
) -> Result<Vec<ControllerRevision>, Error> {
    let uid = set.metadata.uid.as_deref().unwrap_or_default();
    let params = ListParams {
        label_selector: Some(selector.to_string()),
        ..ListParams::default()
    };
    let mut revisions = Vec::new();
    let mut can_adopt = None;
    for revision in ctx.list::<ControllerRevision>(set.metadata.namespace.as_deref(), &params)? {
        match controller_of(&revision) {
            Some(owner) if owner.uid == uid => revisions.push(revision),
            Some(_) => {}
            None => {
                can_adopt
                    .get_or_insert_with(|| recheck_not_deleted(ctx, set))
                    .clone()
                    .map_err(|message| {
                        Error::Other(format!("can't adopt ControllerRevisions: {message}"))
                    })?;
                revisions.push(adopt(ctx, set, &revision)?);
            }
        }
    }
    sort_revisions(&mut revisions);
    Ok(revisions)
}

/// The current and update revisions (`getStatefulSetRevisions`); may create
/// a revision or renumber an old one. `revisions` are sorted.
pub fn current_and_update(
    ctx: &Context,
    set: &StatefulSet,
    revisions: &[ControllerRevision],
) -> Result<Revisions, Error> {
    let mut collision_count = set
        .status
        .as_ref()
        .and_then(|status| status.collision_count)
        .unwrap_or(0);
    let number = next_revision_number(revisions);
    let candidate = new_revision(set, number, collision_count);
    let equal = equal_revisions(revisions, &candidate.data.0);
    let update = match (equal.last(), revisions.last()) {
        // The template has not changed since the latest revision.
        (Some(equal), Some(latest)) if name(equal) == name(latest) => latest.clone(),
        // Back to an earlier template: that revision becomes the latest.
        (Some(equal), _) => renumber(ctx, equal, number)?,
        (None, _) => create(ctx, set, number, &mut collision_count)?,
    };
    let current_name = set
        .status
        .as_ref()
        .and_then(|status| status.current_revision.as_deref());
    let current = revisions
        .iter()
        .find(|revision| {
            current_name.is_some() && revision.metadata.name.as_deref() == current_name
        })
        .cloned()
        .unwrap_or_else(|| update.clone());
    Ok(Revisions {
        current,
        update,
        collision_count,
    })
}

/// Deletes the oldest revisions no one uses until at most
/// `revisionHistoryLimit` (10 by default) are left (`truncateHistory`):
/// the current and update revisions and those of the set's pods are kept
/// whatever their age. `revisions` are sorted.
pub fn truncate_history(
    ctx: &Context,
    set: &StatefulSet,
    pods: &[Pod],
    revisions: &[ControllerRevision],
    live: &[&str],
) -> Result<(), Error> {
    let live: BTreeSet<&str> = live
        .iter()
        .copied()
        .chain(pods.iter().map(identity::revision))
        .collect();
    let history: Vec<&ControllerRevision> = revisions
        .iter()
        .filter(|revision| !live.contains(name(revision)))
        .collect();
    let limit = usize::try_from(set.spec.revision_history_limit.unwrap_or(10)).unwrap_or(0);
    if history.len() <= limit {
        return Ok(());
    }
    for revision in &history[..history.len() - limit] {
        match ctx
            .delete::<ControllerRevision>(revision.metadata.namespace.as_deref(), name(revision))
        {
            Err(error) if !error.is_not_found() => return Err(error),
            _ => {}
        }
    }
    Ok(())
}

/// Creates the revision, taking the next collision count while another
/// revision with other data holds the name (`CreateControllerRevision`).
fn create(
    ctx: &Context,
    set: &StatefulSet,
    number: i64,
    collision_count: &mut i32,
) -> Result<ControllerRevision, Error> {
    loop {
        let revision = new_revision(set, number, *collision_count);
        let namespace = revision.metadata.namespace.as_deref();
        match ctx.create(namespace, &revision) {
            Err(error) if error.is_already_exists() => {
                let existing = ctx
                    .get::<ControllerRevision>(namespace, name(&revision))?
                    .ok_or(error)?;
                if history::semantically_equal(&existing.data.0, &revision.data.0) {
                    return Ok(existing);
                }
                *collision_count = collision_count.saturating_add(1);
            }
            result => return result,
        }
    }
}

/// Gives an existing revision a new number (`UpdateControllerRevision`),
/// reading it again once on a conflict.
fn renumber(
    ctx: &Context,
    revision: &ControllerRevision,
    number: i64,
) -> Result<ControllerRevision, Error> {
    let mut renumbered = revision.clone();
    renumbered.revision = Some(number);
    match ctx.update(&renumbered) {
        Err(error) if error.is_conflict() => {
            let namespace = revision.metadata.namespace.as_deref();
            let mut fresh = ctx
                .get::<ControllerRevision>(namespace, name(revision))?
                .ok_or(error)?;
            if fresh.revision == Some(number) {
                return Ok(fresh);
            }
            fresh.revision = Some(number);
            ctx.update(&fresh)
        }
        result => result,
    }
}

fn name(revision: &ControllerRevision) -> &str {
    revision.metadata.name.as_deref().unwrap_or_default()
}
