//! Taints and tolerations on k8s-openapi types, as
//! `k8s.io/api/core/v1`'s `Toleration.ToleratesTaint` and kube's
//! `v1helper` functions read them. (Scheduling policies have their own
//! borrowed views in [`crate::scheduling`].)

use k8s_openapi::api::core::v1::{Taint, Toleration};

/// The taint kube's node lifecycle controller puts on a node whose Ready
/// condition is `False`.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// … whose Ready condition is `Unknown` (its kubelet stopped posting).
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// … that is cordoned (`spec.unschedulable`).
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
pub const MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
pub const DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub const PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
pub const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

pub const NO_SCHEDULE: &str = "NoSchedule";
pub const PREFER_NO_SCHEDULE: &str = "PreferNoSchedule";
pub const NO_EXECUTE: &str = "NoExecute";

/// `ToleratesTaint`: the effect matches (or the toleration's is empty), the
/// key matches (or is empty with `Exists`), and the value matches for
/// `Equal` (the default operator).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            toleration.value.as_deref().unwrap_or_default()
                == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

/// Whether any of `tolerations` tolerates `taint`.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations
        .iter()
        .any(|toleration| tolerates(toleration, taint))
}

/// A taint of `key` with `effect` and no value.
pub fn taint(key: &str, effect: &str) -> Taint {
    Taint {
        key: key.to_owned(),
        effect: effect.to_owned(),
        ..Taint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toleration(key: &str, operator: &str, value: &str, effect: &str) -> Toleration {
        let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Toleration {
            key: text(key),
            operator: text(operator),
            value: text(value),
            effect: text(effect),
            toleration_seconds: None,
        }
    }

    #[test]
    fn tolerations_match_taints_as_kube_does() {
        let mut valued = taint("dedicated", NO_SCHEDULE);
        valued.value = Some("gpu".into());
        let cases = [
            (
                toleration("dedicated", "Equal", "gpu", "NoSchedule"),
                &valued,
                true,
            ),
            (toleration("dedicated", "", "gpu", ""), &valued, true),
            (
                toleration("dedicated", "Equal", "cpu", "NoSchedule"),
                &valued,
                false,
            ),
            (
                toleration("dedicated", "Exists", "", "NoSchedule"),
                &valued,
                true,
            ),
            (
                toleration("dedicated", "Exists", "", "NoExecute"),
                &valued,
                false,
            ),
            (toleration("", "Exists", "", ""), &valued, true),
            (toleration("other", "Exists", "", ""), &valued, false),
            (toleration("dedicated", "Lt", "gpu", ""), &valued, false),
        ];
        for (toleration, taint, expected) in cases {
            assert_eq!(tolerates(&toleration, taint), expected, "{toleration:?}");
        }
        let bare = taint(UNREACHABLE, NO_EXECUTE);
        assert!(tolerates(
            &toleration(UNREACHABLE, "Exists", "", "NoExecute"),
            &bare
        ));
        assert!(tolerates(
            &toleration(UNREACHABLE, "Equal", "", "NoExecute"),
            &bare
        ));
        assert!(!tolerated(&[], &bare));
    }
}
