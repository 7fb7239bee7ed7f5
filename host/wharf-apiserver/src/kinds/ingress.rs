//! The strategy of `Ingress`.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::{or_none, text};

pub struct Ingress;

#[async_trait::async_trait]
impl Strategy for Ingress {
    fn columns(&self) -> &'static [Column] {
        &[
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
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let spec = object.get("spec");
        let at = |path: &str| object.pointer(path);
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
}
