//! PodTopologySpread (kube-scheduler `pkg/scheduler/framework/plugins/podtopologyspread`):
//! spreads pods across topology domains (zones, hosts…) by their
//! `topologySpreadConstraints`.
//!
//! For each constraint, the pods counted are the placed pods in the incoming
//! pod's namespace whose labels match the constraint's `labelSelector`
//! (plus, for each of `matchLabelKeys`, the incoming pod's value of that
//! label; no selector matches nothing). The nodes counted are those with the
//! constraint's topology label (all the constraints' labels, in fact) and,
//! as `nodeAffinityPolicy: Honor` (the default) asks, matching the pod's
//! `nodeSelector` and required node affinity, and, as `nodeTaintsPolicy:
//! Honor` (default `Ignore`) asks, whose `NoSchedule`/`NoExecute` taints the
//! pod tolerates.
//!
//! Filter (`whenUnsatisfiable: DoNotSchedule`): a candidate without the
//! topology label is turned down; otherwise the skew, pods in the
//! candidate's domain + 1 if the incoming pod matches the selector − the
//! fewest pods in an eligible domain (0 when there are fewer domains than
//! `minDomains`), must not exceed `maxSkew`.
//!
//! Score (`whenUnsatisfiable: ScheduleAnyway`): over the domains of the
//! candidates, each candidate gets Σ pods in its domain × ln(domains + 2) +
//! (maxSkew − 1), rounded; scores are then reversed and normalized as
//! kube-scheduler's `NormalizeScore` does (the emptiest domain scores 100);
//! candidates missing a topology label score 0.
//!
//! kube-scheduler's default (system) constraints, applied to pods without
//! any from the selectors of their Services and ReplicaSets, are NOT
//! applied: a pod without `topologySpreadConstraints` is neither filtered
//! nor scored by this policy.
//!
//! The policy registers `wants_pods`: it keeps the placed pods of every node
//! (their namespace and labels) from the host's `pod-added`/`pod-removed`
//! changes and counts them for each pod scheduled.

use std::cell::OnceCell;
use std::collections::HashMap;

use wharf_sdk::Error;
use wharf_sdk::scheduling::spec::{LabelSelector, TopologySpreadConstraint};
use wharf_sdk::scheduling::{
    MAX_NODE_SCORE, Node, PlacedPod, PodInfo, PodSpec, Policy, Registration, Rejections, Snapshot,
};
use wharf_sdk::serde_json;

/// The policy's name, as kube-scheduler's.
pub const NAME: &str = "PodTopologySpread";
/// Why a candidate whose domain would get too many matching pods turns the
/// pod down.
pub const REASON_CONSTRAINTS_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints";
/// Why a candidate without a constraint's topology label turns the pod down.
pub const REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

const DO_NOT_SCHEDULE: &str = "DoNotSchedule";
const SCHEDULE_ANYWAY: &str = "ScheduleAnyway";
const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
/// A candidate's raw score before normalization when it misses a label.
const IGNORED: i64 = i64::MIN;

pub struct PodTopologySpread;

impl Policy for PodTopologySpread {
    fn new(_config: &serde_json::Value) -> Result<Self, Error> {
        Ok(PodTopologySpread)
    }

    fn registration(&self) -> Registration {
        Registration::filter_and_score(NAME)
            .wanting_pods()
            .without_usage()
    }

