//! Creating, updating and deleting a StatefulSet's pods and claims, with
//! the events kube's `StatefulPodControl` records on the set:
//! `SuccessfulCreate` / `FailedCreate`, `SuccessfulUpdate` /
//! `FailedUpdate`, `SuccessfulDelete` / `FailedDelete`, and
//! `ConflictingController` for a claim another controller manages.

use std::cell::RefCell;

use wharf_sdk::k8s_openapi::api::apps::v1::StatefulSet;
use wharf_sdk::k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use wharf_sdk::prelude::*;

use crate::identity::{self, identity_matches, storage_matches, update_identity, update_storage};
use crate::volumes::{
    Retention, RetentionPolicy, claim_is_stale_for, claim_owner_up_to_date, claims_for,
    has_unexpected_controller, update_claim_owner_refs,
};

/// Event reasons, as kube's stateful pod control records them on the set.
pub mod reasons {
    pub const SUCCESSFUL_CREATE: &str = "SuccessfulCreate";
    pub const FAILED_CREATE: &str = "FailedCreate";
    pub const SUCCESSFUL_UPDATE: &str = "SuccessfulUpdate";
    pub const FAILED_UPDATE: &str = "FailedUpdate";
    pub const SUCCESSFUL_DELETE: &str = "SuccessfulDelete";
    pub const FAILED_DELETE: &str = "FailedDelete";
    pub const CONFLICTING_CONTROLLER: &str = "ConflictingController";
}

/// The pod and claim writes of one reconcile of `set` (events are recorded
/// on it), remembering the pods created and deleted for the expectations.
pub struct PodControl<'c, 'a> {
    ctx: &'c Context<'a>,
    set: &'c StatefulSet,
    pub created: RefCell<Vec<String>>,
    pub deleted: RefCell<Vec<String>>,
}

impl<'c, 'a> PodControl<'c, 'a> {
    pub fn new(ctx: &'c Context<'a>, set: &'c StatefulSet) -> Self {
        PodControl {
            ctx,
            set,
            created: RefCell::default(),
            deleted: RefCell::default(),
        }
    }

    /// Creates the pod's missing claims, then the pod, then points the
    /// claims' owner references as the retention policy wants
    /// (`CreateStatefulPod`). `spec` is the set at the pod's revision.
    pub fn create_pod(&self, spec: &StatefulSet, pod: &Pod) -> Result<(), Error> {
        if let Err(error) = self.create_claims(spec, pod) {
            self.record_pod_event("create", pod, Some(&error));
            return Err(error);
        }
        let result = self.ctx.create(pod.metadata.namespace.as_deref(), pod);
        let created = match result {
            // A pod of that name exists: the cache is behind; no event.
            Err(error) if error.is_already_exists() => return Err(error),
            Err(error) => Err(error),
            Ok(created) => {
                self.created
                    .borrow_mut()
                    .push(identity::name(&created).to_owned());
                Ok(created)
            }
        };
        let claims_pod = created.as_ref().unwrap_or(pod);
        if let Err(error) = self.update_claims_for_retention_policy(spec, claims_pod) {
            self.record_pod_event("update", pod, Some(&error));
            return Err(error);
        }
        self.record_pod_event("create", pod, created.as_ref().err());
        created.map(|_| ())
    }

