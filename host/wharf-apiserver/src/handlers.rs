//! The resource endpoints: every verb on every kind, and the status, scale
//! and binding subresources.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::meta::DeleteParams;
use crate::objects::{ListParams, Part, parse_revision};
use crate::patch::Patch;
use crate::request::{Format, Query, Target, negotiate, parse_target};
use crate::resources::ResourceDef;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::table::{IncludeObject, render};
use crate::watch_cache::WatchFilter;
use wharf_client::Delivery;

const TABLE_CONTENT_TYPE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// `/api/v1/{*rest}`.
pub async fn core(
    State(state): State<Arc<ApiState>>,
    Path(rest): Path<String>,
    request: Request,
) -> Response {
    let user = user_of(&request);
    let manager = manager_of(&request);
    in_request(
        user,
        crate::managed::scope(manager, serve(state, "", "v1", &rest, request)),
    )
    .await
}

/// `/apis/{group}/{version}/{*rest}`.
pub async fn grouped(
    State(state): State<Arc<ApiState>>,
    Path((group, version, rest)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    let user = user_of(&request);
    let manager = manager_of(&request);
    in_request(
        user,
        crate::managed::scope(manager, serve(state, &group, &version, &rest, request)),
    )
    .await
}

/// Who the request's writes are recorded as (`metadata.managedFields`).
fn manager_of(request: &Request) -> crate::managed::Manager {
    let query = Query::parse(request.uri().query());
    let agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let applying = request.method() == Method::PATCH
        && request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/apply-patch"));
    crate::managed::Manager {
        name: crate::managed::manager_of(query.get("fieldManager"), agent),
        applying,
        force: query.flag("force"),
    }
}

/// The user authentication put on the request.
fn user_of(request: &Request) -> crate::admission::UserInfo {
    request
        .extensions()
        .get::<crate::admission::UserInfo>()
        .cloned()
        .unwrap_or_else(crate::admission::UserInfo::anonymous)
}

/// Serves one request as its user, with the warnings admission collected
/// as `Warning` headers.
async fn in_request(
    user: crate::admission::UserInfo,
    handle: impl std::future::Future<Output = ApiResult<Response>>,
) -> Response {
    let (result, warnings) = crate::admission::in_request(user, handle).await;
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    add_warnings(response.headers_mut(), &warnings);
    response
}

/// A create's or update's body: read, parsed by its Content-Type, of the
/// URL's kind, decoded, defaulted and validated; with the warnings of its
/// unknown and duplicate fields (as `fieldValidation` says).
async fn admitted_body(
    state: &ApiState,
    resource: &ResourceDef,
    content_type: Option<&str>,
    body: Body,
    query: &Query,
) -> ApiResult<(Value, Vec<String>)> {
    let body = crate::body::read(body).await?;
    let object = crate::body::parse_object(content_type, &body)?;
    check_kind(resource, &object)?;
    let duplicates = crate::body::duplicate_fields(content_type, &body);
    let (object, warnings) =
        state
            .objects
            .admit_body(resource, &object, query.strict()?, &duplicates)?;
    Ok((object, query.field_warnings(warnings)))
}

/// How much warning text one set of warnings may carry (kube-apiserver's
/// `truncateAtTotalRunes`): past it each warning is cut to
/// [`WARNING_ITEM_CHARS`], and those past the total are dropped.
const WARNING_TOTAL_CHARS: usize = 4 * 1024;
/// kube-apiserver's `truncateItemRunes`.
const WARNING_ITEM_CHARS: usize = 256;

/// One `Warning: 299 - "text"` header per warning, as kube-apiserver sends
/// them: each text once, and no more than [`WARNING_TOTAL_CHARS`] of text
/// (a body with a hundred thousand unknown fields gets a few dozen
/// warnings, not megabytes of headers).
fn add_warnings(headers: &mut HeaderMap, warnings: &[String]) {
    let mut seen = std::collections::HashSet::new();
    let warnings: Vec<&str> = warnings
        .iter()
        .map(String::as_str)
        .filter(|warning| !warning.is_empty() && seen.insert(*warning))
        .collect();
    let truncating =
        warnings.iter().map(|w| w.chars().count()).sum::<usize>() > WARNING_TOTAL_CHARS;
    let mut written = 0;
    for warning in warnings {
        if truncating && written >= WARNING_TOTAL_CHARS {
            break;
        }
        let warning: String = if truncating {
            warning.chars().take(WARNING_ITEM_CHARS).collect()
        } else {
            warning.to_string()
        };
        written += warning.chars().count();
        let text = format!("299 - \"{}\"", warning.replace('"', "\\\""));
        if let Ok(value) = HeaderValue::from_str(&text) {
            headers.append("Warning", value);
        }
    }
}

/// A JSON response with an optional `Warning` header per warning.
pub(crate) fn json_response(
    status: StatusCode,
    content_type: &str,
    body: &Value,
    warnings: &[String],
) -> Response {
    // In Go's field order, ending in a newline, as kube's encoder writes
    // every body.
    let mut bytes = wharf_protobuf::to_json(body);
    bytes.push(b'\n');
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/json")),
    );
    add_warnings(headers, warnings);
    response
}

