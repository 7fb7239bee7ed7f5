//! The policy set from `Plugin` objects of type `scheduler`: each is loaded
//! (compiled, or opened as a native library) off the loop and handed to it
//! to install; a changed spec or module file replaces it, a deleted object
//! removes it. The same task writes each Plugin's status.
//!
//! Host settings in `spec.config` (the rest goes to the policy):
//! `order` (filter order, lower first, default 0), `weight` (score weight,
//! default 1, 0 turns scoring off), `filter` / `score` (false turns that
//! extension point off).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use wharf_apiserver::{ApiError, Delivery, LocalClient, Patch, WatchType};
use wharf_controller_manager::plugin_spec::{self, ModuleSource, read_module};
use wharf_plugins::Runtime;
use wharf_plugins::policy::PolicyModule;

use crate::framework::{PolicySpec, PolicyStats};
use crate::scheduler::Input;

/// How often module files are checked and statuses written.
const TICK: Duration = Duration::from_millis(500);

/// What the loop is told.
pub enum PolicyEvent {
    Install(PolicySpec),
    Remove(String),
    /// Every scheduler Plugin that existed at start was loaded (or failed).
    InitialSetLoaded,
}

/// A policy's state as its Plugin status shows it.
#[derive(Clone, Default)]
pub struct PolicyState {
    pub phase: &'static str,
    pub message: String,
    pub digest: String,
    pub stats: Arc<PolicyStats>,
}

/// Policy states by Plugin name, written by the loader and the loop.
pub type Board = Arc<Mutex<HashMap<String, PolicyState>>>;

/// Sets a policy's phase and message.
pub fn set_phase(
    board: &Board,
    name: &str,
    phase: &'static str,
    message: String,
    digest: Option<&str>,
) {
    let mut board = board.lock().expect("board");
    let state = board.entry(name.to_string()).or_default();
    state.phase = phase;
    state.message = message;
    if let Some(digest) = digest {
        state.digest = digest.to_string();
    }
}

struct Known {
    spec: Value,
    modified: Option<SystemTime>,
    source: Option<ModuleSource>,
}

