//! Shared informers: one list-and-watch and one cache per kind, shared by
//! every controller that watches the kind. Handlers only enqueue keys.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use wharf_client::{Client, Selectors};

use serde_json::Value;
use tokio::sync::watch;
use wharf_apiserver::LocalClient;
use wharf_client::{ApiError, Delivery, FieldSelector, LabelSelector, ResourceDef, WatchType};

/// One change an informer saw.
pub struct Change<'a> {
    pub object: &'a Value,
    pub old: Option<&'a Value>,
    pub deleted: bool,
}

/// What a controller does with a change: enqueue keys, nothing more.
pub type Handler = Arc<dyn Fn(&Change<'_>) + Send + Sync>;

/// The key of an object: `namespace/name`, or `name` when cluster-scoped.
pub fn key_of(object: &Value) -> String {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        Some(namespace) if !namespace.is_empty() => format!("{namespace}/{name}"),
        _ => name.to_string(),
    }
}

/// A cached object and its JSON text (what plugins read), made once.
pub struct Cached {
    pub object: Value,
    pub json: Arc<str>,
}

impl Cached {
    /// Caches an object without its `metadata.managedFields`, as
    /// kube-controller-manager's informers drop them: controllers do not
    /// read them, and they double what a cache (and a plugin's list)
    /// holds. An update written from a cached object leaves them as the
    /// server has them.
    pub fn new(mut object: Value) -> Arc<Self> {
        if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("managedFields");
        }
        let json = Arc::from(object.to_string());
        Arc::new(Self { object, json })
    }
}

impl std::ops::Deref for Cached {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.object
    }
}

/// Versions of objects that are on their way to the store, shown to some
/// readers (admission plugins) in place of the cached ones: a quota's
/// charge queued behind another write, which the next charge must add to.
#[derive(Default)]
pub struct Overlay {
    /// By `group/kind`, then by cache key (`namespace/name`).
    objects: RwLock<HashMap<String, HashMap<String, Arc<Cached>>>>,
}

impl Overlay {
    fn kind_key(group: &str, kind: &str) -> String {
        format!("{group}/{kind}")
    }

    /// Shows `object` (of `group`'s `kind`) until [`hide`](Self::hide).
    pub fn show(&self, group: &str, kind: &str, object: Value) {
        let key = key_of(&object);
        self.objects
            .write()
            .expect("overlay")
            .entry(Self::kind_key(group, kind))
            .or_default()
            .insert(key, Cached::new(object));
    }

    pub fn hide(&self, group: &str, kind: &str, namespace: Option<&str>, name: &str) {
        let mut objects = self.objects.write().expect("overlay");
        let kind_key = Self::kind_key(group, kind);
        if let Some(shown) = objects.get_mut(&kind_key) {
            shown.remove(&cache_key(namespace, name));
            if shown.is_empty() {
                objects.remove(&kind_key);
            }
        }
    }

    /// What is shown of `namespace/name`, if anything.
    pub fn get(
        &self,
        group: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Arc<Cached>> {
        let objects = self.objects.read().expect("overlay");
        if objects.is_empty() {
            return None;
        }
        objects
            .get(&Self::kind_key(group, kind))?
            .get(&cache_key(namespace, name))
            .cloned()
    }

    /// `listed` with what is shown in place of the cached versions.
    pub fn over(&self, group: &str, kind: &str, listed: &mut [Arc<Cached>]) {
        let objects = self.objects.read().expect("overlay");
        let Some(shown) = objects.get(&Self::kind_key(group, kind)) else {
            return;
        };
        for cached in listed {
            if let Some(object) = shown.get(&key_of(cached)) {
                *cached = object.clone();
            }
        }
    }
}

fn cache_key(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(namespace) if !namespace.is_empty() => format!("{namespace}/{name}"),
        _ => name.to_string(),
    }
}

/// An informer's objects by key and, for Pods, their keys by node name:
/// kube's informers index pods by `spec.nodeName` for the controllers that
/// look at one node's pods (node lifecycle, taint eviction), so such a list
/// reads that node's pods rather than every pod of the cluster.
#[derive(Default)]
struct Objects {
    by_key: BTreeMap<String, Arc<Cached>>,
    /// The indexed field's label and JSON pointer.
    indexed: Option<(&'static str, &'static str)>,
    by_field: HashMap<String, BTreeSet<String>>,
}

