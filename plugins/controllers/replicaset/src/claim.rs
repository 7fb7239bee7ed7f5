//! Claiming pods (as `PodControllerRefManager.ClaimPods`): the ReplicaSet
//! adopts orphans its selector matches and releases pods it controls that
//! its selector no longer matches, through [`wharf_sdk::claim`].

use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::prelude::*;

use crate::kind::Replicated;

/// The pods the ReplicaSet controls once orphans are adopted and strays
/// released; `pods` are the namespace's active pods. Every pod is tried; the
/// first error, if any, is returned after.
pub fn claim_pods<K: Replicated>(
    ctx: &Context,
    replica_set: &K,
    selector: &Selector,
    pods: Vec<Pod>,
) -> Result<Vec<Pod>, Error> {
    wharf_sdk::claim::claim(ctx, replica_set, pods, |pod: &Pod| {
        selector.matches_labels(pod.metadata.labels.as_ref())
    })
}
