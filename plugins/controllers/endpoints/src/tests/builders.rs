//! Small builders for the objects of a case: `service("web").port(..)`,
//! `pod("a").ip("10.0.0.1").ready()`.

use std::collections::BTreeMap;

use wharf_sdk::k8s_openapi::api::core::v1::{
    Container, ContainerPort, Pod, PodCondition, PodIP, PodSpec, PodStatus, Service, ServicePort,
    ServiceSpec,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wharf_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use wharf_sdk::testing::START_MILLIS;
use wharf_sdk::time_from_millis;

pub const NS: &str = "default";

/// The uid the builders give the Service called `name`.
pub fn service_uid(name: &str) -> String {
    format!("uid-service-{name}")
}

/// The uid the builders give the pod called `name`.
pub fn pod_uid(name: &str) -> String {
    format!("uid-pod-{name}")
}

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// A Service port `name` on `port`, targeting `target` (a number or a
/// port name), TCP.
pub fn port(name: &str, port: i32, target: Target) -> ServicePort {
    ServicePort {
        name: Some(name.to_owned()),
        port,
        protocol: Some("TCP".to_owned()),
        target_port: match target {
            Target::Default => None,
            Target::Number(number) => Some(IntOrString::Int(number)),
            Target::Name(name) => Some(IntOrString::String(name.to_owned())),
        },
        ..ServicePort::default()
    }
}

/// What a Service port targets.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// No `targetPort`: the port itself.
    Default,
    Number(i32),
    Name(&'static str),
}

pub struct ServiceBuilder(Service);

/// A ClusterIP Service without a cluster IP (as Wharf's API server leaves
/// it), selecting `app=<name>`, with one port `http` 80 → 8080.
pub fn service(name: &str) -> ServiceBuilder {
    ServiceBuilder(Service {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(NS.to_owned()),
            uid: Some(service_uid(name)),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(labels(&[("app", name)])),
            ports: Some(vec![port("http", 80, Target::Number(8080))]),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

impl ServiceBuilder {
    fn spec(&mut self) -> &mut ServiceSpec {
        self.0.spec.as_mut().expect("the builder sets a spec")
    }

    pub fn selector(mut self, pairs: &[(&str, &str)]) -> Self {
        self.spec().selector = Some(labels(pairs));
        self
    }

    pub fn no_selector(mut self) -> Self {
        self.spec().selector = None;
        self
    }

    pub fn ports(mut self, ports: Vec<ServicePort>) -> Self {
        self.spec().ports = Some(ports);
        self
    }

    pub fn cluster_ip(mut self, ip: &str) -> Self {
        self.spec().cluster_ip = Some(ip.to_owned());
        self
    }

    pub fn ip_families(mut self, families: &[&str]) -> Self {
        self.spec().ip_families = Some(families.iter().map(|f| f.to_string()).collect());
        self
    }

    pub fn labels(mut self, pairs: &[(&str, &str)]) -> Self {
        self.0.metadata.labels = Some(labels(pairs));
        self
    }

    pub fn publish_not_ready_addresses(mut self) -> Self {
        self.spec().publish_not_ready_addresses = Some(true);
        self
    }

    pub fn external_name(mut self, name: &str) -> Self {
        self.spec().type_ = Some("ExternalName".to_owned());
        self.spec().external_name = Some(name.to_owned());
        self
    }

    /// Being deleted (held by a finalizer).
    pub fn deleting(mut self) -> Self {
        self.0.metadata.deletion_timestamp = Some(time_from_millis(START_MILLIS - 1000));
        self.0.metadata.finalizers = Some(vec!["example.com/hold".to_owned()]);
        self
    }

    pub fn build(self) -> Service {
        self.0
    }
}

pub struct PodBuilder(Pod);

/// A Running pod labelled `app=web` on `node-1`, with a container port
/// `http` 8080, no IP yet, not ready.
pub fn pod(name: &str) -> PodBuilder {
    PodBuilder(Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(NS.to_owned()),
            uid: Some(pod_uid(name)),
            labels: Some(labels(&[("app", "web")])),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            node_name: Some("node-1".to_owned()),
            containers: vec![Container {
                name: "app".to_owned(),
                ports: Some(vec![container_port("http", 8080)]),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".to_owned()),
            ..PodStatus::default()
        }),
    })
}

fn container_port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: number,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }
}

impl PodBuilder {
    fn spec(&mut self) -> &mut PodSpec {
        self.0.spec.as_mut().expect("the builder sets a spec")
    }

    fn status(&mut self) -> &mut PodStatus {
        self.0.status.as_mut().expect("the builder sets a status")
    }

    pub fn labels(mut self, pairs: &[(&str, &str)]) -> Self {
        self.0.metadata.labels = Some(labels(pairs));
        self
    }

    /// `status.podIP` and `status.podIPs`: the first address is the primary.
    pub fn ips(mut self, ips: &[&str]) -> Self {
        self.status().pod_ip = ips.first().map(|ip| ip.to_string());
        self.status().pod_ips = Some(ips.iter().map(|ip| PodIP { ip: ip.to_string() }).collect());
        self
    }

    pub fn ip(self, ip: &str) -> Self {
        self.ips(&[ip])
    }

    /// Only `status.podIP`, as some node agents write it.
    pub fn only_pod_ip(mut self, ip: &str) -> Self {
        self.status().pod_ip = Some(ip.to_owned());
        self.status().pod_ips = None;
        self
    }

    pub fn ready(mut self) -> Self {
        self.status().conditions = Some(vec![PodCondition {
            type_: "Ready".to_owned(),
            status: "True".to_owned(),
            ..PodCondition::default()
        }]);
        self
    }

    pub fn phase(mut self, phase: &str) -> Self {
        self.status().phase = Some(phase.to_owned());
        self
    }

    pub fn node(mut self, node: &str) -> Self {
        self.spec().node_name = Some(node.to_owned());
        self
    }

    /// The container's ports, replacing `http` 8080.
    pub fn container_ports(mut self, ports: &[(&str, i32)]) -> Self {
        self.spec().containers[0].ports = Some(
            ports
                .iter()
                .map(|(name, number)| container_port(name, *number))
                .collect(),
        );
        self
    }

    /// A sidecar (an init container that always restarts) with this port.
    pub fn sidecar_port(mut self, name: &str, number: i32) -> Self {
        self.spec().init_containers = Some(vec![Container {
            name: "sidecar".to_owned(),
            restart_policy: Some("Always".to_owned()),
            ports: Some(vec![container_port(name, number)]),
            ..Container::default()
        }]);
        self
    }

    pub fn hostname(mut self, hostname: &str, subdomain: &str) -> Self {
        self.spec().hostname = Some(hostname.to_owned());
        self.spec().subdomain = Some(subdomain.to_owned());
        self
    }

    /// Being deleted (held by a finalizer, so it stays listed).
    pub fn terminating(mut self) -> Self {
        self.0.metadata.deletion_timestamp = Some(time_from_millis(START_MILLIS - 1000));
        self.0.metadata.finalizers = Some(vec!["example.com/hold".to_owned()]);
        self
    }

    pub fn build(self) -> Pod {
        self.0
    }
}
