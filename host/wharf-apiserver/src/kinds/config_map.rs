//! The strategy of `ConfigMap`.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::error::Cause;
use crate::validation::validate_data_size;

pub struct ConfigMap;

#[async_trait::async_trait]
impl Strategy for ConfigMap {
    fn validate(&self, object: &Value, causes: &mut Vec<Cause>) {
        validate_data_size("ConfigMap", object, causes);
    }

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
