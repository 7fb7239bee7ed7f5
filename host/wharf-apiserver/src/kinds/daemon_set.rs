//! `DaemonSet`: the columns `kubectl get` prints.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::{int, selector_text, template_containers};

pub struct DaemonSet;

impl Strategy for DaemonSet {
    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            (
                "Desired",
                "integer",
                0,
                "The total number of nodes that should be running the daemon pod.",
            ),
            (
                "Current",
                "integer",
                0,
                "The number of nodes that are running at least 1 daemon pod.",
            ),
            (
                "Ready",
                "integer",
                0,
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
            ),
            (
                "Up-to-date",
                "integer",
                0,
                "The total number of nodes that are running updated daemon pod",
            ),
            (
                "Available",
                "integer",
                0,
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.",
            ),
            (
                "Node Selector",
                "string",
                0,
                "NodeSelector is a selector which must be true for the pod to fit on a node.",
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
            (
                "Selector",
                "string",
                1,
                "A label query over pods that are managed by the daemon set.",
            ),
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let at = |path: &str| object.pointer(path);
        let (containers, images) = template_containers(object);
        vec![
            name,
            json!(int(at("/status/desiredNumberScheduled"))),
            json!(int(at("/status/currentNumberScheduled"))),
            json!(int(at("/status/numberReady"))),
            json!(int(at("/status/updatedNumberScheduled"))),
            json!(int(at("/status/numberAvailable"))),
            json!(selector_text(at("/spec/template/spec/nodeSelector"))),
            created,
            json!(containers),
            json!(images),
            json!(selector_text(at("/spec/selector"))),
        ]
    }
}
