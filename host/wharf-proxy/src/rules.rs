//! The nftables ruleset for a set of Service ports, as kube-proxy's
//! nftables mode lays it out: one `services` chain that matches
//! `ClusterIP:port` (and, for NodePorts, any local address with the node
//! port) and jumps to a chain per service port, which picks an endpoint at
//! random (`numgen random mod N`) and jumps to a chain per endpoint that
//! DNATs to it. Packets that need it are marked and masqueraded on the way
//! out, so that replies come back through this node: those from elsewhere
//! (not a local address, and not a pod of the cluster CIDR) and hairpin
//! packets (a pod reaching itself through its Service). Traffic the node
//! itself sends, or a pod on this node, keeps its source address.
//!
//! The whole table is replaced in one `nft -f` transaction: a delete and
//! re-create of the table, applied atomically by the kernel.

use std::fmt::Write;

/// The mark on packets the proxy rewrote (kube-proxy's masquerade bit).
pub const MASQUERADE_MARK: u32 = 0x4000;

/// One port of one Service, with its ready endpoints.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServicePort {
    pub namespace: String,
    pub service: String,
    pub port_name: String,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    pub cluster_ip: String,
    pub port: u16,
    pub node_port: Option<u16>,
    /// `(ip, port)` of every ready endpoint.
    pub endpoints: Vec<(String, u16)>,
}

/// A chain name from a service port: readable, and unique by a short hash.
fn chain_name(kind: &str, port: &ServicePort) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in format!(
        "{}/{}/{}/{}",
        port.namespace, port.service, port.port_name, port.protocol
    )
    .bytes()
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x100_0000_01b3);
    }
    let readable: String = format!("{}-{}", port.namespace, port.service)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    format!("{kind}-{:08x}-{readable}", hash as u32)
}

/// The nft script that makes `table ip <table>` exactly these rules;
/// `cluster_cidr` is the pods' network, whose traffic is not masqueraded.
pub fn render(table: &str, cluster_cidr: Option<&str>, ports: &[ServicePort]) -> String {
    let from_elsewhere = match cluster_cidr {
        Some(cidr) => format!("fib saddr type != local ip saddr != {cidr} "),
        None => "fib saddr type != local ".to_string(),
    };
    let mut ports: Vec<&ServicePort> = ports.iter().collect();
    ports.sort();
    let mut out = String::new();
    // Create-then-delete makes the delete valid when the table is absent.
    let _ = writeln!(
        out,
        "table ip {table}\ndelete table ip {table}\ntable ip {table} {{"
    );
    let _ = writeln!(
        out,
        "  chain nat-output {{\n    type nat hook output priority -100; policy accept;\n    jump services\n  }}"
    );
    let _ = writeln!(
        out,
        "  chain nat-prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n    jump services\n  }}"
    );
    let _ = writeln!(
        out,
        "  chain nat-postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n    meta mark & {MASQUERADE_MARK:#x} == {MASQUERADE_MARK:#x} masquerade\n  }}"
    );
    let _ = writeln!(out, "  chain services {{");
    for port in ports.iter().filter(|p| !p.endpoints.is_empty()) {
        let chain = chain_name("svc", port);
        let _ = writeln!(
            out,
            "    ip daddr {} {} dport {} goto {chain}",
            port.cluster_ip, port.protocol, port.port
        );
        if let Some(node_port) = port.node_port {
            let _ = writeln!(
                out,
                "    fib daddr type local {} dport {node_port} goto {chain}",
                port.protocol
            );
        }
    }
    let _ = writeln!(out, "  }}");
    for port in ports.iter().filter(|p| !p.endpoints.is_empty()) {
        let chain = chain_name("svc", port);
        let endpoint_chains: Vec<String> = (0..port.endpoints.len())
            .map(|i| format!("{}-{i}", chain_name("ep", port)))
            .collect();
        let map: Vec<String> = endpoint_chains
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{i} : goto {c}"))
            .collect();
        let _ = writeln!(
            out,
            "  chain {chain} {{\n    {from_elsewhere}meta mark set meta mark | {MASQUERADE_MARK:#x}\n    numgen random mod {} vmap {{ {} }}\n  }}",
            port.endpoints.len(),
            map.join(", ")
        );
        for ((ip, target), endpoint_chain) in port.endpoints.iter().zip(&endpoint_chains) {
            let _ = writeln!(
                out,
                "  chain {endpoint_chain} {{\n    ip saddr {ip} meta mark set meta mark | {MASQUERADE_MARK:#x}\n    meta l4proto {} dnat ip to {ip}:{target}\n  }}",
                port.protocol
            );
        }
    }
    let _ = writeln!(out, "}}");
    out
}

/// The script that removes the table (and nothing else).
pub fn render_removal(table: &str) -> String {
    format!("table ip {table}\ndelete table ip {table}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(endpoints: &[(&str, u16)], node_port: Option<u16>) -> ServicePort {
        ServicePort {
            namespace: "default".into(),
            service: "web".into(),
            port_name: "http".into(),
            protocol: "tcp".into(),
            cluster_ip: "10.96.0.10".into(),
            port: 80,
            node_port,
            endpoints: endpoints
                .iter()
                .map(|(ip, p)| (ip.to_string(), *p))
                .collect(),
        }
    }

    #[test]
    fn a_service_port_spreads_over_its_endpoints_by_random_choice() {
        let script = render(
            "wharf",
            Some("10.244.0.0/16"),
            &[web(&[("10.0.0.2", 8080), ("10.0.0.3", 8080)], Some(30080))],
        );
        let svc = chain_name("svc", &web(&[], None));
        assert!(
            script.contains(&format!("ip daddr 10.96.0.10 tcp dport 80 goto {svc}")),
            "{script}"
        );
        assert!(script.contains(&format!("fib daddr type local tcp dport 30080 goto {svc}")));
        assert!(script.contains("numgen random mod 2 vmap { 0 : goto ep-"));
        assert!(script.contains("meta l4proto tcp dnat ip to 10.0.0.2:8080"));
        assert!(script.contains("meta l4proto tcp dnat ip to 10.0.0.3:8080"));
        assert!(script.starts_with("table ip wharf\ndelete table ip wharf\n"));
        // Only traffic from elsewhere, and hairpin traffic, is masqueraded.
        assert!(script.contains("fib saddr type != local ip saddr != 10.244.0.0/16 meta mark set"));
        assert!(script.contains("ip saddr 10.0.0.2 meta mark set meta mark | 0x4000"));
    }

    #[test]
    fn a_service_without_ready_endpoints_gets_no_rule() {
        let script = render("wharf", Some("10.244.0.0/16"), &[web(&[], Some(30080))]);
        assert!(!script.contains("10.96.0.10"), "{script}");
    }

    #[test]
    fn chain_names_are_valid_and_distinct_per_port() {
        let mut other = web(&[("10.0.0.2", 8080)], None);
        other.port_name = "metrics".into();
        let (a, b) = (
            chain_name("svc", &web(&[], None)),
            chain_name("svc", &other),
        );
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }
}
