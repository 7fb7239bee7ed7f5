//! The strategy of `VolumeAttachment` (storage.k8s.io/v1).

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::text;

pub struct VolumeAttachment;

#[async_trait::async_trait]
impl Strategy for VolumeAttachment {
    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            (
                "Attacher",
                "string",
                0,
                "Attacher indicates the name of the volume driver that MUST handle this request.",
            ),
            (
                "PV",
                "string",
                0,
                "Name of the persistent volume to attach.",
            ),
            (
                "Node",
                "string",
                0,
                "The node that the volume should be attached to.",
            ),
            (
                "Attached",
                "boolean",
                0,
                "Indicates the volume is successfully attached.",
            ),
            AGE,
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let at = |path: &str| object.pointer(path);
        vec![
            name,
            json!(text(at("/spec/attacher"))),
            json!(text(at("/spec/source/persistentVolumeName"))),
            json!(text(at("/spec/nodeName"))),
            json!(
                at("/status/attached")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            ),
            created,
        ]
    }
}