async fn serve(
    state: Arc<ApiState>,
    group: &str,
    version: &str,
    rest: &str,
    request: Request,
) -> ApiResult<Response> {
    let target = parse_target(&state.registry, group, version, rest)?;
    if crate::kubelet_proxy::handles(&target) {
        return crate::kubelet_proxy::serve(&state, &target, request).await;
    }
    let (parts, body) = request.into_parts();
    let query = Query::parse(parts.uri.query());
    let headers = parts.headers;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let resource = target.resource.clone();
    if let Some(storage) = crate::conversion::storage_of(&state.registry, &resource) {
        let request = Converted {
            method: &parts.method,
            headers: &headers,
            query: &query,
            content_type: content_type.as_deref(),
        };
        return serve_converted(&state, &target, storage, request, body).await;
    }
    if resource.review {
        return match (&parts.method, target.name.as_deref()) {
            (&Method::POST, None) => {
                crate::reviews::create(
                    &state,
                    target.namespace.as_deref(),
                    &resource,
                    content_type.as_deref(),
                    body,
                )
                .await
            }
            (method, _) => Err(ApiError::MethodNotAllowed(format!(
                "the server does not allow this method on the requested resource ({method} {})",
                resource.group_resource()
            ))),
        };
    }
    match (
        &parts.method,
        target.name.as_deref(),
        target.subresource.as_deref(),
    ) {
        (&Method::GET, None, None) if query.flag("watch") => {
            watch(&state, &target, &query, &headers, None).await
        }
        (&Method::GET, None, None) => list(&state, &target, &query, &headers).await,
        (&Method::POST, None, None) => {
            let (object, warnings) =
                admitted_body(&state, &resource, content_type.as_deref(), body, &query).await?;
            confirm_no_escalation(&state, &resource, target.namespace.as_deref(), &object).await?;
            let created = state
                .objects
                .create(
                    &resource,
                    target.namespace.as_deref(),
                    object,
                    query.dry_run()?,
                )
                .await?;
            served(&state, &resource, &created).await;
            Ok(json_response(
                StatusCode::CREATED,
                "application/json",
                &created,
                &warnings,
            ))
        }
        (&Method::DELETE, None, None) => {
            delete_collection(&state, &target, &query, content_type.as_deref(), body).await
        }
        (&Method::GET, Some(name), None) => {
            let stored = state
                .objects
                .get(&resource, target.namespace.as_deref(), name)
                .await?;
            respond_object(&resource, stored.object, &query, &headers)
        }
        (
            &Method::PUT,
            Some(name),
            sub @ (None | Some("status" | "ephemeralcontainers" | "finalize")),
        ) => {
            let part = part_of(&resource, sub)?;
            let (object, warnings) =
                admitted_body(&state, &resource, content_type.as_deref(), body, &query).await?;
            if object.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
                return Err(ApiError::BadRequest(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    crate::meta::name_of(&object)
                )));
            }
            confirm_no_escalation(&state, &resource, target.namespace.as_deref(), &object).await?;
            let updated = state
                .objects
                .update_with(
                    &resource,
                    target.namespace.as_deref(),
                    name,
                    part,
                    query.dry_run()?,
                    |_| Ok(object.clone()),
                )
                .await?;
            served(&state, &resource, &updated).await;
            Ok(json_response(
                StatusCode::OK,
                "application/json",
                &updated,
                &warnings,
            ))
        }
        (&Method::PATCH, Some(name), sub @ (None | Some("status" | "ephemeralcontainers"))) => {
            let part = part_of(&resource, sub)?;
            let body = crate::body::read(body).await?;
            let patch = Patch::parse(content_type.as_deref().unwrap_or_default(), &body)?;
            if resource.custom.is_some() && matches!(patch, Patch::Strategic(_)) {
                // As kube: a custom kind has no patch strategies to merge by.
                return Err(ApiError::UnsupportedMediaType(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml".into(),
                ));
            }
            let response = patch_object(&state, &target, name, part, patch, &query).await?;
            if crate::crds::defines_kinds(&resource) {
                // The patch's revision, or a later one.
                let revision = state.objects.store.current_revision().await.unwrap_or(0);
                state.wait_served(revision).await;
            }
            Ok(response)
        }
        (&Method::DELETE, Some(name), None) => {
            let body = crate::body::read(body).await?;
            let params = delete_params(&query, content_type.as_deref(), &body)?;
            let deleted = state
                .objects
                .delete(&resource, target.namespace.as_deref(), name, &params)
                .await?;
            served(&state, &resource, &deleted).await;
            Ok(json_response(
                StatusCode::OK,
                "application/json",
                &deleted,
                &[],
            ))
        }
        (method, Some(name), Some("scale")) if resource.scale => {
            scale(
                &state,
                &target,
                name,
                method,
                body,
                content_type.as_deref(),
                &query,
            )
            .await
        }
        (&Method::POST, Some(name), Some("binding")) if resource.has_subresource("binding") => {
            let body = crate::body::read(body).await?;
            let binding = crate::body::parse_object(content_type.as_deref(), &body)?;
            bind(&state, &target, name, &binding, &query).await
        }
        (&Method::POST, Some(name), Some("eviction")) if resource.has_subresource("eviction") => {
            let body = crate::body::read(body).await?;
            let eviction = crate::body::parse_object(content_type.as_deref(), &body)?;
            let options = match eviction.get("deleteOptions") {
                Some(options) if options.is_object() => {
                    serde_json::to_vec(options).map_err(|e| ApiError::BadRequest(e.to_string()))?
                }
                _ => Vec::new(),
            };
            let params = delete_params(&query, Some("application/json"), &options)?;
            let namespace = target.namespace.as_deref().unwrap_or("default");
            crate::eviction::evict(&state, &resource, namespace, name, &eviction, params).await
        }
        (&Method::POST, Some(name), Some("token")) if resource.has_subresource("token") => {
            let body = crate::body::read(body).await?;
            let request = crate::body::parse_object(content_type.as_deref(), &body)?;
            let namespace = target.namespace.as_deref().unwrap_or("default");
            crate::serviceaccounts::token_request(&state, namespace, name, &request).await
        }
        (&Method::PUT, Some(name), Some("approval")) if resource.has_subresource("approval") => {
            let body = crate::body::read(body).await?;
            let object = crate::body::parse_object(content_type.as_deref(), &body)?;
            crate::certificates::approve(&state, &resource, name, &object, query.dry_run()?).await
        }
        (&Method::GET, Some(name), Some("log")) if resource.has_subresource("log") => {
            crate::logs::serve(&state, &target, name, &query).await
        }
        (&Method::GET, Some(name), Some(sub))
            if (sub == "status" && resource.status)
                || (sub == "ephemeralcontainers" && resource.has_subresource(sub)) =>
        {
            let stored = state
                .objects
                .get(&resource, target.namespace.as_deref(), name)
                .await?;
            respond_object(&resource, stored.object, &query, &headers)
        }
        (method, _, Some(sub)) => Err(ApiError::NoSuchPath(format!(
            "the server could not find the requested resource ({method} {}/{sub})",
            resource.group_resource()
        ))),
        (method, _, None) => Err(ApiError::MethodNotAllowed(format!(
            "the server does not allow this method on the requested resource ({method} {})",
            resource.group_resource()
        ))),
    }
}

