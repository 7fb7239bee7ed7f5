//! The API server's semantics, driven in-process through `common::admin_app(state)` with
//! `oneshot` on a real embedded store in a temporary directory.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use wharf_apiserver::{ApiConfig, ApiState, CacheBounds};
use wharf_store::{EmbeddedConfig, EmbeddedStore};

mod common;

struct Server {
    app: Router,
    state: Arc<ApiState>,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    server_with(ApiConfig::default()).await
}

async fn server_with(config: ApiConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    let state = ApiState::with_config(Arc::new(store), config)
        .await
        .unwrap();
    Server {
        app: common::admin_app(state.clone()),
        state,
        _dir: dir,
    }
}

impl Server {
    async fn call(
        &self,
        method: Method,
        uri: &str,
        content_type: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        common::call(&self.app, method, uri, content_type, &body).await
    }

    /// A request with a body as it is; the answer with its warnings.
    async fn raw(
        &self,
        method: Method,
        uri: &str,
        content_type: &str,
        body: &str,
    ) -> (StatusCode, Value, Vec<String>) {
        common::send(
            &self.app,
            method,
            uri,
            content_type,
            Body::from(body.to_string()),
        )
        .await
    }

    async fn json(&self, method: Method, uri: &str, body: Value) -> (StatusCode, Value) {
        self.call(method, uri, "application/json", body).await
    }

    /// A watch's first `count` events (each a parsed JSON line).
    async fn watch(
        &self,
        uri: &str,
        count: usize,
        during: impl std::future::Future<Output = ()>,
    ) -> Vec<Value> {
        let request = Request::builder().uri(uri).body(Body::empty()).unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let mut lines = Lines::new(response.into_body());
        during.await;
        let mut events = Vec::new();
        while events.len() < count {
            events.push(lines.next().await);
        }
        events
    }
}

/// A watch's body read a JSON line at a time.
struct Lines {
    body: Body,
    buffer: Vec<u8>,
}

impl Lines {
    fn new(body: Body) -> Self {
        Self {
            body,
            buffer: Vec::new(),
        }
    }

    /// The next line, parsed, or `None` at the end of the stream (within 10 s).
    async fn next_or_end(&mut self) -> Option<Value> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return Some(serde_json::from_slice(&line).unwrap());
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .expect("a line or the end within 10 s")?
                .unwrap();
            self.buffer.extend_from_slice(&frame.into_data().unwrap());
        }
    }

    /// The next line, parsed (within 10 s).
    async fn next(&mut self) -> Value {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return serde_json::from_slice(&line).unwrap();
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .expect("a line within 10 s")
                .expect("the stream is open")
                .unwrap();
            self.buffer.extend_from_slice(&frame.into_data().unwrap());
        }
    }
}

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

