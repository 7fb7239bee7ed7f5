//! The untyped layer under [`Context`](crate::Context): the WIT imports as a
//! trait, so that the same controller runs over the host (on wasm32) or over
//! anything else that implements it (the `FakeCluster` of the `testing`
//! module in tests, a native build later).

use crate::error::Result;
use crate::kind::{GroupVersionKind, ObjectRef, ServedKind};

/// What a controller can do to the world: the `cluster`, `events`, `log`,
/// `clock` and `state` imports of the `controller` world. Objects are
/// Kubernetes JSON text, as on the wire.
pub trait Backend {
    /// The object as JSON, or `None` when it does not exist.
    fn get(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<String>>;
    /// The matching objects, each as JSON. `namespace: None` lists every namespace.
    fn list(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<Vec<String>>;
    /// Creates an object (`metadata.generateName` works); returns it as stored.
    fn create(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        object: &str,
    ) -> Result<String>;
    /// Creates several objects of one kind; a host may write them
    /// concurrently. One result per object, in order. By default, one
    /// after another.
    fn create_all(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        objects: &[String],
    ) -> Vec<Result<String>> {
        objects
            .iter()
            .map(|object| self.create(kind, namespace, object))
            .collect()
    }
    /// Replaces an object; its `metadata.resourceVersion` guards the write.
    fn update(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        object: &str,
    ) -> Result<String>;
    /// Replaces an object's status (the `status` subresource).
    fn update_status(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        object: &str,
    ) -> Result<String>;
    /// Patches an object (or, with `status`, its status subresource).
    fn patch(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        name: &str,
        patch_type: PatchType,
        patch: &str,
        status: bool,
    ) -> Result<String>;
    /// Deletes an object (propagation `Background`).
    fn delete(&self, kind: &GroupVersionKind, namespace: Option<&str>, name: &str) -> Result<()>;
    /// Records a Kubernetes `Event`.
    fn emit_event(&self, event: &Event);
    /// Logs into the host's `tracing`, tagged with the plugin's name.
    fn log(&self, level: LogLevel, message: &str);
    /// Milliseconds since the Unix epoch: the only clock a plugin has.
    fn now_millis(&self) -> u64;
    /// A value of the plugin's private durable key-value store.
    fn state_get(&self, key: &str) -> Option<Vec<u8>>;
    fn state_set(&self, key: &str, value: &[u8]);
    fn state_delete(&self, key: &str);
    /// Every kind the API server stores (the WIT `discovery` import, which
    /// only controllers import).
    fn served_kinds(&self) -> Result<Vec<ServedKind>> {
        Err(crate::Error::other(
            "discovery is not available to this plugin",
        ))
    }
    /// Replaces an object through `subresource` (the WIT `subresources`
    /// import, which only controllers import): a Namespace's `finalize`.
    fn update_subresource(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        subresource: &str,
        object: &str,
    ) -> Result<String> {
        let _ = (kind, namespace, object);
        Err(crate::Error::other(format!(
            "writes through {subresource} are not available to this plugin"
        )))
    }
}

/// What to list besides the namespace: Kubernetes selectors as text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListParams {
    /// A label selector (`app=web,tier in (a,b)`); see
    /// [`Selector`](crate::Selector) to build one from a `LabelSelector`.
    pub label_selector: Option<String>,
    /// A field selector (`spec.nodeName=n1`).
    pub field_selector: Option<String>,
}

impl ListParams {
    /// Only objects whose labels match `selector`.
    pub fn labels(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }

    /// Only objects whose fields match `selector`.
    pub fn fields(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into());
        self
    }
}

/// How a patch is written, as the Kubernetes Content-Type names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PatchType {
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
}

/// Whether an event is routine or a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

/// A Kubernetes `Event` about an object, as `kubectl describe` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub regarding: ObjectRef,
    pub type_: EventType,
    /// A short CamelCase reason (`SuccessfulCreate`).
    pub reason: String,
    pub message: String,
}

/// A log level of the host's `tracing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}
