//! One supervisor per world: it follows the `Plugin` objects of the world's
//! type and keeps each one's plugin running as its spec says.
//!
//! - A new Plugin (or one whose settings changed) is started: its module
//!   read and loaded off the async threads, then handed to the world.
//! - A change of the module alone (a new digest, or a `file://` module
//!   rewritten on disk, polled every 500 ms) is a hot reload: the world
//!   swaps it in place; a module that does not load leaves the old one
//!   serving.
//! - A Plugin that fails to start is retried with backoff (1 s doubling to
//!   a minute), and its status says why.
//! - A deleted Plugin (or one whose type changed) is stopped.
//! - Every 500 ms the status of each Plugin that changed is written: phase,
//!   loadedDigest, calls, errors, mean latency, lastError and a Ready
//!   condition.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};
use wharf_client::Client;

use serde_json::{Value, json};
use wharf_apiserver::LocalClient;
use wharf_client::Selectors;
use wharf_client::watcher::{Seen, Watcher};
use wharf_client::{Patch, WatchType};
use wharf_plugins::{Limits, PluginError, PluginStats};

use crate::spec::{ModuleSource, PluginSpec, read_module};

/// How often module files are checked, retries run and statuses written.
const TICK: Duration = Duration::from_millis(500);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What a running plugin shows its supervisor.
pub trait RunningPlugin: Send + 'static {
    /// The loaded module's digest, `sha256:<hex>`.
    fn digest(&self) -> String;
    /// Its call statistics.
    fn stats(&self) -> Arc<PluginStats>;
}

impl<T: RunningPlugin + Sync> RunningPlugin for Arc<T> {
    fn digest(&self) -> String {
        T::digest(self)
    }

    fn stats(&self) -> Arc<PluginStats> {
        T::stats(self)
    }
}

/// A world as its supervisor drives it: how a plugin of this type starts,
/// reloads and stops. Every method but [`initial_set_loaded`] runs on a
/// blocking thread (they compile modules and may wait for calls to end).
///
/// [`initial_set_loaded`]: PluginWorld::initial_set_loaded
pub trait PluginWorld: Send + Sync + 'static {
    /// The `spec.type` of its Plugins.
    const TYPE: &'static str;
    type Running: RunningPlugin;

    /// Limits for a Plugin whose spec sets none.
    fn default_limits(&self) -> Limits;

    /// Loads the module (`bytes`, read from `plugin.source`) and starts it.
    fn start(&self, plugin: &PluginSpec, bytes: &[u8]) -> Result<Self::Running, PluginError>;

    /// Replaces a running plugin whose settings changed. By default the new
    /// one starts first and the old one stops after it (no gap); a new one
    /// that fails to start leaves the old one running (it comes back).
    fn replace(
        &self,
        old: Self::Running,
        plugin: &PluginSpec,
        bytes: &[u8],
    ) -> Result<Self::Running, (PluginError, Option<Self::Running>)> {
        match self.start(plugin, bytes) {
            Ok(new) => {
                self.stop(old);
                Ok(new)
            }
            Err(error) => Err((error, Some(old))),
        }
    }

    /// Swaps a new module into a running plugin whose settings did not
    /// change. Calls under way finish on the old module; new calls go to
    /// the new one.
    fn reload(
        &self,
        running: &mut Self::Running,
        plugin: &PluginSpec,
        bytes: &[u8],
    ) -> Result<(), PluginError>;

    /// Stops a plugin whose object is gone.
    fn stop(&self, running: Self::Running);

    /// Every Plugin that existed when the supervisor started has been
    /// started (or has failed).
    fn initial_set_loaded(&self) {}
}

/// What the supervisor keeps of one Plugin.
struct Supervised<R> {
    /// The spec it last acted on.
    spec: Value,
    running: Option<R>,
    /// The module file's modification time (`file://` modules).
    modified: Option<SystemTime>,
    /// When not running: `Pending` or `Failed`.
    phase: &'static str,
    message: String,
    /// A failed start is tried again at this time.
    retry: Option<(Instant, Duration)>,
    written: Value,
    /// The Plugin object's uid, which its events name.
    uid: String,
}

impl<R> Supervised<R> {
    fn new(spec: Value) -> Self {
        Self {
            spec,
            running: None,
            modified: None,
            phase: "Pending",
            message: String::new(),
            retry: None,
            written: Value::Null,
            uid: String::new(),
        }
    }
}

