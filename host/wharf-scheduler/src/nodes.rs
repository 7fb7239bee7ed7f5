//! The node snapshot: every node in a slot (its index for policies), what
//! the pods assigned to it take, and the changes policies have not seen yet.
//! It is updated incrementally from the node and pod watches and from the
//! scheduler's own assumptions, never rebuilt per pod.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use wharf_plugin_abi::policy::{
    Change, HostPort, Node, PlacedPod, Resources, Taint, Usage, parse_quantity,
};

use crate::pod;

/// A pod counted on a node.
#[derive(Clone, Debug)]
pub struct AssignedPod {
    pub node: String,
    pub namespace: String,
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub requests: Resources,
    pub non_zero: Resources,
    pub host_ports: Vec<HostPort>,
}

impl AssignedPod {
    pub fn from_object(object: &Value, node: &str) -> Self {
        let (requests, non_zero, host_ports) = pod::usage_of(object);
        Self {
            node: node.to_string(),
            namespace: pod::text(object, "/metadata/namespace").to_string(),
            name: pod::text(object, "/metadata/name").to_string(),
            labels: pod::labels(object),
            requests,
            non_zero,
            host_ports,
        }
    }

    fn placed(&self, node: u32) -> PlacedPod {
        PlacedPod {
            node,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            labels: self.labels.clone(),
        }
    }
}

/// The snapshot.
#[derive(Default)]
pub struct NodeTable {
    slots: Vec<Option<Node>>,
    free: Vec<u32>,
    by_name: HashMap<String, u32>,
    /// Live slots, in the order the scheduler walks them.
    live: Vec<u32>,
    /// Where each slot is in `live`.
    live_position: Vec<usize>,
    /// Every assigned (or assumed) pod by key, also on unknown nodes.
    pods: HashMap<String, AssignedPod>,
    pods_by_node: HashMap<String, HashSet<String>>,
    /// Changes not yet pushed to the policies, in order.
    changes: Vec<Change>,
}

/// What the node's spec and status say, in policy terms.
fn node_from_object(object: &Value, index: u32) -> Node {
    let status = object.get("status").unwrap_or(&Value::Null);
    let allocatable = status
        .get("allocatable")
        .filter(|a| a.as_object().is_some_and(|m| !m.is_empty()))
        .or_else(|| status.get("capacity"))
        .unwrap_or(&Value::Null);
    let quantity = |key: &str, scale: u64| {
        allocatable
            .get(key)
            .and_then(Value::as_str)
            .and_then(|q| parse_quantity(q, scale))
            .unwrap_or(0)
    };
    Node {
        index,
        name: pod::text(object, "/metadata/name").to_string(),
        labels: pod::labels(object),
        taints: object
            .pointer("/spec/taints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|t| Taint {
                key: pod::text(t, "/key").to_string(),
                value: pod::text(t, "/value").to_string(),
                effect: pod::text(t, "/effect").to_string(),
            })
            .collect(),
        allocatable: Resources {
            milli_cpu: quantity("cpu", 1000),
            memory_bytes: quantity("memory", 1),
            pods: quantity("pods", 1).min(u64::from(u32::MAX)) as u32,
        },
        unschedulable: object
            .pointer("/spec/unschedulable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        usage: Usage::default(),
    }
}

impl NodeTable {
    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The live node indices, in walking order.
    pub fn live(&self) -> &[u32] {
        &self.live
    }

    pub fn node(&self, index: u32) -> Option<&Node> {
        self.slots.get(index as usize)?.as_ref()
    }