    fn filter(
        &mut self,
        snapshot: &Snapshot,
        pod: &PodInfo,
        candidates: &[u32],
        out: &mut Rejections,
    ) -> Result<(), Error> {
        let spec = pod.spec()?;
        // No ScheduleAnyway constraint: nothing to score (PreScore Skip).
        if Constraint::all(spec, pod, SCHEDULE_ANYWAY).is_empty() {
            out.skip_score();
        }
        let constraints = Constraint::all(spec, pod, DO_NOT_SCHEDULE);
        if constraints.is_empty() {
            return Ok(());
        }
        let namespace = pod.pod.namespace.as_str();

        // Matching pods per domain, over every eligible node (kube-scheduler's
        // PreFilter); an eligible domain without matching pods counts 0.
        let mut counts: Vec<HashMap<&str, i64>> = vec![HashMap::new(); constraints.len()];
        for node in snapshot.nodes() {
            if !has_all_labels(node, &constraints) {
                continue;
            }
            let inclusion = Inclusion::new(spec, node);
            let pods = snapshot.pods_on(node.index);
            for (constraint, counts) in constraints.iter().zip(&mut counts) {
                if !constraint.includes(&inclusion) {
                    continue;
                }
                let domain = node.label(constraint.topology_key).unwrap_or_default();
                *counts.entry(domain).or_default() += constraint.count(pods, namespace);
            }
        }
        let minimums: Vec<i64> = constraints
            .iter()
            .zip(&counts)
            .map(|(constraint, counts)| {
                if (counts.len() as i64) < constraint.min_domains {
                    0
                } else {
                    counts.values().copied().min().unwrap_or(0)
                }
            })
            .collect();
        let self_matches: Vec<i64> = constraints
            .iter()
            .map(|constraint| i64::from(constraint.selector.matches(&pod.pod.labels)))
            .collect();

        for (position, node) in snapshot.candidates(candidates) {
            for (i, constraint) in constraints.iter().enumerate() {
                let Some(domain) = node.label(constraint.topology_key) else {
                    out.reject(position, REASON_NODE_LABEL_NOT_MATCH);
                    break;
                };
                let in_domain = counts[i].get(domain).copied().unwrap_or(0);
                if in_domain + self_matches[i] - minimums[i] > constraint.max_skew {
                    out.reject(position, REASON_CONSTRAINTS_NOT_MATCH);
                    break;
                }
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
        let spec = pod.spec()?;
        let constraints = Constraint::all(spec, pod, SCHEDULE_ANYWAY);
        if constraints.is_empty() {
            return Ok(());
        }
        let namespace = pod.pod.namespace.as_str();

        // The domains of the candidates that have every label (kube-scheduler's
        // PreScore); hostname domains are counted per candidate below.
        let mut counts: Vec<HashMap<&str, i64>> = vec![HashMap::new(); constraints.len()];
        let mut scored = 0;
        for (_, node) in snapshot.candidates(candidates) {
            if !has_all_labels(node, &constraints) {
                continue;
            }
            scored += 1;
            for (constraint, counts) in constraints.iter().zip(&mut counts) {
                if !constraint.by_hostname() {
                    counts
                        .entry(node.label(constraint.topology_key).unwrap_or_default())
                        .or_default();
                }
            }
        }
        let weights: Vec<f64> = constraints
            .iter()
            .zip(&counts)
            .map(|(constraint, counts)| {
                let domains = if constraint.by_hostname() {
                    scored
                } else {
                    counts.len()
                };
                topology_normalizing_weight(domains)
            })
            .collect();

        // Matching pods in those domains, over every eligible node.
        for node in snapshot.nodes() {
            if !has_all_labels(node, &constraints) {
                continue;
            }
            let inclusion = Inclusion::new(spec, node);
            let pods = snapshot.pods_on(node.index);
            for (constraint, counts) in constraints.iter().zip(&mut counts) {
                if constraint.by_hostname() || !constraint.includes(&inclusion) {
                    continue;
                }
                let domain = node.label(constraint.topology_key).unwrap_or_default();
                if let Some(count) = counts.get_mut(domain) {
                    *count += constraint.count(pods, namespace);
                }
            }
        }

        scores.fill(IGNORED);
        let (mut min, mut max) = (i64::MAX, 0);
        for (position, node) in snapshot.candidates(candidates) {
            if !has_all_labels(node, &constraints) {
                continue;
            }
            let mut score = 0.0;
            for (i, constraint) in constraints.iter().enumerate() {
                let count = if constraint.by_hostname() {
                    constraint.count(snapshot.pods_on(node.index), namespace)
                } else {
                    let domain = node.label(constraint.topology_key).unwrap_or_default();
                    counts[i].get(domain).copied().unwrap_or(0)
                };
                score += count as f64 * weights[i] + (constraint.max_skew - 1) as f64;
            }
            let score = score.round() as i64;
            scores[position] = score;
            min = min.min(score);
            max = max.max(score);
        }

        // kube-scheduler's NormalizeScore: fewer pods is better.
        for score in scores {
            *score = match *score {
                IGNORED => 0,
                _ if max == 0 => MAX_NODE_SCORE,
                raw => MAX_NODE_SCORE * (max + min - raw) / max,
            };
        }
        Ok(())
    }
}

wharf_sdk::export_policy!(PodTopologySpread);

/// One of the pod's constraints with its defaults applied and its selector
/// resolved (kube-scheduler's `topologySpreadConstraint`).
struct Constraint<'a> {
    max_skew: i64,
    topology_key: &'a str,
    selector: Selector<'a>,
    min_domains: i64,
    honor_node_affinity: bool,
    honor_node_taints: bool,
}

impl<'a> Constraint<'a> {
    /// The pod's constraints with this `whenUnsatisfiable`.
    fn all(spec: &'a PodSpec, pod: &'a PodInfo, when_unsatisfiable: &str) -> Vec<Self> {
        spec.topology_spread_constraints()
            .iter()
            .filter(|c| c.when_unsatisfiable == when_unsatisfiable)
            .map(|c| Constraint::new(c, pod))
            .collect()
    }

