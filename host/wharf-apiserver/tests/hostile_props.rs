//! A bounded fuzz of the write and list endpoints, as property tests:
//! random bytes and hostile JSON and YAML (deep, big, numbers at the
//! edges, patch directives, JSON patches over the fields objects have) as
//! bodies of POST, PUT and every kind of PATCH on ConfigMaps, Pods and
//! Deployments, and random list queries (selectors, limits, revisions,
//! continue tokens, timeouts).
//!
//! Whatever comes, the server answers, and in time: never a panic, never a
//! 5xx (but Kubernetes' own 504 for a resourceVersion the store has not
//! reached), every client error a `Status` whose `code` is the HTTP
//! status, every body and the headers (warnings) bounded; and after the
//! run it is still ready and still creates a ConfigMap.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;
use http_body_util::{BodyExt, Limited};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use tower::ServiceExt;
use wharf_apiserver::ApiState;
use wharf_store::{EmbeddedConfig, EmbeddedStore};

mod common;

/// The largest response body the server may send to any of these requests.
const MAX_RESPONSE_BYTES: usize = 4 << 20;
/// The most header bytes (names and values) a response may have: warnings
/// are headers, and a body can ask for many.
const MAX_HEADER_BYTES: usize = 64 << 10;
/// How long one request may take before the case fails (a guard against
/// hangs and runaway work, far above any honest answer's time).
const ANSWER_WAIT: Duration = Duration::from_secs(10);

#[test]
fn hostile_write_bodies_get_client_errors_never_server_errors() {
    fuzz(write_case(), 512);
}

#[test]
fn hostile_list_queries_get_client_errors_never_server_errors() {
    fuzz(list_case(), 512);
}

/// Fields by the hundred thousand, unknown, given twice or invalid: what
/// the server says about them (warnings, errors) stays bounded, and
/// finding them takes no longer than reading the body.
#[test]
fn bodies_with_very_many_fields_get_bounded_answers_in_time() {
    fuzz(many_fields_case(), 16);
}

/// Runs `cases` against one server (objects the cases create stay, as on
/// a real server), then checks the server still serves.
fn fuzz(cases: impl Strategy<Value = Case>, count: u32) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(Server::start());
    let mut runner = TestRunner::new(Config {
        cases: count,
        max_shrink_iters: 128,
        max_shrink_time: 30_000,
        // The server's state changes from case to case: a saved seed would
        // not replay a failure, the minimal input printed below does.
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&cases, |case| runtime.block_on(server.check(&case)));
    if let Err(error) = result {
        panic!("{error}");
    }
    runtime.block_on(server.still_serves());
}

/// A request to send.
#[derive(Clone, Debug)]
struct Case {
    method: Method,
    uri: String,
    content_type: Option<String>,
    body: Payload,
}

/// A body, shown as escaped text (cut short) when a case fails.
#[derive(Clone)]
struct Payload(Vec<u8>);

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 2048;
        let shown = &self.0[..self.0.len().min(SHOWN)];
        write!(f, "b\"{}\"", shown.escape_ascii())?;
        if self.0.len() > SHOWN {
            write!(f, "… ({} bytes in all)", self.0.len())?;
        }
        Ok(())
    }
}

struct Server {
    app: Router,
    _state: Arc<ApiState>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// A server with a ConfigMap, a Pod and a Deployment named `target`
    /// for the updates and patches to reach.
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
        let state = ApiState::new(Arc::new(store)).await.unwrap();
        let server = Self {
            app: common::admin_app(state.clone()),
            _state: state,
            _dir: dir,
        };
        for kind in Kind::ALL {
            let (status, body) = server
                .send_json(Method::POST, kind.collection(), kind.skeleton("target"))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        server
    }

    async fn send_json(&self, method: Method, uri: &str, body: Value) -> (StatusCode, Value) {
        common::call(&self.app, method, uri, "application/json", &body).await
    }

