//! The strategy of `Lease`.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::text;

pub struct Lease;

#[async_trait::async_trait]
impl Strategy for Lease {
    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            ("Holder", "string", 0, "The holder of the lease"),
            AGE,
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let at = |path: &str| object.pointer(path);
        vec![name, json!(text(at("/spec/holderIdentity"))), created]
    }
}
