//! The strategy of `Service`.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::{int, or_none, selector_text, text};
use crate::validation::{ensure_object, set_default};

pub struct Service;

#[async_trait::async_trait]
impl Strategy for Service {
    /// Its ClusterIPs and NodePorts: the asked-for ones checked, missing
    /// ones chosen (kube's allocators, `allocator.rs`).
    async fn allocate(
        &self,
        objects: &crate::Objects,
        current: Option<&Value>,
        next: &mut Value,
        claimed: &mut crate::allocator::Claimed,
    ) -> crate::error::ApiResult<()> {
        objects.allocator.assign(next, current, claimed).await
    }

    /// What it no longer holds goes back.
    async fn written(&self, objects: &crate::Objects, current: &Value, kept: Option<&Value>) {
        objects.allocator.free_unused(current, kept).await;
    }

    /// kube's Service strategy: a new Service's status is empty (a load
    /// balancer's address comes later, through the status).
    async fn prepare_for_create(
        &self,
        _objects: &crate::Objects,
        _namespace: Option<&str>,
        _user: &crate::admission::UserInfo,
        object: &mut Value,
    ) -> crate::error::ApiResult<()> {
        object["status"] = json!({"loadBalancer": {}});
        Ok(())
    }

    fn default(&self, object: &mut Value) {
        let spec = ensure_object(object, "spec");
        set_default(spec, "type", json!("ClusterIP"));
        set_default(spec, "sessionAffinity", json!("None"));
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                port.entry("protocol").or_insert(json!("TCP"));
                if let Some(number) = port.get("port").cloned() {
                    port.entry("targetPort").or_insert(number);
                }
            }
        }
    }

    fn columns(&self) -> &'static [Column] {
        &[
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
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let spec = object.get("spec");
        let at = |path: &str| object.pointer(path);
        let ports = spec
            .and_then(|s| s.get("ports"))
            .and_then(Value::as_array)
            .map(|ports| {
                ports
                    .iter()
                    .map(|p| {
                        let port = int(p.get("port"));
                        let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
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
}
