//! A client of the API server wherever it runs: in this process
//! ([`LocalClient`]: `wharf up`) or across HTTP ([`RemoteClient`]: `wharf
//! node --server`). Components that may run on either side (the node
//! agent, the service proxy, list-and-watch, the event recorder) take this.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::client::{Listed, LocalClient};
use crate::error::{ApiError, ApiResult};
use crate::objects::DeleteParams;
use crate::patch::Patch;
use crate::remote::{KUBELET_TOKEN_SECRET, RemoteClient};
use crate::resources::ResourceDef;
use crate::watch_cache::Delivery;

#[derive(Clone)]
pub enum ApiClient {
    Local(LocalClient),
    Remote(Arc<RemoteClient>),
}

impl From<LocalClient> for ApiClient {
    fn from(client: LocalClient) -> Self {
        ApiClient::Local(client)
    }
}

impl From<RemoteClient> for ApiClient {
    fn from(client: RemoteClient) -> Self {
        ApiClient::Remote(Arc::new(client))
    }
}

impl ApiClient {
    /// The served kind with this group, version and kind name.
    pub fn resource(&self, group: &str, version: &str, kind: &str) -> ApiResult<Arc<ResourceDef>> {
        match self {
            ApiClient::Local(client) => client.resource(group, version, kind),
            ApiClient::Remote(client) => (client.registry().by_kind(group, version, kind).cloned())
                .ok_or_else(|| {
                    ApiError::NoSuchPath(format!(
                        "no kind \"{kind}\" is registered for {group}/{version}"
                    ))
                }),
        }
    }

    pub async fn get(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
    ) -> ApiResult<Value> {
        match self {
            ApiClient::Local(client) => client.get(resource, namespace, name).await,
            ApiClient::Remote(client) => client.get(resource, namespace, name).await,
        }
    }

    pub async fn list(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> ApiResult<Listed> {
        match self {
            ApiClient::Local(client) => {
                client
                    .list(resource, namespace, label_selector, field_selector)
                    .await
            }
            ApiClient::Remote(client) => {
                client
                    .list(resource, namespace, label_selector, field_selector)
                    .await
            }
        }
    }

    /// Changes after `after`, with progress reports; dropping the receiver
    /// stops the watch.
    pub fn watch(
        &self,
        resource: &Arc<ResourceDef>,
        namespace: Option<String>,
        after: i64,
    ) -> mpsc::Receiver<Delivery> {
        match self {
            ApiClient::Local(client) => client.watch(resource, namespace, after),
            ApiClient::Remote(client) => client.watch(resource, namespace, after),
        }
    }

    pub async fn create(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        object: &Value,
    ) -> ApiResult<Value> {
        match self {
            ApiClient::Local(client) => client.create(resource, namespace, object).await,
            ApiClient::Remote(client) => client.create(resource, namespace, object).await,
        }
    }

    pub async fn update(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        object: &Value,
        status: bool,
    ) -> ApiResult<Value> {
        match self {
            ApiClient::Local(client) => client.update(resource, namespace, object, status).await,
            ApiClient::Remote(client) => client.update(resource, namespace, object, status).await,
        }
    }

    pub async fn patch(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        patch: &Patch,
        status: bool,
    ) -> ApiResult<Value> {
        match self {
            ApiClient::Local(client) => {
                client.patch(resource, namespace, name, patch, status).await
            }
            ApiClient::Remote(client) => {
                client.patch(resource, namespace, name, patch, status).await
            }
        }
    }

    /// Deletes with the kind's default propagation (and a pod with its
    /// own grace period).
    pub async fn delete(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
    ) -> ApiResult<Value> {
        self.delete_with(resource, namespace, name, &DeleteParams::default())
            .await
    }

    /// Deletes with `params` (precondition, propagation, grace period).
    pub async fn delete_with(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        params: &DeleteParams,
    ) -> ApiResult<Value> {
        match self {
            ApiClient::Local(client) => client.delete_with(resource, namespace, name, params).await,
            ApiClient::Remote(client) => client.delete(resource, namespace, name, params).await,
        }
    }

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

    /// The cluster-wide token node agents check the API server's log
    /// requests with: from the store in process, else from the Secret the
    /// API server publishes it in.
    pub async fn kubelet_token(&self) -> ApiResult<String> {
        match self {
            ApiClient::Local(client) => client.state().kubelet_token().await,
            ApiClient::Remote(_) => {
                let secrets = self.resource("", "v1", "Secret")?;
                let (namespace, name) = KUBELET_TOKEN_SECRET;
                let secret = self.get(&secrets, Some(namespace), name).await?;
                let encoded = secret
                    .pointer("/data/token")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                use base64::Engine;
                let token = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|_| {
                        ApiError::Internal(format!(
                            "the {namespace}/{name} Secret's token is not base64"
                        ))
                    })?;
                String::from_utf8(token)
                    .map_err(|_| ApiError::Internal("the kubelet token is not UTF-8".into()))
            }
        }
    }
}

/// Publishes the kubelet token in its Secret, for node agents elsewhere.
pub async fn publish_kubelet_token(client: &LocalClient) -> ApiResult<()> {
    use base64::Engine;
    let token = client.state().kubelet_token().await?;
    let secrets = client.resource("", "v1", "Secret")?;
    let (namespace, name) = KUBELET_TOKEN_SECRET;
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": {"token": base64::engine::general_purpose::STANDARD.encode(token)},
    });
    match client.create(&secrets, Some(namespace), &secret).await {
        Ok(_) | Err(ApiError::AlreadyExists { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}
