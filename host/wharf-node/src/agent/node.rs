//! The Node: registration (create, or adopt one that exists), the Lease
//! heartbeat in `kube-node-lease`, and the node status with the kubelet's
//! conditions, refreshed every `node_status_period`.
//!
//! What the Node says comes from this machine: CPUs, memory
//! (`/proc/meminfo`), OS image (`/etc/os-release`), kernel, machine and
//! boot IDs. Allocatable memory is capacity less the kubelet's default
//! hard eviction threshold (100Mi); nothing else is reserved. Not yet:
//! ephemeral-storage (needs statvfs), disk and PID pressure (reported
//! False), hugepages.

use std::sync::Arc;

use serde_json::{Value, json};
use wharf_client::{ApiError, ApiResult, Patch, now_rfc3339};

use super::env::str_at;
use super::{AgentError, Shared};

const LEASE_NAMESPACE: &str = "kube-node-lease";
const LEASE_DURATION_SECONDS: u64 = 40;
pub(super) const KUBELET_VERSION: &str = "v1.37.0";
/// The kubelet's default `evictionHard: memory.available<100Mi`, in KiB.
const EVICTION_MEMORY_KIB: u64 = 100 * 1024;
const MAX_PODS: &str = "110";

/// Creates the Node, or adopts the one that exists (labels and pod CIDR
/// completed, status rewritten). Returns its UID.
pub(super) async fn register(shared: &Shared) -> Result<String, AgentError> {
    let name = &shared.config.node_name;
    let failed = |source| AgentError::RegisterFailed {
        name: name.clone(),
        source: Box::new(source),
    };
    let nodes = &shared.resources.nodes;
    let machine = Machine::read(shared.runtime.version(), shared.config.node_ip.clone());
    let node = new_node(shared, &machine);
    let uid = match shared.client.create(nodes, None, &node).await {
        Ok(created) => created,
        Err(ApiError::AlreadyExists { .. }) => {
            tracing::info!(node = name, "adopting the existing node");
            let wanted = node["metadata"]["labels"].clone();
            let pod_cidr = shared.config.pod_cidr_hint.clone();
            (shared.client)
                .read_modify_write(nodes, None, name, false, |node| {
                    let before = node.clone();
                    complete_node(node, &wanted, pod_cidr.as_deref());
                    *node != before
                })
                .await
                .map_err(failed)?;
            write_status(shared, &machine).await.map_err(failed)?
        }
        Err(source) => return Err(failed(source)),
    };
    str_at(&uid, "/metadata/uid")
        .map(str::to_string)
        .ok_or_else(|| failed(ApiError::Internal("the node has no uid".into())))
}

/// Renews the Lease every `heartbeat` and rewrites the node status every
/// `node_status_period`, until the agent stops.
pub(super) async fn heartbeat(shared: Arc<Shared>, node_uid: String) {
    let name = &shared.config.node_name;
    let mut lease = tokio::time::interval(shared.config.heartbeat);
    let mut status = tokio::time::interval(shared.config.node_status_period);
    for ticker in [&mut lease, &mut status] {
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    // The status was written at registration.
    status.tick().await;
    let machine = Machine::read(shared.runtime.version(), shared.config.node_ip.clone());
    loop {
        tokio::select! {
            _ = lease.tick() => {
                if let Err(error) = renew_lease(&shared, &node_uid).await {
                    tracing::warn!(node = name, %error, "cannot renew the node's lease");
                }
            }
            _ = status.tick() => match write_status(&shared, &machine).await {
                Ok(_) => {}
                Err(ApiError::NotFound { .. }) => {
                    tracing::warn!(node = name, "the node was deleted; restart the agent to register it again");
                }
                Err(error) => tracing::warn!(node = name, %error, "cannot update the node status"),
            },
        }
    }
}

/// What the agent reads of this machine once.
struct Machine {
    cpus: usize,
    memory_kib: u64,
    arch: &'static str,
    os_image: String,
    kernel: String,
    machine_id: String,
    system_uuid: String,
    boot_id: String,
    /// The runtime driver's name and version (`process://1.0`).
    runtime_version: String,
    /// The Node's InternalIP.
    node_ip: String,
}

impl Machine {
    fn read(runtime_version: String, node_ip: String) -> Self {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .map(|text| text.trim().to_string())
                .unwrap_or_default()
        };
        let machine_id = Some(read("/etc/machine-id"))
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| read("/var/lib/dbus/machine-id"));
        let system_uuid = Some(read("/sys/class/dmi/id/product_uuid"))
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| uuid_form(&machine_id));
        Self {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_kib: meminfo_kib("MemTotal").unwrap_or(0),
            arch: kubernetes_arch(std::env::consts::ARCH),
            os_image: os_image(&read("/etc/os-release")),
            kernel: read("/proc/sys/kernel/osrelease"),
            machine_id,
            system_uuid,
            boot_id: read("/proc/sys/kernel/random/boot_id"),
            runtime_version,
            node_ip,
        }
    }
}