    /// Sends `case` and checks the answer.
    async fn check(&self, case: &Case) -> Result<(), TestCaseError> {
        let mut request = Request::builder().method(case.method.clone());
        if let Some(content_type) = &case.content_type {
            request = request.header("Content-Type", content_type);
        }
        // A query no client could send (the URI does not parse) is no case.
        let Ok(request) = request.uri(&case.uri).body(Body::from(case.body.0.clone())) else {
            return Err(TestCaseError::reject("the URI does not parse"));
        };
        let watch = case.method == Method::GET && is_watch(&case.uri);
        // On a task of its own: a handler that panics fails the case, and
        // one that computes for long is caught by the wait.
        let app = self.app.clone();
        let answer = tokio::spawn(async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let header_bytes: usize = response
                .headers()
                .iter()
                .map(|(name, value)| name.as_str().len() + value.len())
                .sum();
            if watch && status == StatusCode::OK {
                // A watch streams until its timeout: that it started is enough.
                return (status, header_bytes, Ok(Vec::new()));
            }
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map(|collected| collected.to_bytes().to_vec())
                .map_err(|error| error.to_string());
            (status, header_bytes, body)
        });
        let (status, header_bytes, body) = match tokio::time::timeout(ANSWER_WAIT, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => {
                return Err(TestCaseError::fail(format!("the server failed: {error}")));
            }
            Err(_) => {
                return Err(TestCaseError::fail(format!(
                    "no answer within {ANSWER_WAIT:?}"
                )));
            }
        };
        let body = body.map_err(|error| {
            TestCaseError::fail(format!(
                "{status}: the body is larger than {MAX_RESPONSE_BYTES} bytes (or failed: {error})"
            ))
        })?;
        prop_assert!(
            header_bytes < MAX_HEADER_BYTES,
            "{}: {} bytes of headers",
            status,
            header_bytes
        );
        if status.is_success() {
            if !watch {
                prop_assert!(
                    serde_json::from_slice::<Value>(&body).is_ok(),
                    "{} with a body that is not JSON: {}",
                    status,
                    String::from_utf8_lossy(&body)
                );
            }
            return Ok(());
        }
        let status_object: Value = serde_json::from_slice(&body).map_err(|error| {
            TestCaseError::fail(format!(
                "{status} with a body that is not JSON ({error}): {}",
                String::from_utf8_lossy(&body)
            ))
        })?;
        prop_assert_eq!(
            &status_object["kind"],
            "Status",
            "{}: {}",
            status,
            status_object
        );
        prop_assert_eq!(
            status_object["code"].as_u64(),
            Some(u64::from(status.as_u16())),
            "{}",
            status_object
        );
        prop_assert!(
            status_object["reason"]
                .as_str()
                .is_some_and(|reason| !reason.is_empty()),
            "{}: no reason: {}",
            status,
            status_object
        );
        prop_assert!(
            status_object["message"].is_string(),
            "{}: no message: {}",
            status,
            status_object
        );
        prop_assert!(
            !status.is_server_error() || is_too_large_resource_version(status, &status_object),
            "{}: {}",
            status,
            status_object
        );
        Ok(())
    }

    /// After the fuzz: ready, and a plain ConfigMap is created.
    async fn still_serves(&self) {
        let request = Request::builder()
            .uri("/readyz")
            .body(Body::empty())
            .unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let (status, body) = self
            .send_json(
                Method::POST,
                Kind::ConfigMap.collection(),
                json!({"metadata": {"name": "after-the-fuzz"}, "data": {"k": "v"}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}

fn is_watch(uri: &str) -> bool {
    let query = uri.split_once('?').map_or("", |(_, query)| query);
    query
        .split('&')
        .any(|pair| matches!(pair, "watch=true" | "watch=1"))
}

/// Kubernetes' answer to a list at a resourceVersion the store has not
/// reached: 504 Timeout, "Too large resource version" (client-go waits and
/// retries on it). The only 5xx a client can cause.
fn is_too_large_resource_version(status: StatusCode, status_object: &Value) -> bool {
    let message = status_object["message"].as_str().unwrap_or_default();
    let Some(numbers) = message.strip_prefix("Too large resource version: ") else {
        return false;
    };
    let Some((wanted, current)) = numbers.split_once(", current: ") else {
        return false;
    };
    let (Ok(wanted), Ok(current)) = (wanted.parse::<i64>(), current.parse::<i64>()) else {
        return false;
    };
    status == StatusCode::GATEWAY_TIMEOUT
        && status_object["reason"] == "Timeout"
        && wanted > current
}

// ---------------------------------------------------------------------------
// What is fuzzed: kinds, verbs, paths.

#[derive(Clone, Copy, Debug)]
enum Kind {
    ConfigMap,
    Pod,
    Deployment,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::ConfigMap, Kind::Pod, Kind::Deployment];

    fn collection(self) -> &'static str {
        match self {
            Kind::ConfigMap => "/api/v1/namespaces/default/configmaps",
            Kind::Pod => "/api/v1/namespaces/default/pods",
            Kind::Deployment => "/apis/apps/v1/namespaces/default/deployments",
        }
    }

    /// The same kind in every namespace.
    fn cluster_collection(self) -> &'static str {
        match self {
            Kind::ConfigMap => "/api/v1/configmaps",
            Kind::Pod => "/api/v1/pods",
            Kind::Deployment => "/apis/apps/v1/deployments",
        }
    }

    /// A valid object of this kind.
    fn skeleton(self, name: &str) -> Value {
        match self {
            Kind::ConfigMap => json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "labels": {"a": "b"}},
                "data": {"k": "v"},
            }),
            Kind::Pod => json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "labels": {"a": "b"}},
                "spec": {"containers": [
                    {"name": "c", "image": "i", "ports": [{"containerPort": 80}]},
                ]},
            }),
            Kind::Deployment => json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "labels": {"a": "b"}},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"a": "b"}},
                    "template": {
                        "metadata": {"labels": {"a": "b"}},
                        "spec": {"containers": [{"name": "c", "image": "i"}]},
                    },
                },
            }),
        }
    }

    /// The subresources a write may name (most writes name none).
    fn subresources(self) -> &'static [&'static str] {
        match self {
            Kind::ConfigMap => &["", "", "", "", "", "", "", "", "/status", "/bogus"],
            Kind::Pod => &["", "", "", "", "", "", "", "", "/status", "/binding"],
            Kind::Deployment => &[
                "", "", "", "", "", "", "/status", "/status", "/scale", "/scale",
            ],
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Verb {
    Post,
    Put,
    Patch(PatchType),
}

#[derive(Clone, Copy, Debug)]
enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Strategic => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    select(Kind::ALL.to_vec())
}

fn verb() -> impl Strategy<Value = Verb> {
    prop_oneof![
        2 => Just(Verb::Post),
        2 => Just(Verb::Put),
        2 => Just(Verb::Patch(PatchType::Json)),
        2 => Just(Verb::Patch(PatchType::Merge)),
        2 => Just(Verb::Patch(PatchType::Strategic)),
        2 => Just(Verb::Patch(PatchType::Apply)),
    ]
}

/// Names in URLs and bodies: mostly the object that exists.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => Just("target".to_string()),
        1 => Just("absent".to_string()),
        2 => "[a-z][a-z0-9-]{0,10}",
        1 => select(vec!["UPPER", "a.b", "..", ".", "a%20b", "%00", "-a", "a_b", "ä"])
            .prop_map(String::from),
        1 => Just("x".repeat(300)),
    ]
}