fn configmap(name: &str, labels: Value) -> Value {
    json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_with_a_selector_sees_objects_enter_and_leave_it() {
    let server = server().await;
    let (_, list) = server.json(Method::GET, CONFIGMAPS, Value::Null).await;
    let revision = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let uri =
        format!("{CONFIGMAPS}?watch=true&labelSelector=tier%3Dweb&resourceVersion={revision}");
    let changes = async {
        server
            .json(
                Method::POST,
                CONFIGMAPS,
                configmap("a", json!({"tier": "db"})),
            )
            .await;
        let patch = json!({"metadata": {"labels": {"tier": "web"}}});
        server
            .call(
                Method::PATCH,
                &format!("{CONFIGMAPS}/a"),
                "application/merge-patch+json",
                patch,
            )
            .await;
        let patch = json!({"data": {"k": "v2"}});
        server
            .call(
                Method::PATCH,
                &format!("{CONFIGMAPS}/a"),
                "application/merge-patch+json",
                patch,
            )
            .await;
        let patch = json!({"metadata": {"labels": {"tier": "cache"}}});
        server
            .call(
                Method::PATCH,
                &format!("{CONFIGMAPS}/a"),
                "application/merge-patch+json",
                patch,
            )
            .await;
    };
    let events = server.watch(&uri, 3, changes).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"], "{events:#?}");
    assert_eq!(events[2]["object"]["metadata"]["labels"]["tier"], "cache");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_without_a_resource_version_starts_with_the_current_objects() {
    let server = server().await;
    server
        .json(Method::POST, CONFIGMAPS, configmap("old", json!({})))
        .await;
    let later = async {
        server
            .json(Method::POST, CONFIGMAPS, configmap("new", json!({})))
            .await;
    };
    let events = server.watch(&format!("{CONFIGMAPS}?watch=1&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"), 3, later).await;
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["metadata"]["name"], "old");
    assert_eq!(events[1]["type"], "BOOKMARK");
    assert_eq!(
        events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(events[2]["object"]["metadata"]["name"], "new");
}

/// A watcher that reads slowly falls behind the cache; its bookmarks must
/// say how far *it* got, or a client resuming from one (as informers do)
/// would never get the events in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_watchers_bookmarks_never_pass_an_event_it_was_not_sent() {
    let server = server().await;
    server.state.set_bookmark_interval(Duration::from_millis(2));
    let (_, first) = server
        .json(Method::POST, CONFIGMAPS, configmap("c-0", json!({})))
        .await;
    let from = first["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let request = Request::builder()
        .uri(format!(
            "{CONFIGMAPS}?watch=1&allowWatchBookmarks=true&resourceVersion={from}"
        ))
        .body(Body::empty())
        .unwrap();
    let response = server.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut lines = Lines::new(response.into_body());
    // Written while nobody reads the watch: its buffers fill and it lags.
    const WRITES: usize = 600;
    let writes = (1..=WRITES).map(|i| {
        server.json(
            Method::POST,
            CONFIGMAPS,
            configmap(&format!("c-{i}"), json!({})),
        )
    });
    let mut pending = futures_util::stream::iter(writes).buffer_unordered(8);
    while let Some((status, _)) = pending.next().await {
        assert_eq!(status, StatusCode::CREATED);
    }
    let revision = |line: &Value| -> i64 {
        line["object"]["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (mut added, mut bookmarks, mut last_event, mut bookmarked) = (0, 0, 0i64, 0i64);
    while added < WRITES {
        let line = lines.next().await;
        match line["type"].as_str().unwrap() {
            "ADDED" => {
                added += 1;
                last_event = revision(&line);
                assert!(
                    last_event > bookmarked,
                    "event {last_event} came after a bookmark at {bookmarked}"
                );
            }
            "BOOKMARK" => {
                bookmarks += 1;
                bookmarked = revision(&line);
                assert!(
                    bookmarked <= last_event,
                    "a bookmark at {bookmarked} when the last event sent was {last_event}"
                );
            }
            other => panic!("unexpected {other}: {line}"),
        }
    }
    assert!(bookmarks > 0, "no bookmark in {WRITES} events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_cache_holds_at_most_its_bytes_and_older_positions_get_410_expired() {
    const BOUND: usize = 4 << 20;
    let server = server_with(ApiConfig {
        watch_cache: CacheBounds {
            events: 100_000,
            bytes: BOUND,
        },
        ..ApiConfig::default()
    })
    .await;
    let big = "x".repeat(512 << 10);
    let (code, created) = server
        .json(
            Method::POST,
            "/api/v1/namespaces/default/configmaps",
            json!({"metadata": {"name": "big"}, "data": {"payload": big}}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let first = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let mut last = first.clone();
    for round in 0..24 {
        let (code, updated) = server
            .call(
                Method::PATCH,
                "/api/v1/namespaces/default/configmaps/big",
                "application/merge-patch+json",
                json!({"data": {"round": round.to_string()}}),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{updated}");
        last = updated["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        let (_, bytes) = server.state.watch_cache.held();
        assert!(bytes <= BOUND, "the cache holds {bytes} bytes");
    }
    // The first versions are gone from the cache: a watch from there is
    // told to relist, as kube's 410 Expired.
    let request = Request::builder()
        .uri(format!(
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={first}"
        ))
        .body(Body::empty())
        .unwrap();
    let response = server.app.clone().oneshot(request).await.unwrap();
    let mut lines = Lines::new(response.into_body());
    let error = lines.next().await;
    assert_eq!(error["type"], "ERROR", "{error}");
    assert_eq!(error["object"]["code"], 410, "{error}");
    assert_eq!(error["object"]["reason"], "Expired", "{error}");
    // A recent position still resumes, with the events after it.
    let (code, _) = server
        .call(
            Method::PATCH,
            "/api/v1/namespaces/default/configmaps/big",
            "application/merge-patch+json",
            json!({"data": {"round": "last"}}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let events = server
        .watch(
            &format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={last}"),
            1,
            async {},
        )
        .await;
    assert_eq!(events[0]["type"], "MODIFIED");
    assert_eq!(events[0]["object"]["data"]["round"], "last");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_are_bounded_in_all_and_those_no_plugin_names_are_collected() {
    let server = server_with(ApiConfig {
        modules: wharf_apiserver::modules::ModuleLimits {
            total_bytes: 3 << 20,
            grace: Duration::ZERO,
        },
        ..ApiConfig::default()
    })
    .await;
    let upload = |seed: u8| {
        let mut module = b"\0asm".to_vec();
        module.extend((0..(1 << 20)).map(|i: u32| (i as u8).wrapping_add(seed)));
        let request = Request::builder()
            .method(Method::POST)
            .uri("/wharf/v1/modules")
            .body(Body::from(module))
            .unwrap();
        let app = server.app.clone();
        async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let (code, named) = upload(1).await;
    assert_eq!(code, StatusCode::CREATED, "{named}");
    let (code, unnamed) = upload(2).await;
    assert_eq!(code, StatusCode::CREATED, "{unnamed}");
    let (code, refused) = upload(3).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["reason"], "Forbidden");

    let named = named["digest"].as_str().unwrap().to_string();
    let unnamed = unnamed["digest"].as_str().unwrap().to_string();
    let (code, plugin) = server
        .json(
            Method::POST,
            "/apis/wharf.dev/v1alpha1/plugins",
            json!({
                "apiVersion": "wharf.dev/v1alpha1",
                "kind": "Plugin",
                "metadata": {"name": "kept"},
                "spec": {"type": "controller", "module": named},
            }),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{plugin}");
    // The first pass notes the unnamed module; with no grace it goes at once.
    let deleted = server.state.collect_modules().await.unwrap();
    assert_eq!(deleted, vec![unnamed.clone()]);
    let (code, _) = server
        .json(
            Method::GET,
            &format!("/wharf/v1/modules/{unnamed}"),
            Value::Null,
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let request = Request::builder()
        .uri(format!("/wharf/v1/modules/{named}"))
        .body(Body::empty())
        .unwrap();
    let response = server.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Its room is free again.
    let (code, stored) = upload(3).await;
    assert_eq!(code, StatusCode::CREATED, "{stored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_whose_client_reads_nothing_is_ended_and_holds_no_more_events() {
    let server = server().await;
    let (_, list) = server.json(Method::GET, CONFIGMAPS, Value::Null).await;
    let revision = list["metadata"]["resourceVersion"].as_str().unwrap();
    let request = Request::builder()
        .uri(format!(
            "{CONFIGMAPS}?watch=true&resourceVersion={revision}"
        ))
        .body(Body::empty())
        .unwrap();
    let response = server.app.clone().oneshot(request).await.unwrap();
    for i in 0..40 {
        let (code, _) = server
            .json(
                Method::POST,
                CONFIGMAPS,
                configmap(&format!("unread-{i}"), json!({})),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED);
    }
    // The client reads nothing for longer than the server waits.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let mut lines = Lines::new(response.into_body());
    let mut received = Vec::new();
    while let Some(event) = lines.next_or_end().await {
        received.push(event);
    }
    assert!(
        !received.is_empty() && received.len() < 40,
        "{} events before the end",
        received.len()
    );
    // What it got is in order, from the start: it resumes from the last.
    for (i, event) in received.iter().enumerate() {
        assert_eq!(event["object"]["metadata"]["name"], format!("unread-{i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_namespaces_every_cluster_has_cannot_be_deleted() {
    let server = server().await;
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let (status, body) = server
            .json(
                Method::DELETE,
                &format!("/api/v1/namespaces/{name}"),
                Value::Null,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(
            body["message"],
            format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted")
        );
        let (status, _) = server
            .json(
                Method::GET,
                &format!("/api/v1/namespaces/{name}"),
                Value::Null,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_with_the_largest_timeout_a_client_can_send_is_served() {
    let server = server().await;
    let later = async {
        server
            .json(Method::POST, CONFIGMAPS, configmap("c", json!({})))
            .await;
    };
    let events = server
        .watch(
            &format!("{CONFIGMAPS}?watch=1&resourceVersion=1&timeoutSeconds=18446744073709551615"),
            1,
            later,
        )
        .await;
    assert_eq!(events[0]["type"], "ADDED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_writes_and_lists_get_kubes_client_errors() {
    let server = server().await;
    let (status, created) = server
        .json(Method::POST, CONFIGMAPS, configmap("c", json!({})))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let one = format!("{CONFIGMAPS}/c");
    let merge =
        |body: Value| server.call(Method::PATCH, &one, "application/merge-patch+json", body);
    let cases: Vec<(&str, (StatusCode, Value), StatusCode, &str)> = vec![
        (
            "a PUT whose body names another namespace",
            server
                .json(Method::PUT, &one, {
                    let mut body = created.clone();
                    body["metadata"]["namespace"] = json!("other");
                    body
                })
                .await,
            StatusCode::BAD_REQUEST,
            "the namespace of the provided object does not match the namespace sent on the request",
        ),
        (
            "a patch renaming the object",
            merge(json!({"metadata": {"name": "d"}})).await,
            StatusCode::BAD_REQUEST,
            "the name of the object (d) does not match the name on the URL (c)",
        ),
        (
            "a patch changing the uid",
            merge(json!({"metadata": {"uid": "forged"}})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "ConfigMap \"c\" is invalid: metadata.uid: Invalid value: \"forged\": field is immutable",
        ),
        (
            "resourceVersionMatch without a resourceVersion",
            server
                .json(
                    Method::GET,
                    &format!("{CONFIGMAPS}?resourceVersionMatch=Exact"),
                    Value::Null,
                )
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
        ),
        (
            "a ConfigMap over 1 MiB of data",
            server
                .json(Method::POST, CONFIGMAPS, {
                    let mut body = configmap("big", json!({}));
                    body["data"] = json!({"blob": "x".repeat(1 << 20)});
                    body
                })
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "ConfigMap \"big\" is invalid: []: Too long: must have at most 1048576 bytes",
        ),
    ];
    for (case, (status, body), want_status, want_message) in cases {
        assert_eq!(status, want_status, "{case}: {body}");
        assert_eq!(body["message"], want_message, "{case}");
    }
    // Fields given twice: refused with Strict, a warning by default (the
    // last one is kept), as kube.
    let twice = r#"{"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "twice"}, "data": {"a": "1", "a": "2"}}"#;
    let (status, body, _) = server
        .raw(
            Method::POST,
            &format!("{CONFIGMAPS}?fieldValidation=Strict"),
            "application/json",
            twice,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: duplicate field \"data.a\""
    );
    let (status, body, warnings) = server
        .raw(Method::POST, CONFIGMAPS, "application/json", twice)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["a"], "2");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains(r#"duplicate field \"data.a\""#)),
        "{warnings:?}"
    );
    let (status, body, warnings) = server
        .raw(
            Method::PUT,
            &format!("{CONFIGMAPS}/twice?fieldValidation=Ignore"),
            "application/json",
            &twice.replace("\"2\"", "\"3\""),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["a"], "3");
    assert!(warnings.is_empty(), "Ignore warns of nothing: {warnings:?}");
    // $deleteFromPrimitiveList names a list; on a map it is refused.
    let (status, body, _) = server
        .raw(
            Method::PATCH,
            &one,
            "application/strategic-merge-patch+json",
            r#"{"metadata": {"labels": {"a": "1"}}}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body, _) = server
        .raw(
            Method::PATCH,
            &one,
            "application/strategic-merge-patch+json",
            r#"{"metadata": {"$deleteFromPrimitiveList/labels": ["a"]}}"#,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("invalid patch format of primitive list at metadata.labels"),
        "{body}"
    );

    // Leaving the name or namespace out of a patch is fine: the URL's stay.
    let (status, patched) = server
        .call(
            Method::PATCH,
            &one,
            "application/json-patch+json",
            json!([{"op": "remove", "path": "/metadata/namespace"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["metadata"]["namespace"], "default");
    assert_eq!(patched["metadata"]["uid"], created["metadata"]["uid"]);
}

/// After a restart a watch resumes from the revision it had reached: the
/// embedded store kept the history, so there is no 410 and no event lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_resumes_across_a_restart_from_the_revision_it_had_reached() {
    let dir = tempfile::tempdir().unwrap();
    let open = || async {
        let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
        let state = ApiState::new(Arc::new(store)).await.unwrap();
        (common::admin_app(state.clone()), state)
    };
    let (before, state) = open().await;
    let first = Server {
        app: before,
        state,
        _dir: tempfile::tempdir().unwrap(),
    };
    let (_, seen) = first
        .json(Method::POST, CONFIGMAPS, configmap("seen", json!({})))
        .await;
    let resume_from = seen["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    for name in ["missed-1", "missed-2"] {
        first
            .json(Method::POST, CONFIGMAPS, configmap(name, json!({})))
            .await;
    }
    let Server { app, state, .. } = first;
    state.close();
    drop((app, state));
    // The store's writer lets go of the database once the last user is gone.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (after, state) = open().await;
    let second = Server {
        app: after,
        state,
        _dir: tempfile::tempdir().unwrap(),
    };
    let events = second
        .watch(
            &format!("{CONFIGMAPS}?watch=1&resourceVersion={resume_from}"),
            2,
            async {},
        )
        .await;
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["object"]["metadata"]["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["missed-1", "missed-2"], "{events:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generation_counts_spec_changes_only() {
    let server = server().await;
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}},
    });
    let path = "/apis/apps/v1/namespaces/default/deployments";
    let (status, created) = server.json(Method::POST, path, deployment).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["metadata"]["generation"], 1);
    let merge = |body: Value| {
        server.call(
            Method::PATCH,
            "/apis/apps/v1/namespaces/default/deployments/d",
            "application/merge-patch+json",
            body,
        )
    };
    let (_, labelled) = merge(json!({"metadata": {"labels": {"x": "y"}}})).await;
    assert_eq!(
        labelled["metadata"]["generation"], 1,
        "metadata is not spec"
    );
    let (_, scaled) = merge(json!({"spec": {"replicas": 3}})).await;
    assert_eq!(scaled["metadata"]["generation"], 2);
    let (_, status_only) = merge(json!({"status": {"replicas": 9}})).await;
    assert_eq!(status_only["metadata"]["generation"], 2);
    assert!(
        status_only
            .get("status")
            .is_none_or(|s| s.get("replicas").is_none()),
        "the main resource ignores status"
    );
    let (status, with_status) = server
        .call(
            Method::PATCH,
            "/apis/apps/v1/namespaces/default/deployments/d/status",
            "application/merge-patch+json",
            json!({"status": {"replicas": 9}, "spec": {"replicas": 7}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(with_status["status"]["replicas"], 9);
    assert_eq!(
        with_status["spec"]["replicas"], 3,
        "the status subresource ignores spec"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_op_write_keeps_the_resource_version() {
    let server = server().await;
    let (_, created) = server
        .json(
            Method::POST,
            CONFIGMAPS,
            configmap("same", json!({"a": "b"})),
        )
        .await;
    let (_, patched) = server
        .call(
            Method::PATCH,
            &format!("{CONFIGMAPS}/same"),
            "application/merge-patch+json",
            json!({"metadata": {"labels": {"a": "b"}}}),
        )
        .await;
    assert_eq!(
        patched["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_are_consistent_and_deletecollection_uses_selectors() {
    let server = server().await;
    for i in 0..5 {
        let labels = if i % 2 == 0 {
            json!({"even": "true"})
        } else {
            json!({})
        };
        server
            .json(
                Method::POST,
                CONFIGMAPS,
                configmap(&format!("c{i}"), labels),
            )
            .await;
    }
    let (_, first) = server
        .json(Method::GET, &format!("{CONFIGMAPS}?limit=2"), Value::Null)
        .await;
    let token = first["metadata"]["continue"].as_str().unwrap().to_string();
    server
        .json(Method::DELETE, &format!("{CONFIGMAPS}/c3"), Value::Null)
        .await;
    let (_, second) = server
        .json(
            Method::GET,
            &format!("{CONFIGMAPS}?limit=2&continue={token}"),
            Value::Null,
        )
        .await;
    let names: Vec<&str> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["c2", "c3"],
        "the second page is read at the first page's revision"
    );
    assert_eq!(
        second["metadata"]["resourceVersion"],
        first["metadata"]["resourceVersion"]
    );

    let (status, deleted) = server
        .json(
            Method::DELETE,
            &format!("{CONFIGMAPS}?labelSelector=even%3Dtrue"),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["items"].as_array().unwrap().len(), 3);
    let (_, left) = server.json(Method::GET, CONFIGMAPS, Value::Null).await;
    let names: Vec<&str> = left["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c1"]);
    let (status, _) = server
        .json(
            Method::GET,
            &format!("{CONFIGMAPS}?continue=garbage"),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_status_objects_with_the_kubernetes_reason() {
    let server = server().await;
    let cases: Vec<(Method, String, &str, Value, u16, &str)> = vec![
        (
            Method::GET,
            format!("{CONFIGMAPS}/missing"),
            "application/json",
            Value::Null,
            404,
            "NotFound",
        ),
        (
            Method::POST,
            CONFIGMAPS.into(),
            "application/json",
            json!({"metadata": {}}),
            422,
            "Invalid",
        ),
        (
            Method::POST,
            CONFIGMAPS.into(),
            "application/json",
            json!({"kind": "Pod", "metadata": {"name": "x"}}),
            400,
            "BadRequest",
        ),
        (
            Method::POST,
            "/api/v1/namespaces".into(),
            "application/json",
            json!({"metadata": {"name": "a.b"}}),
            422,
            "Invalid",
        ),
        (
            Method::PUT,
            format!("{CONFIGMAPS}/x"),
            "application/json",
            json!({"metadata": {"name": "y"}}),
            400,
            "BadRequest",
        ),
        (
            Method::GET,
            format!("{CONFIGMAPS}?labelSelector=a%20in%20b"),
            "application/json",
            Value::Null,
            400,
            "BadRequest",
        ),
        (
            Method::GET,
            format!("{CONFIGMAPS}?resourceVersion=999999"),
            "application/json",
            Value::Null,
            504,
            "Timeout",
        ),
        (
            Method::POST,
            CONFIGMAPS.into(),
            "application/json",
            json!({"metadata": {"name": "ok"}, "data": 5}),
            400,
            "BadRequest",
        ),
        (
            Method::PATCH,
            format!("{CONFIGMAPS}/x"),
            "application/json-patch+json",
            json!({"not": "a list"}),
            400,
            "BadRequest",
        ),
        (
            Method::POST,
            "/apis/apps/v1/namespaces/default/deployments/d/scale".into(),
            "application/json",
            json!({}),
            405,
            "MethodNotAllowed",
        ),
        (
            Method::GET,
            "/apis/apps/v1/namespaces/default/deployments/d/scale".into(),
            "application/json",
            Value::Null,
            404,
            "NotFound",
        ),
    ];
    for (method, uri, content_type, body, code, reason) in cases {
        let (status, status_object) = server.call(method.clone(), &uri, content_type, body).await;
        assert_eq!(status.as_u16(), code, "{method} {uri}: {status_object}");
        assert_eq!(status_object["kind"], "Status", "{method} {uri}");
        assert_eq!(
            status_object["reason"], reason,
            "{method} {uri}: {status_object}"
        );
        assert_eq!(status_object["code"], code);
    }
}

#[tokio::test]
async fn scales_carry_the_selector_as_kube_formats_it() {
    let server = server().await;
    let template = json!({"metadata": {"labels": {"app": "web", "tier": "a"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    let (status, _) = server
        .json(
            Method::POST,
            "/api/v1/namespaces/default/replicationcontrollers",
            json!({"metadata": {"name": "rc"}, "spec": {"replicas": 2,
                "selector": {"app": "web"}, "template": template}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, scale) = server
        .json(
            Method::GET,
            "/api/v1/namespaces/default/replicationcontrollers/rc/scale",
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{scale}");
    assert_eq!(scale["spec"]["replicas"], 2);
    assert_eq!(scale["status"]["selector"], "app=web");

    let (status, _) = server
        .json(
            Method::POST,
            "/apis/apps/v1/namespaces/default/replicasets",
            json!({"metadata": {"name": "rs"}, "spec": {"replicas": 1,
                "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["b", "a"]}]},
                "template": template}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, scale) = server
        .json(
            Method::GET,
            "/apis/apps/v1/namespaces/default/replicasets/rs/scale",
            Value::Null,
        )
        .await;
    assert_eq!(scale["status"]["selector"], "app=web,tier in (a,b)");
}