    fn new(constraint: &'a TopologySpreadConstraint, pod: &'a PodInfo) -> Self {
        let match_label_keys = constraint.match_label_keys.as_deref().unwrap_or_default();
        Constraint {
            max_skew: constraint.max_skew,
            topology_key: &constraint.topology_key,
            selector: Selector {
                label_selector: constraint.label_selector.as_ref(),
                pod_labels: match_label_keys
                    .iter()
                    .filter_map(|key| Some((key.as_str(), pod.label(key)?)))
                    .collect(),
            },
            min_domains: constraint.min_domains.unwrap_or(1),
            honor_node_affinity: constraint.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_node_taints: constraint.node_taints_policy.as_deref() == Some("Honor"),
        }
    }

    fn by_hostname(&self) -> bool {
        self.topology_key == HOSTNAME_LABEL
    }

    /// Whether the node's pods count, as the inclusion policies say.
    fn includes(&self, inclusion: &Inclusion<'_>) -> bool {
        (!self.honor_node_affinity || inclusion.matches_affinity())
            && (!self.honor_node_taints || inclusion.tolerated())
    }

    /// The pods in `namespace` the selector matches.
    fn count(&self, pods: &[PlacedPod], namespace: &str) -> i64 {
        pods.iter()
            .filter(|p| p.namespace == namespace && self.selector.matches(&p.labels))
            .count() as i64
    }
}

/// A constraint's `labelSelector` with its `matchLabelKeys` merged in.
struct Selector<'a> {
    label_selector: Option<&'a LabelSelector>,
    /// The keys of `matchLabelKeys` with the incoming pod's values.
    pod_labels: Vec<(&'a str, &'a str)>,
}

impl Selector<'_> {
    /// Whether the labels match; no `labelSelector` matches nothing (as
    /// `metav1.LabelSelectorAsSelector(nil)`), except what
    /// `matchLabelKeys` adds.
    fn matches(&self, labels: &[(String, String)]) -> bool {
        let get = |key: &str| {
            labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        if self.label_selector.is_none() && self.pod_labels.is_empty() {
            return false;
        }
        self.pod_labels
            .iter()
            .all(|(key, value)| get(key) == Some(*value))
            && self
                .label_selector
                .is_none_or(|selector| selector.matches(get))
    }
}

/// What the inclusion policies ask of one node, worked out on first use.
struct Inclusion<'a> {
    spec: &'a PodSpec,
    node: &'a Node,
    affinity: OnceCell<bool>,
    tolerated: OnceCell<bool>,
}

impl<'a> Inclusion<'a> {
    fn new(spec: &'a PodSpec, node: &'a Node) -> Self {
        Inclusion {
            spec,
            node,
            affinity: Default::default(),
            tolerated: Default::default(),
        }
    }

    /// The node matches the pod's `nodeSelector` and required affinity.
    fn matches_affinity(&self) -> bool {
        *self
            .affinity
            .get_or_init(|| self.spec.matches_node_selector_and_affinity(self.node))
    }

    /// The pod tolerates the node's `NoSchedule` and `NoExecute` taints.
    fn tolerated(&self) -> bool {
        *self.tolerated.get_or_init(|| {
            self.node
                .taints
                .iter()
                .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
                .all(|t| self.spec.tolerates(t))
        })
    }
}

