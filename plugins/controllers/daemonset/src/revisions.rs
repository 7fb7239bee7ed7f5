//! The DaemonSet's ControllerRevisions (`constructHistory`, `snapshot`,
//! `dedupCurHistories`, `cleanupHistory`): one revision per template the
//! set has had, the current one found by equal data, never by name.
//!
//! A revision's data is what `kubectl rollout undo` patches the set with
//! (`getPatch`): `{"spec":{"template":{…,"$patch":"replace"}}}`, a strategic
//! merge patch replacing the whole template.

use std::collections::BTreeSet;

use wharf_sdk::history::{
    CONTROLLER_REVISION_HASH_LABEL, new_revision, next_revision_number, semantically_equal,
    sort_revisions,
};
use wharf_sdk::k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::prelude::*;
use wharf_sdk::serde_json::Value;

use crate::claim::claim;
use crate::pods;

/// How many old revisions a set keeps unless it says (`revisionHistoryLimit`).
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;

/// The set's revisions: the one matching its template now, and the others.
#[derive(Clone, Debug)]
pub struct History {
    pub current: ControllerRevision,
    pub old: Vec<ControllerRevision>,
}

impl History {
    /// The current revision's hash: the `controller-revision-hash` label of
    /// the pods it makes.
    pub fn hash(&self) -> &str {
        revision_hash(&self.current).unwrap_or_default()
    }
}

/// `getPatch`: the strategic merge patch that puts the set's template back.
pub fn revision_data(daemon_set: &DaemonSet) -> Result<Value, Error> {
    let mut template = serde_json::to_value(&daemon_set.spec.template)?;
    if let Value::Object(fields) = &mut template {
        fields.insert("$patch".to_owned(), Value::from("replace"));
    }
    Ok(serde_json::json!({ "spec": { "template": template } }))
}

/// `constructHistory`: claims the namespace's revisions, labels those
/// without a hash label with their name, finds the current one (creating
/// it when none matches; keeping the newest of duplicates, relabelling
/// `pods` to it) and gives it the highest revision number.
pub fn construct_history(
    ctx: &Context,
    daemon_set: &DaemonSet,
    selector: &Selector,
    pods: &[Pod],
) -> Result<History, Error> {
    let namespace = daemon_set.metadata.namespace.as_deref();
    let all = ctx.list::<ControllerRevision>(namespace, &ListParams::default())?;
    let data = revision_data(daemon_set)?;
    let mut current = Vec::new();
    let mut old = Vec::new();
    for mut revision in claim(ctx, daemon_set, selector, all)? {
        if revision_hash(&revision).is_none() {
            let name = revision.metadata.name.clone().unwrap_or_default();
            revision
                .metadata
                .labels
                .get_or_insert_with(Default::default)
                .insert(CONTROLLER_REVISION_HASH_LABEL.to_owned(), name);
            revision = ctx.update(&revision)?;
        }
        let matches = semantically_equal(&revision.data.0, &data);
        if matches {
            current.push(revision);
        } else {
            old.push(revision);
        }
    }
    sort_revisions(&mut old);
    let next = next_revision_number(&old);
    let current = if current.is_empty() {
        snapshot(ctx, daemon_set, data, next)?
    } else {
        let mut kept = dedup_current(ctx, current, pods)?;
        if kept.revision.unwrap_or(0) < next {
            kept.revision = Some(next);
            kept = ctx.update(&kept)?;
        }
        kept
    };
    Ok(History { current, old })
}

