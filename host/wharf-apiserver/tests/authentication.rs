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

const TOKENS: &str = "/api/v1/namespaces/robots/serviceaccounts/r2/token";

fn token_request(spec: Value) -> Value {
    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_tokens_act_as_their_account_while_it_and_the_bound_pod_exist() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    let state = ApiState::new(Arc::new(store)).await.unwrap();
    state
        .enable_service_account_tokens(wharf_pki::TokenKey::generate().unwrap())
        .unwrap();
    let server = TlsServer::start(state, Duration::from_secs(30)).await;
    let admin = Transport::new(&server.admin(), Default::default()).unwrap();
    let create = |path: &'static str, body: Value| {
        let admin = &admin;
        async move {
            let (status, answer) = call(admin, Method::POST, path, body).await;
            assert_eq!(status, StatusCode::CREATED, "{answer}");
            answer
        }
    };
    create(
        "/api/v1/namespaces",
        json!({"metadata": {"name": "robots"}}),
    )
    .await;
    create(
        "/api/v1/namespaces/robots/serviceaccounts",
        json!({"metadata": {"name": "r2"}}),
    )
    .await;

    // What a TokenRequest may not ask for.
    let (status, answer) = call(
        &admin,
        Method::POST,
        TOKENS,
        token_request(json!({"expirationSeconds": 599})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("may not specify a duration less than 10 minutes"),
        "{answer}"
    );
    let bound = |kind: &str, name: &str| {
        token_request(json!({"boundObjectRef": {"kind": kind, "apiVersion": "v1", "name": name}}))
    };
    let (status, _) = call(&admin, Method::POST, TOKENS, bound("ConfigMap", "x")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(&admin, Method::POST, TOKENS, bound("Pod", "missing")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, answer) = call(
        &admin,
        Method::POST,
        "/api/v1/namespaces/robots/serviceaccounts/nobody/token",
        token_request(json!({})),
    )
    .await;
    assert_eq!(
        (status, answer["reason"].as_str()),
        (StatusCode::NOT_FOUND, Some("NotFound"))
    );

    let answer = create(TOKENS, token_request(json!({"expirationSeconds": 3600}))).await;
    assert_eq!(
        answer["spec"]["audiences"],
        json!(["https://kubernetes.default.svc.cluster.local"])
    );
    let token = answer["status"]["token"].as_str().unwrap().to_string();
    let as_token = |token: &str| {
        Transport::new(
            &wharf_client::ClusterAccess {
                token: Some(token.to_string()),
                ..server.access(None)
            },
            Default::default(),
        )
        .unwrap()
    };
    let robot = as_token(&token);
    let (status, review) = call(&robot, Method::POST, REVIEWS, whoami()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        review["status"]["userInfo"],
        json!({"username": "system:serviceaccount:robots:r2",
               "groups": ["system:serviceaccounts", "system:serviceaccounts:robots", "system:authenticated"]})
    );
    // Known, but granted nothing.
    let (status, _) = call(
        &robot,
        Method::GET,
        "/api/v1/namespaces/robots/pods",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Another audience, a forged payload: not this server's.
    let answer = create(TOKENS, token_request(json!({"audiences": ["vault"]}))).await;
    let elsewhere = as_token(answer["status"]["token"].as_str().unwrap());
    let (status, _) = call(&elsewhere, Method::POST, REVIEWS, whoami()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    use base64::Engine;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut claims: Value = serde_json::from_slice(&url.decode(&parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("system:serviceaccount:kube-system:root");
    parts[1] = url.encode(claims.to_string());
    let (status, _) = call(&as_token(&parts.join(".")), Method::POST, REVIEWS, whoami()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Bound to a pod: good while the pod is there.
    let pod = create(
        "/api/v1/namespaces/robots/pods",
        json!({"metadata": {"name": "p"}, "spec": {"serviceAccountName": "r2", "containers": [{"name": "c", "image": "x"}]}}),
    )
    .await;
    let mut request = bound("Pod", "p");
    request["spec"]["boundObjectRef"]["uid"] = json!("not-the-uid");
    let (status, _) = call(&admin, Method::POST, TOKENS, request).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let answer = create(TOKENS, bound("Pod", "p")).await;
    let claims = &answer["status"]["token"];
    assert!(claims.is_string());
    let pod_token = as_token(claims.as_str().unwrap());
    let (status, _) = call(&pod_token, Method::POST, REVIEWS, whoami()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(
        &admin,
        Method::DELETE,
        "/api/v1/namespaces/robots/pods/p?gracePeriodSeconds=0",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{pod}");
    let (status, _) = call(&pod_token, Method::POST, REVIEWS, whoami()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The ServiceAccount gone, or replaced by another of the same name:
    // its tokens stop working.
    let (status, _) = call(
        &admin,
        Method::DELETE,
        "/api/v1/namespaces/robots/serviceaccounts/r2",
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&robot, Method::POST, REVIEWS, whoami()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    create(
        "/api/v1/namespaces/robots/serviceaccounts",
        json!({"metadata": {"name": "r2"}}),
    )
    .await;
    let (status, _) = call(&robot, Method::POST, REVIEWS, whoami()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}
