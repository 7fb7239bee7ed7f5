//! Latency histograms and how benchmarks print them.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies in nanoseconds, 1 ns to 100 s, three significant digits.
pub struct Latencies(Histogram<u64>);

impl Latencies {
    pub fn new() -> Self {
        Self(Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds"))
    }

    pub fn record(&mut self, latency: Duration) {
        self.0
            .saturating_record(latency.as_nanos().clamp(1, u64::MAX as u128) as u64);
    }

    pub fn merge(&mut self, other: &Latencies) {
        self.0
            .add(&other.0)
            .expect("histograms with the same bounds");
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The `q` quantile (0.5, 0.99) in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.0.value_at_quantile(q) as f64 / 1e6
    }

    /// The `q` quantile in microseconds.
    pub fn quantile_us(&self, q: f64) -> f64 {
        self.0.value_at_quantile(q) as f64 / 1e3
    }

    /// The mean in microseconds.
    pub fn mean_us(&self) -> f64 {
        self.0.mean() / 1e3
    }

    /// `mean X µs, p50 Y µs, p99 Z µs`.
    pub fn summary_us(&self) -> String {
        format!(
            "mean {:.2} µs, p50 {:.2} µs, p99 {:.2} µs",
            self.mean_us(),
            self.quantile_us(0.5),
            self.quantile_us(0.99)
        )
    }

    /// `p50 X ms, p99 Y ms`.
    pub fn summary(&self) -> String {
        format!(
            "p50 {:.2} ms, p99 {:.2} ms",
            self.quantile_ms(0.5),
            self.quantile_ms(0.99)
        )
    }
}
