//! What a controller plugin's imports do: every cluster call is made as
//! the plugin's user and decided by the API server's authorizer (a
//! Plugin's `spec.permissions` are its user's rules; deny by default); reads of the kinds
//! the plugin watches come from the shared informer caches, after those
//! caches have caught up with the plugin's own last write (read-your-writes);
//! writes go through the API server's in-process client.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use wharf_client::{Client, Selectors};

use bytes::Bytes;
use serde_json::{Value, json};
use wharf_apiserver::{LocalClient, revision_of};
use wharf_client::{ApiError as ServerError, FieldSelector, LabelSelector, Patch, ResourceDef};
use wharf_plugins::controller::{
    ApiError, ControllerHost, Event, EventType, Kind, Level, ListOptions, PatchType, ServedKind,
};

use crate::informer::{Informer, Informers, Overlay};

/// How long a read waits for the caches to catch up with the plugin's writes.
const READ_YOUR_WRITES_WAIT: Duration = Duration::from_secs(2);

/// The host side of one controller plugin.
pub struct PluginHost {
    pub plugin: String,
    client: LocalClient,
    informers: Arc<Informers>,
    /// Who the plugin's calls are made as.
    user: wharf_apiserver::admission::UserInfo,
    handle: tokio::runtime::Handle,
    /// Kinds the plugin registered (primary, owns, reads), resolved once:
    /// their reads are served from these caches.
    watched: RwLock<Vec<Watched>>,
    /// The highest revision the plugin wrote; reads wait for caches to reach it.
    written: AtomicI64,
    /// Versions on their way to the store that this plugin's reads show
    /// (an admission plugin's: queued charges).
    overlay: Option<Arc<Overlay>>,
    /// Set when the Plugin is deleted or replaced: calls in flight end.
    stopped: std::sync::atomic::AtomicBool,
}

/// A kind the plugin watches, with its definition and its informer.
struct Watched {
    group: String,
    version: String,
    kind: String,
    resource: Arc<ResourceDef>,
    informer: Arc<Informer>,
}

impl Watched {
    fn is(&self, kind: &Kind) -> bool {
        self.kind == kind.kind && self.group == kind.group && self.version == kind.version
    }
}

fn convert(error: ServerError) -> ApiError {
    let message = error.to_string();
    match error {
        ServerError::NotFound { .. } | ServerError::NoSuchPath(_) => ApiError::NotFound(message),
        ServerError::AlreadyExists { .. } => ApiError::AlreadyExists(message),
        ServerError::Conflict { .. } => ApiError::Conflict(message),
        ServerError::Forbidden(_) => ApiError::Forbidden(message),
        ServerError::Invalid { .. } | ServerError::BadRequest(_) => ApiError::Invalid(message),
        _ => ApiError::Other(message),
    }
}

fn parse(object: &str) -> Result<Value, ApiError> {
    serde_json::from_str(object)
        .map_err(|e| ApiError::Invalid(format!("the object is not JSON: {e}")))
}

