//! [`FakeCluster`]: an in-memory cluster for unit-testing controllers in
//! milliseconds, with no host (native targets only).
//!
//! It implements [`Backend`] with the API server's semantics that
//! controllers depend on:
//!
//! - server-managed metadata: `uid`, `creationTimestamp`, `generation`
//!   (bumped when anything outside `metadata` and `status` changes) and a
//!   `resourceVersion` from one global revision counter;
//! - `generateName` (a deterministic five-character suffix);
//! - optimistic concurrency: an update, status update or patch carrying a
//!   stale `resourceVersion` (or another `uid`) is a [`Error::Conflict`];
//!   one without a `resourceVersion` is unconditional;
//! - the status subresource for every kind: create drops `status`, update
//!   keeps the stored status, status update and status patch change only
//!   `status`;
//! - no-op writes keep the `resourceVersion`, as the API server does;
//! - finalizers: delete of an object with finalizers only sets
//!   `deletionTimestamp`, and the object goes once an update empties them.
//!   Without finalizers an object goes at once (no graceful pod deletion);
//! - label selectors (the full syntax) and field selectors (`=`, `==`, `!=`
//!   over any dotted path, such as `metadata.name` or `spec.nodeName`);
//! - patches: JSON merge and JSON patch exactly; **strategic merge is
//!   approximated by a JSON merge patch**: lists are replaced whole (no merge
//!   keys) and `$` directives are dropped but `$deleteFromPrimitiveList`;
//! - events, logs and the private state store are recorded for assertions,
//!   and every call is recorded in order ([`FakeCluster::calls`]).
//!
//! Tests can also inject failures ([`FakeCluster::fail_when`]), move the clock
//! ([`FakeCluster::advance`]) and make reads stale, as an informer cache that
//! lags behind the writes ([`FakeCluster::freeze_cache`]).
//!
//! Not modelled: namespaces as objects, admission, validation beyond names
//! and kinds, defaulting, watches, garbage collection by ownerReferences.

mod fields;
mod patch;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::backend::{Backend, Event, ListParams, LogLevel, PatchType};
use crate::context::{Context, time_from_millis};
use crate::controller::{Action, Controller};
use crate::error::{Error, Result};
use crate::kind::{GroupVersionKind, ServedKind};
use crate::selector::Selector;
use fields::FieldSelector;

/// 2026-01-01T00:00:00Z, where every fake cluster's clock starts.
pub const START_MILLIS: u64 = 1_767_225_600_000;

/// An in-memory cluster implementing [`Backend`]; see the [module docs](self).
///
/// ```
/// use wharf_sdk::testing::FakeCluster;
/// use wharf_sdk::k8s_openapi::api::core::v1::ConfigMap;
/// use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
///
/// let fake = FakeCluster::new();
/// let stored = fake.add(ConfigMap {
///     metadata: ObjectMeta { name: Some("a".into()), namespace: Some("ns".into()), ..Default::default() },
///     ..Default::default()
/// });
/// assert!(stored.metadata.uid.is_some());
/// let ctx = fake.context();
/// let mut stale = stored.clone();
/// let mut fresh = ctx.update(&stored).unwrap();          // a no-op: same resourceVersion
/// fresh.data = Some([("k".to_owned(), "v".to_owned())].into());
/// fresh = ctx.update(&fresh).unwrap();                   // a real change: new resourceVersion
/// stale.data = Some(Default::default());
/// assert!(ctx.update(&stale).unwrap_err().is_conflict());
/// assert_ne!(fresh.metadata.resource_version, stored.metadata.resource_version);
/// ```
pub struct FakeCluster {
    state: RefCell<State>,
    failures: RefCell<Vec<FailureHook>>,
}

