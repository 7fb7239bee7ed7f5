//! `Table` responses (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`):
//! the columns `kubectl get` prints, computed as Kubernetes' printers do.

use serde_json::{Value, json};

use crate::resources::ResourceDef;

/// How much of each object a row carries (`includeObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// A column: name, type, priority (0 always shown, 1 with `-o wide`), description.
type Column = (&'static str, &'static str, u8, &'static str);

fn columns(kind: &str) -> &'static [Column] {
    const NAME: Column = (
        "Name",
        "string",
        0,
        "Name must be unique within a namespace.",
    );
    const AGE: Column = (
        "Age",
        "string",
        0,
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    );
    match kind {
        "Pod" => &[
            NAME,
            (
                "Ready",
                "string",
                0,
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            (
                "Status",
                "string",
                0,
                "The aggregate status of the containers in this pod.",
            ),
            (
                "Restarts",
                "string",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            AGE,
            (
                "IP",
                "string",
                1,
                "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
            ),
            (
                "Node",
                "string",
                1,
                "NodeName is a request to schedule this pod onto a specific node.",
            ),
            (
                "Nominated Node",
                "string",
                1,
                "nominatedNodeName is set when this pod preempts other pods on the node.",
            ),
            (
                "Readiness Gates",
                "string",
                1,
                "If specified, all readiness gates will be evaluated for pod readiness.",
            ),
        ],
        "Deployment" => &[
            NAME,
            ("Ready", "string", 0, "Number of the pod with ready state"),
            (
                "Up-to-date",
                "integer",
                0,
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            (
                "Available",
                "integer",
                0,
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
            AGE,
            (
                "Containers",
                "string",
                1,
                "Names of each container in the template.",
            ),
            (
                "Images",
                "string",
                1,
                "Images referenced by each container in the template.",
            ),
            ("Selector", "string", 1, "Label selector for pods."),
        ],
        "ReplicaSet" => &[
            NAME,
            (
                "Desired",
                "integer",
                0,
                "Replicas is the number of desired replicas.",
            ),
            (
                "Current",
                "integer",
                0,
                "Replicas is the most recently observed number of replicas.",
            ),
            (
                "Ready",
                "integer",
                0,
                "The number of ready replicas for this replica set.",
            ),
            AGE,
            (
                "Containers",
                "string",
                1,
                "Names of each container in the template.",
            ),
            (
                "Images",
                "string",
                1,
                "Images referenced by each container in the template.",
            ),
            (
                "Selector",
                "string",
                1,
                "Selector is a label query over pods that should match the replica count.",
            ),
        ],
        "StatefulSet" => &[
            NAME,
            ("Ready", "string", 0, "Number of the pod with ready state"),
            AGE,
            (
                "Containers",
                "string",
                1,
                "Names of each container in the template.",
            ),
            (
                "Images",
                "string",
                1,
                "Images referenced by each container in the template.",
            ),
        ],
        "DaemonSet" => &[
            NAME,
            (
                "Desired",
                "integer",
                0,
                "The total number of nodes that should be running the daemon pod.",
            ),
            (
                "Current",
                "integer",
                0,
                "The number of nodes that are running at least 1 daemon pod.",
            ),
            (
                "Ready",
                "integer",
                0,
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
            ),
            (
                "Up-to-date",
                "integer",
                0,
                "The total number of nodes that are running updated daemon pod",
            ),
            (
                "Available",
                "integer",
                0,
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.",
            ),
            (
                "Node Selector",
                "string",
                0,
                "NodeSelector is a selector which must be true for the pod to fit on a node.",
            ),
            AGE,
            (
                "Containers",
                "string",
                1,
                "Names of each container in the template.",
            ),
            (
                "Images",
                "string",
                1,
                "Images referenced by each container in the template.",
            ),
            (
                "Selector",
                "string",
                1,
                "A label query over pods that are managed by the daemon set.",
            ),
        ],
        "Service" => &[
            NAME,
            (
                "Type",
                "string",
                0,
                "type determines how the Service is exposed.",
            ),
            (
                "Cluster-IP",
                "string",
                0,
                "clusterIP is the IP address of the service.",
            ),
            (
                "External-IP",
                "string",
                0,
                "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
            ),
            (
                "Port(s)",
                "string",
                0,
                "The list of ports that are exposed by this service.",
            ),
            AGE,
            (
                "Selector",
                "string",
                1,
                "Route service traffic to pods with label keys and values matching this selector.",
            ),
        ],
        "Node" => &[
            NAME,
            ("Status", "string", 0, "The status of the node"),
            ("Roles", "string", 0, "The roles of the node"),
            AGE,
            (
                "Version",
                "string",
                0,
                "Kubelet Version reported by the node.",
            ),
            ("Internal-IP", "string", 1, "List of internal IPs."),
            ("External-IP", "string", 1, "List of external IPs."),
            (
                "OS-Image",
                "string",
                1,
                "OS Image reported by the node from /etc/os-release.",
            ),
            (
                "Kernel-Version",
                "string",
                1,
                "Kernel Version reported by the node.",
            ),
            (
                "Container-Runtime",
                "string",
                1,
                "Container Runtime Version reported by the node.",
            ),
        ],
        "Namespace" => &[
            NAME,
            ("Status", "string", 0, "The status of the namespace"),
            AGE,
        ],
        "ConfigMap" => &[
            NAME,
            ("Data", "string", 0, "Data contains the configuration data."),
            AGE,
        ],
        "Secret" => &[
            NAME,
            ("Type", "string", 0, "The type of the secret"),
            ("Data", "string", 0, "The number of entries in the secret"),
            AGE,
        ],
        "ServiceAccount" => &[
            NAME,
            (
                "Secrets",
                "string",
                0,
                "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
            ),
            AGE,
        ],
        "Endpoints" => &[
            NAME,
            (
                "Endpoints",
                "string",
                0,
                "Endpoints is the list of endpoints in the set.",
            ),
            AGE,
        ],
        "Event" => &[
            (
                "Last Seen",
                "string",
                0,
                "Time when this Event was last observed.",
            ),
            (
                "Type",
                "string",
                0,
                "Type of this event (Normal, Warning), new types could be added in the future.",
            ),
            (
                "Reason",
                "string",
                0,
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
            ),
            (
                "Object",
                "string",
                0,
                "The object that this event is about.",
            ),
            (
                "Subobject",
                "string",
                1,
                "The subobject that this event is about.",
            ),
            ("Source", "string", 1, "The component reporting this event."),
            (
                "Message",
                "string",
                0,
                "A human-readable description of the status of this operation.",
            ),
            (
                "First Seen",
                "string",
                1,
                "The time at which the event was first recorded.",
            ),
            (
                "Count",
                "string",
                1,
                "The number of times this event has occurred.",
            ),
            (
                "Name",
                "string",
                1,
                "Name must be unique within a namespace.",
            ),
        ],
        "Ingress" => &[
            NAME,
            (
                "Class",
                "string",
                0,
                "The name of the IngressClass resource.",
            ),
            (
                "Hosts",
                "string",
                0,
                "Hosts that incoming requests are matched against.",
            ),
            (
                "Address",
                "string",
                0,
                "Address is a list containing ingress points for the load-balancer",
            ),
            (
                "Ports",
                "string",
                0,
                "Ports of TLS configurations that open",
            ),
            AGE,
        ],
        "EndpointSlice" => &[
            NAME,
            ("AddressType", "string", 0, "The IP protocol for this slice"),
            ("Ports", "string", 0, "The ports exposed by this slice"),
            (
                "Endpoints",
                "string",
                0,
                "The addresses of the endpoints in this slice",
            ),
            AGE,
        ],
        "CertificateSigningRequest" => &[
            NAME,
            AGE,
            ("SignerName", "string", 0, "The signer the request names"),
            ("Requestor", "string", 0, "Who made the request"),
            (
                "RequestedDuration",
                "string",
                0,
                "The certificate's lifetime the request asks for",
            ),
            (
                "Condition",
                "string",
                0,
                "Approved, denied or failed; issued",
            ),
        ],
        "Lease" => &[
            NAME,
            ("Holder", "string", 0, "The holder of the lease"),
            AGE,
        ],
        "RoleBinding" | "ClusterRoleBinding" => &[
            NAME,
            (
                "Role",
                "string",
                0,
                "RoleRef is the reference to the role this binding grants",
            ),
            AGE,
            ("Users", "string", 1, "Users in the binding"),
            ("Groups", "string", 1, "Groups in the binding"),
            (
                "ServiceAccounts",
                "string",
                1,
                "ServiceAccounts in the binding",
            ),
        ],
        "Role" | "ClusterRole" => &[
            NAME,
            ("Created At", "date", 0, "Time when the role was created"),
        ],
        "LimitRange" => &[
            NAME,
            (
                "Created At",
                "date",
                0,
                "CreationTimestamp is a timestamp representing the server time when this object was created.",
            ),
        ],
        "ResourceQuota" => &[
            NAME,
            AGE,
            (
                "Request",
                "string",
                0,
                "Request represents a minimum amount of cpu/memory that a container may consume.",
            ),
            (
                "Limit",
                "string",
                0,
                "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
            ),
        ],
        "Plugin" => &[
            NAME,
            (
                "Type",
                "string",
                0,
                "What the plugin is: controller, scheduler, cloud-provider, admission or addon.",
            ),
            ("Phase", "string", 0, "Pending, Loaded, Degraded or Failed."),
            (
                "Calls",
                "integer",
                0,
                "Calls into the plugin since it was loaded.",
            ),
            ("Errors", "integer", 0, "Calls that failed."),
            ("Latency", "string", 0, "Mean call latency."),
            AGE,
            (
                "Digest",
                "string",
                1,
                "The content digest of the loaded module.",
            ),
            ("Last Error", "string", 1, "The last failure."),
        ],
        _ => &[NAME, AGE],
    }
}

/// The `Table` for `objects` of one kind.
pub fn render(
    resource: &ResourceDef,
    objects: &[&Value],
    include: IncludeObject,
    metadata: Value,
    with_columns: bool,
) -> Value {
    let now = crate::meta::now();
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let mut row = json!({"cells": cells(resource.kind, object, now)});
            match include {
                IncludeObject::None => {}
                IncludeObject::Object => row["object"] = (*object).clone(),
                IncludeObject::Metadata => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": object.get("metadata").cloned().unwrap_or_default(),
                    })
                }
            }
            row
        })
        .collect();
    let mut table = json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "rows": rows});
    table["columnDefinitions"] = if with_columns {
        columns(resource.kind)
            .iter()
            .map(|(name, kind, priority, description)| {
                let format = if *name == "Name" { "name" } else { "" };
                json!({"name": name, "type": kind, "format": format, "description": description, "priority": priority})
            })
            .collect()
    } else {
        Value::Null
    };
    table
}

