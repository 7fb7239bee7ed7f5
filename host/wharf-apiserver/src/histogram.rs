//! A lock-free histogram of durations, as kube-apiserver keeps for its
//! admission steps (`apiserver_admission_step_admission_duration_seconds`):
//! recording is one atomic add, quantiles are read from the buckets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets per doubling: each is 2^(1/8) (9%) wider than the last.
const PER_DOUBLING: usize = 8;
/// From 1 µs to 2^26 µs (67 s); longer durations count in the last.
const DOUBLINGS: usize = 26;
const BUCKETS: usize = PER_DOUBLING * DOUBLINGS + 1;

/// Durations counted in exponential buckets (1 µs and up, 9% wide).
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// The upper bound of bucket `index`, in µs.
fn bound_us(index: usize) -> f64 {
    2f64.powf(index as f64 / PER_DOUBLING as f64)
}

impl Histogram {
    pub fn record(&self, duration: Duration) {
        let micros = duration.as_secs_f64() * 1e6;
        let index = if micros <= 1.0 {
            0
        } else {
            ((micros.log2() * PER_DOUBLING as f64).ceil() as usize).min(BUCKETS - 1)
        };
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.buckets
            .iter()
            .map(|bucket| bucket.load(Ordering::Relaxed))
            .sum()
    }

    /// The `q` quantile (0–1), as the upper bound of its bucket (at most
    /// 9% over the true value); zero when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Duration {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|bucket| bucket.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Duration::from_secs_f64(bound_us(index) / 1e6);
            }
        }
        Duration::from_secs_f64(bound_us(BUCKETS - 1) / 1e6)
    }

    /// Forgets what was recorded.
    pub fn reset(&self) {
        for bucket in self.buckets.iter() {
            bucket.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_bucket_of_the_recorded_durations() {
        let histogram = Histogram::default();
        assert_eq!(histogram.quantile(0.99), Duration::ZERO);
        for micros in 1..=1000 {
            histogram.record(Duration::from_micros(micros));
        }
        assert_eq!(histogram.count(), 1000);
        for (q, exact) in [(0.5, 500.0), (0.99, 990.0), (1.0, 1000.0)] {
            let found = histogram.quantile(q).as_secs_f64() * 1e6;
            assert!(
                found >= exact && found <= exact * 1.091,
                "q{q}: {found} µs for {exact} µs"
            );
        }
        histogram.record(Duration::from_secs(3600));
        assert!(histogram.quantile(1.0) >= Duration::from_secs(60));
        histogram.reset();
        assert_eq!(histogram.count(), 0);
    }
}
