//! Native controller plugins: the same plugin crate built as a `cdylib`
//! (`cargo build --release -p <crate>`) and loaded with `dlopen`, for trusted
//! plugins and for measuring what WebAssembly costs.
//!
//! The C ABI is documented once, in the SDK (`sdk/rust/src/native.rs`); this
//! module mirrors its types and implements the host's half: the vtable of
//! host calls (forwarded to a [`ControllerHost`], so the plugin's permissions
//! are enforced exactly as for a component) and the calls into the plugin.
//!
//! **A native plugin is trusted.** It runs in the host's process with no
//! sandbox, no call deadline and no memory limit ([`Limits`] are ignored);
//! a panic fails only the call (the SDK catches it), but an abort, a
//! segfault or an infinite loop takes the host down with it.
//!
//! The library is copied to a content-addressed file in the temporary
//! directory before it is opened, so that a rebuilt file at the same path
//! is a new library (a hot reload), and rewriting the original never
//! touches the mapped copy.

// Unsafe code is confined to this module: opening a library runs its
// initializers (trusted, see above); the symbols are typed as the SDK
// declares them and checked by the ABI version; every pointer the plugin
// passes to a host call is valid for that call, per the ABI.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libloading::Library;

use crate::controller::{
    ApiError, ControllerHost, Event, EventType, Kind, Level, ListOptions, ObjectRef, Outcome,
    PatchType, Registration, Wakes, Watch,
};
use crate::engine::Runtime;
use crate::error::PluginError;
use crate::limits::Limits;

// The ABI's types and helpers are defined once, in `wharf-plugin-abi`, which
// the SDK compiles against too.
pub use wharf_plugin_abi::ABI_VERSION;
use wharf_plugin_abi::{
    WharfBuf, WharfEvent, WharfHostVtable, WharfKind, WharfStr, push_frame, status,
};

type Ctx = *mut c_void;

static VTABLE: WharfHostVtable = WharfHostVtable {
    abi_version: ABI_VERSION,
    get: host_get,
    list: host_list,
    create: host_create,
    create_all: host_create_all,
    update: host_update,
    update_status: host_update_status,
    patch: host_patch,
    delete: host_delete,
    log: host_log,
    state_get: host_state_get,
    state_set: host_state_set,
    state_delete: host_state_delete,
    emit_event: host_emit_event,
    now_millis: host_now_millis,
    free_buf: host_free_buf,
    served_kinds: host_served_kinds,
    update_subresource: host_update_subresource,
};

/// The plugin's exports, copied out of the library (valid while it is open).
#[derive(Clone, Copy)]
struct Exports {
    new: unsafe extern "C" fn(
        *const WharfHostVtable,
        Ctx,
        WharfStr,
        *mut *mut c_void,
        *mut WharfBuf,
    ) -> u32,
    reconcile:
        unsafe extern "C" fn(*mut c_void, WharfStr, WharfStr, *mut u32, *mut WharfBuf) -> u32,
    drop: unsafe extern "C" fn(*mut c_void),
    free_buf: unsafe extern "C" fn(WharfBuf),
}

/// A loaded native controller plugin.
pub struct NativeControllerModule {
    library: Arc<Library>,
    exports: Exports,
    digest: String,
    path: PathBuf,
}

impl NativeControllerModule {
    /// Opens the shared library at `path` — which must be in the runtime's
    /// native plugin directory — through a private copy, and checks that it
    /// speaks this host's ABI version.
    pub fn load(runtime: &Runtime, path: &Path) -> Result<Self, PluginError> {
        let link_error = |reason: String| PluginError::Link {
            world: "controller",
            reason: format!("{}: {reason}", path.display()),
        };
        let (copy, digest) = runtime.native_copy(path)?;
        // SAFETY: opening runs the library's initializers; native plugins
        // are trusted (module docs).
        let library = unsafe { Library::new(&copy) }.map_err(|e| link_error(e.to_string()))?;
        // SAFETY: the symbol is a `extern "C" fn() -> u32` in every version.
        let version = unsafe {
            library
                .get::<unsafe extern "C" fn() -> u32>(b"wharf_plugin_abi_version\0")
                .map_err(|e| link_error(format!("not a Wharf native plugin: {e}")))?()
        };
        if version != ABI_VERSION {
            return Err(link_error(format!(
                "the plugin speaks native ABI {version}, the host {ABI_VERSION}"
            )));
        }
        // SAFETY: ABI version 1 declares these symbols with these types; the
        // copied function pointers are used only while `library` is open
        // (instances hold it).
        let exports = unsafe {
            Exports {
                new: *library
                    .get(b"wharf_controller_new\0")
                    .map_err(|e| link_error(e.to_string()))?,
                reconcile: *library
                    .get(b"wharf_controller_reconcile\0")
                    .map_err(|e| link_error(e.to_string()))?,
                drop: *library
                    .get(b"wharf_controller_drop\0")
                    .map_err(|e| link_error(e.to_string()))?,
                free_buf: *library
                    .get(b"wharf_plugin_free_buf\0")
                    .map_err(|e| link_error(e.to_string()))?,
            }
        };
        Ok(Self {
            library: Arc::new(library),
            exports,
            digest,
            path: path.to_path_buf(),
        })
    }

