//! Pod networks, as kubelets wire them: each pod gets its own network
//! namespace (`ip netns add`), and the standard CNI plugins from Debian's
//! `containernetworking-plugins` put an `eth0` in it on the node's bridge
//! (`bridge`, with addresses from the node's pod CIDR by `host-local`, the
//! bridge as the pods' gateway, outgoing traffic masqueraded) and bring up
//! its `lo` (`loopback`). The agent starts a pod's processes inside with
//! [`PodNetwork::exec_prefix`] (`ip netns exec …`), so they share localhost
//! and the pod's IP.
//!
//! The plugins are run as the CNI spec says: the network configuration on
//! stdin, `CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME`,
//! `CNI_PATH` in the environment, the result (or error) as JSON on stdout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// Where the plugins are and how the node's pod network looks.
#[derive(Clone, Debug)]
pub struct CniConfig {
    /// The plugin binaries (`/usr/lib/cni` on Debian).
    pub plugin_dir: PathBuf,
    /// The node's pod CIDR (`spec.podCIDR`), e.g. `10.244.0.0/24`.
    pub pod_cidr: String,
    /// The Linux bridge pods attach to.
    pub bridge: String,
    /// Where host-local keeps its allocations.
    pub state_dir: PathBuf,
}

impl CniConfig {
    /// Debian's plugins, bridge `wharf0`, state under `data_dir`.
    pub fn new(pod_cidr: &str, data_dir: &Path) -> Self {
        Self {
            plugin_dir: PathBuf::from("/usr/lib/cni"),
            pod_cidr: pod_cidr.to_string(),
            bridge: "wharf0".into(),
            state_dir: data_dir.join("cni"),
        }
    }

    fn bridge_config(&self) -> Value {
        json!({
            "cniVersion": "1.0.0",
            "name": "wharf-pods",
            "type": "bridge",
            "bridge": self.bridge,
            "isGateway": true,
            "ipMasq": true,
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": self.pod_cidr}]],
                "routes": [{"dst": "0.0.0.0/0"}],
                "dataDir": self.state_dir.join("ipam"),
            },
        })
    }

    fn loopback_config(&self) -> Value {
        json!({"cniVersion": "1.0.0", "name": "wharf-lo", "type": "loopback"})
    }

    /// The portmap plugin's configuration for `ports`, chained after the
    /// bridge (`previous`: its result, for ADD).
    fn portmap_config(&self, ports: &[PortMapping], previous: Option<&Value>) -> Value {
        let mappings: Vec<Value> = ports
            .iter()
            .map(|port| {
                let mut mapping = json!({
                    "hostPort": port.host_port,
                    "containerPort": port.container_port,
                    "protocol": port.protocol.to_lowercase(),
                });
                if let Some(host_ip) = port.host_ip.as_ref().filter(|ip| !ip.is_empty()) {
                    mapping["hostIP"] = json!(host_ip);
                }
                mapping
            })
            .collect();
        let mut config = json!({
            "cniVersion": "1.0.0",
            "name": "wharf-pods",
            "type": "portmap",
            "capabilities": {"portMappings": true},
            "snat": true,
            "runtimeConfig": {"portMappings": mappings},
        });
        if let Some(previous) = previous {
            config["prevResult"] = previous.clone();
        }
        config
    }
}

/// A `hostPort` of a pod: traffic to the node's `host_port` goes to the
/// pod's `container_port` (the portmap plugin's DNAT rules).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// Only this address of the node (none: all of them).
    #[serde(default)]
    pub host_ip: Option<String>,
}

/// Why a pod network could not be set up or torn down.
#[derive(Debug, thiserror::Error)]
pub enum CniError {
    #[error("{command}: {message}")]
    Command { command: String, message: String },
    #[error("CNI plugin {plugin} failed: {message}")]
    Plugin { plugin: String, message: String },
    #[error("CNI plugin {plugin} gave no IPv4 address: {result}")]
    NoAddress { plugin: String, result: String },
}

/// A pod's network: its namespace and address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodNetwork {
    /// The namespace's name (`ip netns` name).
    pub netns: String,
    /// The pod's IPv4 address.
    pub ip: String,
}

impl PodNetwork {
    /// The command prefix that runs a program inside the pod's namespace.
    pub fn exec_prefix(&self) -> [String; 4] {
        [
            "ip".into(),
            "netns".into(),
            "exec".into(),
            self.netns.clone(),
        ]
    }

