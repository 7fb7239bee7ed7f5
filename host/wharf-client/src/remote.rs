//! The API server over HTTP, for components that run on another machine
//! than the API server (`wharf node --server URL`): the same operations as
//! the API server's in-process client, through the REST API kubectl uses,
//! with the server's `Status` errors turned back into [`ApiError`]s.
//!
//! It speaks HTTPS with the credentials of a kubeconfig ([`Transport`]).

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use async_trait::async_trait;

use crate::client::{Client, Listed, Selectors};
use crate::error::{ApiError, ApiResult};
use crate::kubeconfig::ClusterAccess;
use crate::meta::DeleteParams;
use crate::patch::Patch;
use crate::resources::{Registry, ResourceDef};
use crate::transport::{PoolOptions, Transport};
use crate::watch::{CachedEvent, Delivery, WatchType};

/// A client of an API server across the network. Clones share the
/// connections.
#[derive(Clone)]
pub struct RemoteClient {
    transport: Transport,
    registry: Arc<Registry>,
}

impl RemoteClient {
    /// A client of the server `access` names, with its credentials.
    pub fn new(access: &ClusterAccess) -> Result<Self, String> {
        Ok(Self {
            transport: Transport::new(access, PoolOptions::default())?,
            registry: Arc::new(Registry::builtin()),
        })
    }

    /// The server and credentials of a kubeconfig's current context
    /// (`server` overrides its server).
    pub fn from_kubeconfig(path: &std::path::Path, server: Option<&str>) -> Result<Self, String> {
        Self::new(&ClusterAccess::from_kubeconfig(path, server)?)
    }

    fn path(&self, resource: &ResourceDef, namespace: Option<&str>, name: Option<&str>) -> String {
        let mut path = if resource.group.is_empty() {
            format!("/api/{}", resource.version)
        } else {
            format!("/apis/{}/{}", resource.group, resource.version)
        };
        if resource.namespaced
            && let Some(namespace) = namespace
        {
            path.push_str(&format!("/namespaces/{namespace}"));
        }
        path.push('/');
        path.push_str(resource.plural);
        if let Some(name) = name {
            path.push('/');
            path.push_str(name);
        }
        path
    }

    /// The method and headers of a request with `content_type` (used only
    /// when there is a body).
    fn request_head<'a>(
        method: &str,
        content_type: &'a str,
        has_body: bool,
    ) -> ApiResult<(hyper::Method, Vec<(&'static str, &'a str)>)> {
        let method = hyper::Method::from_bytes(method.as_bytes())
            .map_err(|e| ApiError::Internal(format!("method {method}: {e}")))?;
        let mut headers = vec![("accept", "application/json")];
        if has_body {
            headers.push(("content-type", content_type));
        }
        Ok((method, headers))
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        content_type: &str,
        body: Option<Vec<u8>>,
    ) -> ApiResult<hyper::Response<hyper::body::Incoming>> {
        let (method, headers) = Self::request_head(method, content_type, body.is_some())?;
        self.transport
            .send(method, uri, &headers, Bytes::from(body.unwrap_or_default()))
            .await
            .map_err(ApiError::Timeout)
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        content_type: &str,
        body: Option<Vec<u8>>,
    ) -> ApiResult<Value> {
        let (method, headers) = Self::request_head(method, content_type, body.is_some())?;
        let (status, bytes) = self
            .transport
            .call(method, uri, &headers, Bytes::from(body.unwrap_or_default()))
            .await
            .map_err(ApiError::Timeout)?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            json!({"kind": "Status", "code": status.as_u16(), "message": String::from_utf8_lossy(&bytes)})
        });
        if status.is_success() {
            Ok(value)
        } else {
            Err(status_error(status.as_u16(), &value))
        }
    }

    async fn stream_watch(
        &self,
        resource: &Arc<ResourceDef>,
        namespace: Option<&str>,
        selectors: &Selectors,
        after: i64,
        sender: &mpsc::Sender<Delivery>,
    ) -> ApiResult<()> {
        let mut query = vec![
            ("watch", "1".to_string()),
            ("allowWatchBookmarks", "true".to_string()),
            ("resourceVersion", after.to_string()),
        ];
        push_selectors(&mut query, selectors);
        let uri = format!(
            "{}?{}",
            self.path(resource, namespace, None),
            encode_query(&query)
        );
        let response = self.send("GET", &uri, "", None).await?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(status_error(status.as_u16(), &value));
        }
        let mut body = response.into_body().into_data_stream();
        let mut pending: Vec<u8> = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::Timeout(format!("the watch broke off: {e}")))?;
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let delivery = parse_watch_line(resource, &line)?;
                if sender.send(delivery).await.is_err() {
                    return Ok(());
                }
            }
        }
        Err(ApiError::Timeout("the watch ended".into()))
    }
}