fn text(value: Option<&Value>) -> String {
    value
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn int(value: Option<&Value>) -> i64 {
    value.and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(text: String) -> String {
    if text.is_empty() {
        "<none>".into()
    } else {
        text
    }
}

fn joined<'a>(values: impl Iterator<Item = &'a Value>, field: &str) -> String {
    values
        .filter_map(|v| v.get(field).and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(",")
}

fn selector_text(selector: Option<&Value>) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(labels) = selector
        .and_then(|s| s.get("matchLabels").or(Some(s)))
        .and_then(Value::as_object)
    {
        for (key, value) in labels {
            if let Some(value) = value.as_str() {
                parts.push(format!("{key}={value}"));
            }
        }
    }
    or_none(parts.join(","))
}

fn age(object: &Value, field: &str, now: k8s_openapi::jiff::Timestamp) -> String {
    object
        .pointer(field)
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
        .map(|then| human_duration(now.as_second() - then.as_second()))
        .unwrap_or_else(|| "<unknown>".into())
}

/// Kubernetes' `duration.HumanDuration`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let s = seconds.max(0);
    let (m, h) = (s / 60, s / 3600);
    let (d, y) = (h / 24, h / (24 * 365));
    let pair = |big: i64, unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{unit}")
        } else {
            format!("{big}{unit}{small}{small_unit}")
        }
    };
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        pair(m, "m", s % 60, "s")
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        pair(h, "h", m % 60, "m")
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        pair(d, "d", h % 24, "h")
    } else if h < 24 * 365 * 2 {
        format!("{d}d")
    } else if y < 8 {
        pair(y, "y", d % 365, "d")
    } else {
        format!("{y}y")
    }
}

