//! The strategy of `CSIDriver` (storage.k8s.io/v1).

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::validation::{ensure_object, set_default};

pub struct CSIDriver;

#[async_trait::async_trait]
impl Strategy for CSIDriver {
    fn default(&self, object: &mut Value) {
        let spec = ensure_object(object, "spec");
        set_default(spec, "attachRequired", json!(true));
        set_default(spec, "podInfoOnMount", json!(false));
        set_default(spec, "storageCapacity", json!(false));
        set_default(spec, "requiresRepublish", json!(false));
        set_default(spec, "seLinuxMount", json!(false));
        set_default(spec, "fsGroupPolicy", json!("ReadWriteOnceWithFSType"));
        set_default(spec, "volumeLifecycleModes", json!(["Persistent"]));
    }

    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            (
                "AttachRequired",
                "boolean",
                0,
                "Whether the driver needs an attach operation.",
            ),
            (
                "PodInfoOnMount",
                "boolean",
                0,
                "Whether the driver gets pod information on mount.",
            ),
            (
                "StorageCapacity",
                "boolean",
                0,
                "Whether the driver reports storage capacity.",
            ),
            (
                "TokenRequests",
                "string",
                0,
                "The audiences of the tokens the driver gets.",
            ),
            (
                "RequiresRepublish",
                "boolean",
                0,
                "Whether NodePublishVolume is called periodically.",
            ),
            (
                "Modes",
                "string",
                0,
                "The volume lifecycle modes the driver supports.",
            ),
            AGE,
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let flag = |field: &str| json!(object["spec"][field].as_bool().unwrap_or(false));
        let audiences: Vec<&str> = object["spec"]["tokenRequests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["audience"].as_str())
            .collect();
        let modes: Vec<&str> = object["spec"]["volumeLifecycleModes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        vec![
            name,
            flag("attachRequired"),
            flag("podInfoOnMount"),
            flag("storageCapacity"),
            json!(if audiences.is_empty() {
                "<unset>".to_string()
            } else {
                audiences.join(",")
            }),
            flag("requiresRepublish"),
            json!(modes.join(",")),
            created,
        ]
    }
}
