//! Who the API server takes a client for, over real TLS on loopback: the
//! admin's certificate, another user's, none at all, one from another CA.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use bytes::Bytes;
use serde_json::{Value, json};
use wharf_apiserver::ApiState;
use wharf_client::{ApiError, Client, RemoteClient, Selectors, Transport};
use wharf_store::{EmbeddedConfig, EmbeddedStore};

mod common;
use common::TlsServer;

async fn call(
    transport: &Transport,
    method: Method,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let body = if body.is_null() {
        Bytes::new()
    } else {
        Bytes::from(body.to_string())
    };
    let (status, bytes) = transport
        .call(method, path, &[("content-type", "application/json")], body)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn whoami() -> Value {
    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
}

const REVIEWS: &str = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_known_by_their_certificates_and_the_rest_get_401() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    let state = ApiState::new(Arc::new(store)).await.unwrap();
    let server = TlsServer::start(state, Duration::from_secs(30)).await;

    // The admin: every request, and whoami names it.
    let admin = Transport::new(&server.admin(), Default::default()).unwrap();
    let (status, review) = call(&admin, Method::POST, REVIEWS, whoami()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        review["status"]["userInfo"],
        json!({"username": "wharf-admin", "groups": ["system:masters", "system:authenticated"]})
    );
    let remote = RemoteClient::new(&server.admin()).unwrap();
    let namespaces = remote.resource("", "v1", "Namespace").unwrap();
    let listed = remote
        .list(&namespaces, None, &Selectors::all())
        .await
        .unwrap();
    assert!(
        listed
            .items
            .iter()
            .any(|n| n["metadata"]["name"] == "default")
    );

    // Another user of the same CA is that user.
    let alice = server
        .pki
        .ca
        .issue(&wharf_pki::Usage::Client {
            user: "alice",
            group: Some("developers"),
        })
        .unwrap();
    let as_alice = Transport::new(&server.access(Some(&alice)), Default::default()).unwrap();
    let (_, review) = call(&as_alice, Method::POST, REVIEWS, whoami()).await;
    assert_eq!(
        review["status"]["userInfo"],
        json!({"username": "alice", "groups": ["developers", "system:authenticated"]})
    );

    // Without credentials: health, version and discovery only; elsewhere
    // kube's 401 Status.
    let nobody = Transport::new(&server.access(None), Default::default()).unwrap();
    for path in [
        "/livez",
        "/readyz",
        "/version",
        "/api",
        "/apis",
        "/apis/apps/v1",
    ] {
        let (status, _) = call(&nobody, Method::GET, path, Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    for (method, path) in [
        (Method::GET, "/api/v1/namespaces/default/secrets"),
        (Method::GET, "/api/v1/pods?watch=1"),
        (Method::POST, REVIEWS),
        (Method::POST, "/wharf/v1/modules"),
        (Method::DELETE, "/api/v1/namespaces/default"),
    ] {
        let (status, body) = call(&nobody, method.clone(), path, whoami()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(
            body,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
        );
    }
    let anonymous = RemoteClient::new(&server.access(None)).unwrap();
    assert!(matches!(
        anonymous.list(&namespaces, None, &Selectors::all()).await,
        Err(ApiError::Unauthorized)
    ));
    // A bearer token no authenticator knows is refused, even where
    // anonymous clients may go.
    let mut with_token = server.access(None);
    with_token.token = Some("made-up".into());
    let guessing = Transport::new(&with_token, Default::default()).unwrap();
    let (status, _) = call(&guessing, Method::GET, "/version", Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A certificate of another CA ends the handshake; a client that does
    // not trust the server's CA does not connect either.
    let other = wharf_pki::ClusterPki::generate(&["localhost".into()], &[]).unwrap();
    let forged = Transport::new(&server.access(Some(&other.admin)), Default::default()).unwrap();
    assert!(
        forged
            .call(Method::GET, "/version", &[], Bytes::new())
            .await
            .is_err()
    );
    let mut distrusting = server.admin();
    distrusting.ca_pem = Some(other.ca.cert_pem().as_bytes().to_vec());
    let distrusting = Transport::new(&distrusting, Default::default()).unwrap();
    assert!(
        distrusting
            .call(Method::GET, "/version", &[], Bytes::new())
            .await
            .is_err()
    );
    server.stop().await;
}
