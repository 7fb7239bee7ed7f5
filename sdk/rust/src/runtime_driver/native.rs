//! The driver's half of the runtime C ABI (`wharf_plugin_abi::runtime`, which
//! documents it): what [`export_runtime_driver!`](crate::export_runtime_driver)
//! forwards its exports to.
//!
//! Each export decodes its borrowed arguments, calls the [`RuntimeDriver`]
//! with panics caught, and answers `OK`, `FAILED` or `PANICKED` with a
//! buffer of this library's allocator, freed by [`free_buf`].

// Unsafe code is confined to this module: it reads the host's borrowed
// strings for one call, writes the host's `out` pointers, and turns the
// instance pointer back into the `Box` it came from, as the ABI requires.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use wharf_plugin_abi::codec::{Decode, Encode};
pub use wharf_plugin_abi::runtime::RUNTIME_ABI_VERSION;
use wharf_plugin_abi::runtime::{Signal, StartSpec};
pub use wharf_plugin_abi::{WharfBuf, WharfStr, status};

use super::RuntimeDriver;

/// Writes `bytes` through `out` as a buffer of ours; nothing when `out` is null.
///
/// # Safety
/// A non-null `out` is writable.
unsafe fn answer(out: *mut WharfBuf, bytes: Vec<u8>) {
    if !out.is_null() {
        // SAFETY: non-null and writable by the caller's guarantee.
        unsafe { out.write(WharfBuf::from_vec(bytes)) };
    }
}

/// The panic's message (`PANICKED` already says it was a panic).
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Runs `call` with panics caught: `OK` with its answer in `out`, or
/// `FAILED` / `PANICKED` with the message in `out`.
///
/// # Safety
/// A non-null `out` is writable.
unsafe fn guarded(out: *mut WharfBuf, call: impl FnOnce() -> Result<Vec<u8>, String>) -> u32 {
    let (code, bytes) = match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(answer)) if answer.is_empty() => return status::OK,
        Ok(Ok(answer)) => (status::OK, answer),
        Ok(Err(message)) => (status::FAILED, message.into_bytes()),
        Err(payload) => (status::PANICKED, panic_text(payload.as_ref()).into_bytes()),
    };
    // SAFETY: as the caller guarantees.
    unsafe { answer(out, bytes) };
    code
}

/// A borrowed string of the host, `""` when null.
///
/// # Safety
/// A non-null `text` points to `len` bytes readable for the call.
unsafe fn text<'a>(text: WharfStr, what: &str) -> Result<&'a str, String> {
    // SAFETY: as the caller guarantees.
    match unsafe { text.read() } {
        None => Ok(""),
        Some(Ok(text)) => Ok(text),
        Some(Err(e)) => Err(format!("the {what} is not UTF-8: {e}")),
    }
}

/// The driver behind an instance pointer.
///
/// # Safety
/// `instance` is null or came from `driver_new::<D>` and is not dropped yet.
unsafe fn driver<'a, D: RuntimeDriver>(instance: *mut c_void) -> Result<&'a D, String> {
    if instance.is_null() {
        return Err("no driver instance".to_owned());
    }
    // SAFETY: made by `Box::into_raw` in `driver_new::<D>`, alive; `D: Sync`
    // makes the shared reference fine from any thread.
    Ok(unsafe { &*instance.cast::<D>() })
}

/// `wharf_runtime_new`.
///
/// # Safety
/// `config` is readable for the call; `out_instance` and `out` are writable.
pub unsafe fn driver_new<D: RuntimeDriver>(
    config: WharfStr,
    out_instance: *mut *mut c_void,
    out: *mut WharfBuf,
) -> u32 {
    // SAFETY: the host upholds the ABI.
    unsafe {
        guarded(out, || {
            if out_instance.is_null() {
                return Err("no out_instance".to_owned());
            }
            let driver = D::new(text(config, "config")?).map_err(|e| e.to_string())?;
            let name = driver.name().as_bytes().to_vec();
            out_instance.write(Box::into_raw(Box::new(driver)).cast::<c_void>());
            Ok(name)
        })
    }
}

