//! The strategy of `NetworkPolicy` (networking.k8s.io/v1).

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::selector_text;
use crate::validation::ensure_object;

pub struct NetworkPolicy;

#[async_trait::async_trait]
impl Strategy for NetworkPolicy {
    /// kube's default `policyTypes`: Ingress, and Egress when it has egress
    /// rules.
    fn default(&self, object: &mut Value) {
        let spec = ensure_object(object, "spec");
        if spec["policyTypes"].as_array().is_none_or(|t| t.is_empty()) {
            let mut types = vec![json!("Ingress")];
            if spec["egress"].as_array().is_some_and(|e| !e.is_empty()) {
                types.push(json!("Egress"));
            }
            spec["policyTypes"] = json!(types);
        }
        if spec.get("podSelector").is_none() {
            spec["podSelector"] = json!({});
        }
    }

    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            (
                "Pod-Selector",
                "string",
                0,
                "Selects the pods to which this NetworkPolicy object applies.",
            ),
            AGE,
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let selector = selector_text(object.pointer("/spec/podSelector"));
        let selector = if selector == "<none>" {
            String::new()
        } else {
            selector
        };
        vec![name, json!(selector), created]
    }
}
