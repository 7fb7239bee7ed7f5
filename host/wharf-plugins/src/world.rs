//! One abstraction for every world of the `wharf:plugin` package: how a
//! component of that world is linked, instantiated and called in its
//! sandbox. Each world (`controller`, `scheduler`, `admission`…) is a small
//! [`World`] impl over its generated bindings; loading, the store with its
//! memory limit, the per-call deadline and the classification of failures
//! are written once, here.
//!
//! Failures are classified from wasmtime's typed errors and the store's own
//! record, never from message text: [`Trap::Interrupt`] is a deadline, a
//! memory growth the limiter refused during the call is out of memory, any
//! other trap is a trap.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Store, StoreLimits, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::controller::ControllerHost;
use crate::engine::{EPOCH_TICK, Runtime};
use crate::error::PluginError;
use crate::limits::Limits;
use crate::stdio::GuestStdio;

/// A world of the `wharf:plugin` package, as the host serves it.
pub trait World: Sized + Send + Sync + 'static {
    /// The WIT world's name, as errors and statuses say it.
    const NAME: &'static str;
    /// The generated, linked form (`…Pre`), ready to instantiate.
    type Pre: Send + Sync + 'static;
    /// The generated bindings of one instance.
    type Bindings: Send + 'static;

    /// Memory and call deadline when the Plugin spec sets none.
    fn default_limits() -> Limits {
        Limits::default()
    }
    /// Adds the world's own imports (WASI is added for every world).
    fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()>;
    /// Checks the component's exports and keeps the linked form.
    fn prepare(pre: InstancePre<Sandbox>) -> wasmtime::Result<Self::Pre>;
    /// A new instance in `store`.
    fn instantiate(pre: &Self::Pre, store: &mut Store<Sandbox>)
    -> wasmtime::Result<Self::Bindings>;
}

/// What every instance's store holds: an empty WASI context (no files, no
/// sockets, no environment), its memory limiter, and the host its imports
/// call.
pub struct Sandbox {
    wasi: WasiCtx,
    stdio: GuestStdio,
    table: ResourceTable,
    limiter: Limiter,
    pub(crate) host: Arc<dyn ControllerHost>,
    /// Epoch ticks the current call has left before its deadline.
    ticks_left: u64,
    /// The watches a controller asks for, while its `init` runs (`None`
    /// otherwise: the `watches` import refuses).
    pub(crate) watches: Option<Vec<crate::controller::Watch>>,
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The store's resource limits, remembering whether it refused memory
/// during the current call (so that the failure is classified from the
/// store's record rather than the error's text).
struct Limiter {
    limits: StoreLimits,
    memory_refused: bool,
    /// The linear memory the instance has grown to.
    memory_bytes: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum);
        match allowed {
            Ok(true) => self.memory_bytes = self.memory_bytes.max(desired),
            _ => self.memory_refused = true,
        }
        allowed
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// A compiled component of world `W`, linked and ready to instantiate.
pub struct Module<W: World> {
    pre: W::Pre,
    runtime: Arc<Runtime>,
    digest: String,
    times: Arc<LoadTimes>,
}

/// How long a module took to compile (or to read from the compile cache)
/// and its last instance to start, as the Plugin's status shows them.
#[derive(Debug, Default)]
pub struct LoadTimes {
    pub compile: Duration,
    pub from_cache: bool,
    instantiate_nanos: AtomicU64,
}

impl LoadTimes {
    /// How long the last instance took to start.
    pub fn instantiate(&self) -> Duration {
        Duration::from_nanos(self.instantiate_nanos.load(Ordering::Relaxed))
    }
}

impl<W: World> Module<W> {
    /// Compiles (or loads from the cache) and links a component.
    /// A component that does not link is not cached.
    pub fn load(runtime: &Arc<Runtime>, bytes: &[u8]) -> Result<Self, PluginError> {
        let compiled = runtime.compile(bytes)?;
        let times = LoadTimes {
            compile: compiled.took,
            from_cache: compiled.from_cache,
            instantiate_nanos: AtomicU64::new(0),
        };
        let module = Self::link(runtime, &compiled.component, compiled.digest.clone(), times)?;
        runtime.remember(&compiled);
        Ok(module)
    }

    fn link(
        runtime: &Arc<Runtime>,
        component: &Component,
        digest: String,
        times: LoadTimes,
    ) -> Result<Self, PluginError> {
        let link_error = |e: wasmtime::Error| PluginError::Link {
            world: W::NAME,
            reason: format!("{e:#}"),
        };
        let mut linker: Linker<Sandbox> = Linker::new(runtime.engine());
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(link_error)?;
        W::add_to_linker(&mut linker).map_err(link_error)?;
        let pre = linker.instantiate_pre(component).map_err(link_error)?;
        let pre = W::prepare(pre).map_err(link_error)?;
        Ok(Self {
            pre,
            runtime: runtime.clone(),
            digest,
            times: Arc::new(times),
        })
    }

