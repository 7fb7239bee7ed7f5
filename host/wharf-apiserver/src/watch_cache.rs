//! The watch cache: one store watch over every object, decoded once, fanned
//! out to every client watch.
//!
//! It keeps the most recent events (up to its bounds, in events and in
//! bytes; at start, those the store still holds) so that a client can resume from a resourceVersion,
//! across a restart too; older positions get 410 Gone and re-list, as with
//! Kubernetes' watch cache. Each client watch is a task that reads
//! the events after its position, filters them, and sends them on.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use wharf_client::{CachedEvent, Delivery, WatchType};
use wharf_store::{EventKind, Store};

use crate::error::{ApiError, ApiResult};
use crate::objects::{decode_stored, set_resource_version};
use crate::resources::{Registry, ResourceDef};
use crate::selectors::{FieldSelector, LabelSelector};

/// The store prefix every object lives under.
pub const ROOT: &str = "/registry/";

/// How much the watch cache keeps.
#[derive(Clone, Copy, Debug)]
pub struct CacheBounds {
    pub events: usize,
    /// By [`CachedEvent::size`].
    pub bytes: usize,
}

impl Default for CacheBounds {
    /// 100,000 events, as kube's default watch cache for a busy resource,
    /// and 256 MiB: what fits beside everything else on a 2 GiB machine.
    fn default() -> Self {
        Self {
            events: 100_000,
            bytes: 256 << 20,
        }
    }
}

struct CacheState {
    /// Every event after this revision is in `events` (none are missing).
    start: i64,
    events: VecDeque<Arc<CachedEvent>>,
    /// What `events` holds, by [`CachedEvent::size`].
    bytes: usize,
}

impl CacheState {
    /// Drops the oldest events beyond `bounds` (the newest stays).
    fn trim(&mut self, bounds: CacheBounds) {
        while self.events.len() > 1
            && (self.events.len() > bounds.events || self.bytes > bounds.bytes)
        {
            if let Some(dropped) = self.events.pop_front() {
                self.start = dropped.revision;
                self.bytes -= dropped.size();
            }
        }
    }
}

/// Recent events of every kind, and a signal when more arrive.
pub struct WatchCache {
    state: RwLock<CacheState>,
    latest: watch::Sender<i64>,
    bounds: CacheBounds,
    /// Bumped by every change of an RBAC object (the authorizer rebuilds
    /// its index when it moved).
    rbac_generation: std::sync::atomic::AtomicU64,
    /// Dropped with the cache: its feeder stops and lets go of the store.
    _feeding: tokio::sync::oneshot::Sender<()>,
}

/// What a client watch asks for.
pub struct WatchFilter {
    pub resource: Arc<ResourceDef>,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// Send [`Delivery::Progress`] whenever the watcher catches up.
    pub progress: bool,
}

impl WatchFilter {
    fn prefix(&self) -> String {
        self.resource.list_prefix(self.namespace.as_deref())
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }
}

impl WatchCache {
    /// Starts the cache at the store's current revision and its feeder task.
    pub async fn start(
        store: Arc<dyn Store>,
        registry: Arc<Registry>,
        bounds: CacheBounds,
    ) -> ApiResult<Arc<Self>> {
        let revision = store.current_revision().await?;
        // The kinds stored CustomResourceDefinitions define, served before
        // anything is read.
        crate::crds::register_stored(store.as_ref(), &registry, revision).await?;
        let (latest, _) = watch::channel(revision);
        let (feeding, dropped) = tokio::sync::oneshot::channel();
        let cache = Arc::new(Self {
            state: RwLock::new(CacheState {
                start: revision,
                events: VecDeque::new(),
                bytes: 0,
            }),
            latest,
            bounds: CacheBounds {
                events: bounds.events.max(16),
                bytes: bounds.bytes,
            },
            rbac_generation: Default::default(),
            _feeding: feeding,
        });
        cache.prime(store.as_ref(), &registry, revision).await;
        let feeder = Arc::downgrade(&cache);
        tokio::spawn(async move {
            tokio::select! {
                () = feed(feeder, store, registry, revision) => {}
                _ = dropped => {}
            }
        });
        Ok(cache)
    }