    /// The library file's content digest, `sha256:<hex>`.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The path it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A fresh instance with its own host; `init` builds the controller.
    /// The limits are not enforced: native plugins are trusted.
    pub fn instantiate(
        &self,
        host: Arc<dyn ControllerHost>,
        limits: &Limits,
    ) -> Result<NativeControllerInstance, PluginError> {
        let _ = limits;
        Ok(NativeControllerInstance {
            exports: self.exports,
            host: Box::new(HostContext { host }),
            instance: std::ptr::null_mut(),
            _library: self.library.clone(),
        })
    }
}

/// What the vtable's `ctx` points to.
struct HostContext {
    host: Arc<dyn ControllerHost>,
}

/// One live native controller instance. Not shareable: a worker owns it.
pub struct NativeControllerInstance {
    exports: Exports,
    /// Boxed so that its address, the vtable's `ctx`, never moves.
    host: Box<HostContext>,
    /// The plugin's instance; null until `init`.
    instance: *mut c_void,
    /// Keeps the library open while the instance lives; declared last, so
    /// dropped after it.
    _library: Arc<Library>,
}

impl NativeControllerInstance {
    fn ctx(&self) -> Ctx {
        std::ptr::from_ref::<HostContext>(&self.host)
            .cast_mut()
            .cast()
    }

    /// Copies a plugin buffer into a string and frees it on the plugin's side.
    fn take(&self, buf: WharfBuf) -> String {
        if buf.ptr.is_null() {
            return String::new();
        }
        // SAFETY: the plugin filled `buf` with `len` bytes it owns until we
        // hand them back just below.
        let bytes = unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) };
        let text = String::from_utf8_lossy(bytes).into_owned();
        // SAFETY: `buf` came from this plugin and is freed once.
        unsafe { (self.exports.free_buf)(buf) };
        text
    }

    fn release(&mut self) {
        if !self.instance.is_null() {
            // SAFETY: made by this library's `new`, dropped once.
            unsafe { (self.exports.drop)(self.instance) };
            self.instance = std::ptr::null_mut();
        }
    }

    /// Builds the controller with the plugin's config (JSON).
    pub fn init(&mut self, config: &str) -> Result<Registration, PluginError> {
        self.release();
        let mut instance = std::ptr::null_mut();
        let mut buf = WharfBuf {
            ptr: std::ptr::null_mut(),
            len: 0,
        };
        // SAFETY: the vtable is static; `ctx` lives in `self.host`, which
        // outlives the plugin's instance (released first on drop); the other
        // pointers are valid for the call.
        let code = unsafe {
            (self.exports.new)(
                &VTABLE,
                self.ctx(),
                WharfStr::of(config),
                &mut instance,
                &mut buf,
            )
        };
        let text = self.take(buf);
        match code {
            status::OK if !instance.is_null() => {
                self.instance = instance;
                parse_registration(&text).map_err(|e| {
                    PluginError::Failed(format!("the plugin's registration is invalid: {e}"))
                })
            }
            status::PANICKED => Err(PluginError::Trap(text)),
            status::FAILED => Err(PluginError::Failed(text)),
            other => Err(PluginError::Failed(format!(
                "the plugin answered status {other}: {text}"
            ))),
        }
    }

    /// Calls `reconcile` for one key; returns the outcome and the call's time.
    pub fn reconcile(
        &mut self,
        namespace: Option<&str>,
        name: &str,
    ) -> (Result<Outcome, PluginError>, Duration) {
        if self.instance.is_null() {
            return (
                Err(PluginError::Failed(
                    "reconcile was called before init".to_owned(),
                )),
                Duration::ZERO,
            );
        }
        let mut millis = 0u32;
        let mut buf = WharfBuf {
            ptr: std::ptr::null_mut(),
            len: 0,
        };
        let started = Instant::now();
        // SAFETY: `instance` came from this library and is used by this
        // thread only; the other pointers are valid for the call.
        let code = unsafe {
            (self.exports.reconcile)(
                self.instance,
                WharfStr::optional(namespace),
                WharfStr::of(name),
                &mut millis,
                &mut buf,
            )
        };
        let elapsed = started.elapsed();
        let outcome = match code {
            status::DONE => Ok(Outcome::Done),
            status::REQUEUE => Ok(Outcome::RequeueAfter(millis)),
            status::PANICKED => Err(PluginError::Trap(self.take(buf))),
            status::FAILED => Err(PluginError::Failed(self.take(buf))),
            other => Err(PluginError::Failed(format!(
                "the plugin answered status {other}: {}",
                self.take(buf)
            ))),
        };
        (outcome, elapsed)
    }
}