/// After a write of a CustomResourceDefinition: waits until what it
/// defines is served (the watch cache has seen the write), so that a
/// client may use the kind as soon as it hears back.
async fn served(state: &ApiState, resource: &ResourceDef, written: &Value) {
    if crate::crds::defines_kinds(resource) {
        state
            .wait_served(crate::objects::revision_of(written))
            .await;
    }
}

/// kube's RBAC escalation rule (and Wharf's for Plugins) for a write of
/// `object` by the request's user.
async fn confirm_no_escalation(
    state: &ApiState,
    resource: &ResourceDef,
    namespace: Option<&str>,
    object: &Value,
) -> ApiResult<()> {
    if !crate::authz::escalation::guards(resource) {
        return Ok(());
    }
    let index = state.authorizer.snapshot(state).await?;
    let user = crate::admission::current_user();
    crate::authz::escalation::confirm(&index, &user, resource, namespace, object)
}

fn part_of(resource: &ResourceDef, subresource: Option<&str>) -> ApiResult<Part> {
    Part::of(resource, subresource)
}

/// The body's `apiVersion` and `kind`, when given, must be this resource's.
fn check_kind(resource: &ResourceDef, object: &Value) -> ApiResult<()> {
    let kind = object.get("kind").and_then(Value::as_str);
    let api_version = object.get("apiVersion").and_then(Value::as_str);
    if kind.is_some_and(|k| k != resource.kind)
        || api_version.is_some_and(|v| v != resource.api_version())
    {
        return Err(ApiError::BadRequest(format!(
            "the API version in the data ({}) does not match the expected API version ({}) or kind ({}) for {}",
            api_version.unwrap_or_default(),
            resource.api_version(),
            kind.unwrap_or_default(),
            resource.kind
        )));
    }
    Ok(())
}

fn respond_object(
    resource: &ResourceDef,
    object: Value,
    query: &Query,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    match negotiate(headers)? {
        Format::Json => Ok(json_response(
            StatusCode::OK,
            "application/json",
            &object,
            &[],
        )),
        Format::Table => {
            let metadata = json!({"resourceVersion": object.pointer("/metadata/resourceVersion").cloned().unwrap_or_default()});
            Ok(table_response(resource, &[&object], query, metadata))
        }
    }
}

/// A `Table` of `objects` as the response, with all column definitions.
fn table_response(
    resource: &ResourceDef,
    objects: &[&Value],
    query: &Query,
    metadata: Value,
) -> Response {
    let table = render(
        resource,
        objects,
        IncludeObject::parse(query.get("includeObject")),
        metadata,
        true,
    );
    json_response(StatusCode::OK, TABLE_CONTENT_TYPE, &table, &[])
}