/// What a write adds to its URL.
const WRITE_QUERIES: &[&str] = &[
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "?fieldValidation=Strict",
    "?fieldValidation=Ignore",
    "?fieldValidation=Bogus",
    "?dryRun=All",
    "?dryRun=Bogus",
    "?fieldManager=x&force=true",
];

/// A write's request line and headers; the body comes apart.
struct Write {
    kind: Kind,
    verb: Verb,
    name: String,
    subresource: &'static str,
    query: &'static str,
    /// For POST and PUT (a patch's follows from its type).
    content_type: Option<String>,
    /// A dice roll: 0 adds `; charset=utf-8` to a patch's type and leaves
    /// an apply without its field manager.
    roll: u8,
}

impl Write {
    fn case(self, body: Payload) -> Case {
        let Write {
            kind,
            verb,
            name,
            subresource,
            query,
            content_type,
            roll,
        } = self;
        let collection = kind.collection();
        let (method, uri, content_type) = match verb {
            Verb::Post => (Method::POST, format!("{collection}{query}"), content_type),
            Verb::Put => (
                Method::PUT,
                format!("{collection}/{name}{subresource}{query}"),
                content_type,
            ),
            Verb::Patch(patch) => {
                // Server-side apply needs a field manager: mostly given.
                let query = match (patch, roll) {
                    (PatchType::Apply, 1..) if query.is_empty() => "?fieldManager=x".into(),
                    (PatchType::Apply, 1..) if !query.contains("fieldManager") => {
                        format!("{query}&fieldManager=x")
                    }
                    _ => query.to_string(),
                };
                let content_type = match roll {
                    0 => format!("{}; charset=utf-8", patch.content_type()),
                    _ => patch.content_type().to_string(),
                };
                (
                    Method::PATCH,
                    format!("{collection}/{name}{subresource}{query}"),
                    Some(content_type),
                )
            }
        };
        Case {
            method,
            uri,
            content_type,
            body,
        }
    }
}

fn write_case() -> impl Strategy<Value = Case> {
    (kind(), verb(), name(), select(WRITE_QUERIES)).prop_flat_map(|(kind, verb, name, query)| {
        let body = match verb {
            Verb::Post | Verb::Put => object_body(kind, name.clone()).boxed(),
            Verb::Patch(PatchType::Json) => json_patch_body().boxed(),
            Verb::Patch(PatchType::Merge | PatchType::Strategic) => {
                merge_patch_body(kind, name.clone()).boxed()
            }
            Verb::Patch(PatchType::Apply) => apply_body(kind, name.clone()).boxed(),
        };
        let head = (select(kind.subresources()), object_content_type(), 0..10u8);
        (head, body).prop_map(move |((subresource, content_type, roll), body)| {
            Write {
                kind,
                verb,
                name: name.clone(),
                subresource,
                query,
                content_type,
                roll,
            }
            .case(body)
        })
    })
}

/// Writes of the objects that exist (and creates of new ones) whose
/// bodies have very many fields, with each kind of field validation.
fn many_fields_case() -> impl Strategy<Value = Case> {
    let verb = prop_oneof![
        Just(Verb::Post),
        Just(Verb::Put),
        Just(Verb::Patch(PatchType::Merge)),
        Just(Verb::Patch(PatchType::Strategic)),
        Just(Verb::Patch(PatchType::Apply)),
    ];
    let validation = select(vec![
        "",
        "?fieldValidation=Strict",
        "?fieldValidation=Ignore",
    ]);
    (kind(), verb, validation, "[a-z]{8}", 1..10u8).prop_flat_map(
        |(kind, verb, query, new_name, roll)| {
            let name = match verb {
                Verb::Post => new_name,
                _ => "target".to_string(),
            };
            many_fields(kind, name.clone()).prop_map(move |body| {
                Write {
                    kind,
                    verb,
                    name: name.clone(),
                    subresource: "",
                    query,
                    content_type: Some("application/json".into()),
                    roll,
                }
                .case(body)
            })
        },
    )
}

