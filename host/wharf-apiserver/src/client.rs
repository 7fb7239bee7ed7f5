//! The in-process client: the API server's operations without HTTP, for the
//! components that run inside `wharf up` (controller manager, scheduler,
//! node agent). Same semantics as the REST API: admission, validation,
//! defaulting, optimistic concurrency, finalizers, watch from the cache.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::mpsc;
use wharf_client::{Client, Listed, Selectors};

use crate::ApiState;
use crate::error::ApiResult;
use crate::meta::DeleteParams;
use crate::objects::{ListParams, Part};
use crate::patch::Patch;
use crate::resources::{Registry, ResourceDef};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::watch_cache::WatchFilter;
use wharf_client::Delivery;

/// A client of the API server in the same process.
#[derive(Clone)]
pub struct LocalClient {
    state: Arc<ApiState>,
}

impl LocalClient {
    /// Replaces `object`'s `part` (as admitted), guarded by its resourceVersion.
    async fn update_part(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        object: &Value,
        part: Part,
    ) -> ApiResult<Value> {
        let (object, _) = self.state.objects.admit(resource, object, true)?;
        let name = crate::meta::name_of(&object).to_string();
        self.state
            .objects
            .update_with(resource, namespace, &name, part, false, |_| {
                Ok(object.clone())
            })
            .await
    }

    pub fn new(state: Arc<ApiState>) -> Self {
        Self { state }
    }

    pub fn state(&self) -> &Arc<ApiState> {
        &self.state
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
}

/// Runs `handle` on every object of `resource` as a watch from inside the
/// server sees it (each one at every (re)list, then each one that is
/// added or changed; deletions are skipped), one at a time, until the
/// server closes: the API server's own small controllers (the CSR signer,
/// the CustomResourceDefinition cleanup).
pub fn spawn_follower<H, F>(state: &Arc<ApiState>, resource: Arc<ResourceDef>, mut handle: H)
where
    H: FnMut(Arc<ApiState>, Value) -> F + Send + 'static,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    use wharf_client::watcher::{Seen, Watcher};
    let weak = Arc::downgrade(state);
    let mut watcher = Watcher::new(LocalClient::new(state.clone()), resource, Selectors::all());
    let mut closing = state.closing.subscribe();
    tokio::spawn(async move {
        loop {
            let seen = tokio::select! {
                seen = watcher.next() => seen,
                _ = closing.wait_for(|c| *c) => return,
            };
            let Some(state) = weak.upgrade() else { return };
            let objects: Vec<Value> = match seen {
                Seen::Listed(all) => all,
                Seen::Changed(wharf_client::WatchType::Deleted, _) => continue,
                Seen::Changed(_, one) => vec![(*one).clone()],
            };
            for object in objects {
                handle(state.clone(), object).await;
            }
        }
    });
}

/// The API server's operations in process, through the client trait the
/// components that also run elsewhere use.
#[async_trait]
impl Client for LocalClient {
    fn registry(&self) -> &Registry {
        &self.state.registry
    }

    async fn get(
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

    async fn list(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        selectors: &Selectors,
    ) -> ApiResult<Listed> {
        let params = ListParams {
            labels: LabelSelector::parse(&selectors.labels)?,
            fields: FieldSelector::parse(&selectors.fields, resource)?,
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

    fn watch(
        &self,
        resource: &Arc<ResourceDef>,
        namespace: Option<&str>,
        selectors: &Selectors,
        after: i64,
    ) -> mpsc::Receiver<Delivery> {
        let (sender, receiver) = mpsc::channel(1024);
        let parsed = LabelSelector::parse(&selectors.labels)
            .and_then(|labels| Ok((labels, FieldSelector::parse(&selectors.fields, resource)?)));
        let (labels, fields) = match parsed {
            Ok(parsed) => parsed,
            Err(error) => {
                let _ = sender.try_send(Delivery::Error(error));
                return receiver;
            }
        };
        let filter = WatchFilter {
            resource: resource.clone(),
            namespace: namespace.map(str::to_string),
            labels,
            fields,
            progress: true,
        };
        let forever =
            tokio::time::Instant::now() + std::time::Duration::from_secs(100 * 365 * 24 * 3600);
        self.state
            .watch_cache
            .spawn_watcher(filter, after, sender, forever);
        receiver
    }

    async fn create(
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

    async fn update(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        object: &Value,
        status: bool,
    ) -> ApiResult<Value> {
        let part = if status { Part::Status } else { Part::Main };
        self.update_part(resource, namespace, object, part).await
    }

    async fn update_subresource(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        object: &Value,
        subresource: &str,
    ) -> ApiResult<Value> {
        let part = Part::of(resource, Some(subresource))?;
        self.update_part(resource, namespace, object, part).await
    }

    async fn patch(
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
            .patch(resource, namespace, name, part, patch, (true, false), None)
            .await?
            .0)
    }

    async fn delete_with(
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

    /// From the store.
    async fn create_token(&self, namespace: &str, name: &str, request: &Value) -> ApiResult<Value> {
        crate::serviceaccounts::issue_token(&self.state, namespace, name, request).await
    }
}