type FailureHook = Box<dyn FnMut(&Request<'_>) -> Option<Error>>;

/// Objects by kind, namespace and name (so lists come out sorted by namespace, then name).
type Key = (GroupVersionKind, Option<String>, String);

#[derive(Default)]
struct State {
    objects: BTreeMap<Key, Value>,
    /// While frozen, what reads see.
    snapshot: Option<BTreeMap<Key, Value>>,
    revision: u64,
    uids: u64,
    generated_names: u64,
    now_millis: u64,
    calls: Vec<Call>,
    events: Vec<Event>,
    logs: Vec<(LogLevel, String)>,
    store: BTreeMap<String, Vec<u8>>,
    /// What `served_kinds` answers.
    served: Vec<ServedKind>,
}

/// A cluster call, by its verb.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    List,
    Create,
    Update,
    UpdateStatus,
    /// An update through another subresource (a Namespace's `finalize`).
    UpdateSubresource,
    Patch,
    Delete,
}

impl Verb {
    /// Whether the verb writes (everything but get and list).
    pub fn is_write(self) -> bool {
        !matches!(self, Verb::Get | Verb::List)
    }
}

/// A call about to be made, as a [`FakeCluster::fail_when`] hook sees it.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub verb: Verb,
    pub kind: &'a GroupVersionKind,
    pub namespace: Option<&'a str>,
    /// The object's name; `None` for lists, and for creates by `generateName`.
    pub name: Option<&'a str>,
}

/// A call that was made, as [`FakeCluster::calls`] records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub verb: Verb,
    pub kind: GroupVersionKind,
    pub namespace: Option<String>,
    /// The object's name (the generated one for a successful create by
    /// `generateName`); `None` for lists.
    pub name: Option<String>,
    /// The error's text when the call failed.
    pub error: Option<String>,
}

impl Call {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

impl Default for FakeCluster {
    fn default() -> Self {
        FakeCluster::new()
    }
}

impl FakeCluster {
    /// An empty cluster whose clock reads [`START_MILLIS`].
    pub fn new() -> Self {
        FakeCluster {
            state: RefCell::new(State {
                now_millis: START_MILLIS,
                ..State::default()
            }),
            failures: RefCell::new(Vec::new()),
        }
    }

    /// A [`Context`] over this cluster, to call typed helpers from a test.
    pub fn context(&self) -> Context<'_> {
        Context::new(self)
    }

    /// Reconciles `key` (`namespace/name`, or `name` for cluster-scoped
    /// kinds) with a fresh `C`, built as the host builds it: registration
    /// and configuration with the config `{}`.
    pub fn run<C: Controller>(&self, key: &str) -> Result<Action> {
        let (_, reconcile) = crate::runtime::instantiate::<C>("{}")?;
        let (namespace, name) = split_key(key);
        reconcile(&self.context(), namespace, name)
    }

    /// Reconciles `key` with an existing controller instance (whose state
    /// lives on between runs, as in a component instance).
    pub fn run_with<C: Controller>(&self, controller: &C, key: &str) -> Result<Action> {
        let (namespace, name) = split_key(key);
        controller.reconcile(&self.context(), namespace, name)
    }

    // --- Arranging ---

    /// Makes `served_kinds` list `kind` (as discovery would).
    pub fn serve(&self, kind: ServedKind) {
        self.state.borrow_mut().served.push(kind);
    }

    /// Stores `object` as it is (status, deletionTimestamp and all), filling
    /// in the server-managed metadata it lacks (`uid`, `creationTimestamp`,
    /// `generation`) and a new `resourceVersion`; returns it as stored.
    /// Replaces an object of the same name. Records no call.
    ///
    /// # Panics
    /// When the object has no name or does not serialize.
    pub fn add<K>(&self, object: K) -> K
    where
        K: k8s_openapi::Resource + Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned,
    {
        let kind = GroupVersionKind::of::<K>();
        let mut value = serde_json::to_value(&object).expect("the object serializes");
        let name = object
            .metadata()
            .name
            .clone()
            .expect("an object added to a FakeCluster needs a name");
        let namespace = object.metadata().namespace.clone();
        let mut state = self.state.borrow_mut();
        set_type(&mut value, &kind);
        let now = state.timestamp();
        let uid = state.next_uid();
        let revision = state.next_revision();
        let metadata = metadata_mut(&mut value);
        metadata.entry("uid").or_insert(uid.into());
        metadata.entry("creationTimestamp").or_insert(now);
        metadata.entry("generation").or_insert(1.into());
        metadata.insert("resourceVersion".to_owned(), revision.into());
        state.objects.insert((kind, namespace, name), value.clone());
        serde_json::from_value(value).expect("the stored object deserializes")
    }

