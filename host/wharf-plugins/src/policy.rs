//! The `scheduler` world on the host side: scheduling policies as
//! WebAssembly components (sandboxed, with a deadline and a memory limit per
//! call) or as native libraries (trusted), behind one [`PolicyInstance`].
//!
//! The scheduler prepares a pod ([`PreparedPod`]) and a batch of snapshot
//! changes ([`PreparedChanges`]) once and hands the same value to every
//! policy: each form (WIT records, the native encoding) is built at most
//! once, on first use.

// The native half dereferences the library's exports and buffers, typed as
// `wharf_plugin_abi::policy::symbols` declares them.
#![allow(unsafe_code)]

use std::cell::OnceCell;
use std::ffi::c_void;
use std::path::Path;
use std::sync::Arc;

use libloading::Library;
use wasmtime::Store;
use wasmtime::component::{HasSelf, InstancePre, Linker};
use wharf_plugin_abi::policy::{
    self as abi, Change, Decode, Encode, Filtered, Pod, Registration, Rejection, symbols,
};
use wharf_plugin_abi::{WharfBuf, WharfStr, status};

use crate::engine::Runtime;
use crate::error::PluginError;
use crate::imports::NoClusterHost;
use crate::limits::Limits;
use crate::world::{Instance, Module, Sandbox, World};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "scheduler",
        with: {
            "wharf:plugin/log": crate::controller::bindings::wharf::plugin::log,
            "wharf:plugin/clock": crate::controller::bindings::wharf::plugin::clock,
        },
    });
}

use bindings::exports::wharf::plugin::policy as wit;

/// The native policy ABI version this host speaks.
pub const POLICY_ABI_VERSION: u32 = 1;

/// A pod in the forms policies take, each made once: with or without the
/// whole pod's JSON (only policies that registered `wants_pod_json` get it,
/// and it is serialized only if one of them runs).
pub struct PreparedPod<'a> {
    pod: &'a Pod,
    object: &'a serde_json::Value,
    json: OnceCell<String>,
    wit: OnceCell<wit::Pod>,
    wit_with_json: OnceCell<wit::Pod>,
    native: OnceCell<Vec<u8>>,
    native_with_json: OnceCell<Vec<u8>>,
}

impl<'a> PreparedPod<'a> {
    /// `pod` as the scheduler parsed it (its `json` is not used), and the
    /// Pod object.
    pub fn new(pod: &'a Pod, object: &'a serde_json::Value) -> Self {
        Self {
            pod,
            object,
            json: OnceCell::new(),
            wit: OnceCell::new(),
            wit_with_json: OnceCell::new(),
            native: OnceCell::new(),
            native_with_json: OnceCell::new(),
        }
    }

    fn json(&self) -> &str {
        self.json.get_or_init(|| self.object.to_string())
    }

    fn wit(&self, with_json: bool) -> &wit::Pod {
        if with_json {
            self.wit_with_json.get_or_init(|| {
                let mut pod = to_wit_pod(self.pod);
                pod.json = self.json().to_string();
                pod
            })
        } else {
            self.wit.get_or_init(|| to_wit_pod(self.pod))
        }
    }

    fn native(&self, with_json: bool) -> &[u8] {
        if with_json {
            self.native_with_json.get_or_init(|| {
                Pod {
                    json: self.json().to_string(),
                    ..self.pod.clone()
                }
                .to_bytes()
            })
        } else {
            self.native.get_or_init(|| {
                Pod {
                    json: String::new(),
                    ..self.pod.clone()
                }
                .to_bytes()
            })
        }
    }
}

/// Snapshot changes in the forms policies take, each made once.
pub struct PreparedChanges<'a> {
    changes: &'a [Change],
    wit: OnceCell<Vec<wit::Change>>,
    native: OnceCell<Vec<u8>>,
}

