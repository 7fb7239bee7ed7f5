//! A policy instance's copy of the node snapshot, kept from the changes the
//! host pushes.

use super::{Change, Node, PlacedPod};

/// Nodes by index, and (for policies that asked) the pods placed on each.
#[derive(Debug, Default)]
pub struct Snapshot {
    nodes: Vec<Option<Node>>,
    pods: Vec<Vec<PlacedPod>>,
    node_count: usize,
}

impl Snapshot {
    /// The node in slot `index`.
    pub fn node(&self, index: u32) -> Option<&Node> {
        self.nodes.get(index as usize)?.as_ref()
    }

    /// Every node.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().flatten()
    }

    /// How many nodes there are.
    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// The candidates with their positions, skipping unknown indices.
    pub fn candidates<'a>(
        &'a self,
        candidates: &'a [u32],
    ) -> impl Iterator<Item = (usize, &'a Node)> + 'a {
        candidates
            .iter()
            .enumerate()
            .filter_map(|(position, &index)| Some((position, self.node(index)?)))
    }

    /// The pods placed on a node (empty unless the policy registered
    /// `wants_pods`).
    pub fn pods_on(&self, index: u32) -> &[PlacedPod] {
        self.pods.get(index as usize).map_or(&[], Vec::as_slice)
    }

    /// Applies one change.
    pub fn apply(&mut self, change: Change) {
        match change {
            Change::UpsertNode(node) => {
                let slot = node.index as usize;
                if self.nodes.len() <= slot {
                    self.nodes.resize_with(slot + 1, || None);
                    self.pods.resize_with(slot + 1, Vec::new);
                }
                if self.nodes[slot].is_none() {
                    self.node_count += 1;
                }
                self.nodes[slot] = Some(node);
            }
            Change::RemoveNode(index) => {
                if let Some(slot) = self.nodes.get_mut(index as usize)
                    && slot.take().is_some()
                {
                    self.node_count -= 1;
                    self.pods[index as usize].clear();
                }
            }
            Change::NodeUsage(index, usage) => {
                if let Some(Some(node)) = self.nodes.get_mut(index as usize) {
                    node.usage = usage;
                }
            }
            Change::PodAdded(pod) => {
                if let Some(pods) = self.pods.get_mut(pod.node as usize) {
                    pods.push(pod);
                }
            }
            Change::PodRemoved(pod) => {
                if let Some(pods) = self.pods.get_mut(pod.node as usize)
                    && let Some(at) = pods
                        .iter()
                        .position(|p| p.name == pod.name && p.namespace == pod.namespace)
                {
                    pods.swap_remove(at);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(index: u32, name: &str) -> Node {
        Node {
            index,
            name: name.into(),
            ..Node::default()
        }
    }

    fn placed(node: u32, name: &str) -> PlacedPod {
        PlacedPod {
            node,
            namespace: "default".into(),
            name: name.into(),
            labels: vec![],
        }
    }

    #[test]
    fn changes_build_the_table_by_index() {
        let mut snapshot = Snapshot::default();
        snapshot.apply(Change::UpsertNode(node(2, "c")));
        snapshot.apply(Change::UpsertNode(node(0, "a")));
        snapshot.apply(Change::PodAdded(placed(2, "p1")));
        snapshot.apply(Change::PodAdded(placed(2, "p2")));
        assert_eq!(snapshot.node_count(), 2);
        assert_eq!(snapshot.node(2).unwrap().name, "c");
        assert!(snapshot.node(1).is_none());
        assert_eq!(snapshot.pods_on(2).len(), 2);
        snapshot.apply(Change::PodRemoved(placed(2, "p1")));
        assert_eq!(snapshot.pods_on(2)[0].name, "p2");
        let mut usage = crate::scheduling::Usage::default();
        usage.requested.milli_cpu = 500;
        snapshot.apply(Change::NodeUsage(0, usage));
        assert_eq!(snapshot.node(0).unwrap().usage.requested.milli_cpu, 500);
        snapshot.apply(Change::RemoveNode(2));
        assert_eq!(snapshot.node_count(), 1);
        assert!(snapshot.pods_on(2).is_empty());
        let names: Vec<_> = snapshot
            .candidates(&[2, 0])
            .map(|(p, n)| (p, n.name.clone()))
            .collect();
        assert_eq!(names, [(1, "a".to_string())]);
    }
}