/// Watches scheduler Plugins and loads them; runs until the loop is gone.
pub async fn run(
    client: LocalClient,
    runtime: Arc<Runtime>,
    inputs: std::sync::mpsc::Sender<Input>,
    board: Board,
) {
    let Ok(plugins) = client.resource("wharf.dev", "v1alpha1", "Plugin") else {
        return;
    };
    let mut known: HashMap<String, Known> = HashMap::new();
    let mut written: HashMap<String, Value> = HashMap::new();
    let mut initial = true;
    loop {
        let listed = match client.list(&plugins, None, None, None).await {
            Ok(listed) => listed,
            Err(error) => {
                tracing::warn!(%error, "scheduler: listing plugins failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let names: Vec<String> = listed
            .items
            .iter()
            .map(|p| crate::pod::text(p, "/metadata/name").to_string())
            .collect();
        for gone in known
            .keys()
            .filter(|n| !names.contains(n))
            .cloned()
            .collect::<Vec<_>>()
        {
            known.remove(&gone);
            let _ = inputs.send(Input::Policy(PolicyEvent::Remove(gone)));
        }
        for plugin in &listed.items {
            consider(&client, &runtime, &inputs, &board, &mut known, plugin).await;
        }
        if std::mem::take(&mut initial)
            && inputs
                .send(Input::Policy(PolicyEvent::InitialSetLoaded))
                .is_err()
        {
            return;
        }
        let mut events = client.watch(&plugins, None, listed.revision);
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                delivery = events.recv() => match delivery {
                    Some(Delivery::Event(kind, event)) => {
                        let name = crate::pod::text(&event.object, "/metadata/name").to_string();
                        if kind == WatchType::Deleted {
                            if known.remove(&name).is_some() {
                                let _ = inputs.send(Input::Policy(PolicyEvent::Remove(name.clone())));
                            }
                            board.lock().expect("board").remove(&name);
                            written.remove(&name);
                        } else {
                            consider(&client, &runtime, &inputs, &board, &mut known, &event.object).await;
                        }
                    }
                    Some(Delivery::Progress(_)) => {}
                    Some(Delivery::Error(ApiError::Gone(_))) | Some(Delivery::Error(_)) | None => break,
                },
                _ = tick.tick() => {
                    if inputs.send(Input::Tick).is_err() {
                        return;
                    }
                    reload_changed_files(&client, &runtime, &inputs, &board, &mut known).await;
                    write_statuses(&client, &plugins, &board, &mut written).await;
                }
            }
        }
    }
}

/// Loads a Plugin if it is a scheduler and its spec (or file) changed.
async fn consider(
    client: &LocalClient,
    runtime: &Arc<Runtime>,
    inputs: &std::sync::mpsc::Sender<Input>,
    board: &Board,
    known: &mut HashMap<String, Known>,
    plugin: &Value,
) {
    let name = crate::pod::text(plugin, "/metadata/name").to_string();
    let spec = plugin.get("spec").cloned().unwrap_or(Value::Null);
    if spec.get("type").and_then(Value::as_str) != Some("scheduler") {
        if known.remove(&name).is_some() {
            let _ = inputs.send(Input::Policy(PolicyEvent::Remove(name.clone())));
            board.lock().expect("board").remove(&name);
        }
        return;
    }
    if known.get(&name).is_some_and(|k| k.spec == spec) {
        return;
    }
    let source = plugin_spec::module_source(&spec).ok();
    known.insert(
        name.clone(),
        Known {
            spec: spec.clone(),
            modified: None,
            source: source.clone(),
        },
    );
    let modified = load(client, runtime, inputs, board, &name, &spec).await;
    if let Some(entry) = known.get_mut(&name) {
        entry.modified = modified;
    }
}

/// Development mode: a module file that changed on disk is reloaded.
async fn reload_changed_files(
    client: &LocalClient,
    runtime: &Arc<Runtime>,
    inputs: &std::sync::mpsc::Sender<Input>,
    board: &Board,
    known: &mut HashMap<String, Known>,
) {
    for (name, entry) in known.iter_mut() {
        let Some(ModuleSource::File(path)) = &entry.source else {
            continue;
        };
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if modified.is_some() && modified != entry.modified {
            entry.modified = load(client, runtime, inputs, board, name, &entry.spec).await;
        }
    }
}

/// Loads one policy's module off the async threads and sends it to the loop;
/// returns the module file's modification time.
async fn load(
    client: &LocalClient,
    runtime: &Arc<Runtime>,
    inputs: &std::sync::mpsc::Sender<Input>,
    board: &Board,
    name: &str,
    spec: &Value,
) -> Option<SystemTime> {
    let stats = board
        .lock()
        .expect("board")
        .entry(name.to_string())
        .or_default()
        .stats
        .clone();
    let (client, runtime, spec_owned, name_owned) = (
        client.clone(),
        runtime.clone(),
        spec.clone(),
        name.to_string(),
    );
    let loaded = tokio::task::spawn_blocking(move || {
        policy_spec(&client, &runtime, &name_owned, &spec_owned, stats)
    })
    .await;
    match loaded {
        Ok(Ok((spec, modified))) => {
            set_phase(
                board,
                name,
                "Loading",
                String::new(),
                Some(spec.module.digest()),
            );
            let _ = inputs.send(Input::Policy(PolicyEvent::Install(spec)));
            modified
        }
        Ok(Err(message)) => {
            tracing::warn!(plugin = name, %message, "scheduler policy not loaded");
            set_phase(board, name, "Failed", message, None);
            None
        }
        Err(join) => {
            set_phase(board, name, "Failed", join.to_string(), None);
            None
        }
    }
}

/// Reads and compiles a policy's module and its settings.
fn policy_spec(
    client: &LocalClient,
    runtime: &Arc<Runtime>,
    name: &str,
    spec: &Value,
    stats: Arc<PolicyStats>,
) -> Result<(PolicySpec, Option<SystemTime>), String> {
    let limits = plugin_spec::limits(spec)?;
    let source = plugin_spec::module_source(spec)?;
    let config = spec.get("config").cloned().unwrap_or_else(|| json!({}));
    let order = config.get("order").and_then(Value::as_i64).unwrap_or(0);
    let weight = config.get("weight").and_then(Value::as_i64).unwrap_or(1);
    if !(0..=100).contains(&weight) {
        return Err(format!("spec.config.weight: {weight} is outside [0, 100]"));
    }
    let enabled = |key: &str| config.get(key).and_then(Value::as_bool).unwrap_or(true);
    let (module, modified) = match &source {
        ModuleSource::File(path) if source.is_native() => (
            PolicyModule::load_native(path).map_err(|e| e.to_string())?,
            std::fs::metadata(path).and_then(|m| m.modified()).ok(),
        ),
        _ => {
            let (bytes, modified) = read_module(client, &source)?;
            (
                PolicyModule::load_wasm(runtime, &bytes).map_err(|e| e.to_string())?,
                modified,
            )
        }
    };
    Ok((
        PolicySpec {
            name: name.to_string(),
            module,
            config: config.to_string(),
            limits,
            order,
            weight,
            filter_enabled: enabled("filter"),
            score_enabled: enabled("score"),
            stats,
        },
        modified,
    ))
}

/// Writes every scheduler Plugin's status that changed.
async fn write_statuses(
    client: &LocalClient,
    plugins: &wharf_apiserver::ResourceDef,
    board: &Board,
    written: &mut HashMap<String, Value>,
) {
    let statuses: Vec<(String, Value)> = board
        .lock()
        .expect("board")
        .iter()
        .map(|(name, state)| (name.clone(), status_of(state)))
        .collect();
    for (name, status) in statuses {
        if written.get(&name) == Some(&status) {
            continue;
        }
        let mut body = json!({"status": status});
        // Conditions carry a transition time; compare without it.
        if let Some(conditions) = body["status"]["conditions"].as_array_mut() {
            for condition in conditions {
                condition["lastTransitionTime"] = json!(wharf_apiserver::now_rfc3339());
            }
        }
        match client
            .patch(plugins, None, &name, &Patch::Merge(body), true)
            .await
        {
            Ok(_) => {
                written.insert(name, status);
            }
            Err(error) => tracing::debug!(plugin = %name, %error, "plugin status not written"),
        }
    }
}

/// The status a scheduler Plugin shows.
fn status_of(state: &PolicyState) -> Value {
    let stats = &state.stats;
    let calls = stats.calls.load(Ordering::Relaxed);
    let errors = stats.errors.load(Ordering::Relaxed);
    let last_error = stats.last_error.lock().expect("stats").clone();
    let phase = match (state.phase, &last_error) {
        ("Loaded", Some(_)) => "Degraded",
        (phase, _) => phase,
    };
    let (ready, reason, message) = match (state.phase, &last_error) {
        ("Loaded", None) => ("True", "Loaded".to_string(), String::new()),
        ("Loaded", Some((reason, message))) => ("True", reason.clone(), message.clone()),
        (phase, _) => ("False", phase.to_string(), state.message.clone()),
    };
    let mut status = json!({
        "phase": phase,
        "calls": calls,
        "errors": errors,
        "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": message}],
    });
    if !state.digest.is_empty() {
        status["loadedDigest"] = json!(state.digest);
        status["latency"] = json!(format!("{}µs", stats.mean().as_micros()));
    }
    let last = last_error
        .map(|(_, m)| m)
        .or_else(|| (!state.message.is_empty()).then(|| state.message.clone()));
    if let Some(message) = last {
        status["lastError"] = json!(message);
    }
    status
}
