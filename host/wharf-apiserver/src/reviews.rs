//! The reviews: kinds a client creates to ask the server something, answered
//! in the response and never stored. `SelfSubjectReview`
//! (`kubectl auth whoami`) tells a client who the server takes it for.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::resources::ResourceDef;

/// Answers a create of the review `resource` with `body`.
pub async fn create(
    resource: &ResourceDef,
    content_type: Option<&str>,
    body: Body,
) -> ApiResult<Response> {
    let body = crate::body::read(body).await?;
    let review = crate::body::parse_object(content_type, &body)?;
    // A body without a kind is taken as the URL's (the Python client
    // sends none).
    if review
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|kind| kind != resource.kind)
    {
        return Err(ApiError::BadRequest(format!(
            "the body is not a {}",
            resource.kind
        )));
    }
    let status = match resource.kind {
        "SelfSubjectReview" => {
            let user = crate::admission::current_user();
            json!({"userInfo": {"username": user.username, "groups": user.groups}})
        }
        other => {
            return Err(ApiError::NoSuchPath(format!(
                "no review of kind {other} is served"
            )));
        }
    };
    let answer = json!({
        "kind": resource.kind,
        "apiVersion": resource.api_version(),
        "metadata": {"creationTimestamp": Value::Null},
        "status": status,
    });
    let bytes = serde_json::to_vec(&answer).unwrap_or_default();
    Ok(Response::builder()
        .status(StatusCode::CREATED)
        .header("content-type", "application/json")
        .body(Body::from(bytes))
        .unwrap_or_default())
}
