//! The admission chain: the current set of admission plugins, as the API
//! server calls them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use wharf_apiserver::admission::warn;
use wharf_apiserver::{AdmissionChain, Attributes, Operation, StatusUpdate};
use wharf_client::{ApiError, ApiResult, LabelSelector};
use wharf_controller_manager::informer::{Informers, Overlay};
use wharf_plugins::admission::{
    AdmissionInstance, AdmissionModule, Decision, Registration, Request, UserInfo,
};
use wharf_plugins::controller::{ControllerHost, Kind};
use wharf_plugins::{Limits, PluginError, PluginStats};

/// What happens to a write when its plugin fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailurePolicy {
    /// The write is refused (the default).
    Fail,
    /// The write goes on as if the plugin had allowed it.
    Ignore,
}

/// One admission plugin in the chain.
pub struct ActivePlugin {
    pub name: String,
    pub registration: Registration,
    pub order: i64,
    pub failure_policy: FailurePolicy,
    pub namespace_selector: LabelSelector,
    pub object_selector: LabelSelector,
    pub module: Arc<AdmissionModule>,
    pub host: Arc<dyn ControllerHost>,
    pub limits: Limits,
    pub config: String,
    pub stats: Arc<PluginStats>,
    /// Its instances: a review takes an idle one (or makes one, up to the
    /// pool's size, else waits) and gives it back unless its call poisoned
    /// it.
    pub pool: Pool,
}

/// A plugin's instances, at most `size` of them at once.
pub struct Pool {
    state: Mutex<PoolState>,
    freed: Condvar,
    size: usize,
}

struct PoolState {
    idle: Vec<AdmissionInstance>,
    /// Instances that exist: idle or in a call.
    live: usize,
}

impl Pool {
    /// A pool of at most `size` instances, holding `first`.
    pub fn new(first: AdmissionInstance, size: usize) -> Self {
        Self {
            state: Mutex::new(PoolState {
                idle: vec![first],
                live: 1,
            }),
            freed: Condvar::new(),
            size: size.max(1),
        }
    }

    /// An idle instance, or `None` when the caller may make a new one
    /// (counted as live already: it must [`give_back`](Self::give_back) or
    /// [`discard`](Self::discard) it). Waits while all `size` are busy.
    fn take(&self) -> Option<AdmissionInstance> {
        let mut state = self.state.lock().expect("pool");
        loop {
            if let Some(instance) = state.idle.pop() {
                return Some(instance);
            }
            if state.live < self.size {
                state.live += 1;
                return None;
            }
            state = self.freed.wait(state).expect("pool");
        }
    }

    fn give_back(&self, instance: AdmissionInstance) {
        self.state.lock().expect("pool").idle.push(instance);
        self.freed.notify_one();
    }

    /// An instance that is gone (poisoned, or never made).
    fn discard(&self) {
        self.state.lock().expect("pool").live -= 1;
        self.freed.notify_one();
    }
}

impl ActivePlugin {
    fn reviews(&self, group: &str, kind: &str, operation: Operation) -> bool {
        self.registration
            .kinds
            .iter()
            .any(|k| (k.group == group || k.group == "*") && (k.kind == kind || k.kind == "*"))
            && self
                .registration
                .operations
                .iter()
                .any(|o| o == operation.as_str() || o == "*")
    }

    /// One review on an instance of the pool.
    fn call(&self, request: &Request) -> Result<wharf_plugins::admission::Response, PluginError> {
        let mut instance = match self.pool.take() {
            Some(instance) => instance,
            None => match self
                .module
                .start(self.host.clone(), &self.limits, &self.config)
            {
                Ok((instance, _)) => instance,
                Err(error) => {
                    self.pool.discard();
                    return Err(error);
                }
            },
        };
        let started = Instant::now();
        let result = instance.review(request);
        self.stats.record(started.elapsed(), result.as_ref().err());
        if result.as_ref().is_err_and(PluginError::poisons_instance) || instance.worn_out() {
            self.pool.discard();
        } else {
            self.pool.give_back(instance);
        }
        result
    }
}

