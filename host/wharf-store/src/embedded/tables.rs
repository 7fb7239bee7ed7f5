//! The embedded store's on-disk layout, its record format, and the reads.
//!
//! All in one redb file, `store.redb`:
//! - `index`: `(key, revision)` → [`LIVE`] or [`TOMBSTONE`]. Every version of
//!   every key since the compacted revision, plus each key's newest version at
//!   or below it. Small entries, so scans and lookups touch few pages.
//! - `records`: `revision` → the record that revision wrote (key, create
//!   revision, version, value). Append-only in revision order, so a batch's
//!   values land on a few adjacent pages. It holds the values the index points
//!   at, and every revision since the compacted one, which rebuilds the watch
//!   history after a restart.
//! - `meta`: the current and the compacted revision.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::{ContinueToken, Error, EventKind, KeyValue, ListOptions, ListPage, Result, WatchEvent};

pub(super) const INDEX: TableDefinition<(&str, u64), u8> = TableDefinition::new("index");
pub(super) const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(super) const META_REVISION: &str = "revision";
pub(super) const META_COMPACTED: &str = "compacted";

pub(super) const LIVE: u8 = 0;
pub(super) const TOMBSTONE: u8 = 1;

/// What one revision wrote to one key.
///
/// Encoded as: flag byte, key length (u32 LE), key; then for a live value its
/// create revision and version (u64 LE each) and the value bytes.
#[derive(Clone, Debug)]
pub(super) enum Record {
    Live {
        create_revision: i64,
        version: i64,
        value: Bytes,
    },
    Tombstone,
}

impl Record {
    pub(super) fn encode(&self, key: &str) -> Vec<u8> {
        let value_len = match self {
            Record::Live { value, .. } => 16 + value.len(),
            Record::Tombstone => 0,
        };
        let mut out = Vec::with_capacity(5 + key.len() + value_len);
        out.push(self.flag());
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key.as_bytes());
        if let Record::Live {
            create_revision,
            version,
            value,
        } = self
        {
            out.extend_from_slice(&(*create_revision as u64).to_le_bytes());
            out.extend_from_slice(&(*version as u64).to_le_bytes());
            out.extend_from_slice(value);
        }
        out
    }

    /// The key and flag only, without copying the value.
    pub(super) fn decode_header(bytes: &[u8]) -> Result<(&str, u8, &[u8])> {
        let corrupt = || Error::Backend(format!("corrupt record of {} bytes", bytes.len()));
        let flag = *bytes.first().ok_or_else(corrupt)?;
        let key_len = u32::from_le_bytes(
            bytes
                .get(1..5)
                .ok_or_else(corrupt)?
                .try_into()
                .expect("4 bytes"),
        ) as usize;
        let key = bytes.get(5..5 + key_len).ok_or_else(corrupt)?;
        let key = std::str::from_utf8(key).map_err(|_| corrupt())?;
        Ok((key, flag, &bytes[5 + key_len..]))
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<(String, Record)> {
        let (key, flag, rest) = Self::decode_header(bytes)?;
        let record = match flag {
            TOMBSTONE => Record::Tombstone,
            LIVE if rest.len() >= 16 => Record::Live {
                create_revision: u64::from_le_bytes(rest[0..8].try_into().expect("8 bytes")) as i64,
                version: u64::from_le_bytes(rest[8..16].try_into().expect("8 bytes")) as i64,
                value: Bytes::copy_from_slice(&rest[16..]),
            },
            _ => return Err(Error::Backend(format!("corrupt record for {key:?}"))),
        };
        Ok((key.to_owned(), record))
    }

    pub(super) fn flag(&self) -> u8 {
        match self {
            Record::Live { .. } => LIVE,
            Record::Tombstone => TOMBSTONE,
        }
    }

    /// The version as the store's API shows it; `None` for a tombstone.
    pub(super) fn into_key_value(self, key: &str, mod_revision: u64) -> Option<KeyValue> {
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

    /// The watch event this record makes at `revision`.
    pub(super) fn into_event(
        self,
        key: String,
        revision: u64,
        previous: Option<KeyValue>,
    ) -> WatchEvent {
        match self.into_key_value(&key, revision) {
            Some(kv) => WatchEvent {
                kind: EventKind::Put,
                kv,
                previous,
            },
            None => WatchEvent {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key,
                    value: Bytes::new(),
                    create_revision: 0,
                    mod_revision: revision as i64,
                    version: 0,
                },
                previous,
            },
        }
    }
}

/// The tables, read inside one transaction (a read or the writer's).
pub(super) struct Tables<I, R> {
    pub(super) index: I,
    pub(super) records: R,
}

