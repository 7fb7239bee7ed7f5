//! kube-apiserver's max-in-flight filter: at most so many requests are
//! served at once, read-only and mutating ones counted apart; past it a
//! request is answered at once with 429 TooManyRequests and `Retry-After`,
//! which clients (client-go, the Python client, kubectl) retry after.
//! Long-running requests — watches, logs, exec, attach, port-forward,
//! proxy — are not counted (kube's `BasicLongRunningRequestCheck`), nor
//! are the health checks, version and OpenAPI documents.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// How many requests are served at once (kube's
/// `--max-requests-inflight` and `--max-mutating-requests-inflight`).
#[derive(Clone, Copy, Debug)]
pub struct InflightLimits {
    pub readonly: usize,
    pub mutating: usize,
}

impl Default for InflightLimits {
    /// kube-apiserver's defaults.
    fn default() -> Self {
        Self {
            readonly: 400,
            mutating: 200,
        }
    }
}

/// The slots of both classes.
pub(crate) struct Inflight {
    readonly: Arc<Semaphore>,
    mutating: Arc<Semaphore>,
}

impl Inflight {
    pub(crate) fn new(limits: InflightLimits) -> Self {
        Self {
            readonly: Arc::new(Semaphore::new(limits.readonly.max(1))),
            mutating: Arc::new(Semaphore::new(limits.mutating.max(1))),
        }
    }
}

/// Subresources whose requests stay open (kube's list).
const LONG_RUNNING_SUBRESOURCES: [&str; 5] = ["attach", "exec", "proxy", "log", "portforward"];

/// True for a request the limit does not count.
fn exempt(method: &Method, path: &str, query: Option<&str>) -> bool {
    if !(path.starts_with("/api") || path.starts_with("/wharf/")) {
        return true;
    }
    let watching = query.is_some_and(|query| {
        query
            .split('&')
            .any(|pair| pair == "watch=true" || pair == "watch=1")
    });
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let legacy_watch = segments
        .clone()
        .nth(if path.starts_with("/apis/") { 3 } else { 2 })
        == Some("watch");
    let long_running = segments.any(|s| s == "proxy")
        || path
            .rsplit('/')
            .next()
            .is_some_and(|last| LONG_RUNNING_SUBRESOURCES.contains(&last));
    (*method == Method::GET && (watching || legacy_watch)) || long_running
}

/// The middleware.
pub(crate) async fn limit(
    State(inflight): State<Arc<Inflight>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method();
    if exempt(method, request.uri().path(), request.uri().query()) {
        return next.run(request).await;
    }
    let mutating = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let slots = if mutating {
        &inflight.mutating
    } else {
        &inflight.readonly
    };
    let Ok(slot) = slots.clone().try_acquire_owned() else {
        return ApiError::TooManyRequests {
            message: "Too many requests, please try again later.".into(),
            retry_after_seconds: 1,
            causes: Vec::new(),
        }
        .into_response();
    };
    let response = next.run(request).await;
    drop(slot);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    /// A router whose `/api/slow` requests wait for `release`.
    fn router(limits: InflightLimits, release: Arc<tokio::sync::Notify>) -> axum::Router {
        let slow = move || {
            let release = release.clone();
            async move {
                release.notified().await;
                "done"
            }
        };
        axum::Router::new()
            .route("/api/slow", get(slow.clone()).post(slow))
            .route(
                "/api/fast",
                get(|| async { "fast" }).post(|| async { "fast" }),
            )
            .route("/livez", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(
                Arc::new(Inflight::new(limits)),
                limit,
            ))
    }

    fn request(method: Method, path: &str) -> Request {
        Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn past_the_limit_a_request_gets_429_with_retry_after_and_each_class_has_its_own() {
        let release = Arc::new(tokio::sync::Notify::new());
        let app = router(
            InflightLimits {
                readonly: 1,
                mutating: 1,
            },
            release.clone(),
        );
        let held = tokio::spawn(app.clone().oneshot(request(Method::GET, "/api/slow")));
        // Until the slow read holds its slot, a read may still get through.
        let refused = loop {
            let response = app
                .clone()
                .oneshot(request(Method::GET, "/api/fast"))
                .await
                .unwrap();
            if response.status() == axum::http::StatusCode::TOO_MANY_REQUESTS {
                break response;
            }
            tokio::task::yield_now().await;
        };
        assert_eq!(refused.headers()["retry-after"], "1");
        let body = axum::body::to_bytes(refused.into_body(), 1 << 20)
            .await
            .unwrap();
        let status: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status["reason"], "TooManyRequests");
        assert_eq!(status["code"], 429);
        assert_eq!(status["details"]["retryAfterSeconds"], 1);
        // Writes are counted apart, health checks and watches not at all.
        for (method, path) in [(Method::POST, "/api/fast"), (Method::GET, "/livez")] {
            let response = app.clone().oneshot(request(method, path)).await.unwrap();
            assert_eq!(response.status(), axum::http::StatusCode::OK, "{path}");
        }
        // The slot comes back when the slow read ends.
        release.notify_one();
        assert_eq!(
            held.await.unwrap().unwrap().status(),
            axum::http::StatusCode::OK
        );
        let response = app
            .oneshot(request(Method::GET, "/api/fast"))
            .await
            .unwrap();
        assert_eq!(response.status(), axum::http::StatusCode::OK);
    }

    #[test]
    fn long_running_requests_and_non_api_paths_are_exempt() {
        let get = Method::GET;
        assert!(exempt(&get, "/livez", None));
        assert!(exempt(&get, "/openapi/v3", None));
        assert!(exempt(
            &get,
            "/api/v1/pods",
            Some("watch=true&resourceVersion=5")
        ));
        assert!(exempt(&get, "/api/v1/watch/pods", None));
        assert!(exempt(&get, "/apis/apps/v1/watch/deployments", None));
        assert!(exempt(
            &get,
            "/api/v1/namespaces/a/pods/p/log",
            Some("follow=true")
        ));
        assert!(exempt(
            &Method::POST,
            "/api/v1/namespaces/a/pods/p/exec",
            None
        ));
        assert!(exempt(
            &get,
            "/api/v1/namespaces/a/services/s/proxy/x",
            None
        ));
        assert!(!exempt(&get, "/api/v1/pods", None));
        assert!(!exempt(&get, "/api/v1/pods", Some("watch=false")));
        assert!(!exempt(
            &Method::POST,
            "/api/v1/namespaces/a/configmaps",
            None
        ));
        assert!(!exempt(&Method::POST, "/wharf/v1/modules", None));
        // A namespace called "watch" is not a watch.
        assert!(!exempt(&get, "/api/v1/namespaces/watch", None));
    }
}
