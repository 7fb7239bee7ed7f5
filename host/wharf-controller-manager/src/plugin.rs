//! One running controller plugin: its work queue (which belongs to the host,
//! so it survives reloads), its worker threads (each owns one instance), and
//! its statistics.
//!
//! A reload swaps the module: a worker finishes the call it is in on the old
//! instance, and instantiates the new module before its next call. No key is
//! lost, because keys live in the queue, not in the instance.

use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use std::collections::HashMap;

use wharf_client::{FieldSelector, LabelSelector};
use wharf_plugins::controller::{
    ControllerHost, InstanceKind, Kind, ModuleKind, Outcome, Registration, Wakes,
};
use wharf_plugins::{Limits, PluginError, PluginStats};

use crate::host::PluginHost;
use crate::informer::{Change, Informer, Informers, key_of};
use crate::queue::WorkQueue;

/// What a `Plugin` object asks for, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct ControllerSpec {
    pub limits: Limits,
    pub config: String,
    pub workers: usize,
}

/// The module workers should run, with a generation that changes on reload.
struct Current {
    generation: u64,
    module: ModuleKind,
}

/// A controller plugin at work.
pub struct ControllerPlugin {
    pub name: String,
    pub spec: ControllerSpec,
    pub registration: Registration,
    pub stats: Arc<PluginStats>,
    pub queue: Arc<WorkQueue>,
    current: Arc<RwLock<Current>>,
    host: Arc<PluginHost>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

fn split_key(key: &str) -> (Option<&str>, &str) {
    match key.split_once('/') {
        Some((namespace, name)) => (Some(namespace), name),
        None => (None, key),
    }
}

impl ControllerPlugin {
    /// Initializes the module once to learn what it watches, wires its
    /// informers to its queue, and starts its workers.
    pub fn start(
        name: String,
        spec: ControllerSpec,
        module: impl Into<ModuleKind>,
        host: Arc<PluginHost>,
        informers: &Informers,
    ) -> Result<Arc<Self>, PluginError> {
        let module = module.into();
        let mut probe = module.instantiate(host.clone(), &spec.limits)?;
        let registration = probe.init(&spec.config)?;
        drop(probe);
        let watched: Vec<Kind> = registration.kinds().cloned().collect();
        host.set_watched(&watched).map_err(|e| {
            PluginError::Failed(format!("cannot watch what the plugin registered: {e}"))
        })?;
        let stats = Arc::new(PluginStats::default());
        stats.loaded(module.times());
        let plugin = Arc::new(Self {
            name,
            spec,
            registration,
            stats,
            queue: Arc::new(WorkQueue::new()),
            current: Arc::new(RwLock::new(Current {
                generation: 0,
                module,
            })),
            host,
            workers: Mutex::default(),
        });
        plugin.wire(informers).map_err(|e| {
            PluginError::Failed(format!("cannot watch what the plugin registered: {e}"))
        })?;
        for index in 0..plugin.spec.workers.max(1) {
            let worker = plugin.clone();
            let handle = std::thread::Builder::new()
                .name(format!("plugin-{}-{index}", plugin.name))
                .spawn(move || worker.work())
                .map_err(|e| PluginError::Engine(e.to_string()))?;
            plugin.workers.lock().expect("workers").push(handle);
        }
        Ok(plugin)
    }

