//! Expectations (as `pkg/controller`'s `ControllerExpectations`): the pods a
//! controller (a ReplicaSet's, a Job's) created or deleted for one of its
//! objects and has not yet seen in the host's pod cache. Until it has, or until they expire, the controller does not create
//! or delete again, so that a stale cache cannot make it double up.
//!
//! Kubernetes counts creations and lowers the count from informer events; a
//! plugin sees no events, only keys, so the expected pods are named and
//! looked for in each listing instead.

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::api::core::v1::Pod;

/// How long expectations are trusted before the controller acts anyway
/// (`ExpectationsTimeout`).
pub const EXPECTATIONS_TIMEOUT_MILLIS: u64 = 5 * 60 * 1000;

#[derive(Debug, Default)]
pub struct Expectations {
    by_object: HashMap<String, Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    /// Pods created and not yet listed.
    creations: BTreeSet<String>,
    /// Pods deleted and still listed without a deletionTimestamp.
    deletions: BTreeSet<String>,
    since_millis: u64,
}

impl Expectations {
    /// Whether the object `key` may create or delete pods, given the pods
    /// listed now: every expected creation is listed and every expected
    /// deletion is gone or terminating, or the expectations expired.
    pub fn satisfied(&mut self, key: &str, pods: &[Pod], now_millis: u64) -> bool {
        let Some(pending) = self.by_object.get_mut(key) else {
            return true;
        };
        pending.creations.retain(|name| {
            !pods
                .iter()
                .any(|pod| pod.metadata.name.as_ref() == Some(name))
        });
        pending.deletions.retain(|name| {
            pods.iter().any(|pod| {
                pod.metadata.name.as_ref() == Some(name)
                    && pod.metadata.deletion_timestamp.is_none()
            })
        });
        let observed = pending.creations.is_empty() && pending.deletions.is_empty();
        let expired = now_millis.saturating_sub(pending.since_millis) > EXPECTATIONS_TIMEOUT_MILLIS;
        if observed || expired {
            self.by_object.remove(key);
        }
        observed || expired
    }

    /// Records pods created (by their names as stored) and deleted.
    pub fn expect(
        &mut self,
        key: &str,
        created: Vec<String>,
        deleted: Vec<String>,
        now_millis: u64,
    ) {
        if created.is_empty() && deleted.is_empty() {
            return;
        }
        let pending = self.by_object.entry(key.to_owned()).or_default();
        pending.creations.extend(created);
        pending.deletions.extend(deleted);
        pending.since_millis = now_millis;
    }

    /// Forgets an object (it was deleted).
    pub fn forget(&mut self, key: &str) {
        self.by_object.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(name: &str, deleting: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                deletion_timestamp: deleting.then(|| crate::time_from_millis(0)),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        }
    }

    #[test]
    fn expectations_hold_until_creations_and_deletions_are_seen() {
        let mut expectations = Expectations::default();
        assert!(expectations.satisfied("ns/x", &[], 0));
        expectations.expect("ns/x", vec!["a".into()], vec!["old".into()], 0);
        assert!(!expectations.satisfied("ns/x", &[pod("old", false)], 1));
        assert!(!expectations.satisfied("ns/x", &[pod("a", false), pod("old", false)], 2));
        assert!(expectations.satisfied("ns/x", &[pod("a", false), pod("old", true)], 3));
        assert!(
            expectations.satisfied("ns/x", &[], 4),
            "satisfied expectations are forgotten"
        );
    }

    #[test]
    fn expectations_expire() {
        let mut expectations = Expectations::default();
        expectations.expect("ns/x", vec!["a".into()], vec![], 1000);
        assert!(!expectations.satisfied("ns/x", &[], 1000 + EXPECTATIONS_TIMEOUT_MILLIS));
        assert!(expectations.satisfied("ns/x", &[], 1001 + EXPECTATIONS_TIMEOUT_MILLIS));
        expectations.expect("ns/x", vec!["a".into()], vec![], 0);
        expectations.forget("ns/x");
        assert!(expectations.satisfied("ns/x", &[], 0));
    }
}
