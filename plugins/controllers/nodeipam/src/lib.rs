//! Wharf's node IPAM controller, as Kubernetes' `pkg/controller/nodeipam`
//! with the range allocator: every Node without a `spec.podCIDR` gets the
//! first free block of `nodeCIDRMaskSize` bits from `clusterCIDR`, written
//! to `spec.podCIDR` and `spec.podCIDRs`; node agents wire their pods'
//! network from it. A CIDR another node holds is never handed out; one that
//! lies outside the cluster CIDR is left alone. The plugin runs with one
//! worker, so two nodes are never given the same block at once.

use std::net::Ipv4Addr;

use wharf_sdk::k8s_openapi::api::core::v1::Node;
use wharf_sdk::prelude::*;
use wharf_sdk::{ListParams, Patch};

/// The allocator's settings.
#[derive(Debug)]
pub struct NodeIpam {
    cluster_base: u32,
    cluster_prefix: u8,
    mask: u8,
}

impl Default for NodeIpam {
    fn default() -> Self {
        Self {
            cluster_base: u32::from(Ipv4Addr::new(10, 244, 0, 0)),
            cluster_prefix: 16,
            mask: 24,
        }
    }
}

fn parse_cidr(text: &str) -> Option<(u32, u8)> {
    let (address, prefix) = text.split_once('/')?;
    let address: Ipv4Addr = address.parse().ok()?;
    let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    Some((u32::from(address) & mask, prefix))
}

impl NodeIpam {
    /// The index of `cidr`'s block in the cluster CIDR, if it is one.
    fn block_of(&self, cidr: &str) -> Option<u32> {
        let (base, prefix) = parse_cidr(cidr)?;
        if prefix != self.mask || self.cluster_prefix > self.mask {
            return None;
        }
        let offset = base.checked_sub(self.cluster_base)?;
        let index = offset >> (32 - u32::from(self.mask));
        (index < self.blocks()).then_some(index)
    }

    fn blocks(&self) -> u32 {
        1u32.checked_shl(u32::from(self.mask - self.cluster_prefix))
            .unwrap_or(u32::MAX)
    }

    fn cidr_of(&self, index: u32) -> String {
        let base = self.cluster_base + (index << (32 - u32::from(self.mask)));
        format!("{}/{}", Ipv4Addr::from(base), self.mask)
    }

    /// The first block no node holds.
    pub fn first_free(&self, taken: impl IntoIterator<Item = String>) -> Option<String> {
        let mut used = vec![false; self.blocks().min(1 << 20) as usize];
        for cidr in taken {
            if let Some(index) = self.block_of(&cidr)
                && let Some(slot) = used.get_mut(index as usize)
            {
                *slot = true;
            }
        }
        used.iter()
            .position(|taken| !taken)
            .map(|index| self.cidr_of(index as u32))
    }
}

impl Controller for NodeIpam {
    fn registration(_config: &serde_json::Value) -> Result<Registration, Error> {
        Ok(Registration::new::<Node>())
    }

    fn configure(&mut self, config: &serde_json::Value) -> Result<(), Error> {
        if let Some(text) = config.get("clusterCIDR").and_then(|v| v.as_str()) {
            let (base, prefix) = parse_cidr(text).ok_or_else(|| {
                Error::Invalid(format!("clusterCIDR {text:?} is not an IPv4 CIDR"))
            })?;
            self.cluster_base = base;
            self.cluster_prefix = prefix;
        }
        if let Some(mask) = config.get("nodeCIDRMaskSize").and_then(|v| v.as_u64()) {
            self.mask = u8::try_from(mask).unwrap_or(u8::MAX);
        }
        if self.mask > 30 || self.mask < self.cluster_prefix {
            return Err(Error::Invalid(format!(
                "nodeCIDRMaskSize {} must be between the cluster prefix {} and 30",
                self.mask, self.cluster_prefix
            )));
        }
        Ok(())
    }

    fn reconcile(
        &self,
        ctx: &Context,
        _namespace: Option<&str>,
        name: &str,
    ) -> Result<Action, Error> {
        let Some(node) = ctx.get::<Node>(None, name)? else {
            return Ok(Action::Done);
        };
        let spec = node.spec.unwrap_or_default();
        if spec.pod_cidr.as_deref().is_some_and(|c| !c.is_empty()) {
            return Ok(Action::Done);
        }
        let nodes = ctx.list::<Node>(None, &ListParams::default())?;
        let taken = nodes
            .iter()
            .filter_map(|n| n.spec.as_ref()?.pod_cidr.clone());
        let Some(cidr) = self.first_free(taken) else {
            ctx.event(
                &node_ref(name),
                EventType::Warning,
                "CIDRNotAvailable",
                "Node has no CIDR assigned: the cluster CIDR is used up".to_string(),
            );
            return Ok(Action::RequeueAfter(std::time::Duration::from_secs(30)));
        };
        ctx.patch::<Node>(
            None,
            name,
            &Patch::Merge(serde_json::json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})),
            false,
        )?;
        ctx.event(
            &node_ref(name),
            EventType::Normal,
            "CIDRAssigned",
            format!("Node {name} was given pod CIDR {cidr}"),
        );
        Ok(Action::Done)
    }
}

fn node_ref(name: &str) -> Node {
    Node {
        metadata: wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        ..Default::default()
    }
}

wharf_sdk::export_controller!(NodeIpam);

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_sdk::k8s_openapi::api::core::v1::NodeSpec;
    use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use wharf_sdk::testing::FakeCluster;

    fn node(name: &str, cidr: Option<&str>) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                pod_cidr: cidr.map(Into::into),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_new_node_gets_the_first_block_no_node_holds() {
        let fake = FakeCluster::new();
        fake.add(node("a", Some("10.244.0.0/24")));
        fake.add(node("b", Some("10.244.2.0/24")));
        fake.add(node("c", Some("192.168.0.0/24")));
        fake.add(node("new", None));
        fake.run::<NodeIpam>("new").unwrap();
        let spec = fake.get::<Node>(None, "new").unwrap().spec.unwrap();
        assert_eq!(spec.pod_cidr.as_deref(), Some("10.244.1.0/24"));
        assert_eq!(spec.pod_cidrs, Some(vec!["10.244.1.0/24".to_string()]));
    }

    #[test]
    fn a_node_with_a_cidr_keeps_it_and_nothing_is_written() {
        let fake = FakeCluster::new();
        fake.add(node("a", Some("10.244.5.0/24")));
        let revision = fake.revision();
        fake.run::<NodeIpam>("a").unwrap();
        assert_eq!(fake.revision(), revision);
    }

    #[test]
    fn blocks_follow_the_configured_cluster_cidr_and_mask() {
        let mut ipam = NodeIpam::default();
        ipam.configure(
            &serde_json::json!({"clusterCIDR": "10.100.0.0/20", "nodeCIDRMaskSize": 26}),
        )
        .unwrap();
        assert_eq!(
            ipam.first_free(["10.100.0.0/26".to_string()]),
            Some("10.100.0.64/26".into())
        );
        assert!(
            ipam.configure(&serde_json::json!({"nodeCIDRMaskSize": 31}))
                .is_err()
        );
        assert!(
            ipam.configure(&serde_json::json!({"clusterCIDR": "nope"}))
                .is_err()
        );
        let full = NodeIpam {
            cluster_base: u32::from(Ipv4Addr::new(10, 0, 0, 0)),
            cluster_prefix: 23,
            mask: 24,
        };
        assert_eq!(
            full.first_free(["10.0.0.0/24".into(), "10.0.1.0/24".into()]),
            None
        );
    }
}
