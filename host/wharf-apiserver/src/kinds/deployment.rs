//! `Deployment`: the columns `kubectl get` prints.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::{int, selector_text, template_containers};

pub struct Deployment;

impl Strategy for Deployment {
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
            (
                "Containers",
                "string",
                1,
                "Names of each container in the template.",
            ),
            (
                "Images",
                "string",
                1,
                "Images referenced by each container in the template.",
            ),
            ("Selector", "string", 1, "Label selector for pods."),
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let at = |path: &str| object.pointer(path);
        let (containers, images) = template_containers(object);
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
            json!(containers),
            json!(images),
            json!(selector_text(at("/spec/selector"))),
        ]
    }
}
