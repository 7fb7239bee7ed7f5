//! The names the Deployment controller writes and reads, spelled exactly as
//! Kubernetes' `pkg/controller/deployment/util` spells them: kubectl
//! (`rollout status|history|undo`) and other clients look for these strings.

/// The label that ties a ReplicaSet, its selector and its pods to one pod
/// template (`apps/v1.DefaultDeploymentUniqueLabelKey`).
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// Annotations on Deployments and their ReplicaSets.
pub mod annotation {
    /// The revision of a ReplicaSet in its Deployment's rollout sequence
    /// (copied to the Deployment: its current revision).
    pub const REVISION: &str = "deployment.kubernetes.io/revision";
    /// The earlier revisions a ReplicaSet served (set when a rollback reuses it).
    pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
    /// The Deployment's `spec.replicas` when the ReplicaSet was last sized.
    pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
    /// `spec.replicas + maxSurge` when the ReplicaSet was last sized.
    pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
    /// The revision to roll back to, from the removed `extensions/v1beta1`
    /// `spec.rollbackTo` (`apps/v1.DeprecatedRollbackTo`).
    pub const DEPRECATED_ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
    /// What `kubectl apply` remembers.
    pub const LAST_APPLIED_CONFIGURATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
    /// What `kubectl rollout history` shows as CHANGE-CAUSE; like every
    /// annotation not in [`NOT_COPIED`], it travels from the Deployment to
    /// the ReplicaSet of each revision.
    pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";

    /// Never copied from a Deployment to its ReplicaSets, nor back on a rollback.
    pub const NOT_COPIED: [&str; 6] = [
        LAST_APPLIED_CONFIGURATION,
        REVISION,
        REVISION_HISTORY,
        DESIRED_REPLICAS,
        MAX_REPLICAS,
        DEPRECATED_ROLLBACK_TO,
    ];

    /// Whether an annotation stays where it is (see [`NOT_COPIED`]).
    pub fn is_not_copied(key: &str) -> bool {
        NOT_COPIED.contains(&key)
    }
}

/// The strategy types of `spec.strategy.type`.
pub mod strategy {
    pub const RECREATE: &str = "Recreate";
    pub const ROLLING_UPDATE: &str = "RollingUpdate";
}

/// Deployment condition types and statuses.
pub mod condition {
    pub const AVAILABLE: &str = "Available";
    pub const PROGRESSING: &str = "Progressing";
    pub const REPLICA_FAILURE: &str = "ReplicaFailure";

    pub const TRUE: &str = "True";
    pub const FALSE: &str = "False";
    pub const UNKNOWN: &str = "Unknown";
}

/// Reasons of the Deployment conditions.
pub mod reason {
    /// Progressing: one of its ReplicaSets was scaled as part of the rollout.
    pub const REPLICA_SET_UPDATED: &str = "ReplicaSetUpdated";
    /// Progressing (False): the new ReplicaSet could not be created.
    pub const FAILED_REPLICA_SET_CREATE: &str = "ReplicaSetCreateError";
    /// Progressing: the controller created the new ReplicaSet.
    pub const NEW_REPLICA_SET_CREATED: &str = "NewReplicaSetCreated";
    /// Progressing: the new ReplicaSet existed already (found, or adopted).
    pub const FOUND_NEW_REPLICA_SET: &str = "FoundNewReplicaSet";
    /// Progressing: the rollout is complete.
    pub const NEW_REPLICA_SET_AVAILABLE: &str = "NewReplicaSetAvailable";
    /// Progressing (False): no progress within `progressDeadlineSeconds`;
    /// `kubectl rollout status` fails on it.
    pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
    /// Progressing (Unknown): paused, so no deadline runs.
    pub const DEPLOYMENT_PAUSED: &str = "DeploymentPaused";
    /// Progressing (Unknown): resumed, the deadline starts afresh.
    pub const DEPLOYMENT_RESUMED: &str = "DeploymentResumed";
    /// Available: at least `replicas - maxUnavailable` pods are available.
    pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
    /// Available (False): fewer than that.
    pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
}

/// Reasons of the Events the controller records about a Deployment.
pub mod event {
    /// A ReplicaSet was scaled: `Scaled up replica set web-5d4f8 to 3 from 0`.
    pub const SCALING_REPLICA_SET: &str = "ScalingReplicaSet";
    /// The selector is empty and would select every pod.
    pub const SELECTING_ALL: &str = "SelectingAll";
    /// The spec cannot be acted on (what the Kubernetes API server would
    /// have refused at admission).
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// A `deprecated.deployment.rollback.to` rollback was done.
    pub const ROLLBACK_DONE: &str = "DeploymentRollback";
    /// The rollback's revision does not exist.
    pub const ROLLBACK_REVISION_NOT_FOUND: &str = "DeploymentRollbackRevisionNotFound";
    /// The rollback's revision has the current template.
    pub const ROLLBACK_TEMPLATE_UNCHANGED: &str = "DeploymentRollbackTemplateUnchanged";
}
