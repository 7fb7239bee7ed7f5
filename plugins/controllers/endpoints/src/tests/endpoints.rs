//! The Endpoints object: which pods are addresses, ready or not, on which
//! ports, and how the object is labelled and written.

use wharf_sdk::k8s_openapi::api::core::v1::{EndpointAddress, Endpoints, ObjectReference, Pod};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::builders::{NS, PodBuilder, Target, labels, pod, pod_uid, port, service};
use super::{cluster, endpoints_of, ips, reconcile};
use crate::endpoints::{self, MAX_CAPACITY};
use crate::names::{ANNOTATION_OVER_CAPACITY, LABEL_HEADLESS};

/// Each subset as (ready IPs, not-ready IPs, `name:port` ports).
type Summary = Vec<(Vec<String>, Vec<String>, Vec<String>)>;

fn summary(endpoints: &Endpoints) -> Summary {
    endpoints
        .subsets
        .iter()
        .flatten()
        .map(|subset| {
            let ports = subset
                .ports
                .iter()
                .flatten()
                .map(|port| format!("{}:{}", port.name.clone().unwrap_or_default(), port.port))
                .collect();
            (
                ips(&subset.addresses),
                ips(&subset.not_ready_addresses),
                ports,
            )
        })
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

#[test]
fn ready_pods_are_addresses_and_the_others_not_ready_addresses() {
    struct Case {
        name: &'static str,
        publish_not_ready: bool,
        pod: PodBuilder,
        ready: &'static [&'static str],
        not_ready: &'static [&'static str],
    }
    let cases = [
        Case {
            name: "a ready pod",
            publish_not_ready: false,
            pod: pod("a").ip("10.0.0.1").ready(),
            ready: &["10.0.0.1"],
            not_ready: &[],
        },
        Case {
            name: "a pod not ready",
            publish_not_ready: false,
            pod: pod("a").ip("10.0.0.1"),
            ready: &[],
            not_ready: &["10.0.0.1"],
        },
        Case {
            name: "a pod not ready, not-ready addresses published",
            publish_not_ready: true,
            pod: pod("a").ip("10.0.0.1"),
            ready: &["10.0.0.1"],
            not_ready: &[],
        },
        Case {
            name: "a terminating pod",
            publish_not_ready: false,
            pod: pod("a").ip("10.0.0.1").ready().terminating(),
            ready: &[],
            not_ready: &[],
        },
        Case {
            name: "a terminating pod, not-ready addresses published",
            publish_not_ready: true,
            pod: pod("a").ip("10.0.0.1").terminating(),
            ready: &["10.0.0.1"],
            not_ready: &[],
        },
        Case {
            name: "a succeeded pod",
            publish_not_ready: true,
            pod: pod("a").ip("10.0.0.1").phase("Succeeded"),
            ready: &[],
            not_ready: &[],
        },
        Case {
            name: "a failed pod",
            publish_not_ready: true,
            pod: pod("a").ip("10.0.0.1").phase("Failed"),
            ready: &[],
            not_ready: &[],
        },
        Case {
            name: "a pod without an IP",
            publish_not_ready: true,
            pod: pod("a").ready(),
            ready: &[],
            not_ready: &[],
        },
        Case {
            name: "a pod with only status.podIP",
            publish_not_ready: false,
            pod: pod("a").only_pod_ip("10.0.0.1").ready(),
            ready: &["10.0.0.1"],
            not_ready: &[],
        },
        Case {
            name: "a pod the selector does not match",
            publish_not_ready: false,
            pod: pod("a").labels(&[("app", "api")]).ip("10.0.0.1").ready(),
            ready: &[],
            not_ready: &[],
        },
    ];
    for case in cases {
        let service = if case.publish_not_ready {
            service("web").publish_not_ready_addresses()
        } else {
            service("web")
        };
        let fake = cluster(service, vec![case.pod]);
        reconcile(&fake).unwrap();
        let endpoints = endpoints_of(&fake, "web").expect("the Endpoints exist");
        let expected: Summary = if case.ready.is_empty() && case.not_ready.is_empty() {
            vec![]
        } else {
            vec![(
                strings(case.ready),
                strings(case.not_ready),
                strings(&["http:8080"]),
            )]
        };
        assert_eq!(summary(&endpoints), expected, "{}", case.name);
    }
}