impl Objects {
    fn for_resource(resource: &ResourceDef) -> Self {
        let indexed = (resource.group.is_empty() && resource.kind == "Pod")
            .then_some(("spec.nodeName", "/spec/nodeName"));
        Self {
            indexed,
            ..Self::default()
        }
    }

    fn field_of<'o>(&self, object: &'o Value) -> Option<&'o str> {
        let (_, pointer) = self.indexed?;
        Some(
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or(""),
        )
    }

    fn insert(&mut self, key: String, cached: Arc<Cached>) {
        if let Some(field) = self.field_of(&cached.object) {
            self.by_field
                .entry(field.to_owned())
                .or_default()
                .insert(key.clone());
        }
        if let Some(old) = self.by_key.insert(key.clone(), cached.clone()) {
            self.unindex(&key, &old, Some(&cached));
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.by_key.remove(key) {
            self.unindex(key, &old, None);
        }
    }

    /// Drops `key` from the index entry of `old`, unless `new` is filed there too.
    fn unindex(&mut self, key: &str, old: &Cached, new: Option<&Cached>) {
        let Some(field) = self.field_of(&old.object) else {
            return;
        };
        if new.and_then(|new| self.field_of(&new.object)) == Some(field) {
            return;
        }
        if let Some(keys) = self.by_field.get_mut(field) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_field.remove(field);
            }
        }
    }

    /// Replaces every object; returns the old ones.
    fn replace(&mut self, fresh: BTreeMap<String, Arc<Cached>>) -> BTreeMap<String, Arc<Cached>> {
        self.by_field.clear();
        let old = std::mem::take(&mut self.by_key);
        for (key, cached) in fresh {
            self.insert(key, cached);
        }
        old
    }
}

/// The cache of one kind, kept current by a list and a watch.
pub struct Informer {
    pub resource: Arc<ResourceDef>,
    cache: RwLock<Objects>,
    handlers: RwLock<Vec<Handler>>,
    /// The revision the cache reflects (0 until the first list).
    synced: watch::Sender<i64>,
}

impl Informer {
    fn new(resource: Arc<ResourceDef>) -> Arc<Self> {
        let (synced, _) = watch::channel(0);
        Arc::new(Self {
            cache: RwLock::new(Objects::for_resource(&resource)),
            resource,
            handlers: RwLock::default(),
            synced,
        })
    }

    /// An informer holding `objects`, not connected to any server.
    #[cfg(test)]
    pub(crate) fn holding(resource: Arc<ResourceDef>, objects: Vec<Value>) -> Arc<Self> {
        let informer = Self::new(resource);
        informer.replace(objects);
        informer
    }

    /// Adds a handler, and replays the current objects to it as additions.
    pub fn add_handler(&self, handler: Handler) {
        let cache = self.cache.read().expect("informer cache");
        for object in cache.by_key.values() {
            handler(&Change {
                object,
                old: None,
                deleted: false,
            });
        }
        self.handlers
            .write()
            .expect("informer handlers")
            .push(handler);
    }

    pub fn get(&self, namespace: Option<&str>, name: &str) -> Option<Arc<Cached>> {
        let cache = self.cache.read().expect("informer cache");
        match namespace {
            Some(namespace) if self.resource.namespaced => {
                let mut key = String::with_capacity(namespace.len() + name.len() + 1);
                key.push_str(namespace);
                key.push('/');
                key.push_str(name);
                cache.by_key.get(&key).cloned()
            }
            _ => cache.by_key.get(name).cloned(),
        }
    }

