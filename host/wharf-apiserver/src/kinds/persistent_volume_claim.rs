//! The strategy of `PersistentVolumeClaim`.

use serde_json::{Value, json};

use super::persistent_volume::{access_modes, unset};
use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::text;
use crate::validation::{ensure_object, set_default};

pub struct PersistentVolumeClaim;

#[async_trait::async_trait]
impl Strategy for PersistentVolumeClaim {
    fn default(&self, object: &mut Value) {
        let spec = ensure_object(object, "spec");
        set_default(spec, "volumeMode", json!("Filesystem"));
        set_default(ensure_object(object, "status"), "phase", json!("Pending"));
    }

    /// What a claim asked for does not change (kube: spec is immutable
    /// after creation, but for resource requests and the volume name).
    fn prepare_for_update(&self, current: &Value, next: &mut Value) {
        for field in [
            "accessModes",
            "selector",
            "storageClassName",
            "volumeMode",
            "dataSource",
        ] {
            match current.pointer(&format!("/spec/{field}")) {
                Some(value) => next["spec"][field] = value.clone(),
                None => {
                    if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.remove(field);
                    }
                }
            }
        }
    }

    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            ("Status", "string", 0, "The phase of the claim."),
            ("Volume", "string", 0, "The volume bound to the claim."),
            ("Capacity", "string", 0, "The capacity of the bound volume."),
            (
                "Access Modes",
                "string",
                0,
                "How the volume can be mounted.",
            ),
            (
                "StorageClass",
                "string",
                0,
                "The StorageClass the claim asks for.",
            ),
            (
                "VolumeAttributesClass",
                "string",
                0,
                "The VolumeAttributesClass of the claim.",
            ),
            AGE,
            (
                "VolumeMode",
                "string",
                1,
                "Whether the volume is a filesystem or a block device.",
            ),
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let at = |path: &str| object.pointer(path);
        let bound = at("/status/phase").and_then(Value::as_str) == Some("Bound");
        let (capacity, modes) = if bound {
            (
                text(at("/status/capacity/storage")),
                access_modes(at("/status/accessModes")),
            )
        } else {
            (String::new(), String::new())
        };
        vec![
            name,
            json!(text(at("/status/phase"))),
            json!(text(at("/spec/volumeName"))),
            json!(capacity),
            json!(modes),
            json!(text(at("/spec/storageClassName"))),
            json!(unset(at("/spec/volumeAttributesClassName"))),
            created,
            json!(text(at("/spec/volumeMode"))),
        ]
    }
}