/// The plugins in calling order: mutating ones first, then validating
/// ones, each by `order` and then name.
#[derive(Default)]
struct Snapshot {
    plugins: Vec<Arc<ActivePlugin>>,
    /// `group/kind` of everything some plugin reviews (`*` for all kinds).
    kinds: HashSet<String>,
}

/// How long a review waits for the host's cache to show a status update
/// stored with an earlier write (then it reads what the cache has: the
/// store's revision check still catches a stale read).
const FRESHNESS_WAIT: Duration = Duration::from_secs(1);

/// The admission plugins the API server calls.
pub struct Chain {
    current: RwLock<Arc<Snapshot>>,
    informers: Arc<Informers>,
    /// By `group/kind/namespace/name`: the version of an object a status
    /// update lost to, which the plugins reading the kind must see before
    /// they review again (updates this server stored are written through
    /// to the cache instead).
    fresh: Mutex<HashMap<String, i64>>,
    /// Status updates queued to the store and not stored yet, which the
    /// plugins' reads show ([`AdmissionChain::pending`]).
    overlay: Arc<Overlay>,
}

impl Chain {
    pub fn new(informers: Arc<Informers>) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::default(),
            informers,
            fresh: Mutex::default(),
            overlay: Arc::default(),
        })
    }

    /// What the plugins' hosts show over their caches.
    pub fn overlay(&self) -> Arc<Overlay> {
        self.overlay.clone()
    }

    /// Waits (at most [`FRESHNESS_WAIT`]) until the caches `plugin` reads
    /// from show the versions of the objects status updates were stored
    /// over, so that it charges the usage they recorded rather than what
    /// they replaced.
    fn await_fresh_reads(&self, plugin: &ActivePlugin) {
        for kind in &plugin.registration.reads {
            let prefix = format!("{}/{}/", kind.group, kind.kind);
            let wanted: Vec<(String, i64)> = self
                .fresh
                .lock()
                .expect("fresh")
                .iter()
                .filter_map(|(key, revision)| {
                    Some((key.strip_prefix(&prefix)?.to_owned(), *revision))
                })
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let Ok(informer) = self
                .informers
                .get_or_start(&kind.group, &kind.version, &kind.kind)
            else {
                continue;
            };
            let started = Instant::now();
            for (object, revision) in wanted {
                let (namespace, name) = match object.split_once('/') {
                    Some((namespace, name)) => (Some(namespace).filter(|n| !n.is_empty()), name),
                    None => (None, object.as_str()),
                };
                while !informer.shows(namespace, name, revision)
                    && started.elapsed() < FRESHNESS_WAIT
                {
                    std::thread::sleep(Duration::from_micros(50));
                }
                if informer.shows(namespace, name, revision) {
                    let mut fresh = self.fresh.lock().expect("fresh");
                    let key = format!("{prefix}{object}");
                    if fresh.get(&key) == Some(&revision) {
                        fresh.remove(&key);
                    }
                }
            }
        }
    }

    /// Puts `plugin` in (replacing one of the same name) in one swap.
    pub fn install(&self, plugin: Arc<ActivePlugin>) {
        self.change(|plugins| {
            plugins.retain(|p| p.name != plugin.name);
            plugins.push(plugin);
        });
    }

    /// Takes a plugin out.
    pub fn remove(&self, name: &str) {
        self.change(|plugins| plugins.retain(|p| p.name != name));
    }

    fn change(&self, edit: impl FnOnce(&mut Vec<Arc<ActivePlugin>>)) {
        let mut current = self.current.write().expect("chain");
        let mut plugins = current.plugins.clone();
        edit(&mut plugins);
        plugins.sort_by(|a, b| {
            (!a.registration.mutating, a.order, &a.name).cmp(&(
                !b.registration.mutating,
                b.order,
                &b.name,
            ))
        });
        let kinds = plugins
            .iter()
            .flat_map(|p| p.registration.kinds.iter())
            .map(|k| {
                if k.kind == "*" {
                    "*".to_string()
                } else {
                    format!("{}/{}", k.group, k.kind)
                }
            })
            .collect();
        *current = Arc::new(Snapshot { plugins, kinds });
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().expect("chain").clone()
    }

    /// Whether `plugin`'s selectors take this write.
    fn selected(
        &self,
        plugin: &ActivePlugin,
        attributes: &Attributes<'_>,
        object: Option<&Value>,
    ) -> bool {
        if !plugin.object_selector.is_empty() {
            let labelled = object.or(attributes.old_object).unwrap_or(&Value::Null);
            if !plugin.object_selector.matches(labelled) {
                return false;
            }
        }
        if !plugin.namespace_selector.is_empty() {
            let Some(namespace) = attributes.namespace else {
                return false;
            };
            let object = self
                .informers
                .get_or_start("", "v1", "Namespace")
                .ok()
                .and_then(|informer| informer.get(None, namespace));
            match object {
                Some(object) => return plugin.namespace_selector.matches(&object),
                None => return false,
            }
        }
        true
    }

    /// Runs the plugins of one phase: `Ok(object)` for the mutating one
    /// (the plugins may change it), `Err(object)` for the validating one.
    fn run(
        &self,
        attributes: &Attributes<'_>,
        mut object: Result<&mut Value, Option<&Value>>,
    ) -> ApiResult<Vec<StatusUpdate>> {
        let mutating = object.is_ok();
        let snapshot = self.snapshot();
        let (group, kind) = (attributes.resource.group, attributes.resource.kind);
        // The request is encoded once, and its object again only after a
        // plugin changed it.
        let mut request: Option<Request> = None;
        let mut updates = Vec::new();
        let takes = |plugin: &ActivePlugin, object: Option<&Value>| {
            plugin.registration.mutating == mutating
                && plugin.reviews(group, kind, attributes.operation)
                && self.selected(plugin, attributes, object)
        };
        // Validating plugins review the same object and do not depend on
        // each other: they are called at once (as kube-apiserver calls its
        // validating webhooks), and their answers taken in order.
        let mut answers = std::collections::VecDeque::new();
        let validating: Vec<&Arc<ActivePlugin>> = match mutating {
            true => Vec::new(),
            false => {
                let taken: Vec<_> = snapshot
                    .plugins
                    .iter()
                    .filter(|plugin| takes(plugin, read(&object)))
                    .collect();
                if !taken.is_empty() {
                    for plugin in &taken {
                        self.await_fresh_reads(plugin);
                    }
                    let request = request.insert(request_of(attributes, read(&object)));
                    answers.extend(call_all(&taken, request));
                }
                taken
            }
        };
        let plugins: Box<dyn Iterator<Item = &Arc<ActivePlugin>>> = match mutating {
            true => Box::new(snapshot.plugins.iter()),
            false => Box::new(validating.iter().copied()),
        };
        for plugin in plugins {
            let answer = if mutating {
                if !takes(plugin, read(&object)) {
                    continue;
                }
                let request = request.get_or_insert_with(|| request_of(attributes, read(&object)));
                self.await_fresh_reads(plugin);
                plugin.call(request)
            } else {
                answers.pop_front().expect("one answer per plugin called")
            };
            let response = match answer {
                Ok(response) => response,
                Err(error) => {
                    tracing::warn!(plugin = %plugin.name, %error, "admission plugin failed");
                    match plugin.failure_policy {
                        FailurePolicy::Ignore => continue,
                        FailurePolicy::Fail => {
                            return Err(ApiError::AdmissionFailed {
                                plugin: plugin.name.clone(),
                                message: error.to_string(),
                            });
                        }
                    }
                }
            };
            for warning in response.warnings {
                warn(warning);
            }
            for (key, value) in response.audit_annotations {
                tracing::info!(target: "wharf::audit", plugin = %plugin.name, key, value, operation = attributes.operation.as_str(), kind, name = attributes.name, "admission audit annotation");
            }
            if !response.status_updates.is_empty()
                && !matches!(response.decision, Decision::Deny(_))
            {
                if mutating || attributes.operation == Operation::Delete {
                    self.failed(
                        plugin,
                        "status updates come from validating plugins, with a create or an update"
                            .into(),
                    )?;
                } else if !attributes.dry_run {
                    for update in response.status_updates.iter() {
                        match self.status_update(plugin, update) {
                            Ok(update) => updates.push(update),
                            Err(message) => self.failed(plugin, message)?,
                        }
                    }
                }
            }
            match response.decision {
                Decision::Allow => {}
                Decision::Deny(message) => {
                    return Err(ApiError::Forbidden(format!(
                        "admission plugin \"{}\" denied the request: {message}",
                        plugin.name
                    )));
                }
                Decision::Patch(patch) => {
                    let Ok(target) = object.as_deref_mut() else {
                        self.failed(
                            plugin,
                            "a validating plugin may not change the object".into(),
                        )?;
                        continue;
                    };
                    match apply_patch(target, &patch) {
                        Ok(()) => {
                            if let Some(request) = request.as_mut() {
                                request.object = Some(target.to_string());
                            }
                        }
                        Err(message) => {
                            plugin
                                .stats
                                .record_error(&PluginError::Failed(message.clone()));
                            self.failed(plugin, message)?;
                        }
                    }
                }
            }
        }
        Ok(updates)
    }

    /// A plugin's status update as the API server takes it, if its
    /// permissions allow `update` on the kind's `status`.
    fn status_update(
        &self,
        plugin: &ActivePlugin,
        update: &wharf_plugins::admission::StatusUpdate,
    ) -> Result<StatusUpdate, String> {
        let kind = &update.kind;
        let informer = self
            .informers
            .get_or_start(&kind.group, &kind.version, &kind.kind)
            .map_err(|e| format!("a status update of {} {}: {e}", kind.kind, update.name))?;
        let resource = format!("{}/status", informer.resource.plural);
        if !plugin.host.allowed(
            &kind.group,
            &resource,
            "update",
            update.namespace.as_deref(),
        ) {
            return Err(format!(
                "a status update of {} {}: the plugin may not update \"{resource}\" in API group \"{}\" (its user is not allowed to)",
                kind.kind, update.name, kind.group
            ));
        }
        let resource_version = update.resource_version.parse().map_err(|_| {
            format!(
                "a status update of {}: resourceVersion {:?} is not one",
                update.name, update.resource_version
            )
        })?;
        let status = serde_json::from_str(&update.status).map_err(|e| {
            format!(
                "a status update of {}: its status is not JSON: {e}",
                update.name
            )
        })?;
        Ok(StatusUpdate {
            plugin: plugin.name.clone(),
            group: kind.group.clone(),
            version: kind.version.clone(),
            kind: kind.kind.clone(),
            namespace: update.namespace.clone(),
            name: update.name.clone(),
            resource_version,
            status,
        })
    }

    /// A plugin answered with something the host cannot use.
    fn failed(&self, plugin: &ActivePlugin, message: String) -> ApiResult<()> {
        match plugin.failure_policy {
            FailurePolicy::Ignore => Ok(()),
            FailurePolicy::Fail => Err(ApiError::AdmissionFailed {
                plugin: plugin.name.clone(),
                message,
            }),
        }
    }
}

