//! Joining a cluster with a bootstrap token, as kubeadm's `join` and the
//! kubelet's TLS bootstrap do it: read the public `cluster-info`, trust
//! its CA only if it matches the pinned hash, then ask (with the token)
//! for a client certificate of `system:node:NAME` through a
//! CertificateSigningRequest, which the cluster's signer approves and
//! signs; the node keeps it in a kubeconfig of its own and uses nothing
//! else from then on.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use wharf_client::{ClusterAccess, RemoteClient, Transport};

/// The node's kubeconfig in its data directory.
pub fn kubelet_kubeconfig(data_dir: &Path) -> PathBuf {
    data_dir.join("kubelet.kubeconfig")
}

/// The cluster CA `server`'s `cluster-info` names, if its hash is `pinned`.
pub async fn discover_ca(server: &str, pinned: &str) -> Result<String, String> {
    let transport = Transport::unverified(server)?;
    let (status, body) = transport
        .call(
            axum::http::Method::GET,
            wharf_apiserver::authn::CLUSTER_INFO_PATH,
            &[("accept", "application/json")],
            bytes::Bytes::new(),
        )
        .await?;
    if !status.is_success() {
        return Err(format!(
            "{server} gave no cluster-info ({status}): {}",
            String::from_utf8_lossy(&body).trim()
        ));
    }
    let config_map: Value =
        serde_json::from_slice(&body).map_err(|e| format!("cluster-info: {e}"))?;
    let kubeconfig: Value = serde_yaml_ng::from_str(
        config_map["data"]["kubeconfig"]
            .as_str()
            .ok_or("cluster-info holds no kubeconfig")?,
    )
    .map_err(|e| format!("cluster-info's kubeconfig: {e}"))?;
    let ca = kubeconfig
        .pointer("/clusters/0/cluster/certificate-authority-data")
        .and_then(Value::as_str)
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or("cluster-info names no certificate authority")?;
    let hash = wharf_pki::ca_cert_hash(&ca).map_err(|e| e.to_string())?;
    if !hash.eq_ignore_ascii_case(pinned.trim()) {
        return Err(format!(
            "the cluster CA's hash is {hash}, not the pinned {pinned}: refusing to trust {server}"
        ));
    }
    Ok(ca)
}

/// Joins `server` as `node` with `token`, trusting the CA of hash
/// `ca_hash`; writes the node's kubeconfig (0600) to `path`.
pub async fn join(
    server: &str,
    token: &str,
    ca_hash: &str,
    node: &str,
    path: &Path,
) -> Result<(), String> {
    if wharf_pki::parse_bootstrap_token(token).is_none() {
        return Err("--token must be a bootstrap token, [a-z0-9]{6}.[a-z0-9]{16}".into());
    }
    let ca = discover_ca(server, ca_hash).await?;
    let bootstrap = RemoteClient::new(&ClusterAccess {
        server: server.to_string(),
        ca_pem: Some(ca.clone().into_bytes()),
        token: Some(token.to_string()),
        ..ClusterAccess::default()
    })?;
    let user = format!("system:node:{node}");
    let (request, key) =
        wharf_pki::new_request(&user, Some("system:nodes"), &[], &[]).map_err(|e| e.to_string())?;
    let certificate = wharf_client::certificates::request_certificate(
        &bootstrap,
        &request,
        wharf_client::certificates::KUBELET_CLIENT_SIGNER,
        &["digital signature", "client auth"],
    )
    .await?;
    let issued = wharf_pki::Issued {
        cert_pem: certificate,
        key_pem: key,
    };
    let text = crate::up::kubeconfig_text(server, &ca, &issued, &user);
    wharf_pki::write_file(path, text.as_bytes(), 0o600).map_err(|e| e.to_string())
}