/// The Node this agent registers.
fn new_node(shared: &Shared, machine: &Machine) -> Value {
    let name = &shared.config.node_name;
    let mut node = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": machine.arch,
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": machine.arch,
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {},
        "status": reported_status(name, machine, &json!({}), &now_rfc3339()),
    });
    if let Some(port) = shared.config.kubelet_port {
        node["status"]["daemonEndpoints"] = json!({"kubeletEndpoint": {"Port": port}});
    }
    if let Some(cidr) = &shared.config.pod_cidr_hint {
        node["spec"] = json!({"podCIDR": cidr, "podCIDRs": [cidr]});
    }
    node
}

/// Gives an existing Node the labels a kubelet sets and the pod CIDR hint
/// if it has no pod CIDR.
fn complete_node(node: &mut Value, labels: &Value, pod_cidr: Option<&str>) {
    if !node["metadata"]["labels"].is_object() {
        node["metadata"]["labels"] = json!({});
    }
    for (key, value) in labels.as_object().into_iter().flatten() {
        node["metadata"]["labels"][key] = value.clone();
    }
    if let Some(cidr) = pod_cidr
        && str_at(node, "/spec/podCIDR").is_none_or(str::is_empty)
    {
        node["spec"]["podCIDR"] = json!(cidr);
        node["spec"]["podCIDRs"] = json!([cidr]);
    }
}

/// The node status a kubelet reports; conditions keep their transition
/// times while their status holds, and conditions of others are kept.
fn reported_status(name: &str, machine: &Machine, current: &Value, now: &str) -> Value {
    let memory_pressure = meminfo_kib("MemAvailable").is_some_and(|kib| kib < EVICTION_MEMORY_KIB);
    let existing = current
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let condition = |kind: &str, status: bool, reason: &str, message: &str| {
        let status = if status { "True" } else { "False" };
        let since = (existing.iter())
            .find(|c| c["type"] == kind && c["status"] == status)
            .and_then(|c| c.get("lastTransitionTime"))
            .cloned()
            .unwrap_or_else(|| json!(now));
        json!({"type": kind, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": now, "lastTransitionTime": since})
    };
    let mut conditions = vec![
        if memory_pressure {
            condition(
                "MemoryPressure",
                true,
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
            )
        } else {
            condition(
                "MemoryPressure",
                false,
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            )
        },
        condition(
            "DiskPressure",
            false,
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        condition(
            "PIDPressure",
            false,
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        condition(
            "Ready",
            true,
            "KubeletReady",
            "kubelet is posting ready status",
        ),
    ];
    let ours = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"];
    conditions.extend(
        existing
            .iter()
            .filter(|c| !ours.iter().any(|kind| c["type"] == *kind))
            .cloned(),
    );
    let mut status = current.as_object().cloned().unwrap_or_default();
    let allocatable_kib = machine.memory_kib.saturating_sub(EVICTION_MEMORY_KIB);
    let fields = [
        (
            "capacity",
            json!({"cpu": machine.cpus.to_string(), "memory": format!("{}Ki", machine.memory_kib), "pods": MAX_PODS}),
        ),
        (
            "allocatable",
            json!({"cpu": machine.cpus.to_string(), "memory": format!("{allocatable_kib}Ki"), "pods": MAX_PODS}),
        ),
        ("conditions", json!(conditions)),
        (
            "addresses",
            json!([{"type": "InternalIP", "address": machine.node_ip}, {"type": "Hostname", "address": name}]),
        ),
        (
            "nodeInfo",
            json!({
                "machineID": machine.machine_id,
                "systemUUID": machine.system_uuid,
                "bootID": machine.boot_id,
                "kernelVersion": machine.kernel,
                "osImage": machine.os_image,
                "containerRuntimeVersion": machine.runtime_version,
                "kubeletVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": machine.arch,
            }),
        ),
    ];
    for (field, value) in fields {
        status.insert(field.into(), value);
    }
    Value::Object(status)
}

/// Writes the reported status over the Node's (status subresource).
async fn write_status(shared: &Shared, machine: &Machine) -> ApiResult<Value> {
    let name = &shared.config.node_name;
    let mut written = None;
    (shared.client)
        .read_modify_write(&shared.resources.nodes, None, name, true, |node| {
            let current = node.get("status").cloned().unwrap_or_else(|| json!({}));
            node["status"] = reported_status(name, machine, &current, &now_rfc3339());
            if let Some(port) = shared.config.kubelet_port {
                node["status"]["daemonEndpoints"] = json!({"kubeletEndpoint": {"Port": port}});
            }
            written = Some(node.clone());
            true
        })
        .await?;
    written.ok_or_else(|| ApiError::Internal("the node status was not written".into()))
}

async fn renew_lease(shared: &Shared, node_uid: &str) -> ApiResult<()> {
    let name = &shared.config.node_name;
    let leases = &shared.resources.leases;
    let spec = json!({
        "holderIdentity": name,
        "leaseDurationSeconds": LEASE_DURATION_SECONDS,
        "renewTime": wharf_client::now_micro_time(),
    });
    let renew = Patch::Merge(json!({"spec": spec}));
    match shared
        .client
        .patch(leases, Some(LEASE_NAMESPACE), name, &renew, false)
        .await
    {
        Err(ApiError::NotFound { .. }) => {}
        other => return other.map(drop),
    }
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": name, "namespace": LEASE_NAMESPACE,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}],
        },
        "spec": spec,
    });
    match shared
        .client
        .create(leases, Some(LEASE_NAMESPACE), &lease)
        .await
    {
        Ok(_) | Err(ApiError::AlreadyExists { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}

/// A DNS-1123 subdomain, as node names are.
pub(super) fn valid_node_name(name: &str) -> bool {
    let label_ok = |label: &str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    name.len() <= 253 && name.split('.').all(label_ok)
}

/// A `/proc/meminfo` field in KiB.
fn meminfo_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&text, field)
}

fn parse_meminfo(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == field).then(|| value.split_whitespace().next()?.parse().ok())?
    })
}

