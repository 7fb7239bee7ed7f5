//! Which nodes run a daemon pod (`NodeShouldRunDaemonPod`), and how a pod
//! is pinned to its node through the scheduler
//! (`ReplaceDaemonSetPodNodeNameNodeAffinity`, `GetTargetNodeName`).
//!
//! The matching rules (node selector terms with `matchFields`, taints and
//! tolerations) are the SDK's `wharf_sdk::scheduling::spec`, the same code
//! the scheduling policies run, so that the controller never wants a pod
//! on a node the scheduler would refuse it.

use wharf_sdk::k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodSpec, Toleration,
};
use wharf_sdk::prelude::*;
use wharf_sdk::scheduling;

/// The field a node selector term's `matchFields` names a node by.
pub const NODE_NAME_FIELD: &str = "metadata.name";

/// Taint keys the DaemonSet tolerates on every pod it makes
/// (`AddOrUpdateDaemonPodTolerations`), with their effect.
pub const DAEMON_TOLERATIONS: &[(&str, &str)] = &[
    // Node problems must not evict daemon pods (no tolerationSeconds).
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    // The taints of TaintNodesByCondition.
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
];

/// Tolerated by pods on the host network only: they do not need the pod network.
pub const NETWORK_UNAVAILABLE: (&str, &str) =
    ("node.kubernetes.io/network-unavailable", "NoSchedule");

/// What a node means for the DaemonSet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fit {
    /// A daemon pod should be created there when it has none.
    pub should_run: bool,
    /// A daemon pod already there may stay (it tolerates the node's
    /// NoExecute taints, though perhaps not its NoSchedule ones).
    pub should_continue_running: bool,
}

/// The DaemonSet's pod as node matching sees it: the template's spec with
/// the daemon tolerations, parsed once for every node.
pub struct Placement {
    template_node_name: Option<String>,
    spec: scheduling::PodSpec,
}

impl Placement {
    /// From the pod spec the DaemonSet's pods get (see [`add_daemon_tolerations`]).
    pub fn new(pod_spec: &PodSpec) -> Result<Self, Error> {
        let spec: scheduling::PodSpec = serde_json::from_value(serde_json::to_value(pod_spec)?)?;
        Ok(Placement {
            template_node_name: pod_spec.node_name.clone().filter(|name| !name.is_empty()),
            spec,
        })
    }

    /// `NodeShouldRunDaemonPod`: the template's nodeName (if any) is the
    /// node, its nodeSelector and required node affinity match it, and every
    /// NoSchedule and NoExecute taint is tolerated. A pod that tolerates the
    /// NoExecute taints but not a NoSchedule one may stay where it runs.
    pub fn fit(&self, node: &scheduling::Node) -> Fit {
        if self
            .template_node_name
            .as_deref()
            .is_some_and(|name| name != node.name)
        {
            return Fit::default();
        }
        if !self.spec.matches_node_selector_and_affinity(node) {
            return Fit::default();
        }
        let untolerated = |effects: &[&str]| {
            node.taints.iter().any(|taint| {
                effects.contains(&taint.effect.as_str()) && !self.spec.tolerates(taint)
            })
        };
        if untolerated(&["NoSchedule", "NoExecute"]) {
            return Fit {
                should_run: false,
                should_continue_running: !untolerated(&["NoExecute"]),
            };
        }
        Fit {
            should_run: true,
            should_continue_running: true,
        }
    }
}

/// The node as the SDK's matching rules read it: name, labels, taints.
pub fn scheduling_node(node: &Node) -> scheduling::Node {
    scheduling::Node {
        name: node.metadata.name.clone().unwrap_or_default(),
        labels: node
            .metadata
            .labels
            .iter()
            .flatten()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
        taints: node
            .spec
            .as_ref()
            .and_then(|spec| spec.taints.as_ref())
            .into_iter()
            .flatten()
            .map(|taint| scheduling::Taint {
                key: taint.key.clone(),
                value: taint.value.clone().unwrap_or_default(),
                effect: taint.effect.clone(),
            })
            .collect(),
        ..scheduling::Node::default()
    }
}