#[test]
fn an_address_names_its_pod_node_and_hostname() {
    let fake = cluster(
        service("web"),
        vec![
            pod("a")
                .ip("10.0.0.1")
                .ready()
                .node("node-7")
                .hostname("a", "web"),
            pod("b").ip("10.0.0.2").ready().hostname("b", "elsewhere"),
        ],
    );
    reconcile(&fake).unwrap();
    let subsets = endpoints_of(&fake, "web").unwrap().subsets.unwrap();
    let addresses = subsets[0].addresses.clone().unwrap();
    assert_eq!(
        addresses[0],
        EndpointAddress {
            ip: "10.0.0.1".to_owned(),
            hostname: Some("a".to_owned()),
            node_name: Some("node-7".to_owned()),
            target_ref: Some(ObjectReference {
                kind: Some("Pod".to_owned()),
                namespace: Some(NS.to_owned()),
                name: Some("a".to_owned()),
                uid: Some(pod_uid("a")),
                ..ObjectReference::default()
            }),
        }
    );
    assert_eq!(
        addresses[1].hostname, None,
        "another subdomain: no hostname"
    );
}

#[test]
fn target_ports_resolve_to_numbers() {
    let cases = [
        (
            "no targetPort is the port itself",
            Target::Default,
            pod("a"),
            Some(80),
        ),
        (
            "a number is used as it is",
            Target::Number(9000),
            pod("a"),
            Some(9000),
        ),
        (
            "a name is looked up in the containers",
            Target::Name("http"),
            pod("a"),
            Some(8080),
        ),
        (
            "a name is looked up in sidecars too",
            Target::Name("metrics"),
            pod("a").sidecar_port("metrics", 9100),
            Some(9100),
        ),
        (
            "a name the pod lacks leaves the pod out",
            Target::Name("grpc"),
            pod("a"),
            None,
        ),
    ];
    for (name, target, pod, expected) in cases {
        let fake = cluster(
            service("web").ports(vec![port("web", 80, target)]),
            vec![pod.ip("10.0.0.1").ready()],
        );
        reconcile(&fake).unwrap();
        let ports: Vec<i32> = endpoints_of(&fake, "web")
            .unwrap()
            .subsets
            .iter()
            .flatten()
            .flat_map(|subset| subset.ports.clone().unwrap_or_default())
            .map(|port| port.port)
            .collect();
        assert_eq!(ports, Vec::from_iter(expected), "{name}");
    }
}

