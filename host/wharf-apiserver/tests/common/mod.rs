//! What the API server's test files share.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// One request through `app` in process: the status, the body parsed as
/// JSON (`null` when it is not), and the `Warning` headers.
pub async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    content_type: &str,
    body: Body,
) -> (StatusCode, Value, Vec<String>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("Content-Type", content_type)
        .body(body)
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let warnings = response
        .headers()
        .get_all("warning")
        .iter()
        .map(|w| w.to_str().unwrap().to_string())
        .collect();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        warnings,
    )
}

/// A JSON body, or none for `null`.
pub fn json_body(body: &Value) -> Body {
    if body.is_null() {
        Body::empty()
    } else {
        Body::from(body.to_string())
    }
}

/// [`send`] with a JSON body (none for `null`): the status and the body.
pub async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    content_type: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let (status, body, _) = send(app, method, uri, content_type, json_body(body)).await;
    (status, body)
}
