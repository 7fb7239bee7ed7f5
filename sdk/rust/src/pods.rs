//! What controllers read off pods, as `k8s.io/kubernetes/pkg/api/v1/pod`'s
//! helpers do: the phase, whether a pod is active, terminating, ready.

use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::jiff::Timestamp;

/// The pod's `status.phase` (`""` when it has none yet).
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|status| status.phase.as_deref())
        .unwrap_or("")
}

/// Succeeded or Failed: the pod will not run again.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Counted as a replica: not terminal and not being deleted (`IsPodActive`).
pub fn is_active(pod: &Pod) -> bool {
    !is_terminal(pod) && pod.metadata.deletion_timestamp.is_none()
}

/// Being deleted but still running (`isPodTerminating`).
pub fn is_terminating(pod: &Pod) -> bool {
    !is_terminal(pod) && pod.metadata.deletion_timestamp.is_some()
}

/// The pod's condition of this type.
pub fn condition<'p>(pod: &'p Pod, type_: &str) -> Option<&'p PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|condition| condition.type_ == type_)
}

/// The `Ready` condition is `True`.
pub fn is_ready(pod: &Pod) -> bool {
    condition(pod, "Ready").is_some_and(|condition| condition.status == "True")
}

/// When the pod became ready (`None` when not ready or not recorded).
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    let condition = condition(pod, "Ready").filter(|condition| condition.status == "True")?;
    condition.last_transition_time.as_ref().map(|time| time.0)
}

/// Ready for longer than `min_ready_seconds` (`IsPodAvailable`); with zero,
/// ready is enough.
pub fn is_available(pod: &Pod, min_ready_seconds: i64, now: Timestamp) -> bool {
    if !is_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    ready_since(pod).is_some_and(|since| {
        since
            .as_millisecond()
            .saturating_add(min_ready_seconds * 1000)
            < now.as_millisecond()
    })
}

/// Milliseconds until a ready pod becomes available, when it is ready but
/// not yet available and that time is known: when to look again, since
/// availability comes with time, not with an event.
pub fn millis_until_available(pod: &Pod, min_ready_seconds: i64, now: Timestamp) -> Option<i64> {
    if min_ready_seconds <= 0 || !is_ready(pod) || is_available(pod, min_ready_seconds, now) {
        return None;
    }
    let since = ready_since(pod)?;
    Some(since.as_millisecond() + min_ready_seconds * 1000 - now.as_millisecond() + 1)
}
