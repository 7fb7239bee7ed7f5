//! One client of the API server wherever it runs: the [`Client`] trait,
//! implemented in this process by the API server's `LocalClient` (`wharf
//! up`) and across HTTPS by [`RemoteClient`] (`wharf node --server`).
//! Components that may run on either side (the node agent, the service
//! proxy, list-and-watch, the event recorder, the controller manager) take
//! an [`ApiClient`], a shared handle to either.

use std::ops::Deref;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};
use crate::meta::DeleteParams;
use crate::patch::Patch;
use crate::resources::{Registry, ResourceDef};
use crate::watch::Delivery;

/// A list's items and the revision they were read at.
#[derive(Debug)]
pub struct Listed {
    pub items: Vec<Value>,
    pub revision: i64,
}

/// Which objects a list or a watch takes: a label and a field selector as
/// the query gives them (`app=web,tier in (a,b)`, `spec.nodeName=n1`);
/// empty takes every object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selectors {
    pub labels: String,
    pub fields: String,
}

impl Selectors {
    /// Every object.
    pub fn all() -> Self {
        Self::default()
    }

    /// Objects whose labels match `selector`.
    pub fn labels(selector: impl Into<String>) -> Self {
        Self {
            labels: selector.into(),
            fields: String::new(),
        }
    }

    /// Objects whose fields match `selector`.
    pub fn fields(selector: impl Into<String>) -> Self {
        Self {
            labels: String::new(),
            fields: selector.into(),
        }
    }
}

/// The API server's operations, with its semantics wherever it runs:
/// admission, validation, defaulting, optimistic concurrency, finalizers,
/// watches that resume from a resourceVersion.
#[async_trait]
pub trait Client: Send + Sync + 'static {
    /// The kinds this client knows, by group, version and kind.
    fn registry(&self) -> &Registry;

    async fn get(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
    ) -> ApiResult<Value>;

    /// Every matching object, at one revision (following continue tokens).
    async fn list(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        selectors: &Selectors,
    ) -> ApiResult<Listed>;

    /// The matching changes after revision `after`, with progress reports
    /// (bookmarks); objects entering the selection come ADDED and leaving
    /// it DELETED. Dropping the receiver stops the watch.
    fn watch(
        &self,
        resource: &Arc<ResourceDef>,
        namespace: Option<&str>,
        selectors: &Selectors,
        after: i64,
    ) -> mpsc::Receiver<Delivery>;

    async fn create(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        object: &Value,
    ) -> ApiResult<Value>;

    /// Replaces an object (or its status); `metadata.resourceVersion` guards it.
    async fn update(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        object: &Value,
        status: bool,
    ) -> ApiResult<Value>;

    /// Replaces an object through one of its subresources (`status`,
    /// a Namespace's `finalize`, a Pod's `ephemeralcontainers`).
    async fn update_subresource(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        object: &Value,
        subresource: &str,
    ) -> ApiResult<Value>;

    async fn patch(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        patch: &Patch,
        status: bool,
    ) -> ApiResult<Value>;

    /// Deletes with `params` (`DeleteOptions`: precondition, propagation,
    /// grace period).
    async fn delete_with(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        params: &DeleteParams,
    ) -> ApiResult<Value>;

    /// A token for the ServiceAccount `name` in `namespace` (its
    /// TokenRequest subresource): `request` is a TokenRequest, and the
    /// answer the TokenRequest with `status.token`.
    async fn create_token(&self, namespace: &str, name: &str, request: &Value) -> ApiResult<Value>;

    /// The served kind with this group, version and kind name.
    fn resource(&self, group: &str, version: &str, kind: &str) -> ApiResult<Arc<ResourceDef>> {
        self.registry()
            .by_kind(group, version, kind)
            .ok_or_else(|| {
                let api_version = if group.is_empty() {
                    version.to_string()
                } else {
                    format!("{group}/{version}")
                };
                ApiError::NoSuchPath(format!(
                    "no kind \"{kind}\" is registered for version \"{api_version}\""
                ))
            })
    }

    /// Deletes with the kind's default propagation (and a pod with its
    /// own grace period).
    async fn delete(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
    ) -> ApiResult<Value> {
        self.delete_with(resource, namespace, name, &DeleteParams::default())
            .await
    }
}

/// A shared handle to a [`Client`], in this process or across the network.
#[derive(Clone)]
pub struct ApiClient(Arc<dyn Client>);

impl<C: Client> From<C> for ApiClient {
    fn from(client: C) -> Self {
        ApiClient(Arc::new(client))
    }
}

impl Deref for ApiClient {
    type Target = dyn Client;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref()
    }
}

impl ApiClient {
    /// Reads an object, lets `change` edit it (false: nothing to write),
    /// and writes it (or its status) back guarded by its resourceVersion,
    /// re-reading on a conflict (8 tries). Returns what was written, or the
    /// object as read when nothing changed.
    pub async fn read_modify_write(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        status: bool,
        mut change: impl FnMut(&mut Value) -> bool,
    ) -> ApiResult<Value> {
        const ATTEMPTS: u64 = 8;
        let mut attempt = 0;
        loop {
            let mut object = self.get(resource, namespace, name).await?;
            if !change(&mut object) {
                return Ok(object);
            }
            attempt += 1;
            match self.update(resource, namespace, &object, status).await {
                Err(ApiError::Conflict { .. }) if attempt < ATTEMPTS => {
                    tokio::time::sleep(std::time::Duration::from_millis(10 * attempt)).await;
                }
                other => return other,
            }
        }
    }
}
