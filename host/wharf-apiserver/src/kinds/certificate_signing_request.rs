//! The strategy of `CertificateSigningRequest`.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::Objects;
use crate::admission::UserInfo;
use crate::error::Cause;
use crate::table::{human_duration, text};

pub struct CertificateSigningRequest;

#[async_trait::async_trait]
impl Strategy for CertificateSigningRequest {
    /// The requestor is the request's user, whatever the body says.
    async fn prepare_for_create(
        &self,
        _objects: &Objects,
        _namespace: Option<&str>,
        user: &UserInfo,
        object: &mut Value,
    ) -> crate::error::ApiResult<()> {
        crate::certificates::set_requestor(object, user);
        Ok(())
    }

    /// A request's spec is what was asked, by whom: it never changes.
    fn prepare_for_update(&self, current: &Value, next: &mut Value) {
        if let Some(spec) = current.get("spec") {
            next["spec"] = spec.clone();
        }
    }

    fn validate(&self, object: &Value, causes: &mut Vec<Cause>) {
        validate_csr(object, causes);
    }

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

/// kube's checks of a CertificateSigningRequest: a PEM request whose
/// signature verifies, a signer, usages, and at least ten minutes.
fn validate_csr(object: &Value, causes: &mut Vec<Cause>) {
    use base64::Engine;
    let request = object
        .pointer("/spec/request")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if request.is_empty() {
        causes.push(Cause::required("spec.request"));
    } else {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(request)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_default();
        if let Err(error) = wharf_pki::inspect_request(&pem) {
            causes.push(Cause::invalid(
                "spec.request",
                format!("Invalid value: \"<request>\": {error}"),
            ));
        }
    }
    let signer = object
        .pointer("/spec/signerName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if signer.is_empty() {
        causes.push(Cause::required("spec.signerName"));
    } else if signer.split('/').count() != 2 || signer.split('/').any(str::is_empty) {
        causes.push(Cause::invalid(
            "spec.signerName",
            format!("Invalid value: \"{signer}\": must be a fully qualified domain and path of the form 'example.com/signer-name'"),
        ));
    }
    if object
        .pointer("/spec/usages")
        .and_then(Value::as_array)
        .is_none_or(|u| u.is_empty())
    {
        causes.push(Cause::required("spec.usages"));
    }
    if let Some(seconds) = object
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        && seconds < 600
    {
        causes.push(Cause::invalid(
            "spec.expirationSeconds",
            format!("Invalid value: {seconds}: may not specify a duration less than 600 seconds (10 minutes)"),
        ));
    }
}
