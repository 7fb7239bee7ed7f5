//! What the scheduler reads from a Pod: its key, priority, scheduler, node,
//! and the requests and host ports policies see (kube-scheduler's
//! `computePodResourceRequest`: the sum of the containers, or the largest
//! init container if more, plus the overhead).

use serde_json::Value;
use wharf_plugin_abi::policy::{HostPort, Pod, Resources, SCHEDULING_SPEC_FIELDS, parse_quantity};

/// kube-scheduler's defaults for a container without requests, for scoring.
pub const DEFAULT_MILLI_CPU_REQUEST: u64 = 100;
pub const DEFAULT_MEMORY_REQUEST: u64 = 200 << 20;

/// `namespace/name`.
pub fn key_of(pod: &Value) -> String {
    format!(
        "{}/{}",
        text(pod, "/metadata/namespace"),
        text(pod, "/metadata/name")
    )
}

pub fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The node a pod is assigned to, if any.
pub fn node_name(pod: &Value) -> Option<&str> {
    Some(text(pod, "/spec/nodeName")).filter(|n| !n.is_empty())
}

/// Whether the pod has finished (it no longer takes resources).
pub fn is_terminal(pod: &Value) -> bool {
    matches!(text(pod, "/status/phase"), "Succeeded" | "Failed")
}

pub fn is_deleting(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

/// `spec.schedulerName`, `default-scheduler` when absent.
pub fn scheduler_name(pod: &Value) -> &str {
    match text(pod, "/spec/schedulerName") {
        "" => "default-scheduler",
        name => name,
    }
}

/// `spec.priority` (0 when absent).
pub fn priority(pod: &Value) -> i64 {
    pod.pointer("/spec/priority")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

pub fn labels(pod: &Value) -> Vec<(String, String)> {
    pod.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// What a pod takes from its node: (requests, non-zero requests, host ports).
pub fn usage_of(pod: &Value) -> (Resources, Resources, Vec<HostPort>) {
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let containers = spec
        .get("containers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let init_containers = spec
        .get("initContainers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut requests = Resources::default();
    let mut non_zero = Resources::default();
    let mut host_ports = Vec::new();
    for container in containers {
        let (r, nz) = container_requests(container);
        requests = requests.plus(r);
        non_zero = non_zero.plus(nz);
        for port in container
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(host_port) = port
                .get("hostPort")
                .and_then(Value::as_u64)
                .filter(|p| *p > 0 && *p <= u64::from(u16::MAX))
            else {
                continue;
            };
            let ip = match text(port, "/hostIP") {
                "" => "0.0.0.0",
                ip => ip,
            };
            let protocol = match text(port, "/protocol") {
                "" => "TCP",
                protocol => protocol,
            };
            host_ports.push(HostPort {
                ip: ip.to_string(),
                protocol: protocol.to_string(),
                port: host_port as u16,
            });
        }
    }
    for container in init_containers {
        let (r, nz) = container_requests(container);
        requests.milli_cpu = requests.milli_cpu.max(r.milli_cpu);
        requests.memory_bytes = requests.memory_bytes.max(r.memory_bytes);
        non_zero.milli_cpu = non_zero.milli_cpu.max(nz.milli_cpu);
        non_zero.memory_bytes = non_zero.memory_bytes.max(nz.memory_bytes);
    }
    if let Some(overhead) = spec.get("overhead") {
        let extra = Resources {
            milli_cpu: quantity(overhead.get("cpu"), 1000),
            memory_bytes: quantity(overhead.get("memory"), 1),
            pods: 0,
        };
        requests = requests.plus(extra);
        non_zero = non_zero.plus(extra);
    }
    requests.pods = 1;
    non_zero.pods = 1;
    (requests, non_zero, host_ports)
}

fn quantity(value: Option<&Value>, scale: u64) -> u64 {
    value
        .and_then(Value::as_str)
        .and_then(|q| parse_quantity(q, scale))
        .or_else(|| value.and_then(Value::as_u64).map(|n| n * scale))
        .unwrap_or(0)
}

/// A container's requests, and the same with the non-zero defaults.
fn container_requests(container: &Value) -> (Resources, Resources) {
    let requests = container.pointer("/resources/requests");
    let cpu = requests.and_then(|r| r.get("cpu"));
    let memory = requests.and_then(|r| r.get("memory"));
    let actual = Resources {
        milli_cpu: quantity(cpu, 1000),
        memory_bytes: quantity(memory, 1),
        pods: 0,
    };
    let non_zero = Resources {
        milli_cpu: if cpu.is_some() {
            actual.milli_cpu
        } else {
            DEFAULT_MILLI_CPU_REQUEST
        },
        memory_bytes: if memory.is_some() {
            actual.memory_bytes
        } else {
            DEFAULT_MEMORY_REQUEST
        },
        pods: 0,
    };
    (actual, non_zero)
}

/// The part of the pod's spec policies read (`Pod::spec`), as JSON.
pub fn scheduling_spec(pod: &Value) -> String {
    let mut subset = serde_json::Map::new();
    if let Some(spec) = pod.get("spec") {
        for field in SCHEDULING_SPEC_FIELDS {
            if let Some(value) = spec.get(*field).filter(|v| !v.is_null()) {
                subset.insert((*field).to_string(), value.clone());
            }
        }
    }
    Value::Object(subset).to_string()
}

/// The pod as policies receive it, without the whole pod's JSON (which
/// `PreparedPod` adds for the policies that want it).
pub fn policy_pod(pod: &Value) -> Pod {
    let (requests, non_zero_requests, host_ports) = usage_of(pod);
    Pod {
        uid: text(pod, "/metadata/uid").to_string(),
        namespace: text(pod, "/metadata/namespace").to_string(),
        name: text(pod, "/metadata/name").to_string(),
        labels: labels(pod),
        requests,
        non_zero_requests,
        host_ports,
        spec: scheduling_spec(pod),
        json: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_sum_containers_take_the_largest_init_container_and_add_overhead() {
        let pod = json!({"spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
                {"name": "b", "resources": {"requests": {"cpu": "250m"}},
                 "ports": [{"containerPort": 80, "hostPort": 8080}]},
            ],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "1", "memory": "32Mi"}}}],
            "overhead": {"cpu": "10m"},
        }});
        let (requests, non_zero, ports) = usage_of(&pod);
        assert_eq!(requests.milli_cpu, 1010);
        assert_eq!(requests.memory_bytes, 64 << 20);
        assert_eq!(requests.pods, 1);
        // b has no memory request: 200 MiB counts for scoring.
        assert_eq!(non_zero.memory_bytes, (64 << 20) + (200 << 20));
        assert_eq!(
            ports,
            [HostPort {
                ip: "0.0.0.0".into(),
                protocol: "TCP".into(),
                port: 8080
            }]
        );
    }

    #[test]
    fn a_pod_without_requests_takes_only_a_pod_slot() {
        let (requests, non_zero, _) = usage_of(&json!({"spec": {"containers": [{"name": "a"}]}}));
        assert_eq!(
            requests,
            Resources {
                milli_cpu: 0,
                memory_bytes: 0,
                pods: 1
            }
        );
        assert_eq!(non_zero.milli_cpu, DEFAULT_MILLI_CPU_REQUEST);
    }
}
