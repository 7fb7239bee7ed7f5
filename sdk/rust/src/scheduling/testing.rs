//! A test harness for scheduling policies: builders for nodes and pods
//! (`node("a").cpu("4").zone("z1")`, `pod("p").cpu("100m")`) and a
//! [`Harness`] that feeds them to a policy as the host would — node changes,
//! placed pods, then one `filter` or `score` call with every node.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{
    Change, HostPort, Instance, Node, PlacedPod, Pod, Policy, Registration, Resources, Taint,
    Usage, parse_quantity,
};

/// A node under construction; allocatable defaults to 4 CPUs, 16 GiB and
/// 110 pods.
#[derive(Clone, Debug)]
pub struct NodeBuilder {
    node: Node,
}

/// A node named `name`.
pub fn node(name: &str) -> NodeBuilder {
    NodeBuilder {
        node: Node {
            name: name.into(),
            labels: vec![("kubernetes.io/hostname".into(), name.into())],
            allocatable: Resources {
                milli_cpu: 4000,
                memory_bytes: 16 << 30,
                pods: 110,
            },
            ..Node::default()
        },
    }
}

impl NodeBuilder {
    /// Allocatable CPU (a quantity).
    pub fn cpu(mut self, quantity: &str) -> Self {
        self.node.allocatable.milli_cpu = parse_quantity(quantity, 1000).expect("a quantity");
        self
    }

    /// Allocatable memory (a quantity).
    pub fn memory(mut self, quantity: &str) -> Self {
        self.node.allocatable.memory_bytes = parse_quantity(quantity, 1).expect("a quantity");
        self
    }

    /// Allocatable pods.
    pub fn pods(mut self, count: u32) -> Self {
        self.node.allocatable.pods = count;
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.node.labels.retain(|(k, _)| k != key);
        self.node.labels.push((key.into(), value.into()));
        self
    }

    /// The `topology.kubernetes.io/zone` label.
    pub fn zone(self, zone: &str) -> Self {
        self.label("topology.kubernetes.io/zone", zone)
    }

    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> Self {
        self.node.taints.push(Taint {
            key: key.into(),
            value: value.into(),
            effect: effect.into(),
        });
        self
    }

    /// `spec.unschedulable: true` (cordoned).
    pub fn unschedulable(mut self) -> Self {
        self.node.unschedulable = true;
        self
    }

    /// The node as built (index 0).
    pub fn build(self) -> Node {
        self.node
    }
}

/// A pod under construction, in namespace `default`.
#[derive(Clone, Debug)]
pub struct PodBuilder {
    object: Value,
    requests: Resources,
    non_zero: Resources,
    host_ports: Vec<HostPort>,
}

/// A pod named `name` with one container and no requests.
pub fn pod(name: &str) -> PodBuilder {
    PodBuilder {
        object: json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
            "spec": {"containers": [{"name": "app", "image": "app"}]},
        }),
        requests: Resources {
            pods: 1,
            ..Resources::default()
        },
        non_zero: Resources {
            milli_cpu: 100,
            memory_bytes: 200 << 20,
            pods: 1,
        },
        host_ports: Vec::new(),
    }
}

impl PodBuilder {
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.object["metadata"]["namespace"] = json!(namespace);
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.object["metadata"]["labels"][key] = json!(value);
        self
    }

    /// The container's CPU request (a quantity).
    pub fn cpu(mut self, quantity: &str) -> Self {
        let milli = parse_quantity(quantity, 1000).expect("a quantity");
        self.requests.milli_cpu = milli;
        self.non_zero.milli_cpu = milli;
        self.object["spec"]["containers"][0]["resources"]["requests"]["cpu"] = json!(quantity);
        self
    }

    /// The container's memory request (a quantity).
    pub fn memory(mut self, quantity: &str) -> Self {
        let bytes = parse_quantity(quantity, 1).expect("a quantity");
        self.requests.memory_bytes = bytes;
        self.non_zero.memory_bytes = bytes;
        self.object["spec"]["containers"][0]["resources"]["requests"]["memory"] = json!(quantity);
        self
    }

    /// A TCP host port on any address.
    pub fn host_port(mut self, port: u16) -> Self {
        self.host_ports.push(HostPort {
            ip: "0.0.0.0".into(),
            protocol: "TCP".into(),
            port,
        });
        let ports = &mut self.object["spec"]["containers"][0]["ports"];
        if ports.is_null() {
            *ports = json!([]);
        }
        ports
            .as_array_mut()
            .expect("ports")
            .push(json!({"containerPort": port, "hostPort": port, "protocol": "TCP"}));
        self
    }

    /// Sets a field of `spec` to JSON (`"nodeName"`, `"affinity"`…).
    pub fn spec(mut self, field: &str, value: Value) -> Self {
        self.object["spec"][field] = value;
        self
    }

    pub fn node_selector(mut self, key: &str, value: &str) -> Self {
        self.object["spec"]["nodeSelector"][key] = json!(value);
        self
    }

    /// A toleration (`operator` Equal or Exists; empty strings are absent).
    pub fn toleration(mut self, key: &str, operator: &str, value: &str, effect: &str) -> Self {
        let mut toleration = serde_json::Map::new();
        for (field, text) in [
            ("key", key),
            ("operator", operator),
            ("value", value),
            ("effect", effect),
        ] {
            if !text.is_empty() {
                toleration.insert(field.into(), json!(text));
            }
        }
        push(
            &mut self.object["spec"]["tolerations"],
            Value::Object(toleration),
        );
        self
    }

    /// A topology spread constraint over pods with `labels`.
    pub fn spread(
        mut self,
        max_skew: i64,
        topology_key: &str,
        when_unsatisfiable: &str,
        labels: &[(&str, &str)],
    ) -> Self {
        let match_labels: BTreeMap<_, _> = labels.iter().copied().collect();
        push(
            &mut self.object["spec"]["topologySpreadConstraints"],
            json!({
                "maxSkew": max_skew,
                "topologyKey": topology_key,
                "whenUnsatisfiable": when_unsatisfiable,
                "labelSelector": {"matchLabels": match_labels},
            }),
        );
        self
    }

    /// The pod's JSON.
    pub fn object(&self) -> &Value {
        &self.object
    }

    /// The pod as the host passes it.
    pub fn build(&self) -> Pod {
        let metadata = &self.object["metadata"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        Pod {
            uid: text(&metadata["uid"]),
            namespace: text(&metadata["namespace"]),
            name: text(&metadata["name"]),
            labels: labels(&metadata["labels"]),
            requests: self.requests,
            non_zero_requests: self.non_zero,
            host_ports: self.host_ports.clone(),
            spec: scheduling_spec(&self.object["spec"]),
            json: self.object.to_string(),
        }
    }
}

