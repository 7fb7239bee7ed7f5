//! The API server's TLS configuration.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, pem::PemObject};
use rustls::server::WebPkiClientVerifier;

use crate::{Error, Issued};

/// A TLS server presenting `serving` (its certificate, then the chain
/// `serving.cert_pem` holds), speaking HTTP/2 and HTTP/1.1 (ALPN), that
/// asks each client for a certificate signed by `client_ca_pem` and lets
/// one without a certificate in (it may authenticate otherwise: a bearer
/// token, or as anonymous where that is allowed). A certificate that is
/// offered and fails verification ends the handshake.
pub fn server_config(serving: &Issued, client_ca_pem: &str) -> Result<rustls::ServerConfig, Error> {
    // ring, not aws-lc-rs: one crypto library for the whole build (the
    // store's encryption uses ring), and no C toolchain for aws-lc. rustls
    // deprecates ring's provider for lacking post-quantum key exchange
    // only; its classical suites are what kubectl and Python offer.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(client_ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| Error::Certificate(format!("the client CA: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| Error::Certificate(format!("the client CA: {e}")))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| Error::Certificate(format!("the client CA: {e}")))?;
    let chain = CertificateDer::pem_slice_iter(serving.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Certificate(format!("the serving certificate: {e}")))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Certificate(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, serving.key_der()?)
        .map_err(|e| Error::Certificate(format!("the serving certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
