//! The strategy of `DaemonSet`.

use serde_json::{Value, json};

use super::{AGE, CONTAINERS, Column, IMAGES, NAME, Strategy, name_and_age};
use crate::error::Cause;
use crate::table::{containers_cells, int, selector_text};
use crate::validation::{default_template, ensure_object, set_default, validate_workload};

pub struct DaemonSet;

#[async_trait::async_trait]
impl Strategy for DaemonSet {
    fn default(&self, object: &mut Value) {
        let spec = ensure_object(object, "spec");
        set_default(spec, "revisionHistoryLimit", json!(10));
        let strategy = ensure_object(spec, "updateStrategy");
        set_default(strategy, "type", json!("RollingUpdate"));
        if strategy["type"] == "RollingUpdate" {
            let rolling = ensure_object(strategy, "rollingUpdate");
            set_default(rolling, "maxUnavailable", json!(1));
            set_default(rolling, "maxSurge", json!(0));
        }
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
            CONTAINERS,
            IMAGES,
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
        let [containers, images] = containers_cells(at("/spec/template/spec"));
        vec![
            name,
            json!(int(at("/status/desiredNumberScheduled"))),
            json!(int(at("/status/currentNumberScheduled"))),
            json!(int(at("/status/numberReady"))),
            json!(int(at("/status/updatedNumberScheduled"))),
            json!(int(at("/status/numberAvailable"))),
            json!(selector_text(at("/spec/template/spec/nodeSelector"))),
            created,
            containers,
            images,
            json!(selector_text(at("/spec/selector"))),
        ]
    }
}