impl AdmissionChain for Chain {
    fn reviews(&self, resource: &wharf_client::ResourceDef) -> bool {
        let snapshot = self.snapshot();
        !snapshot.kinds.is_empty()
            && (snapshot.kinds.contains("*")
                || snapshot
                    .kinds
                    .contains(&format!("{}/{}", resource.group, resource.kind)))
    }

    fn mutate(&self, attributes: &Attributes<'_>, object: &mut Value) -> ApiResult<()> {
        self.run(attributes, Ok(object)).map(drop)
    }

    fn validate(
        &self,
        attributes: &Attributes<'_>,
        object: Option<&Value>,
    ) -> ApiResult<Vec<StatusUpdate>> {
        self.run(attributes, Err(object))
    }

    fn stored(&self, update: &StatusUpdate, revision: i64, object: Option<&Value>) {
        if let Some(object) = object
            && let Ok(informer) =
                self.informers
                    .get_or_start(&update.group, &update.version, &update.kind)
        {
            // Written through: the next review reads it at once.
            informer.write_through(object.clone());
            return;
        }
        let key = format!(
            "{}/{}/{}/{}",
            update.group,
            update.kind,
            update.namespace.as_deref().unwrap_or_default(),
            update.name
        );
        let mut fresh = self.fresh.lock().expect("fresh");
        let wanted = fresh.entry(key).or_default();
        *wanted = (*wanted).max(revision);
    }

