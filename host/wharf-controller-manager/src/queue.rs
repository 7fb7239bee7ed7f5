//! The work queue, as client-go's: keys are deduplicated, a key is handed to
//! at most one worker at a time (re-added while processing, it runs again
//! after), failures are retried with exponential backoff, and delayed keys
//! wait their turn. Workers are OS threads that block in [`WorkQueue::get`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The first retry waits this long; each failure doubles it.
const BASE_DELAY: Duration = Duration::from_millis(5);
/// Retries never wait longer than this.
const MAX_DELAY: Duration = Duration::from_secs(1000);

/// A queue of keys (`namespace/name` or `name`).
#[derive(Default)]
pub struct WorkQueue {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    ready: VecDeque<String>,
    /// Keys waiting to be processed (in `ready`, or re-added while processing).
    dirty: HashSet<String>,
    processing: HashSet<String>,
    delayed: BinaryHeap<Reverse<(Instant, u64, String)>>,
    sequence: u64,
    failures: HashMap<String, u32>,
    shut_down: bool,
}

impl State {
    fn add(&mut self, key: String) -> bool {
        if self.shut_down || !self.dirty.insert(key.clone()) {
            return false;
        }
        if !self.processing.contains(&key) {
            self.ready.push_back(key);
            return true;
        }
        false
    }

    /// Moves due delayed keys to `ready`; returns when the next one is due.
    fn promote(&mut self, now: Instant) -> Option<Instant> {
        while let Some(Reverse((due, _, _))) = self.delayed.peek() {
            if *due > now {
                return Some(*due);
            }
            let Reverse((_, _, key)) = self.delayed.pop().expect("peeked");
            self.add(key);
        }
        None
    }
}

impl WorkQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key now (a no-op if it is already waiting).
    pub fn add(&self, key: impl Into<String>) {
        let mut state = self.state.lock().expect("queue lock");
        if state.add(key.into()) {
            self.wake.notify_one();
        }
    }

    /// Adds a key after `delay`.
    pub fn add_after(&self, key: impl Into<String>, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let mut state = self.state.lock().expect("queue lock");
        if state.shut_down {
            return;
        }
        state.sequence += 1;
        let entry = (Instant::now() + delay, state.sequence, key.into());
        state.delayed.push(Reverse(entry));
        self.wake.notify_one();
    }

    /// Adds a key after its backoff: 5 ms, doubling per failure, at most 1000 s.
    pub fn add_rate_limited(&self, key: impl Into<String>) {
        let key = key.into();
        let delay = {
            let mut state = self.state.lock().expect("queue lock");
            let failures = state.failures.entry(key.clone()).or_insert(0);
            let delay = BASE_DELAY
                .saturating_mul(1u32.checked_shl(*failures).unwrap_or(u32::MAX))
                .min(MAX_DELAY);
            *failures = failures.saturating_add(1);
            delay
        };
        self.add_after(key, delay);
    }

    /// Forgets a key's failures (after a success).
    pub fn forget(&self, key: &str) {
        self.state.lock().expect("queue lock").failures.remove(key);
    }

    /// How many times a key has failed in a row.
    pub fn failures(&self, key: &str) -> u32 {
        self.state
            .lock()
            .expect("queue lock")
            .failures
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    /// Blocks until a key is ready (and marks it processing), or returns
    /// `None` once the queue is shut down.
    pub fn get(&self) -> Option<String> {
        let mut state = self.state.lock().expect("queue lock");
        loop {
            if state.shut_down {
                return None;
            }
            let next_due = state.promote(Instant::now());
            if let Some(key) = state.ready.pop_front() {
                state.dirty.remove(&key);
                state.processing.insert(key.clone());
                return Some(key);
            }
            state = match next_due {
                Some(due) => {
                    self.wake
                        .wait_timeout(state, due.saturating_duration_since(Instant::now()))
                        .expect("queue lock")
                        .0
                }
                None => self.wake.wait(state).expect("queue lock"),
            };
        }
    }

    /// Marks a key done; if it was re-added meanwhile, it is ready again.
    pub fn done(&self, key: &str) {
        let mut state = self.state.lock().expect("queue lock");
        state.processing.remove(key);
        if state.dirty.contains(key) {
            state.ready.push_back(key.to_string());
            self.wake.notify_one();
        }
    }

    /// Keys ready or waiting now (not counting delayed ones).
    pub fn len(&self) -> usize {
        let state = self.state.lock().expect("queue lock");
        state.dirty.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wakes every worker; `get` returns `None` from now on.
    pub fn shut_down(&self) {
        self.state.lock().expect("queue lock").shut_down = true;
        self.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn keys_are_deduplicated_while_waiting() {
        let queue = WorkQueue::new();
        queue.add("a");
        queue.add("a");
        queue.add("b");
        assert_eq!(queue.get().as_deref(), Some("a"));
        assert_eq!(queue.get().as_deref(), Some("b"));
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn a_key_added_while_processing_runs_again_after_done() {
        let queue = WorkQueue::new();
        queue.add("a");
        let key = queue.get().unwrap();
        queue.add("a");
        assert_eq!(queue.len(), 1, "waiting, not handed to a second worker");
        queue.done(&key);
        assert_eq!(queue.get().as_deref(), Some("a"));
    }

    #[test]
    fn delayed_keys_wait_their_turn() {
        let queue = WorkQueue::new();
        queue.add_after("later", Duration::from_millis(50));
        queue.add("now");
        assert_eq!(queue.get().as_deref(), Some("now"));
        let started = Instant::now();
        assert_eq!(queue.get().as_deref(), Some("later"));
        assert!(started.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn failures_back_off_exponentially_until_forgotten() {
        let queue = WorkQueue::new();
        for _ in 0..3 {
            queue.add_rate_limited("a");
        }
        assert_eq!(queue.failures("a"), 3);
        queue.forget("a");
        assert_eq!(queue.failures("a"), 0);
    }

    #[test]
    fn shutting_down_releases_blocked_workers() {
        let queue = Arc::new(WorkQueue::new());
        let worker = {
            let queue = queue.clone();
            std::thread::spawn(move || queue.get())
        };
        std::thread::sleep(Duration::from_millis(20));
        queue.shut_down();
        assert_eq!(worker.join().unwrap(), None);
    }
}
