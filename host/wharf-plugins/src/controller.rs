//! The `controller` world on the host side: a compiled controller plugin,
//! and instances of it that reconcile under a deadline and a memory limit.
//!
//! The plugin's imports (cluster, log, state, clock, events) are forwarded to
//! a [`ControllerHost`], which the controller manager implements: it serves
//! reads from its caches and checks every write against the plugin's
//! permissions. WASI is linked with an empty context: no files, no sockets,
//! no environment, no arguments.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Store, StoreLimits, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::engine::{EPOCH_TICK, Runtime};
use crate::error::PluginError;
use crate::limits::Limits;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "controller",
    });
}

pub use bindings::exports::wharf::plugin::reconciler::{Outcome, Registration};
pub use bindings::wharf::plugin::cluster::{ListOptions, PatchType};
pub use bindings::wharf::plugin::events::{Event, EventType};
pub use bindings::wharf::plugin::log::Level;
pub use bindings::wharf::plugin::types::{ApiError, Kind, ObjectRef};

/// What a controller plugin's imports do, implemented by the controller
/// manager for each plugin. Every method runs on the calling worker thread.
pub trait ControllerHost: Send + Sync + 'static {
    fn get(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<String>, ApiError>;
    fn list(&self, kind: &Kind, options: &ListOptions) -> Result<Vec<String>, ApiError>;
    fn create(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        object: &str,
    ) -> Result<String, ApiError>;
    /// Creates several objects; by default one after another.
    fn create_all(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        objects: &[String],
    ) -> Vec<Result<String, ApiError>> {
        objects
            .iter()
            .map(|object| self.create(kind, namespace, object))
            .collect()
    }
    fn update(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        object: &str,
        status: bool,
    ) -> Result<String, ApiError>;
    fn patch(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        patch_type: PatchType,
        patch: &str,
        status: bool,
    ) -> Result<String, ApiError>;
    fn delete(&self, kind: &Kind, namespace: Option<&str>, name: &str) -> Result<(), ApiError>;
    fn log(&self, level: Level, message: &str);
    fn state_get(&self, key: &str) -> Option<Vec<u8>>;
    fn state_set(&self, key: &str, value: &[u8]);
    fn state_delete(&self, key: &str);
    fn emit(&self, event: Event);
}

/// What each store of a controller instance holds.
struct InstanceState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    host: Arc<dyn ControllerHost>,
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl bindings::wharf::plugin::types::Host for InstanceState {}

impl bindings::wharf::plugin::cluster::Host for InstanceState {
    fn get(
        &mut self,
        kind: Kind,
        namespace: Option<String>,
        name: String,
    ) -> Result<Option<String>, ApiError> {
        self.host.get(&kind, namespace.as_deref(), &name)
    }
    fn list(&mut self, kind: Kind, options: ListOptions) -> Result<Vec<String>, ApiError> {
        self.host.list(&kind, &options)
    }
    fn create(
        &mut self,
        kind: Kind,
        namespace: Option<String>,
        object: String,
    ) -> Result<String, ApiError> {
        self.host.create(&kind, namespace.as_deref(), &object)
    }
    fn create_all(
        &mut self,
        kind: Kind,
        namespace: Option<String>,
        objects: Vec<String>,
    ) -> Vec<Result<String, ApiError>> {
        self.host.create_all(&kind, namespace.as_deref(), &objects)
    }
    fn update(
        &mut self,
        kind: Kind,
        namespace: Option<String>,
        object: String,
    ) -> Result<String, ApiError> {
        self.host
            .update(&kind, namespace.as_deref(), &object, false)
    }
    fn update_status(
        &mut self,
        kind: Kind,
        namespace: Option<String>,
        object: String,
    ) -> Result<String, ApiError> {
        self.host.update(&kind, namespace.as_deref(), &object, true)
    }
    fn patch(
        &mut self,
        kind: Kind,
        namespace: Option<String>,
        name: String,
        patch_type: PatchType,
        patch: String,
        status: bool,
    ) -> Result<String, ApiError> {
        self.host.patch(
            &kind,
            namespace.as_deref(),
            &name,
            patch_type,
            &patch,
            status,
        )
    }
    fn delete(
        &mut self,
        kind: Kind,
        namespace: Option<String>,
        name: String,
    ) -> Result<(), ApiError> {
        self.host.delete(&kind, namespace.as_deref(), &name)
    }
}

