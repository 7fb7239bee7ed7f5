//! Service ClusterIPs and NodePorts, as kube-apiserver allocates them: an
//! IP from the service CIDR (default `10.96.0.0/12`; the first address is
//! the API server's own and never handed out) for every Service but
//! ExternalName and headless ones, and a port from 30000–32767 for every
//! port of a NodePort or LoadBalancer Service. What a user asks for is
//! checked (in range, free); what is left empty is chosen at random.
//!
//! Each allocation is a key in the store (`/wharf/allocations/…`) created
//! only if absent, so two API servers on one etcd never hand out the same
//! address — the role of Kubernetes' IPAddress objects. A repair pass (at
//! start and every few minutes) frees allocations that no Service holds,
//! such as those of a Service whose creation failed halfway.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{Value, json};
use wharf_store::Store;

use crate::error::{ApiError, ApiResult, Cause};

const IP_PREFIX: &str = "/wharf/allocations/service-ip/";
const PORT_PREFIX: &str = "/wharf/allocations/node-port/";
/// Allocations younger than this are never repaired away: their Service
/// may be being written right now.
const REPAIR_GRACE: Duration = Duration::from_secs(60);

/// The service CIDR and NodePort range.
#[derive(Clone, Debug)]
pub struct AllocatorConfig {
    pub service_network: Ipv4Addr,
    pub service_prefix: u8,
    pub node_ports: (u16, u16),
}

impl Default for AllocatorConfig {
    fn default() -> Self {
        Self {
            service_network: Ipv4Addr::new(10, 96, 0, 0),
            service_prefix: 12,
            node_ports: (30000, 32767),
        }
    }
}

impl AllocatorConfig {
    /// The first address of the service CIDR: the `kubernetes` Service's
    /// ClusterIP, the API server's own.
    pub fn api_server_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.service_network) + 1)
    }
}

/// What one write allocated: released again if the write fails.
#[derive(Default, Debug)]
pub struct Claimed {
    keys: Vec<String>,
}

/// Hands out and frees ClusterIPs and NodePorts.
#[derive(Clone)]
pub struct Allocator {
    store: Arc<dyn Store>,
    config: AllocatorConfig,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A tiny xorshift for the starting points of searches.
fn random(bound: u64) -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        x = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x2545_F491, |d| d.as_nanos() as u64)
            | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    x % bound.max(1)
}

fn invalid(service: &str, field: &str, message: String) -> ApiError {
    ApiError::Invalid {
        group: String::new(),
        kind: "Service".into(),
        name: service.into(),
        causes: vec![Cause::invalid(field, message)],
    }
}

impl Allocator {
    pub fn new(store: Arc<dyn Store>, config: AllocatorConfig) -> Self {
        Self { store, config }
    }

    fn network(&self) -> (u32, u32) {
        let size = 1u32 << (32 - u32::from(self.config.service_prefix));
        let base = u32::from(self.config.service_network) & !(size - 1);
        (base, size)
    }

    fn range_text(&self) -> String {
        format!(
            "{}/{}",
            self.config.service_network, self.config.service_prefix
        )
    }

    /// Whether the address can be handed out (not the network, the API
    /// server's, or the broadcast address).
    fn in_range(&self, ip: Ipv4Addr) -> bool {
        let (base, size) = self.network();
        let ip = u32::from(ip);
        ip > base + 1 && ip < base + size - 1
    }

