//! The strategy of `PodDisruptionBudget` (policy/v1).

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::error::Cause;
use crate::table::int;

pub struct PodDisruptionBudget;

#[async_trait::async_trait]
impl Strategy for PodDisruptionBudget {
    fn validate(&self, object: &Value, causes: &mut Vec<Cause>) {
        let spec = &object["spec"];
        if spec.get("minAvailable").is_some() && spec.get("maxUnavailable").is_some() {
            causes.push(Cause::invalid(
                "spec",
                "Invalid value: minAvailable and maxUnavailable cannot be both set",
            ));
        }
    }

    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            (
                "Min Available",
                "string",
                0,
                "The minimum number of pods that must be available.",
            ),
            (
                "Max Unavailable",
                "string",
                0,
                "The maximum number of pods that may be unavailable.",
            ),
            (
                "Allowed Disruptions",
                "integer",
                0,
                "Calculated number of pods that may be disrupted at this time.",
            ),
            AGE,
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let either = |field: &str| match object.pointer(&format!("/spec/{field}")) {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Number(number)) => number.to_string(),
            _ => "N/A".into(),
        };
        vec![
            name,
            json!(either("minAvailable")),
            json!(either("maxUnavailable")),
            json!(int(object.pointer("/status/disruptionsAllowed"))),
            created,
        ]
    }
}
