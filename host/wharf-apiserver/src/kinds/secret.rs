//! The strategy of `Secret`.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::error::Cause;
use crate::table::text;
use crate::validation::{fold_string_data, set_default, validate_data_size};

pub struct Secret;

#[async_trait::async_trait]
impl Strategy for Secret {
    fn default(&self, object: &mut Value) {
        set_default(object, "type", json!("Opaque"));
        fold_string_data(object);
    }

    fn validate(&self, object: &Value, causes: &mut Vec<Cause>) {
        validate_data_size("Secret", object, causes);
    }

    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            ("Type", "string", 0, "The type of the secret"),
            ("Data", "string", 0, "The number of entries in the secret"),
            AGE,
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let count = object
            .get("data")
            .and_then(Value::as_object)
            .map_or(0, |d| d.len());
        vec![name, json!(text(object.get("type"))), json!(count), created]
    }
}
