//! The Endpoints controller (`pkg/controller/endpoint`): one `Endpoints`
//! object named like the Service, holding the selected pods' addresses in
//! subsets of addresses that offer the same ports.

use std::collections::BTreeMap;

use wharf_sdk::k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Pod, Service, ServicePort,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wharf_sdk::prelude::*;

use crate::names::{ANNOTATION_OVER_CAPACITY, TRUNCATED, reasons};
use crate::{ip, pods, service};

/// At most this many addresses, ready and not, in one Endpoints
/// (`maxCapacity`); beyond it they are truncated and the object annotated
/// [`ANNOTATION_OVER_CAPACITY`].
pub const MAX_CAPACITY: usize = 1000;

/// Brings the Service's Endpoints in line with `pods` (the pods its
/// selector matches): creates them, or updates them when they differ.
/// A failed write is recorded as a Warning event on the Endpoints.
pub fn sync(ctx: &Context, service: &Service, pods: &[Pod]) -> Result<(), Error> {
    let namespace = service.metadata.namespace.as_deref();
    let name = service.metadata.name.as_deref().unwrap_or_default();
    let current = ctx.get::<Endpoints>(namespace, name)?;
    let desired = desired(service, pods, current.as_ref());
    match current.map(normalized) {
        Some(current) if current == normalized(desired.clone()) => {
            ctx.trace(format!("Endpoints {name}: up to date"));
            Ok(())
        }
        Some(_) => ctx.update(&desired).map(drop).inspect_err(|error| {
            ctx.event(
                &desired,
                EventType::Warning,
                reasons::FAILED_TO_UPDATE_ENDPOINT,
                format!(
                    "Failed to update endpoint {}/{name}: {error}",
                    namespace.unwrap_or_default()
                ),
            );
        }),
        None => ctx
            .create(namespace, &desired)
            .map(drop)
            .inspect_err(|error| {
                ctx.event(
                    &desired,
                    EventType::Warning,
                    reasons::FAILED_TO_CREATE_ENDPOINT,
                    format!(
                        "Failed to create endpoint for service {}/{name}: {error}",
                        namespace.unwrap_or_default()
                    ),
                );
            }),
    }
}

/// Deletes the Endpoints of a Service that is gone (they carry no owner
/// reference, so nothing else would). Nothing to delete is no error.
pub fn delete_for_service(ctx: &Context, namespace: &str, name: &str) -> Result<(), Error> {
    if ctx.get::<Endpoints>(Some(namespace), name)?.is_none() {
        return Ok(());
    }
    match ctx.delete::<Endpoints>(Some(namespace), name) {
        Err(error) if !error.is_not_found() => Err(error),
        _ => Ok(()),
    }
}

/// The Endpoints the Service should have: `current` (or a new object named
/// like the Service) with the subsets of `pods`, the Service's labels and
/// the over-capacity annotation exactly when addresses were dropped. Other
/// annotations of `current` are kept.
pub fn desired(service: &Service, pods: &[Pod], current: Option<&Endpoints>) -> Endpoints {
    let mut subsets = subsets(service, pods);
    let truncated = truncate(&mut subsets);
    let mut endpoints = current.cloned().unwrap_or_else(|| Endpoints {
        metadata: ObjectMeta {
            name: service.metadata.name.clone(),
            namespace: service.metadata.namespace.clone(),
            ..ObjectMeta::default()
        },
        subsets: None,
    });
    endpoints.subsets = non_empty(subsets);
    endpoints.metadata.labels = non_empty_map(service::propagated_labels(service));
    let mut annotations = endpoints.metadata.annotations.take().unwrap_or_default();
    if truncated {
        annotations.insert(ANNOTATION_OVER_CAPACITY.to_owned(), TRUNCATED.to_owned());
    } else {
        annotations.remove(ANNOTATION_OVER_CAPACITY);
    }
    endpoints.metadata.annotations = non_empty_map(annotations);
    endpoints
}

/// One address offering one port (or, for a headless Service without
/// ports, no port), ready or not: what `addEndpointSubset` adds.
struct Offer {
    address: EndpointAddress,
    port: Option<EndpointPort>,
    ready: bool,
}