impl Drop for NativeControllerInstance {
    fn drop(&mut self) {
        self.release();
    }
}

fn parse_registration(text: &str) -> Result<Registration, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let kind = |v: &serde_json::Value| -> Result<Kind, String> {
        let field = |name: &str| {
            v.get(name)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("a kind without {name}: {v}"))
        };
        Ok(Kind {
            group: field("group")?,
            version: field("version")?,
            kind: field("kind")?,
        })
    };
    let kinds = |name: &str| -> Result<Vec<Kind>, String> {
        value
            .get(name)
            .and_then(serde_json::Value::as_array)
            .map(|items| items.iter().map(kind).collect())
            .unwrap_or_else(|| Ok(Vec::new()))
    };
    let watch = |v: &serde_json::Value| -> Result<Watch, String> {
        let wakes = match v.get("wakes") {
            Some(serde_json::Value::String(all)) if all == "all" => Wakes::All,
            Some(serde_json::Value::Object(map)) if map.len() == 1 => {
                let (how, pointer) = map.iter().next().expect("one entry");
                let pointer = pointer
                    .as_str()
                    .ok_or_else(|| format!("a watch's {how} is not a string: {v}"))?
                    .to_owned();
                match how.as_str() {
                    "namedBy" => Wakes::NamedBy(pointer),
                    "selecting" => Wakes::Selecting(pointer),
                    _ => {
                        return Err(format!(
                            "a watch wakes by {how:?}, not namedBy or selecting"
                        ));
                    }
                }
            }
            _ => return Err(format!("a watch without wakes: {v}")),
        };
        Ok(Watch {
            kind: kind(
                v.get("kind")
                    .ok_or_else(|| format!("a watch without kind: {v}"))?,
            )?,
            wakes,
        })
    };
    Ok(Registration {
        primary: kind(value.get("primary").ok_or("no primary kind")?)?,
        owns: kinds("owns")?,
        reads: kinds("reads")?,
        resync_seconds: value
            .get("resyncSeconds")
            .and_then(serde_json::Value::as_u64)
            .map_or(0, |s| u32::try_from(s).unwrap_or(u32::MAX)),
        watches: value
            .get("watches")
            .and_then(serde_json::Value::as_array)
            .map(|items| items.iter().map(watch).collect())
            .unwrap_or_else(|| Ok(Vec::new()))?,
    })
}

// The host's half of the vtable. Each function catches panics of the
// `ControllerHost` (an unwind must not cross into the plugin) and answers
// `OTHER`; invalid UTF-8 from the plugin is `INVALID`.

fn api_error(error: ApiError) -> (u32, String) {
    match error {
        ApiError::NotFound(m) => (status::NOT_FOUND, m),
        ApiError::AlreadyExists(m) => (status::ALREADY_EXISTS, m),
        ApiError::Conflict(m) => (status::CONFLICT, m),
        ApiError::Forbidden(m) => (status::FORBIDDEN, m),
        ApiError::Invalid(m) => (status::INVALID, m),
        ApiError::Other(m) => (status::OTHER, m),
    }
}

