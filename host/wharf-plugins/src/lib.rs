//! Wharf's plugin runtime: WebAssembly components behind the `wharf:plugin`
//! WIT contract (`wit/`), sandboxed and bounded.
//!
//! - [`world`]: what every world shares: a [`world::World`] impl per
//!   world, [`world::Module`] (compile, link) and [`world::Instance`]
//!   (a store with a memory limit; every call under a deadline, its failure
//!   classified from wasmtime's typed errors).
//! - [`Runtime`]: one wasmtime engine (lean features, pooling allocator,
//!   epoch interruption) and the compiled-component cache keyed by digest.
//! - [`controller`]: the `controller` world: load a module, instantiate it
//!   with a [`controller::ControllerHost`], call `init` and `reconcile`.
//! - [`native`]: the same plugins built as shared libraries and loaded
//!   with `dlopen` (trusted: no sandbox, deadline or memory limit);
//!   [`controller::ModuleKind`] runs either kind.
//! - [`policy`]: the `scheduler` world: scheduling policies as components
//!   or native libraries behind one [`policy::PolicyInstance`].
//! - [`admission`]: the `admission` world: plugins that review writes.
//! - [`Limits`] and [`Permissions`]: memory and time per call; cluster
//!   operations allowed (deny by default).
//!
//! A plugin that traps, loops past its deadline or runs out of memory fails
//! that call with a [`PluginError`]; the caller replaces the instance and
//! everything else runs on.

pub mod admission;
pub mod controller;
mod engine;
mod error;
mod imports;
mod limits;
pub mod native;
pub mod policy;
mod stats;
mod stdio;
pub mod world;

pub use engine::{EPOCH_TICK, Runtime, RuntimeConfig, digest};
pub use error::PluginError;
pub use imports::{NoClusterHost, log_as};
pub use limits::{Limits, PermissionRule, Permissions};
pub use stats::PluginStats;
