//! A client of the API server, and what clients and the server share.
//!
//! - [`Client`]: the API server's operations (get, list, watch with
//!   selectors, create, update, patch, delete), implemented in `wharf up`'s
//!   process by the API server's `LocalClient` and across the network by
//!   [`RemoteClient`]; [`ApiClient`] is a shared handle to either.
//! - [`watcher`]: list-and-watch over any client; [`events`]: the event
//!   recorder of the components that report on pods.
//! - The shared types: [`ApiError`] (a Kubernetes `Status`), [`ResourceDef`]
//!   and [`Registry`] (the served kinds), [`Patch`], label and field
//!   selectors, watch [`Delivery`]s, [`DeleteParams`], names and times.
//!
//! A node agent on another machine links this crate, not the API server.

pub mod certificates;
pub mod client;
pub mod error;
pub mod events;
pub mod kubeconfig;
pub mod meta;
pub mod patch;
pub mod remote;
pub mod resources;
pub mod selectors;
pub mod transport;
pub mod watch;
pub mod watcher;

pub use client::{ApiClient, Client, Listed, Selectors};
pub use error::{ApiError, ApiResult, Cause};
pub use kubeconfig::ClusterAccess;
pub use meta::{DeleteParams, name_of, now, now_micro_time, now_rfc3339};
pub use patch::Patch;
pub use remote::RemoteClient;
pub use resources::{
    Column, CustomKind, CustomNames, Registry, ResourceDef, ScalePaths, Subresource,
};
pub use selectors::{FieldSelector, LabelSelector};
pub use transport::{PoolOptions, Transport};
pub use watch::{CachedEvent, Delivery, WatchType};
