//! The etcd backend, through the `etcd-client` crate.
//!
//! Each guarded write is one etcd transaction: compare the key's create or
//! modify revision, write on success, read the key on failure so the error
//! can say NotFound, AlreadyExists or Conflict. Revisions are etcd's own, so
//! several Wharf processes on one etcd share one revision space.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, DeleteOptions, EventType, GetOptions, PutOptions, Txn, TxnOp,
    TxnOpResponse, WatchOptions,
};

use crate::types::{check_key, check_value, prefix_end};
use crate::{
    ContinueToken, DeleteOutcome, Error, EventKind, KeyValue, ListOptions, ListPage, Result, Store,
    WatchEvent, WatchStream,
};

/// How to reach etcd and look after its history.
#[derive(Clone, Debug)]
pub struct EtcdConfig {
    /// Client URLs, for example `http://127.0.0.1:2379`.
    pub endpoints: Vec<String>,
    /// Every interval, compact to the revision seen one interval earlier, as
    /// the Kubernetes API server does (default 5 minutes); `None` leaves
    /// compaction to etcd's own settings and to [`Store::compact`].
    pub compaction_interval: Option<Duration>,
}

impl EtcdConfig {
    pub fn new(endpoints: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            compaction_interval: Some(Duration::from_secs(300)),
        }
    }
}

/// A store on a real etcd cluster.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    _compactor: Option<Arc<AbortOnDrop>>,
}

impl EtcdStore {
    /// Connects to etcd and starts the periodic compactor, if configured.
    pub async fn connect(config: EtcdConfig) -> Result<Self> {
        let client = Client::connect(&config.endpoints, None)
            .await
            .map_err(Error::backend)?;
        let store = Self {
            client,
            _compactor: None,
        };
        let compactor = config.compaction_interval.map(|interval| {
            let store = store.clone();
            Arc::new(AbortOnDrop(tokio::spawn(async move {
                store.compact_periodically(interval).await
            })))
        });
        Ok(Self {
            _compactor: compactor,
            ..store
        })
    }

    /// Compacts, every `interval`, to the revision current one interval
    /// before: history always covers at least the last interval. Several
    /// Wharf processes on one etcd may all do this; a repeated compaction is
    /// harmless.
    async fn compact_periodically(&self, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut previous: Option<i64> = None;
        loop {
            ticker.tick().await;
            if let Some(revision) = previous.filter(|r| *r > 0) {
                match self.compact(revision).await {
                    Ok(()) => tracing::debug!(revision, "compacted etcd history"),
                    Err(error) => tracing::warn!(%error, revision, "etcd compaction failed"),
                }
            }
            previous = self.current_revision().await.ok();
        }
    }

    fn kv(&self) -> etcd_client::KvClient {
        self.client.kv_client()
    }

    /// Puts `value` over an existing `key` if `compare` holds; else the
    /// key is stale (`expected` in the conflict) or gone.
    async fn put_guarded(
        &self,
        key: &str,
        value: Bytes,
        compare: Compare,
        expected: i64,
    ) -> Result<KeyValue> {
        check_key(key)?;
        check_value(key, &value)?;
        let put = TxnOp::put(key, value.to_vec(), Some(PutOptions::new().with_prev_key()));
        let (revision, responses) = self
            .guarded(key, compare, put, |current| stale(key, expected, current))
            .await?;
        let previous = match responses.into_iter().next() {
            Some(TxnOpResponse::Put(put)) => put.prev_key().map(convert).transpose()?,
            _ => None,
        };
        let previous =
            previous.ok_or_else(|| Error::Backend("etcd put returned no previous value".into()))?;
        Ok(KeyValue {
            key: key.to_owned(),
            value,
            create_revision: previous.create_revision,
            mod_revision: revision,
            version: previous.version + 1,
        })
    }