/// What the fields of [`many_fields`] are.
#[derive(Clone, Copy, Debug)]
enum Fields {
    /// `"u1":1`: no kind has them.
    Unknown,
    /// `"k1":"v","k1":"v"`: each given twice.
    Twice,
    /// `"l 1":"v v"`: labels whose key and value are both invalid.
    BadLabels,
}

impl Fields {
    /// What one takes in a body, about.
    fn bytes(self) -> f64 {
        match self {
            Fields::Unknown => 12.0,
            Fields::Twice => 28.0,
            Fields::BadLabels => 16.0,
        }
    }

    fn write(self, i: usize, out: &mut String) {
        let field = match self {
            Fields::Unknown => format!("\"u{i}\":1,"),
            Fields::Twice => format!("\"k{i}\":\"v\",\"k{i}\":\"v\","),
            Fields::BadLabels => format!("\"l {i}\":\"v v\","),
        };
        out.push_str(&field);
    }
}

/// An object of `kind` with fields by the thousand in one of its objects
/// (the top level, metadata, its labels, data or spec), as many as fill
/// up to all of the 3 MiB a body may have.
fn many_fields(kind: Kind, name: String) -> impl Strategy<Value = Payload> {
    let share_of_the_body_limit = prop_oneof![1 => 0.0..0.01f64, 3 => 0.3..0.99f64];
    let fields = prop_oneof![
        (Just(Fields::BadLabels), Just("/metadata/labels")),
        (
            prop_oneof![Just(Fields::Unknown), Just(Fields::Twice)],
            select(vec!["", "/metadata", "/data", "/spec"]),
        ),
    ];
    (share_of_the_body_limit, fields).prop_map(move |(share, (fields, within))| {
        let count = ((share * f64::from(3 << 20) / fields.bytes()) as usize).max(1);
        let mut text = String::new();
        for i in 0..count {
            fields.write(i, &mut text);
        }
        // Into an object that has a field already (the last comma stays valid).
        let with_fields = |object: &Value| {
            let mut object = object.to_string();
            if object == "{}" {
                object = "{\"z\":\"v\"}".into();
            }
            format!("{{{text}{}", &object[1..])
        };
        let mut object = kind.skeleton(&name);
        let body = match within {
            "" => with_fields(&object),
            pointer => {
                const HOLE: &str = "\u{0}hole";
                let (parent, member) = pointer.rsplit_once('/').unwrap_or_default();
                let parent = object
                    .pointer_mut(parent)
                    .and_then(Value::as_object_mut)
                    .expect("the skeleton has the parent");
                let inner = parent.remove(member).filter(Value::is_object);
                parent.insert(member.into(), json!(HOLE));
                let inner = with_fields(&inner.unwrap_or_else(|| json!({})));
                object.to_string().replace(&json!(HOLE).to_string(), &inner)
            }
        };
        Payload(body.into_bytes())
    })
}

fn object_content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        8 => Just(Some("application/json".to_string())),
        1 => Just(Some("application/yaml".to_string())),
        1 => Just(Some("application/vnd.kubernetes.protobuf".to_string())),
        1 => Just(Some("text/plain".to_string())),
        1 => Just(None),
    ]
}

// ---------------------------------------------------------------------------
// JSON-ish documents: a tree rendered as text, so that numbers can be what
// no `f64` holds (1e99999, 2^64) and keys can repeat.

#[derive(Clone, Debug)]
enum Json {
    Null,
    Bool(bool),
    /// As written.
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn from_value(value: &Value) -> Self {
        match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Number(n.to_string()),
            Value::String(s) => Json::String(s.clone()),
            Value::Array(items) => Json::Array(items.iter().map(Json::from_value).collect()),
            Value::Object(map) => Json::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), Json::from_value(v)))
                    .collect(),
            ),
        }
    }

    fn render(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(n),
            Json::String(s) => out.push_str(&Value::from(s.as_str()).to_string()),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.render(out);
                }
                out.push(']');
            }
            Json::Object(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::from(key.as_str()).to_string());
                    out.push(':');
                    value.render(out);
                }
                out.push('}');
            }
        }
    }

    fn bytes(&self) -> Payload {
        let mut out = String::new();
        self.render(&mut out);
        Payload(out.into_bytes())
    }

    /// Sets the value at `path` (`/`-separated, `~1` and `~0` for `/` and
    /// `~` in a key), making objects on the way.
    fn set(&mut self, path: &str, value: Json) {
        let mut node = self;
        for segment in path.split('/') {
            node = node.child(&segment.replace("~1", "/").replace("~0", "~"));
        }
        *node = value;
    }

    /// The member `segment` names: an array's item at an index it has, or
    /// an object's field (added if missing; anything else in the way
    /// becomes an object).
    fn child(&mut self, segment: &str) -> &mut Json {
        let index = segment.parse::<usize>().ok();
        let in_array = matches!(self, Json::Array(items) if index.is_some_and(|i| i < items.len()));
        if !in_array && !matches!(self, Json::Object(_)) {
            *self = Json::Object(Vec::new());
        }
        match self {
            Json::Array(items) => &mut items[index.unwrap_or_default()],
            Json::Object(fields) => {
                let at = match fields.iter().position(|(key, _)| key == segment) {
                    Some(at) => at,
                    None => {
                        fields.push((segment.to_string(), Json::Null));
                        fields.len() - 1
                    }
                };
                &mut fields[at].1
            }
            _ => unreachable!("an array or an object by now"),
        }
    }
}

