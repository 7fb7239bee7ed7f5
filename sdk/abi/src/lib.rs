//! The C ABI between Wharf's host and native (cdylib) plugins, defined once:
//! the SDK (`wharf_sdk::native`) and the host (`wharf_plugins::native`)
//! compile against these types, so the two sides cannot drift.
//!
//! The rules (ownership, null meanings, the frame format) are documented in
//! `wharf_sdk::native`. In short: strings are borrowed for one call; a
//! buffer is freed by the side that allocated it ([`WharfBuf::free`] on that
//! side's own allocator); `list` and `create_all` answer with frames.
//!
//! Besides controllers: scheduling policies ([`policy`]) and container
//! runtime drivers ([`runtime`]), whose records cross in the binary form of
//! [`codec`].

// Raw pointers are this crate's subject: reading a borrowed string and
// freeing a buffer are unsafe, with their contracts on each function.
#![allow(unsafe_code)]

use std::ffi::c_void;

pub mod codec;
pub mod policy;
pub mod runtime;

/// The ABI version; a plugin and a host must agree on it.
pub const ABI_VERSION: u32 = 2;

/// Status codes of host calls and plugin exports.
pub mod status {
    /// A host call succeeded.
    pub const OK: u32 = 0;
    /// WIT `api-error::not-found`.
    pub const NOT_FOUND: u32 = 1;
    /// WIT `api-error::already-exists`.
    pub const ALREADY_EXISTS: u32 = 2;
    /// WIT `api-error::conflict`.
    pub const CONFLICT: u32 = 3;
    /// WIT `api-error::forbidden`.
    pub const FORBIDDEN: u32 = 4;
    /// WIT `api-error::invalid`.
    pub const INVALID: u32 = 5;
    /// WIT `api-error::other`.
    pub const OTHER: u32 = 6;
    /// `wharf_controller_reconcile`: nothing more to do.
    pub const DONE: u32 = 0;
    /// `wharf_controller_reconcile`: again after `*out_requeue_millis`.
    pub const REQUEUE: u32 = 1;
    /// A plugin export returned an error (message in the buffer).
    pub const FAILED: u32 = 100;
    /// A plugin export panicked (message in the buffer); the instance must
    /// be replaced.
    pub const PANICKED: u32 = 101;
}

/// A borrowed UTF-8 string; a null `ptr` is `None` (or empty).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WharfStr {
    pub ptr: *const u8,
    pub len: usize,
}

/// An owned byte buffer, freed by the side that allocated it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WharfBuf {
    pub ptr: *mut u8,
    pub len: usize,
}

/// A kind, as the WIT `kind` record.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WharfKind {
    pub group: WharfStr,
    pub version: WharfStr,
    pub kind: WharfStr,
}

/// A Kubernetes `Event`, as the WIT `events.event` record. `type_`: 0 Normal,
/// 1 Warning.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct WharfEvent {
    pub kind: WharfKind,
    pub namespace: WharfStr,
    pub name: WharfStr,
    pub type_: u32,
    pub reason: WharfStr,
    pub message: WharfStr,
}

/// What the host offers; `ctx` is the host context given to
/// `wharf_controller_new`. Patch types: 0 merge, 1 json, 2 strategic. Log
/// levels: 0 trace … 4 error.
#[repr(C)]
pub struct WharfHostVtable {
    pub abi_version: u32,
    pub get: unsafe extern "C" fn(
        ctx: *mut c_void,
        kind: *const WharfKind,
        namespace: WharfStr,
        name: WharfStr,
        out: *mut WharfBuf,
    ) -> u32,
    pub list: unsafe extern "C" fn(
        ctx: *mut c_void,
        kind: *const WharfKind,
        namespace: WharfStr,
        label_selector: WharfStr,
        field_selector: WharfStr,
        out: *mut WharfBuf,
    ) -> u32,
    pub create: unsafe extern "C" fn(
        ctx: *mut c_void,
        kind: *const WharfKind,
        namespace: WharfStr,
        object: WharfStr,
        out: *mut WharfBuf,
    ) -> u32,
    pub create_all: unsafe extern "C" fn(
        ctx: *mut c_void,
        kind: *const WharfKind,
        namespace: WharfStr,
        objects: *const WharfStr,
        count: usize,
        out: *mut WharfBuf,
    ) -> u32,
    pub update: unsafe extern "C" fn(
        ctx: *mut c_void,
        kind: *const WharfKind,
        namespace: WharfStr,
        object: WharfStr,
        out: *mut WharfBuf,
    ) -> u32,
    pub update_status: unsafe extern "C" fn(
        ctx: *mut c_void,
        kind: *const WharfKind,
        namespace: WharfStr,
        object: WharfStr,
        out: *mut WharfBuf,
    ) -> u32,
    pub patch: unsafe extern "C" fn(
        ctx: *mut c_void,
        kind: *const WharfKind,
        namespace: WharfStr,
        name: WharfStr,
        patch_type: u32,
        patch: WharfStr,
        status: bool,
        out: *mut WharfBuf,
    ) -> u32,
    pub delete: unsafe extern "C" fn(
        ctx: *mut c_void,
        kind: *const WharfKind,
        namespace: WharfStr,
        name: WharfStr,
        out: *mut WharfBuf,
    ) -> u32,
    pub log: unsafe extern "C" fn(ctx: *mut c_void, level: u32, message: WharfStr),
    pub state_get: unsafe extern "C" fn(ctx: *mut c_void, key: WharfStr, out: *mut WharfBuf) -> u32,
    pub state_set: unsafe extern "C" fn(ctx: *mut c_void, key: WharfStr, value: WharfStr),
    pub state_delete: unsafe extern "C" fn(ctx: *mut c_void, key: WharfStr),
    pub emit_event: unsafe extern "C" fn(ctx: *mut c_void, event: *const WharfEvent),
    pub now_millis: unsafe extern "C" fn(ctx: *mut c_void) -> u64,
    pub free_buf: unsafe extern "C" fn(ctx: *mut c_void, buf: WharfBuf),
    /// Every kind the API server stores (WIT `discovery.served-kinds`):
    /// JSON `[{"kind": {group, version, kind}, "plural", "namespaced",
    /// "verbs"}]` in `*out`. Since ABI 2.
    pub served_kinds: unsafe extern "C" fn(ctx: *mut c_void, out: *mut WharfBuf) -> u32,
    /// Replaces an object through a subresource (WIT `subresources.update`).
    /// Since ABI 2.
    pub update_subresource: unsafe extern "C" fn(
        ctx: *mut c_void,
        kind: *const WharfKind,
        namespace: WharfStr,
        subresource: WharfStr,
        object: WharfStr,
        out: *mut WharfBuf,
    ) -> u32,
}

