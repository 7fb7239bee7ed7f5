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

use wasmtime::Store;
use wasmtime::component::{HasSelf, InstancePre, Linker};

use crate::error::PluginError;
use crate::limits::Limits;
use crate::world::{Instance, Module, Sandbox, World};

pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "controller",
    });
}

pub use bindings::exports::wharf::plugin::reconciler::Outcome;
use bindings::exports::wharf::plugin::reconciler::Registration as WitRegistration;
pub use bindings::wharf::plugin::cluster::{ListOptions, PatchType};
pub use bindings::wharf::plugin::discovery::ServedKind;
pub use bindings::wharf::plugin::events::{Event, EventType};
pub use bindings::wharf::plugin::log::Level;
pub use bindings::wharf::plugin::types::{ApiError, Kind, ObjectRef};
pub use bindings::wharf::plugin::watches::Wakes;

/// What a controller plugin's imports do, implemented by the controller
/// manager for each plugin. Every method runs on the calling worker thread.
pub trait ControllerHost: Send + Sync + 'static {
    /// Whether the plugin may do `verb` on `resource` (a plural, or
    /// `plural/subresource`) of `group` in `namespace`, for what the host
    /// does on the plugin's behalf outside these calls (an admission
    /// plugin's status updates). Hosts without a cluster allow nothing.
    fn allowed(&self, group: &str, resource: &str, verb: &str, namespace: Option<&str>) -> bool {
        let _ = (group, resource, verb, namespace);
        false
    }
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
    /// Every kind the API server stores (the `discovery` import); hosts
    /// without a cluster serve none.
    fn served_kinds(&self) -> Vec<ServedKind> {
        Vec::new()
    }
    /// Replaces an object through `subresource` (the `subresources` import).
    fn update_subresource(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        subresource: &str,
        object: &str,
    ) -> Result<String, ApiError> {
        let _ = (kind, namespace, object);
        Err(ApiError::Forbidden(format!(
            "this host writes no {subresource} subresource"
        )))
    }
    /// Whether the plugin has been stopped (deleted or replaced): its
    /// calls in flight are interrupted within an epoch tick.
    fn stopped(&self) -> bool {
        false
    }
}

/// What a controller registered: the kinds of its `init`'s registration and
/// the further watches it asked for through the `watches` import.
#[derive(Clone, Debug)]
pub struct Registration {
    /// Events on objects of this kind enqueue their own key.
    pub primary: Kind,
    /// Events on these kinds enqueue their controlling owner of the primary
    /// kind, directly or through a controlling owner of another owned kind.
    pub owns: Vec<Kind>,
    /// Cached kinds whose events enqueue nothing.
    pub reads: Vec<Kind>,
    /// Every primary key is reconciled again this often; 0 turns it off.
    pub resync_seconds: u32,
    pub watches: Vec<Watch>,
}

/// One watch a controller asked for: events on `kind` wake what `wakes` picks.
#[derive(Clone, Debug)]
pub struct Watch {
    pub kind: Kind,
    pub wakes: Wakes,
}

impl Registration {
    fn from_wit(registration: WitRegistration, watches: Vec<Watch>) -> Self {
        Registration {
            primary: registration.primary,
            owns: registration.owns,
            reads: registration.reads,
            resync_seconds: registration.resync_seconds,
            watches,
        }
    }

    /// Every kind the controller's informers must cache.
    pub fn kinds(&self) -> impl Iterator<Item = &Kind> {
        std::iter::once(&self.primary)
            .chain(&self.owns)
            .chain(&self.reads)
            .chain(self.watches.iter().map(|watch| &watch.kind))
    }
}

/// The `controller` world.
pub struct ControllerWorld;

impl World for ControllerWorld {
    const NAME: &'static str = "controller";
    type Pre = bindings::ControllerPre<Sandbox>;
    type Bindings = bindings::Controller;

    fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
        bindings::Controller::add_to_linker::<_, HasSelf<Sandbox>>(linker, |sandbox| sandbox)
    }

    fn prepare(pre: InstancePre<Sandbox>) -> wasmtime::Result<Self::Pre> {
        bindings::ControllerPre::new(pre)
    }

    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<Self::Bindings> {
        pre.instantiate(store)
    }
}

/// A compiled controller plugin, linked and ready to instantiate.
pub type ControllerModule = Module<ControllerWorld>;

/// One live controller instance. Not shareable: a worker owns it.
pub type ControllerInstance = Instance<ControllerWorld>;

impl Instance<ControllerWorld> {
    /// Calls `init` with the plugin's config (JSON); the watches it asks
    /// for meanwhile join its registration.
    pub fn init(&mut self, config: &str) -> Result<Registration, PluginError> {
        self.sandbox_mut().watches = Some(Vec::new());
        let result = self
            .call(|bindings, store| bindings.wharf_plugin_reconciler().call_init(store, config));
        let watches = self.sandbox_mut().watches.take().unwrap_or_default();
        let registration = result?.map_err(PluginError::Failed)?;
        Ok(Registration::from_wit(registration, watches))
    }

    /// Calls `reconcile` for one key; returns the outcome and the call's time.
    pub fn reconcile(
        &mut self,
        namespace: Option<&str>,
        name: &str,
    ) -> (Result<Outcome, PluginError>, Duration) {
        let started = Instant::now();
        let result = self.call(|bindings, store| {
            bindings
                .wharf_plugin_reconciler()
                .call_reconcile(store, namespace, name)
        });
        let elapsed = started.elapsed();
        (result.and_then(|r| r.map_err(PluginError::Failed)), elapsed)
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

    /// How a WebAssembly module loaded (none for a native library).
    pub fn times(&self) -> Option<Arc<crate::world::LoadTimes>> {
        match self {
            ModuleKind::Wasm(module) => Some(module.times()),
            ModuleKind::Native(_) => None,
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
    /// Whether the instance should be replaced after this call (see
    /// [`Instance::worn_out`]; native instances never are).
    pub fn worn_out(&self) -> bool {
        match self {
            InstanceKind::Wasm(instance) => instance.worn_out(),
            InstanceKind::Native(_) => false,
        }
    }

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
