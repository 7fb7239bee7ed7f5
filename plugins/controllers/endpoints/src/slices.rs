//! The EndpointSlice controller (`pkg/controller/endpointslice` and the
//! reconciler of `k8s.io/endpointslice`): the selected pods as endpoints,
//! in slices per address type and per set of resolved ports, at most
//! `max_endpoints_per_slice` each, owned by the Service.
//!
//! [`plan`] is the whole decision (pure, as the reconciler's
//! `reconcileByAddressType`, `reconcileByPortMapping` and `finalize`);
//! [`sync`] reads the slices, plans and writes.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use wharf_sdk::k8s_openapi::api::core::v1::{Pod, Service};
use wharf_sdk::k8s_openapi::api::discovery::v1::{
    Endpoint, EndpointConditions, EndpointPort, EndpointSlice,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wharf_sdk::prelude::*;

use crate::ip::{self, IpFamily};
use crate::names::{CONTROLLER_NAME, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, reasons};
use crate::{pods, service};

/// What a sync writes: slices to create (by `generateName`), to update (in
/// place, guarded by their resourceVersion) and to delete.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub create: Vec<EndpointSlice>,
    pub update: Vec<EndpointSlice>,
    pub delete: Vec<EndpointSlice>,
}

impl Plan {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }

    fn append(&mut self, mut other: Plan) {
        self.create.append(&mut other.create);
        self.update.append(&mut other.update);
        self.delete.append(&mut other.delete);
    }
}

/// Brings the Service's EndpointSlices in line with `pods` (the pods its
/// selector matches). A failed write ends the sync with its error, recorded
/// as a Warning event on the Service.
pub fn sync(
    ctx: &Context,
    service: &Service,
    pods: &[Pod],
    max_endpoints_per_slice: usize,
) -> Result<(), Error> {
    let name = service.metadata.name.as_deref().unwrap_or_default();
    let namespace = service.metadata.namespace.as_deref();
    // Slices being deleted are on their way out (`dropEndpointSlicesPendingDeletion`).
    let existing: Vec<EndpointSlice> = managed_slices(ctx, namespace, name)?
        .into_iter()
        .filter(|slice| slice.metadata.deletion_timestamp.is_none())
        .collect();
    let plan = plan(service, pods, existing, max_endpoints_per_slice);
    if plan.is_empty() {
        ctx.trace(format!("EndpointSlices of Service {name}: up to date"));
        return Ok(());
    }
    apply(ctx, service, plan).inspect_err(|error| {
        ctx.event(
            service,
            EventType::Warning,
            reasons::FAILED_TO_UPDATE_ENDPOINT_SLICES,
            format!(
                "Error updating Endpoint Slices for Service {}/{name}: {error}",
                namespace.unwrap_or_default()
            ),
        );
    })
}

/// Deletes the slices this controller made for a Service that is gone.
/// Kubernetes leaves them to the garbage collector (they are owned by the
/// Service); Wharf has none yet.
pub fn delete_for_service(ctx: &Context, namespace: &str, name: &str) -> Result<(), Error> {
    for slice in managed_slices(ctx, Some(namespace), name)? {
        let owned_by_the_service = controller_of(&slice)
            .is_some_and(|owner| owner.kind == "Service" && owner.name == name);
        if owned_by_the_service {
            delete(ctx, Some(namespace), &slice)?;
        }
    }
    Ok(())
}

/// The slices labelled as this controller's for the Service `name`.
fn managed_slices(
    ctx: &Context,
    namespace: Option<&str>,
    name: &str,
) -> Result<Vec<EndpointSlice>, Error> {
    let selector = format!("{LABEL_SERVICE_NAME}={name},{LABEL_MANAGED_BY}={CONTROLLER_NAME}");
    ctx.list(namespace, &ListParams::default().labels(selector))
}

/// Writes the plan: creates (none while the Service is being deleted, not
/// to race its garbage collection), then updates, then deletes.
fn apply(ctx: &Context, service: &Service, plan: Plan) -> Result<(), Error> {
    let namespace = service.metadata.namespace.as_deref();
    if service.metadata.deletion_timestamp.is_none() {
        for slice in &plan.create {
            ctx.create(namespace, slice)?;
        }
    }
    for slice in &plan.update {
        ctx.update(slice)?;
    }
    for slice in &plan.delete {
        delete(ctx, namespace, slice)?;
    }
    Ok(())
}

/// Deletes a slice; one already gone is no error.
fn delete(ctx: &Context, namespace: Option<&str>, slice: &EndpointSlice) -> Result<(), Error> {
    let name = slice.metadata.name.as_deref().unwrap_or_default();
    match ctx.delete::<EndpointSlice>(namespace, name) {
        Err(error) if !error.is_not_found() => Err(error),
        _ => Ok(()),
    }
}

