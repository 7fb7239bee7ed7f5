//! The Plugin's `spec.config`: kube-controller-manager's node lifecycle flags.
//!
//! ```yaml
//! config:
//!   nodeMonitorGracePeriodSeconds: 40   # --node-monitor-grace-period
//!   nodeStartupGracePeriodSeconds: 60   # --node-startup-grace-period
//!   nodeEvictionRate: 0.1               # --node-eviction-rate (nodes/s per zone)
//!   secondaryNodeEvictionRate: 0.01     # --secondary-node-eviction-rate
//!   unhealthyZoneThreshold: 0.55        # --unhealthy-zone-threshold
//!   largeClusterSizeThreshold: 50       # --large-cluster-size-threshold
//! ```

use std::time::Duration;

use wharf_sdk::Error;
use wharf_sdk::serde_json;

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// How long a node may go without a heartbeat (Lease renewal or status)
    /// before its Ready condition becomes `Unknown`.
    pub grace: Duration,
    /// The same, for a node that has never posted its status.
    pub startup_grace: Duration,
    /// NoExecute taints added per second in a healthy zone.
    pub eviction_rate: f64,
    /// … in a partially disrupted zone larger than `large_cluster_size`.
    pub secondary_eviction_rate: f64,
    /// The share of not-ready nodes (more than two) that makes a zone
    /// partially disrupted.
    pub unhealthy_zone_threshold: f64,
    /// Zones of at most this many nodes stop evicting when partially disrupted.
    pub large_cluster_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            grace: Duration::from_secs(40),
            startup_grace: Duration::from_secs(60),
            eviction_rate: 0.1,
            secondary_eviction_rate: 0.01,
            unhealthy_zone_threshold: 0.55,
            large_cluster_size: 50,
        }
    }
}

impl Config {
    /// Reads the fields above; anything else in the config is ignored.
    pub fn from_json(config: &serde_json::Value) -> Result<Self, Error> {
        let mut parsed = Config::default();
        let number = |key: &str, min: f64| -> Result<Option<f64>, Error> {
            match config.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(value) => value
                    .as_f64()
                    .filter(|number| *number >= min && number.is_finite())
                    .map(Some)
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "{key} must be a number of at least {min}, not {value}"
                        ))
                    }),
            }
        };
        if let Some(seconds) = number("nodeMonitorGracePeriodSeconds", 1.0)? {
            parsed.grace = Duration::from_secs_f64(seconds);
        }
        if let Some(seconds) = number("nodeStartupGracePeriodSeconds", 1.0)? {
            parsed.startup_grace = Duration::from_secs_f64(seconds);
        }
        if let Some(rate) = number("nodeEvictionRate", 0.0)? {
            parsed.eviction_rate = rate;
        }
        if let Some(rate) = number("secondaryNodeEvictionRate", 0.0)? {
            parsed.secondary_eviction_rate = rate;
        }
        if let Some(share) = number("unhealthyZoneThreshold", 0.0)? {
            parsed.unhealthy_zone_threshold = share;
        }
        if let Some(size) = number("largeClusterSizeThreshold", 0.0)? {
            parsed.large_cluster_size = size as usize;
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_sdk::serde_json::json;

    #[test]
    fn flags_are_read_and_checked() {
        assert_eq!(Config::from_json(&json!({})).unwrap(), Config::default());
        let config = Config::from_json(&json!({
            "nodeMonitorGracePeriodSeconds": 5, "nodeEvictionRate": 100, "largeClusterSizeThreshold": 3
        }))
        .unwrap();
        assert_eq!(config.grace, Duration::from_secs(5));
        assert_eq!(config.eviction_rate, 100.0);
        assert_eq!(config.large_cluster_size, 3);
        for bad in [
            json!({"nodeMonitorGracePeriodSeconds": 0}),
            json!({"nodeEvictionRate": -1}),
            json!({"nodeEvictionRate": "fast"}),
        ] {
            assert!(Config::from_json(&bad).is_err(), "{bad}");
        }
    }
}
