//! The embedded backend: a redb database in a data directory.
//!
//! Layout (all in one redb file, `store.redb`):
//! - `kv`: `(key, revision)` → record. Every version of every key since the
//!   last compaction, and the newest version at or below it. A record is a
//!   live value or a tombstone left by a delete.
//! - `log`: `revision` → key. Which key each revision wrote; it drives
//!   compaction and rebuilds the watch history after a restart.
//! - `meta`: the current and the compacted revision.
//!
//! One writer thread owns all writes. It drains every request waiting in its
//! queue into one transaction and commits it with one fsync (group commit),
//! then publishes the events to the in-memory [`History`] that watches read,
//! and only then answers the callers: an acknowledged write is on disk.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use async_trait::async_trait;
use bytes::Bytes;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use crate::types::{check_key, check_value};
use crate::watch::{History, WatchStream};
use crate::{
    ContinueToken, DeleteOutcome, Error, EventKind, KeyValue, ListOptions, ListPage, Result, Store,
    WatchEvent,
};

const KV: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("kv");
const LOG: TableDefinition<u64, &str> = TableDefinition::new("log");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const META_REVISION: &str = "revision";
const META_COMPACTED: &str = "compacted";

/// Requests the writer takes into one transaction at most.
const MAX_BATCH: usize = 1024;
/// Revisions one compaction transaction removes at most.
const COMPACTION_CHUNK: i64 = 10_000;

/// How to open an [`EmbeddedStore`].
#[derive(Clone, Debug)]
pub struct EmbeddedConfig {
    /// The directory that holds the database; created when missing.
    pub data_dir: PathBuf,
    /// Revisions of history kept for lists at old revisions and for watches;
    /// older history is compacted automatically once a quarter more piles up.
    pub history_revisions: i64,
}

impl EmbeddedConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            history_revisions: 20_000,
        }
    }
}

/// The default store: durable on local disk, needing no other service.
pub struct EmbeddedStore {
    db: Arc<Database>,
    history: Arc<History>,
    writer: WriterHandle,
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `config.data_dir` and starts its writer.
    pub fn open(config: EmbeddedConfig) -> Result<Self> {
        std::fs::create_dir_all(&config.data_dir).map_err(Error::backend)?;
        let db =
            Arc::new(Database::create(config.data_dir.join("store.redb")).map_err(Error::backend)?);
        let (revision, compacted) = init_tables(&db)?;
        let events = load_history(&db, compacted, revision)?;
        let history = Arc::new(History::new(compacted, events));
        let writer = Writer {
            db: db.clone(),
            history: history.clone(),
            revision,
            compacted,
            history_revisions: config.history_revisions.max(1),
        };
        let writer = WriterHandle::start(writer)?;
        tracing::info!(dir = %config.data_dir.display(), revision, compacted, "embedded store open");
        Ok(Self {
            db,
            history,
            writer,
        })
    }

    /// The data directory's database file, for diagnostics.
    pub fn database_path(data_dir: &Path) -> PathBuf {
        data_dir.join("store.redb")
    }

    async fn write(&self, request: WriteRequest) -> Result<Arc<WatchEvent>> {
        let (reply, answer) = oneshot::channel();
        self.writer.send(Command::Write { request, reply })?;
        answer.await.map_err(|_| Error::Closed)?
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        check_key(key)?;
        let txn = self.db.begin_read().map_err(Error::backend)?;
        let kv = txn.open_table(KV).map_err(Error::backend)?;
        Ok(latest_version(&kv, key, u64::MAX)?
            .and_then(|(revision, record)| record.into_key_value(key, revision)))
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListPage> {
        let db = self.db.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || list_blocking(&db, &prefix, options))
            .await
            .map_err(Error::backend)?
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        check_key(key)?;
        check_value(key, &value)?;
        let event = self
            .write(WriteRequest::Create {
                key: key.to_owned(),
                value,
            })
            .await?;
        Ok(event.kv.clone())
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_mod_revision: i64,
    ) -> Result<KeyValue> {
        check_key(key)?;
        check_value(key, &value)?;
        let request = WriteRequest::Update {
            key: key.to_owned(),
            value,
            expected: expected_mod_revision,
        };
        Ok(self.write(request).await?.kv.clone())
    }

