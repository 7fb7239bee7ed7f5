//! NodeAffinity (kube-scheduler `pkg/scheduler/framework/plugins/nodeaffinity`).
//!
//! Filter: a node fits when it matches the pod's `nodeSelector` and its
//! required node affinity (`requiredDuringSchedulingIgnoredDuringExecution`).
//! Score: the sum of the weights of the preferred terms
//! (`preferredDuringSchedulingIgnoredDuringExecution`) the node matches,
//! normalized so that the best node scores 100.
//!
//! The plugin arguments `addedAffinity` of kube-scheduler are not supported.

use wharf_sdk::Error;
use wharf_sdk::scheduling::{PodInfo, Policy, Registration, Rejections, Snapshot, normalize};
use wharf_sdk::serde_json;

/// The policy's name, as kube-scheduler's.
pub const NAME: &str = "NodeAffinity";
/// Why a node that does not match the pod's selector or required affinity
/// turns it down.
pub const REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";

pub struct NodeAffinity;

impl Policy for NodeAffinity {
    fn new(_config: &serde_json::Value) -> Result<Self, Error> {
        Ok(NodeAffinity)
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
        let spec = pod.spec()?;
        // No preferred terms: every node scores the same (PreScore Skip).
        if spec.preferred_node_affinity().is_empty() {
            out.skip_score();
        }
        let has_selector = spec.node_selector.as_ref().is_some_and(|s| !s.is_empty());
        if !has_selector && spec.required_node_affinity().is_none() {
            return Ok(());
        }
        for (position, node) in snapshot.candidates(candidates) {
            if !spec.matches_node_selector_and_affinity(node) {
                out.reject(position, REASON_POD);
            }
        }
        Ok(())
    }

    fn score(
        &mut self,
        snapshot: &Snapshot,
        pod: &PodInfo,
        candidates: &[u32],
        scores: &mut [i64],
    ) -> Result<(), Error> {
        let preferred = pod.spec()?.preferred_node_affinity();
        if preferred.is_empty() {
            return Ok(());
        }
        for (position, node) in snapshot.candidates(candidates) {
            scores[position] = preferred
                .iter()
                .filter(|term| term.weight != 0 && term.preference.matches(node))
                .map(|term| term.weight)
                .sum();
        }
        normalize(scores, false);
        Ok(())
    }
}

wharf_sdk::export_policy!(NodeAffinity);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use wharf_sdk::scheduling::testing::{Harness, PodBuilder, node, pod};

    fn harness() -> Harness<NodeAffinity> {
        let mut harness = Harness::<NodeAffinity>::new(json!({}));
        harness.add_node(node("a").zone("z1").label("disk", "ssd"));
        harness.add_node(node("b").zone("z2").label("disk", "hdd"));
        harness.add_node(node("c").zone("z3"));
        harness
    }

    fn expression(key: &str, operator: &str, values: &[&str]) -> Value {
        json!({"key": key, "operator": operator, "values": values})
    }

    /// A pod whose required node affinity has these terms (ORed), each a
    /// list of expressions (ANDed).
    fn required(name: &str, terms: &[&[Value]]) -> PodBuilder {
        let terms: Vec<Value> = terms
            .iter()
            .map(|e| json!({"matchExpressions": e}))
            .collect();
        pod(name).spec(
            "affinity",
            json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": terms
            }}}),
        )
    }

    /// A pod with these preferred terms: (weight, expressions).
    fn preferred(name: &str, terms: &[(i64, &[Value])]) -> PodBuilder {
        let terms: Vec<Value> = terms
            .iter()
            .map(|(weight, e)| json!({"weight": weight, "preference": {"matchExpressions": e}}))
            .collect();
        pod(name).spec(
            "affinity",
            json!({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": terms}}),
        )
    }

    #[test]
    fn the_score_is_skipped_for_a_pod_without_preferred_terms() {
        let mut harness = Harness::<NodeAffinity>::new(serde_json::json!({}));
        harness.add_node(node("a"));
        assert!(harness.skips_score(&pod("plain").node_selector("disk", "ssd")));
        let preferred = serde_json::json!({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 1, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}}
        ]}});
        assert!(!harness.skips_score(&pod("prefers").spec("affinity", preferred)));
    }

    #[test]
    fn nodes_must_match_the_node_selector_and_the_required_affinity() {
        let zone = "topology.kubernetes.io/zone";
        let cases = [
            (pod("unconstrained"), vec!["a", "b", "c"]),
            (pod("selector").node_selector("disk", "ssd"), vec!["a"]),
            (
                pod("selector-nothing").node_selector("disk", "nvme"),
                vec![],
            ),
            (
                required("one-term", &[&[expression(zone, "In", &["z1", "z2"])]]),
                vec!["a", "b"],
            ),
            (
                required(
                    "terms-are-ored",
                    &[
                        &[expression(zone, "In", &["z1"])],
                        &[expression("disk", "DoesNotExist", &[])],
                    ],
                ),
                vec!["a", "c"],
            ),
            (
                required(
                    "expressions-are-anded",
                    &[&[
                        expression(zone, "In", &["z1", "z2"]),
                        expression("disk", "NotIn", &["ssd"]),
                    ]],
                ),
                vec!["b"],
            ),
            (
                required("and-selector", &[&[expression(zone, "In", &["z1", "z2"])]])
                    .node_selector("disk", "hdd"),
                vec!["b"],
            ),
            (required("no-terms", &[]), vec![]),
        ];
        for (pod, expected) in cases {
            assert_eq!(harness().feasible(&pod), expected, "{:?}", pod.object());
        }
    }

    #[test]
    fn the_reason_is_kube_schedulers() {
        let rejected = harness().rejected(&pod("p").node_selector("disk", "ssd"));
        assert_eq!(rejected["b"], [REASON_POD]);
        assert_eq!(rejected["c"], [REASON_POD]);
        assert!(!rejected.contains_key("a"));
    }

    #[test]
    fn matching_preferred_terms_add_their_weights_normalized_to_the_best_node() {
        let ssd = [expression("disk", "In", &["ssd"])];
        let z2 = [expression("topology.kubernetes.io/zone", "In", &["z2"])];
        let has_disk = [expression("disk", "Exists", &[])];
        let cases = [
            (pod("no-preference"), [0, 0, 0]),
            (preferred("one-term", &[(10, &ssd)]), [100, 0, 0]),
            (
                preferred("weights-add-up", &[(20, &ssd), (60, &z2), (20, &has_disk)]),
                [50, 100, 0],
            ),
            (preferred("zero-weight-is-ignored", &[(0, &ssd)]), [0, 0, 0]),
            (
                preferred("empty-term-matches-nothing", &[(5, &[])]),
                [0, 0, 0],
            ),
        ];
        for (pod, expected) in cases {
            let scores: Vec<i64> = harness().scores(&pod).into_iter().map(|(_, s)| s).collect();
            assert_eq!(scores, expected, "{:?}", pod.object());
        }
    }
}