/// `AddOrUpdateDaemonPodTolerations`: adds [`DAEMON_TOLERATIONS`] (and
/// [`NETWORK_UNAVAILABLE`] with `hostNetwork`) as `Exists` tolerations; one
/// the template already has with the same key, operator, value and effect
/// is replaced (losing its `tolerationSeconds`).
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let mut wanted: Vec<(&str, &str)> = DAEMON_TOLERATIONS.to_vec();
    if spec.host_network == Some(true) {
        wanted.push(NETWORK_UNAVAILABLE);
    }
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for (key, effect) in wanted {
        let toleration = Toleration {
            key: Some(key.to_owned()),
            operator: Some("Exists".to_owned()),
            effect: Some(effect.to_owned()),
            ..Toleration::default()
        };
        let same = |existing: &Toleration| {
            existing.key == toleration.key
                && existing.operator == toleration.operator
                && existing.value.as_deref().unwrap_or_default() == ""
                && existing.effect == toleration.effect
        };
        match tolerations.iter_mut().find(|existing| same(existing)) {
            Some(existing) => *existing = toleration,
            None => tolerations.push(toleration),
        }
    }
}

/// `ReplaceDaemonSetPodNodeNameNodeAffinity`: the required node affinity
/// becomes the one term `metadata.name In [node]` (every other term goes:
/// the node was checked against them already); preferred terms and pod
/// (anti-)affinity stay.
pub fn pin_to_node(affinity: Option<Affinity>, node_name: &str) -> Affinity {
    let required = NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![NodeSelectorRequirement {
                key: NODE_NAME_FIELD.to_owned(),
                operator: "In".to_owned(),
                values: Some(vec![node_name.to_owned()]),
            }]),
        }],
    };
    let mut affinity = affinity.unwrap_or_default();
    affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default)
        .required_during_scheduling_ignored_during_execution = Some(required);
    affinity
}