/// What to write so that the Service's slices hold exactly the endpoints of
/// `pods`, given its `existing` managed slices (`Reconciler.Reconcile`):
/// slices of an address type the Service no longer has go; each address
/// type it has is planned on its own.
pub fn plan(
    service: &Service,
    pods: &[Pod],
    existing: Vec<EndpointSlice>,
    max_endpoints_per_slice: usize,
) -> Plan {
    let address_types = service::address_types(service);
    let mut by_type: BTreeMap<IpFamily, Vec<EndpointSlice>> = BTreeMap::new();
    let mut unsupported = Vec::new();
    for slice in existing {
        match IpFamily::from_address_type(&slice.address_type)
            .filter(|family| address_types.contains(family))
        {
            Some(family) => by_type.entry(family).or_default().push(slice),
            None => unsupported.push(slice),
        }
    }
    let max = max_endpoints_per_slice.max(1);
    let mut plan = Plan::default();
    for family in address_types {
        let existing = by_type.remove(&family).unwrap_or_default();
        plan.append(plan_address_type(service, pods, existing, family, max));
    }
    plan.delete.extend(unsupported);
    plan
}

/// `reconcileByAddressType` and `finalize`: slices not owned by this
/// Service go; endpoints are grouped by their resolved ports, each group
/// planned against the existing slices with the same ports; groups no pod
/// has any more go; a Service with no endpoints keeps one empty
/// placeholder slice. Last, a create and a delete become one update.
fn plan_address_type(
    service: &Service,
    pods: &[Pod],
    existing: Vec<EndpointSlice>,
    family: IpFamily,
    max: usize,
) -> Plan {
    let existing_count = existing.len();
    let mut plan = Plan::default();
    let mut existing_by_ports: BTreeMap<PortsKey, Vec<EndpointSlice>> = BTreeMap::new();
    for slice in existing {
        if owned_by(&slice, service) {
            let key = ports_key(slice.ports.as_deref().unwrap_or_default());
            existing_by_ports.entry(key).or_default().push(slice);
        } else {
            plan.delete.push(slice);
        }
    }

    type Group = (Vec<EndpointPort>, BTreeMap<EndpointKey, Endpoint>);
    let mut desired: BTreeMap<PortsKey, Group> = BTreeMap::new();
    for pod in pods {
        // Terminating pods stay, with their conditions saying so.
        if !pods::should_be_in_endpoints(pod, true) {
            continue;
        }
        let ports = endpoint_ports(service, pod);
        let (_, endpoints) = desired
            .entry(ports_key(&ports))
            .or_insert_with(|| (ports, BTreeMap::new()));
        let endpoint = pod_to_endpoint(pod, service, family);
        if !endpoint.addresses.is_empty() {
            endpoints.insert(endpoint_key(&endpoint), endpoint);
        }
    }

    for (key, (ports, endpoints)) in desired {
        let existing = existing_by_ports.remove(&key).unwrap_or_default();
        plan.append(plan_port_group(
            service, existing, endpoints, &ports, family, max,
        ));
    }
    for slices in existing_by_ports.into_values() {
        plan.delete.extend(slices);
    }

    if existing_count == plan.delete.len() && plan.create.is_empty() {
        let placeholder = new_slice(service, Vec::new(), family);
        if plan.delete.len() == 1 && is_equivalent_placeholder(&plan.delete[0], &placeholder) {
            // It would be deleted and made again: keep it.
            plan.delete.clear();
        } else {
            plan.create.push(placeholder);
        }
    }

    // Rather than create one slice and delete another, update the one
    // that would go (same address type, owned by this Service).
    let mut index = 0;
    while index < plan.delete.len() && !plan.create.is_empty() {
        let reusable = &plan.delete[index];
        let new = plan.create.last().expect("checked non-empty");
        if reusable.address_type == new.address_type && owned_by(reusable, service) {
            let reused = plan.delete.remove(index);
            let mut slice = plan.create.pop().expect("checked non-empty");
            slice.metadata.name = reused.metadata.name;
            slice.metadata.generate_name = reused.metadata.generate_name;
            slice.metadata.uid = reused.metadata.uid;
            slice.metadata.resource_version = reused.metadata.resource_version;
            plan.update.push(slice);
        } else {
            index += 1;
        }
    }
    plan
}