    fn pending(&self, update: &StatusUpdate, object: Option<&Value>) {
        match object {
            Some(object) => self
                .overlay
                .show(&update.group, &update.kind, object.clone()),
            None => self.overlay.hide(
                &update.group,
                &update.kind,
                update.namespace.as_deref(),
                &update.name,
            ),
        }
    }
}

/// Each plugin's answer to `request`, in order: the first on this thread,
/// the others at the same time on the runtime's blocking threads (each
/// under its own deadline, as always).
fn call_all(
    plugins: &[&Arc<ActivePlugin>],
    request: &Request,
) -> Vec<Result<wharf_plugins::admission::Response, PluginError>> {
    let handle = tokio::runtime::Handle::try_current();
    let (first, others) = match (plugins, handle) {
        ([first, others @ ..], Ok(handle)) if !others.is_empty() => {
            let others: Vec<_> = others
                .iter()
                .map(|plugin| {
                    let (plugin, request) = (Arc::clone(plugin), request.clone());
                    let (answer, answered) = std::sync::mpsc::sync_channel(1);
                    handle.spawn_blocking(move || {
                        let _ = answer.send(plugin.call(&request));
                    });
                    answered
                })
                .collect();
            (first, others)
        }
        _ => return plugins.iter().map(|plugin| plugin.call(request)).collect(),
    };
    let mut answers = vec![first.call(request)];
    answers.extend(others.into_iter().map(|answered| {
        answered.recv().unwrap_or_else(|_| {
            Err(PluginError::Trap(
                "the review ended without an answer (the host's thread panicked)".into(),
            ))
        })
    }));
    answers
}

