//! The strategy of `LimitRange`.

use serde_json::{Value, json};

use super::{Column, NAME, Strategy, name_and_age};
use crate::table::text;

pub struct LimitRange;

#[async_trait::async_trait]
impl Strategy for LimitRange {
    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            (
                "Created At",
                "date",
                0,
                "CreationTimestamp is a timestamp representing the server time when this object was created.",
            ),
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, _) = name_and_age(object, now);
        let at = |path: &str| object.pointer(path);
        vec![name, json!(text(at("/metadata/creationTimestamp")))]
    }
}