    async fn delete(&self, key: &str, expected_mod_revision: Option<i64>) -> Result<DeleteOutcome> {
        check_key(key)?;
        let event = self
            .write(WriteRequest::Delete {
                key: key.to_owned(),
                expected: expected_mod_revision,
            })
            .await?;
        let previous = event
            .previous
            .clone()
            .ok_or_else(|| Error::Backend("delete event without previous value".into()))?;
        Ok(DeleteOutcome {
            revision: event.revision(),
            previous,
        })
    }

    async fn watch(&self, prefix: &str, after_revision: i64) -> Result<WatchStream> {
        self.history.watch(prefix, after_revision)
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.writer.send(Command::Compact { revision, reply })?;
        answer.await.map_err(|_| Error::Closed)?
    }

    async fn current_revision(&self) -> Result<i64> {
        Ok(self.history.latest_revision())
    }
}

/// A write the writer thread applies.
enum WriteRequest {
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
}

enum Command {
    Write {
        request: WriteRequest,
        reply: oneshot::Sender<Result<Arc<WatchEvent>>>,
    },
    Compact {
        revision: i64,
        reply: oneshot::Sender<Result<()>>,
    },
}

/// The writer thread and the queue into it; dropping it drains the queue and
/// joins the thread, so the database is closed when the store is dropped.
struct WriterHandle {
    queue: Option<mpsc::Sender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl WriterHandle {
    fn start(writer: Writer) -> Result<Self> {
        let (queue, commands) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("wharf-store-writer".into())
            .spawn(move || writer.run(commands))
            .map_err(Error::backend)?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    fn send(&self, command: Command) -> Result<()> {
        self.queue
            .as_ref()
            .ok_or(Error::Closed)?
            .send(command)
            .map_err(|_| Error::Closed)
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The state only the writer thread touches.
struct Writer {
    db: Arc<Database>,
    history: Arc<History>,
    revision: i64,
    compacted: i64,
    history_revisions: i64,
}

impl Writer {
    fn run(mut self, commands: mpsc::Receiver<Command>) {
        while let Ok(first) = commands.recv() {
            let mut writes = Vec::new();
            let mut compactions = Vec::new();
            let mut next = Some(first);
            while let Some(command) = next {
                match command {
                    Command::Write { request, reply } => writes.push((request, reply)),
                    Command::Compact { revision, reply } => compactions.push((revision, reply)),
                }
                next = if writes.len() < MAX_BATCH {
                    commands.try_recv().ok()
                } else {
                    None
                };
            }
            if !writes.is_empty() {
                self.commit_batch(writes);
            }
            for (revision, reply) in compactions {
                let _ = reply.send(self.compact(revision));
            }
            let retained = self.revision - self.compacted;
            if retained > self.history_revisions + self.history_revisions / 4 {
                if let Err(error) = self.compact(self.revision - self.history_revisions) {
                    tracing::warn!(%error, "automatic compaction failed");
                }
            }
        }
    }

    /// Applies a batch in one transaction with one fsync, publishes the
    /// events, then answers every caller.
    fn commit_batch(
        &mut self,
        writes: Vec<(WriteRequest, oneshot::Sender<Result<Arc<WatchEvent>>>)>,
    ) {
        let mut outcomes = Vec::with_capacity(writes.len());
        let mut revision = self.revision;
        let committed = (|| -> Result<()> {
            let txn = self.db.begin_write().map_err(Error::backend)?;
            {
                let mut kv = txn.open_table(KV).map_err(Error::backend)?;
                let mut log = txn.open_table(LOG).map_err(Error::backend)?;
                for (request, _) in &writes {
                    outcomes.push(apply(&mut kv, &mut log, &mut revision, request)?);
                }
                let mut meta = txn.open_table(META).map_err(Error::backend)?;
                meta.insert(META_REVISION, revision as u64)
                    .map_err(Error::backend)?;
            }
            txn.commit().map_err(Error::backend)
        })();
        match committed {
            Ok(()) => {
                self.revision = revision;
                let events: Vec<Arc<WatchEvent>> = outcomes
                    .iter()
                    .filter_map(|o| o.as_ref().ok().cloned())
                    .collect();
                self.history.publish(events);
                for ((_, reply), outcome) in writes.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(error) => {
                tracing::error!(%error, "store commit failed");
                for (_, reply) in writes {
                    let _ = reply.send(Err(Error::Backend(error.to_string())));
                }
            }
        }
    }

    /// Removes history at and below `revision`, in chunks of bounded size.
    fn compact(&mut self, revision: i64) -> Result<()> {
        if revision > self.revision {
            return Err(Error::FutureRevision {
                requested: revision,
                current: self.revision,
            });
        }
        while self.compacted < revision {
            let upto = revision.min(self.compacted + COMPACTION_CHUNK);
            compact_range(&self.db, self.compacted, upto).map_err(Error::backend)?;
            self.compacted = upto;
            self.history.compact(upto);
        }
        Ok(())
    }
}

/// Applies one request inside the writer's transaction. The outer error is a
/// database failure that aborts the batch; the inner one is this request's.
fn apply(
    kv: &mut redb::Table<(&str, u64), &[u8]>,
    log: &mut redb::Table<u64, &str>,
    revision: &mut i64,
    request: &WriteRequest,
) -> Result<Result<Arc<WatchEvent>>> {
    let key = match request {
        WriteRequest::Create { key, .. }
        | WriteRequest::Update { key, .. }
        | WriteRequest::Delete { key, .. } => key,
    };
    let current = latest_version(kv, key, u64::MAX)?;
    let previous = current.and_then(|(rev, record)| record.into_key_value(key, rev));
    let next_revision = *revision + 1;
    let (record, kv_out) = match (request, &previous) {
        (WriteRequest::Create { key, .. }, Some(_)) => {
            return Ok(Err(Error::AlreadyExists { key: key.clone() }));
        }
        (WriteRequest::Create { value, .. }, None) => (
            Record::Live {
                create_revision: next_revision,
                version: 1,
                value: value.clone(),
            },
            KeyValue {
                key: key.clone(),
                value: value.clone(),
                create_revision: next_revision,
                mod_revision: next_revision,
                version: 1,
            },
        ),
        (WriteRequest::Update { key, .. } | WriteRequest::Delete { key, .. }, None) => {
            return Ok(Err(Error::NotFound { key: key.clone() }));
        }
        (WriteRequest::Update { expected, .. }, Some(prev))
        | (
            WriteRequest::Delete {
                expected: Some(expected),
                ..
            },
            Some(prev),
        ) if prev.mod_revision != *expected => {
            return Ok(Err(Error::Conflict {
                key: key.clone(),
                expected: *expected,
                current: prev.mod_revision,
            }));
        }
        (WriteRequest::Update { value, .. }, Some(prev)) => (
            Record::Live {
                create_revision: prev.create_revision,
                version: prev.version + 1,
                value: value.clone(),
            },
            KeyValue {
                key: key.clone(),
                value: value.clone(),
                create_revision: prev.create_revision,
                mod_revision: next_revision,
                version: prev.version + 1,
            },
        ),
        (WriteRequest::Delete { .. }, Some(_)) => (
            Record::Tombstone,
            KeyValue {
                key: key.clone(),
                value: Bytes::new(),
                create_revision: 0,
                mod_revision: next_revision,
                version: 0,
            },
        ),
    };
    kv.insert(
        (key.as_str(), next_revision as u64),
        record.encode().as_slice(),
    )
    .map_err(Error::backend)?;
    log.insert(next_revision as u64, key.as_str())
        .map_err(Error::backend)?;
    *revision = next_revision;
    let kind = if matches!(record, Record::Tombstone) {
        EventKind::Delete
    } else {
        EventKind::Put
    };
    Ok(Ok(Arc::new(WatchEvent {
        kind,
        kv: kv_out,
        previous,
    })))
}

/// Creates the tables on first open and reads the revisions.
fn init_tables(db: &Database) -> Result<(i64, i64)> {
    let init = || -> Result<(i64, i64), redb::Error> {
        let txn = db.begin_write()?;
        let revisions = {
            txn.open_table(KV)?;
            txn.open_table(LOG)?;
            let meta = txn.open_table(META)?;
            let read = |name| -> Result<i64, redb::Error> {
                Ok(meta.get(name)?.map(|v| v.value() as i64).unwrap_or(0))
            };
            (read(META_REVISION)?, read(META_COMPACTED)?)
        };
        txn.commit()?;
        Ok(revisions)
    };
    init().map_err(Error::backend)
}

/// Rebuilds the watch history (compacted, revision] from the log.
fn load_history(db: &Database, compacted: i64, revision: i64) -> Result<VecDeque<Arc<WatchEvent>>> {
    let load = || -> Result<VecDeque<Arc<WatchEvent>>, Error> {
        let txn = db.begin_read().map_err(Error::backend)?;
        let kv = txn.open_table(KV).map_err(Error::backend)?;
        let log = txn.open_table(LOG).map_err(Error::backend)?;
        let mut events = VecDeque::with_capacity((revision - compacted) as usize);
        for entry in log
            .range((compacted as u64 + 1)..=(revision as u64))
            .map_err(Error::backend)?
        {
            let (rev, key) = entry.map_err(Error::backend)?;
            let (rev, key) = (rev.value(), key.value().to_owned());
            let record = kv
                .get((key.as_str(), rev))
                .map_err(Error::backend)?
                .map(|g| Record::decode(g.value()))
                .transpose()?
                .ok_or_else(|| {
                    Error::Backend(format!("log names {key:?} at {rev} but kv lacks it"))
                })?;
            let previous = latest_version(&kv, &key, rev - 1)?
                .and_then(|(r, record)| record.into_key_value(&key, r));
            let (kind, kv_out) = match record.into_key_value(&key, rev) {
                Some(kv_out) => (EventKind::Put, kv_out),
                None => (
                    EventKind::Delete,
                    KeyValue {
                        key: key.clone(),
                        value: Bytes::new(),
                        create_revision: 0,
                        mod_revision: rev as i64,
                        version: 0,
                    },
                ),
            };
            events.push_back(Arc::new(WatchEvent {
                kind,
                kv: kv_out,
                previous,
            }));
        }
        Ok(events)
    };
    load()
}

fn list_blocking(db: &Database, prefix: &str, options: ListOptions) -> Result<ListPage> {
    let txn = db.begin_read().map_err(Error::backend)?;
    let meta = txn.open_table(META).map_err(Error::backend)?;
    let read = |name| -> Result<i64> {
        Ok(meta
            .get(name)
            .map_err(Error::backend)?
            .map(|v| v.value() as i64)
            .unwrap_or(0))
    };
    let (current, compacted) = (read(META_REVISION)?, read(META_COMPACTED)?);
    let (revision, start) = match &options.continue_token {
        Some(token) => (token.revision, token.start_key.clone()),
        None => (
            options.revision.filter(|r| *r > 0).unwrap_or(current),
            prefix.to_owned(),
        ),
    };
    if revision < compacted {
        return Err(Error::Compacted {
            requested: revision,
            compacted,
        });
    }
    if revision > current {
        return Err(Error::FutureRevision {
            requested: revision,
            current,
        });
    }
    if !start.starts_with(prefix) {
        return Err(Error::InvalidKey {
            key: start,
            reason: "the continue token does not belong to this prefix",
        });
    }
    let kv = txn.open_table(KV).map_err(Error::backend)?;
    let limit = options.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
    let mut items = Vec::new();
    let mut continue_token = None;
    // Versions of one key are adjacent and in revision order: keep the newest
    // at or below `revision` until the key changes.
    let mut pending: Option<(String, u64, Record)> = None;
    let mut emit = |pending: Option<(String, u64, Record)>, items: &mut Vec<KeyValue>| -> bool {
        if let Some((key, rev, record)) = pending {
            if let Some(kv) = record.into_key_value(&key, rev) {
                if items.len() == limit {
                    continue_token = Some(ContinueToken {
                        revision,
                        start_key: key,
                    });
                    return false;
                }
                items.push(kv);
            }
        }
        true
    };
    for entry in kv.range((start.as_str(), 0u64)..).map_err(Error::backend)? {
        let (k, v) = entry.map_err(Error::backend)?;
        let (key, rev) = k.value();
        if !key.starts_with(prefix) {
            break;
        }
        let new_key = pending.as_ref().is_none_or(|(p, _, _)| p != key);
        if new_key && !emit(pending.take(), &mut items) {
            break;
        }
        if rev <= revision as u64 {
            pending = Some((key.to_owned(), rev, Record::decode(v.value())?));
        } else if new_key {
            pending = None;
        }
    }
    emit(pending.take(), &mut items);
    Ok(ListPage {
        items,
        revision,
        continue_token,
    })
}

/// The newest version of `key` at or below `at`.
fn latest_version(
    kv: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
    key: &str,
    at: u64,
) -> Result<Option<(u64, Record)>> {
    let mut range = kv.range((key, 0u64)..=(key, at)).map_err(Error::backend)?;
    match range.next_back() {
        Some(entry) => {
            let (k, v) = entry.map_err(Error::backend)?;
            Ok(Some((k.value().1, Record::decode(v.value())?)))
        }
        None => Ok(None),
    }
}

/// Removes the history in (from, upto]: every version a later one at or below
/// `upto` replaced, every tombstone, and the log entries.
fn compact_range(db: &Database, from: i64, upto: i64) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        let mut kv = txn.open_table(KV)?;
        let mut log = txn.open_table(LOG)?;
        let entries: Vec<(u64, String)> = log
            .extract_from_if((from as u64 + 1)..=(upto as u64), |_, _| true)?
            .map(|e| e.map(|(r, k)| (r.value(), k.value().to_owned())))
            .collect::<Result<_, _>>()?;
        for (rev, key) in entries {
            kv.retain_in((key.as_str(), 0u64)..(key.as_str(), rev), |_, _| false)?;
            let tombstone = kv
                .get((key.as_str(), rev))?
                .is_some_and(|v| v.value().first() == Some(&TOMBSTONE));
            if tombstone {
                kv.remove((key.as_str(), rev))?;
            }
        }
        txn.open_table(META)?.insert(META_COMPACTED, upto as u64)?;
    }
    Ok(txn.commit()?)
}

const LIVE: u8 = 0;
const TOMBSTONE: u8 = 1;

/// One stored version: a flag byte, then for a live value its create
/// revision and version (little-endian u64) and the value bytes.
enum Record {
    Live {
        create_revision: i64,
        version: i64,
        value: Bytes,
    },
    Tombstone,
}

impl Record {
    fn encode(&self) -> Vec<u8> {
        match self {
            Record::Tombstone => vec![TOMBSTONE],
            Record::Live {
                create_revision,
                version,
                value,
            } => {
                let mut out = Vec::with_capacity(17 + value.len());
                out.push(LIVE);
                out.extend_from_slice(&(*create_revision as u64).to_le_bytes());
                out.extend_from_slice(&(*version as u64).to_le_bytes());
                out.extend_from_slice(value);
                out
            }
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        match bytes.first() {
            Some(&TOMBSTONE) => Ok(Record::Tombstone),
            Some(&LIVE) if bytes.len() >= 17 => Ok(Record::Live {
                create_revision: u64::from_le_bytes(bytes[1..9].try_into().expect("8 bytes"))
                    as i64,
                version: u64::from_le_bytes(bytes[9..17].try_into().expect("8 bytes")) as i64,
                value: Bytes::copy_from_slice(&bytes[17..]),
            }),
            _ => Err(Error::Backend(format!(
                "corrupt record of {} bytes",
                bytes.len()
            ))),
        }
    }

    fn into_key_value(self, key: &str, mod_revision: u64) -> Option<KeyValue> {
        match self {
            Record::Tombstone => None,
            Record::Live {
                create_revision,
                version,
                value,
            } => Some(KeyValue {
                key: key.to_owned(),
                value,
                create_revision,
                mod_revision: mod_revision as i64,
                version,
            }),
        }
    }
}
