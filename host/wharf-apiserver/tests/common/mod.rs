//! What the API server's test files share.
// Each test file uses a part of what is shared.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// `app(state)` as the admin would reach it: every request comes as if
/// over a connection whose client certificate names `wharf-admin` in
/// `system:masters` (what the TLS server attaches after the handshake).
pub fn admin_app(state: std::sync::Arc<wharf_apiserver::ApiState>) -> Router {
    wharf_apiserver::app(state).layer(axum::middleware::map_request(
        |mut request: Request<Body>| async move {
            request
                .extensions_mut()
                .insert(wharf_apiserver::authn::PeerCertificate(Some(
                    wharf_apiserver::UserInfo {
                        username: "wharf-admin".into(),
                        groups: vec!["system:masters".into()],
                    },
                )));
            request
        },
    ))
}

/// One request through `app` in process: the status, the body parsed as
/// JSON (`null` when it is not), and the `Warning` headers.
pub async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    content_type: &str,
    body: Body,
) -> (StatusCode, Value, Vec<String>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("Content-Type", content_type)
        .body(body)
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let warnings = response
        .headers()
        .get_all("warning")
        .iter()
        .map(|w| w.to_str().unwrap().to_string())
        .collect();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        warnings,
    )
}

/// A JSON body, or none for `null`.
pub fn json_body(body: &Value) -> Body {
    if body.is_null() {
        Body::empty()
    } else {
        Body::from(body.to_string())
    }
}

/// [`send`] with a JSON body (none for `null`): the status and the body.
pub async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    content_type: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let (status, body, _) = send(app, method, uri, content_type, json_body(body)).await;
    (status, body)
}

/// `state` served over TLS on loopback as `wharf up` serves it, with a
/// new CA: how to reach it as the admin, and how to stop it.
pub struct TlsServer {
    pub address: std::net::SocketAddr,
    pub pki: wharf_pki::ClusterPki,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TlsServer {
    pub async fn start(
        state: std::sync::Arc<wharf_apiserver::ApiState>,
        header_read_timeout: std::time::Duration,
    ) -> Self {
        let (dns_names, addresses) = wharf_pki::default_serving_names([10, 96, 0, 1].into());
        let pki = wharf_pki::ClusterPki::generate(&dns_names, &addresses).unwrap();
        let tls = std::sync::Arc::new(pki.server_config().unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(wharf_apiserver::serve_with(
            listener,
            state,
            tls,
            async {
                let _ = stopped.await;
            },
            header_read_timeout,
        ));
        Self {
            address,
            pki,
            stop: Some(stop),
            task,
        }
    }

    /// The server, trusting its CA, as whoever `cert` (PEM certificate and
    /// key) names, or with no certificate.
    pub fn access(&self, cert: Option<&wharf_pki::Issued>) -> wharf_client::ClusterAccess {
        wharf_client::ClusterAccess {
            server: format!("https://{}", self.address),
            ca_pem: Some(self.pki.ca.cert_pem().as_bytes().to_vec()),
            client_cert_pem: cert.map(|c| c.cert_pem.clone().into_bytes()),
            client_key_pem: cert.map(|c| c.key_pem.clone().into_bytes()),
            token: None,
        }
    }

    /// The server as its admin (`wharf-admin`, `system:masters`).
    pub fn admin(&self) -> wharf_client::ClusterAccess {
        self.access(Some(&self.pki.admin))
    }

    /// Stops the server and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(std::time::Duration::from_secs(10), self.task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}
