//! [`NativeRuntime`]: one loaded driver library and the one driver instance
//! made from it.

// Unsafe code is confined to this module: opening a library runs its
// initializers (drivers are trusted); the symbols are typed as
// `wharf_plugin_abi::runtime` declares them, checked by the ABI version
// first; every pointer passed to the driver is valid for its call, and the
// buffers it returns are read once and handed back to it.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::path::{Path, PathBuf};

use libloading::Library;
use wharf_plugin_abi::codec::{Decode, Encode};
use wharf_plugin_abi::runtime::{ContainerState, RUNTIME_ABI_VERSION, Signal, StartSpec, symbols};
use wharf_plugin_abi::{WharfBuf, WharfStr, status};

use crate::error::NativeRuntimeError;

type Result<T, E = NativeRuntimeError> = std::result::Result<T, E>;

type NewFn = unsafe extern "C" fn(WharfStr, *mut *mut c_void, *mut WharfBuf) -> u32;
type IdFn = unsafe extern "C" fn(*mut c_void, WharfStr, *mut WharfBuf) -> u32;
type SignalFn = unsafe extern "C" fn(*mut c_void, WharfStr, u32, *mut WharfBuf) -> u32;

/// The driver's exports, copied out of the library (valid while it is open).
#[derive(Clone, Copy)]
struct Exports {
    new: NewFn,
    /// `wharf_runtime_start`: the same shape, with an encoded spec.
    start: IdFn,
    state: IdFn,
    signal: SignalFn,
    remove: IdFn,
    drop: unsafe extern "C" fn(*mut c_void),
    free_buf: unsafe extern "C" fn(WharfBuf),
}

/// A container runtime driver loaded from a shared library.
///
/// It is `Send + Sync`: the runtime ABI requires a driver to take calls from
/// several threads at once, so calls are not serialized here (a slow `start`
/// does not hold up `state`). Dropping it drops the driver instance, then
/// closes the library.
pub struct NativeRuntime {
    exports: Exports,
    /// The driver instance; non-null, freed in `Drop`.
    instance: *mut c_void,
    name: String,
    path: PathBuf,
    /// Keeps the exports valid; declared last, so closed after `Drop` has
    /// dropped the instance.
    _library: Library,
}

// SAFETY: the runtime ABI requires an instance to accept calls from any
// thread, concurrently (the SDK's `RuntimeDriver` is `Send + Sync`); the
// only call that needs exclusivity, `drop`, is made from `Drop`, which has
// `&mut self`. The rest of the fields are plain data and function pointers.
unsafe impl Send for NativeRuntime {}
// SAFETY: as for `Send`.
unsafe impl Sync for NativeRuntime {}

