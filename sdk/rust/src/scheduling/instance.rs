//! One policy instance as the SDK runs it, whatever the boundary (WIT,
//! native ABI, test harness): the policy, its snapshot, and the pod being
//! scheduled, parsed once.

use std::cell::OnceCell;

use super::spec::PodSpec;
use super::{Change, Filtered, Pod, Policy, Registration, Rejections, Snapshot};
use crate::error::Error;

/// The pod being scheduled: what the host parsed, and its [`PodSpec`]
/// parsed from the JSON on first use.
#[derive(Debug)]
pub struct PodInfo {
    pub pod: Pod,
    spec: OnceCell<Result<PodSpec, String>>,
}

impl PodInfo {
    pub fn new(pod: Pod) -> Self {
        Self {
            pod,
            spec: OnceCell::new(),
        }
    }

    /// The scheduling-relevant spec; an error if the host sent something
    /// that is not one.
    pub fn spec(&self) -> Result<&PodSpec, Error> {
        self.spec
            .get_or_init(|| {
                serde_json::from_str::<PodSpec>(&self.pod.spec).map_err(|error| {
                    format!("pod {}/{}: {error}", self.pod.namespace, self.pod.name)
                })
            })
            .as_ref()
            .map_err(Error::other)
    }

    /// The value of one of the pod's labels.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.pod.label(key)
    }
}

/// A policy with its snapshot.
pub struct Instance<P> {
    policy: P,
    registration: Registration,
    snapshot: Snapshot,
    /// The last pod seen: `filter` and `score` of one pod share its parse.
    last: Option<PodInfo>,
}

impl<P: Policy> Instance<P> {
    /// Builds the policy from its config (JSON text; empty means `{}`).
    pub fn new(config: &str) -> Result<Self, Error> {
        let config: serde_json::Value = if config.trim().is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_json::from_str(config).map_err(|e| Error::other(format!("config: {e}")))?
        };
        let policy = P::new(&config)?;
        let registration = policy.registration();
        Ok(Self {
            policy,
            registration,
            snapshot: Snapshot::default(),
            last: None,
        })
    }

    pub fn registration(&self) -> &Registration {
        &self.registration
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    pub fn update(&mut self, changes: impl IntoIterator<Item = Change>) {
        for change in changes {
            self.snapshot.apply(change);
        }
    }

    fn pod_info(&mut self, pod: Pod) -> &PodInfo {
        let reuse = self
            .last
            .as_ref()
            .is_some_and(|last| last.pod.uid == pod.uid && last.pod.spec == pod.spec);
        if !reuse {
            self.last = Some(PodInfo::new(pod));
        }
        self.last.as_ref().expect("set above")
    }

    pub fn filter(&mut self, pod: Pod, candidates: &[u32]) -> Result<Filtered, Error> {
        self.pod_info(pod);
        let pod = self.last.as_ref().expect("set by pod_info");
        let mut out = Rejections::default();
        self.policy
            .filter(&self.snapshot, pod, candidates, &mut out)?;
        Ok(out.into_filtered())
    }

    pub fn score(&mut self, pod: Pod, candidates: &[u32], scores: &mut [i64]) -> Result<(), Error> {
        self.pod_info(pod);
        let pod = self.last.as_ref().expect("set by pod_info");
        scores.fill(0);
        self.policy.score(&self.snapshot, pod, candidates, scores)
    }
}
