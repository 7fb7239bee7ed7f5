//! Admission plugins in the API server's write path: the `admission` world
//! of `wharf-plugin-host`'s supervisor, and the [`Chain`] the API server
//! calls for every write (`wharf_apiserver::AdmissionChain`).
//!
//! - [`AdmissionPlugins`] is the world: starting a Plugin of type
//!   `admission` compiles its module, calls `init` once to learn what it
//!   reviews, and puts it into the chain; a new module or new settings
//!   replace it there in one swap (reviews under way finish on the old
//!   one), a deleted Plugin leaves the chain.
//! - [`Chain`] holds the current set: mutating plugins first, then
//!   validating ones, each in `spec.config.order`. Each review runs on an
//!   instance from the plugin's pool, under its deadline (default 100 ms)
//!   and memory limit (32 MiB). A denial is a 403 naming the plugin; a
//!   failure (trap, deadline, memory) counts on the plugin's status and,
//!   under `failurePolicy: Fail` (the default), refuses the write with a
//!   500 naming the plugin; under `Ignore` the write goes on.
//!
//! Host settings in `spec.config`: `order`, `failurePolicy`,
//! `namespaceSelector` and `objectSelector` (label selectors, as admission
//! webhooks have), `instances` (how many reviews of the plugin run at once,
//! default 4; more wait for one to end); the whole config also goes to the
//! plugin's `init`.

mod chain;
mod world;

pub use chain::Chain;
pub use world::AdmissionPlugins;
