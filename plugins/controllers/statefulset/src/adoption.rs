//! Claiming pods (as `PodControllerRefManager.ClaimPods` with the
//! StatefulSet's `isMemberOf` filter), through [`wharf_sdk::claim`]: the set
//! adopts orphans its selector matches and releases pods it controls that
//! no longer match or whose names are not its own.

use wharf_sdk::k8s_openapi::api::apps::v1::StatefulSet;
use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::prelude::*;

use crate::identity::is_member_of;

/// The pods the set controls once orphans are adopted and strays released;
/// `pods` are all the pods of its namespace (being deleted and finished
/// ones too: the set waits for the first and replaces the second). Every
/// pod is tried; the first error, if any, is returned after.
pub fn claim_pods(
    ctx: &Context,
    set: &StatefulSet,
    selector: &Selector,
    pods: &[Pod],
) -> Result<Vec<Pod>, Error> {
    wharf_sdk::claim::claim(ctx, set, pods.iter().cloned(), |pod: &Pod| {
        selector.matches_labels(pod.metadata.labels.as_ref()) && is_member_of(set, pod)
    })
}