/// The object a phase reviews.
fn read<'a>(object: &'a Result<&mut Value, Option<&Value>>) -> Option<&'a Value> {
    match object {
        Ok(object) => Some(object),
        Err(object) => *object,
    }
}

fn request_of(attributes: &Attributes<'_>, object: Option<&Value>) -> Request {
    let resource = attributes.resource;
    Request {
        uid: uuid::Uuid::new_v4().to_string(),
        operation: attributes.operation.as_str().to_string(),
        kind: Kind {
            group: resource.group.to_string(),
            version: resource.version.to_string(),
            kind: resource.kind.to_string(),
        },
        sub_resource: attributes.subresource.map(str::to_string),
        namespace: attributes.namespace.map(str::to_string),
        name: attributes.name.to_string(),
        object: object.map(Value::to_string),
        old_object: attributes.old_object.map(Value::to_string),
        user: UserInfo {
            username: attributes.user.username.clone(),
            groups: attributes.user.groups.clone(),
        },
        dry_run: attributes.dry_run,
    }
}

/// Applies a plugin's JSON patch; the object is unchanged when it fails.
fn apply_patch(object: &mut Value, patch: &str) -> Result<(), String> {
    let patch: json_patch::Patch = serde_json::from_str(patch)
        .map_err(|e| format!("the plugin's patch is not a JSON patch: {e}"))?;
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch)
        .map_err(|e| format!("the plugin's patch does not apply: {e}"))?;
    *object = patched;
    Ok(())
}
