//! How to reach an API server and who to be there, read from a kubeconfig
//! as kubectl reads it: the current context's cluster (`server`,
//! `certificate-authority` or `-data`) and user (`client-certificate` and
//! `client-key` or their `-data`, `token` or `tokenFile`). Relative file
//! paths are relative to the kubeconfig's directory.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

/// A server and the credentials for it.
#[derive(Clone, Debug, Default)]
pub struct ClusterAccess {
    /// `https://host:port` (or `http://`), without a trailing slash.
    pub server: String,
    /// The CA that signed the server's certificate (PEM).
    pub ca_pem: Option<Vec<u8>>,
    /// A client certificate and its key (PEM).
    pub client_cert_pem: Option<Vec<u8>>,
    pub client_key_pem: Option<Vec<u8>>,
    /// A bearer token.
    pub token: Option<String>,
}

impl ClusterAccess {
    /// The access the kubeconfig at `path` gives in its current context;
    /// `server` overrides its server.
    pub fn from_kubeconfig(path: &Path, server: Option<&str>) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let config: Value =
            serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_config(&config, base, server).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The kubeconfig named by `explicit`, else `$KUBECONFIG` (its first
    /// file), else Wharf's default one.
    pub fn default_path(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
        explicit
            .or_else(|| {
                std::env::var_os("KUBECONFIG").and_then(|paths| {
                    std::env::split_paths(&paths).find(|p| !p.as_os_str().is_empty())
                })
            })
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(|home| PathBuf::from(home).join(".local/share/wharf/kubeconfig"))
            })
            .ok_or_else(|| "no kubeconfig: pass --kubeconfig".to_string())
    }

    fn from_config(config: &Value, base: &Path, server: Option<&str>) -> Result<Self, String> {
        let named = |list: &str, name: &str| {
            config
                .get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|entry| entry.get("name").and_then(Value::as_str) == Some(name))
                .cloned()
        };
        let current = config
            .get("current-context")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let context = named("contexts", current)
            .and_then(|c| c.get("context").cloned())
            .ok_or_else(|| format!("no context {current:?}"))?;
        let cluster = context
            .get("cluster")
            .and_then(Value::as_str)
            .and_then(|name| named("clusters", name))
            .and_then(|c| c.get("cluster").cloned())
            .unwrap_or(Value::Null);
        let user = context
            .get("user")
            .and_then(Value::as_str)
            .and_then(|name| named("users", name))
            .and_then(|u| u.get("user").cloned())
            .unwrap_or(Value::Null);
        let server = match (server, cluster.get("server").and_then(Value::as_str)) {
            (Some(server), _) | (None, Some(server)) => server.trim_end_matches('/').to_string(),
            (None, None) => return Err("the current context names no server".into()),
        };
        let token = match (
            user.get("token").and_then(Value::as_str),
            user.get("tokenFile").and_then(Value::as_str),
        ) {
            (Some(token), _) => Some(token.to_string()),
            (None, Some(file)) => Some(
                std::fs::read_to_string(base.join(file))
                    .map_err(|e| format!("tokenFile {file}: {e}"))?
                    .trim()
                    .to_string(),
            ),
            (None, None) => None,
        };
        Ok(Self {
            server,
            ca_pem: data_or_file(&cluster, "certificate-authority", base)?,
            client_cert_pem: data_or_file(&user, "client-certificate", base)?,
            client_key_pem: data_or_file(&user, "client-key", base)?,
            token,
        })
    }
}

/// `FIELD-data` (base64) or the file `FIELD` names.
fn data_or_file(section: &Value, field: &str, base: &Path) -> Result<Option<Vec<u8>>, String> {
    if let Some(data) = section.get(format!("{field}-data")).and_then(Value::as_str) {
        return base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map(Some)
            .map_err(|e| format!("{field}-data: {e}"));
    }
    match section.get(field).and_then(Value::as_str) {
        Some(file) => std::fs::read(base.join(file))
            .map(Some)
            .map_err(|e| format!("{field} {file}: {e}")),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_current_context_with_data_and_files() {
        let dir = std::env::temp_dir().join(format!("wharf-kubeconfig-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.crt"), "CA").unwrap();
        std::fs::write(dir.join("token"), "secret-token\n").unwrap();
        let config: Value = serde_yaml_ng::from_str(
            "current-context: b\n\
             contexts:\n\
             - {name: a, context: {cluster: one, user: admin}}\n\
             - {name: b, context: {cluster: two, user: robot}}\n\
             clusters:\n\
             - {name: one, cluster: {server: 'https://one:6443'}}\n\
             - {name: two, cluster: {server: 'https://two:6443/', certificate-authority: ca.crt}}\n\
             users:\n\
             - {name: admin, user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}}\n\
             - {name: robot, user: {tokenFile: token}}\n",
        )
        .unwrap();
        let access = ClusterAccess::from_config(&config, &dir, None).unwrap();
        assert_eq!(access.server, "https://two:6443");
        assert_eq!(access.ca_pem.as_deref(), Some(&b"CA"[..]));
        assert_eq!(access.token.as_deref(), Some("secret-token"));
        assert!(access.client_cert_pem.is_none());

        let mut config = config;
        config["current-context"] = "a".into();
        let access =
            ClusterAccess::from_config(&config, &dir, Some("https://elsewhere:1")).unwrap();
        assert_eq!(access.server, "https://elsewhere:1");
        assert_eq!(access.client_cert_pem.as_deref(), Some(&b"CERT"[..]));
        assert_eq!(access.client_key_pem.as_deref(), Some(&b"KEY"[..]));
        assert!(access.ca_pem.is_none());

        config["current-context"] = "missing".into();
        assert!(ClusterAccess::from_config(&config, &dir, None).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