/// The part of a pod's spec the host sends policies as `Pod::spec`.
pub fn scheduling_spec(spec: &Value) -> String {
    let mut subset = serde_json::Map::new();
    for field in super::SCHEDULING_SPEC_FIELDS {
        if let Some(value) = spec.get(*field).filter(|v| !v.is_null()) {
            subset.insert((*field).to_string(), value.clone());
        }
    }
    Value::Object(subset).to_string()
}

fn push(list: &mut Value, item: Value) {
    if list.is_null() {
        *list = json!([]);
    }
    list.as_array_mut().expect("a list").push(item);
}

fn labels(value: &Value) -> Vec<(String, String)> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// A policy instance fed as the host feeds it.
pub struct Harness<P> {
    instance: Instance<P>,
    nodes: Vec<Node>,
}

impl<P: Policy> Harness<P> {
    /// The policy built from `config`; panics if it refuses the config.
    pub fn new(config: Value) -> Self {
        Self::try_new(config).expect("the policy accepts its config")
    }

    /// The policy built from `config`, or its error.
    pub fn try_new(config: Value) -> Result<Self, crate::Error> {
        Ok(Self {
            instance: Instance::new(&config.to_string())?,
            nodes: Vec::new(),
        })
    }

    pub fn registration(&self) -> &Registration {
        self.instance.registration()
    }

    /// Adds a node; returns its index.
    pub fn add_node(&mut self, node: NodeBuilder) -> u32 {
        let mut node = node.build();
        node.index = self.nodes.len() as u32;
        self.instance.update([Change::UpsertNode(node.clone())]);
        self.nodes.push(node);
        self.nodes.len() as u32 - 1
    }

    /// Places a pod on a node, as the host does after binding: the node's
    /// usage grows, and policies that want pods hear of it.
    pub fn place(&mut self, pod: &PodBuilder, node_name: &str) {
        let index = self.index_of(node_name);
        let built = pod.build();
        let node = &mut self.nodes[index as usize];
        node.usage.requested = node.usage.requested.plus(built.requests);
        node.usage.non_zero_requested = node.usage.non_zero_requested.plus(built.non_zero_requests);
        node.usage
            .host_ports
            .extend(built.host_ports.iter().cloned());
        let usage: Usage = node.usage.clone();
        let mut changes = Vec::new();
        if self.instance.registration().wants_usage {
            changes.push(Change::NodeUsage(index, usage));
        }
        if self.instance.registration().wants_pods {
            changes.push(Change::PodAdded(PlacedPod {
                node: index,
                namespace: built.namespace,
                name: built.name,
                labels: built.labels,
            }));
        }
        self.instance.update(changes);
    }

    fn index_of(&self, node_name: &str) -> u32 {
        self.nodes
            .iter()
            .position(|n| n.name == node_name)
            .unwrap_or_else(|| panic!("no node {node_name}")) as u32
    }

    fn all(&self) -> Vec<u32> {
        (0..self.nodes.len() as u32).collect()
    }

    /// Every node the policy turns down, with its reasons.
    pub fn rejected(&mut self, pod: &PodBuilder) -> BTreeMap<String, Vec<String>> {
        let candidates = self.all();
        self.instance
            .filter(pod.build(), &candidates)
            .expect("filter succeeds")
            .rejections
            .into_iter()
            .map(|r| (self.nodes[r.position as usize].name.clone(), r.reasons))
            .collect()
    }

    /// The names of the nodes that pass the filter, in node order.
    pub fn feasible(&mut self, pod: &PodBuilder) -> Vec<String> {
        let rejected = self.rejected(pod);
        self.nodes
            .iter()
            .map(|n| n.name.clone())
            .filter(|name| !rejected.contains_key(name))
            .collect()
    }

    /// Whether the filter asked the host to skip the score for this pod.
    pub fn skips_score(&mut self, pod: &PodBuilder) -> bool {
        let candidates = self.all();
        self.instance
            .filter(pod.build(), &candidates)
            .expect("filter succeeds")
            .skip_score
    }

    /// The filter's error, if it fails.
    pub fn filter_error(&mut self, pod: &PodBuilder) -> Option<String> {
        let candidates = self.all();
        self.instance
            .filter(pod.build(), &candidates)
            .err()
            .map(|e| e.to_string())
    }

    /// Every node's score, in node order.
    pub fn scores(&mut self, pod: &PodBuilder) -> Vec<(String, i64)> {
        let candidates = self.all();
        let mut scores = vec![0; candidates.len()];
        self.instance
            .score(pod.build(), &candidates, &mut scores)
            .expect("score succeeds");
        self.nodes
            .iter()
            .map(|n| n.name.clone())
            .zip(scores)
            .collect()
    }
}
