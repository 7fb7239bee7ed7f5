//! NodeName (kube-scheduler `pkg/scheduler/framework/plugins/nodename`):
//! a pod whose `spec.nodeName` is set fits the node of that name only.

use wharf_sdk::Error;
use wharf_sdk::scheduling::{PodInfo, Policy, Registration, Rejections, Snapshot};
use wharf_sdk::serde_json;

/// The policy's name, as kube-scheduler's.
pub const NAME: &str = "NodeName";
/// Why a node other than the one the pod names turns it down.
pub const REASON_NODE_NAME: &str = "node(s) didn't match the requested node name";

pub struct NodeName;

impl Policy for NodeName {
    fn new(_config: &serde_json::Value) -> Result<Self, Error> {
        Ok(NodeName)
    }

    fn registration(&self) -> Registration {
        Registration::filter(NAME).without_usage()
    }

    fn filter(
        &mut self,
        snapshot: &Snapshot,
        pod: &PodInfo,
        candidates: &[u32],
        out: &mut Rejections,
    ) -> Result<(), Error> {
        let Some(wanted) = pod.spec()?.node_name.as_deref().filter(|n| !n.is_empty()) else {
            return Ok(());
        };
        for (position, node) in snapshot.candidates(candidates) {
            if node.name != wanted {
                out.reject(position, REASON_NODE_NAME);
            }
        }
        Ok(())
    }
}

wharf_sdk::export_policy!(NodeName);

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_sdk::scheduling::testing::{Harness, node, pod};

    fn harness() -> Harness<NodeName> {
        let mut harness = Harness::<NodeName>::new(serde_json::json!({}));
        harness.add_node(node("a"));
        harness.add_node(node("b"));
        harness
    }

    #[test]
    fn a_pod_that_names_its_node_fits_only_that_node() {
        let cases = [
            (pod("unnamed"), vec!["a", "b"]),
            (
                pod("empty-name").spec("nodeName", "".into()),
                vec!["a", "b"],
            ),
            (pod("named-b").spec("nodeName", "b".into()), vec!["b"]),
            (pod("named-elsewhere").spec("nodeName", "c".into()), vec![]),
        ];
        for (pod, expected) in cases {
            assert_eq!(harness().feasible(&pod), expected, "{:?}", pod.object());
        }
    }

    #[test]
    fn the_reason_is_kube_schedulers() {
        let rejected = harness().rejected(&pod("p").spec("nodeName", "b".into()));
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected["a"], [REASON_NODE_NAME]);
    }
}