    /// How long the module took to load and its last instance to start.
    pub fn times(&self) -> Arc<LoadTimes> {
        self.times.clone()
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
    ) -> Result<Instance<W>, PluginError> {
        self.runtime.check_limits(limits)?;
        let started = std::time::Instant::now();
        let log_host = host.clone();
        let stdio = GuestStdio::new(Arc::new(move |level, line: &str| log_host.log(level, line)));
        let sandbox = Sandbox {
            wasi: WasiCtx::builder()
                .stdout(stdio.stdout())
                .stderr(stdio.stderr())
                .build(),
            stdio,
            table: ResourceTable::new(),
            limiter: Limiter {
                limits: crate::limits::store_limits(limits),
                memory_refused: false,
                memory_bytes: 0,
            },
            host,
            ticks_left: ticks(limits.call_deadline),
            watches: None,
        };
        let mut store = Store::new(self.runtime.engine(), sandbox);
        store.limiter(|sandbox| &mut sandbox.limiter);
        // Every tick, the call is checked: past its deadline it is
        // interrupted, and so it is when its plugin has been stopped.
        store.epoch_deadline_callback(|mut context| {
            let sandbox = context.data_mut();
            if sandbox.host.stopped() {
                return Err(wasmtime::Error::new(Stopped));
            }
            sandbox.ticks_left = sandbox.ticks_left.saturating_sub(1);
            if sandbox.ticks_left == 0 {
                return Err(Trap::Interrupt.into());
            }
            Ok(wasmtime::UpdateDeadline::Continue(1))
        });
        store.set_epoch_deadline(1);
        let bindings = W::instantiate(&self.pre, &mut store).map_err(|e| {
            let sandbox = store.data();
            classify(e, limits, sandbox.limiter.memory_refused, &sandbox.stdio)
        })?;
        self.times
            .instantiate_nanos
            .store(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(Instance {
            store,
            bindings,
            limits: limits.clone(),
        })
    }
}

/// One live instance of world `W`. Not shareable: its caller owns it. After
/// a call fails with an error that [poisons](PluginError::poisons_instance)
/// it, it must be dropped and a new one made.
pub struct Instance<W: World> {
    store: Store<Sandbox>,
    bindings: W::Bindings,
    limits: Limits,
}

impl<W: World> Instance<W> {
    /// Calls into the instance under the call deadline and the memory
    /// limit; a trap, an interrupted loop or refused memory is the call's
    /// [`PluginError`].
    pub fn call<T>(
        &mut self,
        call: impl FnOnce(&W::Bindings, &mut Store<Sandbox>) -> wasmtime::Result<T>,
    ) -> Result<T, PluginError> {
        self.store.set_epoch_deadline(1);
        let sandbox = self.store.data_mut();
        sandbox.ticks_left = ticks(self.limits.call_deadline);
        sandbox.limiter.memory_refused = false;
        sandbox.stdio.begin_call();
        let result = call(&self.bindings, &mut self.store);
        result.map_err(|error| {
            let sandbox = self.store.data();
            classify(
                error,
                &self.limits,
                sandbox.limiter.memory_refused,
                &sandbox.stdio,
            )
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub(crate) fn sandbox_mut(&mut self) -> &mut Sandbox {
        self.store.data_mut()
    }

    /// Whether the instance has grown past three quarters of its memory
    /// limit. A garbage-collected guest (JavaScript, Python) grows its
    /// memory before it collects and aborts when it cannot grow: its
    /// caller replaces it after this call, before a call fails.
    pub fn worn_out(&self) -> bool {
        self.store.data().limiter.memory_bytes > self.limits.memory_bytes / 4 * 3
    }
}

/// Why a call was interrupted when its plugin was stopped.
#[derive(Debug)]
struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the plugin was stopped")
    }
}

impl std::error::Error for Stopped {}

/// A deadline in epoch ticks (at least one).
pub(crate) fn ticks(deadline: Duration) -> u64 {
    (deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}

/// Turns a failed call into the runtime's error, from wasmtime's trap code
/// and whether the store refused memory during the call. What the call
/// wrote last to stderr (a traceback, a panic message) says more than the
/// host's backtrace of the trap: with it, the error is the trap's cause
/// and those lines, and the full trap goes to the log.
fn classify(
    error: wasmtime::Error,
    limits: &Limits,
    memory_refused: bool,
    stdio: &GuestStdio,
) -> PluginError {
    if error.downcast_ref::<Stopped>().is_some() {
        return PluginError::Stopped;
    }
    let trap = error.downcast_ref::<Trap>().copied();
    let text = match (stdio.take_tail(), trap) {
        (Some(tail), Some(trap)) => {
            tracing::debug!(error = format!("{error:#}"), "plugin trap");
            format!("{trap}; the plugin's stderr ends with:\n{tail}")
        }
        (Some(tail), None) => format!("{error:#}; the plugin's stderr ends with:\n{tail}"),
        (None, _) => format!("{error:#}"),
    };
    match trap {
        Some(Trap::Interrupt) => PluginError::Timeout(limits.call_deadline),
        Some(Trap::AllocationTooLarge) => PluginError::OutOfMemory(text),
        _ if memory_refused => PluginError::OutOfMemory(text),
        _ => PluginError::Trap(text),
    }
}
