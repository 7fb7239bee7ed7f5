//! The [`Controller`] trait a controller plugin implements, and what it
//! returns: a [`Registration`] once, an [`Action`] per reconcile.

use std::time::Duration;

use crate::context::Context;
use crate::error::Result;
use crate::kind::GroupVersionKind;

/// A level-triggered, idempotent controller, as in controller-runtime: the
/// host owns the watches, caches and work queue, and calls
/// [`reconcile`](Controller::reconcile) with the key of a primary object
/// whenever it (or an object it owns) changes.
///
/// Export it from a plugin crate with [`export_controller!`](crate::export_controller).
/// One instance lives as long as the component instance: it is built with
/// `Default`, then [`configure`](Controller::configure)d, then reconciles.
pub trait Controller: Default + 'static {
    /// What the controller reconciles and watches. Called once per instance
    /// with the `Plugin` object's `spec.config` (`{}` when absent).
    fn registration(config: &serde_json::Value) -> Result<Registration>;

    /// Reads the `Plugin`'s `spec.config` into the instance, after
    /// [`registration`](Controller::registration) and before any reconcile.
    /// Does nothing unless overridden.
    fn configure(&mut self, config: &serde_json::Value) -> Result<()> {
        let _ = config;
        Ok(())
    }

    /// Brings the world in line with the primary object `namespace/name`,
    /// which may no longer exist. An error is retried with backoff.
    fn reconcile(&self, ctx: &Context<'_>, namespace: Option<&str>, name: &str) -> Result<Action>;
}

/// How a reconcile ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing more to do until something changes.
    Done,
    /// Reconcile this key again after this long (millisecond precision,
    /// at most `u32::MAX` ms, about 49 days).
    RequeueAfter(Duration),
}

/// What a controller reconciles and what it watches: the WIT `registration`.
///
/// ```
/// use std::time::Duration;
/// use wharf_sdk::Registration;
/// use wharf_sdk::k8s_openapi::api::{apps::v1::ReplicaSet, core::v1::{Node, Pod}};
///
/// let registration = Registration::new::<ReplicaSet>()
///     .owns::<Pod>()
///     .reads::<Node>()
///     .resync(Duration::from_secs(600));
/// assert_eq!(registration.primary.kind, "ReplicaSet");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// Events on objects of this kind enqueue their own key.
    pub primary: GroupVersionKind,
    /// Events on objects of these kinds enqueue the key of their controlling
    /// owner (an ownerReference with `controller: true`) of the primary
    /// kind, directly or through a controlling owner of another owned kind
    /// (a Deployment owning ReplicaSets and Pods is woken by its pods).
    pub owns: Vec<GroupVersionKind>,
    /// Further kinds the controller reads; the host caches them, but their
    /// events enqueue nothing.
    pub reads: Vec<GroupVersionKind>,
    /// Every primary key is reconciled again this often (whole seconds);
    /// zero, the default, turns it off.
    pub resync: Duration,
    /// Further kinds whose events wake primary objects they are not owned
    /// by, and which ones (the WIT `watches` import, called during `init`).
    pub watches: Vec<(GroupVersionKind, Wakes)>,
}

/// Which primary objects an event on a watched kind wakes (the WIT
/// `watches.wakes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wakes {
    /// Every primary object: a Node wakes every DaemonSet.
    All,
    /// The primary object that the watched object's field at this JSON
    /// pointer names (`/spec/nodeName`: a pod wakes its Node), in the
    /// watched object's namespace when the primary kind is namespaced.
    NamedBy(String),
    /// The primary objects in the watched object's namespace whose label
    /// selector, at this JSON pointer of the primary object
    /// (`/spec/selector`), matches the watched object's labels: a pod wakes
    /// its PodDisruptionBudgets and Services. A `LabelSelector` (with
    /// `matchLabels`/`matchExpressions`; `{}` matches everything) or a plain
    /// map of labels (a Service's); an absent selector matches nothing.
    Selecting(String),
}

impl Registration {
    /// Reconciles objects of kind `K`.
    pub fn new<K: k8s_openapi::Resource>() -> Self {
        Registration::for_kind(GroupVersionKind::of::<K>())
    }

    /// Reconciles objects of `primary`, a kind that may have no Rust type.
    pub fn for_kind(primary: GroupVersionKind) -> Self {
        Registration {
            primary,
            owns: Vec::new(),
            reads: Vec::new(),
            resync: Duration::ZERO,
            watches: Vec::new(),
        }
    }

    /// Events on `K` objects enqueue their controlling owner's key.
    pub fn owns<K: k8s_openapi::Resource>(mut self) -> Self {
        self.owns.push(GroupVersionKind::of::<K>());
        self
    }

    /// The controller reads `K` objects (cached by the host; their events enqueue nothing).
    pub fn reads<K: k8s_openapi::Resource>(mut self) -> Self {
        self.reads.push(GroupVersionKind::of::<K>());
        self
    }

    /// Events on `K` objects wake the primary objects `wakes` picks
    /// (beyond `owns`: objects the primary kind does not own).
    pub fn watches<K: k8s_openapi::Resource>(mut self, wakes: Wakes) -> Self {
        self.watches.push((GroupVersionKind::of::<K>(), wakes));
        self
    }

    /// Reconciles every primary key again this often.
    pub fn resync(mut self, every: Duration) -> Self {
        self.resync = every;
        self
    }
}

/// `resyncSeconds` from a controller's `spec.config`: `None` when absent; a
/// value that is not a whole number of seconds, at least 1, is
/// [`Error::Invalid`](crate::Error::Invalid).
pub fn resync_from_config(config: &serde_json::Value) -> Result<Option<Duration>> {
    let Some(value) = config.get("resyncSeconds") else {
        return Ok(None);
    };
    let seconds = value
        .as_u64()
        .filter(|seconds| *seconds >= 1)
        .ok_or_else(|| {
            crate::Error::Invalid(format!(
                "resyncSeconds must be a whole number of seconds, at least 1, not {value}"
            ))
        })?;
    Ok(Some(Duration::from_secs(seconds)))
}