    async fn claim(&self, key: String, owner: &str, claimed: &mut Claimed) -> ApiResult<bool> {
        let value = json!({"owner": owner, "since": now_secs()}).to_string();
        match self.store.create(&key, Bytes::from(value)).await {
            Ok(_) => {
                claimed.keys.push(key);
                Ok(true)
            }
            Err(wharf_store::Error::AlreadyExists { .. }) => {
                // Ours already (an update keeping its address) counts as free.
                let current = self.store.get(&key).await?;
                let holder = current
                    .and_then(|kv| serde_json::from_slice::<Value>(&kv.value).ok())
                    .and_then(|v| v["owner"].as_str().map(str::to_string));
                Ok(holder.as_deref() == Some(owner))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Releases what a failed write claimed.
    pub async fn release(&self, claimed: Claimed) {
        for key in claimed.keys {
            let _ = self.store.delete(&key, None).await;
        }
    }

    async fn free_keys(&self, keys: impl IntoIterator<Item = String>) {
        for key in keys {
            let _ = self.store.delete(&key, None).await;
        }
    }

    /// Fills in and checks a Service's ClusterIP and NodePorts before it is
    /// written; `old` is the stored Service on an update.
    pub async fn assign(
        &self,
        service: &mut Value,
        old: Option<&Value>,
        claimed: &mut Claimed,
    ) -> ApiResult<()> {
        let namespace = service
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let name = service
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let owner = format!("{namespace}/{name}");
        let Some(spec) = service.get_mut("spec").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        let service_type = spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string();
        let old_ip = old
            .and_then(|o| o.pointer("/spec/clusterIP"))
            .and_then(Value::as_str)
            .filter(|ip| !ip.is_empty())
            .map(str::to_string);

        // ClusterIP.
        if service_type == "ExternalName" {
            spec.remove("clusterIP");
            spec.remove("clusterIPs");
        } else {
            let asked = spec
                .get("clusterIP")
                .and_then(Value::as_str)
                .filter(|ip| !ip.is_empty())
                .map(str::to_string)
                .or_else(|| {
                    spec.get("clusterIPs")
                        .and_then(|ips| ips.get(0))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                });
            let ip = match (asked, &old_ip) {
                (None, Some(old)) => old.clone(),
                (Some(asked), Some(old)) if &asked != old => {
                    return Err(invalid(
                        &name,
                        "spec.clusterIPs[0]",
                        format!("Invalid value: []string{{\"{asked}\"}}: may not change once set"),
                    ));
                }
                (Some(asked), _) if asked == "None" => asked,
                (Some(asked), _) => {
                    let address: Ipv4Addr = asked.parse().map_err(|_| {
                        invalid(
                            &name,
                            "spec.clusterIPs[0]",
                            format!("Invalid value: \"{asked}\": must be a valid IP address"),
                        )
                    })?;
                    // The first address is the API server's, for its
                    // own Service only.
                    let own =
                        owner == "default/kubernetes" && address == self.config.api_server_ip();
                    if !own && !self.in_range(address) {
                        return Err(invalid(
                            &name,
                            "spec.clusterIPs",
                            format!(
                                "Invalid value: []string{{\"{asked}\"}}: failed to allocate IP {asked}: provided IP is not in the valid range. The range of valid IPs is {}",
                                self.range_text()
                            ),
                        ));
                    }
                    if !self
                        .claim(format!("{IP_PREFIX}{address}"), &owner, claimed)
                        .await?
                    {
                        return Err(invalid(
                            &name,
                            "spec.clusterIPs",
                            format!(
                                "Invalid value: []string{{\"{asked}\"}}: failed to allocate IP {asked}: provided IP is already allocated"
                            ),
                        ));
                    }
                    asked
                }
                (None, None) => self.allocate_ip(&owner, claimed).await?.to_string(),
            };
            spec.insert("clusterIP".into(), json!(ip));
            spec.insert("clusterIPs".into(), json!([ip]));
            if ip != "None" {
                spec.entry("ipFamilies").or_insert(json!(["IPv4"]));
                spec.entry("ipFamilyPolicy").or_insert(json!("SingleStack"));
            }
            spec.entry("internalTrafficPolicy")
                .or_insert(json!("Cluster"));
        }

        // NodePorts.
        let wants_node_ports = matches!(service_type.as_str(), "NodePort" | "LoadBalancer");
        let old_ports: Vec<Value> = old
            .and_then(|o| o.pointer("/spec/ports"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if wants_node_ports {
            spec.entry("externalTrafficPolicy")
                .or_insert(json!("Cluster"));
        }
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for (i, port) in ports.iter_mut().enumerate() {
                let Some(port) = port.as_object_mut() else {
                    continue;
                };
                if !wants_node_ports {
                    port.remove("nodePort");
                    continue;
                }
                let asked = port
                    .get("nodePort")
                    .and_then(Value::as_u64)
                    .filter(|p| *p != 0);
                // An update keeps the node port of the same port.
                let kept = old_ports
                    .iter()
                    .find(|old| {
                        old.get("port") == port.get("port") && old.get("name") == port.get("name")
                    })
                    .and_then(|old| old.get("nodePort"))
                    .and_then(Value::as_u64);
                let number = match asked.or(kept) {
                    Some(number) => {
                        let (low, high) = self.config.node_ports;
                        if number < u64::from(low) || number > u64::from(high) {
                            return Err(invalid(
                                &name,
                                &format!("spec.ports[{i}].nodePort"),
                                format!(
                                    "Invalid value: {number}: provided port is not in the valid range. The range of valid ports is {low}-{high}"
                                ),
                            ));
                        }
                        if !self
                            .claim(format!("{PORT_PREFIX}{number}"), &owner, claimed)
                            .await?
                        {
                            return Err(invalid(
                                &name,
                                &format!("spec.ports[{i}].nodePort"),
                                format!(
                                    "Invalid value: {number}: provided port is already allocated"
                                ),
                            ));
                        }
                        number
                    }
                    None => u64::from(self.allocate_port(&owner, claimed).await?),
                };
                port.insert("nodePort".into(), json!(number));
            }
        }
        Ok(())
    }

    async fn allocate_ip(&self, owner: &str, claimed: &mut Claimed) -> ApiResult<Ipv4Addr> {
        let (base, size) = self.network();
        let usable = u64::from(size.saturating_sub(3));
        let start = random(usable);
        for step in 0..usable.min(65_536) {
            let ip = Ipv4Addr::from(base + 2 + ((start + step) % usable) as u32);
            if self
                .claim(format!("{IP_PREFIX}{ip}"), owner, claimed)
                .await?
            {
                return Ok(ip);
            }
        }
        Err(ApiError::Internal(format!(
            "failed to allocate a serviceIP: range {} is full",
            self.range_text()
        )))
    }

    async fn allocate_port(&self, owner: &str, claimed: &mut Claimed) -> ApiResult<u16> {
        let (low, high) = self.config.node_ports;
        let span = u64::from(high - low) + 1;
        let start = random(span);
        for step in 0..span {
            let port = low + ((start + step) % span) as u16;
            if self
                .claim(format!("{PORT_PREFIX}{port}"), owner, claimed)
                .await?
            {
                return Ok(port);
            }
        }
        Err(ApiError::Internal(
            "failed to allocate a nodePort: range is full".into(),
        ))
    }

    /// Frees what a stored Service held and its successor does not.
    pub async fn free_unused(&self, old: &Value, new: Option<&Value>) {
        let held = |service: Option<&Value>| -> HashSet<String> { keys_of(service) };
        let still = held(new);
        let gone: Vec<String> = held(Some(old))
            .into_iter()
            .filter(|key| !still.contains(key))
            .collect();
        self.free_keys(gone).await;
    }

    /// Frees allocations no Service holds (older than a minute).
    pub async fn repair(&self, services: &[Value]) {
        let held: HashSet<String> = services.iter().flat_map(|s| keys_of(Some(s))).collect();
        let now = now_secs();
        for prefix in [IP_PREFIX, PORT_PREFIX] {
            let Ok(listed) = self
                .store
                .list(prefix, wharf_store::ListOptions::default())
                .await
            else {
                continue;
            };
            for kv in listed.items {
                let since = serde_json::from_slice::<Value>(&kv.value)
                    .ok()
                    .and_then(|v| v["since"].as_u64())
                    .unwrap_or(0);
                if !held.contains(&kv.key) && now.saturating_sub(since) > REPAIR_GRACE.as_secs() {
                    tracing::info!(key = %kv.key, "freeing an allocation no Service holds");
                    let _ = self.store.delete(&kv.key, Some(kv.mod_revision)).await;
                }
            }
        }
    }
}

/// The allocation keys a Service holds.
fn keys_of(service: Option<&Value>) -> HashSet<String> {
    let mut keys = HashSet::new();
    let Some(spec) = service.and_then(|s| s.get("spec")) else {
        return keys;
    };
    if let Some(ip) = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .filter(|ip| ip.parse::<Ipv4Addr>().is_ok())
    {
        keys.insert(format!("{IP_PREFIX}{ip}"));
    }
    for port in spec
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(number) = port.get("nodePort").and_then(Value::as_u64) {
            keys.insert(format!("{PORT_PREFIX}{number}"));
        }
    }
    keys
}