    /// Fills the cache with the history the store still holds up to
    /// `revision` (as much as fits), so that a client that watched before
    /// a restart resumes where it was instead of getting 410 Gone and
    /// listing everything again. A store that kept less (compacted, or
    /// an embedded store's shorter in-memory history) fills it with what
    /// a shorter window finds; none at all leaves it empty.
    async fn prime(&self, store: &dyn Store, registry: &Registry, revision: i64) {
        for window in [self.bounds.events as i64, 20_000, 1_000] {
            let from = (revision - window).max(0);
            if from >= revision {
                return;
            }
            // Every key: the last revisions may be writes outside the
            // registry (plugin modules), which must be seen to end.
            let Ok(mut stream) = store.watch("/", from).await else {
                continue;
            };
            let mut primed = CacheState {
                start: from,
                events: VecDeque::new(),
                bytes: 0,
            };
            let mut reached = false;
            while let Ok(Some(Ok(event))) =
                tokio::time::timeout(Duration::from_secs(5), stream.next()).await
            {
                let at = event.revision();
                if let Some(resource) = resource_of_key(registry, &event.kv.key)
                    && let Ok(cached) = decode_event(&resource, &event)
                {
                    primed.bytes += cached.size();
                    primed.events.push_back(Arc::new(cached));
                    primed.trim(self.bounds);
                }
                if at >= revision {
                    reached = true;
                    break;
                }
            }
            if !reached {
                // Some of it did not come: a gap would lose events.
                tracing::warn!(
                    from,
                    revision,
                    "watch cache: the store's history did not come whole; starting empty"
                );
                return;
            }
            *self.state.write().expect("watch cache lock") = primed;
            return;
        }
    }

    /// What the cache holds: events, and bytes by [`CachedEvent::size`].
    pub fn held(&self) -> (usize, usize) {
        let state = self.state.read().expect("watch cache lock");
        (state.events.len(), state.bytes)
    }

