//! Wharf's revisioned key-value store.
//!
//! One trait, [`Store`], with the semantics the API server needs from etcd:
//! a single global revision, per-key create/modify revisions and versions,
//! compare-and-swap writes, consistent paged lists, ordered watches with the
//! previous value, and compaction of old history.
//!
//! Two backends implement it:
//! - [`EmbeddedStore`]: the default, durable on disk in a redb database, with
//!   group commit and watch history served from memory;
//! - [`EtcdStore`]: a real etcd through the `etcd-client` crate, for several
//!   Wharf control planes over one etcd cluster.
//!
//! The store knows keys, bytes and revisions; it knows nothing about
//! Kubernetes objects, JSON or HTTP.

mod embedded;
mod error;
mod etcd;
pub mod etcd_process;
mod types;
mod watch;

pub use embedded::{EmbeddedConfig, EmbeddedStore};
pub use error::{Error, Result};
pub use etcd::{EtcdConfig, EtcdStore};
pub use types::{
    ContinueToken, DeleteOutcome, EventKind, KeyValue, ListOptions, ListPage, MAX_VALUE_BYTES,
    WatchEvent, prefix_end,
};
pub use watch::WatchStream;

use async_trait::async_trait;
use bytes::Bytes;

/// The cluster's revisioned key-value store.
///
/// Revisions are positive and strictly increasing across the whole store;
/// every successful write gets a new one. A key's `create_revision` is the
/// revision that created it, its `mod_revision` the one that last wrote it,
/// and its `version` counts writes since it was created.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The latest version of `key`, or `None` when it does not exist.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// The keys starting with `prefix`, in key order, at one consistent
    /// revision: the latest, `options.revision`, or the continue token's.
    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListPage>;

    /// Creates `key`; fails with [`Error::AlreadyExists`] when it exists.
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue>;

    /// Replaces `key` if its modify revision is still `expected_mod_revision`;
    /// fails with [`Error::Conflict`] when stale, [`Error::NotFound`] when absent.
    async fn update(&self, key: &str, value: Bytes, expected_mod_revision: i64)
    -> Result<KeyValue>;

    /// Deletes `key`, guarded by its modify revision when one is given.
    async fn delete(&self, key: &str, expected_mod_revision: Option<i64>) -> Result<DeleteOutcome>;

    /// Every event on keys starting with `prefix` with a revision greater
    /// than `after_revision`, in revision order, none lost and none repeated.
    /// Fails with [`Error::Compacted`] when that history is gone.
    async fn watch(&self, prefix: &str, after_revision: i64) -> Result<WatchStream>;

    /// Drops history older than `revision`: lists and watches that need it
    /// fail with [`Error::Compacted`] afterwards.
    async fn compact(&self, revision: i64) -> Result<()>;

    /// The store's latest revision.
    async fn current_revision(&self) -> Result<i64>;
}
