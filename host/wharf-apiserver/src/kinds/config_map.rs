//! `ConfigMap`: the columns `kubectl get` prints.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};

pub struct ConfigMap;

impl Strategy for ConfigMap {
    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            ("Data", "string", 0, "Data contains the configuration data."),
            AGE,
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
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
}