#[async_trait]
impl Client for RemoteClient {
    fn registry(&self) -> &Registry {
        &self.registry
    }

    async fn get(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
    ) -> ApiResult<Value> {
        self.call("GET", &self.path(resource, namespace, Some(name)), "", None)
            .await
    }

    /// Every matching object, following continue tokens.
    async fn list(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        selectors: &Selectors,
    ) -> ApiResult<Listed> {
        let mut items = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut query = vec![("limit", "500".to_string())];
            push_selectors(&mut query, selectors);
            if let Some(token) = &next {
                query.push(("continue", token.clone()));
            }
            let uri = format!(
                "{}?{}",
                self.path(resource, namespace, None),
                encode_query(&query)
            );
            let mut page = self.call("GET", &uri, "", None).await?;
            if let Some(Value::Array(page_items)) = page.get_mut("items").map(Value::take) {
                let (api_version, kind) = (resource.api_version(), resource.kind);
                items.extend(page_items.into_iter().map(|mut item| {
                    // Lists leave out their items' apiVersion and kind.
                    item["apiVersion"] = json!(api_version);
                    item["kind"] = json!(kind);
                    item
                }));
            }
            let revision = page
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .and_then(|rv| rv.parse().ok())
                .unwrap_or(0);
            match page.pointer("/metadata/continue").and_then(Value::as_str) {
                Some(token) if !token.is_empty() => next = Some(token.to_string()),
                _ => return Ok(Listed { items, revision }),
            }
        }
    }

    async fn create(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        object: &Value,
    ) -> ApiResult<Value> {
        let body = serde_json::to_vec(object).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        self.call(
            "POST",
            &self.path(resource, namespace, None),
            "application/json",
            Some(body),
        )
        .await
    }

    async fn update(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        object: &Value,
        status: bool,
    ) -> ApiResult<Value> {
        if status {
            return self
                .update_subresource(resource, namespace, object, "status")
                .await;
        }
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let uri = self.path(resource, namespace, Some(name));
        let body = serde_json::to_vec(object).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        self.call("PUT", &uri, "application/json", Some(body)).await
    }

    async fn update_subresource(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        object: &Value,
        subresource: &str,
    ) -> ApiResult<Value> {
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let uri = format!(
            "{}/{subresource}",
            self.path(resource, namespace, Some(name))
        );
        let body = serde_json::to_vec(object).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        self.call("PUT", &uri, "application/json", Some(body)).await
    }

    async fn patch(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        patch: &Patch,
        status: bool,
    ) -> ApiResult<Value> {
        let mut uri = self.path(resource, namespace, Some(name));
        if status {
            uri.push_str("/status");
        }
        let (content_type, body) = match patch {
            Patch::Json(patch) => ("application/json-patch+json", serde_json::to_vec(patch)),
            Patch::Merge(patch) => ("application/merge-patch+json", serde_json::to_vec(patch)),
            Patch::Strategic(patch) => (
                "application/strategic-merge-patch+json",
                serde_json::to_vec(patch),
            ),
            Patch::Apply(patch) => {
                uri.push_str("?fieldManager=wharf-node");
                ("application/apply-patch+yaml", serde_json::to_vec(patch))
            }
        };
        let body = body.map_err(|e| ApiError::BadRequest(e.to_string()))?;
        self.call("PATCH", &uri, content_type, Some(body)).await
    }

    async fn delete_with(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        params: &DeleteParams,
    ) -> ApiResult<Value> {
        let mut options = json!({"kind": "DeleteOptions", "apiVersion": "v1"});
        if let Some(grace) = params.grace_period_seconds {
            options["gracePeriodSeconds"] = json!(grace);
        }
        if let Some(propagation) = &params.propagation {
            options["propagationPolicy"] = json!(propagation);
        }
        if let Some(uid) = &params.precondition_uid {
            options["preconditions"] = json!({"uid": uid});
        }
        if let Some(version) = &params.precondition_resource_version {
            options["preconditions"]["resourceVersion"] = json!(version);
        }
        if params.dry_run {
            options["dryRun"] = json!(["All"]);
        }
        let body = serde_json::to_vec(&options).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        self.call(
            "DELETE",
            &self.path(resource, namespace, Some(name)),
            "application/json",
            Some(body),
        )
        .await
    }

    /// Changes after revision `after`, with bookmarks as progress reports.
    /// Dropping the receiver stops the watch.
    fn watch(
        &self,
        resource: &Arc<ResourceDef>,
        namespace: Option<&str>,
        selectors: &Selectors,
        after: i64,
    ) -> mpsc::Receiver<Delivery> {
        let (sender, receiver) = mpsc::channel(1024);
        let (client, resource) = (self.clone(), resource.clone());
        let (namespace, selectors) = (namespace.map(str::to_string), selectors.clone());
        tokio::spawn(async move {
            if let Err(error) = client
                .stream_watch(&resource, namespace.as_deref(), &selectors, after, &sender)
                .await
            {
                let _ = sender.send(Delivery::Error(error)).await;
            }
        });
        receiver
    }

    /// From the Secret the API server publishes it in.
    async fn create_token(&self, namespace: &str, name: &str, request: &Value) -> ApiResult<Value> {
        let accounts = self.resource("", "v1", "ServiceAccount")?;
        let body = serde_json::to_vec(request).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let path = format!(
            "{}/token",
            self.path(&accounts, Some(namespace), Some(name))
        );
        self.call("POST", &path, "application/json", Some(body))
            .await
    }
}

