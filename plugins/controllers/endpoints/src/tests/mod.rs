//! The controller against the SDK's in-memory cluster, case by case:
//! registration and life cycle here, then the Endpoints and the slices.

mod builders;
mod endpoints;
mod slices;

use std::time::Duration;

use builders::{NS, PodBuilder, ServiceBuilder, labels, pod, service};
use wharf_sdk::k8s_openapi::api::core::v1::{EndpointAddress, Endpoints, Pod, Service};
use wharf_sdk::k8s_openapi::api::discovery::v1::EndpointSlice;
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wharf_sdk::prelude::*;
use wharf_sdk::testing::{FakeCluster, Verb};
use wharf_sdk::{GroupVersionKind, serde_json::json};

use crate::names::{CONTROLLER_NAME, LABEL_MANAGED_BY, LABEL_SERVICE_NAME};
use crate::{Config, EndpointsController};

const KEY: &str = "default/web";

/// A cluster holding `service` and `pods`.
fn cluster(service: ServiceBuilder, pods: Vec<PodBuilder>) -> FakeCluster {
    let fake = FakeCluster::new();
    fake.add(service.build());
    for pod in pods {
        fake.add(pod.build());
    }
    fake
}

fn reconcile(fake: &FakeCluster) -> Result<Action, Error> {
    fake.run::<EndpointsController>(KEY)
}

fn endpoints_of(fake: &FakeCluster, name: &str) -> Option<Endpoints> {
    fake.get::<Endpoints>(Some(NS), name)
}

fn slices(fake: &FakeCluster) -> Vec<EndpointSlice> {
    fake.list::<EndpointSlice>(Some(NS))
}

fn ips(addresses: &Option<Vec<EndpointAddress>>) -> Vec<String> {
    addresses
        .iter()
        .flatten()
        .map(|address| address.ip.clone())
        .collect()
}