impl PluginHost {
    pub fn new(
        plugin: String,
        client: LocalClient,
        informers: Arc<Informers>,
        user: wharf_apiserver::admission::UserInfo,
        handle: tokio::runtime::Handle,
    ) -> Self {
        Self {
            plugin,
            client,
            informers,
            user,
            handle,
            watched: RwLock::default(),
            written: AtomicI64::new(0),
            overlay: None,
            stopped: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Interrupts the plugin's calls in flight and refuses new ones.
    pub fn stop(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Reads of cached kinds show `overlay`'s versions over the caches'.
    pub fn with_overlay(mut self, overlay: Arc<Overlay>) -> Self {
        self.overlay = Some(overlay);
        self
    }

    /// Records the kinds the plugin registered, starting their informers;
    /// their reads come from the caches from now on.
    pub fn set_watched(&self, kinds: &[Kind]) -> Result<(), ServerError> {
        let mut watched = Vec::new();
        for kind in kinds {
            let informer = self
                .informers
                .get_or_start(&kind.group, &kind.version, &kind.kind)?;
            watched.push(Watched {
                group: kind.group.clone(),
                version: kind.version.clone(),
                kind: kind.kind.clone(),
                resource: informer.resource.clone(),
                informer,
            });
        }
        *self.watched.write().expect("watched kinds") = watched;
        Ok(())
    }

    /// Resolves a kind and checks `verb` on it (or its `subresource`).
    fn authorize(
        &self,
        kind: &Kind,
        verb: &str,
        namespace: Option<&str>,
        subresource: Option<&str>,
    ) -> Result<Arc<ResourceDef>, ApiError> {
        let known = self
            .watched
            .read()
            .expect("watched kinds")
            .iter()
            .find(|w| w.is(kind))
            .map(|w| w.resource.clone());
        let resource = match known {
            Some(resource) => resource,
            None => self
                .client
                .resource(&kind.group, &kind.version, &kind.kind)
                .map_err(convert)?,
        };
        match self.may(&kind.group, resource.plural, subresource, verb, namespace) {
            Ok(()) => Ok(resource),
            Err(error) => {
                tracing::warn!(plugin = %self.plugin, verb, resource = resource.plural, ?subresource, "plugin denied");
                Err(convert(error))
            }
        }
    }

    /// The authorizer's decision on the plugin's user doing `verb` on
    /// `plural` (or its `subresource`) of `group` in `namespace`.
    fn may(
        &self,
        group: &str,
        plural: &str,
        subresource: Option<&str>,
        verb: &str,
        namespace: Option<&str>,
    ) -> Result<(), ServerError> {
        let attributes = wharf_apiserver::authz::Attributes {
            user: &self.user,
            verb,
            target: wharf_apiserver::authz::Target::Resource {
                group: group.to_string(),
                resource: plural.to_string(),
                subresource: subresource.map(str::to_string),
                namespace: namespace.map(str::to_string),
                name: None,
            },
        };
        let state = self.client.state();
        match state.authorizer.authorize_now(state, &attributes) {
            Some(decision) => decision,
            None => self
                .handle
                .block_on(state.authorizer.authorize(state, &attributes)),
        }
    }

    fn cached(&self, kind: &Kind) -> Option<Arc<Informer>> {
        let informer = self
            .watched
            .read()
            .expect("watched kinds")
            .iter()
            .find(|w| w.is(kind))
            .map(|w| w.informer.clone())?;
        let written = self.written.load(Ordering::Acquire);
        if informer.synced_revision() < written
            && !self
                .handle
                .block_on(informer.wait_synced(written, READ_YOUR_WRITES_WAIT))
        {
            tracing::warn!(plugin = %self.plugin, kind = kind.kind, written, "cache behind the plugin's writes; reading from the store");
            return None;
        }
        Some(informer)
    }

    fn wrote(&self, object: &Value) -> String {
        self.written
            .fetch_max(revision_of(object), Ordering::AcqRel);
        object.to_string()
    }
}

impl ControllerHost for PluginHost {
    fn allowed(&self, group: &str, resource: &str, verb: &str, namespace: Option<&str>) -> bool {
        let (plural, subresource) = match resource.split_once('/') {
            Some((plural, sub)) => (plural, Some(sub)),
            None => (resource, None),
        };
        self.may(group, plural, subresource, verb, namespace)
            .is_ok()
    }

    fn stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn served_kinds(&self) -> Vec<ServedKind> {
        let mut seen = std::collections::HashSet::new();
        self.client
            .registry()
            .stored()
            .into_iter()
            .filter(|def| seen.insert((def.group, def.plural)))
            .map(|def| ServedKind {
                kind: Kind {
                    group: def.group.to_owned(),
                    version: def.version.to_owned(),
                    kind: def.kind.to_owned(),
                },
                plural: def.plural.to_owned(),
                namespaced: def.namespaced,
                verbs: def.verbs().iter().map(|verb| (*verb).to_owned()).collect(),
            })
            .collect()
    }

    fn update_subresource(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        subresource: &str,
        object: &str,
    ) -> Result<String, ApiError> {
        let resource = self.authorize(kind, "update", namespace, Some(subresource))?;
        let object = parse(object)?;
        let updated = self
            .handle
            .block_on(
                self.client
                    .update_subresource(&resource, namespace, &object, subresource),
            )
            .map_err(convert)?;
        Ok(self.wrote(&updated))
    }

    fn get(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<String>, ApiError> {
        let resource = self.authorize(kind, "get", namespace, None)?;
        if let Some(informer) = self.cached(kind) {
            let namespace = namespace.filter(|_| informer.resource.namespaced);
            let shown = self
                .overlay
                .as_ref()
                .and_then(|overlay| overlay.get(&kind.group, &kind.kind, namespace, name));
            return Ok(shown
                .or_else(|| informer.get(namespace, name))
                .map(|cached| cached.json.to_string()));
        }
        match self
            .handle
            .block_on(self.client.get(&resource, namespace, name))
        {
            Ok(object) => Ok(Some(object.to_string())),
            Err(ServerError::NotFound { .. }) => Ok(None),
            Err(error) => Err(convert(error)),
        }
    }

    fn list(&self, kind: &Kind, options: &ListOptions) -> Result<Vec<String>, ApiError> {
        let namespace = options.namespace.as_deref();
        let resource = self.authorize(kind, "list", namespace, None)?;
        if let Some(informer) = self.cached(kind) {
            let labels =
                LabelSelector::parse(options.label_selector.as_deref().unwrap_or_default())
                    .map_err(convert)?;
            let fields = FieldSelector::parse(
                options.field_selector.as_deref().unwrap_or_default(),
                &resource,
            )
            .map_err(convert)?;
            let mut listed = informer.list(namespace, &labels, &fields);
            if let Some(overlay) = &self.overlay {
                overlay.over(&kind.group, &kind.kind, &mut listed);
            }
            return Ok(listed.iter().map(|o| o.json.to_string()).collect());
        }
        let listed = self
            .handle
            .block_on(self.client.list(
                &resource,
                namespace,
                &Selectors {
                    labels: options.label_selector.clone().unwrap_or_default(),
                    fields: options.field_selector.clone().unwrap_or_default(),
                },
            ))
            .map_err(convert)?;
        Ok(listed.items.iter().map(Value::to_string).collect())
    }

    fn create(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        object: &str,
    ) -> Result<String, ApiError> {
        let resource = self.authorize(kind, "create", namespace, None)?;
        let object = parse(object)?;
        let created = self
            .handle
            .block_on(self.client.create(&resource, namespace, &object))
            .map_err(convert)?;
        Ok(self.wrote(&created))
    }

    fn create_all(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        objects: &[String],
    ) -> Vec<Result<String, ApiError>> {
        let resource = match self.authorize(kind, "create", namespace, None) {
            Ok(resource) => resource,
            Err(error) => return objects.iter().map(|_| Err(error.clone())).collect(),
        };
        let creates = objects.iter().map(|object| {
            let resource = resource.clone();
            async move {
                let object = parse(object)?;
                self.client
                    .create(&resource, namespace, &object)
                    .await
                    .map_err(convert)
            }
        });
        let results = self
            .handle
            .block_on(futures_util::future::join_all(creates));
        results
            .into_iter()
            .map(|result| result.map(|created| self.wrote(&created)))
            .collect()
    }

    fn update(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        object: &str,
        status: bool,
    ) -> Result<String, ApiError> {
        let resource = self.authorize(kind, "update", namespace, status.then_some("status"))?;
        let object = parse(object)?;
        let updated = self
            .handle
            .block_on(self.client.update(&resource, namespace, &object, status))
            .map_err(convert)?;
        Ok(self.wrote(&updated))
    }

    fn patch(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        patch_type: PatchType,
        patch: &str,
        status: bool,
    ) -> Result<String, ApiError> {
        let resource = self.authorize(kind, "patch", namespace, status.then_some("status"))?;
        let content_type = match patch_type {
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Json => "application/json-patch+json",
            PatchType::Strategic => "application/strategic-merge-patch+json",
        };
        let patch = Patch::parse(content_type, patch.as_bytes()).map_err(convert)?;
        let patched = self
            .handle
            .block_on(
                self.client
                    .patch(&resource, namespace, name, &patch, status),
            )
            .map_err(convert)?;
        Ok(self.wrote(&patched))
    }

    fn delete(&self, kind: &Kind, namespace: Option<&str>, name: &str) -> Result<(), ApiError> {
        let resource = self.authorize(kind, "delete", namespace, None)?;
        match self
            .handle
            .block_on(self.client.delete(&resource, namespace, name))
        {
            Ok(last) => {
                self.wrote(&last);
                Ok(())
            }
            Err(error) => Err(convert(error)),
        }
    }

    fn log(&self, level: Level, message: &str) {
        wharf_plugins::log_as(&self.plugin, level, message);
    }

    fn state_get(&self, key: &str) -> Option<Vec<u8>> {
        let store = &self.client.state().objects.store;
        self.handle
            .block_on(store.get(&state_key(&self.plugin, key)))
            .ok()
            .flatten()
            .map(|kv| kv.value.to_vec())
    }

    fn state_set(&self, key: &str, value: &[u8]) {
        let store = self.client.state().objects.store.clone();
        let key = state_key(&self.plugin, key);
        let value = Bytes::copy_from_slice(value);
        let result = self.handle.block_on(async move {
            match store.get(&key).await? {
                Some(current) => store
                    .update(&key, value, current.mod_revision)
                    .await
                    .map(drop),
                None => store.create(&key, value).await.map(drop),
            }
        });
        if let Err(error) = result {
            tracing::warn!(plugin = %self.plugin, %error, "plugin state write failed");
        }
    }

    fn state_delete(&self, key: &str) {
        let store = &self.client.state().objects.store;
        let _ = self
            .handle
            .block_on(store.delete(&state_key(&self.plugin, key), None));
    }

    fn emit(&self, event: Event) {
        let regarding = &event.regarding;
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let api_version = if regarding.kind.group.is_empty() {
            regarding.kind.version.clone()
        } else {
            format!("{}/{}", regarding.kind.group, regarding.kind.version)
        };
        let now = wharf_client::now_rfc3339();
        let object = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": format!("{}.", regarding.name), "namespace": namespace},
            "involvedObject": {"kind": regarding.kind.kind, "apiVersion": api_version, "namespace": regarding.namespace, "name": regarding.name},
            "type": match event.type_ { EventType::Normal => "Normal", EventType::Warning => "Warning" },
            "reason": event.reason,
            "message": event.message,
            "source": {"component": self.plugin},
            "reportingComponent": self.plugin,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        });
        let client = self.client.clone();
        let plugin = self.plugin.clone();
        let kind = regarding.kind.clone();
        let (regarding_namespace, regarding_name) =
            (regarding.namespace.clone(), regarding.name.clone());
        let mut object = object;
        // Events are best effort and must not slow the reconcile down.
        self.handle.spawn(async move {
            let Ok(events) = client.resource("", "v1", "Event") else {
                return;
            };
            // The object's uid, which `kubectl describe` matches events by.
            if let Some(resource) =
                client
                    .registry()
                    .by_kind(&kind.group, &kind.version, &kind.kind)
                && let Ok(found) = client
                    .get(&resource, regarding_namespace.as_deref(), &regarding_name)
                    .await
            {
                object["involvedObject"]["uid"] = found["metadata"]["uid"].clone();
                object["involvedObject"]["resourceVersion"] =
                    found["metadata"]["resourceVersion"].clone();
            }
            if let Err(error) = client.create(&events, Some(&namespace), &object).await {
                tracing::debug!(%plugin, %error, "event not recorded");
            }
        });
    }
}

fn state_key(plugin: &str, key: &str) -> String {
    format!("/wharf/plugin-state/{plugin}/{key}")
}