impl NativeRuntime {
    /// Opens the driver library at `path` (as `dlopen` takes it: a name
    /// without a slash is searched on the library path), checks its runtime
    /// ABI version, and makes the driver from `config`.
    pub fn load(path: &Path, config: &str) -> Result<Self> {
        // SAFETY: opening runs the library's initializers; drivers are
        // trusted (crate docs).
        let library = unsafe { Library::new(path) }.map_err(|e| NativeRuntimeError::Load {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        // SAFETY: the version symbol is `extern "C" fn() -> u32` in every
        // version of the ABI.
        let version: unsafe extern "C" fn() -> u32 =
            unsafe { export(&library, path, symbols::ABI_VERSION)? };
        // SAFETY: as just above.
        check_version(path, unsafe { version() })?;
        // SAFETY: runtime ABI version 1 declares these symbols with these
        // types; the copied pointers are used only while `library` is open
        // (it is a field of the value that uses them).
        let exports = unsafe {
            Exports {
                new: export(&library, path, symbols::NEW)?,
                start: export(&library, path, symbols::START)?,
                state: export(&library, path, symbols::STATE)?,
                signal: export(&library, path, symbols::SIGNAL)?,
                remove: export(&library, path, symbols::REMOVE)?,
                drop: export(&library, path, symbols::DROP)?,
                free_buf: export(&library, path, symbols::FREE_BUF)?,
            }
        };
        let mut instance = std::ptr::null_mut();
        let mut out = WharfBuf::NULL;
        // SAFETY: `config` and both out pointers are valid for the call.
        let code = unsafe { (exports.new)(WharfStr::of(config), &raw mut instance, &raw mut out) };
        let answer = take(&exports, out);
        match code {
            status::OK if !instance.is_null() => {}
            status::OK => {
                return Err(NativeRuntimeError::Malformed(
                    "wharf_runtime_new answered OK without an instance".to_owned(),
                ));
            }
            status::PANICKED => return Err(NativeRuntimeError::Panicked(lossy(&answer))),
            _ => {
                return Err(NativeRuntimeError::Init {
                    path: path.to_path_buf(),
                    message: lossy(&answer),
                });
            }
        }
        let mut runtime = NativeRuntime {
            exports,
            instance,
            name: String::new(),
            path: path.to_path_buf(),
            _library: library,
        };
        // From here on, dropping `runtime` drops the instance.
        runtime.name = String::from_utf8(answer)
            .map_err(|e| NativeRuntimeError::Malformed(format!("the driver's name: {e}")))?;
        if runtime.name.is_empty() {
            return Err(NativeRuntimeError::Malformed(
                "the driver has an empty name".to_owned(),
            ));
        }
        Ok(runtime)
    }

    /// The driver's name: the scheme of its container IDs (`<name>://<id>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts a container; returns its ID (without the `<name>://` scheme).
    pub fn start(&self, spec: &StartSpec) -> Result<String> {
        let spec = spec.to_bytes();
        // SAFETY: a live instance; `spec` and `out` are valid for the call.
        let answer = self.call(|out| unsafe {
            (self.exports.start)(self.instance, WharfStr::of_bytes(&spec), out)
        })?;
        let id = String::from_utf8(answer)
            .map_err(|e| NativeRuntimeError::Malformed(format!("the container ID: {e}")))?;
        if id.is_empty() {
            return Err(NativeRuntimeError::Malformed(
                "an empty container ID".to_owned(),
            ));
        }
        Ok(id)
    }

    /// What the driver knows of container `id`.
    pub fn state(&self, id: &str) -> Result<ContainerState> {
        // SAFETY: a live instance; `id` and `out` are valid for the call.
        let answer =
            self.call(|out| unsafe { (self.exports.state)(self.instance, WharfStr::of(id), out) })?;
        ContainerState::from_bytes(&answer)
            .map_err(|e| NativeRuntimeError::Malformed(format!("the state of {id}: {e}")))
    }

    /// Sends `signal` to container `id`'s processes.
    pub fn signal(&self, id: &str, signal: Signal) -> Result<()> {
        // SAFETY: a live instance; `id` and `out` are valid for the call.
        self.call(|out| unsafe {
            (self.exports.signal)(self.instance, WharfStr::of(id), signal.code(), out)
        })
        .map(drop)
    }

    /// Forgets container `id` (exited) and frees what the driver keeps for it.
    pub fn remove(&self, id: &str) -> Result<()> {
        // SAFETY: a live instance; `id` and `out` are valid for the call.
        self.call(|out| unsafe { (self.exports.remove)(self.instance, WharfStr::of(id), out) })
            .map(drop)
    }

    /// Runs one call that fills an `out` buffer: its bytes on `OK`, else
    /// the error its status names.
    fn call(&self, call: impl FnOnce(*mut WharfBuf) -> u32) -> Result<Vec<u8>> {
        let mut out = WharfBuf::NULL;
        let code = call(&raw mut out);
        let answer = take(&self.exports, out);
        match code {
            status::OK => Ok(answer),
            status::FAILED => Err(NativeRuntimeError::Failed(lossy(&answer))),
            status::PANICKED => Err(NativeRuntimeError::Panicked(lossy(&answer))),
            other => Err(NativeRuntimeError::Failed(format!(
                "unknown status {other}: {}",
                lossy(&answer)
            ))),
        }
    }
}

impl Drop for NativeRuntime {
    fn drop(&mut self) {
        // SAFETY: made by this library's `new`, dropped once; `&mut self`
        // means no other call is running.
        unsafe { (self.exports.drop)(self.instance) };
    }
}

impl std::fmt::Debug for NativeRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeRuntime")
            .field("name", &self.name)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The export `name` of `library`, copied out.
///
/// # Safety
/// `T` is the type the ABI declares for `name`; the copy is used only while
/// `library` is open.
unsafe fn export<T: Copy>(library: &Library, path: &Path, name: &[u8]) -> Result<T> {
    // SAFETY: as the caller guarantees.
    let symbol = unsafe { library.get::<T>(name) }.map_err(|e| NativeRuntimeError::NotADriver {
        path: path.to_path_buf(),
        reason: format!("it does not export {}: {e}", lossy(name)),
    })?;
    Ok(*symbol)
}

/// Refuses a driver of another runtime ABI version.
fn check_version(path: &Path, driver: u32) -> Result<()> {
    if driver == RUNTIME_ABI_VERSION {
        return Ok(());
    }
    Err(NativeRuntimeError::AbiMismatch {
        path: path.to_path_buf(),
        driver,
        host: RUNTIME_ABI_VERSION,
    })
}

/// Copies a driver's buffer and frees it on the driver's side.
fn take(exports: &Exports, buf: WharfBuf) -> Vec<u8> {
    if buf.ptr.is_null() {
        return Vec::new();
    }
    // SAFETY: the driver filled `buf` with `len` bytes it owns until freed below.
    let bytes = unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) }.to_vec();
    // SAFETY: `buf` came from this driver and is freed once.
    unsafe { (exports.free_buf)(buf) };
    bytes
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_runtime_abi_version_is_accepted() {
        let path = Path::new("libdriver.so");
        assert!(check_version(path, RUNTIME_ABI_VERSION).is_ok());
        let error = check_version(path, RUNTIME_ABI_VERSION + 1).unwrap_err();
        assert!(matches!(
            error,
            NativeRuntimeError::AbiMismatch { driver, host, .. }
                if driver == RUNTIME_ABI_VERSION + 1 && host == RUNTIME_ABI_VERSION
        ));
        assert_eq!(
            error.to_string(),
            "runtime driver libdriver.so speaks runtime ABI 2, this host 1"
        );
    }
}
