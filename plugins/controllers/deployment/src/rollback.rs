//! The rollback requested through the `deprecated.deployment.rollback.to`
//! annotation (`rollback.go`), the form the removed `extensions/v1beta1`
//! `spec.rollbackTo` takes in `apps/v1`. The controller copies the
//! template (and annotations) of the ReplicaSet of that revision back into
//! the Deployment and clears the request; the rollout then proceeds as for
//! any template change.
//!
//! `kubectl rollout undo` does not use this: it patches the template back
//! itself (see the tests), so only the ordinary rollout is involved.

use std::collections::BTreeMap;

use wharf_sdk::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use wharf_sdk::prelude::*;

use crate::hash::equal_ignore_hash;
use crate::names::{POD_TEMPLATE_HASH_LABEL, annotation, event};
use crate::replica_sets as rs;
use crate::sync::{DeploymentSync, all};

/// `getRollbackTo`: the requested revision (0: the previous one); an
/// unreadable request is ignored.
pub fn rollback_to(deployment: &Deployment) -> Option<i64> {
    let text = deployment
        .metadata
        .annotations
        .as_ref()?
        .get(annotation::DEPRECATED_ROLLBACK_TO)?;
    if text.is_empty() {
        return None;
    }
    text.parse().ok()
}

impl DeploymentSync<'_, '_> {
    /// `rollback`.
    pub(crate) fn rollback(&mut self, mut revision: i64) -> Result<(), Error> {
        let (new, old) = self.get_all_replica_sets_and_sync_revision(true)?;
        let all_replica_sets = all(&old, new.as_ref());
        if revision == 0 {
            revision = rs::last_revision(&all_replica_sets);
            if revision == 0 {
                self.event(
                    EventType::Warning,
                    event::ROLLBACK_REVISION_NOT_FOUND,
                    "Unable to find last revision.",
                );
                return self.update_deployment_and_clear_rollback_to();
            }
        }
        let target = all_replica_sets
            .iter()
            .find(|r| rs::revision(r).ok() == Some(revision));
        let Some(target) = target else {
            let message = "Unable to find the revision to rollback to.";
            self.event(
                EventType::Warning,
                event::ROLLBACK_REVISION_NOT_FOUND,
                message,
            );
            return self.update_deployment_and_clear_rollback_to();
        };
        if self.rollback_to_template(target)? {
            let name = self.deployment.metadata.name.clone().unwrap_or_default();
            let message = format!("Rolled back deployment {name:?} to revision {revision}");
            self.event(EventType::Normal, event::ROLLBACK_DONE, message);
        }
        Ok(())
    }

    /// `rollbackToTemplate`: takes the ReplicaSet's template and annotations
    /// unless the template is already the Deployment's; returns whether it did.
    fn rollback_to_template(&mut self, target: &ReplicaSet) -> Result<bool, Error> {
        let template = rs::template(target);
        let performed = !equal_ignore_hash(&self.deployment.spec.template, &template);
        if performed {
            // `SetFromReplicaSetTemplate`, without the hash label.
            let mut template = template;
            if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
                labels.remove(POD_TEMPLATE_HASH_LABEL);
            }
            self.deployment.spec.template = template;
            // `SetDeploymentAnnotationsTo`: the revision's annotations (its
            // change-cause…) come back with its template.
            let mut annotations: BTreeMap<String, String> =
                (self.deployment.metadata.annotations.iter().flatten())
                    .filter(|(key, _)| annotation::is_not_copied(key))
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect();
            for (key, value) in target.metadata.annotations.iter().flatten() {
                if !annotation::is_not_copied(key) {
                    annotations.insert(key.clone(), value.clone());
                }
            }
            self.deployment.metadata.annotations = Some(annotations);
        } else {
            let name = self.deployment.metadata.name.clone().unwrap_or_default();
            let message = format!(
                "The rollback revision contains the same template as current deployment {name:?}"
            );
            self.event(
                EventType::Warning,
                event::ROLLBACK_TEMPLATE_UNCHANGED,
                message,
            );
        }
        self.update_deployment_and_clear_rollback_to()?;
        Ok(performed)
    }

    /// `updateDeploymentAndClearRollbackTo`.
    fn update_deployment_and_clear_rollback_to(&mut self) -> Result<(), Error> {
        if let Some(annotations) = self.deployment.metadata.annotations.as_mut() {
            annotations.remove(annotation::DEPRECATED_ROLLBACK_TO);
        }
        self.update_deployment()
    }
}
