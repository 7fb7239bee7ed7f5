//! The writer thread: group commit and compaction.
//!
//! One thread owns every write. It drains the requests waiting in its queue
//! into one transaction and commits it with one fsync; when the last batch
//! held several writers it waits up to [`GATHER_WAIT`] for them to queue
//! again, so concurrent writers share fsyncs. After the commit it publishes
//! the events to the [`History`] and only then answers the callers, so an
//! acknowledged write is on disk and visible to watches.

use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::{Database, ReadableTable};
use tokio::sync::oneshot;

use super::tables::{
    INDEX, META, META_COMPACTED, META_REVISION, RECORDS, Record, TOMBSTONE, Tables,
};
use crate::watch::History;
use crate::{Error, KeyValue, Result, WatchEvent};

/// Requests the writer takes into one transaction at most.
const MAX_BATCH: usize = 1024;
/// How long the writer waits for a batch to fill to the size of the last one.
const GATHER_WAIT: Duration = Duration::from_micros(200);
/// Revisions one compaction transaction removes at most.
const COMPACTION_CHUNK: i64 = 10_000;

pub(super) use crate::Write as WriteRequest;

pub(super) enum Command {
    Write {
        request: WriteRequest,
        reply: oneshot::Sender<Result<Arc<WatchEvent>>>,
    },
    /// Writes that are applied together or not at all (each gets its own
    /// revision, consecutive ones).
    WriteAll {
        requests: Vec<WriteRequest>,
        reply: oneshot::Sender<Result<Vec<Arc<WatchEvent>>>>,
    },
    Compact {
        revision: i64,
        reply: oneshot::Sender<Result<()>>,
    },
}

