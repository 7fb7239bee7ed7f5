//! `CertificateSigningRequest`: the columns `kubectl get` prints.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::{human_duration, text};

pub struct CertificateSigningRequest;

impl Strategy for CertificateSigningRequest {
    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            AGE,
            ("SignerName", "string", 0, "The signer the request names"),
            ("Requestor", "string", 0, "Who made the request"),
            (
                "RequestedDuration",
                "string",
                0,
                "The certificate's lifetime the request asks for",
            ),
            (
                "Condition",
                "string",
                0,
                "Approved, denied or failed; issued",
            ),
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let at = |path: &str| object.pointer(path);
        let mut condition: Vec<String> = object
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| c["status"] != "False")
            .filter_map(|c| c["type"].as_str().map(String::from))
            .collect();
        if condition.is_empty() {
            condition.push("Pending".into());
        }
        if object
            .pointer("/status/certificate")
            .and_then(Value::as_str)
            .is_some_and(|c| !c.is_empty())
        {
            condition.push("Issued".into());
        }
        let duration = at("/spec/expirationSeconds")
            .and_then(Value::as_i64)
            .map(human_duration)
            .unwrap_or_else(|| "<none>".into());
        vec![
            name,
            created,
            json!(text(at("/spec/signerName"))),
            json!(text(at("/spec/username"))),
            json!(duration),
            json!(condition.join(",")),
        ]
    }
}