#[test]
fn pods_that_resolve_a_named_port_differently_get_subsets_of_their_own() {
    let fake = cluster(
        service("web").ports(vec![
            port("http", 80, Target::Name("http")),
            port("metrics", 9100, Target::Default),
        ]),
        vec![
            pod("a").ip("10.0.0.1").ready(),
            pod("b").ip("10.0.0.2"),
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
    // Repacked as Kubernetes does: one subset per set of addresses, with
    // every port that set offers. `d` lacks the named port, so it is only
    // behind `metrics`; `c` resolves `http` to 9090.
    let endpoints = endpoints_of(&fake, "web").unwrap();
    assert_eq!(
        summary(&endpoints),
        [
            (
                strings(&["10.0.0.1"]),
                strings(&["10.0.0.2"]),
                strings(&["http:8080"])
            ),
            (
                strings(&["10.0.0.1", "10.0.0.3", "10.0.0.4"]),
                strings(&["10.0.0.2"]),
                strings(&["metrics:9100"])
            ),
            (
                strings(&["10.0.0.3"]),
                strings(&[]),
                strings(&["http:9090"])
            ),
        ]
    );
}

#[test]
fn addresses_are_sorted_by_ip_numerically() {
    let fake = cluster(
        service("web"),
        vec![
            pod("a").ip("10.0.0.10").ready(),
            pod("b").ip("10.0.0.9").ready(),
            pod("c").ip("10.0.1.1").ready(),
        ],
    );
    reconcile(&fake).unwrap();
    let subsets = endpoints_of(&fake, "web").unwrap().subsets.unwrap();
    assert_eq!(
        ips(&subsets[0].addresses),
        ["10.0.0.9", "10.0.0.10", "10.0.1.1"]
    );
}

#[test]
fn endpoints_without_pods_have_no_subsets_but_exist() {
    let fake = cluster(service("web"), vec![]);
    reconcile(&fake).unwrap();
    let endpoints = endpoints_of(&fake, "web").expect("created even when empty");
    assert_eq!(endpoints.subsets, None);
}

#[test]
fn endpoints_carry_the_service_labels_and_the_headless_label_without_a_cluster_ip() {
    let cases = [
        ("no cluster IP", service("web"), true),
        ("headless", service("web").cluster_ip("None"), true),
        (
            "a cluster IP",
            service("web").cluster_ip("10.96.0.10"),
            false,
        ),
    ];
    for (name, service, headless) in cases {
        let fake = cluster(service.labels(&[("team", "a")]), vec![]);
        reconcile(&fake).unwrap();
        let mut expected = labels(&[("team", "a")]);
        if headless {
            expected.insert(LABEL_HEADLESS.to_owned(), String::new());
        }
        let endpoints = endpoints_of(&fake, "web").unwrap();
        assert_eq!(endpoints.metadata.labels, Some(expected), "{name}");
    }
}

#[test]
fn only_a_headless_service_lists_addresses_without_ports() {
    let cases = [
        ("headless", service("web").cluster_ip("None"), 1),
        ("not headless", service("web"), 0),
    ];
    for (name, service, subsets) in cases {
        let fake = cluster(service.ports(vec![]), vec![pod("a").ip("10.0.0.1").ready()]);
        reconcile(&fake).unwrap();
        let endpoints = endpoints_of(&fake, "web").unwrap();
        assert_eq!(
            endpoints.subsets.iter().flatten().count(),
            subsets,
            "{name}"
        );
        if subsets == 1 {
            assert_eq!(
                summary(&endpoints),
                [(strings(&["10.0.0.1"]), strings(&[]), strings(&[]))]
            );
        }
    }
}

#[test]
fn stale_endpoints_are_updated_in_place_keeping_other_annotations() {
    let fake = cluster(service("web"), vec![pod("a").ip("10.0.0.1").ready()]);
    let stale = fake.add(Endpoints {
        metadata: ObjectMeta {
            name: Some("web".to_owned()),
            namespace: Some(NS.to_owned()),
            labels: Some(labels(&[("stale", "yes")])),
            annotations: Some(labels(&[("kept", "yes")])),
            ..ObjectMeta::default()
        },
        subsets: None,
    });
    reconcile(&fake).unwrap();
    let endpoints = endpoints_of(&fake, "web").unwrap();
    assert_eq!(endpoints.metadata.uid, stale.metadata.uid);
    assert_eq!(
        endpoints.metadata.annotations,
        Some(labels(&[("kept", "yes")]))
    );
    assert_eq!(
        endpoints.metadata.labels,
        Some(labels(&[(LABEL_HEADLESS, "")]))
    );
    assert_eq!(ips(&endpoints.subsets.unwrap()[0].addresses), ["10.0.0.1"]);
}

#[test]
fn a_pod_turning_ready_moves_its_address() {
    let fake = cluster(service("web"), vec![pod("a").ip("10.0.0.1")]);
    reconcile(&fake).unwrap();
    let before = summary(&endpoints_of(&fake, "web").unwrap());
    assert_eq!(
        before,
        [(
            strings(&[]),
            strings(&["10.0.0.1"]),
            strings(&["http:8080"])
        )]
    );
    fake.modify::<Pod>(Some(NS), "a", |pod| {
        *pod = super::builders::pod("a").ip("10.0.0.1").ready().build();
    });
    reconcile(&fake).unwrap();
    let after = summary(&endpoints_of(&fake, "web").unwrap());
    assert_eq!(
        after,
        [(
            strings(&["10.0.0.1"]),
            strings(&[]),
            strings(&["http:8080"])
        )]
    );
}

#[test]
fn more_than_a_thousand_addresses_are_truncated_ready_ones_first() {
    let cases = [
        // ready, not ready → kept ready, kept not ready, annotated
        (10, 10, 10, 10, false),
        (1000, 0, 1000, 0, false),
        (990, 20, 990, 10, true),
        (1200, 30, 1000, 0, true),
    ];
    let service = service("web").build();
    for (ready, not_ready, kept_ready, kept_not_ready, annotated) in cases {
        let pods: Vec<Pod> = (0..ready + not_ready)
            .map(|i| {
                let name = format!("p{i}");
                let ip = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
                let pod = pod(&name).ip(&ip);
                if i < ready { pod.ready() } else { pod }.build()
            })
            .collect();
        let endpoints = endpoints::desired(&service, &pods, None);
        let count = |f: fn(&_) -> &Option<Vec<EndpointAddress>>| -> usize {
            endpoints
                .subsets
                .iter()
                .flatten()
                .map(|subset| f(subset).as_ref().map_or(0, Vec::len))
                .sum()
        };
        let case = format!("{ready} ready, {not_ready} not");
        assert_eq!(count(|s| &s.addresses), kept_ready, "{case}");
        assert_eq!(count(|s| &s.not_ready_addresses), kept_not_ready, "{case}");
        assert!(kept_ready + kept_not_ready <= MAX_CAPACITY);
        let has_annotation = endpoints
            .metadata
            .annotations
            .is_some_and(|annotations| annotations.contains_key(ANNOTATION_OVER_CAPACITY));
        assert_eq!(has_annotation, annotated, "{case}");
    }
}