    /// Changes a stored object in place, anything in it (status, metadata),
    /// with a new `resourceVersion`; returns it as stored. Records no call.
    ///
    /// # Panics
    /// When there is no such object.
    pub fn modify<K>(&self, namespace: Option<&str>, name: &str, change: impl FnOnce(&mut K)) -> K
    where
        K: k8s_openapi::Resource + Serialize + DeserializeOwned,
    {
        let key = key::<K>(namespace, name);
        let mut state = self.state.borrow_mut();
        let stored = state
            .objects
            .get(&key)
            .unwrap_or_else(|| panic!("no {} {namespace:?}/{name} to modify", K::KIND));
        let mut object: K =
            serde_json::from_value(stored.clone()).expect("the stored object deserializes");
        change(&mut object);
        let mut value = serde_json::to_value(&object).expect("the object serializes");
        let revision = state.next_revision();
        metadata_mut(&mut value).insert("resourceVersion".to_owned(), revision.into());
        state.objects.insert(key, value.clone());
        serde_json::from_value(value).expect("the stored object deserializes")
    }

    /// Removes an object outright (no finalizers, no call recorded).
    pub fn remove<K: k8s_openapi::Resource>(&self, namespace: Option<&str>, name: &str) -> bool {
        self.state
            .borrow_mut()
            .objects
            .remove(&key::<K>(namespace, name))
            .is_some()
    }

    /// Makes every later call for which `hook` returns an error fail with
    /// it, before it changes anything. Hooks run in the order they were added.
    ///
    /// ```
    /// # use wharf_sdk::testing::{FakeCluster, Verb};
    /// # use wharf_sdk::Error;
    /// let fake = FakeCluster::new();
    /// let mut creates = 0;
    /// fake.fail_when(move |request| {
    ///     if request.verb != Verb::Create || request.kind.kind != "Pod" {
    ///         return None;
    ///     }
    ///     creates += 1;
    ///     (creates > 3).then(|| Error::Forbidden("exceeded quota".into()))
    /// });
    /// ```
    pub fn fail_when(&self, hook: impl FnMut(&Request<'_>) -> Option<Error> + 'static) {
        self.failures.borrow_mut().push(Box::new(hook));
    }

    /// Removes every failure hook.
    pub fn clear_failures(&self) {
        self.failures.borrow_mut().clear();
    }

    /// From now on, `get` and `list` answer from a snapshot of this moment,
    /// as a host's informer cache that has not seen the later writes yet.
    /// Writes still go to (and are checked against) the store.
    pub fn freeze_cache(&self) {
        let mut state = self.state.borrow_mut();
        state.snapshot = Some(state.objects.clone());
    }

    /// Lets reads see the store again (the cache caught up).
    pub fn thaw_cache(&self) {
        self.state.borrow_mut().snapshot = None;
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        let mut state = self.state.borrow_mut();
        state.now_millis = state.now_millis.saturating_add(by);
    }

    /// Sets the clock (milliseconds since the Unix epoch).
    pub fn set_now_millis(&self, millis: u64) {
        self.state.borrow_mut().now_millis = millis;
    }

    // --- Asserting ---

    /// The stored object, as it is now (never from a frozen cache).
    pub fn get<K>(&self, namespace: Option<&str>, name: &str) -> Option<K>
    where
        K: k8s_openapi::Resource + DeserializeOwned,
    {
        let state = self.state.borrow();
        let value = state.objects.get(&key::<K>(namespace, name))?;
        Some(serde_json::from_value(value.clone()).expect("the stored object deserializes"))
    }

    /// The stored objects of kind `K` in `namespace` (all with `None`),
    /// sorted by namespace and name.
    pub fn list<K>(&self, namespace: Option<&str>) -> Vec<K>
    where
        K: k8s_openapi::Resource + DeserializeOwned,
    {
        let kind = GroupVersionKind::of::<K>();
        let state = self.state.borrow();
        state
            .objects
            .iter()
            .filter(|((k, ns, _), _)| {
                *k == kind && (namespace.is_none() || ns.as_deref() == namespace)
            })
            .map(|(_, value)| {
                serde_json::from_value(value.clone()).expect("the stored object deserializes")
            })
            .collect()
    }

    /// Every call made so far, in order, failed ones included.
    pub fn calls(&self) -> Vec<Call> {
        self.state.borrow().calls.clone()
    }

    /// The successful writes (create, update, update_status, patch, delete) so far.
    pub fn writes(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|call| call.verb.is_write() && call.succeeded())
            .collect()
    }

