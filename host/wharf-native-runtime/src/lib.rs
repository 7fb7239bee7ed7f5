//! Container runtime drivers as native shared libraries: the node agent's
//! side of the runtime ABI (`wharf_plugin_abi::runtime`, which documents
//! it). A third party builds a driver with the SDK's `RuntimeDriver` trait
//! and `export_runtime_driver!` (`plugins/runtimes/example-runtime` is the
//! sample); [`NativeRuntime::load`] opens it and gives a safe handle.
//!
//! **A driver is trusted.** It runs in the agent's process with its
//! privileges. A panic fails only the call ([`NativeRuntimeError::Panicked`]),
//! but an abort or a segfault takes the agent down with it.

mod error;
mod runtime;

pub use error::NativeRuntimeError;
pub use runtime::NativeRuntime;
pub use wharf_plugin_abi::runtime::{ContainerState, Mount, Signal, StartSpec};