    /// The cached objects in `namespace` (or all) matching the selectors.
    pub fn list(
        &self,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> Vec<Arc<Cached>> {
        let cache = self.cache.read().expect("informer cache");
        let namespace = namespace.filter(|_| self.resource.namespaced);
        let pinned = cache.indexed.and_then(|(label, _)| fields.pinned(label));
        if let Some(value) = pinned {
            let prefix = namespace.map(|namespace| format!("{namespace}/"));
            return (cache.by_field.get(value).into_iter().flatten())
                .filter(|key| prefix.as_ref().is_none_or(|p| key.starts_with(p.as_str())))
                .filter_map(|key| cache.by_key.get(key))
                .filter(|o| labels.matches(o) && fields.matches(o))
                .cloned()
                .collect();
        }
        let in_namespace: Box<dyn Iterator<Item = (&String, &Arc<Cached>)>> = match namespace {
            Some(namespace) => {
                let start = format!("{namespace}/");
                let end = format!("{namespace}0"); // '0' follows '/'
                Box::new(cache.by_key.range(start..end))
            }
            None => Box::new(cache.by_key.iter()),
        };
        in_namespace
            .map(|(_, o)| o)
            .filter(|o| labels.matches(o) && fields.matches(o))
            .cloned()
            .collect()
    }

    /// Every cached key.
    pub fn keys(&self) -> Vec<String> {
        self.cache
            .read()
            .expect("informer cache")
            .by_key
            .keys()
            .cloned()
            .collect()
    }

    /// Puts a version of an object this process just stored into the
    /// cache ahead of its watch event (which then finds it there and
    /// notifies the handlers as usual); an older version than the cached
    /// one is ignored.
    pub fn write_through(&self, object: Value) {
        let revision = |o: &Value| {
            o.pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .and_then(|rv| rv.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let key = key_of(&object);
        let mut cache = self.cache.write().expect("informer cache");
        if cache
            .by_key
            .get(&key)
            .is_none_or(|cached| revision(cached) < revision(&object))
        {
            cache.insert(key, Cached::new(object));
        }
    }

    /// Whether the cache shows `namespace/name` at `revision` or later
    /// (or has seen everything up to it).
    pub fn shows(&self, namespace: Option<&str>, name: &str, revision: i64) -> bool {
        self.synced_revision() >= revision
            || self.get(namespace, name).is_some_and(|cached| {
                cached
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .and_then(|rv| rv.parse::<i64>().ok())
                    .is_some_and(|rv| rv >= revision)
            })
    }

    pub fn synced_revision(&self) -> i64 {
        *self.synced.borrow()
    }

    /// Waits until the cache reflects `revision` (or `timeout` passes).
    pub async fn wait_synced(&self, revision: i64, timeout: Duration) -> bool {
        let mut synced = self.synced.subscribe();
        tokio::time::timeout(timeout, synced.wait_for(|seen| *seen >= revision))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn notify(&self, change: &Change<'_>) {
        for handler in self.handlers.read().expect("informer handlers").iter() {
            handler(change);
        }
    }

    /// Lists and watches until the client's server goes away, re-listing
    /// whenever the watch falls too far behind.
    async fn run(self: Arc<Self>, client: LocalClient) {
        loop {
            let listed = match client.list(&self.resource, None, &Selectors::all()).await {
                Ok(listed) => listed,
                Err(error) => {
                    tracing::warn!(kind = self.resource.kind, %error, "informer list failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            self.replace(listed.items);
            self.synced.send_replace(listed.revision);
            let mut events = client.watch(&self.resource, None, &Selectors::all(), listed.revision);
            while let Some(delivery) = events.recv().await {
                match delivery {
                    Delivery::Event(kind, event) => {
                        self.apply(kind, &event.object, event.previous.as_deref());
                        self.synced.send_replace(event.revision);
                    }
                    Delivery::Progress(revision) => {
                        self.synced.send_replace(revision);
                    }
                    Delivery::Error(ApiError::Gone(message)) => {
                        tracing::info!(kind = self.resource.kind, %message, "informer watch expired; re-listing");
                        break;
                    }
                    Delivery::Error(error) => {
                        tracing::warn!(kind = self.resource.kind, %error, "informer watch failed; re-listing");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        break;
                    }
                }
            }
        }
    }

    fn replace(&self, items: Vec<Value>) {
        let fresh: BTreeMap<String, Arc<Cached>> = items
            .into_iter()
            .map(|o| (key_of(&o), Cached::new(o)))
            .collect();
        let old = self
            .cache
            .write()
            .expect("informer cache")
            .replace(fresh.clone());
        for (key, cached) in &fresh {
            match old.get(key) {
                Some(previous) if previous.object == cached.object => {}
                previous => self.notify(&Change {
                    object: &cached.object,
                    old: previous.map(|p| &p.object),
                    deleted: false,
                }),
            }
        }
        for (key, cached) in &old {
            if !fresh.contains_key(key) {
                self.notify(&Change {
                    object: &cached.object,
                    old: None,
                    deleted: true,
                });
            }
        }
    }

    fn apply(&self, kind: WatchType, object: &Value, previous: Option<&Value>) {
        let key = key_of(object);
        {
            let mut cache = self.cache.write().expect("informer cache");
            match kind {
                WatchType::Deleted => {
                    cache.remove(&key);
                }
                WatchType::Added | WatchType::Modified => {
                    cache.insert(key, Cached::new(object.clone()));
                }
            }
        }
        self.notify(&Change {
            object,
            old: previous,
            deleted: kind == WatchType::Deleted,
        });
    }
}

/// Every informer of the process, by kind; each started on first use.
pub struct Informers {
    client: LocalClient,
    handle: tokio::runtime::Handle,
    started: Mutex<HashMap<(String, String, String), Arc<Informer>>>,
}

impl Informers {
    pub fn new(client: LocalClient, handle: tokio::runtime::Handle) -> Self {
        Self {
            client,
            handle,
            started: Mutex::default(),
        }
    }

    /// The informer for a kind, started now if it was not running.
    pub fn get_or_start(
        &self,
        group: &str,
        version: &str,
        kind: &str,
    ) -> Result<Arc<Informer>, ApiError> {
        let key = (group.to_string(), version.to_string(), kind.to_string());
        let mut started = self.started.lock().expect("informers");
        if let Some(informer) = started.get(&key) {
            return Ok(informer.clone());
        }
        let resource = self.client.resource(group, version, kind)?;
        let informer = Informer::new(resource);
        self.handle.spawn(informer.clone().run(self.client.clone()));
        started.insert(key, informer.clone());
        Ok(informer)
    }

    /// The informer for a kind, if one is running.
    pub fn get(&self, group: &str, version: &str, kind: &str) -> Option<Arc<Informer>> {
        let key = (group.to_string(), version.to_string(), kind.to_string());
        self.started.lock().expect("informers").get(&key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(namespace: &str, name: &str, node: Option<&str>) -> Value {
        let mut pod =
            json!({"metadata": {"namespace": namespace, "name": name, "resourceVersion": "1"}});
        if let Some(node) = node {
            pod["spec"] = json!({"nodeName": node});
        }
        pod
    }

    fn names(listed: &[Arc<Cached>]) -> Vec<&str> {
        listed
            .iter()
            .map(|o| {
                o.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn pods_listed_by_node_follow_binding_moves_and_deletes() {
        let pods = wharf_client::resources::Registry::builtin()
            .by_kind("", "v1", "Pod")
            .expect("pods");
        let informer = Informer::holding(
            pods.clone(),
            vec![
                pod("a", "p1", Some("n1")),
                pod("b", "p2", Some("n1")),
                pod("a", "p3", None),
            ],
        );
        let on = |node: &str, namespace: Option<&str>| {
            let fields = FieldSelector::parse(&format!("spec.nodeName={node}"), &pods).unwrap();
            informer.list(namespace, &LabelSelector::default(), &fields)
        };
        assert_eq!(names(&on("n1", None)), ["p1", "p2"]);
        assert_eq!(names(&on("n1", Some("a"))), ["p1"]);
        assert_eq!(
            names(&on("", None)),
            ["p3"],
            "unbound pods are filed under no node"
        );

        informer.apply(WatchType::Modified, &pod("a", "p3", Some("n2")), None);
        informer.apply(WatchType::Modified, &pod("a", "p1", Some("n2")), None);
        informer.apply(WatchType::Deleted, &pod("b", "p2", Some("n1")), None);
        assert!(on("n1", None).is_empty());
        assert!(on("", None).is_empty());
        assert_eq!(names(&on("n2", None)), ["p1", "p3"]);
        // Other terms still apply to the indexed pods.
        let fields = FieldSelector::parse("spec.nodeName=n2,metadata.name!=p1", &pods).unwrap();
        let listed = informer.list(None, &LabelSelector::default(), &fields);
        assert_eq!(names(&listed), ["p3"]);
    }
}
