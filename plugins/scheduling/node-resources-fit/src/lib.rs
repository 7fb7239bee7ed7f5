//! NodeResourcesFit (kube-scheduler `pkg/scheduler/framework/plugins/noderesources/fit.go`).
//!
//! Filter: the node must have room for one more pod, and for the pod's CPU
//! and memory requests next to what the placed pods request
//! (`allocatable - requested >= request`, checked only for what the pod
//! requests). A node gets every reason that applies, in kube-scheduler's
//! order: pods, cpu, memory.
//!
//! Score: the `scoringStrategy` of kube-scheduler's `NodeResourcesFitArgs`,
//! `LeastAllocated` (the default) or `MostAllocated`, over cpu and memory
//! with their weights, on the requests with kube-scheduler's non-zero
//! defaults (a container without requests counts as 100m and 200 MiB). Not
//! normalized. `RequestedToCapacityRatio`, extended resources and ephemeral
//! storage are not supported: the config is refused.
//!
//! Both extension points read only what the host parsed (`pod.requests`,
//! `node.allocatable`, `node.usage`): no JSON, and no allocation per
//! candidate except the reasons of a node turned down.

use wharf_sdk::Error;
use wharf_sdk::scheduling::{
    MAX_NODE_SCORE, PodInfo, Policy, Registration, Rejections, Resources, Snapshot,
};
use wharf_sdk::serde_json::Value;

/// The policy's name, as kube-scheduler's.
pub const NAME: &str = "NodeResourcesFit";
/// Why a node with `allocatable.pods` pods already turns a pod down.
pub const REASON_TOO_MANY_PODS: &str = "Too many pods";
/// Why a node without room for the pod's CPU request turns it down.
pub const REASON_INSUFFICIENT_CPU: &str = "Insufficient cpu";
/// Why a node without room for the pod's memory request turns it down.
pub const REASON_INSUFFICIENT_MEMORY: &str = "Insufficient memory";

pub struct NodeResourcesFit {
    strategy: Strategy,
    /// The score weight of cpu; 0 when the strategy leaves it out.
    cpu_weight: u64,
    /// The score weight of memory; 0 when the strategy leaves it out.
    memory_weight: u64,
}

/// `scoringStrategy.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strategy {
    /// Prefers the nodes with the most room left (spreading).
    LeastAllocated,
    /// Prefers the nodes with the least room left (bin packing).
    MostAllocated,
}

impl Policy for NodeResourcesFit {
    /// Reads `scoringStrategy: {type, resources: [{name, weight}]}`; both
    /// fields are optional (LeastAllocated, cpu and memory with weight 1).
    fn new(config: &Value) -> Result<Self, Error> {
        let strategy_config = config.get("scoringStrategy").filter(|v| !v.is_null());
        let strategy = match strategy_config.and_then(|s| s.get("type")) {
            None | Some(Value::Null) => Strategy::LeastAllocated,
            Some(Value::String(name)) if name == "LeastAllocated" => Strategy::LeastAllocated,
            Some(Value::String(name)) if name == "MostAllocated" => Strategy::MostAllocated,
            Some(other) => {
                return Err(Error::Invalid(format!(
                    "scoringStrategy.type: {other} is not supported (LeastAllocated or MostAllocated)"
                )));
            }
        };
        let mut policy = NodeResourcesFit {
            strategy,
            cpu_weight: 1,
            memory_weight: 1,
        };
        let resources = match strategy_config.and_then(|s| s.get("resources")) {
            None | Some(Value::Null) => return Ok(policy),
            Some(Value::Array(resources)) if resources.is_empty() => return Ok(policy),
            Some(Value::Array(resources)) => resources,
            Some(other) => {
                return Err(Error::Invalid(format!(
                    "scoringStrategy.resources: want a list, got {other}"
                )));
            }
        };
        policy.cpu_weight = 0;
        policy.memory_weight = 0;
        for resource in resources {
            let (name, weight) = resource_spec(resource)?;
            let slot = match name {
                "cpu" => &mut policy.cpu_weight,
                "memory" => &mut policy.memory_weight,
                other => {
                    return Err(Error::Invalid(format!(
                        "scoringStrategy.resources: {other:?} is not supported (cpu or memory)"
                    )));
                }
            };
            if *slot != 0 {
                return Err(Error::Invalid(format!(
                    "scoringStrategy.resources: {name:?} is listed twice"
                )));
            }
            *slot = weight;
        }
        Ok(policy)
    }