    /// Runs a guarded write: `then` when `compare` holds, else a read of the
    /// key whose result `on_failure` turns into the caller's error.
    async fn guarded(
        &self,
        key: &str,
        compare: Compare,
        then: TxnOp,
        on_failure: impl FnOnce(Option<KeyValue>) -> Error,
    ) -> Result<(i64, Vec<TxnOpResponse>)> {
        let txn = Txn::new()
            .when([compare])
            .and_then([then])
            .or_else([TxnOp::get(key, None)]);
        let response = self.kv().txn(txn).await.map_err(Error::backend)?;
        let revision = response.header().map(|h| h.revision()).unwrap_or_default();
        let responses = response.op_responses();
        if response.succeeded() {
            return Ok((revision, responses));
        }
        let current = match responses.into_iter().next() {
            Some(TxnOpResponse::Get(get)) => get.kvs().first().map(convert).transpose()?,
            _ => None,
        };
        Err(on_failure(current))
    }

    /// Maps etcd's errors for a read or compaction at `requested` to the store's.
    async fn read_error(&self, error: etcd_client::Error, requested: i64) -> Error {
        let text = error.to_string();
        if text.contains("required revision has been compacted") {
            // etcd does not say how far it compacted.
            Error::Compacted {
                requested,
                compacted: 0,
            }
        } else if text.contains("required revision is a future revision") {
            match self.current_revision().await {
                Ok(current) => Error::FutureRevision { requested, current },
                Err(error) => error,
            }
        } else {
            Error::Backend(text)
        }
    }
}

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        check_key(key)?;
        let response = self.kv().get(key, None).await.map_err(Error::backend)?;
        response.kvs().first().map(convert).transpose()
    }

    async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListPage> {
        let (revision, start) = match &options.continue_token {
            Some(token) => (token.revision, token.start_key.clone()),
            None => (
                options.revision.filter(|r| *r > 0).unwrap_or(0),
                prefix.to_owned(),
            ),
        };
        if !start.starts_with(prefix) {
            return Err(Error::InvalidKey {
                key: start,
                reason: "the continue token does not belong to this prefix",
            });
        }
        let end = prefix_end(prefix).unwrap_or_else(|| vec![0]);
        let mut get = GetOptions::new().with_range(end).with_revision(revision);
        let limit = options.limit.filter(|l| *l > 0);
        if let Some(limit) = limit {
            get = get.with_limit(limit as i64 + 1);
        }
        let response = match self.kv().get(start, Some(get)).await {
            Ok(response) => response,
            Err(error) => return Err(self.read_error(error, revision).await),
        };
        let revision = if revision > 0 {
            revision
        } else {
            response.header().map(|h| h.revision()).unwrap_or_default()
        };
        let mut items = response
            .kvs()
            .iter()
            .map(convert)
            .collect::<Result<Vec<_>>>()?;
        let continue_token = match limit {
            Some(limit) if items.len() > limit => {
                let next = items.pop().expect("more than limit items");
                items.truncate(limit);
                Some(ContinueToken {
                    revision,
                    start_key: next.key,
                })
            }
            _ => None,
        };
        Ok(ListPage {
            items,
            revision,
            continue_token,
        })
    }

    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        check_key(key)?;
        check_value(key, &value)?;
        let compare = Compare::create_revision(key, CompareOp::Equal, 0);
        let put = TxnOp::put(key, value.to_vec(), None);
        let (revision, _) = self
            .guarded(key, compare, put, |_| Error::AlreadyExists {
                key: key.to_owned(),
            })
            .await?;
        Ok(KeyValue {
            key: key.to_owned(),
            value,
            create_revision: revision,
            mod_revision: revision,
            version: 1,
        })
    }

    async fn update(
        &self,
        key: &str,
        value: Bytes,
        expected_mod_revision: i64,
    ) -> Result<KeyValue> {
        let compare = Compare::mod_revision(key, CompareOp::Equal, expected_mod_revision);
        self.put_guarded(key, value, compare, expected_mod_revision)
            .await
    }

    async fn replace(&self, key: &str, value: Bytes, expected_value: Bytes) -> Result<KeyValue> {
        let compare = Compare::value(key, CompareOp::Equal, expected_value.to_vec());
        self.put_guarded(key, value, compare, 0).await
    }

    async fn delete(&self, key: &str, expected_mod_revision: Option<i64>) -> Result<DeleteOutcome> {
        check_key(key)?;
        let compare = match expected_mod_revision {
            Some(expected) => Compare::mod_revision(key, CompareOp::Equal, expected),
            None => Compare::create_revision(key, CompareOp::Greater, 0),
        };
        let delete = TxnOp::delete(key, Some(DeleteOptions::new().with_prev_key()));
        let expected = expected_mod_revision.unwrap_or_default();
        let (revision, responses) = self
            .guarded(key, compare, delete, |current| {
                stale(key, expected, current)
            })
            .await?;
        let previous = match responses.into_iter().next() {
            Some(TxnOpResponse::Delete(delete)) => {
                delete.prev_kvs().first().map(convert).transpose()?
            }
            _ => None,
        };
        let previous = previous.ok_or_else(|| Error::NotFound {
            key: key.to_owned(),
        })?;
        Ok(DeleteOutcome { revision, previous })
    }

    async fn watch(&self, prefix: &str, after_revision: i64) -> Result<WatchStream> {
        let mut options = WatchOptions::new()
            .with_prev_key()
            .with_start_revision(after_revision + 1);
        options = match prefix_end(prefix) {
            Some(end) => options.with_range(end),
            None => options.with_range(vec![0]),
        };
        let key = if prefix.is_empty() {
            vec![0]
        } else {
            prefix.as_bytes().to_vec()
        };
        let mut etcd_stream = self
            .client
            .watch_client()
            .watch(key, Some(options))
            .await
            .map_err(Error::backend)?;
        // The first response confirms creation or reports a compacted start.
        let first = etcd_stream.message().await.map_err(Error::backend)?;
        if let Some(response) = &first
            && response.canceled()
        {
            return Err(cancel_error(response, after_revision));
        }
        let (sender, stream) = WatchStream::channel();
        tokio::spawn(async move {
            let mut pending = first;
            loop {
                let response = match pending.take() {
                    Some(response) => response,
                    None => match etcd_stream.message().await {
                        Ok(Some(response)) => response,
                        Ok(None) => return,
                        Err(error) => {
                            let _ = sender.send(Err(Error::backend(error))).await;
                            return;
                        }
                    },
                };
                if response.canceled() {
                    let _ = sender
                        .send(Err(cancel_error(&response, after_revision)))
                        .await;
                    return;
                }
                for event in response.events() {
                    let converted = convert_event(event);
                    let failed = converted.is_err();
                    if sender.send(converted.map(Arc::new)).await.is_err() || failed {
                        return;
                    }
                }
            }
        });
        Ok(stream)
    }

    async fn compact(&self, revision: i64) -> Result<()> {
        match self.kv().compact(revision, None).await {
            Ok(_) => Ok(()),
            // Compacting at or below the compacted revision is a no-op here.
            Err(error)
                if error
                    .to_string()
                    .contains("required revision has been compacted") =>
            {
                Ok(())
            }
            Err(error) => Err(self.read_error(error, revision).await),
        }
    }

    async fn current_revision(&self) -> Result<i64> {
        let response = self
            .kv()
            .get(vec![0], Some(GetOptions::new().with_count_only()))
            .await
            .map_err(Error::backend)?;
        Ok(response.header().map(|h| h.revision()).unwrap_or_default())
    }
}

