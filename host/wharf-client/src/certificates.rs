//! Asking the cluster for a certificate (certificates.k8s.io): what a node
//! agent does to join (a client certificate) and to serve its API (a
//! serving certificate).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::{Client, Delivery};

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
    // Followed on a watch of this one request; read again if the watch
    // breaks off.
    let revision = created
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0);
    let mut events = Some(client.watch(
        &resource,
        None,
        &crate::Selectors::fields(format!("metadata.name={name}")),
        revision,
    ));
    let mut csr = created;
    loop {
        if let Some(outcome) = outcome(&name, &csr) {
            return outcome;
        }
        let next = match &mut events {
            Some(watch) => tokio::time::timeout_at(deadline, watch.recv()).await,
            None => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(None)
            }
        };
        match next {
            Ok(Some(Delivery::Event(_, event))) => csr = (*event.object).clone(),
            Ok(Some(Delivery::Progress(_))) => {}
            Ok(Some(Delivery::Error(_)) | None) => {
                events = None;
                csr = client
                    .get(&resource, None, &name)
                    .await
                    .map_err(|e| format!("the certificate request {name}: {e}"))?;
            }
            Err(_) => {}
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "the certificate request {name} was not approved within {}s (`kubectl certificate approve {name}`)",
                APPROVAL_TIMEOUT.as_secs()
            ));
        }
    }
}

/// The certificate a request was given, or why it was refused; `None`
/// while it waits.
fn outcome(name: &str, csr: &Value) -> Option<Result<String, String>> {
    if let Some(certificate) = csr
        .pointer("/status/certificate")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
    {
        return Some(
            STANDARD
                .decode(certificate)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| format!("the certificate of {name} is not PEM")),
        );
    }
    let refused = csr
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Denied" || c["type"] == "Failed")?;
    Some(Err(format!(
        "the certificate request {name} was {}: {}",
        refused["type"].as_str().unwrap_or_default().to_lowercase(),
        refused["message"].as_str().unwrap_or_default()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_waits_until_it_is_issued_or_refused() {
        assert!(outcome("a", &json!({"status": {}})).is_none());
        let approved = json!({"status": {"conditions": [{"type": "Approved", "status": "True"}]}});
        assert!(outcome("a", &approved).is_none());
        let issued = json!({"status": {"certificate": STANDARD.encode("PEM")}});
        assert_eq!(outcome("a", &issued), Some(Ok("PEM".to_string())));
        let denied = json!({"status": {"conditions": [{"type": "Denied", "message": "no"}]}});
        assert_eq!(
            outcome("a", &denied),
            Some(Err("the certificate request a was denied: no".to_string()))
        );
    }
}