fn template_containers(object: &Value) -> (String, String) {
    let containers = object
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    (
        joined(containers.iter(), "name"),
        joined(containers.iter(), "image"),
    )
}

fn cells(kind: &str, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
    let name = json!(text(object.pointer("/metadata/name")));
    let created = json!(age(object, "/metadata/creationTimestamp", now));
    let spec = object.get("spec");
    let status = object.get("status");
    let at = |path: &str| object.pointer(path);
    match kind {
        "Pod" => pod_cells(object, name, created),
        "Deployment" => {
            let (containers, images) = template_containers(object);
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int(at("/status/readyReplicas")),
                    int(at("/spec/replicas"))
                )),
                json!(int(at("/status/updatedReplicas"))),
                json!(int(at("/status/availableReplicas"))),
                created,
                json!(containers),
                json!(images),
                json!(selector_text(at("/spec/selector"))),
            ]
        }
        "ReplicaSet" => {
            let (containers, images) = template_containers(object);
            vec![
                name,
                json!(int(at("/spec/replicas"))),
                json!(int(at("/status/replicas"))),
                json!(int(at("/status/readyReplicas"))),
                created,
                json!(containers),
                json!(images),
                json!(selector_text(at("/spec/selector"))),
            ]
        }
        "StatefulSet" => {
            let (containers, images) = template_containers(object);
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int(at("/status/readyReplicas")),
                    int(at("/spec/replicas"))
                )),
                created,
                json!(containers),
                json!(images),
            ]
        }
        "DaemonSet" => {
            let (containers, images) = template_containers(object);
            vec![
                name,
                json!(int(at("/status/desiredNumberScheduled"))),
                json!(int(at("/status/currentNumberScheduled"))),
                json!(int(at("/status/numberReady"))),
                json!(int(at("/status/updatedNumberScheduled"))),
                json!(int(at("/status/numberAvailable"))),
                json!(selector_text(at("/spec/template/spec/nodeSelector"))),
                created,
                json!(containers),
                json!(images),
                json!(selector_text(at("/spec/selector"))),
            ]
        }
        "Service" => {
            let ports = spec
                .and_then(|s| s.get("ports"))
                .and_then(Value::as_array)
                .map(|ports| {
                    ports
                        .iter()
                        .map(|p| {
                            let port = int(p.get("port"));
                            let protocol =
                                p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
                            match p.get("nodePort").and_then(Value::as_i64) {
                                Some(node_port) => format!("{port}:{node_port}/{protocol}"),
                                None => format!("{port}/{protocol}"),
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let mut external: Vec<String> = spec
                .and_then(|s| s.get("externalIPs"))
                .and_then(Value::as_array)
                .map(|ips| {
                    ips.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            if let Some(ingress) = at("/status/loadBalancer/ingress").and_then(Value::as_array) {
                external.extend(
                    ingress
                        .iter()
                        .filter_map(|i| i.get("ip").or(i.get("hostname")))
                        .filter_map(Value::as_str)
                        .map(String::from),
                );
            }
            let service_type = text(spec.and_then(|s| s.get("type")));
            let external = if external.is_empty() && service_type == "LoadBalancer" {
                "<pending>".into()
            } else {
                or_none(external.join(","))
            };
            vec![
                name,
                json!(service_type),
                json!(or_none(text(spec.and_then(|s| s.get("clusterIP"))))),
                json!(external),
                json!(or_none(ports)),
                created,
                json!(selector_text(spec.and_then(|s| s.get("selector")))),
            ]
        }
        "Node" => {
            let ready = status
                .and_then(|s| s.get("conditions"))
                .and_then(Value::as_array)
                .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
                .map(|c| {
                    if c["status"] == "True" {
                        "Ready"
                    } else {
                        "NotReady"
                    }
                })
                .unwrap_or("Unknown");
            let mut state = ready.to_string();
            if spec
                .and_then(|s| s.get("unschedulable"))
                .and_then(Value::as_bool)
                == Some(true)
            {
                state.push_str(",SchedulingDisabled");
            }
            let roles: Vec<String> = object
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|labels| {
                    labels
                        .keys()
                        .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            let address = |kind: &str| {
                at("/status/addresses")
                    .and_then(Value::as_array)
                    .and_then(|a| a.iter().find(|a| a["type"] == kind))
                    .map(|a| text(a.get("address")))
                    .unwrap_or_default()
            };
            vec![
                name,
                json!(state),
                json!(or_none(roles.join(","))),
                created,
                json!(text(at("/status/nodeInfo/kubeletVersion"))),
                json!(or_none(address("InternalIP"))),
                json!(or_none(address("ExternalIP"))),
                json!(or_none(text(at("/status/nodeInfo/osImage")))),
                json!(or_none(text(at("/status/nodeInfo/kernelVersion")))),
                json!(or_none(text(at(
                    "/status/nodeInfo/containerRuntimeVersion"
                )))),
            ]
        }
        "Namespace" => vec![name, json!(text(at("/status/phase"))), created],
        "ConfigMap" => {
            let count = object
                .get("data")
                .and_then(Value::as_object)
                .map_or(0, |d| d.len())
                + object
                    .get("binaryData")
                    .and_then(Value::as_object)
                    .map_or(0, |d| d.len());
            vec![name, json!(count), created]
        }
        "Secret" => {
            let count = object
                .get("data")
                .and_then(Value::as_object)
                .map_or(0, |d| d.len());
            vec![name, json!(text(object.get("type"))), json!(count), created]
        }
        "ServiceAccount" => {
            vec![
                name,
                json!(
                    object
                        .get("secrets")
                        .and_then(Value::as_array)
                        .map_or(0, |s| s.len())
                ),
                created,
            ]
        }
        "Endpoints" => {
            let mut endpoints = Vec::new();
            for subset in object
                .get("subsets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let ports: Vec<i64> = subset
                    .get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|p| int(p.get("port")))
                    .collect();
                for address in subset
                    .get("addresses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let ip = text(address.get("ip"));
                    if ports.is_empty() {
                        endpoints.push(ip);
                    } else {
                        endpoints.extend(ports.iter().map(|p| format!("{ip}:{p}")));
                    }
                }
            }
            vec![name, json!(or_none(endpoints.join(","))), created]
        }
        "Event" => {
            let last_seen = [
                "/lastTimestamp",
                "/eventTime",
                "/metadata/creationTimestamp",
            ]
            .iter()
            .find(|p| at(p).and_then(Value::as_str).is_some())
            .map(|p| age(object, p, now))
            .unwrap_or_else(|| "<unknown>".into());
            let first_seen = [
                "/firstTimestamp",
                "/eventTime",
                "/metadata/creationTimestamp",
            ]
            .iter()
            .find(|p| at(p).and_then(Value::as_str).is_some())
            .map(|p| age(object, p, now))
            .unwrap_or_else(|| "<unknown>".into());
            let involved = at("/involvedObject");
            let object_ref = format!(
                "{}/{}",
                text(involved.and_then(|i| i.get("kind"))).to_ascii_lowercase(),
                text(involved.and_then(|i| i.get("name")))
            );
            let source = or_none(
                text(at("/source/component")).to_string()
                    + &at("/source/host")
                        .and_then(Value::as_str)
                        .map(|h| format!(", {h}"))
                        .unwrap_or_default(),
            );
            vec![
                json!(last_seen),
                json!(text(at("/type"))),
                json!(text(at("/reason"))),
                json!(object_ref),
                json!(text(involved.and_then(|i| i.get("fieldPath")))),
                json!(source),
                json!(text(at("/message")).trim().to_string()),
                json!(first_seen),
                json!(int(at("/count")).max(1).to_string()),
                name,
            ]
        }
        "Ingress" => {
            let rules = spec
                .and_then(|s| s.get("rules"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let hosts: Vec<String> = rules
                .iter()
                .map(|r| {
                    r.get("host")
                        .and_then(Value::as_str)
                        .unwrap_or("*")
                        .to_string()
                })
                .collect();
            let address = at("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .map(|i| {
                    i.iter()
                        .filter_map(|i| i.get("ip").or(i.get("hostname")))
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let ports = if spec
                .and_then(|s| s.get("tls"))
                .and_then(Value::as_array)
                .is_some_and(|t| !t.is_empty())
            {
                "80, 443"
            } else {
                "80"
            };
            vec![
                name,
                json!(or_none(text(spec.and_then(|s| s.get("ingressClassName"))))),
                json!(if hosts.is_empty() {
                    "*".to_string()
                } else {
                    hosts.join(",")
                }),
                json!(address),
                json!(ports),
                created,
            ]
        }
        "EndpointSlice" => {
            let ports = object
                .get("ports")
                .and_then(Value::as_array)
                .map(|p| {
                    p.iter()
                        .map(|p| int(p.get("port")).to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let addresses: Vec<String> = object
                .get("endpoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .flat_map(|e| {
                    e.get("addresses")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default()
                })
                .filter_map(|a| a.as_str().map(String::from))
                .collect();
            vec![
                name,
                json!(text(object.get("addressType"))),
                json!(or_none(ports)),
                json!(or_none(addresses.join(","))),
                created,
            ]
        }
        "CertificateSigningRequest" => {
            let mut condition: Vec<String> = object
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|c| c["status"] != "False")
                .filter_map(|c| c["type"].as_str().map(String::from))
                .collect();
            if condition.is_empty() {
                condition.push("Pending".into());
            }
            if object
                .pointer("/status/certificate")
                .and_then(Value::as_str)
                .is_some_and(|c| !c.is_empty())
            {
                condition.push("Issued".into());
            }
            let duration = at("/spec/expirationSeconds")
                .and_then(Value::as_i64)
                .map(human_duration)
                .unwrap_or_else(|| "<none>".into());
            vec![
                name,
                created,
                json!(text(at("/spec/signerName"))),
                json!(text(at("/spec/username"))),
                json!(duration),
                json!(condition.join(",")),
            ]
        }
        "Lease" => vec![name, json!(text(at("/spec/holderIdentity"))), created],
        "RoleBinding" | "ClusterRoleBinding" => {
            let subjects = object
                .get("subjects")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let of = |kind: &str| {
                subjects
                    .iter()
                    .filter(|s| s["kind"] == kind)
                    .map(|s| {
                        let name = text(s.get("name"));
                        match (kind, s.get("namespace").and_then(Value::as_str)) {
                            ("ServiceAccount", Some(ns)) => format!("{ns}/{name}"),
                            _ => name,
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    text(at("/roleRef/kind")),
                    text(at("/roleRef/name"))
                )),
                created,
                json!(of("User")),
                json!(of("Group")),
                json!(of("ServiceAccount")),
            ]
        }
        "Role" | "ClusterRole" => vec![name, json!(text(at("/metadata/creationTimestamp")))],
        "LimitRange" => vec![name, json!(text(at("/metadata/creationTimestamp")))],
        "ResourceQuota" => {
            let (request, limit) = quota_columns(status);
            vec![name, created, json!(request), json!(limit)]
        }
        "Plugin" => vec![
            name,
            json!(text(at("/spec/type"))),
            json!(or_none(text(at("/status/phase")))),
            json!(int(at("/status/calls"))),
            json!(int(at("/status/errors"))),
            json!(or_none(text(at("/status/latency")))),
            created,
            json!(or_none(text(at("/status/loadedDigest")))),
            json!(or_none(text(at("/status/lastError")))),
        ],
        _ => vec![name, created],
    }
}

/// The REQUEST and LIMIT columns of a ResourceQuota (`printResourceQuota`):
/// `resource: used/hard` for each resource of `status.hard` in name order,
/// `limits.*` in the second. Quantities print as stored.
fn quota_columns(status: Option<&Value>) -> (String, String) {
    let hard = status
        .and_then(|s| s.get("hard"))
        .and_then(Value::as_object);
    let mut resources: Vec<(&String, &Value)> = hard.into_iter().flatten().collect();
    resources.sort_by(|a, b| a.0.cmp(b.0));
    let (mut request, mut limit) = (Vec::new(), Vec::new());
    for (resource, hard) in resources {
        let used = status
            .and_then(|s| s.get("used"))
            .and_then(|used| used.get(resource))
            .and_then(Value::as_str)
            .unwrap_or("0");
        let cell = format!("{resource}: {used}/{}", hard.as_str().unwrap_or("0"));
        match resource.split_once('.') {
            Some(("limits", _)) => limit.push(cell),
            _ => request.push(cell),
        }
    }
    (request.join(", "), limit.join(", "))
}

fn pod_cells(pod: &Value, name: Value, created: Value) -> Vec<Value> {
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, |c| c.len());
    let ready = statuses.iter().filter(|s| s["ready"] == true).count();
    let restarts: i64 = statuses.iter().map(|s| int(s.get("restartCount"))).sum();
    let mut reason = pod
        .pointer("/status/reason")
        .and_then(Value::as_str)
        .or_else(|| pod.pointer("/status/phase").and_then(Value::as_str))
        .unwrap_or("Pending")
        .to_string();
    let init_statuses = pod
        .pointer("/status/initContainerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let init_total = pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .map_or(0, |c| c.len());
    let mut initializing = false;
    for (i, status) in init_statuses.iter().enumerate() {
        let terminated = status.pointer("/state/terminated");
        if terminated.is_some_and(|t| t["exitCode"] == 0) {
            continue;
        }
        initializing = true;
        reason = match (
            terminated,
            status
                .pointer("/state/waiting/reason")
                .and_then(Value::as_str),
        ) {
            (Some(t), _) => format!(
                "Init:{}",
                t.get("reason").and_then(Value::as_str).unwrap_or("Error")
            ),
            (None, Some(waiting)) if waiting != "PodInitializing" => format!("Init:{waiting}"),
            _ => format!("Init:{i}/{init_total}"),
        };
        break;
    }
    if !initializing {
        for status in statuses.iter().rev() {
            if let Some(waiting) = status
                .pointer("/state/waiting/reason")
                .and_then(Value::as_str)
            {
                reason = waiting.to_string();
            } else if let Some(terminated) = status.pointer("/state/terminated") {
                reason = terminated
                    .get("reason")
                    .and_then(Value::as_str)
                    .map(String::from)
                    .unwrap_or_else(|| match terminated.get("signal").and_then(Value::as_i64) {
                        Some(signal) if signal != 0 => format!("Signal:{signal}"),
                        _ => format!("ExitCode:{}", int(terminated.get("exitCode"))),
                    });
            }
        }
    }
    if pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        reason = "Terminating".into();
    }
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let ip = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let nominated = pod
        .pointer("/status/nominatedNodeName")
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let gates = pod
        .pointer("/spec/readinessGates")
        .and_then(Value::as_array)
        .map_or("<none>".to_string(), |g| format!("0/{}", g.len()));
    vec![
        name,
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts.to_string()),
        created,
        json!(ip),
        json!(node),
        json!(nominated),
        json!(gates),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn ages_print_like_kubectl() {
        for (seconds, text) in [
            (5, "5s"),
            (119, "119s"),
            (150, "2m30s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (30 * 3600, "30h"),
            (3 * 86400 + 3600, "3d1h"),
            (40 * 86400, "40d"),
        ] {
            assert_eq!(human_duration(seconds), text, "{seconds}");
        }
    }

    #[test]
    fn every_kind_has_as_many_cells_as_columns() {
        let registry = Registry::builtin();
        for resource in registry.all() {
            let object =
                json!({"metadata": {"name": "x", "creationTimestamp": "2020-01-01T00:00:00Z"}});
            let table = render(resource, &[&object], IncludeObject::None, json!({}), true);
            let columns = table["columnDefinitions"].as_array().unwrap().len();
            let cells = table["rows"][0]["cells"].as_array().unwrap().len();
            assert_eq!(columns, cells, "{}", resource.kind);
        }
    }

    #[test]
    fn resource_quota_rows_split_requests_from_limits() {
        let registry = Registry::builtin();
        let quotas = registry.get("", "v1", "resourcequotas").unwrap();
        let quota = json!({
            "metadata": {"name": "compute", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "status": {
                "hard": {"requests.cpu": "1", "pods": "2", "limits.memory": "1Gi", "limits.cpu": "2",
                         "requests.nvidia.com/gpu": "4"},
                "used": {"pods": "1", "requests.cpu": "500m", "limits.cpu": "1"}
            }
        });
        let table = render(quotas, &[&quota], IncludeObject::None, json!({}), true);
        let cells = &table["rows"][0]["cells"];
        assert_eq!(cells[0], "compute");
        assert_eq!(
            cells[2],
            "pods: 1/2, requests.cpu: 500m/1, requests.nvidia.com/gpu: 0/4"
        );
        assert_eq!(cells[3], "limits.cpu: 1/2, limits.memory: 0/1Gi");
        let names: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|column| column["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Age", "Request", "Limit"]);
        // A quota not yet counted shows empty columns.
        let fresh = json!({"metadata": {"name": "new"}});
        let table = render(quotas, &[&fresh], IncludeObject::None, json!({}), false);
        assert_eq!(table["rows"][0]["cells"][2], "");
    }

    #[test]
    fn limit_range_rows_show_when_they_were_created() {
        let registry = Registry::builtin();
        let limits = registry.get("", "v1", "limitranges").unwrap();
        let range =
            json!({"metadata": {"name": "limits", "creationTimestamp": "2020-01-01T00:00:00Z"}});
        let table = render(limits, &[&range], IncludeObject::None, json!({}), true);
        assert_eq!(
            table["rows"][0]["cells"],
            json!(["limits", "2020-01-01T00:00:00Z"])
        );
        assert_eq!(table["columnDefinitions"][1]["type"], "date");
    }

    #[test]
    fn pod_rows_show_readiness_status_and_restarts() {
        let registry = Registry::builtin();
        let pods = registry.get("", "v1", "pods").unwrap();
        let pod = json!({
            "metadata": {"name": "web", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
            "status": {"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ]}
        });
        let table = render(pods, &[&pod], IncludeObject::Metadata, json!({}), true);
        let cells = &table["rows"][0]["cells"];
        assert_eq!(cells[0], "web");
        assert_eq!(cells[1], "1/2");
        assert_eq!(cells[2], "CrashLoopBackOff");
        assert_eq!(cells[3], "3");
        assert_eq!(cells[5], "10.0.0.5");
        assert_eq!(cells[6], "n1");
        assert_eq!(
            table["columnDefinitions"].as_array().unwrap().len(),
            cells.as_array().unwrap().len()
        );
        assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }
}
