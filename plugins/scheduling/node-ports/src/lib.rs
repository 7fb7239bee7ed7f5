//! NodePorts (kube-scheduler `pkg/scheduler/framework/plugins/nodeports`):
//! a pod's host ports must be free on the node. A wanted port conflicts
//! with a used one when port and protocol are equal and the IPs are equal
//! or either is `0.0.0.0` (kube-scheduler's `HostPortInfo.CheckConflict`;
//! an empty IP counts as `0.0.0.0`, an empty protocol as TCP).
//!
//! Reads only what the host parsed (`pod.host_ports`, `usage.host_ports`),
//! never the pod's JSON; pods without host ports cost nothing.

use wharf_sdk::Error;
use wharf_sdk::scheduling::{HostPort, PodInfo, Policy, Registration, Rejections, Snapshot};
use wharf_sdk::serde_json;

/// The policy's name, as kube-scheduler's.
pub const NAME: &str = "NodePorts";
/// Why a node where a wanted host port is taken turns the pod down.
pub const REASON_PORTS: &str = "node(s) didn't have free ports for the requested pod ports";

/// The IP a port binds when none is given.
const ANY_IP: &str = "0.0.0.0";

pub struct NodePorts;

impl Policy for NodePorts {
    fn new(_config: &serde_json::Value) -> Result<Self, Error> {
        Ok(NodePorts)
    }

    fn registration(&self) -> Registration {
        Registration::filter(NAME)
    }

    fn filter(
        &mut self,
        snapshot: &Snapshot,
        pod: &PodInfo,
        candidates: &[u32],
        out: &mut Rejections,
    ) -> Result<(), Error> {
        let wanted = &pod.pod.host_ports;
        if wanted.is_empty() {
            return Ok(());
        }
        for (position, node) in snapshot.candidates(candidates) {
            let used = &node.usage.host_ports;
            if wanted.iter().any(|w| used.iter().any(|u| conflicts(w, u))) {
                out.reject(position, REASON_PORTS);
            }
        }
        Ok(())
    }
}

wharf_sdk::export_policy!(NodePorts);

/// Whether two host ports cannot both be bound.
fn conflicts(wanted: &HostPort, used: &HostPort) -> bool {
    if wanted.port == 0 || wanted.port != used.port || protocol(wanted) != protocol(used) {
        return false;
    }
    let (wanted_ip, used_ip) = (ip(wanted), ip(used));
    wanted_ip == ANY_IP || used_ip == ANY_IP || wanted_ip == used_ip
}

fn ip(port: &HostPort) -> &str {
    if port.ip.is_empty() { ANY_IP } else { &port.ip }
}

fn protocol(port: &HostPort) -> &str {
    if port.protocol.is_empty() {
        "TCP"
    } else {
        &port.protocol
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_sdk::scheduling::testing::{Harness, node, pod};
    use wharf_sdk::scheduling::{Change, Instance};

    #[test]
    fn a_host_port_in_use_keeps_the_pod_off_the_node() {
        let cases = [
            (pod("no-ports"), vec!["busy", "free"]),
            (pod("same-port").host_port(8080), vec!["free"]),
            (pod("other-port").host_port(9090), vec!["busy", "free"]),
            (
                pod("one-of-several").host_port(9090).host_port(8080),
                vec!["free"],
            ),
        ];
        for (incoming, expected) in cases {
            let mut harness = Harness::<NodePorts>::new(serde_json::json!({}));
            harness.add_node(node("busy"));
            harness.add_node(node("free"));
            harness.place(&pod("web").host_port(8080), "busy");
            assert_eq!(
                harness.feasible(&incoming),
                expected,
                "{:?}",
                incoming.object()
            );
        }
    }

    #[test]
    fn the_reason_is_kube_schedulers() {
        let mut harness = Harness::<NodePorts>::new(serde_json::json!({}));
        harness.add_node(node("busy"));
        harness.place(&pod("web").host_port(80), "busy");
        assert_eq!(
            harness.rejected(&pod("p").host_port(80))["busy"],
            [REASON_PORTS]
        );
    }

    fn port(ip: &str, protocol: &str, port: u16) -> HostPort {
        HostPort {
            ip: ip.into(),
            protocol: protocol.into(),
            port,
        }
    }

    /// The PodBuilder binds `0.0.0.0`/TCP only: these cases go through the
    /// instance with ports built by hand.
    #[test]
    fn ports_conflict_on_equal_protocol_and_overlapping_addresses() {
        let cases = [
            (port("0.0.0.0", "TCP", 80), port("0.0.0.0", "TCP", 80), true),
            (
                port("10.0.0.1", "TCP", 80),
                port("0.0.0.0", "TCP", 80),
                true,
            ),
            (
                port("0.0.0.0", "TCP", 80),
                port("10.0.0.1", "TCP", 80),
                true,
            ),
            (
                port("10.0.0.1", "TCP", 80),
                port("10.0.0.1", "TCP", 80),
                true,
            ),
            (
                port("10.0.0.1", "TCP", 80),
                port("10.0.0.2", "TCP", 80),
                false,
            ),
            (
                port("0.0.0.0", "UDP", 53),
                port("0.0.0.0", "TCP", 53),
                false,
            ),
            (
                port("0.0.0.0", "SCTP", 80),
                port("0.0.0.0", "SCTP", 80),
                true,
            ),
            (port("", "", 80), port("0.0.0.0", "TCP", 80), true),
            (
                port("0.0.0.0", "TCP", 80),
                port("0.0.0.0", "TCP", 81),
                false,
            ),
        ];
        for (wanted, used, conflict) in cases {
            let mut instance = Instance::<NodePorts>::new("{}").expect("the policy builds");
            let mut busy = node("busy").build();
            busy.usage.host_ports.push(used.clone());
            instance.update([Change::UpsertNode(busy)]);
            let mut pod = pod("p").build();
            pod.host_ports = vec![wanted.clone()];
            let rejected = instance.filter(pod, &[0]).expect("filter succeeds");
            assert_eq!(
                !rejected.rejections.is_empty(),
                conflict,
                "{wanted:?} against {used:?}"
            );
        }
    }
}