    /// Gives the pod its identity, its claims' volumes and its claims'
    /// owner references when it lacks them (`UpdateStatefulPod`); a
    /// conflict reads the pod again and tries once more.
    pub fn update_pod(&self, spec: &StatefulSet, mut pod: Pod) -> Result<(), Error> {
        let mut attempted = false;
        let mut result = Ok(());
        for _ in 0..2 {
            let mut consistent = true;
            if !identity_matches(spec, &pod) {
                update_identity(spec, &mut pod);
                consistent = false;
            }
            if !storage_matches(spec, &pod) {
                update_storage(spec, &mut pod);
                consistent = false;
                if let Err(error) = self.create_claims(spec, &pod) {
                    self.record_pod_event("update", &pod, Some(&error));
                    return Err(error);
                }
            }
            match self.claims_match_retention_policy(spec, &pod) {
                Err(error) => {
                    self.record_pod_event("update", &pod, Some(&error));
                    return Err(error);
                }
                Ok(false) => {
                    if let Err(error) = self.update_claims_for_retention_policy(spec, &pod) {
                        self.record_pod_event("update", &pod, Some(&error));
                        return Err(error);
                    }
                    consistent = false;
                }
                Ok(true) => {}
            }
            if consistent {
                result = Ok(());
                break;
            }
            attempted = true;
            result = self.ctx.update(&pod).map(|_| ());
            match &result {
                Err(error) if error.is_conflict() => {
                    let namespace = pod.metadata.namespace.clone();
                    match self
                        .ctx
                        .get::<Pod>(namespace.as_deref(), identity::name(&pod))?
                    {
                        Some(fresh) => pod = fresh,
                        None => break,
                    }
                }
                _ => break,
            }
        }
        if attempted {
            self.record_pod_event("update", &pod, result.as_ref().err());
        }
        result
    }

    /// Deletes the pod (`DeleteStatefulPod`); its claims stay.
    pub fn delete_pod(&self, pod: &Pod) -> Result<(), Error> {
        let result = self
            .ctx
            .delete::<Pod>(pod.metadata.namespace.as_deref(), identity::name(pod));
        if result.is_ok() {
            self.deleted
                .borrow_mut()
                .push(identity::name(pod).to_owned());
        }
        self.record_pod_event("delete", pod, result.as_ref().err());
        result
    }

    /// Creates the pod's missing claims and sets their owners
    /// (`createMissingPersistentVolumeClaims`), for a pending pod whose
    /// claim was deleted.
    pub fn create_missing_claims(&self, spec: &StatefulSet, pod: &Pod) -> Result<(), Error> {
        self.create_claims(spec, pod)?;
        if let Err(error) = self.update_claims_for_retention_policy(spec, pod) {
            self.record_pod_event("update", pod, Some(&error));
            return Err(error);
        }
        Ok(())
    }

