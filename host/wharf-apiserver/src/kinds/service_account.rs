//! The strategy of `ServiceAccount`.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};

pub struct ServiceAccount;

#[async_trait::async_trait]
impl Strategy for ServiceAccount {
    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            (
                "Secrets",
                "string",
                0,
                "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
            ),
            AGE,
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
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
}
