//! The parts of a `Plugin` spec every world shares: where its module comes
//! from (`spec.module`), its limits (`spec.limits`), its permissions
//! (`spec.permissions`), its config (`spec.config`), and reading the
//! module's bytes.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use wharf_apiserver::LocalClient;
use wharf_plugins::{Limits, PermissionRule, Permissions};

/// A `Plugin` object's spec, as every world reads it.
#[derive(Clone, Debug)]
pub struct PluginSpec {
    /// The Plugin object's name.
    pub name: String,
    pub source: ModuleSource,
    pub limits: Limits,
    pub permissions: Permissions,
    /// `spec.config` (`{}` when absent): the world takes its own settings
    /// from it and gives the plugin the whole of it.
    pub config: Value,
    /// The whole spec, for settings of one world (`spec.workers`).
    pub raw: Value,
}

impl PluginSpec {
    /// Reads a spec, with `defaults` for the limits it does not set.
    pub fn parse(name: &str, spec: &Value, defaults: Limits) -> Result<Self, String> {
        let permissions: Vec<PermissionRule> = match spec.get("permissions") {
            Some(rules) => serde_json::from_value(rules.clone())
                .map_err(|e| format!("spec.permissions: {e}"))?,
            None => Vec::new(),
        };
        Ok(Self {
            name: name.to_string(),
            source: module_source(spec)?,
            limits: limits(spec, defaults)?,
            permissions: Permissions(permissions),
            config: spec
                .get("config")
                .cloned()
                .unwrap_or_else(|| Value::Object(Default::default())),
            raw: spec.clone(),
        })
    }

    /// `spec.config` as the JSON text given to the plugin's `init`.
    pub fn config_text(&self) -> String {
        self.config.to_string()
    }
}

/// Where a module comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleSource {
    /// A file on this machine (development mode): reloaded when it changes.
    /// A `.so` (or `.dylib`) file is a native plugin, loaded with `dlopen`:
    /// trusted, with no sandbox, no call deadline and no memory limit (the
    /// host still enforces its permissions on every cluster call).
    File(PathBuf),
    /// A module uploaded through the API (`wharf plugin push`), by digest.
    Digest(String),
}

impl ModuleSource {
    /// Whether the module is a native shared library rather than a component.
    pub fn is_native(&self) -> bool {
        matches!(self, ModuleSource::File(path)
            if path.extension().is_some_and(|e| e == "so" || e == "dylib"))
    }
}

/// A memory quantity (`64Mi`) in bytes.
pub fn parse_memory(text: &str) -> Option<usize> {
    let text = text.trim();
    for (suffix, factor) in [
        ("Ki", 1usize << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("k", 1000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
    ] {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.trim().parse::<usize>().ok().map(|n| n * factor);
        }
    }
    text.parse().ok()
}

/// A duration (`500ms`, `2s`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.trim().parse().ok().map(Duration::from_millis);
    }
    if let Some(seconds) = text.strip_suffix('s') {
        return seconds
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| *s > 0.0)
            .map(Duration::from_secs_f64);
    }
    None
}

/// `spec.limits` (memory, callTimeout) over the defaults, or why it is wrong.
pub fn limits(spec: &Value, defaults: Limits) -> Result<Limits, String> {
    let memory_bytes = match spec.pointer("/limits/memory").and_then(Value::as_str) {
        Some(text) => parse_memory(text)
            .ok_or_else(|| format!("spec.limits.memory: cannot read {text:?} (use 64Mi)"))?,
        None => defaults.memory_bytes,
    };
    let call_deadline = match spec.pointer("/limits/callTimeout").and_then(Value::as_str) {
        Some(text) => parse_duration(text).ok_or_else(|| {
            format!("spec.limits.callTimeout: cannot read {text:?} (use 500ms or 2s)")
        })?,
        None => defaults.call_deadline,
    };
    Ok(Limits {
        memory_bytes,
        call_deadline,
    })
}

/// `spec.module`: a digest (`sha256:…`) or a file (`file:///path`, `/path`).
pub fn module_source(spec: &Value) -> Result<ModuleSource, String> {
    let module = spec
        .get("module")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if module.starts_with("sha256:") {
        return Ok(ModuleSource::Digest(module.to_string()));
    }
    match module
        .strip_prefix("file://")
        .or(module.starts_with('/').then_some(module))
    {
        Some(path) => Ok(ModuleSource::File(PathBuf::from(path))),
        None => Err(format!(
            "spec.module: {module:?} is neither a module digest (sha256:…, from `wharf plugin push`) nor a file:///path"
        )),
    }
}

/// The module's bytes, and for a file its modification time. Runs on a
/// blocking thread (it may wait on the store).
pub fn read_module(
    client: &LocalClient,
    source: &ModuleSource,
) -> Result<(Vec<u8>, Option<SystemTime>), String> {
    match source {
        ModuleSource::File(path) => {
            let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            Ok((bytes, modified))
        }
        ModuleSource::Digest(digest) => {
            let store = client.state().objects.store.clone();
            let bytes = tokio::runtime::Handle::current()
                .block_on(wharf_apiserver::modules::get(store.as_ref(), digest))
                .map_err(|e| format!("module {digest}: {e}"))?;
            Ok((bytes, None))
        }
    }
}
