//! The policy set from `Plugin` objects of type `scheduler`: the scheduler
//! world of `wharf-plugin-host`'s supervisor. Each policy is loaded
//! (compiled, or opened as a native library) off the loop and handed to it
//! to install; a changed spec or module replaces it by name (atomically, in
//! the loop), a deleted object removes it. An instance the loop cannot
//! start is recorded on the plugin's stats, which its status shows.
//!
//! Host settings in `spec.config` (the rest goes to the policy):
//! `order` (filter order, lower first, default 0), `weight` (score weight,
//! default 1, 0 turns scoring off), `filter` / `score` (false turns that
//! extension point off).

use std::sync::Arc;
use std::sync::mpsc::Sender;

use serde_json::Value;
use wharf_plugin_host::{ModuleSource, PluginSpec, PluginWorld, RunningPlugin};
use wharf_plugins::policy::PolicyModule;
use wharf_plugins::{Limits, PluginError, PluginStats, Runtime};

use crate::framework::PolicySpec;
use crate::scheduler::Input;

/// What the loop is told.
pub enum PolicyEvent {
    /// Install this policy, replacing one of the same name.
    Install(PolicySpec),
    Remove(String),
    /// Every scheduler Plugin that existed at start was loaded (or failed).
    InitialSetLoaded,
}

/// The scheduler world: policies loaded here, run by the loop.
pub struct PolicyWorld {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) inputs: Sender<Input>,
}

/// A policy sent to the loop.
pub struct RunningPolicy {
    name: String,
    digest: String,
    stats: Arc<PluginStats>,
}

impl RunningPlugin for RunningPolicy {
    fn digest(&self) -> String {
        self.digest.clone()
    }

    fn stats(&self) -> Arc<PluginStats> {
        self.stats.clone()
    }
}

impl PolicyWorld {
    /// Loads the module and sends the policy to the loop.
    fn install(
        &self,
        plugin: &PluginSpec,
        bytes: &[u8],
        stats: Arc<PluginStats>,
    ) -> Result<String, PluginError> {
        let spec = policy_spec(&self.runtime, plugin, bytes, stats)?;
        let digest = spec.module.digest().to_string();
        self.inputs
            .send(Input::Policy(PolicyEvent::Install(spec)))
            .map_err(|_| PluginError::Engine("the scheduling loop has stopped".into()))?;
        Ok(digest)
    }
}

impl PluginWorld for PolicyWorld {
    const TYPE: &'static str = "scheduler";
    type Running = RunningPolicy;

    fn default_limits(&self) -> Limits {
        Limits::default()
    }

    fn start(&self, plugin: &PluginSpec, bytes: &[u8]) -> Result<RunningPolicy, PluginError> {
        let stats = Arc::new(PluginStats::default());
        let digest = self.install(plugin, bytes, stats.clone())?;
        Ok(RunningPolicy {
            name: plugin.name.clone(),
            digest,
            stats,
        })
    }

    /// The loop replaces a policy by name, so the new one simply goes in.
    fn replace(
        &self,
        old: RunningPolicy,
        plugin: &PluginSpec,
        bytes: &[u8],
    ) -> Result<RunningPolicy, (PluginError, Option<RunningPolicy>)> {
        self.start(plugin, bytes)
            .map_err(|error| (error, Some(old)))
    }

    fn reload(
        &self,
        running: &mut RunningPolicy,
        plugin: &PluginSpec,
        bytes: &[u8],
    ) -> Result<(), PluginError> {
        running.digest = self.install(plugin, bytes, running.stats.clone())?;
        Ok(())
    }

    fn stop(&self, running: RunningPolicy) {
        let _ = self
            .inputs
            .send(Input::Policy(PolicyEvent::Remove(running.name)));
    }

    fn initial_set_loaded(&self) {
        let _ = self
            .inputs
            .send(Input::Policy(PolicyEvent::InitialSetLoaded));
    }
}

/// Compiles a policy's module (or opens its library) and reads its settings.
fn policy_spec(
    runtime: &Arc<Runtime>,
    plugin: &PluginSpec,
    bytes: &[u8],
    stats: Arc<PluginStats>,
) -> Result<PolicySpec, PluginError> {
    let config = &plugin.config;
    let order = config.get("order").and_then(Value::as_i64).unwrap_or(0);
    let weight = config.get("weight").and_then(Value::as_i64).unwrap_or(1);
    if !(0..=100).contains(&weight) {
        return Err(PluginError::Failed(format!(
            "spec.config.weight: {weight} is outside [0, 100]"
        )));
    }
    let enabled = |key: &str| config.get(key).and_then(Value::as_bool).unwrap_or(true);
    let module = match &plugin.source {
        ModuleSource::File(path) if plugin.source.is_native() => {
            PolicyModule::load_native(runtime, path)?
        }
        _ => PolicyModule::load_wasm(runtime, bytes)?,
    };
    stats.loaded(module.times());
    Ok(PolicySpec {
        name: plugin.name.clone(),
        module,
        config: plugin.config_text(),
        limits: plugin.limits.clone(),
        order,
        weight,
        filter_enabled: enabled("filter"),
        score_enabled: enabled("score"),
        stats,
    })
}
