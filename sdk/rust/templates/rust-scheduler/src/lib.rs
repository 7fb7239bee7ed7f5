//! A scheduling policy: keeps pods off nodes labelled `maintenance=true`.
//! Change it to yours.

use wharf_sdk::scheduling::*;

/// Keeps pods off nodes labelled `maintenance=true`.
struct Maintenance;

impl Policy for Maintenance {
    fn new(_config: &serde_json::Value) -> Result<Self, wharf_sdk::Error> {
        Ok(Maintenance)
    }
    fn registration(&self) -> Registration {
        Registration::filter("Maintenance")
    }
    fn filter(&mut self, snapshot: &Snapshot, _pod: &PodInfo, candidates: &[u32], out: &mut Rejections) -> Result<(), wharf_sdk::Error> {
        for (position, node) in snapshot.candidates(candidates) {
            if node.label("maintenance") == Some("true") {
                out.reject(position, "node(s) were under maintenance");
            }
        }
        Ok(())
    }
}

wharf_sdk::export_policy!(Maintenance);

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_sdk::scheduling::testing::{Harness, node, pod};

    #[test]
    fn a_node_under_maintenance_takes_no_pod() {
        let mut harness = Harness::<Maintenance>::new(serde_json::json!({}));
        harness.add_node(node("a"));
        harness.add_node(node("b").label("maintenance", "true"));
        assert_eq!(harness.feasible(&pod("p")), ["a"]);
    }
}
