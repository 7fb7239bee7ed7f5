//! Watch streams, and the embedded backend's in-memory event history.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, watch};

use crate::{Error, Result, WatchEvent};

/// Events a watcher may have in flight before it is made to wait.
const WATCH_BUFFER: usize = 1024;
/// Events a watcher copies out of the history per lock.
const WATCH_BATCH: usize = 256;

/// An ordered stream of events on one prefix.
///
/// Ends with `None` when the store closes; yields one `Err` (for example
/// [`Error::Compacted`] when the watcher fell behind compaction) and then ends.
/// Dropping it stops the watch.
#[derive(Debug)]
pub struct WatchStream {
    events: mpsc::Receiver<Result<Arc<WatchEvent>>>,
}

impl WatchStream {
    /// A stream fed by a task through a channel; the task stops when the
    /// channel's receiver, this stream, is dropped.
    pub(crate) fn channel() -> (mpsc::Sender<Result<Arc<WatchEvent>>>, Self) {
        let (sender, events) = mpsc::channel(WATCH_BUFFER);
        (sender, Self { events })
    }

    /// The next event, or `None` when the stream has ended.
    pub async fn next(&mut self) -> Option<Result<Arc<WatchEvent>>> {
        self.events.recv().await
    }
}

/// Every event since the compacted revision, in revision order, shared by the
/// writer (which appends) and the watchers (which read). One revision is one
/// event, so event `r` sits at index `r - compacted - 1`.
pub(crate) struct History {
    state: RwLock<HistoryState>,
    latest: watch::Sender<i64>,
}

struct HistoryState {
    compacted: i64,
    events: VecDeque<Arc<WatchEvent>>,
    /// What `events` holds, by [`size_of_event`].
    bytes: usize,
}

impl HistoryState {
    fn latest(&self) -> i64 {
        self.compacted + self.events.len() as i64
    }
}

/// About what an event holds in memory: its key and both values.
pub(crate) fn size_of_event(event: &WatchEvent) -> usize {
    const OVERHEAD: usize = 128;
    OVERHEAD
        + event.kv.key.len()
        + event.kv.value.len()
        + event.previous.as_ref().map_or(0, |p| p.value.len())
}

impl History {
    pub(crate) fn new(compacted: i64, events: VecDeque<Arc<WatchEvent>>) -> Self {
        let bytes = events.iter().map(|e| size_of_event(e)).sum();
        let state = HistoryState {
            compacted,
            events,
            bytes,
        };
        let (latest, _) = watch::channel(state.latest());
        Self {
            state: RwLock::new(state),
            latest,
        }
    }

    pub(crate) fn latest_revision(&self) -> i64 {
        *self.latest.borrow()
    }

    /// Appends committed events (consecutive revisions) and wakes watchers.
    pub(crate) fn publish(&self, events: Vec<Arc<WatchEvent>>) {
        if events.is_empty() {
            return;
        }
        let latest = {
            let mut state = self.state.write().expect("history lock");
            debug_assert_eq!(events[0].revision(), state.latest() + 1);
            state.bytes += events.iter().map(|e| size_of_event(e)).sum::<usize>();
            state.events.extend(events);
            state.latest()
        };
        self.latest.send_replace(latest);
    }

    /// Forgets the events at and below `revision`.
    pub(crate) fn compact(&self, revision: i64) {
        let mut state = self.state.write().expect("history lock");
        let drop = (revision - state.compacted).clamp(0, state.events.len() as i64) as usize;
        let dropped: usize = state.events.drain(..drop).map(|e| size_of_event(&e)).sum();
        state.bytes -= dropped;
        state.compacted = state.compacted.max(revision);
    }

    /// What the history holds in memory, in bytes (about).
    pub(crate) fn bytes(&self) -> usize {
        self.state.read().expect("history lock").bytes
    }

    /// The lowest revision to compact to so that the history holds at most
    /// `budget` bytes (the newest event is always kept).
    pub(crate) fn revision_fitting(&self, budget: usize) -> i64 {
        let state = self.state.read().expect("history lock");
        let mut bytes = state.bytes;
        let mut revision = state.compacted;
        for event in state
            .events
            .iter()
            .take(state.events.len().saturating_sub(1))
        {
            if bytes <= budget {
                break;
            }
            bytes -= size_of_event(event);
            revision = event.revision();
        }
        revision
    }

    /// Starts a watcher task serving `prefix` after `after_revision`.
    pub(crate) fn watch(
        self: &Arc<Self>,
        prefix: &str,
        after_revision: i64,
    ) -> Result<WatchStream> {
        let compacted = self.state.read().expect("history lock").compacted;
        if after_revision < compacted {
            return Err(Error::Compacted {
                requested: after_revision,
                compacted,
            });
        }
        let (sender, stream) = WatchStream::channel();
        let history = self.clone();
        let prefix = prefix.to_owned();
        tokio::spawn(async move { history.serve(prefix, after_revision, sender).await });
        Ok(stream)
    }

    async fn serve(
        &self,
        prefix: String,
        mut after: i64,
        sender: mpsc::Sender<Result<Arc<WatchEvent>>>,
    ) {
        let mut latest = self.latest.subscribe();
        loop {
            // Mark the current revision seen before reading, so a publish
            // after the read wakes `changed()` below.
            latest.borrow_and_update();
            let batch = self.read_after(&prefix, after);
            let (events, caught_up) = match batch {
                Ok(batch) => batch,
                Err(error) => {
                    let _ = sender.send(Err(error)).await;
                    return;
                }
            };
            for event in events {
                after = event.revision();
                if sender.send(Ok(event)).await.is_err() {
                    return;
                }
            }
            if let Some(last_scanned) = caught_up {
                after = after.max(last_scanned);
                tokio::select! {
                    changed = latest.changed() => if changed.is_err() { return },
                    () = sender.closed() => return,
                }
            }
        }
    }

    /// Up to [`WATCH_BATCH`] matching events after `after`; with `Some(latest)`
    /// when the history was read to its end at `latest`.
    #[allow(clippy::type_complexity)]
    fn read_after(&self, prefix: &str, after: i64) -> Result<(Vec<Arc<WatchEvent>>, Option<i64>)> {
        let state = self.state.read().expect("history lock");
        if after < state.compacted {
            return Err(Error::Compacted {
                requested: after,
                compacted: state.compacted,
            });
        }
        let start = (after - state.compacted).max(0) as usize;
        let mut events = Vec::new();
        for (offset, event) in state.events.iter().skip(start).enumerate() {
            if event.kv.key.starts_with(prefix) {
                events.push(event.clone());
                if events.len() == WATCH_BATCH {
                    let scanned = after.max(state.compacted) + offset as i64 + 1;
                    debug_assert_eq!(scanned, event.revision());
                    return Ok((events, None));
                }
            }
        }
        Ok((events, Some(state.latest())))
    }
}
