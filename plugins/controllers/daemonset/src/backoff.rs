//! The backoff between deletions of failed daemon pods on one node
//! (client-go's `flowcontrol.Backoff` as the DaemonSet controller uses it:
//! 1 s doubling to 15 min): kubelet may reject a pod over and over, and
//! the controller must not fight it in a hot loop.

use std::collections::HashMap;

/// The first delay.
pub const INITIAL_MILLIS: u64 = 1_000;
/// The longest delay; an entry untouched for twice this long is forgotten.
pub const MAX_MILLIS: u64 = 15 * 60 * 1_000;

#[derive(Debug, Default)]
pub struct Backoff {
    entries: HashMap<String, Entry>,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    delay_millis: u64,
    last_update_millis: u64,
}

impl Entry {
    fn expired(&self, now_millis: u64) -> bool {
        now_millis.saturating_sub(self.last_update_millis) > 2 * MAX_MILLIS
    }
}

impl Backoff {
    /// `IsInBackOffSinceUpdate`: the delay still to wait, in milliseconds,
    /// when `key` was last updated less than its delay ago.
    pub fn remaining(&self, key: &str, now_millis: u64) -> Option<u64> {
        let entry = self.entries.get(key)?;
        if entry.expired(now_millis) {
            return None;
        }
        let since = now_millis.saturating_sub(entry.last_update_millis);
        (since < entry.delay_millis).then(|| entry.delay_millis - since)
    }

    /// `Next`: starts `key`'s delay at [`INITIAL_MILLIS`] or doubles it, up
    /// to [`MAX_MILLIS`].
    pub fn next(&mut self, key: &str, now_millis: u64) {
        let delay_millis = match self.entries.get(key) {
            Some(entry) if !entry.expired(now_millis) => (entry.delay_millis * 2).min(MAX_MILLIS),
            _ => INITIAL_MILLIS,
        };
        self.entries.insert(
            key.to_owned(),
            Entry {
                delay_millis,
                last_update_millis: now_millis,
            },
        );
    }

    /// `GC`: forgets expired entries.
    pub fn collect_garbage(&mut self, now_millis: u64) {
        self.entries.retain(|_, entry| !entry.expired(now_millis));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_maximum_and_expire() {
        let mut backoff = Backoff::default();
        assert_eq!(backoff.remaining("k", 0), None);
        backoff.next("k", 0);
        assert_eq!(backoff.remaining("k", 400), Some(600));
        assert_eq!(backoff.remaining("k", 1_000), None);
        backoff.next("k", 1_000);
        assert_eq!(backoff.remaining("k", 1_000), Some(2_000));
        let mut now = 1_000;
        for _ in 0..20 {
            now += 1;
            backoff.next("k", now);
        }
        assert_eq!(backoff.remaining("k", now), Some(MAX_MILLIS));
        backoff.collect_garbage(now + 2 * MAX_MILLIS + 1);
        assert_eq!(backoff.remaining("k", now + 2 * MAX_MILLIS + 1), None);
        backoff.next("k", now + 2 * MAX_MILLIS + 1);
        assert_eq!(
            backoff.remaining("k", now + 2 * MAX_MILLIS + 1),
            Some(INITIAL_MILLIS)
        );
    }
}