impl WharfStr {
    /// The null string (`None`).
    pub const NULL: WharfStr = WharfStr {
        ptr: std::ptr::null(),
        len: 0,
    };

    /// Borrows `text` for one call.
    pub fn of(text: &str) -> Self {
        Self::of_bytes(text.as_bytes())
    }

    /// Borrows `bytes` for one call.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        WharfStr {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// `None` as the null string.
    pub fn optional(text: Option<&str>) -> Self {
        text.map_or(Self::NULL, Self::of)
    }

    /// The string, `None` when null.
    ///
    /// # Safety
    /// A non-null `ptr` points to `len` readable bytes for `'a`.
    pub unsafe fn read<'a>(self) -> Option<Result<&'a str, std::str::Utf8Error>> {
        if self.ptr.is_null() {
            return None;
        }
        // SAFETY: non-null, and the caller guarantees `len` readable bytes.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
        Some(std::str::from_utf8(bytes))
    }
}

impl WharfBuf {
    /// The null buffer: empty or absent.
    pub const NULL: WharfBuf = WharfBuf {
        ptr: std::ptr::null_mut(),
        len: 0,
    };

    /// A buffer on this side's allocator, freed only by [`WharfBuf::free`]
    /// on this side.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        let boxed = bytes.into_boxed_slice();
        let len = boxed.len();
        WharfBuf {
            ptr: Box::into_raw(boxed).cast::<u8>(),
            len,
        }
    }

    /// Frees a buffer made by [`WharfBuf::from_vec`] on this side; null is a no-op.
    ///
    /// # Safety
    /// `self` came from `from_vec` in this same binary and is freed once.
    pub unsafe fn free(self) {
        if self.ptr.is_null() {
            return;
        }
        let slice = std::ptr::slice_from_raw_parts_mut(self.ptr, self.len);
        // SAFETY: the caller guarantees it is a `Box<[u8]>` of ours, freed once.
        drop(unsafe { Box::from_raw(slice) });
    }
}

/// Appends one frame — a `u32` status and a `u64` length (little endian),
/// then the bytes — as `list` and `create_all` answer.
pub fn push_frame(frames: &mut Vec<u8>, code: u32, bytes: &[u8]) {
    frames.extend_from_slice(&code.to_le_bytes());
    frames.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    frames.extend_from_slice(bytes);
}

/// Splits frames into (status, bytes) items; `None` when truncated.
pub fn split_frames(mut bytes: &[u8]) -> Option<Vec<(u32, Vec<u8>)>> {
    let mut items = Vec::new();
    while !bytes.is_empty() {
        let (code, rest) = bytes.split_at_checked(4)?;
        let (len, rest) = rest.split_at_checked(8)?;
        let code = u32::from_le_bytes(code.try_into().ok()?);
        let len = usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok()?;
        let (item, rest) = rest.split_at_checked(len)?;
        items.push((code, item.to_vec()));
        bytes = rest;
    }
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_truncation_is_detected() {
        let mut frames = Vec::new();
        push_frame(&mut frames, status::OK, b"one");
        push_frame(&mut frames, status::CONFLICT, b"");
        assert_eq!(
            split_frames(&frames),
            Some(vec![
                (status::OK, b"one".to_vec()),
                (status::CONFLICT, vec![])
            ])
        );
        for cut in 1..frames.len() {
            let parsed = split_frames(&frames[..cut]);
            assert!(
                parsed.is_none() || parsed.as_ref().is_some_and(|items| items.len() == 1),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn strings_and_buffers_keep_their_null_meaning() {
        // SAFETY: the strings borrow live data.
        unsafe {
            assert!(WharfStr::NULL.read().is_none());
            assert_eq!(WharfStr::of("pod").read().unwrap().unwrap(), "pod");
            assert!(WharfStr::optional(None).read().is_none());
            let buf = WharfBuf::from_vec(b"abc".to_vec());
            assert_eq!(std::slice::from_raw_parts(buf.ptr, buf.len), b"abc");
            buf.free();
            WharfBuf::NULL.free();
        }
    }
}