/// The successful writes, as `Verb Kind name`.
fn writes(fake: &FakeCluster) -> Vec<String> {
    fake.writes()
        .into_iter()
        .map(|call| {
            format!(
                "{:?} {} {}",
                call.verb,
                call.kind.kind,
                call.name.unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn registration_owns_slices_is_woken_by_the_pods_it_selects_and_resyncs() {
    let registration = EndpointsController::registration(&json!({})).unwrap();
    assert_eq!(
        registration.primary,
        GroupVersionKind::new("", "v1", "Service")
    );
    assert_eq!(
        registration.owns,
        [GroupVersionKind::new(
            "discovery.k8s.io",
            "v1",
            "EndpointSlice"
        )]
    );
    assert_eq!(
        registration.reads,
        [GroupVersionKind::new("", "v1", "Endpoints")]
    );
    assert_eq!(
        registration.watches,
        [(
            GroupVersionKind::new("", "v1", "Pod"),
            Wakes::Selecting("/spec/selector".into())
        )]
    );
    assert_eq!(registration.resync, Duration::from_secs(10));
}

#[test]
fn the_config_sets_the_resync_and_the_slice_size_and_refuses_nonsense() {
    let cases = [
        (json!({}), Some((10, 100))),
        (json!({"resyncSeconds": 5}), Some((5, 100))),
        (json!({"maxEndpointsPerSlice": 1000}), Some((10, 1000))),
        (json!({"unrelated": true}), Some((10, 100))),
        (json!({"resyncSeconds": 0}), None),
        (json!({"resyncSeconds": "1s"}), None),
        (json!({"maxEndpointsPerSlice": 0}), None),
        (json!({"maxEndpointsPerSlice": 1001}), None),
    ];
    for (config, expected) in cases {
        let parsed = Config::from_json(&config)
            .ok()
            .map(|c| (c.resync.as_secs(), c.max_endpoints_per_slice));
        assert_eq!(parsed, expected, "{config}");
        assert_eq!(
            EndpointsController::registration(&config).is_ok(),
            expected.is_some(),
            "{config}"
        );
    }
}

#[test]
fn a_service_gets_endpoints_and_a_slice_for_its_pods() {
    let fake = cluster(service("web"), vec![pod("a").ip("10.0.0.1").ready()]);
    assert_eq!(reconcile(&fake).unwrap(), Action::Done);
    let endpoints = endpoints_of(&fake, "web").expect("the Endpoints exist");
    assert_eq!(ips(&endpoints.subsets.unwrap()[0].addresses), ["10.0.0.1"]);
    assert!(
        endpoints.metadata.owner_references.is_none(),
        "Endpoints are not owner-referenced"
    );
    let slices = slices(&fake);
    assert_eq!(slices.len(), 1);
    assert_eq!(
        slices[0].endpoints.as_ref().unwrap()[0].addresses,
        ["10.0.0.1"]
    );
}

#[test]
fn nothing_is_written_when_nothing_changed() {
    let fake = cluster(
        service("web").labels(&[("team", "a")]),
        vec![
            pod("a").ip("10.0.0.1").ready(),
            pod("b").ip("10.0.0.2"),
            pod("c").ip("10.0.0.3").ready().terminating(),
        ],
    );
    reconcile(&fake).unwrap();
    assert!(!fake.writes().is_empty());

    // Again, and again after a change no endpoint shows (an annotation).
    for round in ["same state", "an annotation changed"] {
        if round == "an annotation changed" {
            fake.modify::<Pod>(Some(NS), "a", |pod| {
                pod.metadata.annotations = Some(labels(&[("note", "x")]));
            });
        }
        fake.clear_calls();
        let revision = fake.revision();
        reconcile(&fake).unwrap();
        assert_eq!(writes(&fake), Vec::<String>::new(), "{round}");
        assert_eq!(fake.revision(), revision, "{round}");
    }
}

#[test]
fn a_pod_without_an_ip_is_ignored_until_it_has_one() {
    let fake = cluster(
        service("web"),
        vec![pod("a").ready(), pod("b").ip("10.0.0.2").ready()],
    );
    reconcile(&fake).unwrap();
    let subsets = endpoints_of(&fake, "web").unwrap().subsets.unwrap();
    assert_eq!(ips(&subsets[0].addresses), ["10.0.0.2"]);
    let slice_addresses: Vec<Vec<String>> = slices(&fake)[0]
        .endpoints
        .iter()
        .flatten()
        .map(|endpoint| endpoint.addresses.clone())
        .collect();
    assert_eq!(slice_addresses, [["10.0.0.2"]]);

    fake.modify::<Pod>(Some(NS), "a", |pod| {
        *pod = builders::pod("a").ip("10.0.0.1").ready().build();
    });
    reconcile(&fake).unwrap();
    let subsets = endpoints_of(&fake, "web").unwrap().subsets.unwrap();
    assert_eq!(ips(&subsets[0].addresses), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(slices(&fake)[0].endpoints.as_ref().unwrap().len(), 2);
}

#[test]
fn a_selector_change_moves_the_endpoints_to_the_newly_selected_pods() {
    let fake = cluster(
        service("web"),
        vec![
            pod("a").ip("10.0.0.1").ready(),
            pod("b")
                .labels(&[("app", "web"), ("track", "canary")])
                .ip("10.0.0.2")
                .ready(),
            pod("c").labels(&[("app", "api")]).ip("10.0.0.3").ready(),
        ],
    );
    reconcile(&fake).unwrap();
    let cases = [
        (vec![("app", "web")], vec!["10.0.0.1", "10.0.0.2"]),
        (vec![("app", "web"), ("track", "canary")], vec!["10.0.0.2"]),
        (vec![("app", "api")], vec!["10.0.0.3"]),
        (vec![("app", "nothing")], vec![]),
    ];
    for (selector, expected) in cases {
        fake.modify::<Service>(Some(NS), "web", |service| {
            service.spec.as_mut().unwrap().selector = Some(labels(&selector));
        });
        reconcile(&fake).unwrap();
        let endpoints = endpoints_of(&fake, "web").unwrap();
        let ready = endpoints
            .subsets
            .iter()
            .flatten()
            .flat_map(|subset| ips(&subset.addresses))
            .collect::<Vec<_>>();
        assert_eq!(ready, expected, "selector {selector:?}: Endpoints");
        let slices = slices(&fake);
        assert_eq!(slices.len(), 1, "selector {selector:?}: one slice");
        let in_slice: Vec<String> = slices[0]
            .endpoints
            .iter()
            .flatten()
            .flat_map(|endpoint| endpoint.addresses.clone())
            .collect();
        assert_eq!(in_slice, expected, "selector {selector:?}: slice");
    }
}

#[test]
fn deleting_the_service_deletes_its_endpoints_and_its_slices_only() {
    let fake = cluster(
        service("web"),
        vec![
            pod("a").ip("10.0.0.1").ready(),
            pod("b").labels(&[("app", "api")]).ip("10.0.0.2").ready(),
        ],
    );
    fake.add(service("api").build());
    reconcile(&fake).unwrap();
    fake.run::<EndpointsController>("default/api").unwrap();
    assert_eq!(slices(&fake).len(), 2);

    fake.remove::<Service>(Some(NS), "web");
    fake.clear_calls();
    reconcile(&fake).unwrap();
    assert!(endpoints_of(&fake, "web").is_none());
    assert!(endpoints_of(&fake, "api").is_some());
    let left: Vec<String> = slices(&fake)
        .iter()
        .map(|slice| slice.metadata.labels.as_ref().unwrap()[LABEL_SERVICE_NAME].clone())
        .collect();
    assert_eq!(left, ["api"]);
    assert_eq!(
        fake.writes()
            .iter()
            .map(|call| (call.verb, call.kind.kind.as_str()))
            .collect::<Vec<_>>(),
        [(Verb::Delete, "Endpoints"), (Verb::Delete, "EndpointSlice")]
    );

    // Once they are gone, another reconcile of the key writes nothing.
    fake.clear_calls();
    reconcile(&fake).unwrap();
    assert!(fake.writes().is_empty());
}

#[test]
fn services_without_a_selector_and_external_names_are_left_alone() {
    let cases = [
        ("no selector", service("web").no_selector()),
        ("an empty selector", service("web").selector(&[])),
        ("ExternalName", service("web").external_name("example.com")),
    ];
    for (name, service) in cases {
        let fake = cluster(service, vec![pod("a").ip("10.0.0.1").ready()]);
        // Endpoints written by hand, as such Services get them.
        fake.add(Endpoints {
            metadata: ObjectMeta {
                name: Some("web".to_owned()),
                namespace: Some(NS.to_owned()),
                ..ObjectMeta::default()
            },
            subsets: None,
        });
        assert_eq!(reconcile(&fake).unwrap(), Action::Done, "{name}");
        assert!(fake.writes().is_empty(), "{name}: {:?}", writes(&fake));
    }
}

#[test]
fn slices_of_other_controllers_are_not_touched() {
    let fake = cluster(service("web"), vec![pod("a").ip("10.0.0.1").ready()]);
    let mut foreign =
        crate::slices::new_slice(&service("web").build(), Vec::new(), crate::ip::IpFamily::V4);
    foreign.metadata.name = Some("web-by-hand".to_owned());
    foreign
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert(LABEL_MANAGED_BY.to_owned(), "someone-else".to_owned());
    fake.add(foreign);
    reconcile(&fake).unwrap();
    let names: Vec<String> = slices(&fake)
        .iter()
        .map(|slice| slice.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"web-by-hand".to_owned()));
    let managed = slices(&fake)
        .into_iter()
        .filter(|slice| {
            slice.metadata.labels.as_ref().unwrap()[LABEL_MANAGED_BY] == CONTROLLER_NAME
        })
        .count();
    assert_eq!(managed, 1);
}

#[test]
fn a_failed_endpoints_write_is_returned_and_recorded_but_the_slices_are_still_written() {
    let fake = cluster(service("web"), vec![pod("a").ip("10.0.0.1").ready()]);
    fake.fail_when(|request| {
        (request.verb == Verb::Create && request.kind.kind == "Endpoints")
            .then(|| Error::Forbidden("endpoints are not allowed".to_owned()))
    });
    let error = reconcile(&fake).unwrap_err();
    assert!(matches!(error, Error::Forbidden(_)), "{error}");
    let events: Vec<(String, String)> = fake
        .events()
        .into_iter()
        .map(|event| (event.regarding.kind.kind, event.reason))
        .collect();
    assert_eq!(
        events,
        [("Endpoints".to_owned(), "FailedToCreateEndpoint".to_owned())]
    );
    assert_eq!(slices(&fake).len(), 1);
}

#[test]
fn a_failed_slice_write_is_returned_and_recorded_on_the_service() {
    let fake = cluster(service("web"), vec![pod("a").ip("10.0.0.1").ready()]);
    fake.fail_when(|request| {
        (request.verb == Verb::Create && request.kind.kind == "EndpointSlice")
            .then(|| Error::Other("the store is down".to_owned()))
    });
    assert!(reconcile(&fake).is_err());
    let events: Vec<(String, String)> = fake
        .events()
        .into_iter()
        .map(|event| (event.regarding.kind.kind, event.reason))
        .collect();
    assert_eq!(
        events,
        [(
            "Service".to_owned(),
            "FailedToUpdateEndpointSlices".to_owned()
        )]
    );
    assert!(endpoints_of(&fake, "web").is_some());
}