    pub fn index_of(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// Adds or updates a node from its object; true if anything policies
    /// see changed (a reason to retry unschedulable pods).
    pub fn upsert_node(&mut self, object: &Value) -> bool {
        let name = pod::text(object, "/metadata/name");
        if name.is_empty() {
            return false;
        }
        if let Some(&index) = self.by_name.get(name) {
            let mut next = node_from_object(object, index);
            let slot = self.slots[index as usize].as_mut().expect("a live slot");
            next.usage = std::mem::take(&mut slot.usage);
            let changed = next.labels != slot.labels
                || next.taints != slot.taints
                || next.allocatable != slot.allocatable
                || next.unschedulable != slot.unschedulable;
            *slot = next;
            if changed {
                self.changes.push(Change::UpsertNode(slot.clone()));
            }
            return changed;
        }
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.live_position.push(0);
            self.slots.len() as u32 - 1
        });
        let mut node = node_from_object(object, index);
        let keys: Vec<String> = self
            .pods_by_node
            .get(name)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default();
        for key in &keys {
            if let Some(assigned) = self.pods.get(key) {
                add_usage(&mut node.usage, assigned);
            }
        }
        self.by_name.insert(name.to_string(), index);
        self.live_position[index as usize] = self.live.len();
        self.live.push(index);
        self.changes.push(Change::UpsertNode(node.clone()));
        for key in &keys {
            if let Some(assigned) = self.pods.get(key) {
                self.changes.push(Change::PodAdded(assigned.placed(index)));
            }
        }
        self.slots[index as usize] = Some(node);
        true
    }

    /// Removes a node; its pods stay counted should it come back.
    pub fn remove_node(&mut self, name: &str) {
        let Some(index) = self.by_name.remove(name) else {
            return;
        };
        self.slots[index as usize] = None;
        let position = self.live_position[index as usize];
        self.live.swap_remove(position);
        if let Some(&moved) = self.live.get(position) {
            self.live_position[moved as usize] = position;
        }
        self.free.push(index);
        self.changes.push(Change::RemoveNode(index));
    }

    /// Whether a pod is counted (assigned or assumed), and where.
    pub fn assigned_node(&self, key: &str) -> Option<&str> {
        self.pods.get(key).map(|p| p.node.as_str())
    }

    /// Counts a pod on its node (a no-op if it is already counted there).
    pub fn add_pod(&mut self, key: &str, assigned: AssignedPod) {
        if let Some(existing) = self.pods.get(key) {
            if existing.node == assigned.node {
                return;
            }
            self.remove_pod(key);
        }
        self.pods_by_node
            .entry(assigned.node.clone())
            .or_default()
            .insert(key.to_string());
        if let Some(&index) = self.by_name.get(&assigned.node) {
            let node = self.slots[index as usize].as_mut().expect("a live slot");
            add_usage(&mut node.usage, &assigned);
            self.changes
                .push(Change::NodeUsage(index, node.usage.clone()));
            self.changes.push(Change::PodAdded(assigned.placed(index)));
        }
        self.pods.insert(key.to_string(), assigned);
    }

    /// Stops counting a pod; true if it was counted.
    pub fn remove_pod(&mut self, key: &str) -> bool {
        let Some(assigned) = self.pods.remove(key) else {
            return false;
        };
        if let Some(keys) = self.pods_by_node.get_mut(&assigned.node) {
            keys.remove(key);
            if keys.is_empty() {
                self.pods_by_node.remove(&assigned.node);
            }
        }
        if let Some(&index) = self.by_name.get(&assigned.node) {
            let node = self.slots[index as usize].as_mut().expect("a live slot");
            node.usage.requested = node.usage.requested.minus(assigned.requests);
            node.usage.non_zero_requested = node.usage.non_zero_requested.minus(assigned.non_zero);
            for port in &assigned.host_ports {
                if let Some(at) = node.usage.host_ports.iter().position(|p| p == port) {
                    node.usage.host_ports.swap_remove(at);
                }
            }
            self.changes
                .push(Change::NodeUsage(index, node.usage.clone()));
            self.changes
                .push(Change::PodRemoved(assigned.placed(index)));
        }
        true
    }

    /// The keys of every counted pod.
    pub fn pod_keys(&self) -> Vec<String> {
        self.pods.keys().cloned().collect()
    }

    /// The node names the table knows.
    pub fn node_names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// Takes the pending changes.
    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    /// Everything, as changes, for a policy that just started.
    pub fn full_changes(&self, wants_pods: bool) -> Vec<Change> {
        let mut changes: Vec<Change> = self
            .live
            .iter()
            .filter_map(|&index| self.node(index).cloned().map(Change::UpsertNode))
            .collect();
        if wants_pods {
            for assigned in self.pods.values() {
                if let Some(&index) = self.by_name.get(&assigned.node) {
                    changes.push(Change::PodAdded(assigned.placed(index)));
                }
            }
        }
        changes
    }
}

fn add_usage(usage: &mut Usage, pod: &AssignedPod) {
    usage.requested = usage.requested.plus(pod.requests);
    usage.non_zero_requested = usage.non_zero_requested.plus(pod.non_zero);
    usage.host_ports.extend(pod.host_ports.iter().cloned());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, cpu: &str) -> Value {
        json!({"metadata": {"name": name, "labels": {"zone": "a"}},
               "status": {"allocatable": {"cpu": cpu, "memory": "1Gi", "pods": "110"}}})
    }

    fn pod(name: &str, cpu: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default"},
               "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}})
    }

    #[test]
    fn usage_follows_pods_added_and_removed_even_before_their_node_exists() {
        let mut table = NodeTable::default();
        table.add_pod(
            "default/early",
            AssignedPod::from_object(&pod("early", "1"), "n1"),
        );
        assert!(table.upsert_node(&node("n1", "4")));
        let index = table.index_of("n1").unwrap();
        assert_eq!(table.node(index).unwrap().usage.requested.milli_cpu, 1000);
        table.add_pod(
            "default/p",
            AssignedPod::from_object(&pod("p", "500m"), "n1"),
        );
        assert_eq!(table.node(index).unwrap().usage.requested.milli_cpu, 1500);
        assert_eq!(table.node(index).unwrap().usage.requested.pods, 2);
        assert!(table.remove_pod("default/early"));
        assert_eq!(table.node(index).unwrap().usage.requested.milli_cpu, 500);
        let changes = table.take_changes();
        assert!(changes.iter().any(|c| matches!(c, Change::PodAdded(_))));
        assert!(changes.iter().any(|c| matches!(c, Change::NodeUsage(..))));
    }

    #[test]
    fn slots_are_reused_and_the_walk_order_stays_consistent() {
        let mut table = NodeTable::default();
        for name in ["a", "b", "c"] {
            table.upsert_node(&node(name, "4"));
        }
        table.remove_node("a");
        assert_eq!(table.len(), 2);
        table.upsert_node(&node("d", "4"));
        assert_eq!(table.index_of("d"), Some(0), "a's slot is reused");
        let mut names: Vec<_> = table
            .live()
            .iter()
            .map(|&i| table.node(i).unwrap().name.clone())
            .collect();
        names.sort();
        assert_eq!(names, ["b", "c", "d"]);
        assert!(
            !table.upsert_node(&node("b", "4")),
            "no change, nothing to push"
        );
        assert!(table.upsert_node(&node("b", "8")));
    }
}