    /// Informer events enqueue keys: a primary object its own key, an owned
    /// object its controlling owner's key (through a controlling owner of
    /// another owned kind, as a pod wakes its ReplicaSet's Deployment), a
    /// watched object what its [`Wakes`] picks. Resync re-enqueues every
    /// primary.
    fn wire(self: &Arc<Self>, informers: &Informers) -> Result<(), wharf_client::ApiError> {
        let primary = &self.registration.primary;
        let queue = self.queue.clone();
        let informer = informers.get_or_start(&primary.group, &primary.version, &primary.kind)?;
        informer.add_handler(Arc::new(move |change: &Change<'_>| {
            queue.add(key_of(change.object))
        }));
        let mut owned_informers = HashMap::new();
        for owned in &self.registration.owns {
            let owned_informer =
                informers.get_or_start(&owned.group, &owned.version, &owned.kind)?;
            owned_informers.insert(owned.kind.clone(), owned_informer);
        }
        let owned_informers = Arc::new(owned_informers);
        for owned in &self.registration.owns {
            let (queue, owner_kind) = (self.queue.clone(), primary.kind.clone());
            let chain = owned_informers.clone();
            owned_informers[&owned.kind].add_handler(Arc::new(move |change: &Change<'_>| {
                for object in std::iter::once(change.object).chain(change.old) {
                    if let Some(owner) = controlling_owner_through(object, &owner_kind, &chain) {
                        queue.add(owner);
                    }
                }
            }));
        }
        for read in &self.registration.reads {
            informers.get_or_start(&read.group, &read.version, &read.kind)?;
        }
        for watch in &self.registration.watches {
            let watched =
                informers.get_or_start(&watch.kind.group, &watch.kind.version, &watch.kind.kind)?;
            let (queue, primaries, wakes) =
                (self.queue.clone(), informer.clone(), watch.wakes.clone());
            watched.add_handler(Arc::new(move |change: &Change<'_>| {
                if change
                    .old
                    .is_some_and(|old| only_heartbeats(old, change.object))
                {
                    return;
                }
                for object in std::iter::once(change.object).chain(change.old) {
                    for key in woken(object, &wakes, &primaries) {
                        queue.add(key);
                    }
                }
            }));
        }
        if self.registration.resync_seconds > 0 {
            let (plugin, informer) = (Arc::downgrade(self), informer.clone());
            let every = Duration::from_secs(u64::from(self.registration.resync_seconds));
            tokio::runtime::Handle::current().spawn(async move {
                let mut ticker = tokio::time::interval(every);
                ticker.tick().await;
                loop {
                    ticker.tick().await;
                    let Some(plugin) = plugin.upgrade() else {
                        return;
                    };
                    for key in informer.keys() {
                        plugin.queue.add(key);
                    }
                }
            });
        }
        Ok(())
    }

    /// Swaps in a new module; workers pick it up before their next call.
    pub fn reload(&self, module: impl Into<ModuleKind>) {
        let mut current = self.current.write().expect("current module");
        current.generation += 1;
        current.module = module.into();
    }

    pub fn digest(&self) -> String {
        self.current
            .read()
            .expect("current module")
            .module
            .digest()
            .to_string()
    }

    /// Stops the workers (after their current calls) and waits for them.
    pub fn stop(&self) {
        // Calls in flight are interrupted within an epoch tick.
        self.host.stop();
        self.queue.shut_down();
        for worker in self.workers.lock().expect("workers").drain(..) {
            let _ = worker.join();
        }
    }

    fn instance(
        &self,
        generation: &mut u64,
        slot: &mut Option<InstanceKind>,
    ) -> Result<(), PluginError> {
        let current = self.current.read().expect("current module");
        if slot.is_some() && *generation == current.generation {
            return Ok(());
        }
        let module = current.module.clone();
        let current_generation = current.generation;
        drop(current);
        let host: Arc<dyn ControllerHost> = self.host.clone();
        let mut instance = module.instantiate(host, &self.spec.limits)?;
        instance.init(&self.spec.config)?;
        *slot = Some(instance);
        *generation = current_generation;
        Ok(())
    }

    /// A worker: takes keys until the queue shuts down.
    fn work(&self) {
        let mut generation = u64::MAX;
        let mut slot: Option<InstanceKind> = None;
        while let Some(key) = self.queue.get() {
            let result = self.instance(&mut generation, &mut slot).and_then(|()| {
                let instance = slot.as_mut().expect("an instance");
                let (namespace, name) = split_key(&key);
                let (outcome, elapsed) = instance.reconcile(namespace, name);
                self.stats.record(elapsed, outcome.as_ref().err());
                outcome
            });
            if slot.as_ref().is_some_and(InstanceKind::worn_out) {
                slot = None;
            }
            match result {
                Ok(Outcome::Done) => self.queue.forget(&key),
                Ok(Outcome::RequeueAfter(millis)) => {
                    self.queue.forget(&key);
                    self.queue
                        .add_after(key.clone(), Duration::from_millis(u64::from(millis)));
                }
                Err(error) => {
                    tracing::warn!(plugin = %self.name, %key, %error, "reconcile failed");
                    if error.poisons_instance() || slot.is_none() {
                        slot = None;
                    }
                    if matches!(
                        error,
                        PluginError::Engine(_) | PluginError::Link { .. } | PluginError::Compile(_)
                    ) {
                        self.stats.record(Duration::ZERO, Some(&error));
                    }
                    self.queue.add_rate_limited(key.clone());
                }
            }
            self.queue.done(&key);
        }
    }
}

/// The kind and key of an object's controlling owner (in its namespace).
fn controller_key(object: &serde_json::Value) -> Option<(&str, String)> {
    let owners = object.pointer("/metadata/ownerReferences")?.as_array()?;
    let owner = owners.iter().find(|o| o["controller"] == true)?;
    let (kind, name) = (owner["kind"].as_str()?, owner["name"].as_str()?);
    let key = match object
        .pointer("/metadata/namespace")
        .and_then(|n| n.as_str())
    {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_string(),
    };
    Some((kind, key))
}