impl<'a> PreparedChanges<'a> {
    pub fn new(changes: &'a [Change]) -> Self {
        Self {
            changes,
            wit: OnceCell::new(),
            native: OnceCell::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    fn wit(&self) -> &[wit::Change] {
        self.wit
            .get_or_init(|| self.changes.iter().map(to_wit_change).collect())
    }

    fn native(&self) -> &[u8] {
        self.native.get_or_init(|| self.changes.to_bytes())
    }
}

/// The `scheduler` world.
pub struct SchedulerWorld;

impl World for SchedulerWorld {
    const NAME: &'static str = "scheduler";
    type Pre = bindings::SchedulerPre<Sandbox>;
    type Bindings = bindings::Scheduler;

    fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
        bindings::Scheduler::add_to_linker::<_, HasSelf<Sandbox>>(linker, |sandbox| sandbox)
    }

    fn prepare(pre: InstancePre<Sandbox>) -> wasmtime::Result<Self::Pre> {
        bindings::SchedulerPre::new(pre)
    }

    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<Self::Bindings> {
        pre.instantiate(store)
    }
}

/// A scheduling policy module of either kind.
#[derive(Clone)]
pub enum PolicyModule {
    Wasm(Arc<WasmPolicyModule>),
    Native(Arc<NativePolicyModule>),
}

impl PolicyModule {
    /// Compiles (or takes from the cache) and links a policy component.
    pub fn load_wasm(runtime: &Arc<Runtime>, bytes: &[u8]) -> Result<Self, PluginError> {
        Ok(PolicyModule::Wasm(Arc::new(WasmPolicyModule::load(
            runtime, bytes,
        )?)))
    }

    /// Opens a native policy library (trusted: no sandbox) from the
    /// runtime's native plugin directory.
    pub fn load_native(runtime: &Runtime, path: &Path) -> Result<Self, PluginError> {
        Ok(PolicyModule::Native(Arc::new(NativePolicyModule::load(
            runtime, path,
        )?)))
    }

    /// How a WebAssembly module loaded (none for a native library).
    pub fn times(&self) -> Option<Arc<crate::world::LoadTimes>> {
        match self {
            PolicyModule::Wasm(module) => Some(module.times()),
            PolicyModule::Native(_) => None,
        }
    }

    /// The module's content digest, `sha256:<hex>`.
    pub fn digest(&self) -> &str {
        match self {
            PolicyModule::Wasm(module) => module.digest(),
            PolicyModule::Native(module) => &module.digest,
        }
    }

    /// A fresh instance, built with `config` (JSON); returns its registration.
    pub fn instantiate(
        &self,
        name: &str,
        config: &str,
        limits: &Limits,
    ) -> Result<(PolicyInstance, Registration), PluginError> {
        match self {
            PolicyModule::Wasm(module) => module.instantiate_policy(name, config, limits),
            PolicyModule::Native(module) => module.instantiate(config),
        }
    }
}

/// A compiled policy component.
pub type WasmPolicyModule = Module<SchedulerWorld>;

impl Module<SchedulerWorld> {
    fn instantiate_policy(
        &self,
        name: &str,
        config: &str,
        limits: &Limits,
    ) -> Result<(PolicyInstance, Registration), PluginError> {
        let mut instance = self.instantiate(Arc::new(NoClusterHost::new(name)), limits)?;
        let registration = instance
            .call(|bindings, store| bindings.wharf_plugin_policy().call_init(store, config))?
            .map_err(PluginError::Failed)?;
        let registration = Registration {
            name: registration.name,
            filters: registration.filters,
            scores: registration.scores,
            wants_pods: registration.wants_pods,
            wants_usage: registration.wants_usage,
            wants_pod_json: registration.wants_pod_json,
        };
        Ok((
            PolicyInstance::Wasm(WasmPolicyInstance {
                instance,
                wants_json: registration.wants_pod_json,
            }),
            registration,
        ))
    }
}

/// A live policy instance. Not shareable: the scheduling loop owns it.
pub enum PolicyInstance {
    Wasm(WasmPolicyInstance),
    Native(NativePolicyInstance),
}

impl PolicyInstance {
    /// Applies snapshot changes.
    pub fn update(&mut self, changes: &PreparedChanges<'_>) -> Result<(), PluginError> {
        if changes.is_empty() {
            return Ok(());
        }
        match self {
            PolicyInstance::Wasm(instance) => instance.update(changes.wit()),
            PolicyInstance::Native(instance) => instance.update(changes.native()),
        }
    }

