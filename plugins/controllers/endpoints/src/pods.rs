//! What the controllers read off pods (as `k8s.io/kubernetes/pkg/api/v1/pod`
//! and `k8s.io/endpointslice/util` do): whether a pod is an endpoint at
//! all, whether it is ready, its addresses, and the port a Service port
//! targets on it.

use wharf_sdk::k8s_openapi::api::core::v1::{ObjectReference, Pod, Service, ServicePort};
use wharf_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::ip::IpFamily;

pub use wharf_sdk::pods::{is_ready, is_terminal, phase};

/// Being deleted (`deletionTimestamp` set), though maybe still serving.
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// `status.podIP`, when set.
pub fn primary_ip(pod: &Pod) -> Option<&str> {
    pod.status
        .as_ref()
        .and_then(|status| status.pod_ip.as_deref())
        .filter(|ip| !ip.is_empty())
}

/// Every address of the pod: `status.podIPs`, or `status.podIP` alone when
/// only that is set.
pub fn ips(pod: &Pod) -> Vec<&str> {
    let listed: Vec<&str> = pod
        .status
        .as_ref()
        .and_then(|status| status.pod_ips.as_ref())
        .into_iter()
        .flatten()
        .map(|pod_ip| pod_ip.ip.as_str())
        .filter(|ip| !ip.is_empty())
        .collect();
    if listed.is_empty() {
        primary_ip(pod).into_iter().collect()
    } else {
        listed
    }
}

/// The pod's first address of `family`.
pub fn ip_of_family(pod: &Pod, family: IpFamily) -> Option<&str> {
    ips(pod)
        .into_iter()
        .find(|ip| IpFamily::of(ip) == Some(family))
}

/// Whether the pod is an endpoint at all (`ShouldPodBeInEndpoints`): it has
/// an IP, is not terminal, and is not being deleted unless
/// `include_terminating`.
pub fn should_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    !is_terminal(pod) && !ips(pod).is_empty() && (include_terminating || !is_terminating(pod))
}

/// The port number `service_port` targets on `pod` (`FindPort`): its
/// `targetPort` when a number (the Service port itself when unset); when a
/// name, the container port of that name and protocol among the pod's
/// containers, then its sidecars (init containers that always restart).
/// `None` when the pod has no such port.
pub fn find_port(pod: &Pod, service_port: &ServicePort) -> Option<i32> {
    let name = match &service_port.target_port {
        None => return Some(service_port.port),
        Some(IntOrString::Int(number)) => return Some(*number),
        Some(IntOrString::String(name)) => name,
    };
    let protocol = protocol_or_tcp(service_port.protocol.as_deref());
    let spec = pod.spec.as_ref()?;
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|container| container.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|container| container.ports.iter().flatten())
        .find(|port| {
            port.name.as_deref() == Some(name.as_str())
                && protocol_or_tcp(port.protocol.as_deref()) == protocol
        })
        .map(|port| port.container_port)
}

/// A protocol as the API server defaults it.
pub fn protocol_or_tcp(protocol: Option<&str>) -> &str {
    protocol.filter(|p| !p.is_empty()).unwrap_or("TCP")
}

/// The hostname the pod is published under for this Service
/// (`ShouldSetHostname`): its `spec.hostname` when its `spec.subdomain`
/// names the Service, in the Service's namespace.
pub fn hostname_for(pod: &Pod, service: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let hostname = spec.hostname.as_deref().filter(|h| !h.is_empty())?;
    let same_namespace = pod.metadata.namespace == service.metadata.namespace;
    let subdomain_is_service = spec.subdomain.is_some() && spec.subdomain == service.metadata.name;
    (same_namespace && subdomain_is_service).then(|| hostname.to_owned())
}

/// `spec.nodeName`, when the pod is bound.
pub fn node_name(pod: &Pod) -> Option<String> {
    pod.spec
        .as_ref()
        .and_then(|spec| spec.node_name.clone())
        .filter(|node| !node.is_empty())
}

/// The reference an address or endpoint carries to its pod.
pub fn target_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".to_owned()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..ObjectReference::default()
    }
}