    /// Forgets the recorded calls, events and logs (to look at one reconcile alone).
    pub fn clear_calls(&self) {
        let mut state = self.state.borrow_mut();
        state.calls.clear();
        state.events.clear();
        state.logs.clear();
    }

    /// The events emitted so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.state.borrow().events.clone()
    }

    /// The events emitted so far, forgetting them.
    pub fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut self.state.borrow_mut().events)
    }

    /// The log lines so far, in order.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.state.borrow().logs.clone()
    }

    /// The global revision: the `resourceVersion` of the latest write.
    /// Unchanged across a reconcile means it changed nothing.
    pub fn revision(&self) -> u64 {
        self.state.borrow().revision
    }

    /// The clock, in milliseconds since the Unix epoch.
    pub fn now_millis(&self) -> u64 {
        self.state.borrow().now_millis
    }

    // --- The calls ---

    /// Runs the failure hooks, then `operation`, and records the call.
    /// `operation` returns the name to record (for generated names).
    fn call<T>(
        &self,
        request: Request<'_>,
        operation: impl FnOnce(&mut State) -> Result<(T, Option<String>)>,
    ) -> Result<T> {
        let injected = self
            .failures
            .borrow_mut()
            .iter_mut()
            .find_map(|hook| hook(&request));
        let outcome = match injected {
            Some(error) => Err(error),
            None => operation(&mut self.state.borrow_mut()),
        };
        let (name, error) = match &outcome {
            Ok((_, name)) => (name.clone(), None),
            Err(error) => (request.name.map(str::to_owned), Some(error.to_string())),
        };
        self.state.borrow_mut().calls.push(Call {
            verb: request.verb,
            kind: request.kind.clone(),
            namespace: request.namespace.map(str::to_owned),
            name,
            error,
        });
        outcome.map(|(value, _)| value)
    }
}

impl Backend for FakeCluster {
    fn served_kinds(&self) -> Result<Vec<ServedKind>> {
        Ok(self.state.borrow().served.clone())
    }

    /// `finalize` replaces a Namespace's `spec.finalizers` (and deletes a
    /// terminating one left with none, as the API server does); `status`
    /// is [`update_status`](Backend::update_status); others are refused.
    fn update_subresource(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        subresource: &str,
        object: &str,
    ) -> Result<String> {
        match subresource {
            "status" => self.replace(Verb::UpdateStatus, kind, namespace, object),
            "finalize" if kind.kind == "Namespace" => self.finalize(kind, object),
            _ => Err(Error::NotFound(format!(
                "{} has no {subresource} subresource",
                kind.kind
            ))),
        }
    }

