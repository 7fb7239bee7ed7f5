//! [`Context`]: the typed view of the cluster that a reconcile gets.

use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{Backend, Event, EventType, ListParams, LogLevel, PatchType};
use crate::error::{Error, Result};
use crate::kind::{GroupVersionKind, ObjectRef, ServedKind};

/// What a reconcile can do, typed with k8s-openapi: cluster reads and
/// writes, events, logs, the clock and the plugin's private state.
///
/// It wraps a [`Backend`]: the host's imports in a component, a
/// [`FakeCluster`](crate::testing::FakeCluster) in unit tests.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    backend: &'a dyn Backend,
}

/// A patch body, by the Content-Type it is sent with.
#[derive(Clone, Debug, PartialEq)]
pub enum Patch {
    /// A JSON merge patch (RFC 7386): objects merge, `null` deletes, lists are replaced.
    Merge(serde_json::Value),
    /// A strategic merge patch: lists with a merge key (containers by
    /// `name`, ownerReferences by `uid`…) merge element by element.
    Strategic(serde_json::Value),
    /// A JSON patch (RFC 6902): an array of operations.
    Json(serde_json::Value),
}

impl Patch {
    pub fn patch_type(&self) -> PatchType {
        match self {
            Patch::Merge(_) => PatchType::Merge,
            Patch::Strategic(_) => PatchType::Strategic,
            Patch::Json(_) => PatchType::Json,
        }
    }

    pub fn body(&self) -> &serde_json::Value {
        match self {
            Patch::Merge(body) | Patch::Strategic(body) | Patch::Json(body) => body,
        }
    }
}

impl<'a> Context<'a> {
    pub fn new(backend: &'a dyn Backend) -> Self {
        Context { backend }
    }