    fn netns_path(&self) -> String {
        format!("/var/run/netns/{}", self.netns)
    }
}

/// The namespace name for a pod (at most 15+ characters stay readable).
pub fn netns_name(pod_uid: &str) -> String {
    let short: String = pod_uid
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect();
    format!("wharf-{short}")
}

fn run(command: &mut Command) -> Result<String, CniError> {
    let output = command.output().map_err(|e| CniError::Command {
        command: format!("{command:?}"),
        message: e.to_string(),
    })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(CniError::Command {
            command: format!("{command:?}"),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

fn plugin(
    config: &CniConfig,
    network: &Value,
    command: &str,
    container_id: &str,
    netns_path: &str,
    ifname: &str,
) -> Result<Value, CniError> {
    let name = network["type"].as_str().unwrap_or_default().to_string();
    let mut child = Command::new(config.plugin_dir.join(&name))
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", container_id)
        .env("CNI_NETNS", netns_path)
        .env("CNI_IFNAME", ifname)
        .env("CNI_PATH", &config.plugin_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CniError::Plugin {
            plugin: name.clone(),
            message: format!("{}: {e}", config.plugin_dir.join(&name).display()),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(network.to_string().as_bytes());
    }
    let output = child.wait_with_output().map_err(|e| CniError::Plugin {
        plugin: name.clone(),
        message: e.to_string(),
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        // A CNI error is JSON with `msg` and `details`.
        let message = serde_json::from_str::<Value>(&stdout)
            .ok()
            .and_then(|e| {
                let msg = e["msg"].as_str()?.to_string();
                Some(match e["details"].as_str() {
                    Some(details) if !details.is_empty() => format!("{msg}: {details}"),
                    _ => msg,
                })
            })
            .unwrap_or_else(|| format!("{stdout}{}", String::from_utf8_lossy(&output.stderr)));
        return Err(CniError::Plugin {
            plugin: name,
            message,
        });
    }
    Ok(serde_json::from_str(&stdout).unwrap_or(Value::Null))
}

/// The gateway the bridge plugin gives the bridge: the CIDR's first address.
fn gateway_of(cidr: &str) -> Option<String> {
    let (address, prefix) = cidr.split_once('/')?;
    let address: std::net::Ipv4Addr = address.parse().ok()?;
    let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 30)?;
    let network = u32::from(address) & (u32::MAX << (32 - prefix));
    Some(format!(
        "{}/{prefix}",
        std::net::Ipv4Addr::from(network + 1)
    ))
}

/// A bridge left by an earlier cluster with another pod CIDR keeps its old
/// address, and the bridge plugin refuses it: drop the stale addresses.
fn forget_stale_bridge_address(config: &CniConfig) {
    // Once per bridge and CIDR in this process: what is stale is so from
    // before the agent started.
    static CHECKED: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());
    {
        let mut checked = CHECKED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (config.bridge.clone(), config.pod_cidr.clone());
        if checked.contains(&key) {
            return;
        }
        checked.push(key);
    }
    let Some(gateway) = gateway_of(&config.pod_cidr) else {
        return;
    };
    let Ok(shown) =
        run(Command::new("ip").args(["-4", "-o", "addr", "show", "dev", &config.bridge]))
    else {
        return; // no bridge yet
    };
    let stale: Vec<&str> = shown
        .lines()
        .filter_map(|line| line.split_whitespace().skip_while(|w| *w != "inet").nth(1))
        .filter(|address| *address != gateway)
        .collect();
    for address in stale {
        tracing::info!(
            bridge = config.bridge,
            address,
            "removing a stale pod-network address from the bridge"
        );
        let _ = run(Command::new("ip").args(["addr", "del", address, "dev", &config.bridge]));
    }
}

/// Creates the pod's namespace and wires it; on failure nothing is left.
pub fn setup(config: &CniConfig, pod_uid: &str) -> Result<PodNetwork, CniError> {
    setup_named(config, &netns_name(pod_uid), pod_uid, &[])
}

/// Creates the namespace `netns` and wires it as CNI container
/// `container_id` (a pod's UID, or a warm network's own id); on failure
/// nothing is left.
pub fn setup_named(
    config: &CniConfig,
    netns: &str,
    container_id: &str,
    ports: &[PortMapping],
) -> Result<PodNetwork, CniError> {
    enable_forwarding();
    forget_stale_bridge_address(config);
    let pod_uid = container_id;
    let netns = netns.to_string();
    let network = PodNetwork {
        netns: netns.clone(),
        ip: String::new(),
    };
    // A namespace left by an earlier attempt is reused.
    if !Path::new(&network.netns_path()).exists() {
        run(Command::new("ip").args(["netns", "add", &netns]))?;
    }
    let result = plugin(
        config,
        &config.loopback_config(),
        "ADD",
        pod_uid,
        &network.netns_path(),
        "lo",
    )
    .and_then(|_| {
        plugin(
            config,
            &config.bridge_config(),
            "ADD",
            pod_uid,
            &network.netns_path(),
            "eth0",
        )
    });
    // The pod's host ports, chained after the bridge.
    let result = result.and_then(|result| {
        if ports.is_empty() {
            return Ok(result);
        }
        plugin(
            config,
            &config.portmap_config(ports, Some(&result)),
            "ADD",
            pod_uid,
            &network.netns_path(),
            "eth0",
        )
        .map(|_| result)
    });
    let result = match result {
        Ok(result) => result,
        Err(error) => {
            let _ = teardown_named(config, &network.netns, pod_uid, ports);
            return Err(error);
        }
    };
    let ip = result["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|ip| ip["address"].as_str())
        .find_map(|cidr| {
            let address = cidr.split('/').next()?;
            address.parse::<std::net::Ipv4Addr>().ok()?;
            Some(address.to_string())
        });
    match ip {
        Some(ip) => Ok(PodNetwork { netns, ip }),
        None => {
            let _ = teardown_named(config, &netns, pod_uid, ports);
            Err(CniError::NoAddress {
                plugin: "bridge".into(),
                result: result.to_string(),
            })
        }
    }
}

/// Unwires the pod and deletes its namespace (its address goes back to
/// the pool); a pod already gone is fine.
pub fn teardown(config: &CniConfig, pod_uid: &str) -> Result<(), CniError> {
    teardown_named(config, &netns_name(pod_uid), pod_uid, &[])
}

/// Unwires CNI container `container_id` and deletes the namespace `netns`.
pub fn teardown_named(
    config: &CniConfig,
    netns: &str,
    container_id: &str,
    ports: &[PortMapping],
) -> Result<(), CniError> {
    let pod_uid = container_id;
    let path = format!("/var/run/netns/{netns}");
    let exists = Path::new(&path).exists();
    let netns_arg = if exists { path.as_str() } else { "" };
    let portmap = if ports.is_empty() {
        Ok(Value::Null)
    } else {
        plugin(
            config,
            &config.portmap_config(ports, None),
            "DEL",
            pod_uid,
            netns_arg,
            "eth0",
        )
    };
    let bridge = plugin(
        config,
        &config.bridge_config(),
        "DEL",
        pod_uid,
        netns_arg,
        "eth0",
    );
    let _ = plugin(
        config,
        &config.loopback_config(),
        "DEL",
        pod_uid,
        netns_arg,
        "lo",
    );
    if exists {
        run(Command::new("ip").args(["netns", "delete", netns]))?;
    }
    bridge.and(portmap).map(drop)
}

/// Pods reach the world through the node: IPv4 forwarding on.
fn enable_forwarding() {
    if let Err(error) = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1") {
        tracing::warn!(%error, "cannot enable IPv4 forwarding; pods cannot leave the node");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_are_short_and_stable() {
        assert_eq!(
            netns_name("6f1d1f5c-1f7e-4b2a-9a53-0c2d9b1c8e11"),
            "wharf-6f1d1f5c1f7e4b2a"
        );
    }

    #[test]
    fn the_gateway_is_the_first_address_of_the_cidr() {
        assert_eq!(
            gateway_of("10.244.3.0/24").as_deref(),
            Some("10.244.3.1/24")
        );
        assert_eq!(
            gateway_of("10.244.3.7/24").as_deref(),
            Some("10.244.3.1/24")
        );
        assert_eq!(gateway_of("nonsense"), None);
    }

    #[test]
    fn the_bridge_network_hands_out_the_node_cidr() {
        let config = CniConfig::new("10.244.3.0/24", Path::new("/var/lib/wharf"));
        let bridge = config.bridge_config();
        assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], "10.244.3.0/24");
        assert_eq!(bridge["bridge"], "wharf0");
        assert_eq!(bridge["isGateway"], true);
    }
}