/// The subsets for `pods` (the `syncService` loop, then `RepackSubsets`):
/// each pod that should be an endpoint, at its address of the Service's IP
/// family, offers each Service port its pod resolves; addresses offering
/// the same ports share a subset. An address that is not ready for one of
/// its ports is not ready for all of them.
///
/// Sorted: addresses by IP then pod uid, as Kubernetes does; ports by name,
/// number and protocol, and subsets by their addresses (Kubernetes orders
/// these two by hash, which is just as arbitrary and as stable).
pub fn subsets(service: &Service, pods: &[Pod]) -> Vec<EndpointSubset> {
    let publish_not_ready = service::publishes_not_ready_addresses(service);
    let service_ports: &[ServicePort] = service
        .spec
        .as_ref()
        .and_then(|spec| spec.ports.as_deref())
        .unwrap_or_default();
    let mut offers = Vec::new();
    for pod in pods {
        if !pods::should_be_in_endpoints(pod, publish_not_ready) {
            continue;
        }
        let family = service::endpoints_family(service, pod);
        let Some(ip) = pods::ip_of_family(pod, family) else {
            continue; // no address of the Service's family
        };
        let address = EndpointAddress {
            ip: ip.to_owned(),
            hostname: pods::hostname_for(pod, service),
            node_name: pods::node_name(pod),
            target_ref: Some(pods::target_ref(pod)),
        };
        let ready = publish_not_ready || pods::is_ready(pod);
        if service_ports.is_empty() {
            // Only a headless Service may have no ports.
            if service::is_headless(service) {
                offers.push(Offer {
                    address,
                    port: None,
                    ready,
                });
            }
            continue;
        }
        for service_port in service_ports {
            if let Some(number) = pods::find_port(pod, service_port) {
                offers.push(Offer {
                    address: address.clone(),
                    port: Some(endpoint_port(service_port, number)),
                    ready,
                });
            }
        }
    }
    repack(offers)
}

/// The Endpoints port for a Service port resolved to `number` on a pod
/// (`endpointPortFromServicePort`).
fn endpoint_port(service_port: &ServicePort, number: i32) -> EndpointPort {
    EndpointPort {
        name: service_port.name.clone().filter(|name| !name.is_empty()),
        port: number,
        protocol: service_port.protocol.clone(),
        app_protocol: service_port.app_protocol.clone(),
    }
}

/// An address's identity and sort key: IP (numerically), then pod uid.
type AddressKey = ((bool, [u8; 16], String), String);

fn address_key(address: &EndpointAddress) -> AddressKey {
    let (invalid, bytes, ip) = ip::sort_key(&address.ip);
    let uid = address
        .target_ref
        .as_ref()
        .and_then(|reference| reference.uid.clone())
        .unwrap_or_default();
    ((invalid, bytes, ip.to_owned()), uid)
}

/// A port's identity and sort key.
type PortKey = (String, i32, String, Option<String>);

fn port_key(port: &EndpointPort) -> PortKey {
    (
        port.name.clone().unwrap_or_default(),
        port.port,
        pods::protocol_or_tcp(port.protocol.as_deref()).to_owned(),
        port.app_protocol.clone(),
    )
}

