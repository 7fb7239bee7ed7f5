//! The strategy of `IngressClass` (networking.k8s.io/v1).

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::error::Cause;
use crate::table::text;

pub struct IngressClass;

#[async_trait::async_trait]
impl Strategy for IngressClass {
    fn validate(&self, object: &Value, causes: &mut Vec<Cause>) {
        if object
            .pointer("/spec/controller")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            causes.push(Cause::required("spec.controller"));
        }
    }

    /// The controller never changes (kube).
    fn prepare_for_update(&self, current: &Value, next: &mut Value) {
        if let Some(controller) = current.pointer("/spec/controller") {
            next["spec"]["controller"] = controller.clone();
        }
    }

    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            (
                "Controller",
                "string",
                0,
                "Controller that is responsible for handling this class.",
            ),
            (
                "Parameters",
                "string",
                0,
                "A reference to a resource with additional parameters.",
            ),
            AGE,
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let parameters = match object.pointer("/spec/parameters") {
            Some(p) => {
                let group = p["apiGroup"]
                    .as_str()
                    .map(|g| format!(".{g}"))
                    .unwrap_or_default();
                format!("{}{group}/{}", text(p.get("kind")), text(p.get("name")))
            }
            None => "<none>".into(),
        };
        vec![
            name,
            json!(text(object.pointer("/spec/controller"))),
            json!(parameters),
            created,
        ]
    }
}