/// `reconcileByPortMapping`, for the slices of one set of ports:
///
/// 1. each existing slice keeps the endpoints still desired (updated when
///    they changed); one left empty goes; one whose labels differ from the
///    Service's is updated;
/// 2. the remaining endpoints fill the slices being updated anyway,
///    fullest first;
/// 3. then, while fewer than a full slice remain, the unchanged slice they
///    fill closest to full; else a new slice.
///
/// Kubernetes takes endpoints and slices in hash order; here endpoints go
/// by pod namespace and name, and ties between slices by name.
fn plan_port_group(
    service: &Service,
    existing: Vec<EndpointSlice>,
    mut desired: BTreeMap<EndpointKey, Endpoint>,
    ports: &[EndpointPort],
    family: IpFamily,
    max: usize,
) -> Plan {
    let labels = slice_labels(service);
    let mut slices: BTreeMap<String, EndpointSlice> = BTreeMap::new();
    let mut unchanged = BTreeSet::new();
    let mut to_update = BTreeSet::new();
    let mut to_delete = BTreeSet::new();

    for mut slice in existing {
        let name = slice.metadata.name.clone().unwrap_or_default();
        let current = slice.endpoints.take().unwrap_or_default();
        let mut kept = Vec::with_capacity(current.len());
        let mut endpoint_changed = false;
        for endpoint in &current {
            if let Some(wanted) = desired.remove(&endpoint_key(endpoint)) {
                endpoint_changed |= wanted != *endpoint;
                kept.push(wanted);
            }
        }
        let labels_changed = slice.metadata.labels.as_ref() != Some(&labels);
        if endpoint_changed || kept.len() != current.len() {
            if kept.is_empty() {
                slice.endpoints = Some(current);
                to_delete.insert(name.clone());
            } else {
                slice.endpoints = Some(kept);
                slice.metadata.labels = Some(labels.clone());
                to_update.insert(name.clone());
            }
        } else if labels_changed {
            slice.endpoints = Some(current);
            slice.metadata.labels = Some(labels.clone());
            to_update.insert(name.clone());
        } else {
            slice.endpoints = Some(current);
            unchanged.insert(name.clone());
        }
        slices.insert(name, slice);
    }

    // 2. Fill the slices that are written anyway, fullest first.
    if !desired.is_empty() && !to_update.is_empty() {
        let mut names: Vec<&String> = to_update.iter().collect();
        names.sort_by_key(|name| (Reverse(endpoint_count(&slices[*name])), *name));
        for name in names {
            let slice = slices.get_mut(name).expect("planned slices are known");
            fill(slice, &mut desired, max);
        }
    }

    // 3. Fit what remains into an unchanged slice, or new ones.
    let mut create = Vec::new();
    while !desired.is_empty() {
        let target = if desired.len() < max {
            slice_to_fill(&slices, &unchanged, desired.len(), max)
        } else {
            None
        };
        match target {
            Some(name) => {
                let slice = slices.get_mut(&name).expect("planned slices are known");
                fill(slice, &mut desired, max);
                unchanged.remove(&name);
                to_update.insert(name);
            }
            None => {
                let mut slice = new_slice(service, ports.to_vec(), family);
                fill(&mut slice, &mut desired, max);
                create.push(slice);
            }
        }
    }

    let mut take = |names: BTreeSet<String>| -> Vec<EndpointSlice> {
        names
            .into_iter()
            .filter_map(|name| slices.remove(&name))
            .collect()
    };
    Plan {
        create,
        update: take(to_update),
        delete: take(to_delete),
    }
}

/// Moves desired endpoints into `slice` until it holds `max`.
fn fill(slice: &mut EndpointSlice, desired: &mut BTreeMap<EndpointKey, Endpoint>, max: usize) {
    let endpoints = slice.endpoints.get_or_insert_with(Vec::new);
    while endpoints.len() < max {
        let Some((_, endpoint)) = desired.pop_first() else {
            break;
        };
        endpoints.push(endpoint);
    }
}

fn endpoint_count(slice: &EndpointSlice) -> usize {
    slice.endpoints.as_ref().map_or(0, Vec::len)
}

/// `getSliceToFill`: the unchanged slice that `count` more endpoints fill
/// closest to `max` without passing it.
fn slice_to_fill(
    slices: &BTreeMap<String, EndpointSlice>,
    unchanged: &BTreeSet<String>,
    count: usize,
    max: usize,
) -> Option<String> {
    let mut closest: Option<(usize, &String)> = None;
    for name in unchanged {
        let Some(room) = max.checked_sub(count + endpoint_count(&slices[name])) else {
            continue;
        };
        if closest.is_none_or(|(best, _)| room < best) {
            closest = Some((room, name));
            if room == 0 {
                break;
            }
        }
    }
    closest.map(|(_, name)| name.clone())
}

