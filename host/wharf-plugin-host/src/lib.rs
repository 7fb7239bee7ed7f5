//! Wharf's plugin host: what every plugin world shares above the wasmtime
//! runtime (`wharf-plugins`).
//!
//! - [`spec`]: a `Plugin` object's spec (module, limits, permissions,
//!   config) and reading its module.
//! - [`supervisor`]: one [`Supervisor`] per world follows the Plugins of
//!   its type: start, hot reload on a new digest or a changed module file,
//!   stop, backoff on failure, status. A world is a [`PluginWorld`] impl
//!   (the controller manager's, the scheduler's, the admission chain's).
//! - [`leader`]: leader election through a Lease, for the components that
//!   must run once per cluster.

pub mod leader;
pub mod spec;
pub mod supervisor;

pub use spec::{ModuleSource, PluginSpec};
pub use supervisor::{PluginWorld, RunningPlugin, Supervisor};
