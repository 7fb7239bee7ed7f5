//! What a plugin's status shows of its calls: counts, mean latency, the
//! last error. One per running plugin, shared by whatever calls it (worker
//! threads, the scheduling loop, the admission chain) and the supervisor
//! that writes its status.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::PluginError;
use crate::world::LoadTimes;

#[derive(Debug, Default)]
pub struct PluginStats {
    pub calls: AtomicU64,
    pub errors: AtomicU64,
    nanos: AtomicU64,
    /// The last failed call: its reason (CamelCase) and message.
    pub last_error: Mutex<Option<(String, String)>>,
    /// Set when the plugin could not start where it runs (for worlds that
    /// start it somewhere else, such as the scheduling loop).
    pub start_failure: Mutex<Option<String>>,
    /// How the running module loaded (WebAssembly modules only).
    pub load: Mutex<Option<Arc<LoadTimes>>>,
}

impl PluginStats {
    /// Counts one call that took `elapsed` and failed with `error`, if so.
    pub fn record(&self, elapsed: Duration, error: Option<&PluginError>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
        if let Some(error) = error {
            self.record_error(error);
        }
    }

    /// Counts a failure that was not a call (an instance that would not start).
    pub fn record_error(&self, error: &PluginError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().expect("stats") =
            Some((error.reason().to_string(), error.to_string()));
    }

    /// Records how the running module loaded.
    pub fn loaded(&self, times: Option<Arc<LoadTimes>>) {
        *self.load.lock().expect("stats") = times;
    }

    /// Mean call latency.
    pub fn mean(&self) -> Duration {
        let calls = self.calls.load(Ordering::Relaxed);
        Duration::from_nanos(
            self.nanos
                .load(Ordering::Relaxed)
                .checked_div(calls)
                .unwrap_or(0),
        )
    }
}
