//! The strategy of `Deployment`.

use serde_json::{Value, json};

use super::{AGE, CONTAINERS, Column, IMAGES, NAME, SELECTOR, Strategy, name_and_age};
use crate::error::Cause;
use crate::table::{containers_cells, int, selector_text};
use crate::validation::{default_template, ensure_object, set_default, validate_workload};

pub struct Deployment;

#[async_trait::async_trait]
impl Strategy for Deployment {
    fn default(&self, object: &mut Value) {
        let spec = ensure_object(object, "spec");
        set_default(spec, "replicas", json!(1));
        set_default(spec, "revisionHistoryLimit", json!(10));
        set_default(spec, "progressDeadlineSeconds", json!(600));
        let strategy = ensure_object(spec, "strategy");
        set_default(strategy, "type", json!("RollingUpdate"));
        if strategy["type"] == "RollingUpdate" {
            let rolling = ensure_object(strategy, "rollingUpdate");
            set_default(rolling, "maxUnavailable", json!("25%"));
            set_default(rolling, "maxSurge", json!("25%"));
        }
        default_template(spec);
    }

    fn validate(&self, object: &Value, causes: &mut Vec<Cause>) {
        validate_workload(object, causes);
    }

    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            ("Ready", "string", 0, "Number of the pod with ready state"),
            (
                "Up-to-date",
                "integer",
                0,
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            (
                "Available",
                "integer",
                0,
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
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
            json!(format!(
                "{}/{}",
                int(at("/status/readyReplicas")),
                int(at("/spec/replicas"))
            )),
            json!(int(at("/status/updatedReplicas"))),
            json!(int(at("/status/availableReplicas"))),
            created,
            containers,
            images,
            json!(selector_text(at("/spec/selector"))),
        ]
    }
}
