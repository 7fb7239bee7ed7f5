//! `Namespace`: the columns `kubectl get` prints.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::text;

pub struct Namespace;

impl Strategy for Namespace {
    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            ("Status", "string", 0, "The status of the namespace"),
            AGE,
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let at = |path: &str| object.pointer(path);
        vec![name, json!(text(at("/status/phase"))), created]
    }
}
