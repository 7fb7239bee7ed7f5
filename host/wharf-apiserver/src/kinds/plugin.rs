//! `Plugin`: the columns `kubectl get` prints.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::{int, or_none, text};

pub struct Plugin;

impl Strategy for Plugin {
    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            (
                "Type",
                "string",
                0,
                "What the plugin is: controller, scheduler, cloud-provider, admission or addon.",
            ),
            ("Phase", "string", 0, "Pending, Loaded, Degraded or Failed."),
            (
                "Calls",
                "integer",
                0,
                "Calls into the plugin since it was loaded.",
            ),
            ("Errors", "integer", 0, "Calls that failed."),
            ("Latency", "string", 0, "Mean call latency."),
            AGE,
            (
                "Digest",
                "string",
                1,
                "The content digest of the loaded module.",
            ),
            ("Last Error", "string", 1, "The last failure."),
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let at = |path: &str| object.pointer(path);
        vec![
            name,
            json!(text(at("/spec/type"))),
            json!(or_none(text(at("/status/phase")))),
            json!(int(at("/status/calls"))),
            json!(int(at("/status/errors"))),
            json!(or_none(text(at("/status/latency")))),
            created,
            json!(or_none(text(at("/status/loadedDigest")))),
            json!(or_none(text(at("/status/lastError")))),
        ]
    }
}