/// Numbers at the edges of what parsers and the fields hold, all valid JSON.
const EDGE_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-0.0",
    "1",
    "-1",
    "0.5",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "5e-324",
    "1e-400",
    "2147483648",
    "-2147483649",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "123456789012345678901234567890",
    "1.0",
    "1e2",
    "1E+2",
];

/// Numbers no parser here holds, or that are not JSON at all.
const BAD_NUMBERS: &[&str] = &[
    "1e309",
    "1e99999",
    "-1E+99999",
    "01",
    "NaN",
    "Infinity",
    "-",
    "1.",
];

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => select(EDGE_NUMBERS).prop_map(String::from),
        4 => any::<i64>().prop_map(|n| n.to_string()),
        2 => any::<u64>().prop_map(|n| n.to_string()),
        2 => any::<f64>()
            .prop_filter("finite", |n| n.is_finite())
            .prop_map(|n| Value::from(n).to_string()),
        2 => (any::<i32>(), -400..400i32).prop_map(|(m, e)| format!("{m}e{e}")),
    ]
}

/// Words that mean something to the server somewhere.
const WORDS: &[&str] = &[
    "",
    "target",
    "c",
    "d",
    "i",
    "a",
    "b",
    "v1",
    "apps/v1",
    "ConfigMap",
    "Pod",
    "Deployment",
    "Running",
    "Succeeded",
    "delete",
    "replace",
    "merge",
    "retainKeys",
    "default",
    "other",
    "Always",
    "TCP",
    "RollingUpdate",
    "Recreate",
    "25%",
    "1Gi",
    "100m",
    "null",
    "true",
    "2024-01-01T00:00:00Z",
    "node-1",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z0-9./_-]{0,12}",
        3 => select(WORDS).prop_map(String::from),
        1 => any::<String>(),
    ]
}

/// Keys objects have, patch directives, and some random ones.
const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "finalizers",
    "ownerReferences",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "data",
    "binaryData",
    "immutable",
    "spec",
    "status",
    "containers",
    "initContainers",
    "image",
    "ports",
    "containerPort",
    "env",
    "value",
    "volumes",
    "nodeName",
    "terminationGracePeriodSeconds",
    "replicas",
    "selector",
    "matchLabels",
    "matchExpressions",
    "template",
    "strategy",
    "type",
    "phase",
    "conditions",
    "$patch",
    "$retainKeys",
    "$setElementOrder/containers",
    "$setElementOrder/ports",
    "$deleteFromPrimitiveList/finalizers",
    "a",
    "",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(KEYS).prop_map(String::from),
        1 => "[a-z$/.~]{0,8}",
    ]
}

fn leaf() -> impl Strategy<Value = Json> {
    prop_oneof![
        1 => Just(Json::Null),
        1 => any::<bool>().prop_map(Json::Bool),
        3 => number().prop_map(Json::Number),
        4 => text().prop_map(Json::String),
    ]
}

/// Any JSON document, up to about 20 deep.
fn json() -> impl Strategy<Value = Json> {
    leaf().prop_recursive(20, 128, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Json::Array),
            vec((key(), inner), 0..6).prop_map(Json::Object),
        ]
    })
}

/// Arrays or objects nested past any parser's limit (or just under it).
fn deep() -> impl Strategy<Value = Payload> {
    let depth = prop_oneof![3 => 1usize..128, 1 => 128usize..400];
    (depth, any::<bool>()).prop_map(|(depth, arrays)| {
        let (open, close) = if arrays { ("[", "]") } else { ("{\"a\":", "}") };
        let mut text = open.repeat(depth);
        text.push('1');
        text.push_str(&close.repeat(depth));
        Payload(text.into_bytes())
    })
}

/// Big strings: around the 1 MiB ConfigMap limit, the 1.5 MiB store limit
/// and the 3 MiB body limit.
fn big_string() -> impl Strategy<Value = Json> {
    select(vec![64 << 10, (1 << 20) + 1, 1536 << 10, 3 << 20])
        .prop_map(|size| Json::String("x".repeat(size)))
}

/// Random bytes, sometimes behind Kubernetes' protobuf magic.
fn random_bytes() -> impl Strategy<Value = Payload> {
    (vec(any::<u8>(), 0..512), any::<bool>()).prop_map(|(bytes, magic)| {
        let mut body = if magic { b"k8s\0".to_vec() } else { Vec::new() };
        body.extend(bytes);
        Payload(body)
    })
}

