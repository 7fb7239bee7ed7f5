//! Wharf's controller manager: the machinery that drives controller plugins.
//!
//! Layers, as in controller-runtime: shared [`informer`]s (one watch and one
//! cache per kind) → handlers that only enqueue keys → a [`queue`] per
//! controller (dedupe, backoff, resync) → worker threads that call the
//! plugin's `reconcile` ([`plugin`]) → writes through the API server with the
//! plugin's permissions ([`host`]). The [`manager`] is the controller world
//! of `wharf-plugin-host`'s supervisor: it runs every `Plugin` object of
//! type `controller` and reloads it when its module changes.
//! The [`gc`] deletes objects whose owners are gone, as kube's garbage
//! collector does, for every kind; [`podgc`] deletes pods bound to nodes
//! that do not exist.

pub mod gc;
pub mod host;
pub mod informer;
pub mod manager;
pub mod plugin;
pub mod podgc;
pub mod queue;

pub use gc::GarbageCollector;
pub use manager::ControllerManager;
pub use podgc::PodGarbageCollector;
