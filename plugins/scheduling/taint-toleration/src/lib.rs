//! TaintToleration (kube-scheduler `pkg/scheduler/framework/plugins/tainttoleration`).
//!
//! Filter: a node's first `NoSchedule` or `NoExecute` taint the pod does not
//! tolerate turns it down. Score: the number of the node's
//! `PreferNoSchedule` taints the pod does not tolerate, normalized reversed
//! (fewer is better).
//!
//! The pod's spec is parsed only when a candidate has a taint that matters
//! to the extension point.

use wharf_sdk::Error;
use wharf_sdk::scheduling::{
    PodInfo, Policy, Registration, Rejections, Snapshot, Taint, normalize,
};
use wharf_sdk::serde_json;

/// The policy's name, as kube-scheduler's.
pub const NAME: &str = "TaintToleration";
/// The start of the reason; the whole reason names the taint as
/// kube-scheduler does: `node(s) had untolerated taint {gpu: true}`.
pub const REASON_UNTOLERATED_TAINT: &str = "node(s) had untolerated taint";

const NO_SCHEDULE: &str = "NoSchedule";
const NO_EXECUTE: &str = "NoExecute";
const PREFER_NO_SCHEDULE: &str = "PreferNoSchedule";

pub struct TaintToleration;

impl Policy for TaintToleration {
    fn new(_config: &serde_json::Value) -> Result<Self, Error> {
        Ok(TaintToleration)
    }

    fn registration(&self) -> Registration {
        Registration::filter_and_score(NAME).without_usage()
    }

    fn filter(
        &mut self,
        snapshot: &Snapshot,
        pod: &PodInfo,
        candidates: &[u32],
        out: &mut Rejections,
    ) -> Result<(), Error> {
        // Without a PreferNoSchedule taint on any candidate, every node
        // would score the same: the host need not ask.
        let mut preferences = false;
        for (position, node) in snapshot.candidates(candidates) {
            preferences |= node.taints.iter().any(|t| t.effect == PREFER_NO_SCHEDULE);
            let mut hard = node
                .taints
                .iter()
                .filter(|t| t.effect == NO_SCHEDULE || t.effect == NO_EXECUTE)
                .peekable();
            if hard.peek().is_none() {
                continue;
            }
            let spec = pod.spec()?;
            if let Some(taint) = hard.find(|taint| !spec.tolerates(taint)) {
                out.reject(position, untolerated_taint_reason(taint));
            }
        }
        if !preferences {
            out.skip_score();
        }
        Ok(())
    }

    /// kube-scheduler's score counts the taints against the tolerations
    /// whose effect is `PreferNoSchedule` or empty; a toleration with another
    /// effect never tolerates a `PreferNoSchedule` taint, so checking every
    /// toleration is the same.
    fn score(
        &mut self,
        snapshot: &Snapshot,
        pod: &PodInfo,
        candidates: &[u32],
        scores: &mut [i64],
    ) -> Result<(), Error> {
        for (position, node) in snapshot.candidates(candidates) {
            let mut count = 0;
            for taint in node
                .taints
                .iter()
                .filter(|t| t.effect == PREFER_NO_SCHEDULE)
            {
                if !pod.spec()?.tolerates(taint) {
                    count += 1;
                }
            }
            scores[position] = count;
        }
        normalize(scores, true);
        Ok(())
    }
}

wharf_sdk::export_policy!(TaintToleration);

