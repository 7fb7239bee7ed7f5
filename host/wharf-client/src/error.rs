//! The one place errors become Kubernetes `Status` responses.

use hyper::StatusCode;
use serde_json::{Value, json};

/// A failed API request; each variant maps to one HTTP code and `reason`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 BadRequest: the body or the query cannot be understood.
    #[error("{0}")]
    BadRequest(String),
    /// 404 NotFound: the object (or the namespace it would live in) is absent.
    #[error("{kind} \"{name}\" not found")]
    NotFound {
        group: String,
        kind: String,
        name: String,
    },
    /// 404 NotFound: no such resource or path.
    #[error("{0}")]
    NoSuchPath(String),
    /// 409 AlreadyExists.
    #[error("{kind} \"{name}\" already exists")]
    AlreadyExists {
        group: String,
        kind: String,
        name: String,
    },
    /// 409 Conflict: a stale resourceVersion or precondition.
    #[error("Operation cannot be fulfilled on {kind} \"{name}\": {message}")]
    Conflict {
        group: String,
        kind: String,
        name: String,
        message: String,
    },
    /// 409 Conflict of a server-side apply: fields other managers own
    /// (each a `FieldManagerConflict` cause).
    #[error("{message}")]
    ApplyConflict { message: String, causes: Vec<Cause> },
    /// 422 Invalid: the object fails validation; `causes` name the fields
    /// (the first hundred of them, in the message and the details).
    #[error("{kind} \"{name}\" is invalid: {}", list_causes(causes))]
    Invalid {
        group: String,
        kind: String,
        name: String,
        causes: Vec<Cause>,
    },
    /// 401 Unauthorized: no valid credentials (kube says only
    /// `Unauthorized`, naming neither what was missing nor why a
    /// credential failed).
    #[error("Unauthorized")]
    Unauthorized,
    /// 403 Forbidden.
    #[error("{0}")]
    Forbidden(String),
    /// 405 MethodNotAllowed.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 406 NotAcceptable.
    #[error("{0}")]
    NotAcceptable(String),
    /// 410 Gone (Expired): the resourceVersion is too old.
    #[error("{0}")]
    Gone(String),
    /// 413 RequestEntityTooLarge.
    #[error("{0}")]
    TooLarge(String),
    /// 429 TooManyRequests: the server is at its in-flight limit (the
    /// client retries after `retry_after_seconds`, sent as `Retry-After`
    /// when not zero), or an eviction would violate a disruption budget
    /// (its `causes` say which).
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_seconds: u32,
        causes: Vec<Cause>,
    },
    /// 415 UnsupportedMediaType.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 500 InternalError: logged with its cause; the client sees a generic message.
    #[error("internal error: {0}")]
    Internal(String),
    /// 504 Timeout.
    #[error("{0}")]
    Timeout(String),
    /// 503 ServiceUnavailable: a backend the server forwards to (a node's
    /// agent) cannot be reached.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// 500 InternalError: an admission plugin whose failurePolicy is Fail
    /// could not review the write (it trapped, ran past its deadline or out
    /// of memory). Unlike `Internal`, the client is told which plugin.
    #[error("Internal error occurred: failed calling admission plugin \"{plugin}\": {message}")]
    AdmissionFailed { plugin: String, message: String },
}

/// The most causes a `Status` lists: a body of a hundred thousand bad
/// labels fails with as many causes, and the answer must stay small.
const MAX_LISTED_CAUSES: usize = 100;

/// The most bytes of a `Status`'s message and name: a value an error
/// quotes may be megabytes (a name of 1.5 MiB is quoted four times).
const MAX_STATUS_TEXT_BYTES: usize = 16 * 1024;

/// The most bytes of each cause's field and message.
const MAX_CAUSE_TEXT_BYTES: usize = 1024;

