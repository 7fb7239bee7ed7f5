//! What a watch delivers: events decoded once (in the server, shared by
//! every watcher of the cache), progress reports, or the error that ended it.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use crate::error::ApiError;
use crate::resources::ResourceDef;

/// One change to one object, decoded.
#[derive(Debug)]
pub struct CachedEvent {
    pub revision: i64,
    pub resource: Arc<ResourceDef>,
    /// The store key, whose prefix says the kind and namespace.
    pub key: String,
    /// A delete (else a create or an update).
    pub deleted: bool,
    /// The object after the change; for a delete, its last state with the
    /// delete's resourceVersion.
    pub object: Arc<Value>,
    /// The object before the change.
    pub previous: Option<Arc<Value>>,
    /// `object` serialized once for every watcher.
    pub object_json: Bytes,
}

impl CachedEvent {
    /// About what the event holds in memory: the decoded object (the
    /// previous one is the event before's), its JSON, its key.
    pub fn size(&self) -> usize {
        const OVERHEAD: usize = 256;
        OVERHEAD + 3 * self.object_json.len() + self.key.len()
    }
}

/// The event type a client sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchType {
    Added,
    Modified,
    Deleted,
}

impl WatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            WatchType::Added => "ADDED",
            WatchType::Modified => "MODIFIED",
            WatchType::Deleted => "DELETED",
        }
    }
}

/// What a client watch task sends: an event, or the end (an error to report).
pub enum Delivery {
    Event(WatchType, Arc<CachedEvent>),
    /// The watcher has seen every event up to this revision (sent when it
    /// catches up, if the filter asks for progress).
    Progress(i64),
    Error(ApiError),
}
