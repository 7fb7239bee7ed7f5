//! The strategy of `ReplicaSet`.

use serde_json::{Value, json};

use super::{AGE, CONTAINERS, Column, IMAGES, NAME, Strategy, name_and_age};
use crate::error::Cause;
use crate::table::{containers_cells, int, selector_text};
use crate::validation::{default_template, ensure_object, set_default, validate_workload};

pub struct ReplicaSet;

#[async_trait::async_trait]
impl Strategy for ReplicaSet {
    fn default(&self, object: &mut Value) {
        let spec = ensure_object(object, "spec");
        set_default(spec, "replicas", json!(1));
        default_template(spec);
    }

    fn validate(&self, object: &Value, causes: &mut Vec<Cause>) {
        validate_workload(object, causes);
    }

    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            (
                "Desired",
                "integer",
                0,
                "Replicas is the number of desired replicas.",
            ),
            (
                "Current",
                "integer",
                0,
                "Replicas is the most recently observed number of replicas.",
            ),
            (
                "Ready",
                "integer",
                0,
                "The number of ready replicas for this replica set.",
            ),
            AGE,
            CONTAINERS,
            IMAGES,
            (
                "Selector",
                "string",
                1,
                "Selector is a label query over pods that should match the replica count.",
            ),
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