/// The key of an object's controlling owner of kind `owner_kind`, found
/// directly or by following controlling owners of the other owned kinds
/// (`owned`, by kind) through their caches: a pod → its ReplicaSet → its
/// Deployment. At most as many steps as there are owned kinds.
fn controlling_owner_through(
    object: &serde_json::Value,
    owner_kind: &str,
    owned: &HashMap<String, Arc<Informer>>,
) -> Option<String> {
    let (kind, key) = controller_key(object)?;
    let (mut kind, mut key) = (kind.to_owned(), key);
    for _ in 0..=owned.len() {
        if kind == owner_kind {
            return Some(key);
        }
        let (namespace, name) = split_key(&key);
        let owner = owned.get(&kind)?.get(namespace, name)?;
        let (next_kind, next_key) = controller_key(&owner.object)?;
        (kind, key) = (next_kind.to_owned(), next_key);
    }
    None
}

/// Whether an update changed nothing but heartbeats: the resourceVersion,
/// managed fields and conditions' `lastHeartbeatTime` (a kubelet's status
/// posts). Such updates of a watched kind wake nothing, as kube's DaemonSet
/// controller ignores them (`shouldIgnoreNodeUpdate`).
fn only_heartbeats(old: &serde_json::Value, new: &serde_json::Value) -> bool {
    fn strip(object: &serde_json::Value) -> serde_json::Value {
        let mut object = object.clone();
        if let Some(metadata) = object.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            metadata.remove("resourceVersion");
            metadata.remove("managedFields");
        }
        if let Some(conditions) = object
            .pointer_mut("/status/conditions")
            .and_then(|c| c.as_array_mut())
        {
            for condition in conditions.iter_mut().filter_map(|c| c.as_object_mut()) {
                condition.remove("lastHeartbeatTime");
            }
        }
        object
    }
    strip(old) == strip(new)
}

/// The keys of the primary objects an event on `object` wakes.
fn woken(object: &serde_json::Value, wakes: &Wakes, primaries: &Informer) -> Vec<String> {
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(serde_json::Value::as_str);
    match wakes {
        Wakes::All => primaries.keys(),
        Wakes::NamedBy(pointer) => {
            let Some(name) = object
                .pointer(pointer)
                .and_then(serde_json::Value::as_str)
                .filter(|name| !name.is_empty())
            else {
                return Vec::new();
            };
            match namespace {
                Some(namespace) if primaries.resource.namespaced => {
                    vec![format!("{namespace}/{name}")]
                }
                _ => vec![name.to_owned()],
            }
        }
        Wakes::Selecting(pointer) => {
            let everything = (LabelSelector::default(), FieldSelector::default());
            primaries
                .list(namespace, &everything.0, &everything.1)
                .iter()
                .filter(|primary| {
                    primary
                        .object
                        .pointer(pointer)
                        .and_then(selector_of)
                        .is_some_and(|selector| selector.matches(object))
                })
                .map(|primary| key_of(&primary.object))
                .collect()
        }
    }
}

