//! The controller manager: runs every `Plugin` of type `controller`.
//!
//! It watches `Plugin` objects (wharf.dev/v1alpha1) and, for each, loads
//! the module, starts it, reloads it when its digest changes (also when a
//! development-mode module file changes on disk), stops it when the object
//! goes, and writes the plugin's status: phase, loaded digest, calls,
//! errors, mean latency, last error and a Ready condition.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::sync::mpsc;
use wharf_apiserver::{LocalClient, Patch};
use wharf_plugins::controller::{ControllerModule, ModuleKind};
use wharf_plugins::native::NativeControllerModule;
use wharf_plugins::{PermissionRule, Permissions, PluginError, Runtime};

use crate::host::PluginHost;
use crate::informer::{Change, Informers};
use crate::plugin::{ControllerPlugin, ControllerSpec};
use crate::plugin_spec::{self, ModuleSource, read_module};

/// How often module files are checked for changes and statuses written.
const TICK: Duration = Duration::from_millis(500);

/// What the manager knows about one `Plugin`.
struct Managed {
    spec: Value,
    source: ModuleSource,
    modified: Option<SystemTime>,
    plugin: Option<Arc<ControllerPlugin>>,
    phase: &'static str,
    message: String,
    written_status: Value,
}

impl Managed {
    /// A plugin the manager has not started (yet).
    fn new(source: ModuleSource) -> Self {
        Self {
            spec: Value::Null,
            source,
            modified: None,
            plugin: None,
            phase: "Pending",
            message: String::new(),
            written_status: Value::Null,
        }
    }
}

/// Runs controller plugins.
pub struct ControllerManager {
    client: LocalClient,
    runtime: Arc<Runtime>,
    informers: Arc<Informers>,
    managed: Mutex<HashMap<String, Managed>>,
}

/// The controller settings of a `Plugin` spec, or why they are wrong.
fn controller_spec(spec: &Value) -> Result<(ControllerSpec, Permissions, ModuleSource), String> {
    let limits = plugin_spec::limits(spec)?;
    let permissions: Vec<PermissionRule> = match spec.get("permissions") {
        Some(rules) => {
            serde_json::from_value(rules.clone()).map_err(|e| format!("spec.permissions: {e}"))?
        }
        None => Vec::new(),
    };
    let source = plugin_spec::module_source(spec)?;
    let config = spec
        .get("config")
        .cloned()
        .unwrap_or_else(|| json!({}))
        .to_string();
    let workers = spec
        .get("workers")
        .and_then(Value::as_u64)
        .unwrap_or(2)
        .clamp(1, 64) as usize;
    Ok((
        ControllerSpec {
            limits,
            config,
            workers,
        },
        Permissions(permissions),
        source,
    ))
}

/// Loads a module read from `source`: a component compiled by `runtime`, or
/// a native library opened from its file.
fn load_module(
    runtime: &Arc<Runtime>,
    source: &ModuleSource,
    bytes: &[u8],
) -> Result<ModuleKind, PluginError> {
    match source {
        ModuleSource::File(path) if source.is_native() => {
            Ok(Arc::new(NativeControllerModule::load(path)?).into())
        }
        _ => Ok(Arc::new(ControllerModule::load(runtime, bytes)?).into()),
    }
}

impl ControllerManager {
    pub fn new(client: LocalClient, runtime: Arc<Runtime>) -> Arc<Self> {
        let informers = Arc::new(Informers::new(
            client.clone(),
            tokio::runtime::Handle::current(),
        ));
        Arc::new(Self {
            client,
            runtime,
            informers,
            managed: Mutex::default(),
        })
    }

    pub fn informers(&self) -> &Arc<Informers> {
        &self.informers
    }