/// A new slice for the Service (`newEndpointSlice`): `<service>-` and a
/// generated suffix, controlled by the Service, labelled for it.
pub fn new_slice(service: &Service, ports: Vec<EndpointPort>, family: IpFamily) -> EndpointSlice {
    let name = service.metadata.name.as_deref().unwrap_or_default();
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: service.metadata.namespace.clone(),
            labels: Some(slice_labels(service)),
            owner_references: Some(vec![owner_reference(service)]),
            ..ObjectMeta::default()
        },
        address_type: family.address_type().to_owned(),
        endpoints: Some(Vec::new()),
        ports: Some(ports),
    }
}

/// The labels of the Service's slices (`setEndpointSliceLabels`): the
/// Service's own, the headless label when it has no cluster IP, the
/// Service's name and this controller's.
pub fn slice_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = service::propagated_labels(service);
    let name = service.metadata.name.clone().unwrap_or_default();
    labels.insert(LABEL_SERVICE_NAME.to_owned(), name);
    labels.insert(LABEL_MANAGED_BY.to_owned(), CONTROLLER_NAME.to_owned());
    labels
}

/// The slice has an owner reference to this Service (by uid).
fn owned_by(slice: &EndpointSlice, service: &Service) -> bool {
    let uid = service.metadata.uid.as_deref().unwrap_or_default();
    slice
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|owner| owner.uid == uid && owner.kind == "Service" && owner.api_version == "v1")
}

/// Whether `slice` is a placeholder just like `placeholder` would be
/// (`placeholderSliceCompare`): same namespace, labels and address type, no
/// endpoints, no ports.
fn is_equivalent_placeholder(slice: &EndpointSlice, placeholder: &EndpointSlice) -> bool {
    slice.metadata.namespace == placeholder.metadata.namespace
        && slice.metadata.labels.clone().unwrap_or_default()
            == placeholder.metadata.labels.clone().unwrap_or_default()
        && slice.address_type == placeholder.address_type
        && endpoint_count(slice) == 0
        && slice.ports.as_ref().is_none_or(Vec::is_empty)
}

/// The slice ports for `pod` (`getEndpointPorts`): each Service port the
/// pod resolves, in the Service's order.
pub fn endpoint_ports(service: &Service, pod: &Pod) -> Vec<EndpointPort> {
    let service_ports = service
        .spec
        .as_ref()
        .and_then(|spec| spec.ports.as_deref())
        .unwrap_or_default();
    service_ports
        .iter()
        .filter_map(|service_port| {
            let number = pods::find_port(pod, service_port)?;
            Some(EndpointPort {
                name: Some(service_port.name.clone().unwrap_or_default()),
                port: Some(number),
                protocol: Some(pods::protocol_or_tcp(service_port.protocol.as_deref()).to_owned()),
                app_protocol: service_port.app_protocol.clone(),
            })
        })
        .collect()
}

/// The endpoint for `pod` among the Service's `family` addresses
/// (`podToEndpoint`): `serving` when the pod is ready, `terminating` when
/// it is being deleted, `ready` when serving and not terminating (always,
/// when the Service publishes not-ready addresses). No addresses when the
/// pod has none of that family.
pub fn pod_to_endpoint(pod: &Pod, service: &Service, family: IpFamily) -> Endpoint {
    let serving = pods::is_ready(pod);
    let terminating = pods::is_terminating(pod);
    let ready = service::publishes_not_ready_addresses(service) || (serving && !terminating);
    Endpoint {
        addresses: pods::ips(pod)
            .into_iter()
            .filter(|ip| IpFamily::of(ip) == Some(family))
            .filter_map(ip::canonical)
            .collect(),
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hostname: pods::hostname_for(pod, service),
        node_name: pods::node_name(pod),
        target_ref: Some(pods::target_ref(pod)),
        ..Endpoint::default()
    }
}

/// A set of ports, whatever their order (`PortMapKey`).
type PortsKey = Vec<(String, i32, String, Option<String>)>;

fn ports_key(ports: &[EndpointPort]) -> PortsKey {
    let mut key: PortsKey = ports
        .iter()
        .map(|port| {
            (
                port.name.clone().unwrap_or_default(),
                port.port.unwrap_or_default(),
                pods::protocol_or_tcp(port.protocol.as_deref()).to_owned(),
                port.app_protocol.clone(),
            )
        })
        .collect();
    key.sort();
    key
}

/// An endpoint's identity (`hashEndpoint`): its pod (namespace, name), its
/// hostname and its addresses. Ordered by pod first.
type EndpointKey = (String, String, String, Vec<String>);

fn endpoint_key(endpoint: &Endpoint) -> EndpointKey {
    let reference = endpoint.target_ref.as_ref();
    let mut addresses = endpoint.addresses.clone();
    addresses.sort();
    (
        reference
            .and_then(|r| r.namespace.clone())
            .unwrap_or_default(),
        reference.and_then(|r| r.name.clone()).unwrap_or_default(),
        endpoint.hostname.clone().unwrap_or_default(),
        addresses,
    )
}