    /// How many changes of RBAC objects the cache has seen.
    pub fn rbac_generation(&self) -> u64 {
        self.rbac_generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// The newest revision the cache has seen.
    pub fn latest_revision(&self) -> i64 {
        *self.latest.borrow()
    }

    /// Waits (up to `timeout`) until the cache has seen `revision`.
    pub async fn wait_for(&self, revision: i64, timeout: Duration) -> bool {
        let mut latest = self.latest.subscribe();
        tokio::time::timeout(timeout, latest.wait_for(|seen| *seen >= revision))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn push(&self, event: CachedEvent) {
        let revision = event.revision;
        {
            let mut state = self.state.write().expect("watch cache lock");
            state.bytes += event.size();
            state.events.push_back(Arc::new(event));
            state.trim(self.bounds);
        }
        self.latest.send_replace(revision);
    }

    /// Forgets everything: the feeder lost its place and restarts at `revision`.
    fn reset(&self, revision: i64) {
        let mut state = self.state.write().expect("watch cache lock");
        state.events.clear();
        state.bytes = 0;
        state.start = revision;
        drop(state);
        self.latest.send_replace(revision);
    }

    /// Serves one client watch from `after` (exclusive) into `sender` until
    /// the client goes away or `deadline` passes.
    pub fn spawn_watcher(
        self: &Arc<Self>,
        filter: WatchFilter,
        after: i64,
        sender: mpsc::Sender<Delivery>,
        deadline: tokio::time::Instant,
    ) {
        let cache = self.clone();
        tokio::spawn(async move {
            let run = cache.serve(filter, after, &sender);
            if let Ok(Some(error)) = tokio::time::timeout_at(deadline, run).await {
                let _ = sender.send(Delivery::Error(error)).await;
            }
        });
    }

    /// Returns the error that ended the watch, or `None` when the client left.
    async fn serve(
        &self,
        filter: WatchFilter,
        mut after: i64,
        sender: &mpsc::Sender<Delivery>,
    ) -> Option<ApiError> {
        let prefix = filter.prefix();
        let mut latest = self.latest.subscribe();
        let mut reported = i64::MIN;
        loop {
            latest.borrow_and_update();
            let batch = {
                let state = self.state.read().expect("watch cache lock");
                if after < state.start {
                    return Some(ApiError::Gone(format!(
                        "too old resource version: {after} ({})",
                        state.start
                    )));
                }
                let from = state.events.partition_point(|e| e.revision <= after);
                state
                    .events
                    .range(from..)
                    .take(512)
                    .cloned()
                    .collect::<Vec<_>>()
            };
            let caught_up = batch.len() < 512;
            for event in batch {
                after = event.revision;
                if !event.key.starts_with(&prefix) {
                    continue;
                }
                if let Some(kind) = transition(&filter, &event)
                    && sender.send(Delivery::Event(kind, event)).await.is_err()
                {
                    return None;
                }
            }
            if caught_up {
                if filter.progress && after > reported {
                    reported = after;
                    if sender.send(Delivery::Progress(after)).await.is_err() {
                        return None;
                    }
                }
                tokio::select! {
                    changed = latest.changed() => if changed.is_err() { return Some(ApiError::Internal("the watch cache stopped".into())) },
                    () = sender.closed() => return None,
                }
            }
        }
    }
}

/// What a client with `filter` sees of `event`: objects entering the
/// selection are ADDED, leaving it DELETED, as in Kubernetes.
fn transition(filter: &WatchFilter, event: &CachedEvent) -> Option<WatchType> {
    let was = event.previous.as_deref().is_some_and(|p| filter.matches(p));
    if event.deleted {
        return was.then_some(WatchType::Deleted);
    }
    match (was, filter.matches(&event.object)) {
        (false, true) => Some(WatchType::Added),
        (true, true) => Some(WatchType::Modified),
        (true, false) => Some(WatchType::Deleted),
        (false, false) => None,
    }
}

/// The kind a store key belongs to: `/registry/{group}/{plural}/…`.
fn resource_of_key(registry: &Registry, key: &str) -> Option<Arc<ResourceDef>> {
    let rest = key.strip_prefix(ROOT)?;
    let mut parts = rest.splitn(3, '/');
    let group = parts.next()?;
    let plural = parts.next()?;
    let group = if group == "core" { "" } else { group };
    registry.stored_as(group, plural)
}

/// Feeds the cache from one store watch, restarting it if it fails.
async fn feed(
    cache: std::sync::Weak<WatchCache>,
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    mut after: i64,
) {
    loop {
        let mut stream = match store.watch(ROOT, after).await {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, after, "watch cache: store watch failed; restarting at the current revision");
                tokio::time::sleep(Duration::from_millis(200)).await;
                let Some(cache) = cache.upgrade() else { return };
                after = store.current_revision().await.unwrap_or(after);
                cache.reset(after);
                continue;
            }
        };
        loop {
            let next = stream.next().await;
            let Some(cache) = cache.upgrade() else { return };
            match next {
                Some(Ok(event)) => {
                    after = event.revision();
                    let Some(resource) = resource_of_key(&registry, &event.kv.key) else {
                        continue;
                    };
                    // A CustomResourceDefinition's kinds are served
                    // from its event on: the events of their objects,
                    // which come after it, find them.
                    if crate::crds::defines_kinds(&resource) {
                        crate::crds::follow(&registry, &event);
                    }
                    // RBAC objects and Plugins (whose permissions are
                    // rules of their own user) change what is allowed.
                    if resource.group == "rbac.authorization.k8s.io"
                        || (resource.group == "wharf.dev" && resource.kind == "Plugin")
                    {
                        cache
                            .rbac_generation
                            .fetch_add(1, std::sync::atomic::Ordering::Release);
                    }
                    match decode_event(&resource, &event) {
                        Ok(cached) => cache.push(cached),
                        Err(error) => {
                            tracing::warn!(%error, key = %event.kv.key, "watch cache: undecodable object")
                        }
                    }
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "watch cache: store watch ended; resuming");
                    break;
                }
                None => return,
            }
        }
    }
}

fn decode_event(
    resource: &Arc<ResourceDef>,
    event: &wharf_store::WatchEvent,
) -> ApiResult<CachedEvent> {
    let previous = event
        .previous
        .as_ref()
        .map(|p| decode_stored(resource, &p.value, p.mod_revision))
        .transpose()?;
    let object = match event.kind {
        EventKind::Put => decode_stored(resource, &event.kv.value, event.kv.mod_revision)?,
        EventKind::Delete => {
            let mut last = previous
                .clone()
                .ok_or_else(|| ApiError::Internal("delete event without the object".into()))?;
            set_resource_version(&mut last, event.revision());
            last
        }
    };
    let object_json = Bytes::from(wharf_protobuf::to_json(&object));
    Ok(CachedEvent {
        revision: event.revision(),
        resource: resource.clone(),
        key: event.kv.key.clone(),
        deleted: event.kind == EventKind::Delete,
        object: Arc::new(object),
        previous: previous.map(Arc::new),
        object_json,
    })
}
