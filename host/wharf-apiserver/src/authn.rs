//! Who asks: kube-apiserver's authenticators, in its order. A client
//! certificate the TLS handshake verified against the cluster CA (its
//! common name the user, its organizations the groups); else a bearer
//! token, which one of the token authenticators must accept (a token no
//! one accepts is a 401, never anonymous); else anonymous
//! (`system:anonymous`, group `system:unauthenticated`), which by default
//! reaches only the health checks, `/version`, discovery (as kube's
//! `AnonymousAuthConfigurableEndpoints` allows them) and the `cluster-info`
//! ConfigMap (kubeadm's node discovery).
//!
//! Every authenticated user is also in `system:authenticated`. The user
//! travels with the request (a request extension) to admission, audit and
//! authorization.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiState;
use crate::admission::UserInfo;
use crate::error::ApiError;

/// Where anonymous requests are let in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Anonymous {
    /// Only to `/livez`, `/readyz`, `/healthz`, `/version` and discovery
    /// (the default).
    #[default]
    PublicEndpoints,
    /// Everywhere; the authorizer decides (kube's `--anonymous-auth`).
    Everywhere,
    /// Nowhere: every request needs credentials.
    Nowhere,
}

/// The client certificate a connection's TLS handshake verified, as the
/// user it names: set on each of the connection's requests by the server
/// (`None` when the client sent no certificate).
#[derive(Clone, Debug)]
pub struct PeerCertificate(pub Option<UserInfo>);

/// Checks bearer tokens of one kind (ServiceAccount tokens, bootstrap
/// tokens).
#[async_trait]
pub trait TokenAuthenticator: Send + Sync + 'static {
    /// The user `token` stands for; `None` if this authenticator does not
    /// know it (the next one is asked).
    async fn authenticate(&self, token: &str) -> Option<UserInfo>;
}

/// The authenticators of one API server.
#[derive(Default)]
pub struct Authentication {
    anonymous: Anonymous,
    tokens: RwLock<Vec<Arc<dyn TokenAuthenticator>>>,
}

impl Authentication {
    pub fn new(anonymous: Anonymous) -> Self {
        Self {
            anonymous,
            tokens: RwLock::default(),
        }
    }

    /// Adds a token authenticator, asked after those added before it.
    pub fn add_token_authenticator(&self, authenticator: Arc<dyn TokenAuthenticator>) {
        self.tokens
            .write()
            .expect("token authenticators")
            .push(authenticator);
    }

    /// Who sent a request to `path` with `headers` over a connection whose
    /// client certificate named `peer`, or why it is refused.
    pub async fn authenticate(
        &self,
        path: &str,
        headers: &HeaderMap,
        peer: Option<&UserInfo>,
    ) -> Result<UserInfo, ApiError> {
        if let Some(user) = peer {
            return Ok(authenticated(user.clone()));
        }
        if let Some(authorization) = headers.get(header::AUTHORIZATION) {
            let token = authorization
                .to_str()
                .ok()
                .and_then(|value| {
                    let (scheme, token) = value.split_once(' ')?;
                    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
                })
                .filter(|token| !token.is_empty())
                .ok_or(ApiError::Unauthorized)?;
            let authenticators = self.tokens.read().expect("token authenticators").clone();
            for authenticator in authenticators {
                if let Some(user) = authenticator.authenticate(token).await {
                    return Ok(authenticated(user));
                }
            }
            return Err(ApiError::Unauthorized);
        }
        let public = is_public(path);
        match self.anonymous {
            Anonymous::Everywhere => Ok(UserInfo::anonymous()),
            Anonymous::PublicEndpoints if public => Ok(UserInfo::anonymous()),
            _ => Err(ApiError::Unauthorized),
        }
    }
}

fn authenticated(mut user: UserInfo) -> UserInfo {
    if !user.groups.iter().any(|g| g == "system:authenticated") {
        user.groups.push("system:authenticated".into());
    }
    user
}

/// The `cluster-info` ConfigMap joining nodes read before they trust the
/// server (kubeadm's discovery: its CA is then checked against the pinned
/// hash). RBAC lets anonymous users get it and nothing else there.
pub const CLUSTER_INFO_PATH: &str = "/api/v1/namespaces/kube-public/configmaps/cluster-info";

/// The paths kube lets anonymous clients reach when anonymous
/// authentication is limited to its public endpoints: health, version and
/// discovery (the API roots and each group's and version's document, and
/// the OpenAPI documents), never a resource.
pub fn is_public(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    let health = ["/livez", "/readyz", "/healthz"]
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')));
    if health
        || matches!(
            path,
            "/version"
                | "/api"
                | "/apis"
                | "/api/v1"
                | "/openapi/v2"
                | "/openapi/v3"
                | CLUSTER_INFO_PATH
        )
    {
        return true;
    }
    if let Some(rest) = path.strip_prefix("/openapi/v3/") {
        return !rest.is_empty();
    }
    // `/apis/GROUP` and `/apis/GROUP/VERSION`.
    path.strip_prefix("/apis/")
        .is_some_and(|rest| !rest.is_empty() && rest.split('/').count() <= 2)
}