    fn get(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<String>> {
        let request = Request {
            verb: Verb::Get,
            kind,
            namespace,
            name: Some(name),
        };
        self.call(request, |state| {
            let key = (kind.clone(), namespace.map(str::to_owned), name.to_owned());
            let found = state.readable().get(&key).map(Value::to_string);
            Ok((found, Some(name.to_owned())))
        })
    }

    fn list(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<Vec<String>> {
        let request = Request {
            verb: Verb::List,
            kind,
            namespace,
            name: None,
        };
        self.call(request, |state| {
            let labels = Selector::parse(params.label_selector.as_deref().unwrap_or(""))?;
            let fields = FieldSelector::parse(params.field_selector.as_deref().unwrap_or(""))?;
            let items = state
                .readable()
                .iter()
                .filter(|((k, ns, _), _)| {
                    k == kind && (namespace.is_none() || ns.as_deref() == namespace)
                })
                .filter(|(_, object)| labels.matches(&labels_of(object)) && fields.matches(object))
                .map(|(_, object)| object.to_string())
                .collect();
            Ok((items, None))
        })
    }

    fn create(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        object: &str,
    ) -> Result<String> {
        let mut object = parse_object(kind, object)?;
        let name = object["metadata"]["name"]
            .as_str()
            .filter(|name| !name.is_empty())
            .map(str::to_owned);
        let request = Request {
            verb: Verb::Create,
            kind,
            namespace,
            name: name.as_deref(),
        };
        self.call(request, |state| {
            check_namespace(&object, namespace)?;
            let name = match &name {
                Some(name) => name.clone(),
                None => {
                    let prefix = object["metadata"]["generateName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    if prefix.is_empty() {
                        return Err(Error::Invalid(
                            "name or generateName is required".to_owned(),
                        ));
                    }
                    state.generate_name(kind, namespace, &prefix)
                }
            };
            let key = (kind.clone(), namespace.map(str::to_owned), name.clone());
            if state.objects.contains_key(&key) {
                return Err(Error::AlreadyExists(format!(
                    "{} {:?} already exists",
                    kind.kind, name
                )));
            }
            if let Value::Object(map) = &mut object {
                map.remove("status");
            }
            let now = state.timestamp();
            let uid = state.next_uid();
            let revision = state.next_revision();
            let metadata = metadata_mut(&mut object);
            metadata.insert("name".to_owned(), name.clone().into());
            if let Some(namespace) = namespace {
                metadata.insert("namespace".to_owned(), namespace.into());
            }
            metadata.insert("uid".to_owned(), uid.into());
            metadata.insert("creationTimestamp".to_owned(), now);
            metadata.insert("generation".to_owned(), 1.into());
            metadata.insert("resourceVersion".to_owned(), revision.into());
            for field in ["deletionTimestamp", "deletionGracePeriodSeconds"] {
                metadata.remove(field);
            }
            state.objects.insert(key, object.clone());
            Ok((object.to_string(), Some(name)))
        })
    }

    fn update(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        object: &str,
    ) -> Result<String> {
        self.replace(Verb::Update, kind, namespace, object)
    }

    fn update_status(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        object: &str,
    ) -> Result<String> {
        self.replace(Verb::UpdateStatus, kind, namespace, object)
    }

    fn patch(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        name: &str,
        patch_type: PatchType,
        patch: &str,
        status: bool,
    ) -> Result<String> {
        let request = Request {
            verb: Verb::Patch,
            kind,
            namespace,
            name: Some(name),
        };
        self.call(request, |state| {
            let patch: Value = serde_json::from_str(patch)
                .map_err(|e| Error::Invalid(format!("the patch is not JSON: {e}")))?;
            let key = (kind.clone(), namespace.map(str::to_owned), name.to_owned());
            let existing = state
                .objects
                .get(&key)
                .cloned()
                .ok_or_else(|| not_found(kind, name))?;
            let mut patched = existing.clone();
            match patch_type {
                PatchType::Merge => patch::merge(&mut patched, &patch, false),
                PatchType::Strategic => patch::merge(&mut patched, &patch, true),
                PatchType::Json => patch::json_patch(&mut patched, &patch)?,
            }
            // A resourceVersion in the patch is a precondition; without one the patch applies to the latest.
            if patched["metadata"]["resourceVersion"] != existing["metadata"]["resourceVersion"] {
                return Err(conflict(kind, name));
            }
            patched["metadata"]["name"] = name.into();
            let stored = state.store_update(key, existing, patched, status)?;
            Ok((stored.to_string(), Some(name.to_owned())))
        })
    }

    fn delete(&self, kind: &GroupVersionKind, namespace: Option<&str>, name: &str) -> Result<()> {
        let request = Request {
            verb: Verb::Delete,
            kind,
            namespace,
            name: Some(name),
        };
        self.call(request, |state| {
            let key = (kind.clone(), namespace.map(str::to_owned), name.to_owned());
            let existing = state
                .objects
                .get(&key)
                .cloned()
                .ok_or_else(|| not_found(kind, name))?;
            let has_finalizers = existing["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| !f.is_empty());
            if !has_finalizers {
                state.objects.remove(&key);
                state.next_revision();
            } else if existing["metadata"]["deletionTimestamp"].is_null() {
                let mut terminating = existing;
                let now = state.timestamp();
                let revision = state.next_revision();
                let metadata = metadata_mut(&mut terminating);
                metadata.insert("deletionTimestamp".to_owned(), now);
                metadata.insert("deletionGracePeriodSeconds".to_owned(), 0.into());
                metadata.insert("resourceVersion".to_owned(), revision.into());
                state.objects.insert(key, terminating);
            }
            Ok(((), Some(name.to_owned())))
        })
    }

    fn emit_event(&self, event: &Event) {
        self.state.borrow_mut().events.push(event.clone());
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.state
            .borrow_mut()
            .logs
            .push((level, message.to_owned()));
    }

    fn now_millis(&self) -> u64 {
        self.state.borrow().now_millis
    }

    fn state_get(&self, key: &str) -> Option<Vec<u8>> {
        self.state.borrow().store.get(key).cloned()
    }

    fn state_set(&self, key: &str, value: &[u8]) {
        self.state
            .borrow_mut()
            .store
            .insert(key.to_owned(), value.to_vec());
    }

    fn state_delete(&self, key: &str) {
        self.state.borrow_mut().store.remove(key);
    }
}

impl FakeCluster {
    /// Update and status update: both replace, from the object's own name.
    fn finalize(&self, kind: &GroupVersionKind, object: &str) -> Result<String> {
        let incoming = parse_object(kind, object)?;
        let name = incoming["metadata"]["name"].as_str().map(str::to_owned);
        let request = Request {
            verb: Verb::UpdateSubresource,
            kind,
            namespace: None,
            name: name.as_deref(),
        };
        self.call(request, |state| {
            let name = name
                .clone()
                .ok_or_else(|| Error::Invalid("metadata.name is required".to_owned()))?;
            let key = (kind.clone(), None, name.clone());
            let mut stored = state
                .objects
                .get(&key)
                .cloned()
                .ok_or_else(|| not_found(kind, &name))?;
            let version = &incoming["metadata"]["resourceVersion"];
            if !version.is_null() && *version != stored["metadata"]["resourceVersion"] {
                return Err(conflict(kind, &name));
            }
            let finalizers = incoming
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or_else(|| Value::Array(Vec::new()));
            stored["spec"]["finalizers"] = finalizers;
            let revision = state.next_revision();
            metadata_mut(&mut stored).insert("resourceVersion".to_owned(), revision.into());
            let empty = |pointer: &str| {
                stored
                    .pointer(pointer)
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
            };
            let done = !stored["metadata"]["deletionTimestamp"].is_null()
                && empty("/spec/finalizers")
                && empty("/metadata/finalizers");
            if done {
                state.objects.remove(&key);
            } else {
                state.objects.insert(key, stored.clone());
            }
            Ok((stored.to_string(), Some(name)))
        })
    }

    fn replace(
        &self,
        verb: Verb,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        object: &str,
    ) -> Result<String> {
        let incoming = parse_object(kind, object)?;
        let name = incoming["metadata"]["name"].as_str().map(str::to_owned);
        let request = Request {
            verb,
            kind,
            namespace,
            name: name.as_deref(),
        };
        self.call(request, |state| {
            let name = name
                .clone()
                .ok_or_else(|| Error::Invalid("metadata.name is required".to_owned()))?;
            check_namespace(&incoming, namespace)?;
            let key = (kind.clone(), namespace.map(str::to_owned), name.clone());
            let existing = state
                .objects
                .get(&key)
                .cloned()
                .ok_or_else(|| not_found(kind, &name))?;
            let version = &incoming["metadata"]["resourceVersion"];
            if !version.is_null() && *version != existing["metadata"]["resourceVersion"] {
                return Err(conflict(kind, &name));
            }
            let uid = &incoming["metadata"]["uid"];
            if !uid.is_null() && *uid != existing["metadata"]["uid"] {
                return Err(Error::Conflict(format!(
                    "{} {name:?}: the uid in the request is {uid}, the stored object's is {}",
                    kind.kind, existing["metadata"]["uid"]
                )));
            }
            let stored = state.store_update(key, existing, incoming, verb == Verb::UpdateStatus)?;
            Ok((stored.to_string(), Some(name)))
        })
    }
}

impl State {
    fn readable(&self) -> &BTreeMap<Key, Value> {
        self.snapshot.as_ref().unwrap_or(&self.objects)
    }

    fn next_revision(&mut self) -> String {
        self.revision += 1;
        self.revision.to_string()
    }

    fn next_uid(&mut self) -> String {
        self.uids += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.uids)
    }

    fn timestamp(&self) -> Value {
        serde_json::to_value(time_from_millis(self.now_millis)).expect("a Time serializes")
    }

    /// `prefix` and five characters from the API server's alphabet, the same
    /// sequence in every run.
    fn generate_name(
        &mut self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        prefix: &str,
    ) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        loop {
            self.generated_names += 1;
            // Multiplying by a number prime to 27 permutes 0..27^5, so names don't repeat.
            let mut n = (self.generated_names * 1_000_003) % 27u64.pow(5);
            let suffix: String = (0..5)
                .map(|_| {
                    let c = ALPHABET[(n % 27) as usize] as char;
                    n /= 27;
                    c
                })
                .collect();
            let name = format!("{}{suffix}", truncate(prefix, 58));
            if !self.objects.contains_key(&(
                kind.clone(),
                namespace.map(str::to_owned),
                name.clone(),
            )) {
                return name;
            }
        }
    }

    /// Stores `incoming` over `existing` with update semantics (or, with
    /// `status_only`, status update semantics); returns what is stored.
    fn store_update(
        &mut self,
        key: Key,
        existing: Value,
        incoming: Value,
        status_only: bool,
    ) -> Result<Value> {
        let mut updated = if status_only {
            let mut updated = existing.clone();
            set_or_remove(&mut updated, "status", incoming.get("status"));
            updated
        } else {
            let mut updated = incoming;
            set_or_remove(&mut updated, "status", existing.get("status"));
            let stored_metadata = &existing["metadata"];
            let metadata = metadata_mut(&mut updated);
            for field in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match stored_metadata.get(field) {
                    Some(value) => metadata.insert(field.to_owned(), value.clone()),
                    None => metadata.remove(field),
                };
            }
            if without(&updated, &["metadata", "status"])
                != without(&existing, &["metadata", "status"])
            {
                let generation = existing["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
                metadata_mut(&mut updated).insert("generation".to_owned(), generation.into());
            }
            updated
        };
        set_type(&mut updated, &key.0);
        metadata_mut(&mut updated).insert(
            "resourceVersion".to_owned(),
            existing["metadata"]["resourceVersion"].clone(),
        );
        if updated == existing {
            return Ok(existing);
        }
        let revision = self.next_revision();
        metadata_mut(&mut updated).insert("resourceVersion".to_owned(), revision.into());
        let terminating = !updated["metadata"]["deletionTimestamp"].is_null();
        // A Namespace is also held by its spec.finalizers (`namespaces/finalize`).
        let finalized = ["/metadata/finalizers", "/spec/finalizers"]
            .iter()
            .filter(|pointer| **pointer == "/metadata/finalizers" || key.0.kind == "Namespace")
            .all(|pointer| {
                updated
                    .pointer(pointer)
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
            });
        if terminating && finalized {
            self.objects.remove(&key);
        } else {
            self.objects.insert(key, updated.clone());
        }
        Ok(updated)
    }
}

fn split_key(key: &str) -> (Option<&str>, &str) {
    match key.split_once('/') {
        Some((namespace, name)) => (Some(namespace), name),
        None => (None, key),
    }
}

fn key<K: k8s_openapi::Resource>(namespace: Option<&str>, name: &str) -> Key {
    (
        GroupVersionKind::of::<K>(),
        namespace.map(str::to_owned),
        name.to_owned(),
    )
}

/// Parses an object sent to the cluster: a JSON object whose `apiVersion`
/// and `kind`, when present, are those of the call (both are set when absent).
fn parse_object(kind: &GroupVersionKind, object: &str) -> Result<Value> {
    let mut value: Value = serde_json::from_str(object)
        .map_err(|e| Error::Invalid(format!("the object is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(Error::Invalid("the object is not a JSON object".to_owned()));
    }
    let api_version = kind.api_version();
    for (field, expected) in [
        ("apiVersion", api_version.as_str()),
        ("kind", kind.kind.as_str()),
    ] {
        match value.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(actual)) if actual == expected => {}
            Some(actual) => {
                return Err(Error::Invalid(format!(
                    "{field} is {actual}, the call is for {kind}"
                )));
            }
        }
    }
    set_type(&mut value, kind);
    Ok(value)
}

fn check_namespace(object: &Value, namespace: Option<&str>) -> Result<()> {
    match (object["metadata"]["namespace"].as_str(), namespace) {
        (Some(own), Some(namespace)) if own != namespace => Err(Error::Invalid(format!(
            "the namespace of the object ({own}) does not match the namespace of the call ({namespace})"
        ))),
        _ => Ok(()),
    }
}

fn set_type(value: &mut Value, kind: &GroupVersionKind) {
    if let Value::Object(map) = value {
        map.insert("apiVersion".to_owned(), kind.api_version().into());
        map.insert("kind".to_owned(), kind.kind.clone().into());
    }
}

fn metadata_mut(value: &mut Value) -> &mut Map<String, Value> {
    let object = value.as_object_mut().expect("objects are JSON objects");
    let metadata = object.entry("metadata").or_insert_with(|| json!({}));
    if !metadata.is_object() {
        *metadata = json!({});
    }
    metadata.as_object_mut().expect("made an object above")
}

fn labels_of(object: &Value) -> BTreeMap<String, String> {
    object["metadata"]["labels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn set_or_remove(object: &mut Value, field: &str, value: Option<&Value>) {
    if let Value::Object(map) = object {
        match value {
            Some(value) => map.insert(field.to_owned(), value.clone()),
            None => map.remove(field),
        };
    }
}

fn without(object: &Value, fields: &[&str]) -> Value {
    let mut object = object.clone();
    if let Value::Object(map) = &mut object {
        for field in fields {
            map.remove(*field);
        }
    }
    object
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}

fn not_found(kind: &GroupVersionKind, name: &str) -> Error {
    Error::NotFound(format!("{} {name:?} not found", kind.kind))
}

fn conflict(kind: &GroupVersionKind, name: &str) -> Error {
    Error::Conflict(format!(
        "Operation cannot be fulfilled on {} {name:?}: the object has been modified; please apply your changes to the latest version and try again",
        kind.kind
    ))
}

#[cfg(test)]
mod tests;
