//! The Plugin's `spec.config`: the CA bundle to publish and how often every
//! namespace is looked at again.

use std::time::Duration;

use wharf_sdk::prelude::*;

/// What the `Plugin` object can tune. Every field is optional:
///
/// ```yaml
/// config:
///   rootCACert: |         # PEM; `wharf up` fills it in
///     -----BEGIN CERTIFICATE-----
///     …
///     -----END CERTIFICATE-----
///   resyncSeconds: 10     # every namespace looked at again this often
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The bundle published as `ca.crt` of `kube-root-ca.crt`, as given.
    /// `None` (absent, `null` or blank): no ConfigMap is published.
    pub root_ca_cert: Option<String>,
    /// Every Namespace is reconciled again this often; it is how a deleted
    /// ServiceAccount or an edited ConfigMap is put back (see the crate's
    /// docs). At least 1 s.
    pub resync: Duration,
}

/// The default resync.
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(10);

/// What a PEM certificate starts with; a `rootCACert` holds at least one.
const PEM_CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----";

impl Default for Config {
    fn default() -> Self {
        Config {
            root_ca_cert: None,
            resync: DEFAULT_RESYNC,
        }
    }
}

impl Config {
    /// Reads `rootCACert` and `resyncSeconds`; anything else in the config
    /// is ignored. A value of the wrong type, a `rootCACert` that holds no
    /// PEM certificate or a resync below 1 s is [`Error::Invalid`].
    pub fn from_json(config: &serde_json::Value) -> Result<Self, Error> {
        let mut parsed = Config::default();
        if let Some(resync) = wharf_sdk::resync_from_config(config)? {
            parsed.resync = resync;
        }
        parsed.root_ca_cert = root_ca_cert(config)?;
        Ok(parsed)
    }
}

fn root_ca_cert(config: &serde_json::Value) -> Result<Option<String>, Error> {
    let value = match config.get("rootCACert") {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(value) => value,
    };
    let Some(pem) = value.as_str() else {
        return Err(Error::Invalid(format!(
            "rootCACert must be a string holding the cluster's CA bundle (PEM), not {value}"
        )));
    };
    if pem.trim().is_empty() {
        return Ok(None);
    }
    if !pem.contains(PEM_CERTIFICATE) {
        return Err(Error::Invalid(format!(
            "rootCACert must be a PEM bundle of certificates; it holds no {PEM_CERTIFICATE:?} line"
        )));
    }
    Ok(Some(pem.to_owned()))
}
