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
mod transform;
mod types;
mod watch;

pub use embedded::{EmbeddedConfig, EmbeddedStore};
pub use error::{Error, Result};
pub use etcd::{EtcdConfig, EtcdStore};
pub use transform::{Transformer, TransformingStore};
pub use types::{
    ContinueToken, DeleteOutcome, EventKind, KeyValue, ListOptions, ListPage, MAX_VALUE_BYTES,
    WatchEvent, Write, prefix_end,
};
pub use watch::WatchStream;

use async_trait::async_trait;
use bytes::Bytes;

/// The answer to writes [`Store::queue_all`] queued.
pub type Queued =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<KeyValue>>> + Send + 'static>>;

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

    /// Replaces `key` if its value is still `expected_value` (see
    /// [`Write::Replace`]); fails with [`Error::Conflict`] (`expected` 0)
    /// when it is not, [`Error::NotFound`] when absent.
    async fn replace(&self, key: &str, value: Bytes, expected_value: Bytes) -> Result<KeyValue>;

    /// Deletes `key`, guarded by its modify revision when one is given.
    async fn delete(&self, key: &str, expected_mod_revision: Option<i64>) -> Result<DeleteOutcome>;

    /// Applies `writes` (on distinct keys) together: each is checked as its
    /// own call would be, and either all are stored, each with its own
    /// revision in order, or none is and the error is the first write's
    /// that failed. Returns what each wrote (for a delete: the deleted key
    /// at the delete's revision).
    ///
    /// The embedded store applies them in one transaction. This default,
    /// which [`EtcdStore`] uses, applies them one by one and stops at the
    /// first failure, leaving the earlier ones stored (an etcd transaction
    /// would give them all one revision, which the watch cache does not
    /// expect of a revision).
    async fn write_all(&self, writes: Vec<Write>) -> Result<Vec<KeyValue>> {
        check_distinct(&writes)?;
        let mut written = Vec::with_capacity(writes.len());
        for write in writes {
            written.push(match write {
                Write::Create { key, value } => self.create(&key, value).await?,
                Write::Update {
                    key,
                    value,
                    expected,
                } => self.update(&key, value, expected).await?,
                Write::Replace {
                    key,
                    value,
                    expected_value,
                } => self.replace(&key, value, expected_value).await?,
                Write::Delete { key, expected } => {
                    let outcome = self.delete(&key, expected).await?;
                    KeyValue {
                        key,
                        value: Bytes::new(),
                        create_revision: outcome.previous.create_revision,
                        mod_revision: outcome.revision,
                        version: 0,
                    }
                }
            });
        }
        Ok(written)
    }

    /// [`write_all`](Self::write_all), queued before this returns: writes
    /// queued one after another are applied in that order, whenever their
    /// answers are awaited. The writes come back when the backend cannot
    /// promise that order (then the caller must await each write before
    /// the next: etcd's requests may overtake each other). The embedded
    /// store queues them to its single writer, so writes queued back to
    /// back can share one transaction and one fsync.
    fn queue_all(&self, writes: Vec<Write>) -> std::result::Result<Queued, Vec<Write>> {
        Err(writes)
    }

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

/// [`Store::write_all`]'s writes must be on distinct keys.
pub(crate) fn check_distinct(writes: &[Write]) -> Result<()> {
    let mut keys: Vec<&str> = writes.iter().map(Write::key).collect();
    keys.sort_unstable();
    match keys.windows(2).find(|pair| pair[0] == pair[1]) {
        Some(pair) => Err(Error::InvalidKey {
            key: pair[0].to_owned(),
            reason: "written twice in one write_all",
        }),
        None => Ok(()),
    }
}