/// A string the plugin passed; `None` when null.
///
/// # Safety
/// A non-null `ptr` points to `len` readable bytes for `'a`.
unsafe fn optional<'a>(text: WharfStr) -> Result<Option<&'a str>, ApiError> {
    if text.ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-null, `len` readable bytes by the caller's guarantee.
    let bytes = unsafe { std::slice::from_raw_parts(text.ptr, text.len) };
    std::str::from_utf8(bytes)
        .map(Some)
        .map_err(|e| ApiError::Invalid(format!("the plugin sent invalid UTF-8: {e}")))
}

/// A required string; null is empty.
///
/// # Safety
/// As [`optional`].
unsafe fn required<'a>(text: WharfStr) -> Result<&'a str, ApiError> {
    // SAFETY: forwarded.
    Ok(unsafe { optional(text) }?.unwrap_or(""))
}

/// # Safety
/// `kind` points to a valid `WharfKind` whose strings are readable.
unsafe fn read_kind(kind: *const WharfKind) -> Result<Kind, ApiError> {
    if kind.is_null() {
        return Err(ApiError::Invalid("no kind".to_owned()));
    }
    // SAFETY: non-null and valid for the call.
    let kind = unsafe { &*kind };
    // SAFETY: the strings are readable for the call.
    unsafe {
        Ok(Kind {
            group: required(kind.group)?.to_owned(),
            version: required(kind.version)?.to_owned(),
            kind: required(kind.kind)?.to_owned(),
        })
    }
}

/// # Safety
/// `ctx` is the `HostContext` of a live instance.
unsafe fn host<'a>(ctx: Ctx) -> &'a dyn ControllerHost {
    // SAFETY: the instance passed `&HostContext` as `ctx` and outlives the
    // plugin's instance, which is the only caller.
    unsafe { &*ctx.cast::<HostContext>() }.host.as_ref()
}

/// Runs a host call: `Ok(Some(bytes))` answers `OK` with a buffer,
/// `Ok(None)` `OK` with a null buffer, an error its code and message.
///
/// # Safety
/// A non-null `out` is writable.
unsafe fn answer(
    out: *mut WharfBuf,
    call: impl FnOnce() -> Result<Option<Vec<u8>>, ApiError>,
) -> u32 {
    let (code, bytes) = match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(bytes)) => (status::OK, bytes),
        Ok(Err(error)) => {
            let (code, message) = api_error(error);
            (code, Some(message.into_bytes()))
        }
        Err(_) => (status::OTHER, Some(b"the host panicked".to_vec())),
    };
    if !out.is_null() {
        let buf = bytes.map_or(
            WharfBuf {
                ptr: std::ptr::null_mut(),
                len: 0,
            },
            WharfBuf::from_vec,
        );
        // SAFETY: non-null and writable by the caller's guarantee.
        unsafe { out.write(buf) };
    }
    code
}

/// Runs a host call without a result, swallowing a panic.
fn quietly(call: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(call));
}

unsafe extern "C" fn host_get(
    ctx: Ctx,
    kind: *const WharfKind,
    namespace: WharfStr,
    name: WharfStr,
    out: *mut WharfBuf,
) -> u32 {
    // SAFETY: the plugin upholds the ABI: every pointer valid for the call.
    unsafe {
        answer(out, || {
            let result = host(ctx).get(&read_kind(kind)?, optional(namespace)?, required(name)?);
            Ok(result?.map(String::into_bytes))
        })
    }
}

unsafe extern "C" fn host_list(
    ctx: Ctx,
    kind: *const WharfKind,
    namespace: WharfStr,
    label_selector: WharfStr,
    field_selector: WharfStr,
    out: *mut WharfBuf,
) -> u32 {
    // SAFETY: the plugin upholds the ABI: every pointer valid for the call.
    unsafe {
        answer(out, || {
            let options = ListOptions {
                namespace: optional(namespace)?.map(str::to_owned),
                label_selector: optional(label_selector)?.map(str::to_owned),
                field_selector: optional(field_selector)?.map(str::to_owned),
            };
            let items = host(ctx).list(&read_kind(kind)?, &options)?;
            let mut frames = Vec::with_capacity(items.iter().map(|i| i.len() + 12).sum());
            for item in &items {
                push_frame(&mut frames, status::OK, item.as_bytes());
            }
            Ok(Some(frames))
        })
    }
}

