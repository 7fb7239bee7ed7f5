//! Zones and the eviction rate, as kube's node lifecycle controller keeps
//! them: each zone's state from its nodes' readiness
//! (`ComputeZoneState`), and a token bucket per zone (burst 1) that paces
//! how fast nodes get the NoExecute taint that evicts their pods — so that
//! a zone going dark, or the controller losing its view of it, does not
//! evict everything at once.
//!
//! The view is the instance's own: seeded from one list of every Node when
//! the instance starts, then kept by each node's reconcile (every Node event
//! reconciles that node; a silent node is looked at again when its grace
//! period ends).

use std::collections::HashMap;
use std::time::Duration;

use wharf_sdk::k8s_openapi::api::core::v1::Node;

use crate::config::Config;
use crate::health::ready_status;

pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";

/// How long to wait before looking again when a zone may not evict at all.
const STOPPED_RECHECK: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneState {
    Normal,
    /// More than two nodes and at least the threshold's share not ready.
    PartialDisruption,
    /// No node ready.
    FullDisruption,
}

/// A zone's key: `region/zone` from the node's topology labels (empty for none).
pub fn zone_of(node: &Node) -> String {
    let label = |key: &str| {
        node.metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(key))
            .map_or("", String::as_str)
    };
    let (region, zone) = (label(REGION_LABEL), label(ZONE_LABEL));
    if region.is_empty() && zone.is_empty() {
        String::new()
    } else {
        format!("{region}/{zone}")
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    counted_at_millis: u64,
}

/// The instance's view of every node's zone and readiness, and each zone's bucket.
#[derive(Debug, Default)]
pub struct Zones {
    nodes: HashMap<String, (String, bool)>,
    buckets: HashMap<String, Bucket>,
    seeded: bool,
}

impl Zones {
    pub fn seeded(&self) -> bool {
        self.seeded
    }

    /// Takes in every node at once (the instance's first look).
    pub fn seed(&mut self, nodes: &[Node]) {
        for node in nodes {
            self.observe(node);
        }
        self.seeded = true;
    }

    pub fn observe(&mut self, node: &Node) {
        let name = node.metadata.name.clone().unwrap_or_default();
        self.nodes
            .insert(name, (zone_of(node), ready_status(node) == Some("True")));
    }

    pub fn forget(&mut self, name: &str) {
        self.nodes.remove(name);
    }

    /// `ComputeZoneState` over the nodes of `zone`.
    pub fn state(&self, zone: &str, config: &Config) -> ZoneState {
        let (mut ready, mut not_ready) = (0usize, 0usize);
        for (node_zone, is_ready) in self.nodes.values() {
            if node_zone == zone {
                if *is_ready {
                    ready += 1;
                } else {
                    not_ready += 1;
                }
            }
        }
        if ready == 0 && not_ready > 0 {
            ZoneState::FullDisruption
        } else if not_ready > 2
            && not_ready as f64 / (ready + not_ready) as f64 >= config.unhealthy_zone_threshold
        {
            ZoneState::PartialDisruption
        } else {
            ZoneState::Normal
        }
    }

    fn size(&self, zone: &str) -> usize {
        self.nodes.values().filter(|(z, _)| z == zone).count()
    }

    /// The zone's eviction rate (`ReducedQPSFunc` / `HealthyQPSFunc`): the
    /// configured rate when Normal; when partially disrupted the secondary
    /// rate for a large zone, none for a small one; none when the whole
    /// zone is down (it is more likely the controller's view than the nodes).
    pub fn rate(&self, zone: &str, config: &Config) -> f64 {
        match self.state(zone, config) {
            ZoneState::Normal => config.eviction_rate,
            ZoneState::PartialDisruption if self.size(zone) > config.large_cluster_size => {
                config.secondary_eviction_rate
            }
            ZoneState::PartialDisruption | ZoneState::FullDisruption => 0.0,
        }
    }

    /// Takes the zone's token to taint one more node now, or says how long
    /// until one is there.
    pub fn take(&mut self, zone: &str, config: &Config, now_millis: u64) -> Result<(), Duration> {
        let rate = self.rate(zone, config);
        if rate <= 0.0 {
            return Err(STOPPED_RECHECK);
        }
        let bucket = self.buckets.entry(zone.to_owned()).or_insert(Bucket {
            tokens: 1.0,
            counted_at_millis: now_millis,
        });
        let elapsed = now_millis.saturating_sub(bucket.counted_at_millis) as f64 / 1000.0;
        bucket.tokens = (bucket.tokens + elapsed * rate).min(1.0);
        bucket.counted_at_millis = now_millis;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                ((1.0 - bucket.tokens) / rate).max(0.001),
            ))
        }
    }
}
