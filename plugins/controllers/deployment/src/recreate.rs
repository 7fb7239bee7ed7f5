//! The Recreate strategy (`recreate.go`): scale every old ReplicaSet to
//! zero, wait until none of their pods runs, then create (or grow) the new
//! ReplicaSet to `spec.replicas` at once.

use std::collections::BTreeMap;

use wharf_sdk::Error;
use wharf_sdk::k8s_openapi::api::apps::v1::ReplicaSet;
use wharf_sdk::k8s_openapi::api::core::v1::Pod;

use crate::claim;
use crate::progress::deployment_complete;
use crate::replica_sets::{self as rs, replicas};
use crate::sync::{DeploymentSync, all};

impl DeploymentSync<'_, '_> {
    /// `rolloutRecreate`.
    pub(crate) fn rollout_recreate(&mut self) -> Result<(), Error> {
        // No new ReplicaSet yet: it must not scale up before the old ones are down.
        let (new, old) = self.get_all_replica_sets_and_sync_revision(false)?;
        let active_old = rs::active(old.iter());
        if self.scale_down_old_replica_sets_for_recreate(&active_old)? {
            let (old, new) = (self.current_all(&old), self.current_opt(new.as_ref()));
            return self.sync_rollout_status(&all(&old, new.as_ref()), new.as_ref());
        }
        let pods = claim::pods_by_replica_set(self.ctx, &self.deployment, &self.replica_sets)?;
        if old_pods_running(new.as_ref(), &old, &pods) {
            // The old pods' deletions wake the Deployment (it owns them
            // through their ReplicaSets), as kube's `deletePod` does.
            return self.sync_rollout_status(&all(&old, new.as_ref()), new.as_ref());
        }
        let (new, old) = match new {
            Some(new) => (new, old),
            None => {
                let (new, old) = self.get_all_replica_sets_and_sync_revision(true)?;
                let new = new.ok_or_else(|| {
                    Error::other("the new ReplicaSet was neither found nor created")
                })?;
                (new, old)
            }
        };
        // `scaleUpNewReplicaSetForRecreate`.
        self.scale_replica_set_and_record_event(&new, self.spec.replicas)?;
        let stored_status = self.deployment.status.clone().unwrap_or_default();
        if deployment_complete(&self.deployment, self.spec.replicas, &stored_status) {
            self.cleanup_deployment(&old)?;
        }
        let (old, new) = (self.current_all(&old), self.current(&new));
        self.sync_rollout_status(&all(&old, Some(&new)), Some(&new))
    }

    /// `scaleDownOldReplicaSetsForRecreate`: returns whether it scaled any.
    fn scale_down_old_replica_sets_for_recreate(
        &mut self,
        old: &[ReplicaSet],
    ) -> Result<bool, Error> {
        let mut scaled = false;
        for replica_set in old.iter().filter(|r| replicas(r) != 0) {
            scaled |= self.scale_replica_set_and_record_event(replica_set, 0)?.0;
        }
        Ok(scaled)
    }
}

/// `oldPodsRunning`: an old ReplicaSet still counts pods, or a pod of one
/// is not finished (`Failed`/`Succeeded`); `Unknown` counts as running.
fn old_pods_running(
    new: Option<&ReplicaSet>,
    old: &[ReplicaSet],
    pods: &BTreeMap<String, Vec<Pod>>,
) -> bool {
    if rs::actual_replica_count(old) > 0 {
        return true;
    }
    let new_uid = new.map(rs::uid);
    pods.iter()
        .filter(|(uid, _)| Some(uid.as_str()) != new_uid)
        .flat_map(|(_, pods)| pods)
        .any(|pod| {
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            !matches!(phase, Some("Failed" | "Succeeded"))
        })
}
