//! Wharf's plugin runtime: WebAssembly components behind the `wharf:plugin`
//! WIT contract (`wit/`), sandboxed and bounded.
//!
//! - [`Runtime`]: one wasmtime engine (lean features, pooling allocator,
//!   epoch interruption) and the compiled-component cache keyed by digest.
//! - [`controller`]: the `controller` world: load a module, instantiate it
//!   with a [`controller::ControllerHost`], call `init` and `reconcile`.
//! - [`native`]: the same plugins built as shared libraries and loaded
//!   with `dlopen` (trusted: no sandbox, deadline or memory limit);
//!   [`controller::ModuleKind`] runs either kind.
//! - [`policy`]: the `scheduler` world: scheduling policies as components
//!   or native libraries behind one [`policy::PolicyInstance`].
//! - [`Limits`] and [`Permissions`]: memory and time per call; cluster
//!   operations allowed (deny by default).
//!
//! A plugin that traps, loops past its deadline or runs out of memory fails
//! that call with a [`PluginError`]; the caller replaces the instance and
//! everything else runs on.

pub mod controller;
mod engine;
mod error;
mod limits;
pub mod native;
pub mod policy;

pub use engine::{EPOCH_TICK, Runtime, RuntimeConfig, digest};
pub use error::PluginError;
pub use limits::{Limits, PermissionRule, Permissions};
