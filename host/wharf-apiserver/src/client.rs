//! The in-process client: the API server's operations without HTTP, for the
//! components that run inside `wharf up` (controller manager, scheduler,
//! node agent). Same semantics as the REST API: admission, validation,
//! defaulting, optimistic concurrency, finalizers, watch from the cache.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::objects::{DeleteParams, ListParams, Part};
use crate::patch::Patch;
use crate::resources::ResourceDef;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::watch_cache::{Delivery, WatchFilter};

/// A client of the API server in the same process.
#[derive(Clone)]
pub struct LocalClient {
    state: Arc<ApiState>,
}

/// A list's items and the revision they were read at.
pub struct Listed {
    pub items: Vec<Value>,
    pub revision: i64,
}

impl LocalClient {
    pub fn new(state: Arc<ApiState>) -> Self {
        Self { state }
    }

    pub fn state(&self) -> &Arc<ApiState> {
        &self.state
    }

    /// The served kind with this group, version and kind name.
    pub fn resource(&self, group: &str, version: &str, kind: &str) -> ApiResult<Arc<ResourceDef>> {
        self.state
            .registry
            .by_kind(group, version, kind)
            .cloned()
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

    pub async fn get(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
    ) -> ApiResult<Value> {
        Ok(self
            .state
            .objects
            .get(resource, namespace, name)
            .await?
            .object)
    }

    /// Every matching object, following continue tokens, at one revision.
    pub async fn list(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> ApiResult<Listed> {
        let params = ListParams {
            labels: LabelSelector::parse(label_selector.unwrap_or_default())?,
            fields: FieldSelector::parse(field_selector.unwrap_or_default(), resource)?,
            ..Default::default()
        };
        let result = self
            .state
            .objects
            .list(resource, namespace, &params)
            .await?;
        Ok(Listed {
            items: result.items,
            revision: result.revision,
        })
    }

    /// Events after `after` from the watch cache, with progress reports.
    /// Dropping the receiver stops the watch.
    pub fn watch(
        &self,
        resource: &Arc<ResourceDef>,
        namespace: Option<String>,
        after: i64,
    ) -> mpsc::Receiver<Delivery> {
        let filter = WatchFilter {
            resource: resource.clone(),
            namespace,
            labels: LabelSelector::default(),
            fields: FieldSelector::default(),
            progress: true,
        };
        let (sender, receiver) = mpsc::channel(1024);
        let forever =
            tokio::time::Instant::now() + std::time::Duration::from_secs(100 * 365 * 24 * 3600);
        self.state
            .watch_cache
            .spawn_watcher(filter, after, sender, forever);
        receiver
    }

    pub async fn create(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        object: &Value,
    ) -> ApiResult<Value> {
        let (object, _) = self.state.objects.admit(resource, object, true)?;
        self.state
            .objects
            .create(resource, namespace, object, false)
            .await
    }

    /// Replaces an object (or its status); `metadata.resourceVersion` guards it.
    pub async fn update(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        object: &Value,
        status: bool,
    ) -> ApiResult<Value> {
        let part = if status { Part::Status } else { Part::Main };
        let (object, _) = self.state.objects.admit(resource, object, true)?;
        let name = crate::objects::name_of(&object).to_string();
        self.state
            .objects
            .update_with(resource, namespace, &name, part, false, |_| {
                Ok(object.clone())
            })
            .await
    }

    pub async fn patch(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        patch: &Patch,
        status: bool,
    ) -> ApiResult<Value> {
        let part = if status { Part::Status } else { Part::Main };
        Ok(self
            .state
            .objects
            .patch(resource, namespace, name, part, patch, true, false)
            .await?
            .0)
    }

    /// Binds a pod to a node (the `pods/binding` subresource).
    pub async fn bind(
        &self,
        resource: &ResourceDef,
        namespace: &str,
        name: &str,
        node: &str,
    ) -> ApiResult<Value> {
        self.state
            .objects
            .bind(resource, Some(namespace), name, node, false)
            .await
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

    /// Deletes with `params` (`DeleteOptions`: precondition, propagation,
    /// grace period).
    pub async fn delete_with(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        params: &DeleteParams,
    ) -> ApiResult<Value> {
        self.state
            .objects
            .delete(resource, namespace, name, params)
            .await
    }
}
