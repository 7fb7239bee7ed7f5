//! The strategy of `Endpoints`.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::{int, or_none, text};

pub struct Endpoints;

#[async_trait::async_trait]
impl Strategy for Endpoints {
    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            (
                "Endpoints",
                "string",
                0,
                "Endpoints is the list of endpoints in the set.",
            ),
            AGE,
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
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
}