unsafe extern "C" fn host_create(
    ctx: Ctx,
    kind: *const WharfKind,
    namespace: WharfStr,
    object: WharfStr,
    out: *mut WharfBuf,
) -> u32 {
    // SAFETY: the plugin upholds the ABI: every pointer valid for the call.
    unsafe {
        answer(out, || {
            let created =
                host(ctx).create(&read_kind(kind)?, optional(namespace)?, required(object)?)?;
            Ok(Some(created.into_bytes()))
        })
    }
}

unsafe extern "C" fn host_create_all(
    ctx: Ctx,
    kind: *const WharfKind,
    namespace: WharfStr,
    objects: *const WharfStr,
    count: usize,
    out: *mut WharfBuf,
) -> u32 {
    // SAFETY: the plugin upholds the ABI: every pointer valid for the call,
    // `objects` has `count` items.
    unsafe {
        answer(out, || {
            let objects: &[WharfStr] = if objects.is_null() {
                &[]
            } else {
                std::slice::from_raw_parts(objects, count)
            };
            let objects = objects
                .iter()
                .map(|o| required(*o).map(str::to_owned))
                .collect::<Result<Vec<_>, _>>()?;
            let results = host(ctx).create_all(&read_kind(kind)?, optional(namespace)?, &objects);
            let mut frames = Vec::new();
            for result in results {
                match result {
                    Ok(created) => push_frame(&mut frames, status::OK, created.as_bytes()),
                    Err(error) => {
                        let (code, message) = api_error(error);
                        push_frame(&mut frames, code, message.as_bytes());
                    }
                }
            }
            Ok(Some(frames))
        })
    }
}

/// `update` and `update_status`.
///
/// # Safety
/// As every vtable function.
unsafe fn write(
    ctx: Ctx,
    kind: *const WharfKind,
    namespace: WharfStr,
    object: WharfStr,
    status: bool,
    out: *mut WharfBuf,
) -> u32 {
    // SAFETY: the plugin upholds the ABI: every pointer valid for the call.
    unsafe {
        answer(out, || {
            let written = host(ctx).update(
                &read_kind(kind)?,
                optional(namespace)?,
                required(object)?,
                status,
            )?;
            Ok(Some(written.into_bytes()))
        })
    }
}

unsafe extern "C" fn host_update(
    ctx: Ctx,
    kind: *const WharfKind,
    namespace: WharfStr,
    object: WharfStr,
    out: *mut WharfBuf,
) -> u32 {
    // SAFETY: forwarded.
    unsafe { write(ctx, kind, namespace, object, false, out) }
}

unsafe extern "C" fn host_update_status(
    ctx: Ctx,
    kind: *const WharfKind,
    namespace: WharfStr,
    object: WharfStr,
    out: *mut WharfBuf,
) -> u32 {
    // SAFETY: forwarded.
    unsafe { write(ctx, kind, namespace, object, true, out) }
}

unsafe extern "C" fn host_served_kinds(ctx: Ctx, out: *mut WharfBuf) -> u32 {
    // SAFETY: the plugin upholds the ABI: every pointer valid for the call.
    unsafe {
        answer(out, || {
            let kinds: Vec<serde_json::Value> = host(ctx)
                .served_kinds()
                .into_iter()
                .map(|served| {
                    serde_json::json!({
                        "kind": {"group": served.kind.group, "version": served.kind.version, "kind": served.kind.kind},
                        "plural": served.plural,
                        "namespaced": served.namespaced,
                        "verbs": served.verbs,
                    })
                })
                .collect();
            Ok(Some(serde_json::to_vec(&kinds).unwrap_or_default()))
        })
    }
}