    fn registration(&self) -> Registration {
        Registration::filter_and_score(NAME)
    }

    fn filter(
        &mut self,
        snapshot: &Snapshot,
        pod: &PodInfo,
        candidates: &[u32],
        out: &mut Rejections,
    ) -> Result<(), Error> {
        let request = pod.pod.requests;
        for (position, node) in snapshot.candidates(candidates) {
            let allocatable = node.allocatable;
            let requested = node.usage.requested;
            let too_many_pods = u64::from(requested.pods) + 1 > u64::from(allocatable.pods);
            let free = allocatable.minus(requested);
            let no_cpu = request.milli_cpu > 0 && request.milli_cpu > free.milli_cpu;
            let no_memory = request.memory_bytes > 0 && request.memory_bytes > free.memory_bytes;
            if !(too_many_pods || no_cpu || no_memory) {
                continue;
            }
            let reasons = [
                (too_many_pods, REASON_TOO_MANY_PODS),
                (no_cpu, REASON_INSUFFICIENT_CPU),
                (no_memory, REASON_INSUFFICIENT_MEMORY),
            ];
            let reasons = reasons
                .into_iter()
                .filter(|(applies, _)| *applies)
                .map(|(_, reason)| reason.to_string())
                .collect();
            out.reject_all(position, reasons);
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
        let request = pod.pod.non_zero_requests;
        for (position, node) in snapshot.candidates(candidates) {
            let requested = node.usage.non_zero_requested.plus(request);
            scores[position] = self.node_score(requested, node.allocatable);
        }
        Ok(())
    }
}

wharf_sdk::export_policy!(NodeResourcesFit);

impl NodeResourcesFit {
    /// kube-scheduler's `leastResourceScorer` / `mostResourceScorer`: the
    /// weighted mean of the resources' scores, skipping resources the node
    /// has none of.
    fn node_score(&self, requested: Resources, allocatable: Resources) -> i64 {
        let resources = [
            (self.cpu_weight, requested.milli_cpu, allocatable.milli_cpu),
            (
                self.memory_weight,
                requested.memory_bytes,
                allocatable.memory_bytes,
            ),
        ];
        let (mut total, mut weights) = (0u64, 0u64);
        for (weight, requested, capacity) in resources {
            if weight == 0 || capacity == 0 {
                continue;
            }
            total += self.strategy.resource_score(requested, capacity) * weight;
            weights += weight;
        }
        total.checked_div(weights).unwrap_or(0) as i64
    }
}

impl Strategy {
    /// One resource's score, 0 to 100; `capacity` is not 0.
    fn resource_score(self, requested: u64, capacity: u64) -> u64 {
        let numerator = match self {
            // `leastRequestedScore`
            Strategy::LeastAllocated if requested > capacity => return 0,
            Strategy::LeastAllocated => capacity - requested,
            // `mostRequestedScore`
            Strategy::MostAllocated => requested.min(capacity),
        };
        // floor(numerator × 100 / capacity). With exact operands (below
        // 2^53) and a capacity below 2^46 (64 TiB), a float division gives
        // exactly the integer one: a non-integer quotient under 100 is at
        // least 1/capacity > 2^-46 from the next integer, more than the
        // float's rounding. It is several times faster than a 64-bit
        // integer division, in WebAssembly especially. Past that, integers
        // (u128 past 184 PB).
        let max = MAX_NODE_SCORE as u64;
        if numerator < (1 << 53) / max && capacity < 1 << 46 {
            // Through i64: a signed conversion is one instruction in
            // WebAssembly, an unsigned one is not.
            return ((numerator * max) as i64 as f64 / capacity as i64 as f64) as i64 as u64;
        }
        match numerator.checked_mul(max) {
            Some(scaled) => scaled / capacity,
            None => (u128::from(numerator) * u128::from(max) / u128::from(capacity)) as u64,
        }
    }
}

/// One `{name, weight}` of `scoringStrategy.resources`; a missing or zero
/// weight is 1, as kube-scheduler defaults it, and it must not exceed 100.
fn resource_spec(resource: &Value) -> Result<(&str, u64), Error> {
    let name = resource
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::Invalid(format!("scoringStrategy.resources: {resource} has no name"))
        })?;
    let weight = match resource.get("weight") {
        None | Some(Value::Null) => 1,
        Some(weight) => match weight.as_u64() {
            Some(0) => 1,
            Some(weight @ 1..=100) => weight,
            _ => {
                return Err(Error::Invalid(format!(
                    "scoringStrategy.resources: the weight of {name:?} must be 1 to 100, got {weight}"
                )));
            }
        },
    };
    Ok((name, weight))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_score_division_equals_the_integer_one() {
        let capacities = [
            1u64,
            3,
            7,
            4000,
            4096,
            64_000,
            32 << 30,
            48_318_382_080,
            (1 << 46) - 1,
        ];
        for capacity in capacities {
            let mut numerator = 0u64;
            while numerator <= capacity {
                let exact = u128::from(numerator) * 100 / u128::from(capacity);
                let least = Strategy::LeastAllocated.resource_score(capacity - numerator, capacity);
                assert_eq!(u128::from(least), exact, "{numerator}/{capacity}");
                numerator = numerator * 3 / 2 + 1;
            }
            for numerator in capacity.saturating_sub(300)..=capacity {
                let exact = u128::from(numerator) * 100 / u128::from(capacity);
                assert_eq!(
                    u128::from(Strategy::MostAllocated.resource_score(numerator, capacity)),
                    exact,
                    "{numerator}/{capacity}"
                );
            }
        }
    }
    use wharf_sdk::scheduling::testing::{Harness, NodeBuilder, PodBuilder, node, pod};
    use wharf_sdk::serde_json::json;

    /// A filter case: one node `n` with `placed` pods, the incoming pod,
    /// and the reasons `n` turns it down for.
    struct FitCase {
        name: &'static str,
        node: NodeBuilder,
        placed: Vec<PodBuilder>,
        incoming: PodBuilder,
        reasons: Vec<&'static str>,
    }

    #[test]
    fn a_node_turns_the_pod_down_for_every_resource_it_lacks() {
        let cases = [
            FitCase {
                name: "room for everything",
                node: node("n"),
                placed: vec![],
                incoming: pod("p").cpu("1").memory("1Gi"),
                reasons: vec![],
            },
            FitCase {
                name: "the pod count is full",
                node: node("n").pods(1),
                placed: vec![pod("old")],
                incoming: pod("p"),
                reasons: vec![REASON_TOO_MANY_PODS],
            },
            FitCase {
                name: "the cpu left is short",
                node: node("n").cpu("2"),
                placed: vec![pod("old").cpu("1500m")],
                incoming: pod("p").cpu("1"),
                reasons: vec![REASON_INSUFFICIENT_CPU],
            },
            FitCase {
                name: "the cpu left is exactly enough",
                node: node("n").cpu("2"),
                placed: vec![pod("old").cpu("1")],
                incoming: pod("p").cpu("1"),
                reasons: vec![],
            },
            FitCase {
                name: "cpu and memory are both short",
                node: node("n").cpu("1").memory("1Gi"),
                placed: vec![],
                incoming: pod("p").cpu("2").memory("2Gi"),
                reasons: vec![REASON_INSUFFICIENT_CPU, REASON_INSUFFICIENT_MEMORY],
            },
            FitCase {
                name: "pods, cpu and memory are all short",
                node: node("n").pods(1).cpu("1").memory("1Gi"),
                placed: vec![pod("old").cpu("1").memory("1Gi")],
                incoming: pod("p").cpu("100m").memory("1Mi"),
                reasons: vec![
                    REASON_TOO_MANY_PODS,
                    REASON_INSUFFICIENT_CPU,
                    REASON_INSUFFICIENT_MEMORY,
                ],
            },
            FitCase {
                name: "a pod without requests fits a full node",
                node: node("n").cpu("1").memory("1Gi"),
                placed: vec![pod("old").cpu("1").memory("1Gi")],
                incoming: pod("p"),
                reasons: vec![],
            },
        ];
        for case in cases {
            let mut harness = Harness::<NodeResourcesFit>::new(json!({}));
            harness.add_node(case.node);
            for pod in &case.placed {
                harness.place(pod, "n");
            }
            let reasons = harness
                .rejected(&case.incoming)
                .remove("n")
                .unwrap_or_default();
            assert_eq!(reasons, case.reasons, "{}", case.name);
        }
    }

    /// Nodes of 4 CPUs and 16 GiB: `empty`, and `busy` with 2 CPUs and
    /// 8 GiB requested; the pod asks for 1 CPU and 1 GiB unless told.
    fn scores(config: Value, incoming: &PodBuilder) -> Vec<i64> {
        let mut harness = Harness::<NodeResourcesFit>::new(config);
        harness.add_node(node("empty"));
        harness.add_node(node("busy"));
        harness.place(&pod("old").cpu("2").memory("8Gi"), "busy");
        harness
            .scores(incoming)
            .into_iter()
            .map(|(_, s)| s)
            .collect()
    }

    #[test]
    fn least_allocated_spreads_and_most_allocated_packs() {
        let strategy = |strategy: &str| json!({"scoringStrategy": {"type": strategy}});
        let standard = pod("p").cpu("1").memory("1Gi");
        let cases = [
            // cpu (4-1)/4 = 75, memory 15/16 = 93; busy: 25 and 43.
            (
                "least allocated is the default",
                json!({"order": 60, "weight": 1}),
                &standard,
                [84, 34],
            ),
            (
                "least allocated prefers the emptier node",
                strategy("LeastAllocated"),
                &standard,
                [84, 34],
            ),
            // cpu 1/4 = 25, memory 1/16 = 6; busy: 75 and 56.
            (
                "most allocated prefers the fuller node",
                strategy("MostAllocated"),
                &standard,
                [15, 65],
            ),
            (
                "resource weights weigh the mean",
                json!({"scoringStrategy": {"resources": [
                    {"name": "cpu", "weight": 3}, {"name": "memory", "weight": 1}
                ]}}),
                &standard,
                [79, 29],
            ),
            (
                "resources left out do not count",
                json!({"scoringStrategy": {"type": "LeastAllocated", "resources": [{"name": "cpu"}]}}),
                &standard,
                [75, 25],
            ),
            // 100m of 4 CPUs: 97; 200 MiB of 16 GiB: 98.
            (
                "a pod without requests counts as 100m and 200Mi",
                json!({}),
                &pod("p"),
                [97, 47],
            ),
            (
                "least allocated gives 0 past capacity",
                json!({}),
                &pod("p").cpu("8").memory("32Gi"),
                [0, 0],
            ),
            (
                "most allocated caps at capacity",
                strategy("MostAllocated"),
                &pod("p").cpu("8").memory("32Gi"),
                [100, 100],
            ),
        ];
        for (name, config, incoming, expected) in cases {
            assert_eq!(scores(config, incoming), expected, "{name}");
        }
    }

    #[test]
    fn resources_a_node_has_none_of_are_left_out_of_the_mean() {
        let mut harness = Harness::<NodeResourcesFit>::new(json!({}));
        harness.add_node(node("no-memory").memory("0"));
        // cpu alone: (4000 - 1000) / 4000 = 75.
        assert_eq!(harness.scores(&pod("p").cpu("1"))[0].1, 75);
    }

    #[test]
    fn configs_kube_scheduler_would_refuse_or_wharf_cannot_score_are_refused() {
        let cases = [
            (
                "an unknown strategy",
                json!({"scoringStrategy": {"type": "Spread"}}),
            ),
            (
                "requested to capacity ratio",
                json!({"scoringStrategy": {"type": "RequestedToCapacityRatio"}}),
            ),
            (
                "a strategy that is not a string",
                json!({"scoringStrategy": {"type": 1}}),
            ),
            (
                "resources that are not a list",
                json!({"scoringStrategy": {"resources": "cpu"}}),
            ),
            (
                "a resource without a name",
                json!({"scoringStrategy": {"resources": [{"weight": 1}]}}),
            ),
            (
                "an extended resource",
                json!({"scoringStrategy": {"resources": [{"name": "nvidia.com/gpu"}]}}),
            ),
            (
                "a weight over 100",
                json!({"scoringStrategy": {"resources": [{"name": "cpu", "weight": 101}]}}),
            ),
            (
                "a negative weight",
                json!({"scoringStrategy": {"resources": [{"name": "cpu", "weight": -1}]}}),
            ),
            (
                "a resource listed twice",
                json!({"scoringStrategy": {"resources": [{"name": "cpu"}, {"name": "cpu"}]}}),
            ),
        ];
        for (name, config) in cases {
            assert!(
                Harness::<NodeResourcesFit>::try_new(config).is_err(),
                "{name}"
            );
        }
    }

    #[test]
    fn the_registration_filters_and_scores() {
        let harness = Harness::<NodeResourcesFit>::new(json!({}));
        assert_eq!(
            harness.registration(),
            &Registration::filter_and_score(NAME)
        );
    }
}