/// Runs the plugins of one world.
pub struct Supervisor<W: PluginWorld> {
    world: Arc<W>,
    client: LocalClient,
    plugins: HashMap<String, Supervised<W::Running>>,
}

impl<W: PluginWorld> Supervisor<W> {
    pub fn new(world: Arc<W>, client: LocalClient) -> Self {
        Self {
            world,
            client,
            plugins: HashMap::new(),
        }
    }

    /// Follows the world's Plugins until `stop` resolves; then stops them.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) {
        let resource = match self.client.resource("wharf.dev", "v1alpha1", "Plugin") {
            Ok(resource) => resource,
            Err(error) => {
                tracing::error!(world = W::TYPE, %error, "cannot follow Plugin objects");
                return;
            }
        };
        let mut watcher = Watcher::new(self.client.clone(), resource, Selectors::all());
        let mut ticker = tokio::time::interval(TICK);
        let mut initial = true;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                seen = watcher.next() => match seen {
                    Seen::Listed(items) => {
                        let names: Vec<String> = items.iter().map(|p| name_of(p).to_string()).collect();
                        let gone: Vec<String> = self
                            .plugins
                            .keys()
                            .filter(|n| !names.contains(n))
                            .cloned()
                            .collect();
                        for name in gone {
                            self.remove(&name).await;
                        }
                        for item in &items {
                            self.consider(item).await;
                        }
                        if std::mem::take(&mut initial) {
                            self.world.initial_set_loaded();
                        }
                    }
                    Seen::Changed(WatchType::Deleted, object) => self.remove(name_of(&object)).await,
                    Seen::Changed(_, object) => self.consider(&object).await,
                },
                _ = ticker.tick() => self.tick().await,
                () = &mut stop => break,
            }
        }
        let names: Vec<String> = self.plugins.keys().cloned().collect();
        for name in names {
            self.remove(&name).await;
        }
    }

    /// Brings one Plugin's plugin in line with its object.
    async fn consider(&mut self, object: &Value) {
        let name = name_of(object).to_string();
        let spec = object.get("spec").cloned().unwrap_or(Value::Null);
        if spec.get("type").and_then(Value::as_str) != Some(W::TYPE) {
            self.remove(&name).await;
            return;
        }
        let entry = self
            .plugins
            .entry(name.clone())
            .or_insert_with(|| Supervised::new(Value::Null));
        if let Some(uid) = object.pointer("/metadata/uid").and_then(Value::as_str) {
            entry.uid = uid.to_string();
        }
        if entry.spec == spec && (entry.running.is_some() || entry.retry.is_some()) {
            return;
        }
        let module_only =
            entry.running.is_some() && without_module(&entry.spec) == without_module(&spec);
        entry.spec = spec.clone();
        let plugin = match PluginSpec::parse(&name, &spec, self.world.default_limits()) {
            Ok(plugin) => plugin,
            Err(message) => {
                tracing::warn!(plugin = %name, %message, "plugin spec refused");
                entry.phase = "Failed";
                entry.message = message;
                return;
            }
        };
        if module_only {
            self.reload(&name, plugin).await;
        } else {
            self.start(&name, plugin).await;
        }
    }

    /// Starts (or replaces) a plugin; a failure is retried with backoff.
    async fn start(&mut self, name: &str, plugin: PluginSpec) {
        let Some(entry) = self.plugins.get_mut(name) else {
            return;
        };
        let previous = entry.running.take();
        let (world, client) = (self.world.clone(), self.client.clone());
        let source = plugin.source.clone();
        let started = tokio::task::spawn_blocking(move || {
            let (bytes, modified) = match read_module(&client, &plugin.source) {
                Ok(read) => read,
                Err(message) => return (Err(PluginError::Failed(message)), previous, None),
            };
            let started = match previous {
                None => world.start(&plugin, &bytes).map_err(|e| (e, None)),
                Some(old) => world.replace(old, &plugin, &bytes),
            };
            match started {
                Ok(running) => (Ok(()), Some(running), modified),
                Err((error, kept)) => (Err(error), kept, modified),
            }
        })
        .await;
        let Some(entry) = self.plugins.get_mut(name) else {
            return;
        };
        let (result, running, modified) = match started {
            Ok(outcome) => outcome,
            Err(join) => (Err(PluginError::Engine(join.to_string())), None, None),
        };
        entry.running = running;
        entry.modified = modified;
        match result {
            Ok(()) => {
                tracing::info!(world = W::TYPE, plugin = %name, "plugin started");
                entry.phase = "Loaded";
                entry.message.clear();
                entry.retry = None;
            }
            Err(error) => {
                tracing::warn!(world = W::TYPE, plugin = %name, %error, ?source, "plugin did not start");
                let backoff = entry
                    .retry
                    .map_or(FIRST_BACKOFF, |(_, last)| (last * 2).min(MAX_BACKOFF));
                entry.retry = Some((Instant::now() + backoff, backoff));
                if entry.running.is_some() {
                    entry.message = format!(
                        "the new settings do not start ({error}); the previous plugin keeps serving"
                    );
                } else {
                    entry.phase = "Failed";
                    entry.message = error.to_string();
                }
            }
        }
    }

    /// Swaps a new module into a running plugin.
    async fn reload(&mut self, name: &str, plugin: PluginSpec) {
        let Some(entry) = self.plugins.get_mut(name) else {
            return;
        };
        let Some(mut running) = entry.running.take() else {
            return;
        };
        let (world, client) = (self.world.clone(), self.client.clone());
        let reloaded = tokio::task::spawn_blocking(move || {
            let result = read_module(&client, &plugin.source)
                .map_err(PluginError::Failed)
                .and_then(|(bytes, modified)| {
                    if wharf_plugins::digest(&bytes) == running.digest() {
                        return Ok((false, modified));
                    }
                    world
                        .reload(&mut running, &plugin, &bytes)
                        .map(|()| (true, modified))
                });
            (result, running)
        })
        .await;
        let Some(entry) = self.plugins.get_mut(name) else {
            return;
        };
        match reloaded {
            Ok((Ok((swapped, modified)), running)) => {
                if swapped {
                    tracing::info!(world = W::TYPE, plugin = %name, digest = %running.digest(), "plugin reloaded");
                }
                entry.running = Some(running);
                entry.modified = modified;
                entry.message.clear();
            }
            Ok((Err(error), running)) => {
                tracing::warn!(world = W::TYPE, plugin = %name, %error, "the new module does not load; the old one keeps serving");
                entry.running = Some(running);
                entry.message = format!(
                    "the new module does not load ({error}); the previous one keeps serving"
                );
            }
            Err(join) => {
                entry.phase = "Failed";
                entry.message = join.to_string();
            }
        }
    }

    /// Stops and forgets a plugin.
    async fn remove(&mut self, name: &str) {
        let Some(entry) = self.plugins.remove(name) else {
            return;
        };
        if let Some(running) = entry.running {
            tracing::info!(world = W::TYPE, plugin = %name, "plugin removed; stopping it");
            let world = self.world.clone();
            let _ = tokio::task::spawn_blocking(move || world.stop(running)).await;
        }
    }

    /// Reloads changed module files, retries failed starts, writes statuses.
    async fn tick(&mut self) {
        let now = Instant::now();
        let mut due = Vec::new();
        for (name, entry) in &mut self.plugins {
            let Ok(plugin) = PluginSpec::parse(name, &entry.spec, self.world.default_limits())
            else {
                continue;
            };
            if entry.retry.is_some_and(|(at, _)| at <= now) {
                due.push((name.clone(), plugin, false));
                continue;
            }
            if entry.running.is_none() {
                continue;
            }
            if let ModuleSource::File(path) = &plugin.source {
                let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
                if modified.is_some() && modified != entry.modified {
                    entry.modified = modified;
                    due.push((name.clone(), plugin, true));
                }
            }
        }
        for (name, plugin, module_only) in due {
            if module_only {
                self.reload(&name, plugin).await;
            } else {
                self.start(&name, plugin).await;
            }
        }
        self.write_statuses().await;
    }

    /// A Warning event about a Plugin (in `default`, where kube records the
    /// events of cluster-scoped objects), as `kubectl describe plugin`
    /// lists them.
    async fn warn(client: &LocalClient, name: &str, uid: &str, reason: &str, message: &str) {
        let Ok(events) = client.resource("", "v1", "Event") else {
            return;
        };
        let now = wharf_client::now_rfc3339();
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": format!("{name}."), "namespace": "default"},
            "involvedObject": {"apiVersion": "wharf.dev/v1alpha1", "kind": "Plugin", "name": name, "uid": uid},
            "type": "Warning",
            "reason": reason,
            "message": message,
            "source": {"component": "wharf-plugin-host"},
            "reportingComponent": "wharf-plugin-host",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        });
        if let Err(error) = client.create(&events, Some("default"), &event).await {
            tracing::debug!(plugin = %name, %error, "event not recorded");
        }
    }

    async fn write_statuses(&mut self) {
        let Ok(resource) = self.client.resource("wharf.dev", "v1alpha1", "Plugin") else {
            return;
        };
        for (name, entry) in &mut self.plugins {
            let status = status_of(entry);
            if status == entry.written {
                continue;
            }
            let mut body = json!({"status": status});
            if let Some(conditions) = body["status"]["conditions"].as_array_mut() {
                for condition in conditions {
                    condition["lastTransitionTime"] = json!(wharf_client::now_rfc3339());
                }
            }
            let new_error = status
                .get("lastError")
                .filter(|error| Some(*error) != entry.written.get("lastError"))
                .and_then(Value::as_str)
                .map(|message| {
                    let reason = status
                        .pointer("/conditions/0/reason")
                        .and_then(Value::as_str)
                        .unwrap_or("Failed");
                    (reason.to_string(), message.to_string())
                });
            match self
                .client
                .patch(&resource, None, name, &Patch::Merge(body), true)
                .await
            {
                Ok(_) => {
                    entry.written = status;
                    if let Some((reason, message)) = new_error {
                        Self::warn(&self.client, name, &entry.uid, &reason, &message).await;
                    }
                }
                Err(error) => tracing::debug!(plugin = %name, %error, "plugin status not written"),
            }
        }
    }
}

