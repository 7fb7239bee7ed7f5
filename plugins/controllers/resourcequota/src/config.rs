//! The Plugin's `spec.config`: how often every quota is counted again.

use std::time::Duration;

use wharf_sdk::prelude::*;

/// What the `Plugin` object can tune. Every field is optional:
///
/// ```yaml
/// config:
///   resyncSeconds: 10   # every quota counted again this often
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Every quota is counted again this often: it is how deleted pods
    /// give their share back. At least 1 s.
    pub resync: Duration,
}

/// The default resync.
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(10);

impl Default for Config {
    fn default() -> Self {
        Config {
            resync: DEFAULT_RESYNC,
        }
    }
}

impl Config {
    /// Reads `resyncSeconds`; anything else in the config is ignored. A
    /// value of the wrong type or below 1 is [`Error::Invalid`].
    pub fn from_json(config: &serde_json::Value) -> Result<Self, Error> {
        let mut parsed = Config::default();
        if let Some(resync) = wharf_sdk::resync_from_config(config)? {
            parsed.resync = resync;
        }
        Ok(parsed)
    }
}