/// `snapshot`: creates the revision of the set's template now. A revision
/// of that name with other data is a hash collision: the set's
/// `status.collisionCount` goes up (unless the count read was stale) and
/// the error is returned, so that the next try hashes differently.
fn snapshot(
    ctx: &Context,
    daemon_set: &DaemonSet,
    data: Value,
    number: i64,
) -> Result<ControllerRevision, Error> {
    let namespace = daemon_set.metadata.namespace.as_deref();
    let collision_count = daemon_set
        .status
        .as_ref()
        .and_then(|status| status.collision_count);
    let template_labels = daemon_set
        .spec
        .template
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.labels.as_ref());
    let mut revision = new_revision(
        daemon_set,
        template_labels,
        data.clone(),
        number,
        collision_count,
    );
    revision.metadata.annotations = daemon_set.metadata.annotations.clone();
    let error = match ctx.create(namespace, &revision) {
        Err(error) if error.is_already_exists() => error,
        result => return result,
    };
    let name = revision.metadata.name.clone().unwrap_or_default();
    let Some(existing) = ctx.get::<ControllerRevision>(namespace, &name)? else {
        return Err(error);
    };
    if semantically_equal(&existing.data.0, &data) {
        return Ok(existing);
    }
    let set_name = daemon_set.metadata.name.as_deref().unwrap_or_default();
    let Some(mut fresh) = ctx.get::<DaemonSet>(namespace, set_name)? else {
        return Err(error);
    };
    let fresh_count = fresh
        .status
        .as_ref()
        .and_then(|status| status.collision_count);
    if fresh_count != collision_count {
        return Err(Error::Conflict(format!(
            "found a stale collision count ({collision_count:?}, expected {fresh_count:?}) of DaemonSet {set_name:?} while processing; will retry until it is updated"
        )));
    }
    let status = fresh.status.get_or_insert_with(Default::default);
    let bumped = status.collision_count.unwrap_or(0) + 1;
    status.collision_count = Some(bumped);
    ctx.update_status(&fresh)?;
    ctx.info(format!(
        "found a hash collision for DaemonSet {set_name}: bumping collisionCount to {bumped}"
    ));
    Err(error)
}

/// `dedupCurHistories`: of several revisions with the current data, keeps
/// the one with the highest number, moves the pods to its hash and
/// deletes the others.
fn dedup_current(
    ctx: &Context,
    mut current: Vec<ControllerRevision>,
    pods: &[Pod],
) -> Result<ControllerRevision, Error> {
    sort_revisions(&mut current);
    let kept = current.pop().expect("at least one current revision");
    if current.is_empty() {
        return Ok(kept);
    }
    let hash = revision_hash(&kept).unwrap_or_default();
    for pod in pods
        .iter()
        .filter(|pod| pods::revision_hash(pod) != Some(hash))
    {
        let patch = serde_json::json!({
            "metadata": { "labels": { CONTROLLER_REVISION_HASH_LABEL: hash } }
        });
        match ctx.patch::<Pod>(
            pod.metadata.namespace.as_deref(),
            pods::name(pod),
            &Patch::Merge(patch),
            false,
        ) {
            Err(error) if !error.is_not_found() => return Err(error),
            _ => {}
        }
    }
    for duplicate in &current {
        delete_revision(ctx, duplicate)?;
    }
    Ok(kept)
}

/// `cleanupHistory`: deletes the oldest old revisions beyond
/// `revisionHistoryLimit`, never one that a pod (`pods`: every pod the set
/// controls, finished ones included) still carries the hash of.
pub fn cleanup_history(
    ctx: &Context,
    daemon_set: &DaemonSet,
    old: &[ControllerRevision],
    pods: &[Pod],
) -> Result<(), Error> {
    let limit = daemon_set
        .spec
        .revision_history_limit
        .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT);
    let limit = usize::try_from(limit).unwrap_or(0);
    let mut to_kill = old.len().saturating_sub(limit);
    if to_kill == 0 {
        return Ok(());
    }
    let live: BTreeSet<&str> = pods.iter().filter_map(pods::revision_hash).collect();
    // `old` is sorted oldest first.
    for revision in old {
        if to_kill == 0 {
            break;
        }
        if revision_hash(revision).is_some_and(|hash| live.contains(hash)) {
            continue;
        }
        delete_revision(ctx, revision)?;
        to_kill -= 1;
    }
    Ok(())
}

fn delete_revision(ctx: &Context, revision: &ControllerRevision) -> Result<(), Error> {
    match ctx.delete::<ControllerRevision>(
        revision.metadata.namespace.as_deref(),
        revision.metadata.name.as_deref().unwrap_or_default(),
    ) {
        Err(error) if error.is_not_found() => Ok(()),
        result => result,
    }
}

fn revision_hash(revision: &ControllerRevision) -> Option<&str> {
    revision
        .metadata
        .labels
        .as_ref()?
        .get(CONTROLLER_REVISION_HASH_LABEL)
        .map(String::as_str)
}