    /// Runs until `stop` resolves; then stops every plugin.
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        let (changed, mut names) = mpsc::unbounded_channel::<String>();
        let informer = match self
            .informers
            .get_or_start("wharf.dev", "v1alpha1", "Plugin")
        {
            Ok(informer) => informer,
            Err(error) => {
                tracing::error!(%error, "the controller manager cannot watch plugins");
                return;
            }
        };
        informer.add_handler(Arc::new(move |change: &Change<'_>| {
            if let Some(name) = change
                .object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
            {
                let _ = changed.send(name.to_string());
            }
        }));
        let mut ticker = tokio::time::interval(TICK);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                Some(name) = names.recv() => {
                    let object = informer.get(None, &name).map(|o| (*o).clone());
                    self.clone().sync(name, object).await;
                }
                _ = ticker.tick() => self.clone().tick().await,
                () = &mut stop => break,
            }
        }
        let plugins: Vec<Arc<ControllerPlugin>> = self
            .managed
            .lock()
            .expect("managed")
            .drain()
            .filter_map(|(_, m)| m.plugin)
            .collect();
        let _ = tokio::task::spawn_blocking(move || plugins.iter().for_each(|p| p.stop())).await;
    }

    /// Brings one plugin in line with its object (absent: stop it).
    async fn sync(self: Arc<Self>, name: String, object: Option<Value>) {
        // Scheduling policies are the scheduler's: it loads them and writes
        // their status.
        let object = object.filter(|o| o.pointer("/spec/type") != Some(&json!("scheduler")));
        let Some(object) = object else {
            let removed = self.managed.lock().expect("managed").remove(&name);
            if let Some(plugin) = removed.and_then(|managed| managed.plugin) {
                tracing::info!(plugin = %name, "plugin removed; stopping it");
                let _ = tokio::task::spawn_blocking(move || plugin.stop()).await;
            }
            return;
        };
        let spec = object.get("spec").cloned().unwrap_or_default();
        if spec.get("type").and_then(Value::as_str) != Some("controller") {
            let plugin_type = spec
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            self.record(
                &name,
                spec,
                None,
                "Pending",
                format!("plugins of type {plugin_type:?} are not served by this host yet"),
            );
            return;
        }
        let unchanged = self
            .managed
            .lock()
            .expect("managed")
            .get(&name)
            .is_some_and(|m| m.spec == spec && m.plugin.is_some());
        if unchanged {
            return;
        }
        let (controller, permissions, source) = match controller_spec(&spec) {
            Ok(parsed) => parsed,
            Err(message) => return self.record(&name, spec, None, "Failed", message),
        };
        // Only the module changed: a hot reload on the same queue.
        let running = self
            .managed
            .lock()
            .expect("managed")
            .get(&name)
            .and_then(|m| {
                let without_module = |spec: &Value| {
                    let mut spec = spec.clone();
                    spec["module"] = Value::Null;
                    spec
                };
                (without_module(&m.spec) == without_module(&spec))
                    .then(|| m.plugin.clone())
                    .flatten()
            });
        if let Some(plugin) = running {
            match self.reload(plugin, source.clone()).await {
                Ok(_) => {
                    let mut managed = self.managed.lock().expect("managed");
                    if let Some(entry) = managed.get_mut(&name) {
                        entry.spec = spec;
                        entry.modified = match &source {
                            ModuleSource::File(path) => {
                                std::fs::metadata(path).and_then(|m| m.modified()).ok()
                            }
                            ModuleSource::Digest(_) => None,
                        };
                        entry.source = source;
                        entry.message = String::new();
                    }
                }
                Err(error) => {
                    tracing::warn!(plugin = %name, %error, "the new module does not load; the old one keeps serving");
                    if let Some(entry) = self.managed.lock().expect("managed").get_mut(&name) {
                        entry.message = format!(
                            "the new module does not load ({error}); the previous one keeps serving"
                        );
                    }
                }
            }
            return;
        }
        let previous = self
            .managed
            .lock()
            .expect("managed")
            .get_mut(&name)
            .and_then(|m| m.plugin.take());
        let started = {
            let this = self.clone();
            let (name, controller, source) = (name.clone(), controller.clone(), source.clone());
            tokio::task::spawn_blocking(move || {
                if let Some(previous) = previous {
                    previous.stop();
                }
                let (bytes, modified) =
                    read_module(&this.client, &source).map_err(PluginError::Failed)?;
                let module = load_module(&this.runtime, &source, &bytes)?;
                let host = Arc::new(PluginHost::new(
                    name.clone(),
                    this.client.clone(),
                    this.informers.clone(),
                    permissions,
                    tokio::runtime::Handle::current(),
                ));
                let plugin =
                    ControllerPlugin::start(name, controller, module, host, &this.informers)?;
                Ok::<_, PluginError>((plugin, modified))
            })
            .await
        };
        match started {
            Ok(Ok((plugin, modified))) => {
                tracing::info!(plugin = %name, digest = %plugin.digest(), "controller plugin loaded");
                let mut managed = self.managed.lock().expect("managed");
                let entry = managed
                    .entry(name.clone())
                    .or_insert_with(|| Managed::new(source.clone()));
                entry.spec = spec;
                entry.source = source;
                entry.modified = modified;
                entry.plugin = Some(plugin);
                entry.phase = "Loaded";
                entry.message = String::new();
            }
            Ok(Err(error)) => self.record(&name, spec, Some(source), "Failed", error.to_string()),
            Err(error) => self.record(&name, spec, Some(source), "Failed", error.to_string()),
        }
    }

    fn record(
        &self,
        name: &str,
        spec: Value,
        source: Option<ModuleSource>,
        phase: &'static str,
        message: String,
    ) {
        tracing::warn!(plugin = %name, phase, %message, "plugin not running");
        let mut managed = self.managed.lock().expect("managed");
        let entry = managed.entry(name.to_string()).or_insert_with(|| {
            Managed::new(source.clone().unwrap_or(ModuleSource::File(PathBuf::new())))
        });
        entry.spec = spec;
        if let Some(source) = source {
            entry.source = source;
        }
        entry.phase = phase;
        entry.message = message;
    }

    /// Reloads changed module files and writes statuses that changed.
    async fn tick(self: Arc<Self>) {
        let reloads: Vec<(Arc<ControllerPlugin>, ModuleSource)> = {
            let mut managed = self.managed.lock().expect("managed");
            managed
                .values_mut()
                .filter_map(|m| {
                    let plugin = m.plugin.clone()?;
                    let ModuleSource::File(path) = &m.source else {
                        return None;
                    };
                    let modified = std::fs::metadata(path)
                        .and_then(|meta| meta.modified())
                        .ok();
                    if modified.is_some() && modified != m.modified {
                        m.modified = modified;
                        return Some((plugin, m.source.clone()));
                    }
                    None
                })
                .collect()
        };
        for (plugin, source) in reloads {
            let name = plugin.name.clone();
            match self.reload(plugin, source).await {
                Ok(true) => tracing::info!(plugin = %name, "controller plugin reloaded"),
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(plugin = %name, %error, "module changed but does not load; the old one keeps serving")
                }
            }
        }
        self.write_statuses().await;
    }

    /// Loads `source` and swaps it into `plugin` if its digest differs;
    /// `Ok(true)` when it did.
    async fn reload(
        &self,
        plugin: Arc<ControllerPlugin>,
        source: ModuleSource,
    ) -> Result<bool, PluginError> {
        let (runtime, client) = (self.runtime.clone(), self.client.clone());
        tokio::task::spawn_blocking(move || {
            let (bytes, _) = read_module(&client, &source).map_err(PluginError::Failed)?;
            if wharf_plugins::digest(&bytes) == plugin.digest() {
                return Ok(false);
            }
            let module = load_module(&runtime, &source, &bytes)?;
            plugin.reload(module);
            Ok(true)
        })
        .await
        .map_err(|e| PluginError::Engine(e.to_string()))?
    }

    async fn write_statuses(&self) {
        let updates: Vec<(String, Value)> = {
            let mut managed = self.managed.lock().expect("managed");
            managed
                .iter_mut()
                .filter_map(|(name, m)| {
                    let status = status_of(m);
                    if status == m.written_status {
                        return None;
                    }
                    m.written_status = status.clone();
                    Some((name.clone(), status))
                })
                .collect()
        };
        let Ok(plugins) = self.client.resource("wharf.dev", "v1alpha1", "Plugin") else {
            return;
        };
        for (name, status) in updates {
            let mut patch_body = json!({"status": status});
            let transition = wharf_apiserver::now_rfc3339();
            if let Some(conditions) = patch_body["status"]["conditions"].as_array_mut() {
                for condition in conditions {
                    condition["lastTransitionTime"] = json!(transition);
                }
            }
            let Ok(patch) = Patch::parse(
                "application/merge-patch+json",
                patch_body.to_string().as_bytes(),
            ) else {
                continue;
            };
            if let Err(error) = self.client.patch(&plugins, None, &name, &patch, true).await {
                tracing::debug!(plugin = %name, %error, "plugin status not written");
            }
        }
    }
}