unsafe extern "C" fn host_update_subresource(
    ctx: Ctx,
    kind: *const WharfKind,
    namespace: WharfStr,
    subresource: WharfStr,
    object: WharfStr,
    out: *mut WharfBuf,
) -> u32 {
    // SAFETY: the plugin upholds the ABI: every pointer valid for the call.
    unsafe {
        answer(out, || {
            let written = host(ctx).update_subresource(
                &read_kind(kind)?,
                optional(namespace)?,
                required(subresource)?,
                required(object)?,
            )?;
            Ok(Some(written.into_bytes()))
        })
    }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn host_patch(
    ctx: Ctx,
    kind: *const WharfKind,
    namespace: WharfStr,
    name: WharfStr,
    patch_type: u32,
    patch: WharfStr,
    status: bool,
    out: *mut WharfBuf,
) -> u32 {
    // SAFETY: the plugin upholds the ABI: every pointer valid for the call.
    unsafe {
        answer(out, || {
            let patch_type = match patch_type {
                0 => PatchType::Merge,
                1 => PatchType::Json,
                2 => PatchType::Strategic,
                other => return Err(ApiError::Invalid(format!("unknown patch type {other}"))),
            };
            let patched = host(ctx).patch(
                &read_kind(kind)?,
                optional(namespace)?,
                required(name)?,
                patch_type,
                required(patch)?,
                status,
            )?;
            Ok(Some(patched.into_bytes()))
        })
    }
}

unsafe extern "C" fn host_delete(
    ctx: Ctx,
    kind: *const WharfKind,
    namespace: WharfStr,
    name: WharfStr,
    out: *mut WharfBuf,
) -> u32 {
    // SAFETY: the plugin upholds the ABI: every pointer valid for the call.
    unsafe {
        answer(out, || {
            host(ctx).delete(&read_kind(kind)?, optional(namespace)?, required(name)?)?;
            Ok(None)
        })
    }
}

unsafe extern "C" fn host_log(ctx: Ctx, level: u32, message: WharfStr) {
    let level = match level {
        0 => Level::Trace,
        1 => Level::Debug,
        2 => Level::Info,
        3 => Level::Warn,
        _ => Level::Error,
    };
    // SAFETY: the plugin upholds the ABI: every pointer valid for the call.
    quietly(|| unsafe {
        if let Ok(message) = required(message) {
            host(ctx).log(level, message);
        }
    });
}

unsafe extern "C" fn host_state_get(ctx: Ctx, key: WharfStr, out: *mut WharfBuf) -> u32 {
    // SAFETY: the plugin upholds the ABI: every pointer valid for the call.
    unsafe { answer(out, || Ok(host(ctx).state_get(required(key)?))) }
}

unsafe extern "C" fn host_state_set(ctx: Ctx, key: WharfStr, value: WharfStr) {
    // SAFETY: the plugin upholds the ABI: every pointer valid for the call.
    quietly(|| unsafe {
        let value: &[u8] = if value.ptr.is_null() {
            &[]
        } else {
            std::slice::from_raw_parts(value.ptr, value.len)
        };
        if let Ok(key) = required(key) {
            host(ctx).state_set(key, value);
        }
    });
}

unsafe extern "C" fn host_state_delete(ctx: Ctx, key: WharfStr) {
    // SAFETY: the plugin upholds the ABI: every pointer valid for the call.
    quietly(|| unsafe {
        if let Ok(key) = required(key) {
            host(ctx).state_delete(key);
        }
    });
}

unsafe extern "C" fn host_emit_event(ctx: Ctx, event: *const WharfEvent) {
    if event.is_null() {
        return;
    }
    // SAFETY: the plugin upholds the ABI: every pointer valid for the call.
    quietly(|| unsafe {
        let event = &*event;
        let read = || -> Result<Event, ApiError> {
            Ok(Event {
                regarding: ObjectRef {
                    kind: read_kind(&event.kind)?,
                    namespace: optional(event.namespace)?.map(str::to_owned),
                    name: required(event.name)?.to_owned(),
                },
                type_: if event.type_ == 1 {
                    EventType::Warning
                } else {
                    EventType::Normal
                },
                reason: required(event.reason)?.to_owned(),
                message: required(event.message)?.to_owned(),
            })
        };
        if let Ok(event) = read() {
            host(ctx).emit(event);
        }
    });
}

unsafe extern "C" fn host_now_millis(_ctx: Ctx) -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

unsafe extern "C" fn host_free_buf(_ctx: Ctx, buf: WharfBuf) {
    // SAFETY: made by `WharfBuf::from_vec` in this host and handed back
    // once, per the ABI.
    unsafe { buf.free() };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_reads_from_the_plugins_json() {
        let registration = parse_registration(
            r#"{"primary":{"group":"apps","version":"v1","kind":"ReplicaSet"},
                "owns":[{"group":"","version":"v1","kind":"Pod"}],"reads":[],"resyncSeconds":30}"#,
        )
        .unwrap();
        assert_eq!(registration.primary.kind, "ReplicaSet");
        assert_eq!(registration.owns[0].kind, "Pod");
        assert_eq!(registration.resync_seconds, 30);
        assert!(parse_registration(r#"{"owns":[]}"#).is_err());
    }
}