impl bindings::wharf::plugin::log::Host for InstanceState {
    fn log(&mut self, level: Level, message: String) {
        self.host.log(level, &message);
    }
}

impl bindings::wharf::plugin::state::Host for InstanceState {
    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        self.host.state_get(&key)
    }
    fn set(&mut self, key: String, value: Vec<u8>) {
        self.host.state_set(&key, &value);
    }
    fn delete(&mut self, key: String) {
        self.host.state_delete(&key);
    }
}

impl bindings::wharf::plugin::clock::Host for InstanceState {
    fn now_millis(&mut self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

impl bindings::wharf::plugin::events::Host for InstanceState {
    fn emit(&mut self, event: Event) {
        self.host.emit(event);
    }
}

/// A compiled controller plugin, linked and ready to instantiate.
pub struct ControllerModule {
    pre: bindings::ControllerPre<InstanceState>,
    runtime: Arc<Runtime>,
    digest: String,
}

impl ControllerModule {
    /// Compiles (or loads from the cache) and links a controller component.
    pub fn load(runtime: &Arc<Runtime>, bytes: &[u8]) -> Result<Self, PluginError> {
        let (component, digest) = runtime.compile(bytes)?;
        Self::link(runtime, component, digest)
    }

    fn link(
        runtime: &Arc<Runtime>,
        component: Component,
        digest: String,
    ) -> Result<Self, PluginError> {
        let link_error = |e: wasmtime::Error| PluginError::Link {
            world: "controller",
            reason: format!("{e:#}"),
        };
        let mut linker: Linker<InstanceState> = Linker::new(runtime.engine());
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(link_error)?;
        bindings::Controller::add_to_linker::<_, HasSelf<InstanceState>>(&mut linker, |state| {
            state
        })
        .map_err(link_error)?;
        let pre = linker.instantiate_pre(&component).map_err(link_error)?;
        let pre = bindings::ControllerPre::new(pre).map_err(link_error)?;
        Ok(Self {
            pre,
            runtime: runtime.clone(),
            digest,
        })
    }

    /// The module's content digest, `sha256:<hex>`.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// A fresh instance with its own store, memory limit and host.
    pub fn instantiate(
        &self,
        host: Arc<dyn ControllerHost>,
        limits: &Limits,
    ) -> Result<ControllerInstance, PluginError> {
        let state = InstanceState {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: crate::limits::store_limits(limits),
            host,
        };
        let mut store = Store::new(self.runtime.engine(), state);
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(ticks(limits.call_deadline));
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| classify(e, limits))?;
        Ok(ControllerInstance {
            store,
            bindings,
            limits: limits.clone(),
        })
    }
}

pub(crate) fn ticks(deadline: Duration) -> u64 {
    (deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}

/// Turns a wasmtime error from a call into the runtime's error.
pub(crate) fn classify(error: wasmtime::Error, limits: &Limits) -> PluginError {
    let text = format!("{error:#}");
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => PluginError::Timeout(limits.call_deadline),
        Some(Trap::AllocationTooLarge) => PluginError::OutOfMemory(text),
        Some(_) if text.contains("memory") && text.contains("grow") => {
            PluginError::OutOfMemory(text)
        }
        Some(_) => PluginError::Trap(text),
        None if text.contains("forcing trap when growing memory")
            || text.contains("memory minimum size") =>
        {
            PluginError::OutOfMemory(text)
        }
        None => PluginError::Trap(text),
    }
}

/// One live controller instance. Not shareable: a worker owns it.
pub struct ControllerInstance {
    store: Store<InstanceState>,
    bindings: bindings::Controller,
    limits: Limits,
}

impl ControllerInstance {
    /// Calls `init` with the plugin's config (JSON).
    pub fn init(&mut self, config: &str) -> Result<Registration, PluginError> {
        self.store
            .set_epoch_deadline(ticks(self.limits.call_deadline));
        match self
            .bindings
            .wharf_plugin_reconciler()
            .call_init(&mut self.store, config)
        {
            Ok(Ok(registration)) => Ok(registration),
            Ok(Err(message)) => Err(PluginError::Failed(message)),
            Err(error) => Err(classify(error, &self.limits)),
        }
    }