/// The causes for an `Invalid` message: the first [`MAX_LISTED_CAUSES`],
/// then how many more.
fn list_causes(causes: &[Cause]) -> String {
    let mut listed: Vec<String> = causes
        .iter()
        .take(MAX_LISTED_CAUSES)
        .map(|c| {
            format!(
                "{}: {}",
                cut(&c.field, MAX_CAUSE_TEXT_BYTES),
                cut(&c.message, MAX_CAUSE_TEXT_BYTES)
            )
        })
        .collect();
    if causes.len() > MAX_LISTED_CAUSES {
        listed.push(format!("and {} more", causes.len() - MAX_LISTED_CAUSES));
    }
    listed.join(", ")
}

/// `text`, cut (on a character's boundary) after `bytes`.
fn cut(text: &str, bytes: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= bytes {
        return text.into();
    }
    let at = text.floor_char_boundary(bytes);
    format!("{}… ({} more bytes)", &text[..at], text.len() - at).into()
}

/// One field that failed validation.
#[derive(Clone, Debug)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`…
    pub reason: &'static str,
    pub field: String,
    pub message: String,
}

impl Cause {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            reason: "FieldValueInvalid",
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn required(field: impl Into<String>) -> Self {
        Self {
            reason: "FieldValueRequired",
            field: field.into(),
            message: "Required value".into(),
        }
    }

    /// kube's `field.Forbidden`: `Forbidden: {detail}`.
    pub fn forbidden(field: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        Self {
            reason: "FieldValueForbidden",
            field: field.into(),
            message: format!("Forbidden: {detail}"),
        }
    }

    /// kube's `field.Duplicate` of a string value.
    pub fn duplicate(field: impl Into<String>, value: &str) -> Self {
        Self {
            reason: "FieldValueDuplicate",
            field: field.into(),
            message: format!("Duplicate value: {value:?}"),
        }
    }

    /// kube's `field.NotFound` of a string value.
    pub fn not_found(field: impl Into<String>, value: &str) -> Self {
        Self {
            reason: "FieldValueNotFound",
            field: field.into(),
            message: format!("Not found: {value:?}"),
        }
    }
}

impl ApiError {
    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound { .. } | ApiError::NoSuchPath(_) => StatusCode::NOT_FOUND,
            ApiError::AlreadyExists { .. }
            | ApiError::Conflict { .. }
            | ApiError::ApplyConflict { .. } => StatusCode::CONFLICT,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) | ApiError::AdmissionFailed { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::NotFound { .. } | ApiError::NoSuchPath(_) => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::MethodNotAllowed(_) => "MethodNotAllowed",
            ApiError::NotAcceptable(_) => "NotAcceptable",
            ApiError::Gone(_) => "Expired",
            ApiError::TooLarge(_) => "RequestEntityTooLarge",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::TooManyRequests { .. } => "TooManyRequests",
            ApiError::Internal(_) | ApiError::AdmissionFailed { .. } => "InternalError",
            ApiError::Timeout(_) => "Timeout",
            ApiError::ServiceUnavailable(_) => "ServiceUnavailable",
        }
    }

    /// The `Status` object, as Kubernetes writes it.
    pub fn status(&self) -> Value {
        let message = match self {
            ApiError::Internal(_) => "an internal error occurred; see the server log".to_string(),
            other => cut(&other.to_string(), MAX_STATUS_TEXT_BYTES).into_owned(),
        };
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": self.reason(),
            "code": self.code().as_u16(),
        });
        let details = match self {
            ApiError::NotFound { group, kind, name }
            | ApiError::AlreadyExists { group, kind, name }
            | ApiError::Conflict {
                group, kind, name, ..
            } => Some(
                json!({"name": cut(name, MAX_STATUS_TEXT_BYTES), "group": group, "kind": kind}),
            ),
            ApiError::Invalid {
                group,
                kind,
                name,
                causes,
            } => Some(json!({
                "name": cut(name, MAX_STATUS_TEXT_BYTES),
                "group": group,
                "kind": kind,
                "causes": causes.iter().take(MAX_LISTED_CAUSES).map(|c| json!({
                    "reason": c.reason,
                    "message": cut(&c.message, MAX_CAUSE_TEXT_BYTES),
                    "field": cut(&c.field, MAX_CAUSE_TEXT_BYTES),
                })).collect::<Vec<_>>(),
            })),
            ApiError::ApplyConflict { causes, .. } => Some(json!({
                "causes": causes.iter().take(MAX_LISTED_CAUSES).map(|c| json!({
                    "reason": c.reason,
                    "message": cut(&c.message, MAX_CAUSE_TEXT_BYTES),
                    "field": cut(&c.field, MAX_CAUSE_TEXT_BYTES),
                })).collect::<Vec<_>>(),
            })),
            ApiError::TooManyRequests {
                retry_after_seconds,
                causes,
                ..
            } => {
                let mut details = json!({});
                if *retry_after_seconds > 0 {
                    details["retryAfterSeconds"] = json!(retry_after_seconds);
                }
                if !causes.is_empty() {
                    details["causes"] = causes
                        .iter()
                        .take(MAX_LISTED_CAUSES)
                        .map(|c| {
                            let mut cause = json!({"reason": c.reason, "message": cut(&c.message, MAX_CAUSE_TEXT_BYTES)});
                            if !c.field.is_empty() {
                                cause["field"] = json!(cut(&c.field, MAX_CAUSE_TEXT_BYTES));
                            }
                            cause
                        })
                        .collect();
                }
                Some(details)
            }
            _ => None,
        };
        if let Some(mut details) = details {
            // The message names the kind or resource with its group
            // (`deployments.apps`); the details name it without
            // (`deployments`, `Deployment`), as kube's errors do.
            if let Some(kind) = details.get("kind").and_then(Value::as_str) {
                let bare = kind.split('.').next().unwrap_or_default().to_string();
                details["kind"] = json!(bare);
            }
            if details.get("group").is_some_and(|g| g == "") {
                details.as_object_mut().expect("object").remove("group");
            }
            status["details"] = details;
        }
        status
    }
}

