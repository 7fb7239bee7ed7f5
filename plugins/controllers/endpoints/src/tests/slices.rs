//! The EndpointSlices: contents, placeholders, grouping by ports, filling
//! and splitting, address types, ownership, and writes kept to what changed.

use wharf_sdk::k8s_openapi::api::core::v1::{Pod, Service};
use wharf_sdk::k8s_openapi::api::discovery::v1::{EndpointPort, EndpointSlice};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use wharf_sdk::prelude::*;
use wharf_sdk::serde_json::json;
use wharf_sdk::testing::FakeCluster;

use super::builders::{NS, Target, labels, pod, port, service, service_uid};
use super::{KEY, cluster, reconcile, slices, writes};
use crate::EndpointsController;
use crate::names::{CONTROLLER_NAME, LABEL_HEADLESS, LABEL_MANAGED_BY, LABEL_SERVICE_NAME};

/// Each endpoint of the slice as (address, ready, serving, terminating).
fn conditions(slice: &EndpointSlice) -> Vec<(String, bool, bool, bool)> {
    slice
        .endpoints
        .iter()
        .flatten()
        .map(|endpoint| {
            let conditions = endpoint.conditions.clone().unwrap_or_default();
            (
                endpoint.addresses.join(","),
                conditions.ready.unwrap_or_default(),
                conditions.serving.unwrap_or_default(),
                conditions.terminating.unwrap_or_default(),
            )
        })
        .collect()
}

/// Each slice as (address type, `name:port` ports, addresses).
fn layout(fake: &FakeCluster) -> Vec<(String, Vec<String>, Vec<String>)> {
    slices(fake)
        .iter()
        .map(|slice| {
            let ports = slice
                .ports
                .iter()
                .flatten()
                .map(|port| {
                    format!(
                        "{}:{}",
                        port.name.clone().unwrap_or_default(),
                        port.port.unwrap_or_default()
                    )
                })
                .collect();
            let addresses = slice
                .endpoints
                .iter()
                .flatten()
                .map(|endpoint| endpoint.addresses.join(","))
                .collect();
            (slice.address_type.clone(), ports, addresses)
        })
        .collect()
}