/// A selector field as a [`LabelSelector`]: a structured one (`matchLabels`,
/// `matchExpressions`; `{}` matches everything) or a plain map of labels (a
/// Service's). An absent selector matches nothing.
fn selector_of(selector: &serde_json::Value) -> Option<LabelSelector> {
    let map = selector.as_object()?;
    let structured =
        map.is_empty() || map.contains_key("matchLabels") || map.contains_key("matchExpressions");
    let selector = if structured {
        LabelSelector::from_object(selector).ok()?
    } else {
        LabelSelector::from_object(&serde_json::json!({ "matchLabels": selector })).ok()?
    };
    Some(selector)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn owned_objects_enqueue_their_controlling_owner() {
        let pod = json!({"metadata": {"namespace": "ns", "name": "p", "ownerReferences": [
            {"kind": "ReplicaSet", "name": "other", "controller": false},
            {"kind": "ReplicaSet", "name": "rs", "controller": true}
        ]}});
        let direct = HashMap::new();
        assert_eq!(
            controlling_owner_through(&pod, "ReplicaSet", &direct).as_deref(),
            Some("ns/rs")
        );
        assert_eq!(controlling_owner_through(&pod, "Deployment", &direct), None);
        assert_eq!(split_key("ns/name"), (Some("ns"), "name"));
        assert_eq!(split_key("node-1"), (None, "node-1"));
    }

    fn informer(kind: &str, objects: Vec<serde_json::Value>) -> Arc<Informer> {
        let registry = wharf_client::resources::Registry::builtin();
        let (group, version) = match kind {
            "ReplicaSet" | "Deployment" | "DaemonSet" => ("apps", "v1"),
            "PodDisruptionBudget" => ("policy", "v1"),
            _ => ("", "v1"),
        };
        Informer::holding(
            registry
                .by_kind(group, version, kind)
                .expect("a built-in kind"),
            objects,
        )
    }

    fn owned_by(namespace: &str, name: &str, owner: (&str, &str)) -> serde_json::Value {
        json!({"metadata": {"namespace": namespace, "name": name, "ownerReferences": [
            {"kind": owner.0, "name": owner.1, "controller": true}
        ]}})
    }

    #[test]
    fn owned_objects_wake_their_owner_through_owners_of_owned_kinds() {
        let replica_sets = informer(
            "ReplicaSet",
            vec![
                owned_by("ns", "web-1", ("Deployment", "web")),
                json!({"metadata": {"namespace": "ns", "name": "bare"}}),
            ],
        );
        let owned = HashMap::from([("ReplicaSet".to_owned(), replica_sets)]);
        let cases = [
            (owned_by("ns", "p", ("ReplicaSet", "web-1")), Some("ns/web")),
            (owned_by("ns", "rs", ("Deployment", "web")), Some("ns/web")),
            (owned_by("ns", "p", ("ReplicaSet", "bare")), None),
            (owned_by("ns", "p", ("ReplicaSet", "absent")), None),
            (owned_by("ns", "p", ("Job", "j")), None),
            (
                json!({"metadata": {"namespace": "ns", "name": "orphan"}}),
                None,
            ),
        ];
        for (object, expected) in cases {
            assert_eq!(
                controlling_owner_through(&object, "Deployment", &owned).as_deref(),
                expected,
                "{object}"
            );
        }
    }

    #[test]
    fn heartbeats_alone_are_not_changes() {
        let node = |rv: &str, beat: &str, ready: &str| {
            json!({"metadata": {"name": "n1", "resourceVersion": rv},
                "status": {"conditions": [{"type": "Ready", "status": ready, "lastHeartbeatTime": beat}]}})
        };
        assert!(only_heartbeats(
            &node("1", "t1", "True"),
            &node("2", "t2", "True")
        ));
        assert!(!only_heartbeats(
            &node("1", "t1", "True"),
            &node("2", "t2", "False")
        ));
        let mut labelled = node("2", "t1", "True");
        labelled["metadata"]["labels"] = json!({"a": "b"});
        assert!(!only_heartbeats(&node("1", "t1", "True"), &labelled));
    }

    #[test]
    fn watched_objects_wake_what_their_mapping_picks() {
        let nodes = informer(
            "Node",
            vec![
                json!({"metadata": {"name": "n1"}}),
                json!({"metadata": {"name": "n2"}}),
            ],
        );
        let pod = json!({"metadata": {"namespace": "ns", "name": "p", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1"}});
        let unscheduled = json!({"metadata": {"namespace": "ns", "name": "q"}, "spec": {}});
        assert_eq!(woken(&pod, &Wakes::All, &nodes), ["n1", "n2"]);
        assert_eq!(
            woken(&pod, &Wakes::NamedBy("/spec/nodeName".into()), &nodes),
            ["n1"]
        );
        assert!(
            woken(
                &unscheduled,
                &Wakes::NamedBy("/spec/nodeName".into()),
                &nodes
            )
            .is_empty()
        );

        let budgets = informer(
            "PodDisruptionBudget",
            vec![
                json!({"metadata": {"namespace": "ns", "name": "web"},
                    "spec": {"selector": {"matchLabels": {"app": "web"}}}}),
                json!({"metadata": {"namespace": "ns", "name": "db"},
                    "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]}}}),
                json!({"metadata": {"namespace": "ns", "name": "everything"}, "spec": {"selector": {}}}),
                json!({"metadata": {"namespace": "ns", "name": "nothing"}, "spec": {}}),
                json!({"metadata": {"namespace": "other", "name": "web"},
                    "spec": {"selector": {"matchLabels": {"app": "web"}}}}),
            ],
        );
        let mut keys = woken(&pod, &Wakes::Selecting("/spec/selector".into()), &budgets);
        keys.sort();
        assert_eq!(keys, ["ns/everything", "ns/web"]);

        let services = informer(
            "Service",
            vec![
                json!({"metadata": {"namespace": "ns", "name": "web"}, "spec": {"selector": {"app": "web"}}}),
                json!({"metadata": {"namespace": "ns", "name": "db"}, "spec": {"selector": {"app": "db"}}}),
                json!({"metadata": {"namespace": "ns", "name": "external"}, "spec": {}}),
            ],
        );
        assert_eq!(
            woken(&pod, &Wakes::Selecting("/spec/selector".into()), &services),
            ["ns/web"]
        );
    }
}
