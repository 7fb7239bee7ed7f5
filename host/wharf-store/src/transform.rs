//! Values transformed on their way into and out of a store: how the API
//! server encrypts Secrets at rest (kube-apiserver's storage value
//! transformers). [`TransformingStore`] wraps any [`Store`]; a
//! [`Transformer`] says which keys it covers and seals and opens their
//! values. Callers see plain values: in gets, lists, watch events (and
//! their previous values) and in what writes return; the backend holds
//! only sealed ones.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::watch::WatchStream;
use crate::{
    DeleteOutcome, Error, KeyValue, ListOptions, ListPage, Queued, Result, Store, WatchEvent, Write,
};

/// Seals and opens the values of the keys it covers. `key` is the value's
/// key: a transformer may bind the sealed value to it (authenticated data),
/// so that a value moved to another key does not open.
pub trait Transformer: Send + Sync + 'static {
    /// Whether values under `key` are sealed on write.
    fn covers(&self, key: &str) -> bool;

    /// The value to store for `plain`.
    fn seal(&self, key: &str, plain: &[u8]) -> Result<Bytes>;

    /// The plain value of a stored one. Values written before the key was
    /// covered (or under an old configuration) must still open.
    fn open(&self, key: &str, stored: &Bytes) -> Result<Bytes>;

    /// Whether [`open`](Self::open) may change or refuse `stored`; when
    /// not, the value passes as it is (the common case, kept cheap).
    fn may_open(&self, key: &str, stored: &[u8]) -> bool {
        let _ = (key, stored);
        true
    }
}

/// Opens `kv`'s value if the transformer has to.
fn open_value(transformer: &dyn Transformer, kv: &mut KeyValue) -> Result<()> {
    if !kv.value.is_empty() && transformer.may_open(&kv.key, &kv.value) {
        kv.value = transformer.open(&kv.key, &kv.value)?;
    }
    Ok(())
}

/// Whether an event holds a value the transformer has to open.
fn event_sealed(transformer: &dyn Transformer, event: &WatchEvent) -> bool {
    std::iter::once(&event.kv)
        .chain(event.previous.as_ref())
        .any(|kv| !kv.value.is_empty() && transformer.may_open(&kv.key, &kv.value))
}

/// A [`Store`] whose covered values are sealed by a [`Transformer`].
pub struct TransformingStore {
    inner: Arc<dyn Store>,
    transformer: Arc<dyn Transformer>,
}

impl TransformingStore {
    pub fn new(inner: Arc<dyn Store>, transformer: Arc<dyn Transformer>) -> Self {
        Self { inner, transformer }
    }

    fn open_kv(&self, mut kv: KeyValue) -> Result<KeyValue> {
        open_value(self.transformer.as_ref(), &mut kv)?;
        Ok(kv)
    }

    fn seal(&self, key: &str, value: Bytes) -> Result<Bytes> {
        if self.transformer.covers(key) {
            self.transformer.seal(key, &value)
        } else {
            Ok(value)
        }
    }

    /// What a write returns, with the value the caller wrote (a delete's
    /// empty value stays empty).
    fn written(mut kv: KeyValue, plain: Bytes) -> KeyValue {
        if !kv.value.is_empty() {
            kv.value = plain;
        }
        kv
    }

    /// A write with its value sealed, and the plain value to answer with;
    /// `None` for a value-guarded replace of a covered key, which needs a
    /// read first ([`seal_write`](Self::seal_write)).
    fn seal_now(&self, write: Write) -> Result<Option<(Write, Bytes)>> {
        Ok(Some(match write {
            Write::Create { key, value } => {
                let sealed = self.seal(&key, value.clone())?;
                (Write::Create { key, value: sealed }, value)
            }
            Write::Update {
                key,
                value,
                expected,
            } => {
                let sealed = self.seal(&key, value.clone())?;
                let write = Write::Update {
                    value: sealed,
                    key,
                    expected,
                };
                (write, value)
            }
            Write::Replace { ref key, .. } if self.transformer.covers(key) => return Ok(None),
            Write::Replace {
                key,
                value,
                expected_value,
            } => {
                let plain = value.clone();
                let write = Write::Replace {
                    key,
                    value,
                    expected_value,
                };
                (write, plain)
            }
            write @ Write::Delete { .. } => (write, Bytes::new()),
        }))
    }

