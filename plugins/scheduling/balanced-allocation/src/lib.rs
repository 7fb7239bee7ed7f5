//! NodeResourcesBalancedAllocation (kube-scheduler
//! `pkg/scheduler/framework/plugins/noderesources/balanced_allocation.go`):
//! prefers the nodes whose CPU and memory would be used in equal fractions
//! once the pod is placed.
//!
//! With f = (requested by the placed pods + the pod's requests) /
//! allocatable for cpu and memory (actual requests, not the non-zero
//! defaults), each capped at 1, the score is (1 − |f_cpu − f_memory| / 2) ×
//! 100: one minus the standard deviation of the two fractions. A resource
//! the node has none of is left out (one fraction left: the score is 100).
//! Not normalized.
//!
//! As kube-scheduler does (kubernetes/kubernetes#129138), a best-effort pod
//! (no CPU or memory requests) is not scored (all candidates get 0):
//! otherwise such pods pile up on whichever node happens to be balanced.
//!
//! Reads only what the host parsed (`pod.requests`, `node.allocatable`,
//! `node.usage`): no JSON, no allocation.

use wharf_sdk::Error;
use wharf_sdk::scheduling::{MAX_NODE_SCORE, PodInfo, Policy, Registration, Resources, Snapshot};
use wharf_sdk::serde_json;

/// The policy's name, as kube-scheduler's.
pub const NAME: &str = "NodeResourcesBalancedAllocation";

pub struct BalancedAllocation;

impl Policy for BalancedAllocation {
    fn new(_config: &serde_json::Value) -> Result<Self, Error> {
        Ok(BalancedAllocation)
    }

    fn registration(&self) -> Registration {
        Registration::score(NAME)
    }

    fn score(
        &mut self,
        snapshot: &Snapshot,
        pod: &PodInfo,
        candidates: &[u32],
        scores: &mut [i64],
    ) -> Result<(), Error> {
        let request = pod.pod.requests;
        if request.milli_cpu == 0 && request.memory_bytes == 0 {
            return Ok(());
        }
        for (position, node) in snapshot.candidates(candidates) {
            let requested = node.usage.requested.plus(request);
            scores[position] = balanced_score(requested, node.allocatable);
        }
        Ok(())
    }
}

wharf_sdk::export_policy!(BalancedAllocation);

/// kube-scheduler's `balancedResourceScorer` for cpu and memory.
fn balanced_score(requested: Resources, allocatable: Resources) -> i64 {
    let cpu = fraction(requested.milli_cpu, allocatable.milli_cpu);
    let memory = fraction(requested.memory_bytes, allocatable.memory_bytes);
    let deviation = match (cpu, memory) {
        (Some(cpu), Some(memory)) => (cpu - memory).abs() / 2.0,
        _ => 0.0,
    };
    ((1.0 - deviation) * MAX_NODE_SCORE as f64) as i64
}

/// The fraction of a resource used, capped at 1; `None` when the node has
/// none of it. (Written for WebAssembly: signed conversions and a plain
/// comparison are single instructions there; `u64 as f64` and `f64::min`
/// are not.)
fn fraction(requested: u64, allocatable: u64) -> Option<f64> {
    if allocatable == 0 {
        return None;
    }
    let fraction = to_f64(requested) / to_f64(allocatable);
    Some(if fraction > 1.0 { 1.0 } else { fraction })
}

/// A quantity as a float, through `i64` (quantities stay far below 2^63).
fn to_f64(value: u64) -> f64 {
    value.min(i64::MAX as u64) as i64 as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wharf_sdk::scheduling::testing::{Harness, NodeBuilder, PodBuilder, node, pod};

    #[test]
    fn the_node_where_cpu_and_memory_fractions_are_equal_scores_highest() {
        let mut harness = Harness::<BalancedAllocation>::new(json!({}));
        harness.add_node(node("balanced").cpu("4").memory("16Gi"));
        harness.add_node(node("memory-heavy").cpu("4").memory("64Gi"));
        harness.add_node(node("cpu-heavy").cpu("16").memory("16Gi"));
        let scores = harness.scores(&pod("p").cpu("1").memory("4Gi"));
        // 1/4 and 4/16; 1/4 and 4/64: deviation 0.09375; 1/16 and 4/16 too.
        assert_eq!(
            scores,
            [
                ("balanced".into(), 100),
                ("memory-heavy".into(), 90),
                ("cpu-heavy".into(), 90)
            ]
        );
    }

    /// A score case: one node `n` with `placed` pods, the incoming pod,
    /// and the score of `n`.
    struct BalanceCase {
        name: &'static str,
        node: NodeBuilder,
        placed: Vec<PodBuilder>,
        incoming: PodBuilder,
        score: i64,
    }

    #[test]
    fn the_score_is_one_minus_the_deviation_of_the_fractions() {
        let cases = [
            BalanceCase {
                name: "equal fractions",
                node: node("n").cpu("4").memory("16Gi"),
                placed: vec![],
                incoming: pod("p").cpu("2").memory("8Gi"),
                score: 100,
            },
            BalanceCase {
                name: "placed pods count by their actual requests",
                node: node("n").cpu("4").memory("16Gi"),
                placed: vec![pod("old").cpu("2"), pod("best-effort")],
                incoming: pod("p").cpu("1").memory("4Gi"),
                // 3/4 and 4/16: deviation 0.25.
                score: 75,
            },
            BalanceCase {
                name: "fractions are capped at 1",
                node: node("n").cpu("1").memory("16Gi"),
                placed: vec![],
                incoming: pod("p").cpu("2").memory("4Gi"),
                // 1 and 1/4: deviation 0.375.
                score: 62,
            },
            BalanceCase {
                name: "a resource the node has none of is left out",
                node: node("n").cpu("4").memory("0"),
                placed: vec![],
                incoming: pod("p").cpu("1").memory("1Gi"),
                score: 100,
            },
            BalanceCase {
                name: "a memory-only request is scored",
                node: node("n").cpu("4").memory("16Gi"),
                placed: vec![],
                incoming: pod("p").memory("8Gi"),
                // 0 and 1/2: deviation 0.25.
                score: 75,
            },
            BalanceCase {
                name: "a best-effort pod is not scored",
                node: node("n").cpu("4").memory("16Gi"),
                placed: vec![pod("old").cpu("3")],
                incoming: pod("p"),
                score: 0,
            },
        ];
        for case in cases {
            let mut harness = Harness::<BalancedAllocation>::new(json!({}));
            harness.add_node(case.node);
            for pod in &case.placed {
                harness.place(pod, "n");
            }
            assert_eq!(
                harness.scores(&case.incoming)[0].1,
                case.score,
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn the_registration_only_scores() {
        let harness = Harness::<BalancedAllocation>::new(json!({"order": 100, "weight": 1}));
        assert_eq!(harness.registration(), &Registration::score(NAME));
    }
}
