//! The strategy of `StatefulSet`.

use serde_json::{Value, json};

use super::{AGE, CONTAINERS, Column, IMAGES, NAME, Strategy, name_and_age};
use crate::error::Cause;
use crate::table::{containers_cells, int};
use crate::validation::{default_template, ensure_object, set_default, validate_workload};

pub struct StatefulSet;

#[async_trait::async_trait]
impl Strategy for StatefulSet {
    fn default(&self, object: &mut Value) {
        let spec = ensure_object(object, "spec");
        set_default(spec, "replicas", json!(1));
        set_default(spec, "podManagementPolicy", json!("OrderedReady"));
        set_default(spec, "revisionHistoryLimit", json!(10));
        let strategy = ensure_object(spec, "updateStrategy");
        set_default(strategy, "type", json!("RollingUpdate"));
        if strategy["type"] == "RollingUpdate" {
            set_default(
                ensure_object(strategy, "rollingUpdate"),
                "partition",
                json!(0),
            );
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
            AGE,
            CONTAINERS,
            IMAGES,
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
            created,
            containers,
            images,
        ]
    }
}
