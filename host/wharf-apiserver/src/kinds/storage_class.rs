//! The strategy of `StorageClass` (storage.k8s.io/v1).

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::error::Cause;
use crate::table::text;
use crate::validation::set_default;

pub struct StorageClass;

#[async_trait::async_trait]
impl Strategy for StorageClass {
    fn default(&self, object: &mut Value) {
        set_default(object, "reclaimPolicy", json!("Delete"));
        set_default(object, "volumeBindingMode", json!("Immediate"));
    }

    fn validate(&self, object: &Value, causes: &mut Vec<Cause>) {
        if object["provisioner"].as_str().is_none_or(str::is_empty) {
            causes.push(Cause::required("provisioner"));
        }
    }

    /// The provisioner and parameters never change.
    fn prepare_for_update(&self, current: &Value, next: &mut Value) {
        for field in [
            "provisioner",
            "parameters",
            "reclaimPolicy",
            "volumeBindingMode",
        ] {
            if let Some(value) = current.get(field) {
                next[field] = value.clone();
            }
        }
    }

    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            (
                "Provisioner",
                "string",
                0,
                "Indicates the type of the provisioner.",
            ),
            (
                "ReclaimPolicy",
                "string",
                0,
                "Indicates the type of the reclaim policy.",
            ),
            (
                "VolumeBindingMode",
                "string",
                0,
                "Indicates how PersistentVolumeClaims should be bound.",
            ),
            (
                "AllowVolumeExpansion",
                "string",
                0,
                "Indicates whether the storage class allow volume expand.",
            ),
            AGE,
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let default = object
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .is_some_and(|a| {
                [
                    "storageclass.kubernetes.io/is-default-class",
                    "storageclass.beta.kubernetes.io/is-default-class",
                ]
                .iter()
                .any(|key| a.get(*key).and_then(Value::as_str) == Some("true"))
            });
        let name = if default {
            json!(format!("{} (default)", name.as_str().unwrap_or_default()))
        } else {
            name
        };
        vec![
            name,
            json!(text(object.get("provisioner"))),
            json!(text(object.get("reclaimPolicy"))),
            json!(text(object.get("volumeBindingMode"))),
            json!(
                object["allowVolumeExpansion"]
                    .as_bool()
                    .unwrap_or(false)
                    .to_string()
            ),
            created,
        ]
    }
}