    /// The candidates the pod does not fit, and whether to skip scoring.
    pub fn filter(
        &mut self,
        pod: &PreparedPod<'_>,
        candidates: &[u32],
    ) -> Result<Filtered, PluginError> {
        match self {
            PolicyInstance::Wasm(instance) => {
                instance.filter(pod.wit(instance.wants_json), candidates)
            }
            PolicyInstance::Native(instance) => {
                instance.filter(pod.native(instance.wants_json), candidates)
            }
        }
    }

    /// One score per candidate into `scores` (resized to fit).
    pub fn score(
        &mut self,
        pod: &PreparedPod<'_>,
        candidates: &[u32],
        scores: &mut Vec<i64>,
    ) -> Result<(), PluginError> {
        match self {
            PolicyInstance::Wasm(instance) => {
                instance.score(pod.wit(instance.wants_json), candidates, scores)
            }
            PolicyInstance::Native(instance) => {
                instance.score(pod.native(instance.wants_json), candidates, scores)
            }
        }
    }
}

/// A live WebAssembly policy instance.
pub struct WasmPolicyInstance {
    instance: Instance<SchedulerWorld>,
    wants_json: bool,
}

impl WasmPolicyInstance {
    fn update(&mut self, changes: &[wit::Change]) -> Result<(), PluginError> {
        self.instance
            .call(|bindings, store| bindings.wharf_plugin_policy().call_update(store, changes))
    }

    fn filter(&mut self, pod: &wit::Pod, candidates: &[u32]) -> Result<Filtered, PluginError> {
        let filtered = self
            .instance
            .call(|bindings, store| {
                bindings
                    .wharf_plugin_policy()
                    .call_filter(store, pod, candidates)
            })?
            .map_err(PluginError::Failed)?;
        Ok(Filtered {
            rejections: filtered
                .rejections
                .into_iter()
                .map(|r| Rejection {
                    position: r.position,
                    reasons: r.reasons,
                })
                .collect(),
            skip_score: filtered.skip_score,
        })
    }

    fn score(
        &mut self,
        pod: &wit::Pod,
        candidates: &[u32],
        scores: &mut Vec<i64>,
    ) -> Result<(), PluginError> {
        let answer = self
            .instance
            .call(|bindings, store| {
                bindings
                    .wharf_plugin_policy()
                    .call_score(store, pod, candidates)
            })?
            .map_err(PluginError::Failed)?;
        if answer.len() != candidates.len() {
            return Err(PluginError::Failed(format!(
                "score returned {} scores for {} candidates",
                answer.len(),
                candidates.len()
            )));
        }
        *scores = answer;
        Ok(())
    }
}

type NewFn = unsafe extern "C" fn(WharfStr, *mut WharfBuf) -> *mut c_void;
type UpdateFn = unsafe extern "C" fn(*mut c_void, WharfStr, *mut WharfBuf) -> u32;
type FilterFn =
    unsafe extern "C" fn(*mut c_void, WharfStr, *const u32, usize, *mut WharfBuf) -> u32;
type ScoreFn =
    unsafe extern "C" fn(*mut c_void, WharfStr, *const u32, usize, *mut i64, *mut WharfBuf) -> u32;

/// The library's exports, copied out of it (valid while it is open).
#[derive(Clone, Copy)]
struct NativeExports {
    new: NewFn,
    update: UpdateFn,
    filter: FilterFn,
    score: ScoreFn,
    free: unsafe extern "C" fn(*mut c_void),
    free_buf: unsafe extern "C" fn(WharfBuf),
}

/// A native policy library (trusted: it runs in the host's process with no
/// sandbox, deadline or memory limit; a panic fails only the call).
pub struct NativePolicyModule {
    library: Arc<Library>,
    exports: NativeExports,
    digest: String,
}

impl NativePolicyModule {
    fn load(runtime: &Runtime, path: &Path) -> Result<Self, PluginError> {
        let link_error = |reason: String| PluginError::Link {
            world: "scheduler",
            reason: format!("{}: {reason}", path.display()),
        };
        let (copy, digest) = runtime.native_copy(path)?;
        // SAFETY: opening runs the library's initializers; native plugins
        // are trusted.
        let library = unsafe { Library::new(&copy) }.map_err(|e| link_error(e.to_string()))?;
        // SAFETY: the version symbol is `extern "C" fn() -> u32` in every version.
        let version = unsafe {
            library
                .get::<unsafe extern "C" fn() -> u32>(symbols::ABI_VERSION)
                .map_err(|e| link_error(format!("not a Wharf native policy: {e}")))?()
        };
        if version != POLICY_ABI_VERSION {
            return Err(link_error(format!(
                "the policy speaks ABI {version}, the host {POLICY_ABI_VERSION}"
            )));
        }
        let symbol_error = |e: libloading::Error| link_error(e.to_string());
        // SAFETY: ABI version 1 declares these symbols with these types; the
        // pointers are used only while `library` is open (instances hold it).
        let exports = unsafe {
            NativeExports {
                new: *library.get::<NewFn>(symbols::NEW).map_err(symbol_error)?,
                update: *library
                    .get::<UpdateFn>(symbols::UPDATE)
                    .map_err(symbol_error)?,
                filter: *library
                    .get::<FilterFn>(symbols::FILTER)
                    .map_err(symbol_error)?,
                score: *library
                    .get::<ScoreFn>(symbols::SCORE)
                    .map_err(symbol_error)?,
                free: *library.get(symbols::FREE).map_err(symbol_error)?,
                free_buf: *library.get(symbols::FREE_BUF).map_err(symbol_error)?,
            }
        };
        Ok(Self {
            library: Arc::new(library),
            exports,
            digest,
        })
    }