/// The status a plugin shows now.
fn status_of<R: RunningPlugin>(entry: &Supervised<R>) -> Value {
    let stats = entry.running.as_ref().map(RunningPlugin::stats);
    let start_failure = stats
        .as_ref()
        .and_then(|s| s.start_failure.lock().expect("stats").clone());
    let last_error = stats
        .as_ref()
        .and_then(|s| s.last_error.lock().expect("stats").clone());
    let (phase, ready, reason, message) = match (&stats, start_failure, last_error) {
        (None, _, _) => (
            entry.phase,
            "False",
            entry.phase.to_string(),
            entry.message.clone(),
        ),
        (Some(_), Some(failure), _) => ("Failed", "False", "Failed".to_string(), failure),
        (Some(_), None, Some((reason, message))) => ("Degraded", "True", reason, message),
        (Some(_), None, None) => ("Loaded", "True", "Loaded".to_string(), String::new()),
    };
    let mut status = json!({
        "phase": phase,
        "calls": stats.as_ref().map_or(0, |s| s.calls.load(Ordering::Relaxed)),
        "errors": stats.as_ref().map_or(0, |s| s.errors.load(Ordering::Relaxed)),
        "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": message}],
    });
    if let (Some(running), Some(stats)) = (&entry.running, &stats) {
        status["loadedDigest"] = json!(running.digest());
        status["latency"] = json!(format!("{}µs", stats.mean().as_micros()));
        if let Some(times) = stats.load.lock().expect("stats").as_ref() {
            let source = if times.from_cache {
                "cache"
            } else {
                "compiled"
            };
            status["load"] = json!({
                "from": source,
                "loadTime": format!("{}ms", times.compile.as_millis()),
            });
            // Instances start lazily: none yet right after a reload.
            if !times.instantiate().is_zero() {
                status["load"]["instantiateTime"] =
                    json!(format!("{}µs", times.instantiate().as_micros()));
            }
        }
    }
    let last = (!message.is_empty())
        .then_some(message)
        .or_else(|| (!entry.message.is_empty()).then(|| entry.message.clone()));
    if let Some(message) = last {
        status["lastError"] = json!(message);
    }
    status
}

fn without_module(spec: &Value) -> Value {
    let mut spec = spec.clone();
    if let Some(map) = spec.as_object_mut() {
        map.remove("module");
    }
    spec
}

fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}