/// `node(s) had untolerated taint {<key>: <value>}`.
pub fn untolerated_taint_reason(taint: &Taint) -> String {
    format!(
        "{REASON_UNTOLERATED_TAINT} {{{}: {}}}",
        taint.key, taint.value
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_sdk::scheduling::testing::{Harness, NodeBuilder, node, pod};

    fn harness(nodes: Vec<NodeBuilder>) -> Harness<TaintToleration> {
        let mut harness = Harness::<TaintToleration>::new(serde_json::json!({}));
        for node in nodes {
            harness.add_node(node);
        }
        harness
    }

    #[test]
    fn the_score_is_skipped_when_no_candidate_has_a_prefer_no_schedule_taint() {
        let mut plain = harness(vec![
            node("a"),
            node("b").taint("gpu", "true", "NoSchedule"),
        ]);
        assert!(plain.skips_score(&pod("p")));
        let mut preferring = harness(vec![
            node("a"),
            node("b").taint("spot", "true", "PreferNoSchedule"),
        ]);
        assert!(!preferring.skips_score(&pod("p")));
    }

    #[test]
    fn nodes_with_untolerated_hard_taints_are_filtered_out() {
        let nodes = || {
            vec![
                node("clean"),
                node("gpu").taint("gpu", "true", NO_SCHEDULE),
                node("draining").taint("drain", "", NO_EXECUTE),
                node("soft").taint("spot", "true", PREFER_NO_SCHEDULE),
            ]
        };
        let cases = [
            (pod("plain"), vec!["clean", "soft"]),
            (
                pod("gpu-equal").toleration("gpu", "Equal", "true", NO_SCHEDULE),
                vec!["clean", "gpu", "soft"],
            ),
            (
                pod("gpu-wrong-value").toleration("gpu", "Equal", "false", ""),
                vec!["clean", "soft"],
            ),
            (
                pod("gpu-wrong-effect").toleration("gpu", "Exists", "", NO_EXECUTE),
                vec!["clean", "soft"],
            ),
            (
                pod("drain-any-effect").toleration("drain", "Exists", "", ""),
                vec!["clean", "draining", "soft"],
            ),
            (
                pod("everything").toleration("", "Exists", "", ""),
                vec!["clean", "gpu", "draining", "soft"],
            ),
        ];
        for (pod, expected) in cases {
            assert_eq!(
                harness(nodes()).feasible(&pod),
                expected,
                "{:?}",
                pod.object()
            );
        }
    }

    #[test]
    fn the_reason_names_the_first_untolerated_taint_as_kube_scheduler_does() {
        let mut harness = harness(vec![
            node("gpu").taint("gpu", "true", NO_SCHEDULE),
            node("two")
                .taint("soft", "x", PREFER_NO_SCHEDULE)
                .taint("tolerated", "", NO_SCHEDULE)
                .taint("dedicated", "db", NO_EXECUTE)
                .taint("later", "y", NO_SCHEDULE),
        ]);
        let pod = pod("p").toleration("tolerated", "Exists", "", "");
        let rejected = harness.rejected(&pod);
        assert_eq!(
            rejected["gpu"],
            ["node(s) had untolerated taint {gpu: true}"]
        );
        assert_eq!(
            rejected["two"],
            ["node(s) had untolerated taint {dedicated: db}"]
        );
    }

    #[test]
    fn fewer_untolerated_prefer_no_schedule_taints_score_higher() {
        let nodes = || {
            vec![
                node("none"),
                node("one").taint("spot", "true", PREFER_NO_SCHEDULE),
                node("two")
                    .taint("spot", "true", PREFER_NO_SCHEDULE)
                    .taint("old", "true", PREFER_NO_SCHEDULE)
                    .taint("hard", "true", NO_SCHEDULE),
            ]
        };
        let cases = [
            (pod("plain"), [100, 50, 0]),
            (
                pod("tolerates-spot").toleration("spot", "Exists", "", PREFER_NO_SCHEDULE),
                [100, 100, 0],
            ),
            (
                pod("tolerates-spot-for-no-schedule-only").toleration(
                    "spot",
                    "Exists",
                    "",
                    NO_SCHEDULE,
                ),
                [100, 50, 0],
            ),
            (
                pod("tolerates-all-soft").toleration("", "Exists", "", PREFER_NO_SCHEDULE),
                [100, 100, 100],
            ),
        ];
        for (pod, expected) in cases {
            let scores: Vec<i64> = harness(nodes())
                .scores(&pod)
                .into_iter()
                .map(|(_, s)| s)
                .collect();
            assert_eq!(scores, expected, "{:?}", pod.object());
        }
    }
}