    fn instantiate(&self, config: &str) -> Result<(PolicyInstance, Registration), PluginError> {
        let mut out = WharfBuf::NULL;
        // SAFETY: `config` and `out` are valid for the call.
        let handle = unsafe { (self.exports.new)(WharfStr::of(config), &mut out) };
        let bytes = take(&self.exports, out);
        if handle.is_null() {
            return Err(PluginError::Failed(
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
        let mut instance = NativePolicyInstance {
            exports: self.exports,
            handle,
            wants_json: false,
            _library: self.library.clone(),
        };
        let registration = Registration::from_bytes(&bytes)
            .map_err(|e| PluginError::Failed(format!("registration: {e}")))?;
        instance.wants_json = registration.wants_pod_json;
        Ok((PolicyInstance::Native(instance), registration))
    }
}

/// Copies a plugin buffer and frees it on the plugin's side.
fn take(exports: &NativeExports, buf: WharfBuf) -> Vec<u8> {
    if buf.ptr.is_null() {
        return Vec::new();
    }
    // SAFETY: the plugin filled `buf` with `len` bytes it owns until freed below.
    let bytes = unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) }.to_vec();
    // SAFETY: `buf` came from this plugin and is freed once.
    unsafe { (exports.free_buf)(buf) };
    bytes
}

/// A live native policy instance.
pub struct NativePolicyInstance {
    exports: NativeExports,
    handle: *mut c_void,
    wants_json: bool,
    /// Keeps the library open; declared last, so dropped after the handle.
    _library: Arc<Library>,
}

// SAFETY: the instance is used by one thread at a time (it is not `Sync`),
// which is all the ABI asks.
unsafe impl Send for NativePolicyInstance {}

impl NativePolicyInstance {
    fn check(&self, code: u32, out: WharfBuf) -> Result<Vec<u8>, PluginError> {
        let bytes = take(&self.exports, out);
        match code {
            status::OK => Ok(bytes),
            status::PANICKED => Err(PluginError::Trap(
                String::from_utf8_lossy(&bytes).into_owned(),
            )),
            _ => Err(PluginError::Failed(
                String::from_utf8_lossy(&bytes).into_owned(),
            )),
        }
    }

    fn update(&mut self, changes: &[u8]) -> Result<(), PluginError> {
        let mut out = WharfBuf::NULL;
        // SAFETY: a live handle; `changes` and `out` valid for the call.
        let code =
            unsafe { (self.exports.update)(self.handle, WharfStr::of_bytes(changes), &mut out) };
        self.check(code, out).map(drop)
    }