/// `wharf_runtime_start`.
///
/// # Safety
/// A live instance of `D`; `spec` readable for the call; `out` writable.
pub unsafe fn driver_start<D: RuntimeDriver>(
    instance: *mut c_void,
    spec: WharfStr,
    out: *mut WharfBuf,
) -> u32 {
    // SAFETY: the host upholds the ABI.
    unsafe {
        guarded(out, || {
            let driver = driver::<D>(instance)?;
            let bytes = if spec.ptr.is_null() {
                &[]
            } else {
                std::slice::from_raw_parts(spec.ptr, spec.len)
            };
            let spec = StartSpec::from_bytes(bytes).map_err(|e| format!("the start spec: {e}"))?;
            let id = driver.start(&spec).map_err(|e| e.to_string())?;
            if id.is_empty() {
                return Err("the driver returned an empty container ID".to_owned());
            }
            Ok(id.into_bytes())
        })
    }
}

/// `wharf_runtime_state`.
///
/// # Safety
/// A live instance of `D`; `id` readable for the call; `out` writable.
pub unsafe fn driver_state<D: RuntimeDriver>(
    instance: *mut c_void,
    id: WharfStr,
    out: *mut WharfBuf,
) -> u32 {
    // SAFETY: the host upholds the ABI.
    unsafe {
        guarded(out, || {
            let state = driver::<D>(instance)?
                .state(text(id, "container ID")?)
                .map_err(|e| e.to_string())?;
            Ok(state.to_bytes())
        })
    }
}

/// `wharf_runtime_signal`.
///
/// # Safety
/// A live instance of `D`; `id` readable for the call; `out` writable.
pub unsafe fn driver_signal<D: RuntimeDriver>(
    instance: *mut c_void,
    id: WharfStr,
    signal: u32,
    out: *mut WharfBuf,
) -> u32 {
    // SAFETY: the host upholds the ABI.
    unsafe {
        guarded(out, || {
            let signal =
                Signal::from_code(signal).ok_or_else(|| format!("unknown signal code {signal}"))?;
            driver::<D>(instance)?
                .signal(text(id, "container ID")?, signal)
                .map_err(|e| e.to_string())?;
            Ok(Vec::new())
        })
    }
}

/// `wharf_runtime_remove`.
///
/// # Safety
/// A live instance of `D`; `id` readable for the call; `out` writable.
pub unsafe fn driver_remove<D: RuntimeDriver>(
    instance: *mut c_void,
    id: WharfStr,
    out: *mut WharfBuf,
) -> u32 {
    // SAFETY: the host upholds the ABI.
    unsafe {
        guarded(out, || {
            driver::<D>(instance)?
                .remove(text(id, "container ID")?)
                .map_err(|e| e.to_string())?;
            Ok(Vec::new())
        })
    }
}

/// `wharf_runtime_drop`.
///
/// # Safety
/// `instance` is null or came from `driver_new::<D>`, and no call on it is
/// running or follows.
pub unsafe fn driver_drop<D: RuntimeDriver>(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    // A panicking Drop must not unwind into the host; the instance is gone
    // either way.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: made by `Box::into_raw` in `driver_new::<D>`, dropped once.
        drop(unsafe { Box::from_raw(instance.cast::<D>()) });
    }));
}

