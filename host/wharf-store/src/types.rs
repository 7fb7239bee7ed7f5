//! Values that cross the store's API.

use bytes::Bytes;

use crate::{Error, Result};

/// The largest value the store accepts: 1.5 MiB, etcd's default request limit.
pub const MAX_VALUE_BYTES: usize = 1536 * 1024;

/// One version of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// The revision that created the key.
    pub create_revision: i64,
    /// The revision that last wrote the key (for a delete event: the delete's).
    pub mod_revision: i64,
    /// Writes since creation: 1 when created, 0 in a delete event.
    pub version: i64,
}

/// How to list: at which revision, how many, from where.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// List at this revision instead of the latest (ignored with a token).
    pub revision: Option<i64>,
    /// At most this many items; `None` for all.
    pub limit: Option<usize>,
    /// Resume a paged list where the previous page stopped.
    pub continue_token: Option<ContinueToken>,
}

/// Where the next page of a list starts; pages share the first page's revision.
///
/// Its wire encoding belongs to whoever exposes it (the API server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContinueToken {
    pub revision: i64,
    /// The first key of the next page.
    pub start_key: String,
}

/// One page of a list.
#[derive(Clone, Debug)]
pub struct ListPage {
    pub items: Vec<KeyValue>,
    /// The revision every item was read at.
    pub revision: i64,
    /// Set when more items follow.
    pub continue_token: Option<ContinueToken>,
}

/// What a delete removed.
#[derive(Clone, Debug)]
pub struct DeleteOutcome {
    /// The revision of the delete.
    pub revision: i64,
    /// The key's last version before the delete.
    pub previous: KeyValue,
}

/// Whether a watch event wrote or removed its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change to one key.
#[derive(Clone, Debug)]
pub struct WatchEvent {
    pub kind: EventKind,
    /// The new version; for a delete, the key with an empty value and the
    /// delete's revision as `mod_revision`.
    pub kv: KeyValue,
    /// The version this event replaced, if any.
    pub previous: Option<KeyValue>,
}

impl WatchEvent {
    /// The event's revision.
    pub fn revision(&self) -> i64 {
        self.kv.mod_revision
    }

    /// True for the put that created the key.
    pub fn is_create(&self) -> bool {
        self.kind == EventKind::Put && self.kv.create_revision == self.kv.mod_revision
    }
}

/// The smallest key greater than every key starting with `prefix`, as etcd
/// computes range ends; `None` when no such key exists (all keys match).
pub fn prefix_end(prefix: &str) -> Option<Vec<u8>> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

pub(crate) fn check_key(key: &str) -> Result<()> {
    let reason = if key.is_empty() {
        "a key must not be empty"
    } else if key.contains('\0') {
        "a key must not contain a NUL byte"
    } else {
        return Ok(());
    };
    Err(Error::InvalidKey {
        key: key.to_owned(),
        reason,
    })
}

pub(crate) fn check_value(key: &str, value: &Bytes) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::ValueTooLarge {
            key: key.to_owned(),
            size: value.len(),
            limit: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte() {
        assert_eq!(prefix_end("/a/b"), Some(b"/a/c".to_vec()));
        assert_eq!(prefix_end(""), None);
    }

    #[test]
    fn keys_must_be_non_empty_and_free_of_nul() {
        assert!(check_key("/ok").is_ok());
        assert!(matches!(check_key(""), Err(Error::InvalidKey { .. })));
        assert!(matches!(check_key("a\0b"), Err(Error::InvalidKey { .. })));
    }
}

/// One of the writes [`crate::Store::write_all`] applies together: the
/// guarded forms of [`crate::Store::create`], `update` and `delete`.
#[derive(Clone, Debug)]
pub enum Write {
    Create {
        key: String,
        value: Bytes,
    },
    Update {
        key: String,
        value: Bytes,
        expected: i64,
    },
    Delete {
        key: String,
        expected: Option<i64>,
    },
    /// Replaces `key` if its value is still `expected_value`, whatever
    /// revision wrote it: a guard on what a change was computed from, for
    /// a write queued behind another one whose revision is not known yet.
    /// A mismatch is [`Error::Conflict`](crate::Error::Conflict) with
    /// `expected` 0.
    Replace {
        key: String,
        value: Bytes,
        expected_value: Bytes,
    },
}

impl Write {
    pub fn key(&self) -> &str {
        match self {
            Write::Create { key, .. }
            | Write::Update { key, .. }
            | Write::Delete { key, .. }
            | Write::Replace { key, .. } => key,
        }
    }
}