/// The middleware: the request's user as an extension, or kube's 401
/// `Status` (with `WWW-Authenticate`, as kube-apiserver sends it).
pub async fn layer(
    State(state): State<Arc<ApiState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<PeerCertificate>()
        .and_then(|p| p.0.clone());
    let path = request.uri().path().to_string();
    match state
        .authentication
        .authenticate(&path, request.headers(), peer.as_ref())
        .await
    {
        Ok(user) => {
            request.extensions_mut().insert(user);
            next.run(request).await
        }
        Err(error) => {
            let mut response = error.into_response();
            crate::audit::record_unauthenticated(&state, &request, response.status().as_u16());
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"kubernetes-master\""),
            );
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_health_version_and_discovery_are_public() {
        for path in [
            "/livez",
            "/readyz/etcd",
            "/healthz",
            "/version",
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/apis/apps/v1/",
            "/openapi/v3",
            "/openapi/v3/apis/apps/v1",
            CLUSTER_INFO_PATH,
        ] {
            assert!(is_public(path), "{path} is public");
        }
        for path in [
            "/api/v1/pods",
            "/api/v1/namespaces/default/secrets",
            "/api/v1/namespaces/kube-public/configmaps",
            "/api/v1/namespaces/kube-public/configmaps/other",
            "/apis/apps/v1/deployments",
            "/livezz",
            "/wharf/v1/modules",
            "/metrics",
            "/",
        ] {
            assert!(!is_public(path), "{path} is not public");
        }
    }

    struct Fixed;

    #[async_trait]
    impl TokenAuthenticator for Fixed {
        async fn authenticate(&self, token: &str) -> Option<UserInfo> {
            (token == "good").then(|| UserInfo {
                username: "robot".into(),
                groups: vec![],
            })
        }
    }

    fn request(path: &str, authorization: Option<&str>, peer: Option<&str>) -> Request {
        let mut builder = Request::builder().uri(path);
        if let Some(value) = authorization {
            builder = builder.header(header::AUTHORIZATION, value);
        }
        let mut request = builder.body(axum::body::Body::empty()).unwrap();
        if let Some(user) = peer {
            request
                .extensions_mut()
                .insert(PeerCertificate(Some(UserInfo {
                    username: user.into(),
                    groups: vec!["system:masters".into()],
                })));
        }
        request
    }

    #[tokio::test]
    async fn certificates_then_tokens_then_anonymous_where_allowed() {
        let authentication = Authentication::new(Anonymous::PublicEndpoints);
        authentication.add_token_authenticator(Arc::new(Fixed));
        async fn authentication_result(
            a: &Authentication,
            r: Request,
        ) -> Result<(String, Vec<String>), String> {
            let peer = r
                .extensions()
                .get::<PeerCertificate>()
                .and_then(|p| p.0.clone());
            a.authenticate(r.uri().path(), r.headers(), peer.as_ref())
                .await
                .map(|u| (u.username, u.groups))
                .map_err(|e| e.reason().to_string())
        }
        let a = &authentication;
        // A certificate wins over a token, and is authenticated.
        assert_eq!(
            authentication_result(
                a,
                request("/api/v1/pods", Some("Bearer bad"), Some("admin"))
            )
            .await
            .unwrap(),
            (
                "admin".into(),
                vec!["system:masters".into(), "system:authenticated".into()]
            )
        );
        assert_eq!(
            authentication_result(a, request("/api/v1/pods", Some("Bearer good"), None))
                .await
                .unwrap()
                .0,
            "robot"
        );
        // A token nobody knows is refused even where anonymous may go.
        for r in [
            request("/version", Some("Bearer bad"), None),
            request("/api/v1/pods", Some("Basic abc"), None),
            request("/api/v1/pods", Some("Bearer "), None),
            request("/api/v1/pods", None, None),
        ] {
            assert_eq!(
                authentication_result(a, r).await.unwrap_err(),
                "Unauthorized"
            );
        }
        assert_eq!(
            authentication_result(a, request("/version", None, None))
                .await
                .unwrap(),
            (
                "system:anonymous".into(),
                vec!["system:unauthenticated".into()]
            )
        );
        let everywhere = Authentication::new(Anonymous::Everywhere);
        assert!(
            authentication_result(&everywhere, request("/api/v1/pods", None, None))
                .await
                .is_ok()
        );
        let nowhere = Authentication::new(Anonymous::Nowhere);
        assert!(
            authentication_result(&nowhere, request("/healthz", None, None))
                .await
                .is_err()
        );
    }
}
