//! The store's errors: one variant per way a caller must react differently.

/// A store result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key does not exist (update or delete of a missing key).
    #[error("key {key:?} not found")]
    NotFound { key: String },

    /// The key exists already (create).
    #[error("key {key:?} already exists")]
    AlreadyExists { key: String },

    /// The compare-and-swap guard was stale: the key has been written since.
    #[error("conflict on {key:?}: expected modify revision {expected}, found {current}")]
    Conflict {
        key: String,
        expected: i64,
        current: i64,
    },

    /// The revision asked for has been compacted away: history is gone.
    /// `compacted` is the compacted revision, or 0 where the backend does not say.
    #[error("revision {requested} has been compacted (compacted revision: {compacted})")]
    Compacted { requested: i64, compacted: i64 },

    /// The revision asked for is newer than the store's latest.
    #[error("revision {requested} is newer than the store's latest revision {current}")]
    FutureRevision { requested: i64, current: i64 },

    /// The value is larger than [`crate::MAX_VALUE_BYTES`].
    #[error("value for {key:?} is {size} bytes, over the limit of {limit} bytes")]
    ValueTooLarge {
        key: String,
        size: usize,
        limit: usize,
    },

    /// The key is empty or contains a NUL byte.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },

    /// The backend failed (I/O, database, network to etcd).
    #[error("store backend failed: {0}")]
    Backend(String),

    /// A value could not be sealed or opened by the store's
    /// [`Transformer`](crate::Transformer) (a missing key, a value moved to
    /// another key, corruption).
    #[error("the value of {key:?} cannot be {action}: {reason}")]
    Transform {
        key: String,
        action: &'static str,
        reason: String,
    },

    /// The store has been shut down.
    #[error("store is closed")]
    Closed,
}

impl Error {
    pub(crate) fn backend(error: impl std::fmt::Display) -> Self {
        Self::Backend(error.to_string())
    }
}