/// Paths over the fields the three kinds have (and a few they do not).
const PATHS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "metadata/name",
    "metadata/namespace",
    "metadata/labels",
    "metadata/labels/a",
    "metadata/annotations",
    "metadata/annotations/a",
    "metadata/finalizers",
    "metadata/finalizers/0",
    "metadata/resourceVersion",
    "metadata/uid",
    "metadata/generation",
    "metadata/creationTimestamp",
    "metadata/deletionTimestamp",
    "metadata/ownerReferences",
    "metadata/managedFields",
    "data",
    "data/k",
    "binaryData",
    "immutable",
    "spec",
    "spec/nodeName",
    "spec/terminationGracePeriodSeconds",
    "spec/containers",
    "spec/containers/0",
    "spec/containers/0/name",
    "spec/containers/0/image",
    "spec/containers/0/ports",
    "spec/containers/0/ports/0/containerPort",
    "spec/containers/1",
    "spec/replicas",
    "spec/selector",
    "spec/selector/matchLabels",
    "spec/template",
    "spec/template/metadata/labels",
    "spec/template/spec/containers",
    "spec/template/spec/containers/0/image",
    "spec/strategy/type",
    "status",
    "status/phase",
    "status/replicas",
];

/// Where patch directives go (a `/` in a key written `~1`, as in a JSON
/// pointer).
const DIRECTIVE_PATHS: &[&str] = &[
    "$patch",
    "metadata/$patch",
    "metadata/labels/$patch",
    "metadata/$deleteFromPrimitiveList~1finalizers",
    "metadata/$setElementOrder~1finalizers",
    "spec/$retainKeys",
    "spec/$patch",
    "spec/$setElementOrder~1containers",
    "spec/containers/0/$patch",
    "spec/containers/0/$setElementOrder~1ports",
    "spec/template/spec/$setElementOrder~1containers",
    "spec/template/spec/containers/0/$patch",
    "spec/strategy/$retainKeys",
];

/// A value to put somewhere: anything, now and then a big string or a
/// number that is not one.
fn value() -> impl Strategy<Value = Json> {
    prop_oneof![
        16 => json(),
        1 => big_string(),
        1 => select(BAD_NUMBERS).prop_map(|n| Json::Number(n.into())),
    ]
}

/// An object of `kind` named `name` with a few fields set to anything.
/// A value of the type the field at `path` has (mostly at its edges),
/// so that a change gets past decoding to validation and the store.
fn fitting(path: &'static str) -> BoxedStrategy<Json> {
    let last = path.rsplit('/').next().unwrap_or_default();
    let directive = last.split("~1").next().unwrap_or_default();
    let string = || text().prop_map(Json::String);
    let strings = || {
        vec((text(), text()), 0..4).prop_map(|pairs| {
            Json::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, Json::String(v)))
                    .collect(),
            )
        })
    };
    match directive {
        "$retainKeys" | "$deleteFromPrimitiveList" => {
            return vec(string(), 0..4).prop_map(Json::Array).boxed();
        }
        "$setElementOrder" => {
            let item = string().prop_map(|name| Json::Object(vec![("name".into(), name)]));
            return vec(item, 0..4).prop_map(Json::Array).boxed();
        }
        _ => {}
    }
    match last {
        "replicas" | "containerPort" | "terminationGracePeriodSeconds" | "generation" => {
            number().prop_map(Json::Number).boxed()
        }
        "labels" | "annotations" | "data" | "matchLabels" | "binaryData" => strings().boxed(),
        "finalizers" => vec(string(), 0..4).prop_map(Json::Array).boxed(),
        "immutable" => any::<bool>().prop_map(Json::Bool).boxed(),
        "containers" => vec((string(), string()), 0..4)
            .prop_map(|containers| {
                Json::Array(
                    containers
                        .into_iter()
                        .map(|(name, image)| {
                            Json::Object(vec![("name".into(), name), ("image".into(), image)])
                        })
                        .collect(),
                )
            })
            .boxed(),
        "0" | "1" => (string(), string())
            .prop_map(|(name, image)| {
                Json::Object(vec![("name".into(), name), ("image".into(), image)])
            })
            .boxed(),
        "metadata" | "spec" | "status" | "selector" | "template" | "ports" | "ownerReferences"
        | "managedFields" => value().boxed(),
        _ => string().boxed(),
    }
}

/// A change: a path and a value for it, fitting or not.
fn change(paths: &'static [&'static str]) -> impl Strategy<Value = (&'static str, Json)> {
    select(paths).prop_flat_map(|path| (Just(path), prop_oneof![2 => fitting(path), 1 => value()]))
}

fn object(kind: Kind, name: String) -> impl Strategy<Value = Json> {
    vec(change(PATHS), 0..4).prop_map(move |changes| {
        let mut object = Json::from_value(&kind.skeleton(&name));
        for (path, value) in changes {
            object.set(path, value);
        }
        object
    })
}

fn object_body(kind: Kind, name: String) -> impl Strategy<Value = Payload> {
    prop_oneof![
        5 => object(kind, name).prop_map(|object| object.bytes()),
        2 => json().prop_map(|json| json.bytes()),
        1 => random_bytes(),
        1 => deep(),
    ]
}

