//! The RollingUpdate strategy (`rolling.go`). Each sync takes one step:
//! grow the new ReplicaSet within `replicas + maxSurge` pods in all, or else
//! shrink the old ones while at least `replicas - maxUnavailable` pods stay
//! available, removing their unavailable pods first.

use wharf_sdk::Error;
use wharf_sdk::k8s_openapi::api::apps::v1::ReplicaSet;

use crate::progress::deployment_complete;
use crate::replica_sets::{self as rs, replicas};
use crate::sync::{DeploymentSync, all};

impl DeploymentSync<'_, '_> {
    /// `rolloutRolling`.
    pub(crate) fn rollout_rolling(&mut self) -> Result<(), Error> {
        let (new, old) = self.get_all_replica_sets_and_sync_revision(true)?;
        let new =
            new.ok_or_else(|| Error::other("the new ReplicaSet was neither found nor created"))?;
        let all_replica_sets = all(&old, Some(&new));

        if self.reconcile_new_replica_set(&all_replica_sets, &new)? {
            return self.sync_rollout_status_now(&old, &new);
        }
        let active_old = rs::active(old.iter());
        if self.reconcile_old_replica_sets(&all_replica_sets, active_old, &new)? {
            return self.sync_rollout_status_now(&old, &new);
        }
        let stored_status = self.deployment.status.clone().unwrap_or_default();
        if deployment_complete(&self.deployment, self.spec.replicas, &stored_status) {
            self.cleanup_deployment(&old)?;
        }
        self.sync_rollout_status_now(&old, &new)
    }

    /// The status from the ReplicaSets as they are after this sync's writes.
    fn sync_rollout_status_now(
        &mut self,
        old: &[ReplicaSet],
        new: &ReplicaSet,
    ) -> Result<(), Error> {
        let (old, new) = (self.current_all(old), self.current(new));
        self.sync_rollout_status(&all(&old, Some(&new)), Some(&new))
    }

    /// `reconcileNewReplicaSet`: grows (or, above `replicas`, shrinks) the
    /// new ReplicaSet; returns whether it scaled.
    fn reconcile_new_replica_set(
        &mut self,
        all: &[ReplicaSet],
        new: &ReplicaSet,
    ) -> Result<bool, Error> {
        let wanted = self.spec.replicas;
        if replicas(new) == wanted {
            return Ok(false);
        }
        let new_scale = if replicas(new) > wanted {
            wanted
        } else {
            rs::new_replica_set_replicas(&self.spec, all, new)
        };
        Ok(self.scale_replica_set_and_record_event(new, new_scale)?.0)
    }

    /// `reconcileOldReplicaSets`: shrinks the old ReplicaSets as far as
    /// availability allows; returns whether it scaled any.
    ///
    /// At most `all pods - minAvailable - unavailable new pods` may go, so
    /// new pods that never become available do not let the old ones drain
    /// (a rollback to the old template then removes the broken new pods
    /// first). Kubernetes swallows the errors of this step; here they are
    /// returned, and the sync is retried.
    fn reconcile_old_replica_sets(
        &mut self,
        all_replica_sets: &[ReplicaSet],
        old: Vec<ReplicaSet>,
        new: &ReplicaSet,
    ) -> Result<bool, Error> {
        if rs::replica_count(&old) == 0 {
            return Ok(false);
        }
        let min_available = self.spec.replicas - self.spec.max_unavailable();
        let new_unavailable = replicas(new) - rs::available_replicas(new);
        let max_scaled_down = rs::replica_count(all_replica_sets) - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        let (old, cleaned_up) = self.cleanup_unhealthy_replicas(old, max_scaled_down)?;
        let all = all(&old, Some(new));
        let scaled_down = self.scale_down_old_replica_sets_for_rolling_update(&all, old)?;
        Ok(cleaned_up + scaled_down > 0)
    }

    /// `cleanupUnhealthyReplicas`: shrinks old ReplicaSets by their
    /// unavailable pods (oldest first), which costs no availability.
    fn cleanup_unhealthy_replicas(
        &mut self,
        mut old: Vec<ReplicaSet>,
        max_cleanup: i32,
    ) -> Result<(Vec<ReplicaSet>, i32), Error> {
        old.sort_by(rs::by_creation);
        let mut total_scaled_down = 0;
        for slot in old.iter_mut() {
            if total_scaled_down >= max_cleanup {
                break;
            }
            let (size, available) = (replicas(slot), rs::available_replicas(slot));
            if size == 0 || size == available {
                continue;
            }
            let scaled_down = (max_cleanup - total_scaled_down).min(size - available);
            let new_size = size - scaled_down;
            if new_size > size {
                return Err(Error::other(format!(
                    "when cleaning up unhealthy replicas, got invalid request to scale down {} {size} -> {new_size}",
                    rs::name(slot)
                )));
            }
            let (_, updated) = self.scale_replica_set_and_record_event(slot, new_size)?;
            total_scaled_down += scaled_down;
            *slot = updated;
        }
        Ok((old, total_scaled_down))
    }

    /// `scaleDownOldReplicaSetsForRollingUpdate`: shrinks old ReplicaSets
    /// (oldest first) by as many available pods as exceed `minAvailable`.
    fn scale_down_old_replica_sets_for_rolling_update(
        &mut self,
        all: &[ReplicaSet],
        mut old: Vec<ReplicaSet>,
    ) -> Result<i32, Error> {
        let min_available = self.spec.replicas - self.spec.max_unavailable();
        let available = rs::available_replica_count(all);
        if available <= min_available {
            return Ok(0);
        }
        old.sort_by(rs::by_creation);
        let to_scale_down = available - min_available;
        let mut total_scaled_down = 0;
        for replica_set in &old {
            if total_scaled_down >= to_scale_down {
                break;
            }
            let size = replicas(replica_set);
            if size == 0 {
                continue;
            }
            let scaled_down = size.min(to_scale_down - total_scaled_down);
            self.scale_replica_set_and_record_event(replica_set, size - scaled_down)?;
            total_scaled_down += scaled_down;
        }
        Ok(total_scaled_down)
    }
}