    /// The untyped layer, for kinds without a Rust type.
    pub fn backend(&self) -> &'a dyn Backend {
        self.backend
    }

    /// The object, or `None` when it does not exist.
    pub fn get<K>(&self, namespace: Option<&str>, name: &str) -> Result<Option<K>>
    where
        K: k8s_openapi::Resource + DeserializeOwned,
    {
        match self
            .backend
            .get(&GroupVersionKind::of::<K>(), namespace, name)?
        {
            Some(json) => Ok(Some(serde_json::from_str(&json)?)),
            None => Ok(None),
        }
    }

    /// The objects of kind `K` in `namespace` (every namespace with `None`)
    /// that match `params`.
    pub fn list<K>(&self, namespace: Option<&str>, params: &ListParams) -> Result<Vec<K>>
    where
        K: k8s_openapi::Resource + DeserializeOwned,
    {
        self.backend
            .list(&GroupVersionKind::of::<K>(), namespace, params)?
            .iter()
            .map(|json| serde_json::from_str(json).map_err(Error::from))
            .collect()
    }

    /// Creates `object` in `namespace`; returns it as stored (name, uid,
    /// resourceVersion filled in).
    pub fn create<K>(&self, namespace: Option<&str>, object: &K) -> Result<K>
    where
        K: k8s_openapi::Resource + Serialize + DeserializeOwned,
    {
        let json = serde_json::to_string(object)?;
        let stored = self
            .backend
            .create(&GroupVersionKind::of::<K>(), namespace, &json)?;
        Ok(serde_json::from_str(&stored)?)
    }

    /// Creates several objects at once: the host may write them
    /// concurrently, so a batch costs about one write. One result per
    /// object, in order.
    pub fn create_all<K>(&self, namespace: Option<&str>, objects: &[K]) -> Vec<Result<K>>
    where
        K: k8s_openapi::Resource + Serialize + DeserializeOwned,
    {
        let mut encoded = Vec::with_capacity(objects.len());
        for object in objects {
            match serde_json::to_string(object) {
                Ok(json) => encoded.push(json),
                Err(error) => return objects.iter().map(|_| Err(Error::other(&error))).collect(),
            }
        }
        self.backend
            .create_all(&GroupVersionKind::of::<K>(), namespace, &encoded)
            .into_iter()
            .map(|stored| Ok(serde_json::from_str(&stored?)?))
            .collect()
    }

    /// Replaces `object` (in the namespace its metadata names); its
    /// `resourceVersion` guards the write. The status is not changed.
    pub fn update<K>(&self, object: &K) -> Result<K>
    where
        K: k8s_openapi::Resource + Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned,
    {
        let json = serde_json::to_string(object)?;
        let namespace = object.metadata().namespace.as_deref();
        let stored = self
            .backend
            .update(&GroupVersionKind::of::<K>(), namespace, &json)?;
        Ok(serde_json::from_str(&stored)?)
    }

    /// Replaces `object`'s status (the `status` subresource); nothing else changes.
    pub fn update_status<K>(&self, object: &K) -> Result<K>
    where
        K: k8s_openapi::Resource + Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned,
    {
        let json = serde_json::to_string(object)?;
        let namespace = object.metadata().namespace.as_deref();
        let stored = self
            .backend
            .update_status(&GroupVersionKind::of::<K>(), namespace, &json)?;
        Ok(serde_json::from_str(&stored)?)
    }

    /// Patches the object (or, with `status`, its status subresource);
    /// returns it as stored.
    pub fn patch<K>(
        &self,
        namespace: Option<&str>,
        name: &str,
        patch: &Patch,
        status: bool,
    ) -> Result<K>
    where
        K: k8s_openapi::Resource + DeserializeOwned,
    {
        let body = serde_json::to_string(patch.body())?;
        let stored = self.backend.patch(
            &GroupVersionKind::of::<K>(),
            namespace,
            name,
            patch.patch_type(),
            &body,
            status,
        )?;
        Ok(serde_json::from_str(&stored)?)
    }

    /// Replaces `object` through `subresource` (a Namespace's `finalize`);
    /// returns it as stored.
    pub fn update_subresource<K>(&self, object: &K, subresource: &str) -> Result<K>
    where
        K: k8s_openapi::Resource + Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned,
    {
        let json = serde_json::to_string(object)?;
        let namespace = object.metadata().namespace.as_deref();
        let stored = self.backend.update_subresource(
            &GroupVersionKind::of::<K>(),
            namespace,
            subresource,
            &json,
        )?;
        Ok(serde_json::from_str(&stored)?)
    }

    /// Every kind the API server stores, built-in and custom, each once.
    pub fn served_kinds(&self) -> Result<Vec<ServedKind>> {
        self.backend.served_kinds()
    }

    /// Deletes the object (propagation `Background`).
    pub fn delete<K>(&self, namespace: Option<&str>, name: &str) -> Result<()>
    where
        K: k8s_openapi::Resource,
    {
        self.backend
            .delete(&GroupVersionKind::of::<K>(), namespace, name)
    }

    /// Records an `Event` about `regarding`.
    pub fn event<K>(
        &self,
        regarding: &K,
        type_: EventType,
        reason: &str,
        message: impl Into<String>,
    ) where
        K: k8s_openapi::Resource + Metadata<Ty = ObjectMeta>,
    {
        self.backend.emit_event(&Event {
            regarding: ObjectRef::of(regarding),
            type_,
            reason: reason.to_owned(),
            message: message.into(),
        });
    }

    /// Now, as a Kubernetes `Time` (for conditions and comparisons with timestamps).
    pub fn now(&self) -> Time {
        time_from_millis(self.backend.now_millis())
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now_millis(&self) -> u64 {
        self.backend.now_millis()
    }

    pub fn log(&self, level: LogLevel, message: impl AsRef<str>) {
        self.backend.log(level, message.as_ref());
    }

    pub fn trace(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Trace, message);
    }

    pub fn debug(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Debug, message);
    }

    pub fn info(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Info, message);
    }

    pub fn warn(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Warn, message);
    }

    pub fn error(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Error, message);
    }

    /// A value of the plugin's private durable store.
    pub fn state_get(&self, key: &str) -> Option<Vec<u8>> {
        self.backend.state_get(key)
    }

    pub fn state_set(&self, key: &str, value: impl AsRef<[u8]>) {
        self.backend.state_set(key, value.as_ref());
    }

    pub fn state_delete(&self, key: &str) {
        self.backend.state_delete(key);
    }
}

/// A `Time` from milliseconds since the Unix epoch (the epoch itself when out of range).
pub fn time_from_millis(millis: u64) -> Time {
    let millis = i64::try_from(millis).unwrap_or(i64::MAX);
    Time(
        k8s_openapi::jiff::Timestamp::from_millisecond(millis)
            .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    )
}