/// Adds the selectors that select something to a query.
fn push_selectors(query: &mut Vec<(&str, String)>, selectors: &Selectors) {
    for (key, value) in [
        ("labelSelector", &selectors.labels),
        ("fieldSelector", &selectors.fields),
    ] {
        if !value.is_empty() {
            query.push((key, value.clone()));
        }
    }
}

/// One line of a watch stream as the in-process watch delivers it.
fn parse_watch_line(resource: &Arc<ResourceDef>, line: &[u8]) -> ApiResult<Delivery> {
    let mut event: Value = serde_json::from_slice(line)
        .map_err(|e| ApiError::Internal(format!("a watch line is not JSON: {e}")))?;
    let object = event
        .get_mut("object")
        .map(Value::take)
        .unwrap_or(Value::Null);
    let revision = object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0);
    let watch_type = match event.get("type").and_then(Value::as_str) {
        Some("ADDED") => WatchType::Added,
        Some("MODIFIED") => WatchType::Modified,
        Some("DELETED") => WatchType::Deleted,
        Some("BOOKMARK") => return Ok(Delivery::Progress(revision)),
        Some("ERROR") => {
            let code = object.get("code").and_then(Value::as_u64).unwrap_or(500) as u16;
            return Ok(Delivery::Error(status_error(code, &object)));
        }
        other => {
            return Err(ApiError::Internal(format!(
                "unknown watch event type {other:?}"
            )));
        }
    };
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str);
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let key = resource.key(namespace, name);
    let object_json = Bytes::from(serde_json::to_vec(&object).unwrap_or_default());
    Ok(Delivery::Event(
        watch_type,
        Arc::new(CachedEvent {
            revision,
            resource: resource.clone(),
            key,
            deleted: watch_type == WatchType::Deleted,
            object: Arc::new(object),
            previous: None,
            object_json,
        }),
    ))
}

