//! The scheduling queue, as kube-scheduler's: pending pods by priority then
//! arrival (active), pods waiting out a backoff after a failure, and pods
//! found unschedulable, parked until the cluster changes in a way that could
//! help (a node added or changed, an assigned pod deleted) or for at most
//! five minutes.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Backoff after the first failure; doubled per attempt up to the maximum.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long a pod stays unschedulable without a cluster change.
pub const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Where {
    Active,
    Backoff,
    Unschedulable,
    /// Popped and being scheduled.
    InFlight,
}

struct Entry {
    pod: Arc<Value>,
    priority: i64,
    /// Arrival order; FIFO among equal priorities.
    seq: u64,
    /// Invalidates stale heap entries.
    version: u64,
    attempts: u32,
    place: Where,
    since: Instant,
    backoff_until: Instant,
    /// The move cycle when it was popped.
    popped_cycle: u64,
}

/// A popped pod.
pub struct Popped {
    pub key: String,
    pub pod: Arc<Value>,
    pub attempts: u32,
}

/// The queue.
#[derive(Default)]
pub struct SchedulingQueue {
    entries: HashMap<String, Entry>,
    active: BinaryHeap<(i64, Reverse<u64>, u64, String)>,
    backoff: BinaryHeap<Reverse<(Instant, u64, String)>>,
    next_seq: u64,
    next_version: u64,
    /// Bumped by every cluster change that moves unschedulable pods.
    move_cycle: u64,
}

impl SchedulingQueue {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    fn push_active(&mut self, key: &str) {
        self.next_version += 1;
        let version = self.next_version;
        let entry = self.entries.get_mut(key).expect("an entry");
        entry.version = version;
        entry.place = Where::Active;
        self.active
            .push((entry.priority, Reverse(entry.seq), version, key.to_string()));
    }

    fn push_backoff(&mut self, key: &str) {
        self.next_version += 1;
        let version = self.next_version;
        let entry = self.entries.get_mut(key).expect("an entry");
        entry.version = version;
        entry.place = Where::Backoff;
        self.backoff
            .push(Reverse((entry.backoff_until, version, key.to_string())));
    }

    /// Adds a pending pod, or updates one already queued. An unschedulable
    /// pod whose spec or labels changed is retried.
    pub fn add_or_update(&mut self, key: &str, pod: Arc<Value>) {
        let now = Instant::now();
        match self.entries.get_mut(key) {
            Some(entry) => {
                let changed = entry.pod.get("spec") != pod.get("spec")
                    || entry.pod.pointer("/metadata/labels") != pod.pointer("/metadata/labels");
                entry.priority = crate::pod::priority(&pod);
                entry.pod = pod;
                if entry.place == Where::Unschedulable && changed {
                    if entry.backoff_until > now {
                        self.push_backoff(key);
                    } else {
                        self.push_active(key);
                    }
                }
            }
            None => {
                self.next_seq += 1;
                self.entries.insert(
                    key.to_string(),
                    Entry {
                        priority: crate::pod::priority(&pod),
                        pod,
                        seq: self.next_seq,
                        version: 0,
                        attempts: 0,
                        place: Where::Active,
                        since: now,
                        backoff_until: now,
                        popped_cycle: 0,
                    },
                );
                self.push_active(key);
            }
        }
    }