/// Stops the compactor when the last clone of the store is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn stale(key: &str, expected: i64, current: Option<KeyValue>) -> Error {
    match current {
        None => Error::NotFound {
            key: key.to_owned(),
        },
        Some(current) => Error::Conflict {
            key: key.to_owned(),
            expected,
            current: current.mod_revision,
        },
    }
}

fn cancel_error(response: &etcd_client::WatchResponse, requested: i64) -> Error {
    if response.compact_revision() > 0 {
        Error::Compacted {
            requested,
            compacted: response.compact_revision(),
        }
    } else {
        Error::Backend(format!(
            "etcd cancelled the watch: {}",
            response.cancel_reason()
        ))
    }
}

fn convert(kv: &etcd_client::KeyValue) -> Result<KeyValue> {
    Ok(KeyValue {
        key: kv.key_str().map_err(Error::backend)?.to_owned(),
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
    })
}

fn convert_event(event: &etcd_client::Event) -> Result<WatchEvent> {
    let kv = event
        .kv()
        .ok_or_else(|| Error::Backend("etcd event without a key".into()))?;
    let kind = match event.event_type() {
        EventType::Put => EventKind::Put,
        EventType::Delete => EventKind::Delete,
    };
    Ok(WatchEvent {
        kind,
        kv: convert(kv)?,
        previous: event.prev_kv().map(convert).transpose()?,
    })
}