fn slice_names(fake: &FakeCluster) -> Vec<String> {
    slices(fake)
        .iter()
        .map(|slice| slice.metadata.name.clone().unwrap_or_default())
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

/// A controller with at most `max` endpoints per slice.
fn controller_with_slices_of(max: usize) -> EndpointsController {
    let mut controller = EndpointsController::default();
    controller
        .configure(&json!({ "maxEndpointsPerSlice": max }))
        .unwrap();
    controller
}

fn replace_pod(fake: &FakeCluster, pod: super::builders::PodBuilder) {
    let pod = pod.build();
    let name = pod.metadata.name.clone().unwrap();
    fake.modify::<Pod>(Some(NS), &name, |stored| *stored = pod);
}

#[test]
fn a_slice_holds_every_endpoint_with_its_conditions() {
    let fake = cluster(
        service("web").labels(&[("team", "a")]),
        vec![
            pod("a").ip("10.0.0.1").ready(),
            pod("b").ip("10.0.0.2").node("node-2"),
            pod("c").ip("10.0.0.3").ready().terminating(),
            pod("d").ready(),
            pod("e").ip("10.0.0.5").ready().phase("Succeeded"),
        ],
    );
    reconcile(&fake).unwrap();
    let slices = slices(&fake);
    assert_eq!(slices.len(), 1);
    let slice = &slices[0];
    let metadata = &slice.metadata;
    assert!(metadata.name.as_ref().unwrap().starts_with("web-"));
    assert_eq!(metadata.generate_name.as_deref(), Some("web-"));
    assert_eq!(
        metadata.labels,
        Some(labels(&[
            ("team", "a"),
            (LABEL_HEADLESS, ""),
            (LABEL_SERVICE_NAME, "web"),
            (LABEL_MANAGED_BY, CONTROLLER_NAME),
        ]))
    );
    assert_eq!(
        metadata.owner_references,
        Some(vec![OwnerReference {
            api_version: "v1".to_owned(),
            kind: "Service".to_owned(),
            name: "web".to_owned(),
            uid: service_uid("web"),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }])
    );
    assert_eq!(slice.address_type, "IPv4");
    assert_eq!(
        slice.ports,
        Some(vec![EndpointPort {
            name: Some("http".to_owned()),
            port: Some(8080),
            protocol: Some("TCP".to_owned()),
            app_protocol: None,
        }])
    );
    assert_eq!(
        conditions(slice),
        [
            ("10.0.0.1".to_owned(), true, true, false),
            ("10.0.0.2".to_owned(), false, false, false),
            // Terminating and still serving: listed, but not ready.
            ("10.0.0.3".to_owned(), false, true, true),
        ]
    );
    let endpoints = slice.endpoints.as_ref().unwrap();
    let nodes: Vec<_> = endpoints.iter().map(|e| e.node_name.as_deref()).collect();
    assert_eq!(nodes, [Some("node-1"), Some("node-2"), Some("node-1")]);
    let target = endpoints[1].target_ref.as_ref().unwrap();
    assert_eq!(
        (
            target.kind.as_deref(),
            target.namespace.as_deref(),
            target.name.as_deref()
        ),
        (Some("Pod"), Some(NS), Some("b"))
    );
    assert_eq!(target.uid.as_deref(), Some("uid-pod-b"));
}

#[test]
fn publishing_not_ready_addresses_makes_every_endpoint_ready() {
    let fake = cluster(
        service("web").publish_not_ready_addresses(),
        vec![
            pod("a").ip("10.0.0.1"),
            pod("b").ip("10.0.0.2").terminating(),
        ],
    );
    reconcile(&fake).unwrap();
    assert_eq!(
        conditions(&slices(&fake)[0]),
        [
            ("10.0.0.1".to_owned(), true, false, false),
            ("10.0.0.2".to_owned(), true, false, true),
        ]
    );
}

#[test]
fn a_service_without_endpoints_keeps_one_placeholder_slice() {
    let fake = cluster(service("web"), vec![pod("a")]);
    reconcile(&fake).unwrap();
    assert_eq!(layout(&fake), [("IPv4".to_owned(), vec![], vec![])]);
    let placeholder = slice_names(&fake);

    fake.clear_calls();
    reconcile(&fake).unwrap();
    assert_eq!(writes(&fake), Vec::<String>::new(), "the placeholder stays");

    // Pods appear: the placeholder is filled in place, not replaced.
    replace_pod(&fake, pod("a").ip("10.0.0.1").ready());
    fake.clear_calls();
    reconcile(&fake).unwrap();
    assert_eq!(slice_names(&fake), placeholder);
    assert_eq!(
        layout(&fake),
        [(
            "IPv4".to_owned(),
            strings(&["http:8080"]),
            strings(&["10.0.0.1"])
        )]
    );
    assert_eq!(
        writes(&fake),
        [
            "Update Endpoints web".to_owned(),
            format!("Update EndpointSlice {}", placeholder[0]),
        ]
    );

    // And gone again: back to a placeholder, still the same slice.
    fake.remove::<Pod>(Some(NS), "a");
    reconcile(&fake).unwrap();
    assert_eq!(slice_names(&fake), placeholder);
    assert_eq!(layout(&fake), [("IPv4".to_owned(), vec![], vec![])]);
}

#[test]
fn pods_that_resolve_the_ports_differently_get_slices_of_their_own() {
    let fake = cluster(
        service("web").ports(vec![port("http", 80, Target::Name("http"))]),
        vec![
            pod("a").ip("10.0.0.1").ready(),
            pod("b").ip("10.0.0.2").ready(),
            pod("c")
                .ip("10.0.0.3")
                .ready()
                .container_ports(&[("http", 9090)]),
            pod("d")
                .ip("10.0.0.4")
                .ready()
                .container_ports(&[("grpc", 7000)]),
        ],
    );
    reconcile(&fake).unwrap();
    let mut layout = layout(&fake);
    layout.sort();
    assert_eq!(
        layout,
        [
            ("IPv4".to_owned(), strings(&[]), strings(&["10.0.0.4"])),
            (
                "IPv4".to_owned(),
                strings(&["http:8080"]),
                strings(&["10.0.0.1", "10.0.0.2"])
            ),
            (
                "IPv4".to_owned(),
                strings(&["http:9090"]),
                strings(&["10.0.0.3"])
            ),
        ]
    );
}

#[test]
fn endpoints_beyond_a_full_slice_go_to_more_slices_and_refill_them() {
    let controller = controller_with_slices_of(2);
    let pods = ["a", "b", "c", "d", "e"]
        .iter()
        .enumerate()
        .map(|(i, name)| pod(name).ip(&format!("10.0.0.{}", i + 1)).ready())
        .collect();
    let fake = cluster(service("web"), pods);
    fake.run_with(&controller, KEY).unwrap();
    let sizes = |fake: &FakeCluster| -> Vec<usize> {
        let mut sizes: Vec<usize> = slices(fake)
            .iter()
            .map(|slice| slice.endpoints.as_ref().map_or(0, Vec::len))
            .collect();
        sizes.sort();
        sizes
    };
    assert_eq!(sizes(&fake), [1, 2, 2]);
    let names = slice_names(&fake);

    // A pod goes from a full slice: only that slice is written.
    let slice_of_a = slices(&fake)
        .into_iter()
        .find(|slice| conditions(slice).iter().any(|(ip, ..)| ip == "10.0.0.1"))
        .unwrap();
    fake.remove::<Pod>(Some(NS), "a");
    fake.clear_calls();
    fake.run_with(&controller, KEY).unwrap();
    assert_eq!(sizes(&fake), [1, 1, 2]);
    assert_eq!(
        writes(&fake),
        [
            "Update Endpoints web".to_owned(),
            format!("Update EndpointSlice {}", slice_of_a.metadata.name.unwrap()),
        ]
    );

    // A new pod fills a slice with room rather than making a new one.
    fake.add(pod("f").ip("10.0.0.6").ready().build());
    fake.run_with(&controller, KEY).unwrap();
    assert_eq!(sizes(&fake), [1, 2, 2]);
    assert_eq!(slice_names(&fake), names);

    // A slice left empty goes.
    let lonely = slices(&fake)
        .into_iter()
        .find(|slice| slice.endpoints.as_ref().unwrap().len() == 1)
        .unwrap();
    let lonely_pod = lonely.endpoints.as_ref().unwrap()[0]
        .target_ref
        .as_ref()
        .unwrap()
        .name
        .clone()
        .unwrap();
    fake.remove::<Pod>(Some(NS), &lonely_pod);
    fake.run_with(&controller, KEY).unwrap();
    assert_eq!(sizes(&fake), [2, 2]);
    assert!(!slice_names(&fake).contains(lonely.metadata.name.as_ref().unwrap()));
}

#[test]
fn a_changed_endpoint_is_updated_in_place() {
    let fake = cluster(
        service("web"),
        vec![pod("a").ip("10.0.0.1").ready(), pod("b").ip("10.0.0.2")],
    );
    reconcile(&fake).unwrap();
    let names = slice_names(&fake);
    replace_pod(&fake, pod("b").ip("10.0.0.2").ready());
    fake.clear_calls();
    reconcile(&fake).unwrap();
    assert_eq!(slice_names(&fake), names);
    assert_eq!(
        writes(&fake),
        [
            "Update Endpoints web".to_owned(),
            format!("Update EndpointSlice {}", names[0]),
        ]
    );
    assert_eq!(
        conditions(&slices(&fake)[0]),
        [
            ("10.0.0.1".to_owned(), true, true, false),
            ("10.0.0.2".to_owned(), true, true, false),
        ]
    );
}

#[test]
fn each_address_type_of_the_service_gets_its_slices() {
    struct Case {
        name: &'static str,
        families: &'static [&'static str],
        cluster_ip: Option<&'static str>,
        pod_ips: &'static [&'static str],
        layout: Vec<(&'static str, Vec<&'static str>)>,
    }
    let cases = [
        Case {
            name: "dual stack",
            families: &["IPv4", "IPv6"],
            cluster_ip: None,
            pod_ips: &["10.0.0.1", "fd00::1"],
            layout: vec![("IPv4", vec!["10.0.0.1"]), ("IPv6", vec!["fd00::1"])],
        },
        Case {
            name: "IPv6 only",
            families: &["IPv6"],
            cluster_ip: None,
            pod_ips: &["10.0.0.1", "fd00::1"],
            layout: vec![("IPv6", vec!["fd00::1"])],
        },
        Case {
            name: "IPv4 only, pods without IPv4: a placeholder",
            families: &["IPv4"],
            cluster_ip: None,
            pod_ips: &["fd00::1"],
            layout: vec![("IPv4", vec![])],
        },
        Case {
            name: "no families: the cluster IP's",
            families: &[],
            cluster_ip: Some("fd00:96::10"),
            pod_ips: &["10.0.0.1", "fd00::1"],
            layout: vec![("IPv6", vec!["fd00::1"])],
        },
        Case {
            name: "no families, no cluster IP: IPv4",
            families: &[],
            cluster_ip: None,
            pod_ips: &["10.0.0.1", "fd00::1"],
            layout: vec![("IPv4", vec!["10.0.0.1"])],
        },
    ];
    for case in cases {
        let mut service = service("web").ip_families(case.families);
        if let Some(ip) = case.cluster_ip {
            service = service.cluster_ip(ip);
        }
        let fake = cluster(service, vec![pod("a").ips(case.pod_ips).ready()]);
        reconcile(&fake).unwrap();
        let mut layout: Vec<(String, Vec<String>)> = super::slices(&fake)
            .iter()
            .map(|slice| {
                let addresses = conditions(slice).into_iter().map(|(ip, ..)| ip).collect();
                (slice.address_type.clone(), addresses)
            })
            .collect();
        layout.sort();
        let expected: Vec<(String, Vec<String>)> = case
            .layout
            .iter()
            .map(|(family, ips)| (family.to_string(), strings(ips)))
            .collect();
        assert_eq!(layout, expected, "{}", case.name);
    }
}

