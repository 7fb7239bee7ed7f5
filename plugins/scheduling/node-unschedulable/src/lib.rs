//! NodeUnschedulable (kube-scheduler `pkg/scheduler/framework/plugins/nodeunschedulable`):
//! a cordoned node (`spec.unschedulable: true`) takes only pods that
//! tolerate the `node.kubernetes.io/unschedulable:NoSchedule` taint.

use wharf_sdk::Error;
use wharf_sdk::scheduling::{PodInfo, Policy, Registration, Rejections, Snapshot, Taint};

/// The policy's name, as kube-scheduler's.
pub const NAME: &str = "NodeUnschedulable";
/// Why a cordoned node turns a pod down.
pub const REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// The taint a pod tolerates to run on cordoned nodes.
pub const TAINT_KEY: &str = "node.kubernetes.io/unschedulable";

pub struct NodeUnschedulable;

impl Policy for NodeUnschedulable {
    fn new(_config: &serde_json::Value) -> Result<Self, Error> {
        Ok(NodeUnschedulable)
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
        let taint = Taint {
            key: TAINT_KEY.into(),
            value: String::new(),
            effect: "NoSchedule".into(),
        };
        let mut tolerates = None;
        for (position, node) in snapshot.candidates(candidates) {
            if !node.unschedulable {
                continue;
            }
            let tolerates = match tolerates {
                Some(known) => known,
                None => *tolerates.insert(pod.spec()?.tolerates(&taint)),
            };
            if !tolerates {
                out.reject(position, REASON_UNSCHEDULABLE);
            }
        }
        Ok(())
    }
}

use wharf_sdk::serde_json;

wharf_sdk::export_policy!(NodeUnschedulable);

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_sdk::scheduling::testing::{Harness, node, pod};

    #[test]
    fn cordoned_nodes_take_only_pods_that_tolerate_it() {
        let cases = [
            (pod("plain"), vec!["ready"]),
            (
                pod("tolerant").toleration(TAINT_KEY, "Exists", "", "NoSchedule"),
                vec!["ready", "cordoned"],
            ),
            (
                pod("other-toleration").toleration("gpu", "Exists", "", ""),
                vec!["ready"],
            ),
        ];
        for (pod, expected) in cases {
            let mut harness = Harness::<NodeUnschedulable>::new(serde_json::json!({}));
            harness.add_node(node("ready"));
            harness.add_node(node("cordoned").unschedulable());
            assert_eq!(harness.feasible(&pod), expected, "{:?}", pod.object());
        }
    }

    #[test]
    fn the_reason_is_kube_schedulers() {
        let mut harness = Harness::<NodeUnschedulable>::new(serde_json::json!({}));
        harness.add_node(node("cordoned").unschedulable());
        assert_eq!(
            harness.rejected(&pod("p"))["cordoned"],
            [REASON_UNSCHEDULABLE]
        );
    }
}
