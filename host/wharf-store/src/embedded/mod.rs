//! The embedded backend: a redb database in a data directory, needing no
//! other service. See [`tables`] for the layout and [`writer`] for group
//! commit; watch history is served from memory by [`crate::watch::History`].

mod tables;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use redb::Database;
use tokio::sync::oneshot;

use self::writer::{Command, WriteRequest, Writer, WriterHandle, written};
use crate::types::{check_key, check_value};
use crate::watch::{History, WatchStream};
use crate::{
    DeleteOutcome, Error, KeyValue, ListOptions, ListPage, Result, Store, WatchEvent, Write,
};

/// How to open an [`EmbeddedStore`].
#[derive(Clone, Debug)]
pub struct EmbeddedConfig {
    /// The directory that holds the database; created when missing.
    pub data_dir: PathBuf,
    /// Revisions of history kept for lists at old revisions and for watches;
    /// older history is compacted automatically once a quarter more piles up.
    pub history_revisions: i64,
    /// At most this much history in memory (keys and values, about): older
    /// history is compacted sooner when big objects change often.
    pub history_bytes: usize,
    /// The database's page cache.
    pub cache_bytes: usize,
}

impl EmbeddedConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            history_revisions: 20_000,
            history_bytes: 128 << 20,
            cache_bytes: 64 << 20,
        }
    }
}

/// The default store: durable on local disk (every acknowledged write has
/// been fsynced), crash-safe, with concurrent writers sharing fsyncs.
pub struct EmbeddedStore {
    db: Arc<Database>,
    history: Arc<History>,
    writer: WriterHandle,
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `config.data_dir` and starts its writer.
    pub fn open(config: EmbeddedConfig) -> Result<Self> {
        std::fs::create_dir_all(&config.data_dir).map_err(Error::backend)?;
        let path = config.data_dir.join("store.redb");
        let db = Arc::new(
            Database::builder()
                .set_cache_size(config.cache_bytes)
                .create(&path)
                .map_err(|e| Error::Backend(format!("{}: {e}", path.display())))?,
        );
        // Secrets are in there: only the owner reads the store.
        restrict(&config.data_dir, 0o700)?;
        restrict(&path, 0o600)?;
        tables::create_tables(&db)?;
        let (revision, compacted, events) = tables::load_history(&db)?;
        let history = Arc::new(History::new(compacted, events));
        let mut writer = Writer {
            db: db.clone(),
            history: history.clone(),
            revision,
            compacted,
            history_revisions: config.history_revisions.max(1),
            history_bytes: config.history_bytes,
        };
        writer.compact_if_due();
        let writer = WriterHandle::start(writer)?;
        tracing::info!(path = %path.display(), revision, compacted, "embedded store open");
        Ok(Self {
            db,
            history,
            writer,
        })
    }

    /// Checks `writes` and queues them to the writer now; the future is
    /// the writer's answer.
    fn queue(&self, writes: Vec<Write>) -> crate::Queued {
        let checked = (|| {
            crate::check_distinct(&writes)?;
            for write in &writes {
                check_key(write.key())?;
                if let Write::Create { key, value }
                | Write::Update { key, value, .. }
                | Write::Replace { key, value, .. } = write
                {
                    check_value(key, value)?;
                }
            }
            let (reply, answer) = oneshot::channel();
            self.writer.send(Command::WriteAll {
                requests: writes,
                reply,
            })?;
            Ok(answer)
        })();
        Box::pin(async move {
            let events = checked?.await.map_err(|_| Error::Closed)??;
            Ok(events.iter().map(|event| written(event)).collect())
        })
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
        let (tables, _, _) = tables::read_tables(&self.db)?;
        tables.latest_value(key, u64::MAX)
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListPage> {
        let db = self.db.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || tables::list(&db, &prefix, options))
            .await
            .map_err(Error::backend)?
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        check_key(key)?;
        check_value(key, &value)?;
        Ok(written(
            &*self
                .write(WriteRequest::Create {
                    key: key.to_owned(),
                    value,
                })
                .await?,
        ))
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
        Ok(written(&*self.write(request).await?))
    }

    async fn replace(&self, key: &str, value: Bytes, expected_value: Bytes) -> Result<KeyValue> {
        check_key(key)?;
        check_value(key, &value)?;
        let request = WriteRequest::Replace {
            key: key.to_owned(),
            value,
            expected_value,
        };
        Ok(written(&*self.write(request).await?))
    }

    async fn write_all(&self, writes: Vec<Write>) -> Result<Vec<KeyValue>> {
        self.queue(writes).await
    }

    fn queue_all(&self, writes: Vec<Write>) -> std::result::Result<crate::Queued, Vec<Write>> {
        Ok(self.queue(writes))
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
            .ok_or_else(|| Error::Backend("a delete event without the deleted value".into()))?;
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

/// Sets `path`'s permission bits to `mode`.
fn restrict(path: &std::path::Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::Backend(format!("{}: {e}", path.display())))
}
