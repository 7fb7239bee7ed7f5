//! Requests to one API server: HTTPS checked against the cluster's CA
//! (rustls, ring), with the client certificate or bearer token of a
//! [`ClusterAccess`]; HTTP/2 where the server offers it. Every client of
//! the API in Wharf (the remote client, `wharf plugin push`, the
//! benchmarks) sends through this.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::http::{HeaderValue, Method, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

use crate::kubeconfig::ClusterAccess;

/// A pool of connections to one API server, with its credentials. Clones
/// share the pool.
#[derive(Clone)]
pub struct Transport {
    base: String,
    tls: Arc<rustls::ClientConfig>,
    authorization: Option<HeaderValue>,
    http: HttpClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.base)
            .finish()
    }
}

/// How the pool behaves.
#[derive(Clone, Copy, Debug)]
pub struct PoolOptions {
    /// Idle connections kept per host (HTTP/1.1; HTTP/2 multiplexes one).
    pub max_idle: usize,
    /// Speak only HTTP/1.1 even where the server offers HTTP/2.
    pub http1_only: bool,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_idle: 32,
            http1_only: false,
        }
    }
}

impl Transport {
    pub fn new(access: &ClusterAccess, options: PoolOptions) -> Result<Self, String> {
        Self::with_tls(access, tls_config(access)?, options)
    }

    /// A transport that checks nothing of the server's certificate: only
    /// for reading what is verified otherwise, as a joining node reads the
    /// public `cluster-info` and then checks the CA it names against the
    /// hash it was given (kubeadm's token discovery). It presents no
    /// credentials.
    pub fn unverified(server: &str) -> Result<Self, String> {
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth();
        let access = ClusterAccess {
            server: server.to_string(),
            ..ClusterAccess::default()
        };
        Self::with_tls(&access, config, PoolOptions::default())
    }

    fn with_tls(
        access: &ClusterAccess,
        tls: rustls::ClientConfig,
        options: PoolOptions,
    ) -> Result<Self, String> {
        let base = access.server.trim_end_matches('/').to_string();
        let https = base.starts_with("https://");
        if !https && !base.starts_with("http://") {
            return Err(format!(
                "{base}: the server must be an https:// (or http://) URL"
            ));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_or_http();
        let connector = if options.http1_only {
            builder.enable_http1().wrap_connector(connector)
        } else {
            builder.enable_all_versions().wrap_connector(connector)
        };
        let authorization = access
            .token
            .as_deref()
            .map(|token| {
                HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| "the token is not a valid header value".to_string())
            })
            .transpose()?;
        Ok(Self {
            base,
            tls: Arc::new(tls),
            authorization,
            http: HttpClient::builder(TokioExecutor::new())
                .pool_max_idle_per_host(options.max_idle)
                .build(connector),
        })
    }

    /// The server, `https://host:port`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A new TLS connection of its own to the server (HTTP/1.1 offered),
    /// for a caller that writes raw requests: tests and benchmarks of how
    /// the server treats connections.
    pub async fn connect_raw(
        &self,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
        let uri: hyper::Uri = self
            .base
            .parse()
            .map_err(|e| format!("{}: {e}", self.base))?;
        let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
        let port = uri.port_u16().unwrap_or(443);
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| format!("{host}: {e}"))?;
        let stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("{}: {e}", self.base))?;
        let mut config = (*self.tls).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, stream)
            .await
            .map_err(|e| format!("{}: {e}", self.base))
    }

    /// Sends one request to `path` (with its query), with the credentials;
    /// the response's body is left to read.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<hyper::Response<hyper::body::Incoming>, String> {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(authorization) = &self.authorization {
            request = request.header(hyper::header::AUTHORIZATION, authorization.clone());
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| format!("cannot build a request: {e}"))?;
        self.http
            .request(request)
            .await
            .map_err(|e| format!("the API server at {} cannot be reached: {e}", self.base))
    }

    /// Sends one request and reads the whole answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), String> {
        let response = self.send(method, path, headers, body).await?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("the API server's answer broke off: {e}"))?
            .to_bytes();
        Ok((status, body))
    }
}

/// Trusts only the access's CA (a server without one is refused: there
/// are no system roots here), and presents its client certificate: every
/// TLS client of Wharf's (the API server's, to node agents, too).
pub fn tls_config(access: &ClusterAccess) -> Result<rustls::ClientConfig, String> {
    // ring, not aws-lc-rs: one crypto library for the whole build (the
    // store's encryption uses ring), and no C toolchain for aws-lc. rustls
    // deprecates ring's provider for lacking post-quantum key exchange
    // only; its classical suites are what kubectl and Python offer.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &access.ca_pem {
        for cert in CertificateDer::pem_slice_iter(ca) {
            let cert = cert.map_err(|e| format!("the certificate authority: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("the certificate authority: {e}"))?;
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    Ok(match (&access.client_cert_pem, &access.client_key_pem) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("the client certificate: {e}"))?;
            let key =
                PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("the client key: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("the client certificate: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("a client certificate needs its key, and a key its certificate".into()),
    })
}

/// Accepts any server certificate (signatures are still checked, so the
/// peer holds the key of the certificate it shows): [`Transport::unverified`].
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
