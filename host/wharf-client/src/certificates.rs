//! Asking the cluster for a certificate (certificates.k8s.io): what a node
//! agent does to join (a client certificate) and to serve its API (a
//! serving certificate).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::Client;

/// A kubelet's client certificate (`system:node:NAME`, `system:nodes`).
pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// Any client certificate of the API server, once approved.
pub const CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";
/// A kubelet's serving certificate.
pub const KUBELET_SERVING_SIGNER: &str = "kubernetes.io/kubelet-serving";

/// How long a request waits for its certificate.
const APPROVAL_TIMEOUT: Duration = Duration::from_secs(120);

/// Sends a CertificateSigningRequest for `request` to `signer` and waits
/// for its certificate (the chain the signer wrote).
pub async fn request_certificate(
    client: &dyn Client,
    request: &str,
    signer: &str,
    usages: &[&str],
) -> Result<String, String> {
    let resource = client
        .resource("certificates.k8s.io", "v1", "CertificateSigningRequest")
        .map_err(|e| e.to_string())?;
    let object = json!({
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"generateName": "node-csr-"},
        "spec": {"request": STANDARD.encode(request), "signerName": signer, "usages": usages},
    });
    let created = client
        .create(&resource, None, &object)
        .await
        .map_err(|e| format!("asking for a certificate: {e}"))?;
    let name = crate::name_of(&created).to_string();
    let deadline = tokio::time::Instant::now() + APPROVAL_TIMEOUT;
    loop {
        let csr = client
            .get(&resource, None, &name)
            .await
            .map_err(|e| format!("the certificate request {name}: {e}"))?;
        if let Some(certificate) = csr
            .pointer("/status/certificate")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
        {
            return STANDARD
                .decode(certificate)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| format!("the certificate of {name} is not PEM"));
        }
        let refused = csr
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Denied" || c["type"] == "Failed");
        if let Some(condition) = refused {
            return Err(format!(
                "the certificate request {name} was {}: {}",
                condition["type"]
                    .as_str()
                    .unwrap_or_default()
                    .to_lowercase(),
                condition["message"].as_str().unwrap_or_default()
            ));
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "the certificate request {name} was not approved within {}s (`kubectl certificate approve {name}`)",
                APPROVAL_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
