//! The taint manager (kube's `tainteviction` controller): a pod on a node
//! with NoExecute taints it does not tolerate is deleted; one that
//! tolerates them for `tolerationSeconds` is deleted when they run out.

use wharf_sdk::k8s_openapi::api::core::v1::{Pod, Taint};
use wharf_sdk::k8s_openapi::jiff::{SignedDuration, Timestamp};
use wharf_sdk::taints::{NO_EXECUTE, tolerates};

/// What becomes of a pod on a node with NoExecute taints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It may stay (no NoExecute taint, or all tolerated forever).
    Stays,
    /// Delete it now.
    Evict,
    /// Delete it at this time unless the taints go first.
    EvictAt(Timestamp),
}

/// The node's NoExecute taints.
pub fn no_execute(taints: &[Taint]) -> Vec<&Taint> {
    taints
        .iter()
        .filter(|taint| taint.effect == NO_EXECUTE)
        .collect()
}

/// kube's `processPodOnNode`: every NoExecute taint must be tolerated, else
/// eviction now; then the least `tolerationSeconds` among the tolerations
/// used (`getMinTolerationTime`: none is forever, ≤ 0 is now), counted from
/// when the latest of the taints was added.
pub fn verdict(pod: &Pod, taints: &[&Taint], now: Timestamp) -> Verdict {
    if taints.is_empty() {
        return Verdict::Stays;
    }
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|spec| spec.tolerations.as_deref())
        .unwrap_or_default();
    let mut least: Option<i64> = None;
    for taint in taints {
        let used: Vec<_> = tolerations
            .iter()
            .filter(|toleration| tolerates(toleration, taint))
            .collect();
        if used.is_empty() {
            return Verdict::Evict;
        }
        for toleration in used {
            if let Some(seconds) = toleration.toleration_seconds {
                least = Some(least.map_or(seconds, |least| least.min(seconds)));
            }
        }
    }
    let Some(seconds) = least else {
        return Verdict::Stays;
    };
    if seconds <= 0 {
        return Verdict::Evict;
    }
    let since = taints
        .iter()
        .filter_map(|taint| taint.time_added.as_ref().map(|time| time.0))
        .max()
        .unwrap_or(now);
    let at = since
        .checked_add(SignedDuration::from_secs(seconds))
        .unwrap_or(Timestamp::MAX);
    if at <= now {
        Verdict::Evict
    } else {
        Verdict::EvictAt(at)
    }
}