/// `GetTargetNodeName`: the pod's nodeName, or for a pod not yet scheduled
/// the one value of its `metadata.name In [...]` field term.
pub fn target_node_name(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    if let Some(name) = spec.node_name.as_deref().filter(|name| !name.is_empty()) {
        return Some(name);
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    let requirement = terms
        .iter()
        .flat_map(|term| term.match_fields.iter().flatten())
        .find(|requirement| requirement.key == NODE_NAME_FIELD && requirement.operator == "In")?;
    match requirement.values.as_deref() {
        Some([name]) => Some(name.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_sdk::k8s_openapi::api::core::v1::{NodeSpec, PreferredSchedulingTerm, Taint};
    use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn node(name: &str, labels: &[(&str, &str)], taints: &[(&str, &str)]) -> scheduling::Node {
        scheduling_node(&Node {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(key, value)| (key.to_string(), value.to_string()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec {
                taints: Some(
                    taints
                        .iter()
                        .map(|(key, effect)| Taint {
                            key: key.to_string(),
                            effect: effect.to_string(),
                            ..Taint::default()
                        })
                        .collect(),
                ),
                ..NodeSpec::default()
            }),
            status: None,
        })
    }

    fn placement(spec: serde_json::Value) -> Placement {
        let mut spec: PodSpec = serde_json::from_value(spec).unwrap();
        add_daemon_tolerations(&mut spec);
        Placement::new(&spec).unwrap()
    }

    #[test]
    fn nodes_fit_as_node_should_run_daemon_pod_says() {
        let fit = |should_run, should_continue_running| Fit {
            should_run,
            should_continue_running,
        };
        let plain = serde_json::json!({"containers": []});
        let cases = [
            (
                "any node",
                plain.clone(),
                node("a", &[], &[]),
                fit(true, true),
            ),
            (
                "nodeSelector matches",
                serde_json::json!({"containers": [], "nodeSelector": {"disk": "ssd"}}),
                node("a", &[("disk", "ssd")], &[]),
                fit(true, true),
            ),
            (
                "nodeSelector does not match",
                serde_json::json!({"containers": [], "nodeSelector": {"disk": "ssd"}}),
                node("a", &[("disk", "hdd")], &[]),
                fit(false, false),
            ),
            (
                "template nodeName is another node",
                serde_json::json!({"containers": [], "nodeName": "b"}),
                node("a", &[], &[]),
                fit(false, false),
            ),
            (
                "required affinity by field",
                serde_json::json!({"containers": [], "affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]}
                ]}}}}),
                node("a", &[], &[]),
                fit(false, false),
            ),
            (
                "NoSchedule taint not tolerated: may stay",
                plain.clone(),
                node("a", &[], &[("dedicated", "NoSchedule")]),
                fit(false, true),
            ),
            (
                "NoExecute taint not tolerated: must go",
                plain.clone(),
                node("a", &[], &[("dedicated", "NoExecute")]),
                fit(false, false),
            ),
            (
                "PreferNoSchedule is no obstacle",
                plain.clone(),
                node("a", &[], &[("dedicated", "PreferNoSchedule")]),
                fit(true, true),
            ),
            (
                "tolerated taint",
                serde_json::json!({"containers": [], "tolerations": [
                    {"key": "dedicated", "operator": "Exists"}]}),
                node("a", &[], &[("dedicated", "NoExecute")]),
                fit(true, true),
            ),
            (
                "daemon tolerations: not ready, unschedulable, pressure",
                plain.clone(),
                node(
                    "a",
                    &[],
                    &[
                        ("node.kubernetes.io/not-ready", "NoExecute"),
                        ("node.kubernetes.io/unreachable", "NoExecute"),
                        ("node.kubernetes.io/unschedulable", "NoSchedule"),
                        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
                        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
                        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
                    ],
                ),
                fit(true, true),
            ),
            (
                "network unavailable, pod network",
                plain.clone(),
                node(
                    "a",
                    &[],
                    &[("node.kubernetes.io/network-unavailable", "NoSchedule")],
                ),
                fit(false, true),
            ),
            (
                "network unavailable, host network",
                serde_json::json!({"containers": [], "hostNetwork": true}),
                node(
                    "a",
                    &[],
                    &[("node.kubernetes.io/network-unavailable", "NoSchedule")],
                ),
                fit(true, true),
            ),
        ];
        for (name, spec, node, expected) in cases {
            assert_eq!(placement(spec).fit(&node), expected, "{name}");
        }
    }

    #[test]
    fn daemon_tolerations_replace_the_same_toleration_without_duplicating() {
        let mut spec: PodSpec = serde_json::from_value(serde_json::json!({
            "containers": [],
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "gpu", "operator": "Exists"}
            ]
        }))
        .unwrap();
        add_daemon_tolerations(&mut spec);
        add_daemon_tolerations(&mut spec);
        let tolerations = spec.tolerations.unwrap();
        assert_eq!(tolerations.len(), DAEMON_TOLERATIONS.len() + 1);
        assert_eq!(tolerations[0].toleration_seconds, None);
        assert_eq!(tolerations[1].key.as_deref(), Some("gpu"));
    }

    #[test]
    fn pinning_replaces_required_terms_and_keeps_the_rest() {
        let preferred = vec![PreferredSchedulingTerm {
            weight: 1,
            preference: NodeSelectorTerm::default(),
        }];
        let affinity = Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: vec![NodeSelectorTerm::default(); 2],
                }),
                preferred_during_scheduling_ignored_during_execution: Some(preferred.clone()),
            }),
            ..Affinity::default()
        };
        for before in [None, Some(Affinity::default()), Some(affinity)] {
            let had_preferred = before
                .as_ref()
                .and_then(|a| a.node_affinity.as_ref())
                .is_some();
            let pinned = pin_to_node(before, "n1");
            let node_affinity = pinned.node_affinity.unwrap();
            let terms = node_affinity
                .required_during_scheduling_ignored_during_execution
                .unwrap()
                .node_selector_terms;
            assert_eq!(terms.len(), 1);
            let pod = Pod {
                spec: Some(PodSpec {
                    affinity: Some(Affinity {
                        node_affinity: Some(NodeAffinity {
                            required_during_scheduling_ignored_during_execution: Some(
                                NodeSelector {
                                    node_selector_terms: terms,
                                },
                            ),
                            ..NodeAffinity::default()
                        }),
                        ..Affinity::default()
                    }),
                    ..PodSpec::default()
                }),
                ..Pod::default()
            };
            assert_eq!(target_node_name(&pod), Some("n1"));
            assert_eq!(
                node_affinity
                    .preferred_during_scheduling_ignored_during_execution
                    .is_some(),
                had_preferred
            );
        }
        let bound = Pod {
            spec: Some(PodSpec {
                node_name: Some("n2".to_owned()),
                ..PodSpec::default()
            }),
            ..Pod::default()
        };
        assert_eq!(target_node_name(&bound), Some("n2"));
        assert_eq!(target_node_name(&Pod::default()), None);
    }
}