    /// Forgets a pod (deleted, or assigned by someone else).
    pub fn delete(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// The next pod to schedule, if one is ready.
    pub fn pop(&mut self) -> Option<Popped> {
        let now = Instant::now();
        while let Some(Reverse((until, version, _))) = self.backoff.peek() {
            if *until > now {
                break;
            }
            let (version, key) = (*version, {
                let Reverse((_, _, key)) = self.backoff.pop().expect("peeked");
                key
            });
            if self
                .entries
                .get(&key)
                .is_some_and(|e| e.version == version && e.place == Where::Backoff)
            {
                self.push_active(&key);
            }
        }
        while let Some((_, _, version, key)) = self.active.pop() {
            let cycle = self.move_cycle;
            let Some(entry) = self.entries.get_mut(&key) else {
                continue;
            };
            if entry.version != version || entry.place != Where::Active {
                continue;
            }
            entry.place = Where::InFlight;
            entry.popped_cycle = cycle;
            return Some(Popped {
                pod: entry.pod.clone(),
                attempts: entry.attempts,
                key,
            });
        }
        None
    }

    /// A popped pod did not get a node: it waits out a backoff, or, when no
    /// node fits (`unschedulable`) and nothing changed during its attempt,
    /// until the cluster changes.
    pub fn failed(&mut self, key: &str, unschedulable: bool) {
        let now = Instant::now();
        let cycle = self.move_cycle;
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        entry.attempts += 1;
        let exponent = entry.attempts.saturating_sub(1).min(16);
        let backoff = INITIAL_BACKOFF
            .saturating_mul(1 << exponent)
            .min(MAX_BACKOFF);
        entry.backoff_until = now + backoff;
        entry.since = now;
        if unschedulable && entry.popped_cycle == cycle {
            entry.place = Where::Unschedulable;
        } else {
            self.push_backoff(key);
        }
    }

    /// A popped pod was assigned (or is gone): forget it.
    pub fn done(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// The cluster changed in a way that could help: every unschedulable pod
    /// is retried (after its backoff).
    pub fn move_all_unschedulable(&mut self) {
        self.move_cycle += 1;
        let now = Instant::now();
        let keys: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.place == Where::Unschedulable)
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            if self.entries[&key].backoff_until > now {
                self.push_backoff(&key);
            } else {
                self.push_active(&key);
            }
        }
    }

    /// Retries pods unschedulable for longer than [`MAX_UNSCHEDULABLE`].
    pub fn flush_stale_unschedulable(&mut self) {
        let now = Instant::now();
        let keys: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                e.place == Where::Unschedulable && now.duration_since(e.since) > MAX_UNSCHEDULABLE
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            self.push_active(&key);
        }
    }

    /// When the earliest backoff ends, if any pod is backing off.
    pub fn next_backoff_end(&self) -> Option<Instant> {
        self.backoff.peek().map(|Reverse((until, _, _))| *until)
    }

    /// How many pods are parked as unschedulable.
    pub fn unschedulable_count(&self) -> usize {
        self.entries
            .values()
            .filter(|e| e.place == Where::Unschedulable)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(priority: i64) -> Arc<Value> {
        Arc::new(json!({"spec": {"priority": priority}}))
    }

    #[test]
    fn higher_priority_first_then_first_come_first_served() {
        let mut queue = SchedulingQueue::default();
        queue.add_or_update("a", pod(0));
        queue.add_or_update("b", pod(10));
        queue.add_or_update("c", pod(0));
        let order: Vec<_> = std::iter::from_fn(|| queue.pop().map(|p| p.key)).collect();
        assert_eq!(order, ["b", "a", "c"]);
    }

    #[test]
    fn unschedulable_pods_wait_for_a_cluster_change_then_their_backoff() {
        let mut queue = SchedulingQueue::default();
        queue.add_or_update("a", pod(0));
        let popped = queue.pop().unwrap();
        queue.failed(&popped.key, true);
        assert!(queue.pop().is_none());
        assert_eq!(queue.unschedulable_count(), 1);
        queue.move_all_unschedulable();
        assert_eq!(queue.unschedulable_count(), 0);
        // Still backing off (1 s after the first failure).
        assert!(queue.pop().is_none());
        assert!(queue.next_backoff_end().is_some());
    }

    #[test]
    fn a_change_during_the_attempt_sends_the_pod_to_backoff_not_to_the_parking_lot() {
        let mut queue = SchedulingQueue::default();
        queue.add_or_update("a", pod(0));
        let popped = queue.pop().unwrap();
        queue.move_all_unschedulable();
        queue.failed(&popped.key, true);
        assert_eq!(queue.unschedulable_count(), 0);
        assert!(queue.next_backoff_end().is_some());
    }

    #[test]
    fn a_status_only_update_does_not_retry_an_unschedulable_pod_but_a_spec_change_does() {
        let mut queue = SchedulingQueue::default();
        queue.add_or_update("a", pod(0));
        let popped = queue.pop().unwrap();
        queue.failed(&popped.key, true);
        let mut with_status = (*pod(0)).clone();
        with_status["status"] = json!({"conditions": []});
        queue.add_or_update("a", Arc::new(with_status));
        assert_eq!(queue.unschedulable_count(), 1);
        queue.add_or_update("a", pod(5));
        assert_eq!(queue.unschedulable_count(), 0);
    }

    #[test]
    fn deleted_pods_are_never_popped() {
        let mut queue = SchedulingQueue::default();
        queue.add_or_update("a", pod(0));
        queue.delete("a");
        assert!(queue.pop().is_none());
        assert!(queue.is_empty());
    }
}
