//! The strategy of `EndpointSlice`.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::{int, or_none, text};

pub struct EndpointSlice;

#[async_trait::async_trait]
impl Strategy for EndpointSlice {
    fn columns(&self) -> &'static [Column] {
        &[
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
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
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
}
