//! Deployment conditions, set as `deploymentutil.SetDeploymentCondition`
//! sets them: a condition with the same status and reason is left as it is
//! (times and message included), and the transition time moves only when
//! the status does.

use wharf_sdk::k8s_openapi::api::apps::v1::{
    DeploymentCondition, DeploymentStatus, ReplicaSetCondition,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// `NewDeploymentCondition`, at `now`.
pub fn new(
    type_: &str,
    status: &str,
    reason: &str,
    message: impl Into<String>,
    now: &Time,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: Some(type_.to_owned()),
        status: Some(status.to_owned()),
        reason: Some(reason.to_owned()),
        message: Some(message.into()),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now.clone()),
    }
}

/// `GetDeploymentCondition`.
pub fn get<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_.as_deref() == Some(type_))
}

/// `SetDeploymentCondition`: replaces the condition of its type (moved to the end).
pub fn set(status: &mut DeploymentStatus, mut condition: DeploymentCondition) {
    if let Some(current) = get(status, condition.type_.as_deref().unwrap_or_default()) {
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove(status, condition.type_.as_deref().unwrap_or_default());
    status
        .conditions
        .get_or_insert_with(Vec::new)
        .push(condition);
}

/// `RemoveDeploymentCondition`.
pub fn remove(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_.as_deref() != Some(type_));
        if conditions.is_empty() {
            status.conditions = None;
        }
    }
}

/// `ReplicaSetToDeploymentCondition`: a ReplicaSet's failure, promoted.
pub fn from_replica_set(condition: &ReplicaSetCondition) -> DeploymentCondition {
    DeploymentCondition {
        type_: condition.type_.clone(),
        status: condition.status.clone(),
        reason: condition.reason.clone(),
        message: condition.message.clone(),
        last_update_time: condition.last_transition_time.clone(),
        last_transition_time: condition.last_transition_time.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_sdk::time_from_millis;

    #[test]
    fn setting_a_condition_keeps_times_unless_it_changes() {
        let (t1, t2) = (time_from_millis(1_000), time_from_millis(2_000));
        let mut status = DeploymentStatus::default();
        set(
            &mut status,
            new(
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                "created",
                &t1,
            ),
        );
        // Same status and reason: nothing changes, not even the message.
        set(
            &mut status,
            new("Progressing", "True", "NewReplicaSetCreated", "other", &t2),
        );
        let condition = get(&status, "Progressing").unwrap();
        assert_eq!(
            (
                condition.message.as_deref(),
                condition.last_update_time.as_ref()
            ),
            (Some("created"), Some(&t1))
        );
        // Same status, new reason: updated, but the transition time stays.
        set(
            &mut status,
            new(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                "progressing",
                &t2,
            ),
        );
        let condition = get(&status, "Progressing").unwrap();
        assert_eq!(condition.last_update_time.as_ref(), Some(&t2));
        assert_eq!(condition.last_transition_time.as_ref(), Some(&t1));
        // New status: both times move.
        set(
            &mut status,
            new(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                "timed out",
                &t2,
            ),
        );
        assert_eq!(
            get(&status, "Progressing")
                .unwrap()
                .last_transition_time
                .as_ref(),
            Some(&t2)
        );
        assert_eq!(status.conditions.as_ref().unwrap().len(), 1);
        remove(&mut status, "Progressing");
        assert_eq!(status.conditions, None);
    }
}
