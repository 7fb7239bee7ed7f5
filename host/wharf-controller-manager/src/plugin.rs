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

use wharf_plugins::controller::{
    ControllerHost, InstanceKind, Kind, ModuleKind, Outcome, Registration,
};
use wharf_plugins::{Limits, PluginError, PluginStats};

use crate::host::PluginHost;
use crate::informer::{Change, Informers, key_of};
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
        let watched: Vec<Kind> = std::iter::once(registration.primary.clone())
            .chain(registration.owns.iter().cloned())
            .chain(registration.reads.iter().cloned())
            .collect();
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
    /// object its controlling owner's key. Resync re-enqueues every primary.
    fn wire(self: &Arc<Self>, informers: &Informers) -> Result<(), wharf_client::ApiError> {
        let primary = &self.registration.primary;
        let queue = self.queue.clone();
        let informer = informers.get_or_start(&primary.group, &primary.version, &primary.kind)?;
        informer.add_handler(Arc::new(move |change: &Change<'_>| {
            queue.add(key_of(change.object))
        }));
        for owned in &self.registration.owns {
            let informer = informers.get_or_start(&owned.group, &owned.version, &owned.kind)?;
            let (queue, owner_kind) = (self.queue.clone(), primary.kind.clone());
            informer.add_handler(Arc::new(move |change: &Change<'_>| {
                for object in std::iter::once(change.object).chain(change.old) {
                    if let Some(owner) = controlling_owner(object, &owner_kind) {
                        queue.add(owner);
                    }
                }
            }));
        }
        for read in &self.registration.reads {
            informers.get_or_start(&read.group, &read.version, &read.kind)?;
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

/// The key of an object's controlling owner of kind `owner_kind`.
fn controlling_owner(object: &serde_json::Value, owner_kind: &str) -> Option<String> {
    let owners = object.pointer("/metadata/ownerReferences")?.as_array()?;
    let owner = owners
        .iter()
        .find(|o| o["controller"] == true && o["kind"] == owner_kind)?;
    let name = owner["name"].as_str()?;
    match object
        .pointer("/metadata/namespace")
        .and_then(|n| n.as_str())
    {
        Some(namespace) => Some(format!("{namespace}/{name}")),
        None => Some(name.to_string()),
    }
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
        assert_eq!(
            controlling_owner(&pod, "ReplicaSet").as_deref(),
            Some("ns/rs")
        );
        assert_eq!(controlling_owner(&pod, "Deployment"), None);
        assert_eq!(split_key("ns/name"), (Some("ns"), "name"));
        assert_eq!(split_key("node-1"), (None, "node-1"));
    }
}