#[cfg(feature = "server")]
impl From<wharf_store::Error> for ApiError {
    fn from(error: wharf_store::Error) -> Self {
        use wharf_store::Error as E;
        match error {
            E::Compacted { requested, .. } => {
                ApiError::Gone(format!("too old resource version: {requested}"))
            }
            E::FutureRevision { requested, current } => ApiError::Timeout(format!(
                "Too large resource version: {requested}, current: {current}"
            )),
            E::ValueTooLarge { size, .. } => {
                ApiError::TooLarge(format!("object is too large to store: {size} bytes"))
            }
            E::InvalidKey { key, reason } => {
                ApiError::BadRequest(format!("invalid name {key:?}: {reason}"))
            }
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::Internal(other.to_string())
            }
        }
    }
}

#[cfg(feature = "server")]
impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        use axum::http::{HeaderValue, header};
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        // In Go's field order, ending in a newline, as kube's encoder writes
        // every body.
        let mut body = wharf_protobuf::to_json(&self.status());
        body.push(b'\n');
        let mut response = (self.code(), body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let ApiError::TooManyRequests {
            retry_after_seconds,
            ..
        } = &self
            && *retry_after_seconds > 0
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_names_the_resource_with_its_group_in_the_message_and_without_in_details() {
        let missing = ApiError::NotFound {
            group: "apps".into(),
            kind: "deployments.apps".into(),
            name: "web".into(),
        };
        let status = missing.status();
        assert_eq!(status["message"], "deployments.apps \"web\" not found");
        assert_eq!(
            status["details"],
            json!({"name": "web", "group": "apps", "kind": "deployments"})
        );
        let invalid = ApiError::Invalid {
            group: String::new(),
            kind: "ConfigMap".into(),
            name: "c".into(),
            causes: vec![Cause::required("data")],
        };
        let status = invalid.status();
        assert_eq!(status["details"]["kind"], "ConfigMap");
        assert!(status["details"].get("group").is_none());
    }
}