/// JSON pointers over the objects' fields, and odd ones.
fn pointer() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(PATHS).prop_map(|path| format!("/{path}")),
        1 => select(vec![
            "", "/", "/-", "//", "/~0", "/~1", "/~2", "~", "metadata", "/metadata/labels/~1x",
            "/spec/containers/-", "/spec/containers/-1", "/spec/containers/00",
            "/spec/containers/99999999999999999999", "/metadata/finalizers/-",
        ])
        .prop_map(String::from),
        1 => "(/[a-z0-9~-]{0,4}){0,4}",
    ]
}

fn json_patch_operation() -> impl Strategy<Value = Json> {
    let op = select(vec![
        "add", "remove", "replace", "move", "copy", "test", "bogus",
    ]);
    (
        op,
        pointer(),
        proptest::option::weighted(0.8, pointer()),
        proptest::option::weighted(0.9, value()),
    )
        .prop_map(|(op, path, from, value)| {
            let mut fields = vec![
                ("op".to_string(), Json::String(op.into())),
                ("path".to_string(), Json::String(path)),
            ];
            if let Some(from) = from {
                fields.push(("from".into(), Json::String(from)));
            }
            if let Some(value) = value {
                fields.push(("value".into(), value));
            }
            Json::Object(fields)
        })
}

/// Copies of a part of the object into itself, over and over: each
/// doubles it.
fn copy_bomb() -> impl Strategy<Value = Json> {
    let from = select(vec![
        "/data",
        "/metadata",
        "/metadata/labels",
        "/spec",
        "/spec/template",
        "/spec/containers",
    ]);
    (from, 1..40usize).prop_map(|(from, copies)| {
        Json::Array(
            (0..copies)
                .map(|i| {
                    let path = if from.ends_with("containers") {
                        format!("{from}/-")
                    } else {
                        format!("{from}/k{i}")
                    };
                    Json::from_value(&json!({"op": "copy", "from": from, "path": path}))
                })
                .collect(),
        )
    })
}

fn json_patch_body() -> impl Strategy<Value = Payload> {
    prop_oneof![
        6 => vec(json_patch_operation(), 0..8).prop_map(|ops| Json::Array(ops).bytes()),
        1 => copy_bomb().prop_map(|bomb| bomb.bytes()),
        1 => json().prop_map(|json| json.bytes()),
        1 => random_bytes(),
        1 => deep(),
    ]
}

/// A merge or strategic patch: fields and directives set to anything.
fn merge_patch(name: String) -> impl Strategy<Value = Json> {
    let change = prop_oneof![3 => change(PATHS), 2 => change(DIRECTIVE_PATHS)];
    vec(change, 1..5).prop_map(move |changes| {
        let mut patch = Json::Object(Vec::new());
        if !name.is_empty() && changes.len() % 2 == 0 {
            // Some patches keep the object's own identity and kind.
            patch = Json::from_value(&json!({"metadata": {"name": name}}));
        }
        for (path, value) in changes {
            patch.set(path, value);
        }
        patch
    })
}

fn merge_patch_body(kind: Kind, name: String) -> impl Strategy<Value = Payload> {
    prop_oneof![
        5 => merge_patch(name.clone()).prop_map(|patch| patch.bytes()),
        2 => object(kind, name).prop_map(|object| object.bytes()),
        1 => json().prop_map(|json| json.bytes()),
        1 => random_bytes(),
        1 => deep(),
    ]
}

/// YAML the JSON generators do not make: anchors and aliases (one a
/// billion laughs), tags, several documents, YAML 1.1 scalars.
const YAML: &[&str] = &[
    concat!(
        "a: &a [x, x, x, x, x, x, x, x, x]\n",
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n",
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
        "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
        "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
        "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n",
        "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n",
    ),
    "metadata: &m {name: target, labels: {a: b}}\ndata: {k: *m}\n",
    "base: &base {a: b}\nmetadata:\n  <<: *base\n  name: target\n",
    "metadata: {name: target}\ndata: !!binary aGVsbG8=\n",
    "metadata: {name: target}\ndata: !custom {k: v}\n",
    "? [complex, key]\n: value\n",
    "---\nmetadata: {name: target}\n---\nmetadata: {name: other}\n",
    "metadata: {name: target}\nspec: {replicas: .inf}\n",
    "metadata: {name: target}\nspec: {replicas: .nan}\n",
    "metadata: {name: target}\nspec: {replicas: 0x7fffffffffffffff}\n",
    "metadata: {name: target}\nspec: {replicas: 1_000}\n",
    "metadata: {name: target}\ndata: {k: ~, y: yes, n: no, o: on}\n",
    "metadata: {name: target}\ndata: {k: 1e99999}\n",
    "metadata:\n\tname: target\n",
    "metadata: {name: target\n",
    "metadata: [unclosed\n",
    "\u{feff}metadata: {name: target}\n",
    "metadata: {name: target}\ndata: {k: \"\\ud800\"}\n",
    "*undefined\n",
    "&a a: b\n",
];

