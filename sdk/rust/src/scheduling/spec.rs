//! The parts of a Pod that scheduling policies read, parsed once per pod
//! (the rest of the object is skipped), and the matching rules Kubernetes'
//! `component-helpers` define for them: node selector terms, tolerations,
//! label selectors.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Node, Taint};

/// `spec` fields scheduling looks at.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    pub node_name: Option<String>,
    pub node_selector: Option<BTreeMap<String, String>>,
    pub affinity: Option<Affinity>,
    pub tolerations: Option<Vec<Toleration>>,
    pub topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Affinity {
    pub node_affinity: Option<NodeAffinity>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeAffinity {
    pub required_during_scheduling_ignored_during_execution: Option<NodeSelector>,
    pub preferred_during_scheduling_ignored_during_execution: Option<Vec<PreferredSchedulingTerm>>,
}

/// Terms ORed together.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelector {
    #[serde(default)]
    pub node_selector_terms: Vec<NodeSelectorTerm>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreferredSchedulingTerm {
    pub weight: i64,
    pub preference: NodeSelectorTerm,
}

/// Requirements ANDed together.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorTerm {
    pub match_expressions: Option<Vec<Requirement>>,
    pub match_fields: Option<Vec<Requirement>>,
}

/// A `key operator values` requirement of a node selector or label selector.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Requirement {
    pub key: String,
    pub operator: String,
    pub values: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Toleration {
    pub key: Option<String>,
    pub operator: Option<String>,
    pub value: Option<String>,
    pub effect: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopologySpreadConstraint {
    pub max_skew: i64,
    pub topology_key: String,
    pub when_unsatisfiable: String,
    pub label_selector: Option<LabelSelector>,
    pub min_domains: Option<i64>,
    /// Honor (default) or Ignore.
    pub node_affinity_policy: Option<String>,
    /// Ignore (default) or Honor.
    pub node_taints_policy: Option<String>,
    pub match_label_keys: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    pub match_labels: Option<BTreeMap<String, String>>,
    pub match_expressions: Option<Vec<Requirement>>,
}

impl PodSpec {
    /// Whether the node satisfies the pod's `nodeSelector` and required node
    /// affinity (kube-scheduler's `GetRequiredNodeAffinity(pod).Match`).
    pub fn matches_node_selector_and_affinity(&self, node: &Node) -> bool {
        if let Some(selector) = &self.node_selector
            && !selector
                .iter()
                .all(|(key, value)| node.label(key) == Some(value.as_str()))
        {
            return false;
        }
        match self.required_node_affinity() {
            Some(required) => required.matches(node),
            None => true,
        }
    }

    /// `affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution`.
    pub fn required_node_affinity(&self) -> Option<&NodeSelector> {
        self.affinity
            .as_ref()?
            .node_affinity
            .as_ref()?
            .required_during_scheduling_ignored_during_execution
            .as_ref()
    }

    /// `affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution`.
    pub fn preferred_node_affinity(&self) -> &[PreferredSchedulingTerm] {
        self.affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|n| {
                n.preferred_during_scheduling_ignored_during_execution
                    .as_deref()
            })
            .unwrap_or_default()
    }

    pub fn tolerations(&self) -> &[Toleration] {
        self.tolerations.as_deref().unwrap_or_default()
    }

    pub fn topology_spread_constraints(&self) -> &[TopologySpreadConstraint] {
        self.topology_spread_constraints
            .as_deref()
            .unwrap_or_default()
    }

    /// Whether some toleration tolerates the taint.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        self.tolerations().iter().any(|t| t.tolerates(taint))
    }
}

impl NodeSelector {
    /// Whether any term matches (no terms match nothing).
    pub fn matches(&self, node: &Node) -> bool {
        self.node_selector_terms
            .iter()
            .any(|term| term.matches(node))
    }
}

impl NodeSelectorTerm {
    /// Whether every expression and field requirement holds; an empty term
    /// matches nothing, as in Kubernetes.
    pub fn matches(&self, node: &Node) -> bool {
        let expressions = self.match_expressions.as_deref().unwrap_or_default();
        let fields = self.match_fields.as_deref().unwrap_or_default();
        if expressions.is_empty() && fields.is_empty() {
            return false;
        }
        expressions
            .iter()
            .all(|r| r.matches_node_value(node.label(&r.key)))
            && fields.iter().all(|r| {
                r.key == "metadata.name"
                    && matches!(r.operator.as_str(), "In" | "NotIn")
                    && r.matches_node_value(Some(&node.name))
            })
    }
}

impl Requirement {
    fn values(&self) -> &[String] {
        self.values.as_deref().unwrap_or_default()
    }

