//! The native C ABI of scheduling policies (see
//! `wharf_plugin_abi::policy::symbols`): what
//! [`export_policy!`](crate::export_policy) forwards its exports to.
//!
//! Messages cross encoded (`wharf_plugin_abi::policy::{Encode, Decode}`),
//! borrowed for the call; buffers the plugin returns are freed by
//! `wharf_policy_free_buf`. Scores are written straight into the host's
//! array. No panic crosses the boundary: it fails the call with
//! `PANICKED`, and the host replaces the instance.

// Unsafe code is confined to this module: it reads the host's borrowed
// strings and arrays for one call and turns the instance pointer back into
// the `Box` it came from, as the ABI requires.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use wharf_plugin_abi::policy::{Change, Decode, Encode, Pod};
pub use wharf_plugin_abi::{WharfBuf, WharfStr, status};

use super::{Instance, Policy};

/// The policy ABI's version.
pub const POLICY_ABI_VERSION: u32 = 1;

fn message(out: *mut WharfBuf, text: &str) {
    if !out.is_null() {
        // SAFETY: the host passes a writable `out`.
        unsafe { *out = WharfBuf::from_vec(text.as_bytes().to_vec()) };
    }
}

fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "the policy panicked".into())
}

/// # Safety
/// `bytes` is a valid borrowed string for the call.
unsafe fn bytes<'a>(bytes: WharfStr) -> &'a [u8] {
    if bytes.ptr.is_null() {
        return &[];
    }
    // SAFETY: non-null, and the host guarantees `len` readable bytes.
    unsafe { std::slice::from_raw_parts(bytes.ptr, bytes.len) }
}

/// Runs `call` with panics caught: `OK`, `FAILED` or `PANICKED`, the
/// message in `out`.
fn guarded(out: *mut WharfBuf, call: impl FnOnce() -> Result<(), String>) -> u32 {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(())) => status::OK,
        Ok(Err(text)) => {
            message(out, &text);
            status::FAILED
        }
        Err(panic) => {
            message(out, &panic_text(panic));
            status::PANICKED
        }
    }
}

/// `wharf_policy_new`.
///
/// # Safety
/// `config` is valid for the call and `out` writable.
pub unsafe fn policy_new<P: Policy>(config: WharfStr, out: *mut WharfBuf) -> *mut c_void {
    // SAFETY: the host upholds the ABI.
    let config = unsafe { bytes(config) };
    let mut instance = std::ptr::null_mut();
    guarded(out, || {
        let config = std::str::from_utf8(config).map_err(|e| e.to_string())?;
        let built = Instance::<P>::new(config).map_err(|e| e.to_string())?;
        // SAFETY: the host passes a writable `out`.
        unsafe { *out = WharfBuf::from_vec(built.registration().to_bytes()) };
        instance = Box::into_raw(Box::new(built)).cast::<c_void>();
        Ok(())
    });
    instance
}

/// # Safety
/// `instance` came from `policy_new::<P>` and is used by one thread.
unsafe fn instance<'a, P: Policy>(instance: *mut c_void) -> &'a mut Instance<P> {
    // SAFETY: as the caller guarantees.
    unsafe { &mut *instance.cast::<Instance<P>>() }
}

/// `wharf_policy_update`.
///
/// # Safety
/// As the ABI: a live instance, `changes` valid for the call.
pub unsafe fn policy_update<P: Policy>(
    handle: *mut c_void,
    changes: WharfStr,
    out: *mut WharfBuf,
) -> u32 {
    // SAFETY: the host upholds the ABI.
    let (policy, changes) = unsafe { (instance::<P>(handle), bytes(changes)) };
    guarded(out, || {
        let changes = Vec::<Change>::from_bytes(changes).map_err(|e| e.to_string())?;
        policy.update(changes);
        Ok(())
    })
}

/// `wharf_policy_filter`.
///
/// # Safety
/// As the ABI: a live instance, `pod` and `count` candidates valid for the call.
pub unsafe fn policy_filter<P: Policy>(
    handle: *mut c_void,
    pod: WharfStr,
    candidates: *const u32,
    count: usize,
    out: *mut WharfBuf,
) -> u32 {
    // SAFETY: the host upholds the ABI.
    let (policy, pod, candidates) = unsafe {
        (
            instance::<P>(handle),
            bytes(pod),
            std::slice::from_raw_parts(candidates, count),
        )
    };
    guarded(out, || {
        let pod = Pod::from_bytes(pod).map_err(|e| e.to_string())?;
        let filtered = policy.filter(pod, candidates).map_err(|e| e.to_string())?;
        // SAFETY: the host passes a writable `out`.
        unsafe { *out = WharfBuf::from_vec(filtered.to_bytes()) };
        Ok(())
    })
}

/// `wharf_policy_score`.
///
/// # Safety
/// As the ABI: a live instance, `pod`, `count` candidates and `count`
/// writable scores valid for the call.
pub unsafe fn policy_score<P: Policy>(
    handle: *mut c_void,
    pod: WharfStr,
    candidates: *const u32,
    count: usize,
    scores: *mut i64,
    out: *mut WharfBuf,
) -> u32 {
    // SAFETY: the host upholds the ABI.
    let (policy, pod, candidates, scores) = unsafe {
        (
            instance::<P>(handle),
            bytes(pod),
            std::slice::from_raw_parts(candidates, count),
            std::slice::from_raw_parts_mut(scores, count),
        )
    };
    guarded(out, || {
        let pod = Pod::from_bytes(pod).map_err(|e| e.to_string())?;
        policy
            .score(pod, candidates, scores)
            .map_err(|e| e.to_string())
    })
}

/// `wharf_policy_free`.
///
/// # Safety
/// `handle` came from `policy_new::<P>` and is freed once.
pub unsafe fn policy_free<P: Policy>(handle: *mut c_void) {
    if !handle.is_null() {
        // SAFETY: as the caller guarantees.
        drop(unsafe { Box::from_raw(handle.cast::<Instance<P>>()) });
    }
}

/// `wharf_policy_free_buf`.
///
/// # Safety
/// `buf` was returned by this plugin and is freed once.
pub unsafe fn policy_free_buf(buf: WharfBuf) {
    // SAFETY: as the caller guarantees.
    unsafe { buf.free() }
}
