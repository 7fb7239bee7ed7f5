//! `StatefulSet`: the columns `kubectl get` prints.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::{int, template_containers};

pub struct StatefulSet;

impl Strategy for StatefulSet {
    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            ("Ready", "string", 0, "Number of the pod with ready state"),
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
            created,
            json!(containers),
            json!(images),
        ]
    }
}
