//! The strategy of `Role` and `ClusterRole`.

use serde_json::{Value, json};

use super::{Column, NAME, Strategy, name_and_age};
use crate::table::text;

pub struct Role;

#[async_trait::async_trait]
impl Strategy for Role {
    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            ("Created At", "date", 0, "Time when the role was created"),
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, _) = name_and_age(object, now);
        let at = |path: &str| object.pointer(path);
        vec![name, json!(text(at("/metadata/creationTimestamp")))]
    }
}