fn list_params(resource: &ResourceDef, query: &Query) -> ApiResult<ListParams> {
    // kube's ValidateListOptions (for a list; a watch has rules of its own).
    let resource_version = query.get("resourceVersion").filter(|rv| !rv.is_empty());
    let mut causes = Vec::new();
    if let Some(wanted) = query.get("resourceVersionMatch").filter(|m| !m.is_empty())
        && !query.flag("watch")
    {
        let forbidden =
            |message: &str| crate::error::Cause::forbidden("resourceVersionMatch", message);
        if resource_version.is_none() {
            causes.push(forbidden(
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        if query.get("continue").is_some_and(|c| !c.is_empty()) {
            causes.push(forbidden(
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
        if !matches!(wanted, "Exact" | "NotOlderThan") {
            causes.push(crate::error::Cause {
                reason: "FieldValueNotSupported",
                field: "resourceVersionMatch".into(),
                message: format!(
                    "Unsupported value: \"{wanted}\": supported values: \"Exact\", \"NotOlderThan\", \"\""
                ),
            });
        }
        if wanted == "Exact" && resource_version == Some("0") {
            causes.push(forbidden(
                "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            ));
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::Invalid {
            group: "meta.k8s.io".into(),
            kind: "ListOptions.meta.k8s.io".into(),
            name: String::new(),
            causes,
        });
    }
    Ok(ListParams {
        labels: LabelSelector::parse(query.get("labelSelector").unwrap_or_default())?,
        fields: FieldSelector::parse(query.get("fieldSelector").unwrap_or_default(), resource)?,
        limit: query.usize("limit")?,
        continue_token: query.get("continue").map(String::from),
        resource_version: query.get("resourceVersion").map(String::from),
        resource_version_match: query.get("resourceVersionMatch").map(String::from),
    })
}

async fn list(
    state: &ApiState,
    target: &Target,
    query: &Query,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let resource = &target.resource;
    let params = list_params(resource, query)?;
    let format = negotiate(headers)?;
    if format == Format::Json && params.labels.is_empty() && params.fields.is_empty() {
        return list_raw(state, target, &params).await;
    }
    let result = state
        .objects
        .list(resource, target.namespace.as_deref(), &params)
        .await?;
    let metadata = list_metadata(result.revision, result.continue_token.as_ref());
    match format {
        Format::Table => {
            let objects: Vec<&Value> = result.items.iter().collect();
            Ok(table_response(resource, &objects, query, metadata))
        }
        Format::Json => Ok(list_response(resource, metadata, result.items)),
    }
}

/// A `…List` of `items` (each without its `apiVersion` and `kind`, as a
/// list's items are written).
fn list_response(resource: &ResourceDef, metadata: Value, items: Vec<Value>) -> Response {
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut item| {
            if let Some(map) = item.as_object_mut() {
                map.remove("apiVersion");
                map.remove("kind");
            }
            item
        })
        .collect();
    let list = json!({
        "kind": format!("{}List", resource.kind),
        "apiVersion": resource.api_version(),
        "metadata": metadata,
        "items": items,
    });
    json_response(StatusCode::OK, "application/json", &list, &[])
}

/// A list's metadata: its revision and continue token.
fn list_metadata(revision: i64, continue_token: Option<&String>) -> Value {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if let Some(token) = continue_token {
        metadata["continue"] = json!(token);
    }
    metadata
}

/// A list without selectors in JSON: the stored objects' bytes spliced
/// into the answer ([`crate::objects::Objects::list_raw`]), never parsed.
async fn list_raw(state: &ApiState, target: &Target, params: &ListParams) -> ApiResult<Response> {
    let resource = &target.resource;
    let result = state
        .objects
        .list_raw(resource, target.namespace.as_deref(), params)
        .await?;
    let metadata = list_metadata(result.revision, result.continue_token.as_ref());
    let size: usize = result.items.iter().map(|item| item.len() + 1).sum();
    let mut body = Vec::with_capacity(size + 256);
    body.extend_from_slice(b"{\"kind\":");
    serde_json::to_writer(&mut body, &format!("{}List", resource.kind))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    body.extend_from_slice(b",\"apiVersion\":");
    serde_json::to_writer(&mut body, &resource.api_version())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    body.extend_from_slice(b",\"metadata\":");
    serde_json::to_writer(&mut body, &metadata).map_err(|e| ApiError::Internal(e.to_string()))?;
    body.extend_from_slice(b",\"items\":[");
    for (index, item) in result.items.iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.extend_from_slice(b"]}\n");
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

async fn patch_object(
    state: &ApiState,
    target: &Target,
    name: &str,
    part: Part,
    patch: Patch,
    query: &Query,
) -> ApiResult<Response> {
    let resource = &target.resource;
    let namespace = target.namespace.as_deref();
    let strict = query.strict()?;
    let dry_run = query.dry_run()?;
    if let Patch::Apply(config) = &patch {
        check_kind(resource, config)?;
        if query.get("fieldManager").is_none() {
            return Err(ApiError::BadRequest(
                "PATCH with application/apply-patch+yaml requires a fieldManager query parameter"
                    .into(),
            ));
        }
        // Server-side apply of an absent object creates it.
        if let Err(ApiError::NotFound { .. }) = state.objects.get(resource, namespace, name).await {
            let (mut object, warnings) = state.objects.admit(resource, config, strict)?;
            let manager = crate::managed::current();
            let config = object.clone();
            crate::managed::apply(
                resource,
                &manager.name,
                manager.force,
                None,
                &json!({}),
                &config,
                &mut object,
            )?;
            let warnings = query.field_warnings(warnings);
            if object.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
                return Err(ApiError::BadRequest(format!(
                    "the name in the applied configuration does not match the name on the URL ({name})"
                )));
            }
            confirm_no_escalation(state, resource, namespace, &object).await?;
            let created = state
                .objects
                .create(resource, namespace, object, dry_run)
                .await?;
            return Ok(json_response(
                StatusCode::CREATED,
                "application/json",
                &created,
                &warnings,
            ));
        }
    }
    // Writes of RBAC objects and Plugins are held to the escalation rule
    // on the patched object itself.
    let index = if crate::authz::escalation::guards(resource) {
        Some(state.authorizer.snapshot(state).await?)
    } else {
        None
    };
    let user = crate::admission::current_user();
    let check = |object: &Value| match &index {
        Some(index) => crate::authz::escalation::confirm(index, &user, resource, namespace, object),
        None => Ok(()),
    };
    let (updated, warnings) = state
        .objects
        .patch(
            resource,
            namespace,
            name,
            part,
            &patch,
            (strict, dry_run),
            Some(&check),
        )
        .await?;
    let warnings = query.field_warnings(warnings);
    Ok(json_response(
        StatusCode::OK,
        "application/json",
        &updated,
        &warnings,
    ))
}

pub(crate) fn delete_params(
    query: &Query,
    content_type: Option<&str>,
    body: &[u8],
) -> ApiResult<DeleteParams> {
    let options: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        crate::body::parse_object(content_type, body)?
    };
    let orphan = options
        .get("orphanDependents")
        .and_then(Value::as_bool)
        .or(query.get("orphanDependents").map(|v| v == "true"));
    let propagation = options
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .or(query.get("propagationPolicy"))
        .map(String::from)
        .or(orphan.map(|o| {
            if o {
                "Orphan".into()
            } else {
                "Background".into()
            }
        }));
    if let Some(policy) = &propagation
        && !matches!(policy.as_str(), "Foreground" | "Background" | "Orphan")
    {
        return Err(ApiError::BadRequest(format!(
            "propagationPolicy: Unsupported value: \"{policy}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
        )));
    }
    let dry_run = query.dry_run()?
        || options
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|v| v == "All"));
    let grace_period_seconds = match options.get("gracePeriodSeconds") {
        Some(value) => Some(value.as_i64().ok_or_else(|| {
            ApiError::BadRequest("gracePeriodSeconds: Invalid value: must be an integer".into())
        })?),
        None => query
            .get("gracePeriodSeconds")
            .map(|text| {
                text.parse::<i64>().map_err(|_| {
                    ApiError::BadRequest(format!(
                        "gracePeriodSeconds: Invalid value: {text:?}: must be an integer"
                    ))
                })
            })
            .transpose()?,
    };
    Ok(DeleteParams {
        propagation,
        grace_period_seconds,
        precondition_uid: options
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(String::from),
        precondition_resource_version: options
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(String::from),
        dry_run,
    })
}

async fn delete_collection(
    state: &ApiState,
    target: &Target,
    query: &Query,
    content_type: Option<&str>,
    body: Body,
) -> ApiResult<Response> {
    let resource = &target.resource;
    if !resource.verbs().contains(&"deletecollection") {
        return Err(ApiError::MethodNotAllowed(format!(
            "deletecollection is not supported on {}",
            resource.group_resource()
        )));
    }
    let body = crate::body::read(body).await?;
    let params = delete_params(query, content_type, &body)?;
    let list = state
        .objects
        .list(
            resource,
            target.namespace.as_deref(),
            &list_params(resource, query)?,
        )
        .await?;
    let mut deleted = Vec::new();
    for item in list.items {
        let namespace = item
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(String::from);
        let name = crate::meta::name_of(&item).to_string();
        match state
            .objects
            .delete(resource, namespace.as_deref(), &name, &params)
            .await
        {
            Ok(object) => deleted.push(object),
            Err(ApiError::NotFound { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    let list = json!({
        "kind": format!("{}List", resource.kind),
        "apiVersion": resource.api_version(),
        "metadata": {"resourceVersion": list.revision.to_string()},
        "items": deleted,
    });
    Ok(json_response(
        StatusCode::OK,
        "application/json",
        &list,
        &[],
    ))
}

/// Turns the current object into the Scale the client asks for.
type ScaleChange = dyn Fn(&Value) -> ApiResult<Value> + Send + Sync;

/// The `autoscaling/v1` Scale of a workload (of a custom kind, at the
/// paths its definition names).
fn scale_of(resource: &ResourceDef, object: &Value) -> Value {
    let paths = resource.scale_paths();
    let first = |path: &str| {
        crate::schema::find(object, path)
            .first()
            .map(|v| (*v).clone())
    };
    let selector = match &paths.label_selector {
        Some(path) => first(path)
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        // A LabelSelector (Deployments, ReplicaSets, StatefulSets), or a
        // map of labels (ReplicationControllers).
        None => {
            let selector = &object["spec"]["selector"];
            let structured =
                selector.get("matchLabels").is_some() || selector.get("matchExpressions").is_some();
            let selector = if structured || !selector.is_object() {
                selector.clone()
            } else {
                serde_json::json!({"matchLabels": selector})
            };
            crate::selectors::LabelSelector::from_object(&selector)
                .map(|selector| selector.to_string())
                .unwrap_or_default()
        }
    };
    let metadata = &object["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata["uid"],
            "resourceVersion": metadata["resourceVersion"],
            "creationTimestamp": metadata["creationTimestamp"],
        },
        "spec": {"replicas": first(&paths.spec_replicas).unwrap_or(json!(0))},
        "status": {"replicas": first(&paths.status_replicas).unwrap_or(json!(0)), "selector": selector},
    })
}

async fn scale(
    state: &ApiState,
    target: &Target,
    name: &str,
    method: &Method,
    body: Body,
    content_type: Option<&str>,
    query: &Query,
) -> ApiResult<Response> {
    let resource = &target.resource;
    let namespace = target.namespace.as_deref();
    let change: Box<ScaleChange> = match *method {
        Method::GET => {
            let stored = state.objects.get(resource, namespace, name).await?;
            return Ok(json_response(
                StatusCode::OK,
                "application/json",
                &scale_of(resource, &stored.object),
                &[],
            ));
        }
        Method::PUT => {
            let body = crate::body::read(body).await?;
            let requested = crate::body::parse_object(content_type, &body)?;
            Box::new(move |_current: &Value| Ok(requested.clone()))
        }
        Method::PATCH => {
            let body = crate::body::read(body).await?;
            let patch = Patch::parse(content_type.unwrap_or_default(), &body)?;
            let resource = resource.clone();
            Box::new(move |current: &Value| {
                let mut scale = scale_of(&resource, current);
                scale["metadata"]
                    .as_object_mut()
                    .expect("object")
                    .remove("resourceVersion");
                patch.apply_to(&scale)
            })
        }
        _ => {
            return Err(ApiError::MethodNotAllowed(format!(
                "{method} is not supported on {}/scale",
                resource.group_resource()
            )));
        }
    };
    let updated = state
        .objects
        .update_with(
            resource,
            namespace,
            name,
            Part::Main,
            query.dry_run()?,
            |current| {
                let scale = change(current)?;
                let replicas = scale
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| {
                        ApiError::BadRequest(
                            "the Scale must set spec.replicas to a whole number".into(),
                        )
                    })?;
                let mut next = current.clone();
                crate::schema::set_path(
                    &mut next,
                    &resource.scale_paths().spec_replicas,
                    json!(replicas),
                );
                let pinned = scale.pointer("/metadata/resourceVersion").cloned();
                match pinned {
                    Some(rv) => next["metadata"]["resourceVersion"] = rv,
                    None => {
                        next["metadata"]
                            .as_object_mut()
                            .expect("metadata")
                            .remove("resourceVersion");
                    }
                }
                Ok(next)
            },
        )
        .await?;
    Ok(json_response(
        StatusCode::OK,
        "application/json",
        &scale_of(resource, &updated),
        &[],
    ))
}

/// `POST pods/{name}/binding`: assigns a pending pod to a node, once.
async fn bind(
    state: &ApiState,
    target: &Target,
    name: &str,
    binding: &Value,
    query: &Query,
) -> ApiResult<Response> {
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::BadRequest("a Binding needs target.name".into()))?;
    state
        .objects
        .bind(
            &target.resource,
            target.namespace.as_deref(),
            name,
            node,
            query.dry_run()?,
        )
        .await?;
    Ok(json_response(
        StatusCode::CREATED,
        "application/json",
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        &[],
    ))
}

/// A watch: initial events if asked, then the cache's events, as a chunked
/// stream of JSON lines, until the timeout.
async fn watch(
    state: &Arc<ApiState>,
    target: &Target,
    query: &Query,
    headers: &HeaderMap,
    served: Option<Arc<ResourceDef>>,
) -> ApiResult<Response> {
    let resource = target.resource.clone();
    let format = negotiate(headers)?;
    let include = IncludeObject::parse(query.get("includeObject"));
    let params = list_params(&resource, query)?;
    let timeout =
        match query.get("timeoutSeconds") {
            Some(seconds) => Duration::from_secs(seconds.parse().map_err(|_| {
                ApiError::BadRequest(format!("invalid timeoutSeconds {seconds:?}"))
            })?),
            None => Duration::from_secs(1800 + (uuid::Uuid::new_v4().as_u128() % 1800) as u64),
        };
    // Any timeoutSeconds a client sends: past a year is as good as forever.
    let deadline = tokio::time::Instant::now() + timeout.min(Duration::from_secs(365 * 86_400));
    let bookmarks = query.flag("allowWatchBookmarks");
    let send_initial = match query.get("sendInitialEvents") {
        Some(value) => value == "true",
        None => matches!(params.resource_version.as_deref(), None | Some("0")),
    };
    let filter = WatchFilter {
        resource: resource.clone(),
        namespace: target.namespace.clone(),
        labels: params.labels.clone(),
        fields: params.fields.clone(),
        // Caught up with the cache, the watcher reports the revision it
        // has processed: a bookmark may say that much, and no more.
        progress: bookmarks,
    };
    let bookmark_every = state.bookmark_interval();
    // Few lines wait to be sent (each may be a 1 MiB object); the events
    // behind them wait as shared references to the cache's.
    let (lines, receiver) = mpsc::channel::<Bytes>(8);
    let encoder = Encoder {
        resource: resource.clone(),
        served,
        format,
        include,
        first: true,
    };
    let start = if send_initial {
        let list = state
            .objects
            .list(
                &resource,
                target.namespace.as_deref(),
                &ListParams {
                    labels: params.labels,
                    fields: params.fields,
                    ..Default::default()
                },
            )
            .await?;
        Some(list)
    } else {
        None
    };
    let after = match (&start, params.resource_version.as_deref()) {
        (Some(list), _) => list.revision,
        (None, Some(rv)) => parse_revision(rv)?,
        (None, None) => state.watch_cache.latest_revision(),
    };
    let cache = state.watch_cache.clone();
    let mut closing = state.closing.subscribe();
    tokio::spawn(async move {
        let mut encoder = encoder;
        if let Some(list) = start {
            for item in &list.items {
                if lines.send(encoder.event("ADDED", item)).await.is_err() {
                    return;
                }
            }
            if bookmarks {
                let _ = lines.send(encoder.bookmark(list.revision, true)).await;
            }
        }
        let (deliveries, mut events) = mpsc::channel(256);
        cache.spawn_watcher(filter, after, deliveries, deadline);
        let mut ticker =
            tokio::time::interval_at(tokio::time::Instant::now() + bookmark_every, bookmark_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The revision every event up to which this watcher has sent (or
        // passed over as not its own): what a bookmark may carry. The
        // cache's latest revision may be far ahead of a slow reader, and a
        // client resuming from a bookmark past events it never got would
        // lose them.
        let mut sent_through = after;
        let mut bookmarked = after;
        loop {
            tokio::select! {
                delivery = events.recv() => match delivery {
                    Some(Delivery::Event(kind, event)) => {
                        sent_through = event.revision;
                        // A client that reads nothing for this long is let
                        // go, as kube's cacher does: it watches again from
                        // the last event it got, and holds no memory here.
                        let line = encoder.cached(kind.as_str(), &event);
                        if lines.send_timeout(line, UNRESPONSIVE_WATCHER).await.is_err() {
                            tracing::info!(resource = %encoder.resource.plural, "closing a watch whose client does not read");
                            return;
                        }
                    }
                    Some(Delivery::Progress(revision)) => sent_through = sent_through.max(revision),
                    Some(Delivery::Error(error)) => {
                        let _ = lines.send(encoder.error(&error)).await;
                        return;
                    }
                    None => return,
                },
                _ = ticker.tick(), if bookmarks && sent_through > bookmarked => {
                    bookmarked = sent_through;
                    if lines.send(encoder.bookmark(sent_through, false)).await.is_err() { return }
                }
                () = tokio::time::sleep_until(deadline) => return,
                () = lines.closed() => return,
                _ = closing.changed() => return,
            }
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|line| (Ok::<_, std::convert::Infallible>(line), receiver))
    });
    let content_type = match format {
        Format::Json => "application/json",
        Format::Table => TABLE_CONTENT_TYPE,
    };
    let mut response = Response::new(Body::from_stream(stream));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(response)
}

/// How long a watch waits for its client to take an event before it ends.
const UNRESPONSIVE_WATCHER: Duration = Duration::from_secs(5);

/// Turns watch events into JSON lines in the negotiated form.
struct Encoder {
    resource: Arc<ResourceDef>,
    /// The converted form the client watches, if not the stored kind's.
    served: Option<Arc<ResourceDef>>,
    format: Format,
    include: IncludeObject,
    first: bool,
}

impl Encoder {
    fn line(&self, kind: &str, object_json: &[u8]) -> Bytes {
        let mut line = Vec::with_capacity(object_json.len() + 32);
        line.extend_from_slice(b"{\"type\":\"");
        line.extend_from_slice(kind.as_bytes());
        line.extend_from_slice(b"\",\"object\":");
        line.extend_from_slice(object_json);
        line.extend_from_slice(b"}\n");
        Bytes::from(line)
    }

    fn event(&mut self, kind: &str, object: &Value) -> Bytes {
        match self.format {
            Format::Json if self.served.is_some() => {
                let served = self.served.as_ref().expect("checked");
                let converted = crate::conversion::from_storage(served, object.clone());
                self.line(kind, &wharf_protobuf::to_json(&converted))
            }
            Format::Json => self.line(kind, &wharf_protobuf::to_json(object)),
            Format::Table => self.table(kind, object),
        }
    }

    fn cached(&mut self, kind: &str, event: &wharf_client::CachedEvent) -> Bytes {
        if self.served.is_some() {
            return self.event(kind, &event.object);
        }
        if event.resource.version != self.resource.version {
            // A custom kind's object in another of its versions (no
            // conversion: only its apiVersion differs).
            let mut object = (*event.object).clone();
            object["apiVersion"] = json!(self.resource.api_version());
            return self.event(kind, &object);
        }
        match self.format {
            Format::Json => self.line(kind, &event.object_json),
            Format::Table => self.table(kind, &event.object),
        }
    }

    fn table(&mut self, kind: &str, object: &Value) -> Bytes {
        let metadata = json!({"resourceVersion": object.pointer("/metadata/resourceVersion").cloned().unwrap_or_default()});
        let table = render(
            &self.resource,
            &[object],
            self.include,
            metadata,
            self.first,
        );
        self.first = false;
        self.line(kind, &serde_json::to_vec(&table).unwrap_or_default())
    }

    fn bookmark(&self, revision: i64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let resource = self.served.as_ref().unwrap_or(&self.resource);
        let object = json!({"kind": resource.kind, "apiVersion": resource.api_version(), "metadata": metadata});
        self.line("BOOKMARK", &wharf_protobuf::to_json(&object))
    }

    fn error(&self, error: &ApiError) -> Bytes {
        self.line("ERROR", &wharf_protobuf::to_json(&error.status()))
    }
}

/// What [`serve_converted`] reads of a request besides its body.
struct Converted<'a> {
    method: &'a Method,
    headers: &'a HeaderMap,
    query: &'a Query,
    content_type: Option<&'a str>,
}

/// A request for a converted form of a stored kind (`events.k8s.io/v1`
/// Events, `autoscaling/v1` autoscalers): served by the stored kind, its
/// body converted on the way in and its objects on the way out
/// ([`crate::conversion`]). Tables print the stored form (the columns are
/// the same).
async fn serve_converted(
    state: &Arc<ApiState>,
    target: &Target,
    storage: Arc<ResourceDef>,
    request: Converted<'_>,
    body: Body,
) -> ApiResult<Response> {
    use crate::conversion::{from_storage, to_storage};
    let served = target.resource.clone();
    let stored = Target {
        resource: storage.clone(),
        namespace: target.namespace.clone(),
        name: target.name.clone(),
        subresource: target.subresource.clone(),
    };
    let namespace = target.namespace.as_deref();
    let query = request.query;
    let respond = |status: StatusCode, object: Value, warnings: &[String]| {
        json_response(
            status,
            "application/json",
            &from_storage(&served, object),
            warnings,
        )
    };
    // The client's object, decoded as the served kind, as the stored kind.
    let incoming = |object: &Value| -> ApiResult<(Value, Vec<String>)> {
        check_kind(&served, object)?;
        let (decoded, warnings) = state.objects.admit(&served, object, query.strict()?)?;
        Ok((
            to_storage(&served, &storage, decoded),
            query.field_warnings(warnings),
        ))
    };
    match (
        request.method,
        target.name.as_deref(),
        target.subresource.as_deref(),
    ) {
        (&Method::GET, None, None) if query.flag("watch") => {
            watch(state, &stored, query, request.headers, Some(served.clone())).await
        }
        (&Method::GET, None, None) => {
            if negotiate(request.headers)? == Format::Table {
                return list(state, &stored, query, request.headers).await;
            }
            let params = list_params(&storage, query)?;
            let result = state.objects.list(&storage, namespace, &params).await?;
            let metadata = list_metadata(result.revision, result.continue_token.as_ref());
            let items = result
                .items
                .into_iter()
                .map(|item| from_storage(&served, item))
                .collect();
            Ok(list_response(&served, metadata, items))
        }
        (&Method::GET, Some(name), sub @ (None | Some("status" | "ephemeralcontainers"))) => {
            part_of(&served, sub)?;
            let object = state.objects.get(&storage, namespace, name).await?.object;
            if negotiate(request.headers)? == Format::Table {
                return respond_object(&storage, object, query, request.headers);
            }
            Ok(respond(StatusCode::OK, object, &[]))
        }
        (&Method::POST, None, None) => {
            let body = crate::body::read(body).await?;
            let object = crate::body::parse_object(request.content_type, &body)?;
            let (object, warnings) = incoming(&object)?;
            let created = state
                .objects
                .create(&storage, namespace, object, query.dry_run()?)
                .await?;
            Ok(respond(StatusCode::CREATED, created, &warnings))
        }
        (&Method::PUT, Some(name), sub @ (None | Some("status" | "ephemeralcontainers"))) => {
            let part = part_of(&served, sub)?;
            let body = crate::body::read(body).await?;
            let object = crate::body::parse_object(request.content_type, &body)?;
            let (object, warnings) = incoming(&object)?;
            let updated = state
                .objects
                .update_with(&storage, namespace, name, part, query.dry_run()?, |_| {
                    Ok(object.clone())
                })
                .await?;
            Ok(respond(StatusCode::OK, updated, &warnings))
        }
        (&Method::PATCH, Some(name), sub @ (None | Some("status" | "ephemeralcontainers"))) => {
            let part = part_of(&served, sub)?;
            let body = crate::body::read(body).await?;
            let patch = Patch::parse(request.content_type.unwrap_or_default(), &body)?;
            let mut warnings = Vec::new();
            let updated = state
                .objects
                .update_with(
                    &storage,
                    namespace,
                    name,
                    part,
                    query.dry_run()?,
                    |current| {
                        // Patched as the client sees it, stored as it is kept.
                        let mut base = from_storage(&served, current.clone());
                        if let Some(metadata) =
                            base.get_mut("metadata").and_then(Value::as_object_mut)
                        {
                            metadata.remove("resourceVersion");
                        }
                        let patched = patch.apply_to(&base)?;
                        let (object, found) = incoming(&patched)?;
                        warnings = found;
                        Ok(object)
                    },
                )
                .await?;
            Ok(respond(StatusCode::OK, updated, &warnings))
        }
        (&Method::DELETE, Some(name), None) => {
            let body = crate::body::read(body).await?;
            let params = delete_params(query, request.content_type, &body)?;
            let deleted = state
                .objects
                .delete(&storage, namespace, name, &params)
                .await?;
            Ok(respond(StatusCode::OK, deleted, &[]))
        }
        (&Method::DELETE, None, None) => {
            delete_collection(state, &stored, query, request.content_type, body).await
        }
        (method, _, Some(sub)) => Err(ApiError::NoSuchPath(format!(
            "the server could not find the requested resource ({method} {}/{sub})",
            served.group_resource()
        ))),
        (method, _, None) => Err(ApiError::MethodNotAllowed(format!(
            "the server does not allow this method on the requested resource ({method} {})",
            served.group_resource()
        ))),
    }
}