    /// A node selector requirement (In, NotIn, Exists, DoesNotExist, Gt, Lt)
    /// against the label's value.
    pub fn matches_node_value(&self, value: Option<&str>) -> bool {
        match self.operator.as_str() {
            "In" => value.is_some_and(|v| self.values().iter().any(|x| x == v)),
            "NotIn" => !value.is_some_and(|v| self.values().iter().any(|x| x == v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            "Gt" | "Lt" => {
                let (Some(value), [bound]) = (value, self.values()) else {
                    return false;
                };
                match (value.parse::<i64>(), bound.parse::<i64>()) {
                    (Ok(value), Ok(bound)) if self.operator == "Gt" => value > bound,
                    (Ok(value), Ok(bound)) => value < bound,
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// A label selector requirement (In, NotIn, Exists, DoesNotExist).
    pub fn matches_label_value(&self, value: Option<&str>) -> bool {
        match self.operator.as_str() {
            "In" | "NotIn" | "Exists" | "DoesNotExist" => self.matches_node_value(value),
            _ => false,
        }
    }
}

impl Toleration {
    /// `Toleration.ToleratesTaint`: the effect matches (or is empty), the key
    /// matches (or is empty with Exists), and the value matches for Equal.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        let effect = self.effect.as_deref().unwrap_or_default();
        if !effect.is_empty() && effect != taint.effect {
            return false;
        }
        let key = self.key.as_deref().unwrap_or_default();
        if !key.is_empty() && key != taint.key {
            return false;
        }
        match self.operator.as_deref().unwrap_or("Equal") {
            "Exists" => true,
            "Equal" | "" => self.value.as_deref().unwrap_or_default() == taint.value,
            _ => false,
        }
    }
}

impl LabelSelector {
    /// Whether labels (looked up by `get`) match; an empty selector
    /// matches everything, as `metav1.LabelSelectorAsSelector` does.
    pub fn matches<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.match_labels
            .iter()
            .flatten()
            .all(|(key, value)| get(key) == Some(value.as_str()))
            && self
                .match_expressions
                .iter()
                .flatten()
                .all(|r| r.matches_label_value(get(&r.key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(labels: &[(&str, &str)]) -> Node {
        Node {
            name: "node-1".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Node::default()
        }
    }

    fn requirement(key: &str, operator: &str, values: &[&str]) -> Requirement {
        Requirement {
            key: key.into(),
            operator: operator.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn node_selector_terms_follow_kubernetes_operators() {
        let n = node(&[("zone", "a"), ("cores", "8")]);
        let cases = [
            (requirement("zone", "In", &["a", "b"]), true),
            (requirement("zone", "In", &["b"]), false),
            (requirement("zone", "NotIn", &["b"]), true),
            (requirement("missing", "NotIn", &["b"]), true),
            (requirement("zone", "Exists", &[]), true),
            (requirement("zone", "DoesNotExist", &[]), false),
            (requirement("cores", "Gt", &["4"]), true),
            (requirement("cores", "Lt", &["4"]), false),
            (requirement("cores", "Gt", &["x"]), false),
            (requirement("zone", "Bogus", &[]), false),
        ];
        for (requirement, expected) in cases {
            let term = NodeSelectorTerm {
                match_expressions: Some(vec![requirement.clone()]),
                match_fields: None,
            };
            assert_eq!(term.matches(&n), expected, "{requirement:?}");
        }
        assert!(!NodeSelectorTerm::default().matches(&n), "empty term");
        let by_name = NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![requirement("metadata.name", "In", &["node-1"])]),
        };
        assert!(by_name.matches(&n));
    }

    #[test]
    fn tolerations_match_as_kubernetes_does() {
        let taint = Taint {
            key: "gpu".into(),
            value: "true".into(),
            effect: "NoSchedule".into(),
        };
        let t = |key: Option<&str>, op: Option<&str>, value: Option<&str>, effect: Option<&str>| {
            Toleration {
                key: key.map(Into::into),
                operator: op.map(Into::into),
                value: value.map(Into::into),
                effect: effect.map(Into::into),
            }
        };
        let cases = [
            (t(Some("gpu"), None, Some("true"), None), true),
            (t(Some("gpu"), Some("Equal"), Some("false"), None), false),
            (
                t(Some("gpu"), Some("Exists"), None, Some("NoSchedule")),
                true,
            ),
            (
                t(Some("gpu"), Some("Exists"), None, Some("NoExecute")),
                false,
            ),
            (t(None, Some("Exists"), None, None), true),
            (t(Some("other"), Some("Exists"), None, None), false),
        ];
        for (toleration, expected) in cases {
            assert_eq!(toleration.tolerates(&taint), expected, "{toleration:?}");
        }
    }

    #[test]
    fn label_selectors_match_labels_and_expressions() {
        let labels = [("app", "web"), ("tier", "front")];
        let get = |key: &str| labels.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let selector: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]
        }))
        .unwrap();
        assert!(selector.matches(get));
        let other: LabelSelector =
            serde_json::from_value(serde_json::json!({"matchLabels": {"app": "db"}})).unwrap();
        assert!(!other.matches(get));
        assert!(LabelSelector::default().matches(get));
    }
}
