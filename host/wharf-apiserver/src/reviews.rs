//! The reviews: kinds a client creates to ask the server something, answered
//! in the response and never stored. `SelfSubjectReview`
//! (`kubectl auth whoami`) tells a client who the server takes it for;
//! `SelfSubjectAccessReview` (`kubectl auth can-i`) whether it may do
//! something; `SubjectAccessReview` and `LocalSubjectAccessReview` whether
//! someone else may (who may ask is itself authorized: `create` on them).

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::ApiState;
use crate::admission::UserInfo;
use crate::authz::{Attributes, Target};
use crate::error::{ApiError, ApiResult, Cause};
use crate::resources::ResourceDef;

/// Whether `user` may do what `spec` (a SubjectAccessReviewSpec) asks: its
/// `status` (`allowed`, and `reason` for a denial). A LocalSubjectAccessReview
/// asks only about its own namespace.
async fn access(
    state: &ApiState,
    user: &UserInfo,
    spec: &Value,
    namespace: Option<&str>,
) -> ApiResult<Value> {
    let text = |value: &Value| value.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let (verb, target) = if let Some(attributes) = spec.get("resourceAttributes") {
        let asked_namespace = text(&attributes["namespace"]);
        if let Some(namespace) = namespace
            && asked_namespace.as_deref() != Some(namespace)
        {
            return Err(ApiError::BadRequest(format!(
                "spec.resourceAttributes.namespace must match the namespace {namespace:?}"
            )));
        }
        (
            text(&attributes["verb"]).unwrap_or_default(),
            Target::Resource {
                group: text(&attributes["group"]).unwrap_or_default(),
                resource: text(&attributes["resource"]).unwrap_or_default(),
                subresource: text(&attributes["subresource"]),
                namespace: asked_namespace,
                name: text(&attributes["name"]),
            },
        )
    } else if let Some(attributes) = spec.get("nonResourceAttributes") {
        (
            text(&attributes["verb"]).unwrap_or_default(),
            Target::Path(text(&attributes["path"]).unwrap_or_default()),
        )
    } else {
        return Err(ApiError::BadRequest(
            "exactly one of resourceAttributes or nonResourceAttributes must be given".into(),
        ));
    };
    let attributes = Attributes {
        user,
        verb: &verb,
        target,
    };
    Ok(match state.authorizer.authorize(state, &attributes).await {
        Ok(()) => json!({"allowed": true}),
        Err(ApiError::Forbidden(_)) => json!({"allowed": false}),
        Err(error) => return Err(error),
    })
}

/// Answers a create of the review `resource` with `body`.
pub async fn create(
    state: &ApiState,
    namespace: Option<&str>,
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
        "SelfSubjectAccessReview" => {
            let user = crate::admission::current_user();
            access(state, &user, &review["spec"], None).await?
        }
        "LocalSubjectAccessReview" | "SubjectAccessReview" => {
            let spec = &review["spec"];
            let user = UserInfo {
                username: spec["user"].as_str().unwrap_or_default().to_string(),
                groups: spec["groups"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|g| g.as_str().map(str::to_string))
                    .collect(),
            };
            if user.username.is_empty() && user.groups.is_empty() {
                return Err(ApiError::Invalid {
                    group: resource.group.to_string(),
                    kind: resource.kind.to_string(),
                    name: String::new(),
                    causes: vec![Cause::invalid(
                        "spec.user",
                        "at least one of user or group must be specified",
                    )],
                });
            }
            access(state, &user, spec, namespace).await?
        }
        other => {
            return Err(ApiError::NoSuchPath(format!(
                "no review of kind {other} is served"
            )));
        }
    };
    let mut answer = json!({
        "kind": resource.kind,
        "apiVersion": resource.api_version(),
        "metadata": {"creationTimestamp": Value::Null},
        "status": status,
    });
    if let Some(spec) = review.get("spec") {
        answer["spec"] = spec.clone();
    }
    let mut bytes = wharf_protobuf::to_json(&answer);
    bytes.push(b'\n');
    Ok(Response::builder()
        .status(StatusCode::CREATED)
        .header("content-type", "application/json")
        .body(Body::from(bytes))
        .unwrap_or_default())
}
