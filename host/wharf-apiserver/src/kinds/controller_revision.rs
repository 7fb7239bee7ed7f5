//! The strategy of `ControllerRevision` (apps/v1).

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::int;

pub struct ControllerRevision;

#[async_trait::async_trait]
impl Strategy for ControllerRevision {
    /// A revision's data never changes (kube).
    fn prepare_for_update(&self, current: &Value, next: &mut Value) {
        if let Some(data) = current.get("data") {
            next["data"] = data.clone();
        }
    }

    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            ("Controller", "string", 0, "Controller of the object."),
            (
                "Revision",
                "integer",
                0,
                "Revision of the ControllerRevision.",
            ),
            AGE,
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let controller = object["metadata"]["ownerReferences"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["controller"] == true)
            .map(|owner| {
                let kind = owner["kind"].as_str().unwrap_or_default().to_lowercase();
                let group = owner["apiVersion"]
                    .as_str()
                    .and_then(|v| v.split_once('/'))
                    .map(|(group, _)| format!(".{group}"))
                    .unwrap_or_default();
                format!(
                    "{kind}{group}/{}",
                    owner["name"].as_str().unwrap_or_default()
                )
            })
            .unwrap_or_else(|| "<none>".into());
        vec![
            name,
            json!(controller),
            json!(int(object.get("revision"))),
            created,
        ]
    }
}
