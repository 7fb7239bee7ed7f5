//! Small things every client and the server share: object names, times
//! in Kubernetes' formats, delete options, and reading a JSON or YAML body.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// DNS-1123 subdomain: at most 253 characters of lowercase alphanumerics,
/// `-` and `.`, starting and ending alphanumeric.
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253
        && !name.is_empty()
        && name
            .split('.')
            .all(|label| !label.is_empty() && dns_label_chars(label))
}

/// DNS-1123 label: at most 63 characters of lowercase alphanumerics and `-`,
/// starting and ending alphanumeric.
pub fn is_dns1123_label(name: &str) -> bool {
    name.len() <= 63 && !name.is_empty() && dns_label_chars(name)
}

fn dns_label_chars(label: &str) -> bool {
    let bytes = label.as_bytes();
    bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// The current time, to the second (Kubernetes' `metav1.Time` precision).
pub fn now() -> k8s_openapi::jiff::Timestamp {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    seconds_time(seconds as i64)
}

pub fn now_rfc3339() -> String {
    now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Now as a Kubernetes `MicroTime` (leases' `renewTime`, events' `eventTime`).
pub fn now_micro_time() -> String {
    micro_time(std::time::SystemTime::now())
}

/// `time` as a Kubernetes `MicroTime`.
pub fn micro_time(time: std::time::SystemTime) -> String {
    let since = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}.{:06}Z",
        seconds_time(since.as_secs() as i64).strftime("%Y-%m-%dT%H:%M:%S"),
        since.subsec_micros()
    )
}

/// Seconds since the epoch as a Kubernetes `Time` (RFC 3339, to the second).
pub fn rfc3339_at(seconds: i64) -> String {
    seconds_time(seconds)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn seconds_time(seconds: i64) -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::new(seconds, 0).unwrap_or_default()
}

pub fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Delete options from the query or the `DeleteOptions` body.
#[derive(Clone, Debug, Default)]
pub struct DeleteParams {
    pub propagation: Option<String>,
    /// `gracePeriodSeconds` (pods): `None` is the pod's own
    /// `terminationGracePeriodSeconds`; 0 deletes at once.
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub dry_run: bool,
}

impl DeleteParams {
    /// Deletes only the object with `uid` (not a new one with its name).
    pub fn of_uid(uid: &str) -> Self {
        Self {
            precondition_uid: Some(uid.to_string()),
            ..Self::default()
        }
    }

    /// With no grace period (a pod its kubelet has stopped).
    pub fn at_once(self) -> Self {
        Self {
            grace_period_seconds: Some(0),
            ..self
        }
    }

    /// With this propagation policy (`Foreground`, `Background`, `Orphan`).
    pub fn propagation(self, policy: &str) -> Self {
        Self {
            propagation: Some(policy.to_string()),
            ..self
        }
    }
}

/// Parses a body as JSON, or YAML when it is not JSON.
pub fn parse_yaml_or_json(body: &[u8]) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("the request body is empty".into()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => Ok(value),
        Err(json_error) => {
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            if matches!(first, Some(b'{') | Some(b'[')) {
                return Err(ApiError::BadRequest(format!(
                    "the body is not valid JSON: {json_error}"
                )));
            }
            serde_yaml_ng::from_slice::<Value>(body).map_err(|e| {
                ApiError::BadRequest(format!("the body is neither JSON nor YAML: {e}"))
            })
        }
    }
}