    /// Calls `reconcile` for one key; returns the outcome and the call's time.
    pub fn reconcile(
        &mut self,
        namespace: Option<&str>,
        name: &str,
    ) -> (Result<Outcome, PluginError>, Duration) {
        self.store
            .set_epoch_deadline(ticks(self.limits.call_deadline));
        let started = Instant::now();
        let result = self.bindings.wharf_plugin_reconciler().call_reconcile(
            &mut self.store,
            namespace,
            name,
        );
        let elapsed = started.elapsed();
        let outcome = match result {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(message)) => Err(PluginError::Failed(message)),
            Err(error) => Err(classify(error, &self.limits)),
        };
        (outcome, elapsed)
    }
}

/// A controller module of either kind: a WebAssembly component (sandboxed)
/// or a native library (trusted: see [`crate::native`]). The controller
/// manager runs both the same way.
#[derive(Clone)]
pub enum ModuleKind {
    Wasm(Arc<ControllerModule>),
    Native(Arc<crate::native::NativeControllerModule>),
}

impl ModuleKind {
    /// The module's content digest, `sha256:<hex>`.
    pub fn digest(&self) -> &str {
        match self {
            ModuleKind::Wasm(module) => module.digest(),
            ModuleKind::Native(module) => module.digest(),
        }
    }

    /// A fresh instance with its own host.
    pub fn instantiate(
        &self,
        host: Arc<dyn ControllerHost>,
        limits: &Limits,
    ) -> Result<InstanceKind, PluginError> {
        Ok(match self {
            ModuleKind::Wasm(module) => InstanceKind::Wasm(module.instantiate(host, limits)?),
            ModuleKind::Native(module) => InstanceKind::Native(module.instantiate(host, limits)?),
        })
    }
}

impl From<Arc<ControllerModule>> for ModuleKind {
    fn from(module: Arc<ControllerModule>) -> Self {
        ModuleKind::Wasm(module)
    }
}

impl From<Arc<crate::native::NativeControllerModule>> for ModuleKind {
    fn from(module: Arc<crate::native::NativeControllerModule>) -> Self {
        ModuleKind::Native(module)
    }
}

/// An instance of a [`ModuleKind`], with the same calls for both kinds.
pub enum InstanceKind {
    Wasm(ControllerInstance),
    Native(crate::native::NativeControllerInstance),
}

impl InstanceKind {
    /// Calls `init` with the plugin's config (JSON).
    pub fn init(&mut self, config: &str) -> Result<Registration, PluginError> {
        match self {
            InstanceKind::Wasm(instance) => instance.init(config),
            InstanceKind::Native(instance) => instance.init(config),
        }
    }

    /// Calls `reconcile` for one key; returns the outcome and the call's time.
    pub fn reconcile(
        &mut self,
        namespace: Option<&str>,
        name: &str,
    ) -> (Result<Outcome, PluginError>, Duration) {
        match self {
            InstanceKind::Wasm(instance) => instance.reconcile(namespace, name),
            InstanceKind::Native(instance) => instance.reconcile(namespace, name),
        }
    }
}