impl<I, R> Tables<I, R>
where
    I: ReadableTable<(&'static str, u64), u8>,
    R: ReadableTable<u64, &'static [u8]>,
{
    /// The newest version of `key` at or below revision `at`, tombstones included.
    pub(super) fn latest(&self, key: &str, at: u64) -> Result<Option<(u64, Record)>> {
        let mut range = self
            .index
            .range((key, 0u64)..=(key, at))
            .map_err(Error::backend)?;
        let Some(entry) = range.next_back() else {
            return Ok(None);
        };
        let (entry_key, flag) = entry.map_err(Error::backend)?;
        let revision = entry_key.value().1;
        if flag.value() == TOMBSTONE {
            return Ok(Some((revision, Record::Tombstone)));
        }
        Ok(Some((revision, self.record(revision)?.1)))
    }

    /// The live value of `key` at or below `at`.
    pub(super) fn latest_value(&self, key: &str, at: u64) -> Result<Option<KeyValue>> {
        Ok(self
            .latest(key, at)?
            .and_then(|(revision, record)| record.into_key_value(key, revision)))
    }

    pub(super) fn record(&self, revision: u64) -> Result<(String, Record)> {
        let bytes = self
            .records
            .get(revision)
            .map_err(Error::backend)?
            .ok_or_else(|| {
                Error::Backend(format!(
                    "the index names revision {revision} but no record holds it"
                ))
            })?;
        Record::decode(bytes.value())
    }
}

/// The tables as a read transaction sees them.
pub(super) type ReadTables =
    Tables<redb::ReadOnlyTable<(&'static str, u64), u8>, redb::ReadOnlyTable<u64, &'static [u8]>>;

/// Opens a read transaction on the tables and reads the current and the
/// compacted revision.
pub(super) fn read_tables(db: &Database) -> Result<(ReadTables, i64, i64)> {
    let txn = db.begin_read().map_err(Error::backend)?;
    let meta = txn.open_table(META).map_err(Error::backend)?;
    let read = |name| -> Result<i64> {
        Ok(meta
            .get(name)
            .map_err(Error::backend)?
            .map(|v| v.value() as i64)
            .unwrap_or(0))
    };
    let (revision, compacted) = (read(META_REVISION)?, read(META_COMPACTED)?);
    let tables = Tables {
        index: txn.open_table(INDEX).map_err(Error::backend)?,
        records: txn.open_table(RECORDS).map_err(Error::backend)?,
    };
    Ok((tables, revision, compacted))
}

/// Creates the tables on first open.
pub(super) fn create_tables(db: &Database) -> Result<()> {
    let create = || -> Result<(), redb::Error> {
        let txn = db.begin_write()?;
        txn.open_table(INDEX)?;
        txn.open_table(RECORDS)?;
        txn.open_table(META)?;
        Ok(txn.commit()?)
    };
    create().map_err(Error::backend)
}

/// Rebuilds the watch history, every event after the compacted revision.
pub(super) fn load_history(db: &Database) -> Result<(i64, i64, VecDeque<Arc<WatchEvent>>)> {
    let (tables, revision, compacted) = read_tables(db)?;
    let mut events = VecDeque::with_capacity((revision - compacted) as usize);
    for entry in tables
        .records
        .range((compacted as u64 + 1)..=(revision as u64))
        .map_err(Error::backend)?
    {
        let (entry_revision, bytes) = entry.map_err(Error::backend)?;
        let entry_revision = entry_revision.value();
        let (key, record) = Record::decode(bytes.value())?;
        let previous = tables.latest_value(&key, entry_revision - 1)?;
        events.push_back(Arc::new(record.into_event(key, entry_revision, previous)));
    }
    Ok((revision, compacted, events))
}

/// A list at one consistent revision, from a read transaction.
pub(super) fn list(db: &Database, prefix: &str, options: ListOptions) -> Result<ListPage> {
    let (tables, current, compacted) = read_tables(db)?;
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
    let limit = options.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
    let mut items = Vec::new();
    // Versions of one key are adjacent and in revision order: remember the
    // newest at or below `revision` until the key changes.
    let mut newest: Option<(String, u64, u8)> = None;
    let mut continue_token = None;
    let mut take = |newest: Option<(String, u64, u8)>, items: &mut Vec<KeyValue>| -> Result<bool> {
        let Some((key, entry_revision, flag)) = newest else {
            return Ok(true);
        };
        if flag == TOMBSTONE {
            return Ok(true);
        }
        if items.len() == limit {
            continue_token = Some(ContinueToken {
                revision,
                start_key: key,
            });
            return Ok(false);
        }
        items.extend(
            tables
                .record(entry_revision)?
                .1
                .into_key_value(&key, entry_revision),
        );
        Ok(true)
    };
    for entry in tables
        .index
        .range((start.as_str(), 0u64)..)
        .map_err(Error::backend)?
    {
        let (entry_key, flag) = entry.map_err(Error::backend)?;
        let (key, entry_revision) = entry_key.value();
        if !key.starts_with(prefix) {
            break;
        }
        let new_key = newest.as_ref().is_none_or(|(k, _, _)| k != key);
        if new_key && !take(newest.take(), &mut items)? {
            break;
        }
        if entry_revision <= revision as u64 {
            newest = Some((key.to_owned(), entry_revision, flag.value()));
        }
    }
    take(newest.take(), &mut items)?;
    Ok(ListPage {
        items,
        revision,
        continue_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let live = Record::Live {
            create_revision: 7,
            version: 3,
            value: Bytes::from_static(b"value"),
        };
        let (key, decoded) = Record::decode(&live.encode("/a/b")).unwrap();
        assert_eq!(key, "/a/b");
        let kv = decoded.into_key_value(&key, 9).unwrap();
        assert_eq!((kv.create_revision, kv.version, kv.mod_revision), (7, 3, 9));
        assert_eq!(kv.value, Bytes::from_static(b"value"));
        let (key, decoded) = Record::decode(&Record::Tombstone.encode("/gone")).unwrap();
        assert_eq!(key, "/gone");
        assert!(matches!(decoded, Record::Tombstone));
    }

    #[test]
    fn truncated_records_are_errors_not_panics() {
        let bytes = Record::Live {
            create_revision: 1,
            version: 1,
            value: Bytes::new(),
        }
        .encode("/k");
        for len in 0..bytes.len() {
            assert!(
                Record::decode(&bytes[..len]).is_err(),
                "{len} bytes decoded"
            );
        }
    }
}
