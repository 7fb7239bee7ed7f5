//! Request bodies: size limit, JSON or YAML.

use axum::body::Body;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// The largest request body accepted: 3 MiB, as Kubernetes.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`].
pub async fn read(body: Body) -> ApiResult<bytes::Bytes> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|error| {
            if std::error::Error::source(&error)
                .is_some_and(|s| s.to_string().contains("length limit"))
                || error.to_string().contains("length limit")
            {
                ApiError::TooLarge(format!(
                    "the request body is larger than the limit of {MAX_BODY_BYTES} bytes"
                ))
            } else {
                ApiError::BadRequest(format!("could not read the request body: {error}"))
            }
        })
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

/// Decodes a Kubernetes protobuf body (as kubectl's generator commands
/// send) into its JSON form.
fn parse_protobuf(body: &[u8]) -> ApiResult<Value> {
    use wharf_protobuf::DecodeError;
    wharf_protobuf::decode(body).map_err(|error| match error {
        DecodeError::UnknownKind { .. } | DecodeError::UnsupportedContentEncoding { .. } => {
            ApiError::UnsupportedMediaType(format!("{error}; send this object as application/json"))
        }
        other => ApiError::BadRequest(format!("the protobuf body could not be decoded: {other}")),
    })
}

/// Parses an object body by `Content-Type`: JSON (the default), YAML, or
/// Kubernetes protobuf.
pub fn parse_object(content_type: Option<&str>, body: &[u8]) -> ApiResult<Value> {
    let media_type = content_type
        .and_then(|c| c.split(';').next())
        .unwrap_or("application/json")
        .trim();
    let value = match media_type {
        "application/json" | "" | "*/*" => serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => parse_yaml_or_json(body)?,
        wharf_protobuf::MEDIA_TYPE => parse_protobuf(body)?,
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {other:?})"
            )));
        }
    };
    if !value.is_object() {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        ));
    }
    Ok(value)
}
