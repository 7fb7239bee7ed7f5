//! The strategy of `Node`.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::{or_none, text};

pub struct Node;

#[async_trait::async_trait]
impl Strategy for Node {
    fn columns(&self) -> &'static [Column] {
        &[
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
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let spec = object.get("spec");
        let status = object.get("status");
        let at = |path: &str| object.pointer(path);
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
}
