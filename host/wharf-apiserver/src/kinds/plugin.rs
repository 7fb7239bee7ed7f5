//! The strategy of `Plugin`.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::error::Cause;
use crate::table::{int, or_none, text};

pub struct Plugin;

#[async_trait::async_trait]
impl Strategy for Plugin {
    fn validate(&self, object: &Value, causes: &mut Vec<Cause>) {
        // The worlds of `wit/plugins.wit`, and those this host serves.
        const TYPES: [&str; 5] = [
            "controller",
            "scheduler",
            "cloud-provider",
            "admission",
            "addon",
        ];
        const SERVED: [&str; 3] = ["controller", "scheduler", "admission"];
        let plugin_type = object
            .pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !SERVED.contains(&plugin_type) {
            let not_yet = if TYPES.contains(&plugin_type) {
                format!(": plugins of type \"{plugin_type}\" are not served by this host yet")
            } else {
                String::new()
            };
            causes.push(Cause {
                reason: "FieldValueNotSupported",
                field: "spec.type".into(),
                message: format!(
                    "Unsupported value: \"{plugin_type}\"{not_yet}: supported values: \"{}\"",
                    SERVED.join("\", \"")
                ),
            });
        }
        if object
            .pointer("/spec/module")
            .and_then(Value::as_str)
            .is_none_or(|m| m.trim().is_empty())
        {
            causes.push(Cause::required("spec.module"));
        }
    }

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