/// `wharf_runtime_free_buf`.
///
/// # Safety
/// `buf` is null or was returned by this library, and is freed once.
pub unsafe fn free_buf(buf: WharfBuf) {
    // SAFETY: made by `WharfBuf::from_vec` here and handed back once.
    unsafe { buf.free() }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use wharf_plugin_abi::runtime::ContainerState;

    use super::*;
    use crate::runtime_driver::{Error, Result};

    /// Remembers started containers as exited with 0; panics when told to.
    struct Recorder {
        started: Mutex<Vec<String>>,
    }

    impl RuntimeDriver for Recorder {
        fn new(config: &str) -> Result<Self> {
            if config == "bad" {
                return Err(Error::Config("bad".to_owned()));
            }
            Ok(Recorder {
                started: Mutex::new(Vec::new()),
            })
        }

        fn name(&self) -> &str {
            "recorder"
        }

        fn start(&self, spec: &StartSpec) -> Result<String> {
            assert_ne!(spec.container, "boom", "told to panic");
            let id = format!("{}/{}", spec.pod_name, spec.container);
            self.started.lock().unwrap().push(id.clone());
            Ok(id)
        }

        fn state(&self, id: &str) -> Result<ContainerState> {
            let known = self.started.lock().unwrap().iter().any(|s| s == id);
            Ok(if known {
                ContainerState::Exited {
                    code: 0,
                    oom_killed: false,
                }
            } else {
                ContainerState::Unknown
            })
        }

        fn signal(&self, id: &str, _: Signal) -> Result<()> {
            Err(Error::UnknownContainer(id.to_owned()))
        }

        fn remove(&self, id: &str) -> Result<()> {
            self.started.lock().unwrap().retain(|s| s != id);
            Ok(())
        }
    }

    /// The bytes of a buffer of ours, freed; empty for null.
    fn take(buf: WharfBuf) -> Vec<u8> {
        if buf.ptr.is_null() {
            return Vec::new();
        }
        // SAFETY: a buffer this module returned, read then freed once.
        unsafe {
            let bytes = std::slice::from_raw_parts(buf.ptr, buf.len).to_vec();
            free_buf(buf);
            bytes
        }
    }

    fn spec(container: &str) -> Vec<u8> {
        StartSpec {
            pod_name: "web".into(),
            container: container.into(),
            ..StartSpec::default()
        }
        .to_bytes()
    }

    #[test]
    fn the_exports_start_report_and_remove_and_turn_a_panic_into_a_failed_call() {
        let mut instance = std::ptr::null_mut();
        let mut out = WharfBuf::NULL;
        // SAFETY: every pointer is valid for its call; the instance is
        // dropped once at the end.
        unsafe {
            let code = driver_new::<Recorder>(WharfStr::of(""), &raw mut instance, &raw mut out);
            assert_eq!(code, status::OK);
            assert_eq!(take(out), b"recorder");

            let nginx = spec("nginx");
            let code = driver_start::<Recorder>(instance, WharfStr::of_bytes(&nginx), &raw mut out);
            assert_eq!(code, status::OK);
            assert_eq!(take(out), b"web/nginx");

            let code = driver_state::<Recorder>(instance, WharfStr::of("web/nginx"), &raw mut out);
            assert_eq!(code, status::OK);
            assert_eq!(
                ContainerState::from_bytes(&take(out)),
                Ok(ContainerState::Exited {
                    code: 0,
                    oom_killed: false
                })
            );

            out = WharfBuf::NULL;
            let code = driver_remove::<Recorder>(instance, WharfStr::of("web/nginx"), &raw mut out);
            assert_eq!((code, take(out)), (status::OK, vec![]));

            let code = driver_signal::<Recorder>(instance, WharfStr::of("x"), 0, &raw mut out);
            assert_eq!(code, status::FAILED);
            assert_eq!(take(out), b"no container x");

            let code = driver_signal::<Recorder>(instance, WharfStr::of("x"), 7, &raw mut out);
            assert_eq!(code, status::FAILED);
            assert_eq!(take(out), b"unknown signal code 7");

            let code = driver_start::<Recorder>(instance, WharfStr::of("junk"), &raw mut out);
            assert_eq!(code, status::FAILED);
            assert!(
                String::from_utf8(take(out))
                    .unwrap()
                    .starts_with("the start spec")
            );

            let boom = spec("boom");
            let code = driver_start::<Recorder>(instance, WharfStr::of_bytes(&boom), &raw mut out);
            assert_eq!(code, status::PANICKED);
            assert!(
                String::from_utf8(take(out))
                    .unwrap()
                    .contains("told to panic")
            );

            driver_drop::<Recorder>(instance);
        }
    }

    #[test]
    fn a_bad_config_fails_new_and_leaves_no_instance() {
        let mut instance = std::ptr::null_mut();
        let mut out = WharfBuf::NULL;
        // SAFETY: every pointer is valid for the call.
        let code =
            unsafe { driver_new::<Recorder>(WharfStr::of("bad"), &raw mut instance, &raw mut out) };
        assert_eq!(code, status::FAILED);
        assert_eq!(take(out), b"invalid config: bad");
        assert!(instance.is_null());
    }
}
