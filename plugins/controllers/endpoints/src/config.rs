//! The Plugin's `spec.config`: how often Services are resynced and how big
//! a slice may grow.

use std::time::Duration;

use wharf_sdk::prelude::*;

/// What the `Plugin` object can tune. Every field is optional:
///
/// ```yaml
/// config:
///   resyncSeconds: 10         # every Service reconciled again this often
///   maxEndpointsPerSlice: 100 # 1…1000, as kube-controller-manager's flag
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Every Service is reconciled again this often, for what no event
    /// announces (see [`crate::controller`]). At least 1 s.
    pub resync: Duration,
    /// At most this many endpoints in one EndpointSlice
    /// (`--max-endpoints-per-slice`).
    pub max_endpoints_per_slice: usize,
}

/// Kubernetes' default `--max-endpoints-per-slice`.
pub const DEFAULT_MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// The most endpoints an EndpointSlice may hold (API validation).
pub const MAX_ENDPOINTS_PER_SLICE_LIMIT: usize = 1000;

impl Default for Config {
    fn default() -> Self {
        Config {
            resync: Duration::from_secs(10),
            max_endpoints_per_slice: DEFAULT_MAX_ENDPOINTS_PER_SLICE,
        }
    }
}

impl Config {
    /// Reads `resyncSeconds` and `maxEndpointsPerSlice`; anything else in
    /// the config is ignored. A value of the wrong type or out of range is
    /// [`Error::Invalid`].
    pub fn from_json(config: &serde_json::Value) -> Result<Self, Error> {
        let mut parsed = Config::default();
        if let Some(resync) = wharf_sdk::resync_from_config(config)? {
            parsed.resync = resync;
        }
        if let Some(value) = config.get("maxEndpointsPerSlice") {
            parsed.max_endpoints_per_slice = value
                .as_u64()
                .and_then(|max| usize::try_from(max).ok())
                .filter(|max| (1..=MAX_ENDPOINTS_PER_SLICE_LIMIT).contains(max))
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "maxEndpointsPerSlice must be between 1 and {MAX_ENDPOINTS_PER_SLICE_LIMIT}, not {value}"
                    ))
                })?;
        }
        Ok(parsed)
    }
}