    /// [`seal_now`](Self::seal_now), where a value-guarded replace of a
    /// covered key (sealed values cannot be compared: each sealing differs)
    /// becomes an update guarded by the revision of the current value, once
    /// that value is the one expected.
    async fn seal_write(&self, write: Write) -> Result<(Write, Bytes)> {
        if let Some(sealed) = self.seal_now(write.clone())? {
            return Ok(sealed);
        }
        let Write::Replace {
            key,
            value,
            expected_value,
        } = write
        else {
            unreachable!("seal_now defers only replaces");
        };
        let current = self
            .get(&key)
            .await?
            .ok_or_else(|| Error::NotFound { key: key.clone() })?;
        if current.value != expected_value {
            return Err(Error::Conflict {
                key,
                expected: 0,
                current: current.mod_revision,
            });
        }
        let sealed = self.transformer.seal(&key, &value)?;
        let write = Write::Update {
            key,
            value: sealed,
            expected: current.mod_revision,
        };
        Ok((write, value))
    }
}

#[async_trait]
impl Store for TransformingStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        (self.inner.get(key).await?)
            .map(|kv| self.open_kv(kv))
            .transpose()
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListPage> {
        let mut page = self.inner.list(prefix, options).await?;
        page.items = (page.items.into_iter())
            .map(|kv| self.open_kv(kv))
            .collect::<Result<_>>()?;
        Ok(page)
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        let sealed = self.seal(key, value.clone())?;
        let kv = self.inner.create(key, sealed).await?;
        Ok(Self::written(kv, value))
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_mod_revision: i64,
    ) -> Result<KeyValue> {
        let sealed = self.seal(key, value.clone())?;
        let kv = self
            .inner
            .update(key, sealed, expected_mod_revision)
            .await?;
        Ok(Self::written(kv, value))
    }

    async fn replace(&self, key: &str, value: Bytes, expected_value: Bytes) -> Result<KeyValue> {
        let write = Write::Replace {
            key: key.to_string(),
            value,
            expected_value,
        };
        let mut written = self.write_all(vec![write]).await?;
        written.pop().ok_or(Error::Closed)
    }

    async fn delete(&self, key: &str, expected_mod_revision: Option<i64>) -> Result<DeleteOutcome> {
        let mut outcome = self.inner.delete(key, expected_mod_revision).await?;
        outcome.previous = self.open_kv(outcome.previous)?;
        Ok(outcome)
    }

    async fn write_all(&self, writes: Vec<Write>) -> Result<Vec<KeyValue>> {
        let mut sealed = Vec::with_capacity(writes.len());
        let mut plain = Vec::with_capacity(writes.len());
        for write in writes {
            let (write, value) = self.seal_write(write).await?;
            sealed.push(write);
            plain.push(value);
        }
        let written = self.inner.write_all(sealed).await?;
        Ok(written
            .into_iter()
            .zip(plain)
            .map(|(kv, value)| Self::written(kv, value))
            .collect())
    }

    fn queue_all(&self, writes: Vec<Write>) -> std::result::Result<Queued, Vec<Write>> {
        let mut sealed = Vec::with_capacity(writes.len());
        let mut plain = Vec::with_capacity(writes.len());
        for write in &writes {
            // A covered replace needs a read first, and a value that does
            // not seal fails in `write_all`: the caller awaits each write.
            let Ok(Some((write, value))) = self.seal_now(write.clone()) else {
                return Err(writes);
            };
            sealed.push(write);
            plain.push(value);
        }
        match self.inner.queue_all(sealed) {
            Ok(queued) => Ok(Box::pin(async move {
                let written = queued.await?;
                Ok(written
                    .into_iter()
                    .zip(plain)
                    .map(|(kv, value)| Self::written(kv, value))
                    .collect())
            })),
            // The backend cannot queue: the caller writes them one by one.
            Err(_) => Err(writes),
        }
    }

    async fn watch(&self, prefix: &str, after_revision: i64) -> Result<WatchStream> {
        let mut events = self.inner.watch(prefix, after_revision).await?;
        let (sender, stream) = WatchStream::channel();
        let transformer = self.transformer.clone();
        tokio::spawn(async move {
            let open = |kv: &KeyValue| -> Result<KeyValue> {
                let mut kv = kv.clone();
                open_value(transformer.as_ref(), &mut kv)?;
                Ok(kv)
            };
            while let Some(event) = events.next().await {
                let event = event.and_then(|event| {
                    if !event_sealed(transformer.as_ref(), &event) {
                        return Ok(event);
                    }
                    Ok(Arc::new(WatchEvent {
                        kind: event.kind,
                        kv: open(&event.kv)?,
                        previous: event.previous.as_ref().map(&open).transpose()?,
                    }))
                });
                let failed = event.is_err();
                if sender.send(event).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(stream)
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        self.inner.compact(revision).await
    }

    async fn current_revision(&self) -> Result<i64> {
        self.inner.current_revision().await
    }
}
