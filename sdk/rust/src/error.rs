//! The one error type of the SDK: what a cluster call, a (de)serialization or
//! a controller can fail with.

/// Why an SDK call or a reconcile failed.
///
/// The first six variants are the WIT `api-error`, as the Kubernetes API
/// would say it; a controller returns any of them from `reconcile` and the
/// host retries the key with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 404: the object (or its namespace) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// 409: an object with that name exists.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// 409: the resourceVersion was stale; read again and retry.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 403: the plugin's permissions do not allow this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 400/422: the object or request is invalid.
    #[error("invalid: {0}")]
    Invalid(String),
    /// Anything else: the host failed, a timeout, or a controller's own error.
    #[error("{0}")]
    Other(String),
    /// An object could not be turned into JSON or read back from it.
    #[error("serialization: {0}")]
    Serialization(#[from] serde_json::Error),
}

/// The SDK's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Other`] from any message.
    pub fn other(message: impl std::fmt::Display) -> Self {
        Error::Other(message.to_string())
    }

    /// Whether this is [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_))
    }

    /// Whether this is [`Error::AlreadyExists`].
    pub fn is_already_exists(&self) -> bool {
        matches!(self, Error::AlreadyExists(_))
    }

    /// Whether this is [`Error::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict(_))
    }
}