/// Whether the node has the topology label of every constraint.
fn has_all_labels(node: &Node, constraints: &[Constraint<'_>]) -> bool {
    constraints
        .iter()
        .all(|c| node.label(c.topology_key).is_some())
}

/// kube-scheduler's `topologyNormalizingWeight`: counts in a topology with
/// few domains weigh less than in one with many.
fn topology_normalizing_weight(domains: usize) -> f64 {
    ((domains + 2) as f64).ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use wharf_sdk::scheduling::testing::{Harness, NodeBuilder, PodBuilder, node, pod};

    const ZONE: &str = "topology.kubernetes.io/zone";

    fn harness(nodes: Vec<NodeBuilder>) -> Harness<PodTopologySpread> {
        let mut harness = Harness::<PodTopologySpread>::new(json!({}));
        for node in nodes {
            harness.add_node(node);
        }
        harness
    }

    /// Zones z1 (a1, a2), z2 (b1, b2) and z3 (c1, c2), nodes in the `blue`
    /// pool except z3's, with web pods: two in z1, one in z2.
    fn three_zones() -> Harness<PodTopologySpread> {
        let mut harness = harness(vec![
            node("a1").zone("z1").label("pool", "blue"),
            node("a2").zone("z1").label("pool", "blue"),
            node("b1").zone("z2").label("pool", "blue"),
            node("b2").zone("z2").label("pool", "blue"),
            node("c1").zone("z3"),
            node("c2").zone("z3"),
        ]);
        harness.place(&web("web-1"), "a1");
        harness.place(&web("web-2"), "a2");
        harness.place(&web("web-3"), "b1");
        harness
    }

    fn web(name: &str) -> PodBuilder {
        pod(name).label("app", "web")
    }

    /// A web pod with one constraint over app=web; `extra` adds fields
    /// (minDomains, nodeAffinityPolicy…).
    fn spread(max_skew: i64, key: &str, when: &str, extra: Value) -> PodBuilder {
        let mut constraint = json!({
            "maxSkew": max_skew,
            "topologyKey": key,
            "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": "web"}},
        });
        for (field, value) in extra.as_object().into_iter().flatten() {
            constraint[field] = value.clone();
        }
        web("incoming").spec("topologySpreadConstraints", json!([constraint]))
    }

    fn zone_spread(max_skew: i64) -> PodBuilder {
        web("incoming").spread(max_skew, ZONE, DO_NOT_SCHEDULE, &[("app", "web")])
    }

    #[test]
    fn a_do_not_schedule_pod_goes_only_where_the_skew_stays_within_max_skew() {
        let cases: Vec<(&str, PodBuilder, Vec<&str>)> = vec![
            (
                "max skew 1 allows only the emptiest zone",
                zone_spread(1),
                vec!["c1", "c2"],
            ),
            (
                "max skew 2 allows the two emptier zones",
                zone_spread(2),
                vec!["b1", "b2", "c1", "c2"],
            ),
            (
                "a pod outside its own selector does not add to the skew",
                pod("db").spread(1, ZONE, DO_NOT_SCHEDULE, &[("app", "web")]),
                vec!["b1", "b2", "c1", "c2"],
            ),
            (
                "a selector matching no placed pod leaves every zone open",
                pod("db")
                    .label("app", "db")
                    .spread(1, ZONE, DO_NOT_SCHEDULE, &[("app", "db")]),
                vec!["a1", "a2", "b1", "b2", "c1", "c2"],
            ),
            (
                "schedule-anyway constraints do not filter",
                web("incoming").spread(1, ZONE, SCHEDULE_ANYWAY, &[("app", "web")]),
                vec!["a1", "a2", "b1", "b2", "c1", "c2"],
            ),
            (
                "the nodes a pod's node selector excludes do not count (affinity honored by default)",
                // z3 is out of the pool: the minimum is z2's 1, so z2 fits
                // (and z3, whose count is 0, is NodeAffinity's to turn down).
                zone_spread(1).node_selector("pool", "blue"),
                vec!["b1", "b2", "c1", "c2"],
            ),
            (
                "node affinity policy Ignore counts every node",
                spread(
                    1,
                    ZONE,
                    DO_NOT_SCHEDULE,
                    json!({"nodeAffinityPolicy": "Ignore"}),
                )
                .node_selector("pool", "blue"),
                vec!["c1", "c2"],
            ),
        ];
        for (name, incoming, expected) in cases {
            assert_eq!(three_zones().feasible(&incoming), expected, "{name}");
        }
    }

    #[test]
    fn the_reasons_are_kube_schedulers() {
        let mut harness = three_zones();
        harness.add_node(node("bare"));
        let rejected = harness.rejected(&zone_spread(1));
        assert_eq!(rejected["a1"], [REASON_CONSTRAINTS_NOT_MATCH]);
        assert_eq!(rejected["b2"], [REASON_CONSTRAINTS_NOT_MATCH]);
        assert_eq!(rejected["bare"], [REASON_NODE_LABEL_NOT_MATCH]);
        assert!(!rejected.contains_key("c1"));
    }

    #[test]
    fn nodes_without_the_topology_label_neither_fit_nor_count() {
        let mut harness = harness(vec![
            node("z1").zone("z1"),
            node("z2").zone("z2"),
            node("bare"),
        ]);
        harness.place(&web("on-z1"), "z1");
        harness.place(&web("on-bare-1"), "bare");
        harness.place(&web("on-bare-2"), "bare");
        assert_eq!(harness.feasible(&zone_spread(1)), ["z2"]);
    }

    #[test]
    fn only_pods_in_the_incoming_pods_namespace_count() {
        let mut harness = three_zones();
        harness.place(&web("elsewhere-1").namespace("other"), "c1");
        harness.place(&web("elsewhere-2").namespace("other"), "c2");
        assert_eq!(harness.feasible(&zone_spread(1)), ["c1", "c2"]);
    }

    #[test]
    fn hostname_spreading_keeps_each_node_within_max_skew() {
        let cases: Vec<(&str, Vec<&str>, i64, Vec<&str>)> = vec![
            (
                "the empty node alone at max skew 1",
                vec!["n1", "n2"],
                1,
                vec!["n3"],
            ),
            (
                "every node once all have one pod",
                vec!["n1", "n2", "n3"],
                1,
                vec!["n1", "n2", "n3"],
            ),
            (
                "the emptier nodes at max skew 2",
                vec!["n1", "n1", "n2"],
                2,
                vec!["n2", "n3"],
            ),
        ];
        for (name, placements, max_skew, expected) in cases {
            let mut harness = harness(vec![node("n1"), node("n2"), node("n3")]);
            for (i, node) in placements.iter().enumerate() {
                harness.place(&web(&format!("web-{i}")), node);
            }
            let incoming = web("incoming").spread(
                max_skew,
                HOSTNAME_LABEL,
                DO_NOT_SCHEDULE,
                &[("app", "web")],
            );
            assert_eq!(harness.feasible(&incoming), expected, "{name}");
        }
    }

    #[test]
    fn min_domains_treats_the_minimum_as_zero_while_domains_are_missing() {
        let cases = [
            (
                "without min domains the minimum is 1",
                json!({}),
                vec!["b1", "b2", "c1", "c2"],
            ),
            (
                "three domains satisfy min domains 3",
                json!({"minDomains": 3}),
                vec!["b1", "b2", "c1", "c2"],
            ),
            (
                "three domains are short of min domains 4",
                json!({"minDomains": 4}),
                vec![],
            ),
        ];
        for (name, extra, expected) in cases {
            let mut harness = three_zones();
            harness.place(&web("web-4"), "c1");
            assert_eq!(
                harness.feasible(&spread(1, ZONE, DO_NOT_SCHEDULE, extra)),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn node_taints_policy_honor_leaves_out_nodes_with_untolerated_taints() {
        let cases = [
            ("taints are ignored by default", json!({}), vec!["c1", "c2"]),
            // z3 tainted away: the minimum is z2's 1.
            (
                "honored taints leave the tainted zone out",
                json!({"nodeTaintsPolicy": "Honor"}),
                vec!["b1", "b2", "c1", "c2"],
            ),
        ];
        for (name, extra, expected) in cases {
            let mut harness = harness(vec![
                node("a1").zone("z1"),
                node("b1").zone("z2"),
                node("b2").zone("z2"),
                node("c1").zone("z3").taint("dedicated", "db", "NoSchedule"),
                node("c2").zone("z3").taint("dedicated", "db", "NoExecute"),
            ]);
            harness.place(&web("web-1"), "a1");
            harness.place(&web("web-2"), "a1");
            harness.place(&web("web-3"), "b1");
            assert_eq!(
                harness.feasible(&spread(1, ZONE, DO_NOT_SCHEDULE, extra)),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn match_label_keys_count_only_pods_with_the_incoming_pods_values() {
        let cases = [
            (
                "all web pods count without match label keys",
                json!({}),
                vec!["c1", "c2"],
            ),
            // Only version v2 counts: z2 has one, z1 and z3 none.
            (
                "only v2 pods count with match label keys",
                json!({"matchLabelKeys": ["version"]}),
                vec!["a1", "a2", "c1", "c2"],
            ),
            (
                "a key the pod lacks adds nothing",
                json!({"matchLabelKeys": ["missing"]}),
                vec!["c1", "c2"],
            ),
        ];
        for (name, extra, expected) in cases {
            let mut harness = harness(vec![
                node("a1").zone("z1"),
                node("a2").zone("z1"),
                node("b1").zone("z2"),
                node("b2").zone("z2"),
                node("c1").zone("z3"),
                node("c2").zone("z3"),
            ]);
            harness.place(&web("web-1").label("version", "v1"), "a1");
            harness.place(&web("web-2").label("version", "v1"), "a2");
            harness.place(&web("web-3").label("version", "v2"), "b1");
            let incoming = spread(1, ZONE, DO_NOT_SCHEDULE, extra).label("version", "v2");
            assert_eq!(harness.feasible(&incoming), expected, "{name}");
        }
    }

    #[test]
    fn every_do_not_schedule_constraint_must_hold() {
        let mut harness = three_zones();
        harness.place(&web("web-4"), "c1");
        // Zones 2, 1, 1: z2 and z3 fit; hosts 1, 1, 1, 0, 1, 0: only the
        // empty hosts b2 and c2 fit.
        let incoming = zone_spread(1).spread(1, HOSTNAME_LABEL, DO_NOT_SCHEDULE, &[("app", "web")]);
        assert_eq!(harness.feasible(&incoming), ["b2", "c2"]);
    }

    fn scores(harness: &mut Harness<PodTopologySpread>, pod: &PodBuilder) -> Vec<i64> {
        harness.scores(pod).into_iter().map(|(_, s)| s).collect()
    }

    #[test]
    fn schedule_anyway_scores_prefer_the_emptier_domains() {
        let cases: Vec<(&str, PodBuilder, Vec<i64>)> = vec![
            // Raw: 2 × ln 5 = 3, 1 × ln 5 = 2, 0: normalized 0, 33, 100.
            (
                "zones",
                spread(1, ZONE, SCHEDULE_ANYWAY, json!({})),
                vec![0, 0, 33, 33, 100, 100],
            ),
            // Hosts: 1, 1, 1, 0, 0, 0 × ln 8 = 2 or 0.
            (
                "hosts",
                spread(1, HOSTNAME_LABEL, SCHEDULE_ANYWAY, json!({})),
                vec![0, 0, 0, 100, 100, 100],
            ),
            // Raw + 2: 5, 4, 2: normalized 40, 60, 100.
            (
                "a larger max skew waters the preference down",
                spread(3, ZONE, SCHEDULE_ANYWAY, json!({})),
                vec![40, 40, 60, 60, 100, 100],
            ),
            (
                "do-not-schedule constraints do not score",
                zone_spread(1),
                vec![0; 6],
            ),
            (
                "pods without constraints are not scored",
                web("plain"),
                vec![0; 6],
            ),
        ];
        for (name, incoming, expected) in cases {
            assert_eq!(scores(&mut three_zones(), &incoming), expected, "{name}");
        }
    }

    #[test]
    fn candidates_without_the_topology_label_score_zero() {
        let mut harness = three_zones();
        harness.add_node(node("bare"));
        let scores = scores(&mut harness, &spread(1, ZONE, SCHEDULE_ANYWAY, json!({})));
        assert_eq!(scores, [0, 0, 33, 33, 100, 100, 0]);
    }

    #[test]
    fn equal_domains_all_score_the_maximum() {
        let mut harness = harness(vec![node("a").zone("z1"), node("b").zone("z2")]);
        assert_eq!(
            scores(&mut harness, &spread(1, ZONE, SCHEDULE_ANYWAY, json!({}))),
            [100, 100]
        );
    }

    #[test]
    fn the_registration_wants_pods_but_not_usage() {
        let harness = harness(vec![]);
        assert_eq!(
            harness.registration(),
            &Registration::filter_and_score(NAME)
                .wanting_pods()
                .without_usage()
        );
    }

    #[test]
    fn the_score_is_skipped_without_a_schedule_anyway_constraint() {
        let mut harness = harness(vec![]);
        assert!(harness.skips_score(&pod("plain")));
        assert!(harness.skips_score(&spread(1, ZONE, DO_NOT_SCHEDULE, json!({}))));
        assert!(!harness.skips_score(&spread(1, ZONE, SCHEDULE_ANYWAY, json!({}))));
    }
}