#[test]
fn a_dropped_ip_family_takes_its_slices_along() {
    let fake = cluster(
        service("web").ip_families(&["IPv4", "IPv6"]),
        vec![pod("a").ips(&["10.0.0.1", "fd00::1"]).ready()],
    );
    reconcile(&fake).unwrap();
    assert_eq!(slices(&fake).len(), 2);
    fake.modify::<Service>(Some(NS), "web", |service| {
        service.spec.as_mut().unwrap().ip_families = Some(vec!["IPv6".to_owned()]);
    });
    reconcile(&fake).unwrap();
    let types: Vec<String> = slices(&fake)
        .iter()
        .map(|slice| slice.address_type.clone())
        .collect();
    assert_eq!(types, ["IPv6"]);
    // The Endpoints follow the first family.
    let endpoints = super::endpoints_of(&fake, "web").unwrap();
    assert_eq!(
        super::ips(&endpoints.subsets.unwrap()[0].addresses),
        ["fd00::1"]
    );
}

#[test]
fn a_slice_owned_by_an_earlier_service_of_the_same_name_is_replaced() {
    let fake = cluster(service("web"), vec![pod("a").ip("10.0.0.1").ready()]);
    let mut earlier = service("web").build();
    earlier.metadata.uid = Some("uid-earlier".to_owned());
    let mut stale = crate::slices::new_slice(&earlier, Vec::new(), crate::ip::IpFamily::V4);
    stale.metadata.name = Some("web-stale".to_owned());
    fake.add(stale);
    reconcile(&fake).unwrap();
    let slices = slices(&fake);
    assert_eq!(slices.len(), 1);
    assert_ne!(slices[0].metadata.name.as_deref(), Some("web-stale"));
    assert_eq!(
        slices[0].metadata.owner_references.as_ref().unwrap()[0].uid,
        service_uid("web")
    );
}

#[test]
fn slice_labels_follow_the_service() {
    let fake = cluster(
        service("web").labels(&[("team", "a")]),
        vec![pod("a").ip("10.0.0.1").ready()],
    );
    reconcile(&fake).unwrap();
    let names = slice_names(&fake);
    fake.modify::<Service>(Some(NS), "web", |service| {
        service.metadata.labels = Some(labels(&[("team", "b")]));
    });
    fake.clear_calls();
    reconcile(&fake).unwrap();
    assert_eq!(slice_names(&fake), names);
    let slice_labels = slices(&fake)[0].metadata.labels.clone().unwrap();
    assert_eq!(slice_labels["team"], "b");
    assert_eq!(slice_labels[LABEL_SERVICE_NAME], "web");
    assert_eq!(
        writes(&fake),
        [
            "Update Endpoints web".to_owned(),
            format!("Update EndpointSlice {}", names[0]),
        ]
    );
}

#[test]
fn no_slice_is_created_for_a_service_being_deleted() {
    let fake = cluster(
        service("web").deleting(),
        vec![pod("a").ip("10.0.0.1").ready()],
    );
    reconcile(&fake).unwrap();
    assert!(slices(&fake).is_empty());
}