    /// Whether every existing claim of the pod has the owners the policy
    /// wants (`ClaimsMatchRetentionPolicy`); missing claims are skipped.
    pub fn claims_match_retention_policy(
        &self,
        spec: &StatefulSet,
        pod: &Pod,
    ) -> Result<bool, Error> {
        for claim in self.existing_claims(spec, pod)? {
            if !claim_owner_up_to_date(&claim, spec, pod) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Rewrites the owner references of the pod's claims that do not match
    /// the policy (`UpdatePodClaimForRetentionPolicy`).
    pub fn update_claims_for_retention_policy(
        &self,
        spec: &StatefulSet,
        pod: &Pod,
    ) -> Result<(), Error> {
        for mut claim in self.existing_claims(spec, pod)? {
            let claim_name = claim.metadata.name.clone().unwrap_or_default();
            if has_unexpected_controller(&claim, spec, pod) {
                self.ctx.event(
                    self.set,
                    EventType::Warning,
                    reasons::CONFLICTING_CONTROLLER,
                    format!(
                        "PersistentVolumeClaim {claim_name} has a conflicting OwnerReference that acts as a manging controller, the retention policy is ignored for this claim"
                    ),
                );
            }
            if !claim_owner_up_to_date(&claim, spec, pod) {
                update_claim_owner_refs(&mut claim, spec, pod);
                self.ctx.update(&claim).map_err(|error| {
                    Error::other(format!(
                        "could not update claim {claim_name} for delete policy ownerRefs: {error}"
                    ))
                })?;
            }
        }
        Ok(())
    }

    /// Whether a claim of the pod still belongs to an earlier pod of its
    /// name, which `whenScaled: Delete` is about to delete
    /// (`PodClaimIsStale`): the pod is not made until it is gone.
    pub fn pod_claim_is_stale(&self, spec: &StatefulSet, pod: &Pod) -> Result<bool, Error> {
        if RetentionPolicy::of(spec).when_scaled == Retention::Retain {
            return Ok(false);
        }
        Ok(self
            .existing_claims(spec, pod)?
            .iter()
            .any(|claim| claim_is_stale_for(claim, pod)))
    }

    /// Creates the claims of the pod that do not exist
    /// (`createPersistentVolumeClaims`), with an event for each; a claim
    /// being deleted is an error. Every claim is tried; the errors are
    /// joined. A claim created meanwhile (the cache is behind) is fine,
    /// where kube fails the pod's creation once and retries.
    fn create_claims(&self, spec: &StatefulSet, pod: &Pod) -> Result<(), Error> {
        let Some(ordinal) = identity::ordinal(pod) else {
            return Ok(());
        };
        let mut errors = Vec::new();
        for claim in claims_for(spec, ordinal) {
            let claim_name = claim.metadata.name.clone().unwrap_or_default();
            let namespace = claim.metadata.namespace.clone();
            match self
                .ctx
                .get::<PersistentVolumeClaim>(namespace.as_deref(), &claim_name)
            {
                Ok(None) => match self.ctx.create(namespace.as_deref(), &claim) {
                    Ok(_) => self.record_claim_event(pod, &claim_name, None),
                    Err(error) if error.is_already_exists() => {}
                    Err(error) => {
                        self.record_claim_event(pod, &claim_name, Some(&error));
                        errors.push(format!("failed to create PVC {claim_name}: {error}"));
                    }
                },
                Ok(Some(existing)) => {
                    if existing.metadata.deletion_timestamp.is_some() {
                        errors.push(format!("pvc {claim_name} is being deleted"));
                    }
                }
                Err(error) => {
                    self.record_claim_event(pod, &claim_name, Some(&error));
                    errors.push(format!("failed to retrieve PVC {claim_name}: {error}"));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Other(errors.join(", ")))
        }
    }

    /// The pod's claims that exist.
    fn existing_claims(
        &self,
        spec: &StatefulSet,
        pod: &Pod,
    ) -> Result<Vec<PersistentVolumeClaim>, Error> {
        let Some(ordinal) = identity::ordinal(pod) else {
            return Ok(Vec::new());
        };
        let mut existing = Vec::new();
        for claim in claims_for(spec, ordinal) {
            let claim_name = claim.metadata.name.clone().unwrap_or_default();
            let found = self
                .ctx
                .get::<PersistentVolumeClaim>(claim.metadata.namespace.as_deref(), &claim_name)
                .map_err(|error| {
                    Error::other(format!(
                        "could not retrieve claim {claim_name} for {} when checking PVC deletion policy: {error}",
                        identity::name(pod)
                    ))
                })?;
            existing.extend(found);
        }
        Ok(existing)
    }

    /// `recordPodEvent`: `Successful<Verb>` or `Failed<Verb>`.
    fn record_pod_event(&self, verb: &str, pod: &Pod, error: Option<&Error>) {
        let pod_name = identity::name(pod);
        let set_name = identity::set_name(self.set);
        let (type_, reason, message) = match error {
            None => (
                EventType::Normal,
                format!("Successful{}", title(verb)),
                format!("{verb} Pod {pod_name} in StatefulSet {set_name} successful"),
            ),
            Some(error) => (
                EventType::Warning,
                format!("Failed{}", title(verb)),
                format!("{verb} Pod {pod_name} in StatefulSet {set_name} failed error: {error}"),
            ),
        };
        self.ctx.event(self.set, type_, &reason, message);
    }

    /// `recordClaimEvent` for a create.
    fn record_claim_event(&self, pod: &Pod, claim_name: &str, error: Option<&Error>) {
        let pod_name = identity::name(pod);
        let set_name = identity::set_name(self.set);
        match error {
            None => self.ctx.event(
                self.set,
                EventType::Normal,
                reasons::SUCCESSFUL_CREATE,
                format!("create Claim {claim_name} Pod {pod_name} in StatefulSet {set_name} success"),
            ),
            Some(error) => self.ctx.event(
                self.set,
                EventType::Warning,
                reasons::FAILED_CREATE,
                format!(
                    "create Claim {claim_name} for Pod {pod_name} in StatefulSet {set_name} failed error: {error}"
                ),
            ),
        }
    }
}

/// `create` → `Create` (`strings.Title` of one word).
fn title(verb: &str) -> String {
    let mut chars = verb.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