    fn filter(&mut self, pod: &[u8], candidates: &[u32]) -> Result<Filtered, PluginError> {
        let mut out = WharfBuf::NULL;
        // SAFETY: a live handle; every pointer valid for the call.
        let code = unsafe {
            (self.exports.filter)(
                self.handle,
                WharfStr::of_bytes(pod),
                candidates.as_ptr(),
                candidates.len(),
                &mut out,
            )
        };
        let bytes = self.check(code, out)?;
        Filtered::from_bytes(&bytes).map_err(|e| PluginError::Failed(format!("filter answer: {e}")))
    }

    fn score(
        &mut self,
        pod: &[u8],
        candidates: &[u32],
        scores: &mut Vec<i64>,
    ) -> Result<(), PluginError> {
        scores.clear();
        scores.resize(candidates.len(), 0);
        let mut out = WharfBuf::NULL;
        // SAFETY: a live handle; `scores` has room for every candidate.
        let code = unsafe {
            (self.exports.score)(
                self.handle,
                WharfStr::of_bytes(pod),
                candidates.as_ptr(),
                candidates.len(),
                scores.as_mut_ptr(),
                &mut out,
            )
        };
        self.check(code, out).map(drop)
    }
}

impl Drop for NativePolicyInstance {
    fn drop(&mut self) {
        // SAFETY: made by this library's `new`, freed once.
        unsafe { (self.exports.free)(self.handle) };
    }
}

fn to_wit_resources(r: &abi::Resources) -> wit::Resources {
    wit::Resources {
        milli_cpu: r.milli_cpu,
        memory_bytes: r.memory_bytes,
        pods: r.pods,
    }
}

fn to_wit_ports(ports: &[abi::HostPort]) -> Vec<wit::HostPort> {
    ports
        .iter()
        .map(|p| wit::HostPort {
            ip: p.ip.clone(),
            protocol: p.protocol.clone(),
            port: p.port,
        })
        .collect()
}

fn to_wit_usage(u: &abi::Usage) -> wit::Usage {
    wit::Usage {
        requested: to_wit_resources(&u.requested),
        non_zero_requested: to_wit_resources(&u.non_zero_requested),
        host_ports: to_wit_ports(&u.host_ports),
    }
}

fn to_wit_placed(p: &abi::PlacedPod) -> wit::PlacedPod {
    wit::PlacedPod {
        node: p.node,
        namespace: p.namespace.clone(),
        name: p.name.clone(),
        labels: p.labels.clone(),
    }
}

fn to_wit_change(change: &Change) -> wit::Change {
    match change {
        Change::UpsertNode(n) => wit::Change::UpsertNode(wit::Node {
            index: n.index,
            name: n.name.clone(),
            labels: n.labels.clone(),
            taints: n
                .taints
                .iter()
                .map(|t| wit::Taint {
                    key: t.key.clone(),
                    value: t.value.clone(),
                    effect: t.effect.clone(),
                })
                .collect(),
            allocatable: to_wit_resources(&n.allocatable),
            unschedulable: n.unschedulable,
            usage: to_wit_usage(&n.usage),
        }),
        Change::RemoveNode(index) => wit::Change::RemoveNode(*index),
        Change::NodeUsage(index, usage) => wit::Change::NodeUsage((*index, to_wit_usage(usage))),
        Change::PodAdded(p) => wit::Change::PodAdded(to_wit_placed(p)),
        Change::PodRemoved(p) => wit::Change::PodRemoved(to_wit_placed(p)),
    }
}

fn to_wit_pod(p: &Pod) -> wit::Pod {
    wit::Pod {
        uid: p.uid.clone(),
        namespace: p.namespace.clone(),
        name: p.name.clone(),
        labels: p.labels.clone(),
        requests: to_wit_resources(&p.requests),
        non_zero_requests: to_wit_resources(&p.non_zero_requests),
        host_ports: to_wit_ports(&p.host_ports),
        spec: p.spec.clone(),
        json: String::new(),
    }
}