/// The status a plugin should show now.
fn status_of(managed: &Managed) -> Value {
    let (calls, errors, latency, digest, last_error) = match &managed.plugin {
        Some(plugin) => {
            let stats = &plugin.stats;
            let last = stats.last_error.lock().expect("stats").clone();
            (
                stats.calls.load(Ordering::Relaxed),
                stats.errors.load(Ordering::Relaxed),
                format!("{}µs", plugin.stats.mean().as_micros()),
                plugin.digest(),
                last,
            )
        }
        None => (0, 0, String::new(), String::new(), None),
    };
    let phase = match (&managed.plugin, &last_error) {
        (Some(_), Some(_)) if errors > 0 => "Degraded",
        (Some(_), _) => "Loaded",
        (None, _) => managed.phase,
    };
    let (ready, reason, message) = match (&managed.plugin, &last_error) {
        (Some(_), None) => ("True", "Loaded".to_string(), String::new()),
        (Some(_), Some((reason, message))) => ("True", reason.clone(), message.clone()),
        (None, _) => ("False", managed.phase.to_string(), managed.message.clone()),
    };
    let mut status = json!({
        "phase": phase,
        "calls": calls,
        "errors": errors,
        "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": message}],
    });
    if !digest.is_empty() {
        status["loadedDigest"] = json!(digest);
        status["latency"] = json!(latency);
    }
    let last = last_error
        .map(|(_, m)| m)
        .or_else(|| (!managed.message.is_empty()).then(|| managed.message.clone()));
    if let Some(message) = last {
        status["lastError"] = json!(message);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin_spec::{parse_duration, parse_memory};
    use wharf_plugins::Limits;

    #[test]
    fn limits_read_kubernetes_style_quantities_and_durations() {
        assert_eq!(parse_memory("64Mi"), Some(64 << 20));
        assert_eq!(parse_memory("1Gi"), Some(1 << 30));
        assert_eq!(parse_memory("1000"), Some(1000));
        assert_eq!(parse_memory("lots"), None);
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("0s"), None);
    }

    #[test]
    fn a_plugin_spec_reads_into_limits_permissions_and_a_module() {
        let spec = json!({
            "type": "controller",
            "module": "file:///plugins/rs.wasm",
            "limits": {"memory": "32Mi", "callTimeout": "500ms"},
            "permissions": [{"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get"]}],
            "config": {"a": 1},
            "workers": 4,
        });
        let (controller, permissions, source) = controller_spec(&spec).unwrap();
        assert_eq!(
            controller.limits,
            Limits {
                memory_bytes: 32 << 20,
                call_deadline: Duration::from_millis(500)
            }
        );
        assert_eq!(controller.workers, 4);
        assert_eq!(controller.config, r#"{"a":1}"#);
        assert!(permissions.allows("apps", "replicasets", "get", None));
        assert_eq!(
            source,
            ModuleSource::File(PathBuf::from("/plugins/rs.wasm"))
        );
        assert!(controller_spec(&json!({"module": "ftp://x"})).is_err());
        let (_, _, native) = controller_spec(&json!({"module": "file:///p/librs.so"})).unwrap();
        assert!(native.is_native());
        assert!(!ModuleSource::File(PathBuf::from("/plugins/rs.wasm")).is_native());
        assert!(
            controller_spec(&json!({"module": "/x.wasm", "limits": {"memory": "huge"}})).is_err()
        );
    }
}