/// The writer thread and the queue into it. Dropping it drains the queue and
/// joins the thread, so the database closes when the store is dropped.
pub(super) struct WriterHandle {
    queue: Option<mpsc::Sender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl WriterHandle {
    pub(super) fn start(writer: Writer) -> Result<Self> {
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

    pub(super) fn send(&self, command: Command) -> Result<()> {
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
pub(super) struct Writer {
    pub(super) db: Arc<Database>,
    pub(super) history: Arc<History>,
    pub(super) revision: i64,
    pub(super) compacted: i64,
    pub(super) history_revisions: i64,
    pub(super) history_bytes: usize,
}

/// One caller's writes in a batch and where its answer goes.
enum Pending {
    One(WriteRequest, oneshot::Sender<Result<Arc<WatchEvent>>>),
    All(
        Vec<WriteRequest>,
        oneshot::Sender<Result<Vec<Arc<WatchEvent>>>>,
    ),
}

/// What one caller's writes came to.
enum Outcome {
    One(Result<Arc<WatchEvent>>),
    All(Result<Vec<Arc<WatchEvent>>>),
}

impl Outcome {
    fn events(&self) -> &[Arc<WatchEvent>] {
        match self {
            Outcome::One(Ok(event)) => std::slice::from_ref(event),
            Outcome::All(Ok(events)) => events,
            _ => &[],
        }
    }
}

impl Writer {
    fn run(mut self, commands: mpsc::Receiver<Command>) {
        let mut last_batch = 0;
        while let Ok(first) = commands.recv() {
            let mut writes = Vec::new();
            let mut compactions = Vec::new();
            let gather_until = Instant::now() + GATHER_WAIT;
            let mut next = Some(first);
            while let Some(command) = next {
                match command {
                    Command::Write { request, reply } => writes.push(Pending::One(request, reply)),
                    Command::WriteAll { requests, reply } => {
                        writes.push(Pending::All(requests, reply))
                    }
                    Command::Compact { revision, reply } => compactions.push((revision, reply)),
                }
                next = if writes.len() >= MAX_BATCH {
                    None
                } else if let Ok(command) = commands.try_recv() {
                    Some(command)
                } else if last_batch > 1 && writes.len() < last_batch {
                    commands
                        .recv_timeout(gather_until.saturating_duration_since(Instant::now()))
                        .ok()
                } else {
                    None
                };
            }
            last_batch = writes.len();
            if !writes.is_empty() {
                self.commit_batch(writes);
            }
            for (revision, reply) in compactions {
                let _ = reply.send(self.compact(revision));
            }
            self.compact_if_due();
        }
    }

    /// Compacts once a quarter more than the history's bounds (revisions,
    /// or bytes in memory) has piled up, down to the bounds.
    pub(super) fn compact_if_due(&mut self) {
        let revisions_due =
            self.revision - self.compacted > self.history_revisions + self.history_revisions / 4;
        let bytes_due = self.history.bytes() > self.history_bytes + self.history_bytes / 4;
        if !revisions_due && !bytes_due {
            return;
        }
        let mut revision = self.revision - self.history_revisions;
        if bytes_due {
            revision = revision.max(self.history.revision_fitting(self.history_bytes));
        }
        if let Err(error) = self.compact(revision) {
            tracing::warn!(%error, "automatic compaction failed");
        }
    }

    /// Applies a batch in one transaction with one fsync, publishes the
    /// events, then answers every caller.
    fn commit_batch(&mut self, writes: Vec<Pending>) {
        let mut outcomes = Vec::with_capacity(writes.len());
        let mut revision = self.revision;
        let committed = (|| -> Result<()> {
            let txn = self.db.begin_write().map_err(Error::backend)?;
            {
                let mut tables = Tables {
                    index: txn.open_table(INDEX).map_err(Error::backend)?,
                    records: txn.open_table(RECORDS).map_err(Error::backend)?,
                };
                for pending in &writes {
                    outcomes.push(match pending {
                        Pending::One(request, _) => {
                            Outcome::One(apply(&mut tables, &mut revision, request)?)
                        }
                        Pending::All(requests, _) => {
                            Outcome::All(apply_all(&mut tables, &mut revision, requests)?)
                        }
                    });
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
                self.history.publish(
                    outcomes
                        .iter()
                        .flat_map(|o| o.events().iter().cloned())
                        .collect(),
                );
                for (pending, outcome) in writes.into_iter().zip(outcomes) {
                    match (pending, outcome) {
                        (Pending::One(_, reply), Outcome::One(outcome)) => {
                            let _ = reply.send(outcome);
                        }
                        (Pending::All(_, reply), Outcome::All(outcome)) => {
                            let _ = reply.send(outcome);
                        }
                        _ => unreachable!("outcomes follow the writes"),
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, "store commit failed");
                let error = || Error::Backend(error.to_string());
                for pending in writes {
                    match pending {
                        Pending::One(_, reply) => {
                            let _ = reply.send(Err(error()));
                        }
                        Pending::All(_, reply) => {
                            let _ = reply.send(Err(error()));
                        }
                    }
                }
            }
        }
    }

    /// Removes history at and below `revision`, in transactions of bounded size.
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

type WriteTables<'txn> =
    Tables<redb::Table<'txn, (&'static str, u64), u8>, redb::Table<'txn, u64, &'static [u8]>>;

/// Applies one request inside the batch's transaction. The outer error is a
/// database failure that aborts the batch; the inner one is this request's.
fn apply(
    tables: &mut WriteTables<'_>,
    revision: &mut i64,
    request: &WriteRequest,
) -> Result<Result<Arc<WatchEvent>>> {
    let (previous, record) = match check(tables, request)? {
        Ok(checked) => checked,
        Err(error) => return Ok(Err(error)),
    };
    put(tables, revision, request.key(), previous, record).map(Ok)
}

/// Applies every request or none: all are checked against the state before
/// any is written (their keys are distinct), then each is written with the
/// next revision. The first request that fails its check is the error.
fn apply_all(
    tables: &mut WriteTables<'_>,
    revision: &mut i64,
    requests: &[WriteRequest],
) -> Result<Result<Vec<Arc<WatchEvent>>>> {
    let mut checked = Vec::with_capacity(requests.len());
    for request in requests {
        match check(tables, request)? {
            Ok(ok) => checked.push(ok),
            Err(error) => return Ok(Err(error)),
        }
    }
    let mut events = Vec::with_capacity(requests.len());
    for (request, (previous, record)) in requests.iter().zip(checked) {
        events.push(put(tables, revision, request.key(), previous, record)?);
    }
    Ok(Ok(events))
}

/// Whether `request` may be applied now: the key's latest value and the
/// record to write (its create revision is 0 for a key the write creates:
/// the revision is only known when it is put). The outer error is a
/// database failure; the inner one the request's own.
fn check(
    tables: &WriteTables<'_>,
    request: &WriteRequest,
) -> Result<Result<(Option<KeyValue>, Record)>> {
    let key = request.key();
    let previous = tables.latest_value(key, u64::MAX)?;
    let record = match (request, &previous) {
        (WriteRequest::Create { .. }, Some(_)) => {
            return Ok(Err(Error::AlreadyExists {
                key: key.to_owned(),
            }));
        }
        (WriteRequest::Create { value, .. }, None) => Record::Live {
            create_revision: 0,
            version: 1,
            value: value.clone(),
        },
        (
            WriteRequest::Update { .. }
            | WriteRequest::Delete { .. }
            | WriteRequest::Replace { .. },
            None,
        ) => {
            return Ok(Err(Error::NotFound {
                key: key.to_owned(),
            }));
        }
        (WriteRequest::Update { expected, .. }, Some(current))
        | (
            WriteRequest::Delete {
                expected: Some(expected),
                ..
            },
            Some(current),
        ) if current.mod_revision != *expected => {
            return Ok(Err(Error::Conflict {
                key: key.to_owned(),
                expected: *expected,
                current: current.mod_revision,
            }));
        }
        (WriteRequest::Replace { expected_value, .. }, Some(current))
            if current.value != *expected_value =>
        {
            return Ok(Err(Error::Conflict {
                key: key.to_owned(),
                expected: 0,
                current: current.mod_revision,
            }));
        }
        (
            WriteRequest::Update { value, .. } | WriteRequest::Replace { value, .. },
            Some(current),
        ) => Record::Live {
            create_revision: current.create_revision,
            version: current.version + 1,
            value: value.clone(),
        },
        (WriteRequest::Delete { .. }, Some(_)) => Record::Tombstone,
    };
    Ok(Ok((previous, record)))
}

/// Writes a checked record at the next revision.
fn put(
    tables: &mut WriteTables<'_>,
    revision: &mut i64,
    key: &str,
    previous: Option<KeyValue>,
    mut record: Record,
) -> Result<Arc<WatchEvent>> {
    let next = *revision + 1;
    if let Record::Live {
        create_revision, ..
    } = &mut record
        && *create_revision == 0
    {
        *create_revision = next;
    }
    tables
        .index
        .insert((key, next as u64), record.flag())
        .map_err(Error::backend)?;
    tables
        .records
        .insert(next as u64, record.encode(key).as_slice())
        .map_err(Error::backend)?;
    *revision = next;
    Ok(Arc::new(record.into_event(
        key.to_owned(),
        next as u64,
        previous,
    )))
}

/// Removes the history in (from, upto]: every version that a later one at or
/// below `upto` replaced, every tombstone there, with their records.
fn compact_range(db: &Database, from: i64, upto: i64) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        let mut index = txn.open_table(INDEX)?;
        let mut records = txn.open_table(RECORDS)?;
        let mut written = Vec::new();
        for entry in records.range((from as u64 + 1)..=(upto as u64))? {
            let (revision, bytes) = entry?;
            let (key, flag, _) = Record::decode_header(bytes.value())
                .map_err(|e| redb::Error::Corrupted(e.to_string()))?;
            written.push((revision.value(), key.to_owned(), flag));
        }
        for (revision, key, flag) in written {
            let replaced: Vec<u64> = index
                .extract_from_if((key.as_str(), 0u64)..(key.as_str(), revision), |_, _| true)?
                .map(|entry| entry.map(|(k, _)| k.value().1))
                .collect::<Result<_, _>>()?;
            for old in replaced {
                records.remove(old)?;
            }
            if flag == TOMBSTONE {
                index.remove((key.as_str(), revision))?;
                records.remove(revision)?;
            }
        }
        txn.open_table(META)?.insert(META_COMPACTED, upto as u64)?;
    }
    Ok(txn.commit()?)
}

/// The value a store returns for a write: the event's new version.
pub(super) fn written(event: &WatchEvent) -> KeyValue {
    event.kv.clone()
}