/// `RepackSubsets`: for each port, the addresses offering it and whether
/// each is ready; then one subset per distinct set of addresses, with every
/// port that set offers.
fn repack(offers: Vec<Offer>) -> Vec<EndpointSubset> {
    let mut addresses: BTreeMap<AddressKey, EndpointAddress> = BTreeMap::new();
    // The port (`None` for the no-port sentinel) → address → ready.
    type Readiness = BTreeMap<AddressKey, bool>;
    let mut by_port: BTreeMap<Option<PortKey>, (Option<EndpointPort>, Readiness)> = BTreeMap::new();
    for offer in offers {
        let key = address_key(&offer.address);
        addresses.entry(key.clone()).or_insert(offer.address);
        let (_, readiness) = by_port
            .entry(offer.port.as_ref().map(port_key))
            .or_insert_with(|| (offer.port.clone(), BTreeMap::new()));
        // Not ready trumps ready.
        readiness
            .entry(key)
            .and_modify(|ready| *ready = *ready && offer.ready)
            .or_insert(offer.ready);
    }
    let mut ports_by_members: BTreeMap<Vec<(AddressKey, bool)>, Vec<EndpointPort>> =
        BTreeMap::new();
    for (port, readiness) in by_port.into_values() {
        let ports = ports_by_members
            .entry(readiness.into_iter().collect())
            .or_default();
        ports.extend(port);
    }
    ports_by_members
        .into_iter()
        .map(|(members, mut ports)| {
            ports.sort_by_key(port_key);
            let (ready, not_ready): (Vec<_>, Vec<_>) =
                members.into_iter().partition(|(_, ready)| *ready);
            let resolve = |members: Vec<(AddressKey, bool)>| -> Vec<EndpointAddress> {
                members
                    .into_iter()
                    .map(|(key, _)| addresses[&key].clone())
                    .collect()
            };
            EndpointSubset {
                addresses: non_empty(resolve(ready)),
                not_ready_addresses: non_empty(resolve(not_ready)),
                ports: non_empty(ports),
            }
        })
        .collect()
}

/// Keeps at most [`MAX_CAPACITY`] addresses (`truncateEndpoints`): ready
/// ones first; each subset keeps its proportional share, rounded up.
/// Returns whether anything was dropped. Subsets left with no address at
/// all are dropped too.
pub fn truncate(subsets: &mut Vec<EndpointSubset>) -> bool {
    fn count(addresses: &Option<Vec<EndpointAddress>>) -> usize {
        addresses.as_ref().map_or(0, Vec::len)
    }
    let total_ready: usize = subsets.iter().map(|s| count(&s.addresses)).sum();
    let total_not_ready: usize = subsets.iter().map(|s| count(&s.not_ready_addresses)).sum();
    if total_ready + total_not_ready <= MAX_CAPACITY {
        return false;
    }
    let truncate_ready = total_ready > MAX_CAPACITY;
    let (max, total) = if truncate_ready {
        (MAX_CAPACITY, total_ready)
    } else {
        (MAX_CAPACITY - total_ready, total_not_ready)
    };
    let mut can_be_added = max;
    for subset in subsets.iter_mut() {
        let list = if truncate_ready {
            subset.not_ready_addresses = None;
            &mut subset.addresses
        } else {
            &mut subset.not_ready_addresses
        };
        let in_subset = count(list);
        let to_be_added = (in_subset * max).div_ceil(total).min(can_be_added);
        if let Some(addresses) = list.as_mut() {
            addresses.truncate(to_be_added);
        }
        can_be_added -= count(list);
        if count(list) == 0 {
            *list = None;
        }
    }
    subsets.retain(|s| count(&s.addresses) + count(&s.not_ready_addresses) > 0);
    true
}

/// The object with empty lists and maps as absent, the form the API server
/// gives back, so that comparing two says whether a write would change
/// anything.
fn normalized(mut endpoints: Endpoints) -> Endpoints {
    let metadata = &mut endpoints.metadata;
    metadata.labels = metadata.labels.take().and_then(non_empty_map);
    metadata.annotations = metadata.annotations.take().and_then(non_empty_map);
    endpoints.subsets = endpoints.subsets.take().and_then(|subsets| {
        non_empty(
            subsets
                .into_iter()
                .map(|subset| EndpointSubset {
                    addresses: subset.addresses.and_then(non_empty),
                    not_ready_addresses: subset.not_ready_addresses.and_then(non_empty),
                    ports: subset.ports.and_then(non_empty),
                })
                .collect(),
        )
    });
    endpoints
}

fn non_empty<T>(list: Vec<T>) -> Option<Vec<T>> {
    (!list.is_empty()).then_some(list)
}

fn non_empty_map(map: BTreeMap<String, String>) -> Option<BTreeMap<String, String>> {
    (!map.is_empty()).then_some(map)
}