/// `PRETTY_NAME` of an os-release file, unquoted.
fn os_image(os_release: &str) -> String {
    os_release
        .lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map(|value| value.trim().trim_matches(['"', '\'']).to_string())
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| "Linux".into())
}

/// Go's `GOARCH` for Rust's architecture name.
fn kubernetes_arch(rust_arch: &'static str) -> &'static str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// 32 hex digits as a UUID (8-4-4-4-12); anything else as it is.
fn uuid_form(id: &str) -> String {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return id.to_string();
    }
    format!(
        "{}-{}-{}-{}-{}",
        &id[..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_files_parse() {
        let meminfo = "MemTotal:       16318788 kB\nMemFree:         1021468 kB\nMemAvailable:    9000000 kB\n";
        assert_eq!(parse_meminfo(meminfo, "MemTotal"), Some(16318788));
        assert_eq!(parse_meminfo(meminfo, "MemAvailable"), Some(9000000));
        assert_eq!(parse_meminfo(meminfo, "Mem"), None);
        assert_eq!(
            os_image("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\n"),
            "Debian GNU/Linux 13 (trixie)"
        );
        assert_eq!(os_image(""), "Linux");
        assert_eq!(kubernetes_arch("x86_64"), "amd64");
        assert_eq!(kubernetes_arch("aarch64"), "arm64");
        assert_eq!(
            uuid_form("0123456789abcdef0123456789abcdef"),
            "01234567-89ab-cdef-0123-456789abcdef"
        );
    }

    #[test]
    fn node_names_are_dns_subdomains() {
        for good in ["node-a", "n1.example.com", "a"] {
            assert!(valid_node_name(good), "{good}");
        }
        for bad in ["", "Node", "-a", "a..b", "a_b"] {
            assert!(!valid_node_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_reported_status_keeps_other_conditions_and_transition_times() {
        let machine = Machine {
            cpus: 4,
            memory_kib: 1024 * 1024,
            arch: "amd64",
            os_image: "Debian".into(),
            kernel: "6.1".into(),
            machine_id: "m".into(),
            system_uuid: "s".into(),
            boot_id: "b".into(),
            runtime_version: "process://1.0".into(),
            node_ip: "127.0.0.1".into(),
        };
        let current = json!({"conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "then"},
            {"type": "NetworkUnavailable", "status": "False"},
        ], "images": []});
        let status = reported_status("n1", &machine, &current, "now");
        assert_eq!(
            status["capacity"],
            json!({"cpu": "4", "memory": "1048576Ki", "pods": "110"})
        );
        assert_eq!(status["allocatable"]["memory"], "946176Ki");
        assert_eq!(
            status["addresses"][1],
            json!({"type": "Hostname", "address": "n1"})
        );
        assert_eq!(status["images"], json!([]));
        let conditions = status["conditions"].as_array().unwrap();
        let types: Vec<&str> = conditions
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "MemoryPressure",
                "DiskPressure",
                "PIDPressure",
                "Ready",
                "NetworkUnavailable"
            ]
        );
        assert_eq!(conditions[3]["lastTransitionTime"], "then");
        assert_eq!(conditions[3]["lastHeartbeatTime"], "now");
        assert_eq!(conditions[3]["reason"], "KubeletReady");
    }
}
