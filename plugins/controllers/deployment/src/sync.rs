//! One sync of one Deployment (`syncDeployment` and `sync.go`): the
//! [`DeploymentSync`] state, the order of decisions, the new ReplicaSet and
//! the revisions, scaling outside a rollout, history cleanup and status.
//! The strategies (`rolling.rs`, `recreate.rs`), progress (`progress.rs`)
//! and the deprecated rollback (`rollback.rs`) add methods to it.
//!
//! Kubernetes decides in this order: a deleted Deployment only gets its
//! status; a paused one is only scaled; a requested rollback goes before
//! anything else; a changed `spec.replicas` is a scaling event (scaled
//! proportionally, no rollout step); otherwise the strategy rolls.

use std::collections::BTreeMap;
use std::time::Duration;

use wharf_sdk::k8s_openapi::api::apps::v1::{
    Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use wharf_sdk::prelude::*;
use wharf_sdk::time_from_millis;

use crate::claim;
use crate::conditions;
use crate::hash::{compute_hash, equal_ignore_hash};
use crate::names::{POD_TEMPLATE_HASH_LABEL, annotation, condition, event, reason};
use crate::replica_sets::{self as rs, replicas};
use crate::rollback::rollback_to;
use crate::spec::{ResolvedSpec, Strategy};

/// Syncs the Deployment (read just now) with its ReplicaSets.
pub fn sync_deployment(ctx: &Context<'_>, deployment: Deployment) -> Result<Action, Error> {
    if selects_everything(&deployment.spec.selector) {
        ctx.event(
            &deployment,
            EventType::Warning,
            event::SELECTING_ALL,
            "This deployment is selecting all pods. A non-empty selector is required.",
        );
        let mut deployment = deployment;
        let generation = deployment.metadata.generation;
        let status = deployment
            .status
            .get_or_insert_with(DeploymentStatus::default);
        if status.observed_generation < generation {
            status.observed_generation = generation;
            ctx.update_status(&deployment)?;
        }
        return Ok(Action::Done);
    }
    let spec = match ResolvedSpec::of(&deployment) {
        Ok(spec) => spec,
        Err(invalid) => {
            // The Kubernetes API server refuses such a spec; acting on it
            // could never finish a rollout, so say why and wait for a fix.
            ctx.event(
                &deployment,
                EventType::Warning,
                event::INVALID_SPEC,
                invalid.to_string(),
            );
            return Ok(Action::Done);
        }
    };
    let replica_sets = claim::replica_sets_for_deployment(ctx, &deployment)?;
    let now_millis = ctx.now_millis();
    let mut sync = DeploymentSync {
        ctx,
        stored: deployment.clone(),
        deployment,
        spec,
        replica_sets,
        // Conditions carry whole seconds, as metav1.Time does on the wire.
        now: time_from_millis(now_millis / 1000 * 1000),
        now_millis,
        requeue_after: None,
    };
    sync.run()?;
    Ok(match sync.requeue_after {
        Some(after) => Action::RequeueAfter(after),
        None => Action::Done,
    })
}

/// The state of one sync: the Deployment as the controller changes it, the
/// last stored copy, and its ReplicaSets, each kept current after a write.
pub struct DeploymentSync<'c, 'a> {
    pub(crate) ctx: &'c Context<'a>,
    /// The Deployment with the changes of this sync.
    pub(crate) deployment: Deployment,
    /// The Deployment as last read or written.
    pub(crate) stored: Deployment,
    pub(crate) spec: ResolvedSpec,
    /// The ReplicaSets the Deployment controls (claimed at the start).
    pub(crate) replica_sets: Vec<ReplicaSet>,
    /// Now, in whole seconds, for conditions.
    pub(crate) now: Time,
    pub(crate) now_millis: u64,
    /// When to look again though nothing changes (progress deadline, Recreate waiting for pods).
    pub(crate) requeue_after: Option<Duration>,
}

impl DeploymentSync<'_, '_> {
    fn run(&mut self) -> Result<(), Error> {
        if self.deployment.metadata.deletion_timestamp.is_some() {
            return self.sync_status_only();
        }
        // A Progressing condition with reason DeploymentPaused/Resumed keeps
        // a resumed Deployment from timing out at once.
        self.check_paused_conditions()?;
        if self.spec.paused {
            return self.sync();
        }
        // Rollback is not re-entrant: the ReplicaSets get new revisions, so
        // do nothing else until the request is cleared.
        if let Some(revision) = rollback_to(&self.deployment) {
            return self.rollback(revision);
        }
        if self.is_scaling_event()? {
            return self.sync();
        }
        match self.spec.strategy {
            Strategy::Recreate => self.rollout_recreate(),
            Strategy::RollingUpdate { .. } => self.rollout_rolling(),
        }
    }

    /// `syncStatusOnly`: for a Deployment being deleted.
    fn sync_status_only(&mut self) -> Result<(), Error> {
        let (new, old) = self.get_all_replica_sets_and_sync_revision(false)?;
        let all = all(&old, new.as_ref());
        self.sync_deployment_status(&all, new.as_ref())
    }

    /// `sync`: scaling outside a rollout (paused, or `spec.replicas` changed).
    pub(crate) fn sync(&mut self) -> Result<(), Error> {
        let (new, mut old) = self.get_all_replica_sets_and_sync_revision(false)?;
        self.scale(new.as_ref(), &mut old)?;
        let (new, old) = (self.current_opt(new.as_ref()), self.current_all(&old));
        // A paused Deployment is not rolling; clean up its history here.
        if self.spec.paused && rollback_to(&self.deployment).is_none() {
            self.cleanup_deployment(&old)?;
        }
        let old = self.current_all(&old);
        let all = all(&old, new.as_ref());
        self.sync_deployment_status(&all, new.as_ref())
    }

    /// `checkPausedConditions`.
    fn check_paused_conditions(&mut self) -> Result<(), Error> {
        if !self.spec.has_progress_deadline() {
            return Ok(());
        }
        let status = self
            .deployment
            .status
            .get_or_insert_with(DeploymentStatus::default);
        let current_reason =
            conditions::get(status, condition::PROGRESSING).and_then(|c| c.reason.clone());
        if current_reason.as_deref() == Some(reason::PROGRESS_DEADLINE_EXCEEDED) {
            // Do not overwrite a reported lack of progress.
            return Ok(());
        }
        let paused_condition_exists = current_reason.as_deref() == Some(reason::DEPLOYMENT_PAUSED);
        let (reason, message) = match (self.spec.paused, paused_condition_exists) {
            (true, false) => (reason::DEPLOYMENT_PAUSED, "Deployment is paused"),
            (false, true) => (reason::DEPLOYMENT_RESUMED, "Deployment is resumed"),
            _ => return Ok(()),
        };
        let new = conditions::new(
            condition::PROGRESSING,
            condition::UNKNOWN,
            reason,
            message,
            &self.now,
        );
        conditions::set(status, new);
        self.update_deployment_status()
    }

    /// `getAllReplicaSetsAndSyncRevision`: the new ReplicaSet (created when
    /// `create_if_missing` and there is none) and the old ones, with the new
    /// one's revision raised above the old ones and copied to the Deployment.
    pub(crate) fn get_all_replica_sets_and_sync_revision(
        &mut self,
        create_if_missing: bool,
    ) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>), Error> {
        let new_index = rs::find_new(&self.deployment.spec.template, &mut self.replica_sets);
        let old: Vec<ReplicaSet> = (self.replica_sets.iter().enumerate())
            .filter(|(i, _)| Some(*i) != new_index)
            .map(|(_, rs)| rs.clone())
            .collect();
        let existing = new_index.map(|i| self.replica_sets[i].clone());
        let new = self.get_new_replica_set(existing, &old, create_if_missing)?;
        Ok((new, old))
    }

    /// `getNewReplicaSet`.
    fn get_new_replica_set(
        &mut self,
        existing: Option<ReplicaSet>,
        old: &[ReplicaSet],
        create_if_missing: bool,
    ) -> Result<Option<ReplicaSet>, Error> {
        let new_revision = rs::max_revision(old) + 1;
        if let Some(existing) = existing {
            let mut copy = existing.clone();
            let annotations_updated = rs::set_new_replica_set_annotations(
                &self.deployment,
                &self.spec,
                &mut copy,
                new_revision,
                true,
            );
            let min_ready_seconds_needs_update =
                copy.spec.min_ready_seconds.unwrap_or(0) != self.spec.min_ready_seconds;
            if annotations_updated || min_ready_seconds_needs_update {
                copy.spec.min_ready_seconds = nonzero(self.spec.min_ready_seconds);
                let updated = self.ctx.update(&copy)?;
                self.remember(&updated);
                // The Deployment's revision follows on the next sync (the update wakes it).
                return Ok(Some(updated));
            }
            let revision = rs::annotation_of(&copy, annotation::REVISION)
                .unwrap_or_default()
                .to_owned();
            let mut needs_update = set_deployment_revision(&mut self.deployment, &revision);
            let status = self
                .deployment
                .status
                .get_or_insert_with(DeploymentStatus::default);
            if self.spec.has_progress_deadline()
                && conditions::get(status, condition::PROGRESSING).is_none()
            {
                let message = format!("Found new replica set {:?}", rs::name(&copy));
                let found = conditions::new(
                    condition::PROGRESSING,
                    condition::TRUE,
                    reason::FOUND_NEW_REPLICA_SET,
                    message,
                    &self.now,
                );
                conditions::set(status, found);
                needs_update = true;
            }
            if needs_update {
                self.update_deployment_status()?;
            }
            return Ok(Some(copy));
        }
        if !create_if_missing {
            return Ok(None);
        }
        self.create_new_replica_set(old, new_revision).map(Some)
    }

    /// The part of `getNewReplicaSet` that creates: named
    /// `<deployment>-<hash>`, the hash label added to its labels, selector
    /// and template, sized by the strategy, with a hash collision (the name
    /// taken by another template) counted in `status.collisionCount`.
    fn create_new_replica_set(
        &mut self,
        old: &[ReplicaSet],
        new_revision: i64,
    ) -> Result<ReplicaSet, Error> {
        let namespace = self.deployment.metadata.namespace.clone();
        let collision_count = self
            .deployment
            .status
            .as_ref()
            .and_then(|s| s.collision_count);
        let mut template = self.deployment.spec.template.clone();
        let hash = compute_hash(&template, collision_count);
        let mut labels = template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        labels.insert(POD_TEMPLATE_HASH_LABEL.to_owned(), hash.clone());
        template
            .metadata
            .get_or_insert_with(ObjectMeta::default)
            .labels = Some(labels.clone());
        let mut selector = self.deployment.spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH_LABEL.to_owned(), hash.clone());
        let name = format!(
            "{}-{hash}",
            self.deployment.metadata.name.as_deref().unwrap_or_default()
        );
        let mut new = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: namespace.clone(),
                owner_references: Some(vec![owner_reference(&self.deployment)]),
                labels: Some(labels),
                ..ObjectMeta::default()
            },
            spec: ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: nonzero(self.spec.min_ready_seconds),
                selector,
                template: Some(template),
            },
            status: None,
        };
        let mut all = old.to_vec();
        all.push(new.clone());
        let new_replicas = rs::new_replica_set_replicas(&self.spec, &all, &new);
        new.spec.replicas = Some(new_replicas);
        rs::set_new_replica_set_annotations(
            &self.deployment,
            &self.spec,
            &mut new,
            new_revision,
            false,
        );

        let (created, already_existed) = match self.ctx.create(namespace.as_deref(), &new) {
            Ok(created) => (created, false),
            Err(error) if error.is_already_exists() => {
                // A stale cache, or a hash collision.
                let Some(existing) = self.ctx.get::<ReplicaSet>(namespace.as_deref(), &name)?
                else {
                    return Err(error);
                };
                let ours = controller_of(&existing).map(|r| r.uid.as_str())
                    == self.deployment.metadata.uid.as_deref();
                if !(ours
                    && equal_ignore_hash(&self.deployment.spec.template, &rs::template(&existing)))
                {
                    let status = self
                        .deployment
                        .status
                        .get_or_insert_with(DeploymentStatus::default);
                    let count = status.collision_count.unwrap_or(0);
                    status.collision_count = Some(count + 1);
                    if self.update_deployment_status().is_ok() {
                        self.ctx.info(format!(
                            "found a hash collision for ReplicaSet {name}: collisionCount {count} -> {}",
                            count + 1
                        ));
                    }
                    return Err(error);
                }
                (existing, true)
            }
            Err(error) => {
                let message = format!("Failed to create new replica set {name:?}: {error}");
                if self.spec.has_progress_deadline() {
                    let status = self
                        .deployment
                        .status
                        .get_or_insert_with(DeploymentStatus::default);
                    let failed = conditions::new(
                        condition::PROGRESSING,
                        condition::FALSE,
                        reason::FAILED_REPLICA_SET_CREATE,
                        message.clone(),
                        &self.now,
                    );
                    conditions::set(status, failed);
                    // The failure to create is the bigger problem to report.
                    let _ = self.update_deployment_status();
                }
                self.event(
                    EventType::Warning,
                    reason::FAILED_REPLICA_SET_CREATE,
                    message,
                );
                return Err(error);
            }
        };
        self.remember(&created);
        if !already_existed && new_replicas > 0 {
            self.event(
                EventType::Normal,
                event::SCALING_REPLICA_SET,
                format!("Scaled up replica set {name} to {new_replicas}"),
            );
        }
        let mut needs_update =
            set_deployment_revision(&mut self.deployment, &new_revision.to_string());
        if !already_existed && self.spec.has_progress_deadline() {
            let message = format!("Created new replica set {name:?}");
            let status = self
                .deployment
                .status
                .get_or_insert_with(DeploymentStatus::default);
            let created_condition = conditions::new(
                condition::PROGRESSING,
                condition::TRUE,
                reason::NEW_REPLICA_SET_CREATED,
                message,
                &self.now,
            );
            conditions::set(status, created_condition);
            needs_update = true;
        }
        if needs_update {
            self.update_deployment_status()?;
        }
        Ok(created)
    }

    /// `scale`: sizes the ReplicaSets to `spec.replicas` without rolling.
    /// One active ReplicaSet (or none) takes everything; a saturated new
    /// one means the old ones go; otherwise a rolling Deployment's change is
    /// spread over the active ReplicaSets in proportion to their sizes.
    fn scale(&mut self, new: Option<&ReplicaSet>, old: &mut [ReplicaSet]) -> Result<(), Error> {
        if let Some(only) = rs::find_active_or_latest(new, old) {
            if replicas(&only) != self.spec.replicas {
                self.scale_replica_set_and_record_event(&only, self.spec.replicas)?;
            }
            return Ok(());
        }
        if rs::is_saturated(&self.spec, new) {
            for old in rs::active(old.iter()) {
                self.scale_replica_set_and_record_event(&old, 0)?;
            }
            return Ok(());
        }
        if !self.spec.is_rolling_update() {
            return Ok(());
        }
        let mut active = rs::active(old.iter().chain(new));
        let allowed_size = if self.spec.replicas > 0 {
            self.spec.max_replicas()
        } else {
            0
        };
        let to_add = allowed_size - rs::replica_count(&active);
        // Scaling up, newer ReplicaSets first among equals; down, older first.
        let operation = match to_add.signum() {
            1 => {
                active.sort_by(rs::by_size_newer);
                "up"
            }
            -1 => {
                active.sort_by(rs::by_size_older);
                "down"
            }
            _ => "",
        };
        let mut added = 0;
        let mut sizes = Vec::with_capacity(active.len());
        for replica_set in &active {
            let proportion =
                rs::proportion(replica_set, &self.deployment, &self.spec, to_add, added);
            sizes.push(replicas(replica_set) + proportion);
            added += proportion;
        }
        for (i, replica_set) in active.iter().enumerate() {
            if i == 0 && to_add != 0 {
                // The leftover goes to the largest.
                sizes[0] = (sizes[0] + to_add - added).max(0);
            }
            self.scale_replica_set(replica_set, sizes[i], operation)?;
        }
        Ok(())
    }

    /// `scaleReplicaSetAndRecordEvent`: returns whether it scaled, and the ReplicaSet as stored.
    pub(crate) fn scale_replica_set_and_record_event(
        &mut self,
        replica_set: &ReplicaSet,
        new_scale: i32,
    ) -> Result<(bool, ReplicaSet), Error> {
        if replicas(replica_set) == new_scale {
            return Ok((false, replica_set.clone()));
        }
        let operation = if replicas(replica_set) < new_scale {
            "up"
        } else {
            "down"
        };
        self.scale_replica_set(replica_set, new_scale, operation)
    }

    /// `scaleReplicaSet`: sets the size and the replica annotations; an
    /// event when the size changed.
    fn scale_replica_set(
        &mut self,
        replica_set: &ReplicaSet,
        new_scale: i32,
        operation: &str,
    ) -> Result<(bool, ReplicaSet), Error> {
        let old_scale = replicas(replica_set);
        let size_needs_update = old_scale != new_scale;
        let (desired, max) = (self.spec.replicas, self.spec.max_replicas());
        if !size_needs_update && !rs::replicas_annotations_need_update(replica_set, desired, max) {
            return Ok((false, replica_set.clone()));
        }
        let mut copy = replica_set.clone();
        copy.spec.replicas = Some(new_scale);
        rs::set_replicas_annotations(&mut copy, desired, max);
        let updated = self.ctx.update(&copy)?;
        self.remember(&updated);
        if size_needs_update {
            let message = format!(
                "Scaled {operation} replica set {} to {new_scale} from {old_scale}",
                rs::name(&updated)
            );
            self.event(EventType::Normal, event::SCALING_REPLICA_SET, message);
        }
        Ok((size_needs_update, updated))
    }

    /// `cleanupDeployment`: deletes the oldest old ReplicaSets beyond
    /// `revisionHistoryLimit`, but only those that are fully scaled down
    /// and observed so by their controller.
    pub(crate) fn cleanup_deployment(&mut self, old: &[ReplicaSet]) -> Result<(), Error> {
        let Some(limit) = self.spec.revision_history_limit else {
            return Ok(());
        };
        let mut cleanable: Vec<&ReplicaSet> = old
            .iter()
            .filter(|r| r.metadata.deletion_timestamp.is_none())
            .collect();
        let excess = cleanable.len() as i64 - i64::from(limit);
        if excess <= 0 {
            return Ok(());
        }
        cleanable.sort_by(|a, b| rs::by_revision(a, b));
        for replica_set in cleanable.into_iter().take(excess as usize) {
            let observed = replica_set
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            if rs::actual_replicas(replica_set) != 0
                || replicas(replica_set) != 0
                || replica_set.metadata.generation.unwrap_or(0) > observed
            {
                continue;
            }
            let namespace = replica_set.metadata.namespace.as_deref();
            match self
                .ctx
                .delete::<ReplicaSet>(namespace, rs::name(replica_set))
            {
                Ok(()) => {}
                Err(error) if error.is_not_found() => {}
                Err(error) => return Err(error),
            }
            let uid = rs::uid(replica_set).to_owned();
            self.replica_sets.retain(|r| rs::uid(r) != uid);
        }
        Ok(())
    }

    /// `syncDeploymentStatus`: the status as the ReplicaSets say, written if it changed.
    fn sync_deployment_status(
        &mut self,
        all: &[ReplicaSet],
        new: Option<&ReplicaSet>,
    ) -> Result<(), Error> {
        let status = self.calculate_status(all, new);
        self.deployment.status = Some(status);
        self.update_deployment_status()
    }

    /// `calculateStatus`: counts from the ReplicaSets' statuses (zeros left
    /// out, as Go's `omitempty` does), and the Available condition.
    pub(crate) fn calculate_status(
        &self,
        all: &[ReplicaSet],
        new: Option<&ReplicaSet>,
    ) -> DeploymentStatus {
        let available = rs::available_replica_count(all);
        let unavailable = (rs::replica_count(all) - available).max(0);
        let current = self.deployment.status.clone().unwrap_or_default();
        let mut status = DeploymentStatus {
            observed_generation: self.deployment.metadata.generation,
            replicas: nonzero(rs::actual_replica_count(all)),
            updated_replicas: nonzero(rs::actual_replica_count(new)),
            ready_replicas: nonzero(rs::ready_replica_count(all)),
            available_replicas: nonzero(available),
            unavailable_replicas: nonzero(unavailable),
            terminating_replicas: rs::terminating_replica_count(all),
            collision_count: current.collision_count,
            conditions: current.conditions,
        };
        let (status_value, reason, message) =
            if available >= self.spec.replicas - self.spec.max_unavailable() {
                (
                    condition::TRUE,
                    reason::MINIMUM_REPLICAS_AVAILABLE,
                    "Deployment has minimum availability.",
                )
            } else {
                (
                    condition::FALSE,
                    reason::MINIMUM_REPLICAS_UNAVAILABLE,
                    "Deployment does not have minimum availability.",
                )
            };
        conditions::set(
            &mut status,
            conditions::new(
                condition::AVAILABLE,
                status_value,
                reason,
                message,
                &self.now,
            ),
        );
        status
    }

    /// `isScalingEvent`: an active ReplicaSet was sized for another `spec.replicas`.
    fn is_scaling_event(&mut self) -> Result<bool, Error> {
        let (new, old) = self.get_all_replica_sets_and_sync_revision(false)?;
        let replicas = self.spec.replicas;
        Ok(rs::active(old.iter().chain(new.as_ref()))
            .iter()
            .any(|r| rs::desired_replicas_annotation(r).is_some_and(|desired| desired != replicas)))
    }

    // --- Writes and bookkeeping ---

    /// What Kubernetes' `UpdateStatus` of the Deployment does: it also
    /// stores metadata (the revision annotation). Wharf's status subresource
    /// keeps metadata as stored, so changed annotations go first with an
    /// update. Writes nothing that is already stored.
    pub(crate) fn update_deployment_status(&mut self) -> Result<(), Error> {
        if self.deployment.metadata.annotations != self.stored.metadata.annotations {
            let stored = self.ctx.update(&self.deployment)?;
            self.deployment.metadata = stored.metadata.clone();
            self.stored = stored;
        }
        if self.deployment.status != self.stored.status {
            let stored = self.ctx.update_status(&self.deployment)?;
            self.deployment = stored.clone();
            self.stored = stored;
        }
        Ok(())
    }

    /// Updates the whole Deployment (spec and metadata).
    pub(crate) fn update_deployment(&mut self) -> Result<(), Error> {
        let stored = self.ctx.update(&self.deployment)?;
        self.deployment = stored.clone();
        self.stored = stored;
        Ok(())
    }

    pub(crate) fn event(&self, type_: EventType, reason: &str, message: impl Into<String>) {
        self.ctx.event(&self.deployment, type_, reason, message);
    }

    /// Keeps a written ReplicaSet as the current one.
    pub(crate) fn remember(&mut self, written: &ReplicaSet) {
        match self
            .replica_sets
            .iter_mut()
            .find(|r| rs::uid(r) == rs::uid(written))
        {
            Some(slot) => *slot = written.clone(),
            None => self.replica_sets.push(written.clone()),
        }
    }

    /// The current version of a ReplicaSet (after this sync's writes).
    pub(crate) fn current(&self, replica_set: &ReplicaSet) -> ReplicaSet {
        self.replica_sets
            .iter()
            .find(|r| rs::uid(r) == rs::uid(replica_set))
            .unwrap_or(replica_set)
            .clone()
    }

    pub(crate) fn current_opt(&self, replica_set: Option<&ReplicaSet>) -> Option<ReplicaSet> {
        replica_set.map(|r| self.current(r))
    }

    /// The current versions of those still there (cleanup deletes some).
    pub(crate) fn current_all(&self, replica_sets: &[ReplicaSet]) -> Vec<ReplicaSet> {
        replica_sets
            .iter()
            .filter_map(|r| {
                self.replica_sets
                    .iter()
                    .find(|c| rs::uid(c) == rs::uid(r))
                    .cloned()
            })
            .collect()
    }
}

/// The old ReplicaSets and the new one, in one list.
pub(crate) fn all(old: &[ReplicaSet], new: Option<&ReplicaSet>) -> Vec<ReplicaSet> {
    old.iter().chain(new).cloned().collect()
}

/// `SetDeploymentRevision`: returns whether it changed.
fn set_deployment_revision(deployment: &mut Deployment, revision: &str) -> bool {
    let annotations = deployment
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    if annotations.get(annotation::REVISION).map(String::as_str) == Some(revision) {
        return false;
    }
    annotations.insert(annotation::REVISION.to_owned(), revision.to_owned());
    true
}

/// Go leaves zero-valued `omitempty` integers out of the JSON.
pub(crate) fn nonzero(value: i32) -> Option<i32> {
    (value != 0).then_some(value)
}

/// An empty selector would select every pod in the namespace.
fn selects_everything(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
}