fn apply_body(kind: Kind, name: String) -> impl Strategy<Value = Payload> {
    prop_oneof![
        4 => object(kind, name.clone()).prop_map(|object| object.bytes()),
        2 => merge_patch(name).prop_map(|patch| patch.bytes()),
        2 => select(YAML).prop_map(|yaml| Payload(yaml.as_bytes().to_vec())),
        1 => json().prop_map(|json| json.bytes()),
        1 => random_bytes(),
        1 => deep(),
    ]
}

// ---------------------------------------------------------------------------
// List queries.

/// Selectors that parse (or nearly).
const SELECTORS: &[&str] = &[
    "a=b",
    "a==b",
    "a!=b",
    "a",
    "!a",
    "a in (b,c)",
    "a notin (b)",
    "a in ()",
    "a in (b",
    "example.com/a=b",
    "a=b,c!=d",
    "metadata.name=target",
    "metadata.name!=target",
    "metadata.namespace=default",
    "status.phase=Running",
    "spec.nodeName=",
    "spec.nodeName=node-1",
    "spec.replicas=1",
    "a=",
    "=b",
    ",",
];

/// Random text from a selector's alphabet.
fn selector_text() -> impl Strategy<Value = String> {
    vec(
        select("a=!(),in notin  ,.-_/".chars().collect::<Vec<_>>()),
        0..24,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// A continue token: garbage, or base64 of JSON with any revision and start.
fn continue_token() -> impl Strategy<Value = String> {
    let start = prop_oneof![
        Just(String::new()),
        Just("target".to_string()),
        Just("../../secrets/".to_string()),
        Just("/registry/".to_string()),
        "[a-z./\0-]{0,12}",
    ];
    let encoded = (revision(), start, select(vec!["meta.k8s.io/v1", "", "v0"])).prop_map(
        |(revision, start, version)| {
            let json = format!(
                "{{\"v\":{},\"rv\":{revision},\"start\":{}}}",
                Value::from(version),
                Value::from(start)
            );
            base64::engine::general_purpose::STANDARD.encode(json)
        },
    );
    prop_oneof![
        3 => encoded,
        1 => "[A-Za-z0-9+/=]{0,24}",
        1 => selector_text(),
    ]
}

/// Revisions: mostly ones the store has, now and then any number.
fn revision() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0..40u32).prop_map(|r| r.to_string()),
        1 => Just(String::new()),
        2 => number(),
    ]
}

/// One query parameter a list or watch reads, with values of its kind.
fn query_pair() -> impl Strategy<Value = (&'static str, String)> {
    let words = |words: Vec<&'static str>| select(words).prop_map(String::from);
    let selector = prop_oneof![
        2 => select(SELECTORS).prop_map(String::from),
        2 => selector_text(),
    ];
    let limit = prop_oneof![(0..5u32).prop_map(|l| l.to_string()), number()];
    prop_oneof![
        3 => selector.clone().prop_map(|s| ("labelSelector", s)),
        3 => selector.prop_map(|s| ("fieldSelector", s)),
        2 => limit.prop_map(|l| ("limit", l)),
        3 => revision().prop_map(|r| ("resourceVersion", r)),
        1 => words(vec!["Exact", "NotOlderThan", "Bogus", ""])
            .prop_map(|m| ("resourceVersionMatch", m)),
        2 => continue_token().prop_map(|t| ("continue", t)),
        1 => number().prop_map(|t| ("timeoutSeconds", t)),
        1 => words(vec!["true", "false", "1", "bogus"]).prop_map(|b| ("allowWatchBookmarks", b)),
        1 => words(vec!["true", "false", "bogus"]).prop_map(|b| ("sendInitialEvents", b)),
        1 => words(vec!["Object", "None", "Metadata", "bogus"]).prop_map(|i| ("includeObject", i)),
        1 => words(vec!["true", "1", "false"]).prop_map(|w| ("watch", w)),
        1 => text().prop_map(|v| ("pretty", v)),
    ]
}

/// `value` as a query string carries it: every byte but the unreserved
/// escaped, or (`raw`) as it is, when the URI allows it.
fn encode(value: &str, raw: bool) -> String {
    if raw {
        return value.to_string();
    }
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn list_case() -> impl Strategy<Value = Case> {
    let scope = prop_oneof![
        6 => Just("default"),
        2 => Just(""),
        1 => Just("absent-namespace"),
        1 => Just("BAD_NS"),
    ];
    let pair = (query_pair(), prop::bool::weighted(0.1));
    (kind(), scope, vec(pair, 0..6)).prop_map(|(kind, scope, pairs)| {
        let path = match scope {
            "" => kind.cluster_collection().to_string(),
            "default" => kind.collection().to_string(),
            other => kind
                .collection()
                .replace("/default/", &format!("/{other}/")),
        };
        let query: Vec<String> = pairs
            .iter()
            .map(|((key, value), raw)| format!("{key}={}", encode(value, *raw)))
            .collect();
        Case {
            method: Method::GET,
            uri: format!("{path}?{}", query.join("&")),
            content_type: None,
            body: Payload(Vec::new()),
        }
    })
}