/// The [`ApiError`] a `Status` answer stands for.
fn status_error(code: u16, status: &Value) -> ApiError {
    let text = |pointer: &str| {
        status
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let message = text("/message");
    let (group, kind, name) = (
        text("/details/group"),
        text("/details/kind"),
        text("/details/name"),
    );
    match (code, status.get("reason").and_then(Value::as_str)) {
        (404, Some("NotFound")) if !name.is_empty() => ApiError::NotFound { group, kind, name },
        (404, _) => ApiError::NoSuchPath(message),
        (409, Some("AlreadyExists")) => ApiError::AlreadyExists { group, kind, name },
        (409, _) => ApiError::Conflict {
            group,
            kind,
            name,
            message: message
                .split_once(": ")
                .map_or(message.clone(), |(_, rest)| rest.to_string()),
        },
        (410, _) => ApiError::Gone(message),
        (401, _) => ApiError::Unauthorized,
        (403, _) => ApiError::Forbidden(message),
        (400 | 422, _) => ApiError::BadRequest(message),
        (413, _) => ApiError::TooLarge(message),
        (504, _) => ApiError::Timeout(message),
        _ => ApiError::Internal(format!("{code}: {message}")),
    }
}

fn encode_query(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| format!("{key}={}", percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_encode(text: &str) -> String {
    let mut encoded = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_become_the_errors_they_stand_for() {
        let not_found = json!({"kind": "Status", "code": 404, "reason": "NotFound", "message": "pods \"a\" not found",
            "details": {"name": "a", "kind": "pods"}});
        assert!(
            matches!(status_error(404, &not_found), ApiError::NotFound { name, .. } if name == "a")
        );
        let conflict = json!({"reason": "Conflict", "message": "Operation cannot be fulfilled on pods \"a\": the object has been modified",
            "details": {"name": "a", "kind": "pods"}});
        assert!(
            matches!(status_error(409, &conflict), ApiError::Conflict { message, .. } if message == "the object has been modified")
        );
        assert!(matches!(
            status_error(410, &json!({"message": "too old"})),
            ApiError::Gone(_)
        ));
        assert!(matches!(
            status_error(
                409,
                &json!({"reason": "AlreadyExists", "details": {"name": "a"}})
            ),
            ApiError::AlreadyExists { .. }
        ));
    }

    #[test]
    fn watch_lines_become_deliveries() {
        let registry = Registry::builtin();
        let pods = registry.get("", "v1", "pods").unwrap().clone();
        let line = br#"{"type":"MODIFIED","object":{"metadata":{"name":"a","namespace":"d","resourceVersion":"7"}}}"#;
        match parse_watch_line(&pods, line).unwrap() {
            Delivery::Event(WatchType::Modified, event) => {
                assert_eq!(
                    (event.revision, event.key.as_str()),
                    (7, "/registry/core/pods/d/a")
                );
            }
            _ => panic!("not an event"),
        }
        let bookmark = br#"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}"#;
        assert!(matches!(
            parse_watch_line(&pods, bookmark).unwrap(),
            Delivery::Progress(9)
        ));
        let expired =
            br#"{"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old"}}"#;
        assert!(matches!(
            parse_watch_line(&pods, expired).unwrap(),
            Delivery::Error(ApiError::Gone(_))
        ));
        assert_eq!(percent_encode("spec.nodeName=a b"), "spec.nodeName%3Da%20b");
    }

    #[test]
    fn paths_are_the_rest_apis() {
        let access = |server: &str| ClusterAccess {
            server: server.into(),
            ..Default::default()
        };
        assert!(RemoteClient::new(&access("ftp://x:6443")).is_err());
        let client = RemoteClient::new(&access("https://127.0.0.1:6443/")).unwrap();
        assert_eq!(client.transport.base(), "https://127.0.0.1:6443");
        let registry = Registry::builtin();
        let pods = registry.get("", "v1", "pods").unwrap();
        assert_eq!(
            client.path(&pods, Some("d"), Some("a")),
            "/api/v1/namespaces/d/pods/a"
        );
        let deployments = registry.get("apps", "v1", "deployments").unwrap();
        assert_eq!(
            client.path(&deployments, None, None),
            "/apis/apps/v1/deployments"
        );
    }
}
