//! `wharf token create`: a bootstrap token for joining nodes (kubeadm's
//! `token create --print-join-command`), kept as kube keeps them: a
//! `bootstrap.kubernetes.io/token` Secret `bootstrap-token-ID` in
//! `kube-system`, which expires. It prints the `wharf node` command that
//! joins with it, the CA pinned by its hash.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use wharf_apiserver::certificates::{
    BOOTSTRAP_NAMESPACE, BOOTSTRAP_TOKEN_TYPE, DEFAULT_NODE_TOKEN_GROUP,
};
use wharf_client::{Client, ClusterAccess, RemoteClient};

#[derive(clap::Subcommand)]
pub enum Token {
    /// Create a bootstrap token and print the command that joins a node
    /// with it.
    Create(Create),
}

#[derive(clap::Args)]
pub struct Create {
    /// The admin's kubeconfig; by default `$KUBECONFIG` or Wharf's.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// How long the token lasts (`24h`, `90m`, `3600s`; `0` never expires).
    #[arg(long, default_value = "24h", value_parser = parse_ttl)]
    ttl: Duration,
    /// The API server address nodes join (printed in the command); by
    /// default the kubeconfig's.
    #[arg(long)]
    server: Option<String>,
    /// What the token is for (the Secret's `description`).
    #[arg(long, default_value = "made by `wharf token create`")]
    description: String,
}

fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?}: give a unit (h, m or s)"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration"))?;
    let seconds = match unit {
        "h" => number * 3600,
        "m" => number * 60,
        "s" => number,
        _ => return Err(format!("{text:?}: the unit must be h, m or s")),
    };
    Ok(Duration::from_secs(seconds))
}

pub async fn run(command: Token) -> Result<(), String> {
    let Token::Create(options) = command;
    let path = ClusterAccess::default_path(options.kubeconfig)?;
    let access = ClusterAccess::from_kubeconfig(&path, None)?;
    let ca = access
        .ca_pem
        .as_deref()
        .map(String::from_utf8_lossy)
        .ok_or_else(|| format!("{}: names no certificate authority", path.display()))?;
    let hash = wharf_pki::ca_cert_hash(&ca).map_err(|e| e.to_string())?;
    let client = RemoteClient::new(&access)?;
    let token = create_bootstrap_token(&client, options.ttl, &options.description).await?;
    let server = options.server.unwrap_or(access.server);
    println!("wharf node --server {server} --token {token} --ca-cert-hash {hash}");
    Ok(())
}

/// A new bootstrap token for joining nodes, valid for `ttl` (zero:
/// forever), kept as its Secret; `ID.SECRET`.
pub async fn create_bootstrap_token(
    client: &dyn Client,
    ttl: Duration,
    description: &str,
) -> Result<String, String> {
    let secrets = client
        .resource("", "v1", "Secret")
        .map_err(|e| e.to_string())?;
    let (id, secret) = wharf_pki::new_bootstrap_token();
    let mut data = serde_json::Map::new();
    let mut put = |key: &str, value: &str| {
        data.insert(key.into(), json!(STANDARD.encode(value)));
    };
    put("token-id", &id);
    put("token-secret", &secret);
    put("usage-bootstrap-authentication", "true");
    put("usage-bootstrap-signing", "true");
    put("auth-extra-groups", DEFAULT_NODE_TOKEN_GROUP);
    put("description", description);
    if !ttl.is_zero() {
        let expires = wharf_client::now().as_second() + ttl.as_secs() as i64;
        put("expiration", &wharf_client::meta::rfc3339_at(expires));
    }
    let object = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": BOOTSTRAP_TOKEN_TYPE,
        "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": BOOTSTRAP_NAMESPACE},
        "data": data,
    });
    client
        .create(&secrets, Some(BOOTSTRAP_NAMESPACE), &object)
        .await
        .map_err(|e| format!("creating the token: {e}"))?;
    Ok(format!("{id}.{secret}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_read_like_kubeadms() {
        assert_eq!(parse_ttl("24h"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_ttl("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_ttl("0"), Ok(Duration::ZERO));
        assert!(parse_ttl("5").is_err());
        assert!(parse_ttl("5d").is_err());
    }
}
