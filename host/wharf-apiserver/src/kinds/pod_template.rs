//! The strategy of `PodTemplate`.

use serde_json::{Value, json};

use super::{Column, Strategy, name_and_age};
use crate::error::Cause;
use crate::table::{containers_cells, selector_text};
use crate::validation::{default_pod_spec, validate_pod_spec};

pub struct PodTemplate;

#[async_trait::async_trait]
impl Strategy for PodTemplate {
    fn default(&self, object: &mut Value) {
        if let Some(spec) = object.pointer_mut("/template/spec") {
            default_pod_spec(spec);
        }
    }

    fn validate(&self, object: &Value, causes: &mut Vec<Cause>) {
        validate_pod_spec(object.pointer("/template/spec"), "template.spec", causes);
    }

    fn columns(&self) -> &'static [Column] {
        &[
            (
                "Template",
                "string",
                0,
                "Name must be unique within a namespace.",
            ),
            (
                "Containers",
                "string",
                0,
                "Names of each container in the template.",
            ),
            (
                "Images",
                "string",
                0,
                "Images referenced by each container in the template.",
            ),
            (
                "Pod Labels",
                "string",
                0,
                "The labels for the pod template.",
            ),
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, _) = name_and_age(object, now);
        let [containers, images] = containers_cells(object.pointer("/template/spec"));
        vec![
            name,
            containers,
            images,
            json!(selector_text(object.pointer("/template/metadata/labels"))),
        ]
    }
}
