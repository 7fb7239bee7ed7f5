//! What the controllers read off a Service.

use std::collections::{BTreeMap, BTreeSet};

use wharf_sdk::k8s_openapi::api::core::v1::{Pod, Service, ServiceSpec};

use crate::ip::IpFamily;

/// `spec.clusterIP` of a headless Service.
pub const CLUSTER_IP_NONE: &str = "None";

fn spec(service: &Service) -> Option<&ServiceSpec> {
    service.spec.as_ref()
}

/// The selector, when the Service has one. A Service without a selector
/// (absent or empty: the API server drops an empty map) gets its endpoints
/// from someone else, and the controllers leave it alone.
pub fn selector(service: &Service) -> Option<&BTreeMap<String, String>> {
    spec(service)?
        .selector
        .as_ref()
        .filter(|selector| !selector.is_empty())
}

/// `type: ExternalName`: a DNS alias, with no endpoints.
pub fn is_external_name(service: &Service) -> bool {
    spec(service).and_then(|spec| spec.type_.as_deref()) == Some("ExternalName")
}

/// `spec.publishNotReadyAddresses`: every selected pod counts as ready.
pub fn publishes_not_ready_addresses(service: &Service) -> bool {
    spec(service)
        .and_then(|spec| spec.publish_not_ready_addresses)
        .unwrap_or(false)
}

fn cluster_ip(service: &Service) -> &str {
    spec(service)
        .and_then(|spec| spec.cluster_ip.as_deref())
        .unwrap_or("")
}

/// The Service has a cluster IP (`helper.IsServiceIPSet`): it is neither
/// headless (`None`) nor without one. Wharf does not allocate cluster IPs
/// yet, so most Services count as headless.
pub fn is_ip_set(service: &Service) -> bool {
    let cluster_ip = cluster_ip(service);
    !cluster_ip.is_empty() && cluster_ip != CLUSTER_IP_NONE
}

/// A headless Service (`clusterIP: None`), which may have no ports.
pub fn is_headless(service: &Service) -> bool {
    cluster_ip(service) == CLUSTER_IP_NONE
}

fn ip_families(service: &Service) -> impl Iterator<Item = IpFamily> + '_ {
    spec(service)
        .and_then(|spec| spec.ip_families.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|family| IpFamily::from_service_family(family))
}

/// The family of the addresses in the Service's Endpoints for `pod`
/// (`podToEndpointAddressForService`): the first of `spec.ipFamilies`;
/// without them, the cluster IP's; without one either, the pod's own IP's.
pub fn endpoints_family(service: &Service, pod: &Pod) -> IpFamily {
    if let Some(family) = ip_families(service).next() {
        return family;
    }
    if is_ip_set(service) {
        return IpFamily::of(cluster_ip(service)).unwrap_or(IpFamily::V4);
    }
    crate::pods::primary_ip(pod)
        .and_then(IpFamily::of)
        .unwrap_or(IpFamily::V4)
}

/// The address types the Service's EndpointSlices have
/// (`getAddressTypesForService`): one per entry of `spec.ipFamilies`;
/// without them, the cluster IP's family.
///
/// Kubernetes assumes both families for a Service with neither (a Service
/// written before dual-stack, not yet defaulted). The Wharf API server
/// defaults neither, so that would give every Service an empty IPv6 slice:
/// here such a Service gets IPv4 only.
pub fn address_types(service: &Service) -> BTreeSet<IpFamily> {
    let families: BTreeSet<IpFamily> = ip_families(service).collect();
    if !families.is_empty() {
        return families;
    }
    if is_ip_set(service) {
        return BTreeSet::from([IpFamily::of(cluster_ip(service)).unwrap_or(IpFamily::V4)]);
    }
    BTreeSet::from([IpFamily::V4])
}

/// The labels the Service's Endpoints and EndpointSlices carry besides their
/// own: the Service's labels, with the headless label set exactly when the
/// Service has no cluster IP.
pub fn propagated_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = service.metadata.labels.clone().unwrap_or_default();
    if is_ip_set(service) {
        labels.remove(crate::names::LABEL_HEADLESS);
    } else {
        labels.insert(crate::names::LABEL_HEADLESS.to_owned(), String::new());
    }
    labels
}
