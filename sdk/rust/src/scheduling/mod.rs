//! Scheduling policies: filters and scores for the host's scheduling loop
//! (WIT world `scheduler`, interface `policy`).
//!
//! A policy implements [`Policy`] and is exported with
//! [`export_policy!`](crate::export_policy). The host keeps the cluster's
//! node snapshot and pushes changes to each policy instance; the SDK keeps
//! them in a [`Snapshot`] the policy reads by node index. For each pod the
//! host calls `filter` once with every candidate node and `score` once with
//! every feasible one, never once per node; the SDK parses the pod's
//! [`PodSpec`] at most once per pod and hands the same [`PodInfo`] to both.
//!
//! A policy crate depends on `wharf-sdk` with `default-features = false,
//! features = ["scheduler"]`, so that its component carries the `scheduler`
//! world only.
//!
//! ```
//! use wharf_sdk::scheduling::*;
//!
//! /// Keeps pods off nodes labelled `maintenance=true`.
//! struct Maintenance;
//!
//! impl Policy for Maintenance {
//!     fn new(_config: &serde_json::Value) -> Result<Self, wharf_sdk::Error> {
//!         Ok(Maintenance)
//!     }
//!     fn registration(&self) -> Registration {
//!         Registration::filter("Maintenance")
//!     }
//!     fn filter(&mut self, snapshot: &Snapshot, _pod: &PodInfo, candidates: &[u32], out: &mut Rejections) -> Result<(), wharf_sdk::Error> {
//!         for (position, node) in snapshot.candidates(candidates) {
//!             if node.label("maintenance") == Some("true") {
//!                 out.reject(position, "node(s) were under maintenance");
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! wharf_sdk::export_policy!(Maintenance);
//! # use wharf_sdk::scheduling::testing::{Harness, node, pod};
//! # let mut harness = Harness::<Maintenance>::new(serde_json::json!({}));
//! # harness.add_node(node("a"));
//! # harness.add_node(node("b").label("maintenance", "true"));
//! # assert_eq!(harness.feasible(&pod("p")), ["a"]);
//! ```

mod instance;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
mod snapshot;
pub mod spec;
#[cfg(any(not(target_arch = "wasm32"), doc))]
pub mod testing;
#[cfg(all(target_arch = "wasm32", feature = "scheduler"))]
pub(crate) mod wit;

pub use instance::{Instance, PodInfo};
pub use snapshot::Snapshot;
pub use spec::PodSpec;
pub use wharf_plugin_abi::policy::{
    Change, Filtered, HostPort, Node, PlacedPod, Pod, Registration, Rejection, Resources,
    SCHEDULING_SPEC_FIELDS, Taint, Usage, parse_quantity,
};

use crate::error::Error;

/// The highest score a policy gives a node.
pub const MAX_NODE_SCORE: i64 = 100;

/// A scheduling policy: what one `Plugin` of type `scheduler` runs.
///
/// Both extension points receive the candidates as node indices and answer
/// for all of them at once; positions in answers are positions in
/// `candidates`.
pub trait Policy: Sized + 'static {
    /// Builds the policy from the Plugin's `spec.config`.
    fn new(config: &serde_json::Value) -> Result<Self, Error>;

    /// The policy's name and extension points.
    fn registration(&self) -> Registration;

    /// Rejects the candidates the pod does not fit, with kube-scheduler's
    /// reasons. Candidates not rejected fit.
    fn filter(
        &mut self,
        snapshot: &Snapshot,
        pod: &PodInfo,
        candidates: &[u32],
        out: &mut Rejections,
    ) -> Result<(), Error> {
        let _ = (snapshot, pod, candidates, out);
        Ok(())
    }

    /// Scores every candidate, 0 to [`MAX_NODE_SCORE`], normalized across
    /// them (see [`normalize`]).
    fn score(
        &mut self,
        snapshot: &Snapshot,
        pod: &PodInfo,
        candidates: &[u32],
        scores: &mut [i64],
    ) -> Result<(), Error> {
        let _ = (snapshot, pod, candidates, scores);
        Ok(())
    }
}

/// The candidates a filter turned down, with reasons.
#[derive(Debug, Default)]
pub struct Rejections {
    rejections: Vec<Rejection>,
    skip_score: bool,
}

impl Rejections {
    /// Turns down the candidate at `position` for one reason.
    pub fn reject(&mut self, position: usize, reason: impl Into<String>) {
        self.reject_all(position, vec![reason.into()]);
    }

    /// Turns down the candidate at `position` for several reasons.
    pub fn reject_all(&mut self, position: usize, reasons: Vec<String>) {
        self.rejections.push(Rejection {
            position: position as u32,
            reasons,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.rejections.is_empty()
    }

    /// This policy has no preference among nodes for this pod (say, it
    /// asks for no node affinity): the host will not call its `score`.
    pub fn skip_score(&mut self) {
        self.skip_score = true;
    }

    pub fn into_filtered(self) -> Filtered {
        Filtered {
            rejections: self.rejections,
            skip_score: self.skip_score,
        }
    }
}

/// kube-scheduler's `DefaultNormalizeScore`: scales scores so that the
/// highest becomes [`MAX_NODE_SCORE`]; with `reverse`, the highest raw
/// score becomes the lowest (for "fewer is better" counts).
pub fn normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.fill(MAX_NODE_SCORE);
        }
        return;
    }
    for score in scores {
        *score = *score * MAX_NODE_SCORE / max;
        if reverse {
            *score = MAX_NODE_SCORE - *score;
        }
    }
}

/// What [`export_policy!`](crate::export_policy) expands to; not an API.
#[doc(hidden)]
#[cfg(all(target_arch = "wasm32", feature = "scheduler"))]
pub mod __private {
    pub use super::wit::bindings;
    pub use super::wit::bindings::exports::wharf::plugin::policy::{
        Change as WitChange, Filtered as WitFiltered, Guest as PolicyGuest, Pod as WitPod,
        Registration as WitRegistration,
    };
    pub use super::wit::{filter, init, score, update};
}
