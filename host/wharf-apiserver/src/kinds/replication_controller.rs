//! The strategy of `ReplicationController`.

use serde_json::{Value, json};

use super::{AGE, CONTAINERS, Column, IMAGES, NAME, SELECTOR, Strategy, name_and_age};
use crate::error::Cause;
use crate::table::{containers_cells, int, selector_text};
use crate::validation::{
    default_template, ensure_object, set_default, validate_pod_spec, validate_template_labels,
};

pub struct ReplicationController;

#[async_trait::async_trait]
impl Strategy for ReplicationController {
    /// kube's defaults: one replica, and a selector (and labels) from the
    /// template's labels.
    fn default(&self, object: &mut Value) {
        let template_labels = object
            .pointer("/spec/template/metadata/labels")
            .cloned()
            .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()));
        if let Some(labels) = template_labels {
            let spec = ensure_object(object, "spec");
            if spec["selector"].as_object().is_none_or(|s| s.is_empty()) {
                spec["selector"] = labels.clone();
            }
            let metadata = ensure_object(object, "metadata");
            if metadata["labels"].as_object().is_none_or(|l| l.is_empty()) {
                metadata["labels"] = labels;
            }
        }
        let spec = ensure_object(object, "spec");
        set_default(spec, "replicas", json!(1));
        default_template(spec);
    }

    fn validate(&self, object: &Value, causes: &mut Vec<Cause>) {
        // An RC's selector is a plain label map, not a LabelSelector.
        match object.pointer("/spec/selector").and_then(Value::as_object) {
            Some(selector) if !selector.is_empty() => {
                validate_template_labels(selector, object, causes);
            }
            _ => causes.push(Cause::required("spec.selector")),
        }
        validate_pod_spec(
            object.pointer("/spec/template/spec"),
            "spec.template.spec",
            causes,
        );
    }

    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            ("Desired", "integer", 0, "Number of desired pods."),
            ("Current", "integer", 0, "Number of actual replicas."),
            (
                "Ready",
                "integer",
                0,
                "The number of ready replicas for this replication controller.",
            ),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let at = |path: &str| object.pointer(path);
        let [containers, images] = containers_cells(at("/spec/template/spec"));
        vec![
            name,
            json!(int(at("/spec/replicas"))),
            json!(int(at("/status/replicas"))),
            json!(int(at("/status/readyReplicas"))),
            created,
            containers,
            images,
            json!(selector_text(at("/spec/selector"))),
        ]
    }
}
