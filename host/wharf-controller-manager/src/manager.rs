//! The controller manager: runs every `Plugin` of type `controller`.
//!
//! [`ControllerWorld`] is the controller world as its supervisor
//! ([`wharf_plugin_host::Supervisor`]) drives it: starting a plugin
//! initializes its module once, wires its informers to its queue and starts
//! its workers; a new module is swapped in on the same queue (no key is
//! lost); a `file://…/*.so` module is a trusted native plugin
//! ([`ModuleKind::Native`]), anything else a component.

use std::sync::Arc;

use serde_json::Value;
use wharf_apiserver::LocalClient;
use wharf_plugin_host::{ModuleSource, PluginSpec, PluginWorld, RunningPlugin, Supervisor};
use wharf_plugins::controller::{ControllerModule, ModuleKind};
use wharf_plugins::native::NativeControllerModule;
use wharf_plugins::{Limits, PluginError, PluginStats, Runtime};

use crate::host::PluginHost;
use crate::informer::Informers;
use crate::plugin::{ControllerPlugin, ControllerSpec};

/// The controller world: controller plugins on shared informers.
pub struct ControllerWorld {
    client: LocalClient,
    runtime: Arc<Runtime>,
    informers: Arc<Informers>,
}

/// The controller settings of a Plugin spec, or why they are wrong.
fn controller_spec(plugin: &PluginSpec) -> ControllerSpec {
    let workers = plugin
        .raw
        .get("workers")
        .and_then(Value::as_u64)
        .unwrap_or(2)
        .max(1) as usize;
    ControllerSpec {
        limits: plugin.limits.clone(),
        config: plugin.config_text(),
        workers,
    }
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
            Ok(Arc::new(NativeControllerModule::load(runtime, path)?).into())
        }
        _ => Ok(Arc::new(ControllerModule::load(runtime, bytes)?).into()),
    }
}

impl RunningPlugin for ControllerPlugin {
    fn digest(&self) -> String {
        ControllerPlugin::digest(self)
    }

    fn stats(&self) -> Arc<PluginStats> {
        self.stats.clone()
    }
}

impl PluginWorld for ControllerWorld {
    const TYPE: &'static str = "controller";
    type Running = Arc<ControllerPlugin>;

    fn default_limits(&self) -> Limits {
        Limits::default()
    }

    fn start(&self, plugin: &PluginSpec, bytes: &[u8]) -> Result<Self::Running, PluginError> {
        let spec = controller_spec(plugin);
        self.runtime.check_workers(spec.workers)?;
        let module = load_module(&self.runtime, &plugin.source, bytes)?;
        let host = Arc::new(PluginHost::new(
            plugin.name.clone(),
            self.client.clone(),
            self.informers.clone(),
            wharf_apiserver::authz::plugin_user(&plugin.name),
            tokio::runtime::Handle::current(),
        ));
        ControllerPlugin::start(plugin.name.clone(), spec, module, host, &self.informers)
    }

    /// Two controllers of one name must never reconcile at once: the old
    /// one stops before the new one starts.
    fn replace(
        &self,
        old: Self::Running,
        plugin: &PluginSpec,
        bytes: &[u8],
    ) -> Result<Self::Running, (PluginError, Option<Self::Running>)> {
        old.stop();
        self.start(plugin, bytes).map_err(|error| (error, None))
    }

    fn reload(
        &self,
        running: &mut Self::Running,
        plugin: &PluginSpec,
        bytes: &[u8],
    ) -> Result<(), PluginError> {
        let module = load_module(&self.runtime, &plugin.source, bytes)?;
        running.stats.loaded(module.times());
        running.reload(module);
        Ok(())
    }

    fn stop(&self, running: Self::Running) {
        running.stop();
    }
}

/// Runs controller plugins.
pub struct ControllerManager {
    world: Arc<ControllerWorld>,
}

impl ControllerManager {
    pub fn new(client: LocalClient, runtime: Arc<Runtime>) -> Arc<Self> {
        let informers = Arc::new(Informers::new(
            client.clone(),
            tokio::runtime::Handle::current(),
        ));
        Arc::new(Self {
            world: Arc::new(ControllerWorld {
                client,
                runtime,
                informers,
            }),
        })
    }

    pub fn informers(&self) -> &Arc<Informers> {
        &self.world.informers
    }

    /// Runs until `stop` resolves; then stops every plugin.
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        Supervisor::new(self.world.clone(), self.world.client.clone())
            .run(stop)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;
    use std::time::Duration;
    use wharf_plugin_host::spec::{parse_duration, parse_memory};

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
        let plugin = PluginSpec::parse("rs", &spec, Limits::default()).unwrap();
        let (controller, permissions, source) =
            (controller_spec(&plugin), plugin.permissions, plugin.source);
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
        let parse = |spec: Value| PluginSpec::parse("x", &spec, Limits::default());
        assert!(parse(json!({"module": "ftp://x"})).is_err());
        let native = parse(json!({"module": "file:///p/librs.so"}))
            .unwrap()
            .source;
        assert!(native.is_native());
        assert!(!ModuleSource::File(PathBuf::from("/plugins/rs.wasm")).is_native());
        assert!(parse(json!({"module": "/x.wasm", "limits": {"memory": "huge"}})).is_err());
    }
}
