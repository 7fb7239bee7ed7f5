//! The strategy of `PersistentVolume` and what it shares with
//! `PersistentVolumeClaim`'s (access modes as kubectl abbreviates them).

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::text;
use crate::validation::{ensure_object, set_default};

pub struct PersistentVolume;

#[async_trait::async_trait]
impl Strategy for PersistentVolume {
    fn default(&self, object: &mut Value) {
        let spec = ensure_object(object, "spec");
        set_default(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
        set_default(spec, "volumeMode", json!("Filesystem"));
        set_default(ensure_object(object, "status"), "phase", json!("Pending"));
    }

    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            ("Capacity", "string", 0, "The capacity of the volume."),
            (
                "Access Modes",
                "string",
                0,
                "How the volume can be mounted.",
            ),
            (
                "Reclaim Policy",
                "string",
                0,
                "What happens to the volume when released from its claim.",
            ),
            ("Status", "string", 0, "The phase of the volume."),
            ("Claim", "string", 0, "The claim bound to the volume."),
            (
                "StorageClass",
                "string",
                0,
                "The StorageClass of the volume.",
            ),
            (
                "VolumeAttributesClass",
                "string",
                0,
                "The VolumeAttributesClass of the volume.",
            ),
            ("Reason", "string", 0, "Why the volume is in this phase."),
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
        let claim = match (at("/spec/claimRef/namespace"), at("/spec/claimRef/name")) {
            (Some(namespace), Some(name)) => {
                format!("{}/{}", text(Some(namespace)), text(Some(name)))
            }
            _ => String::new(),
        };
        vec![
            name,
            json!(text(at("/spec/capacity/storage"))),
            json!(access_modes(at("/spec/accessModes"))),
            json!(text(at("/spec/persistentVolumeReclaimPolicy"))),
            json!(text(at("/status/phase"))),
            json!(claim),
            json!(text(at("/spec/storageClassName"))),
            json!(unset(at("/spec/volumeAttributesClassName"))),
            json!(text(at("/status/reason"))),
            created,
            json!(text(at("/spec/volumeMode"))),
        ]
    }
}

/// kubectl's short access modes (`RWO,ROX,RWX,RWOP`).
pub(super) fn access_modes(modes: Option<&Value>) -> String {
    let modes: Vec<&str> = modes
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| match m.as_str()? {
            "ReadWriteOnce" => Some("RWO"),
            "ReadOnlyMany" => Some("ROX"),
            "ReadWriteMany" => Some("RWX"),
            "ReadWriteOncePod" => Some("RWOP"),
            _ => None,
        })
        .collect();
    modes.join(",")
}

/// A name, or `<unset>` as kubectl prints an absent class.
pub(super) fn unset(value: Option<&Value>) -> String {
    match value.and_then(Value::as_str) {
        Some(text) if !text.is_empty() => text.to_string(),
        _ => "<unset>".into(),
    }
}
