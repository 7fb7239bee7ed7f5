//! `wharf bench api`: the API server over real HTTPS on loopback, as a
//! client with the admin's certificate (authenticated and authorized as
//! any request).
//!
//! 1. Seeds 1,000 ConfigMaps (1 KiB each) so that lists return 1,000 objects.
//! 2. Steady open-loop phases of `--seconds` each: creates at `--rate`
//!    requests/s (default 500), merge-patches at `--rate`, gets at `--rate`,
//!    and lists of the 1,000 seeded objects at a tenth of it (a list is 1.2 MB).
//!    Latency counts from each request's scheduled start, so a stalled server
//!    cannot hide its queueing (no coordinated omission). During the create
//!    phase a watcher measures delivery lag from each create's scheduled
//!    start to its ADDED event.
//! 3. Creates from 16 clients as fast as they go: the maximum create rate.
//!
//! With `--crd` the same phases run on a custom kind (a
//! CustomResourceDefinition whose schema has 20 fields, every object
//! validated, pruned and defaulted by it) instead of ConfigMaps, after
//! measuring how long a new definition takes from its create to its
//! kind being served.
//!
//! Without `--kubeconfig` it starts its own API server on a temporary
//! embedded store; with `--kubeconfig FILE` it measures that one (in
//! namespace `default`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use wharf_apiserver::ApiState;
use wharf_client::ClusterAccess;
use wharf_store::{EmbeddedConfig, EmbeddedStore};

use super::report::Latencies;

#[derive(clap::Args)]
pub struct ApiBench {
    /// The kubeconfig of an API server to measure (its current context's
    /// server and credentials); without it one is started in-process.
    #[arg(long)]
    kubeconfig: Option<std::path::PathBuf>,
    /// Requests per second in the steady phase.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Seconds of the steady phase and of the throughput phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Speak HTTP/1.1 (a pool of connections) rather than HTTP/2 (one
    /// multiplexed connection, what kubectl and client-go speak).
    #[arg(long)]
    http1: bool,
    /// Objects the list requests return.
    #[arg(long, default_value_t = 1000)]
    list_size: usize,
    /// Record every request of the in-process server in an audit log (as
    /// `wharf up` does by default), to measure what auditing costs.
    #[arg(long)]
    audit: bool,
    /// Measure a custom kind (a CustomResourceDefinition with a schema of
    /// 20 fields) rather than ConfigMaps.
    #[arg(long)]
    crd: bool,
}

/// The kind the phases create, patch, get and list.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BenchKind {
    ConfigMaps,
    /// `widgets.bench.wharf.dev`, from [`widget_definition`].
    Widgets,
}

impl BenchKind {
    fn collection(self, namespace: &str) -> String {
        match self {
            BenchKind::ConfigMaps => format!("/api/v1/namespaces/{namespace}/configmaps"),
            BenchKind::Widgets => {
                format!("/apis/bench.wharf.dev/v1/namespaces/{namespace}/widgets")
            }
        }
    }

    /// An object of about 1 KiB.
    fn body(self, name: &str, payload: &str) -> serde_json::Value {
        match self {
            BenchKind::ConfigMaps => {
                serde_json::json!({"metadata": {"name": name}, "data": {"payload": payload}})
            }
            // Its 19 other fields take about 495 bytes: the payload is cut
            // by as much, so that a Widget is as large as a ConfigMap.
            BenchKind::Widgets => serde_json::json!({
                "apiVersion": "bench.wharf.dev/v1",
                "kind": "Widget",
                "metadata": {"name": name},
                "spec": {
                    "payload": &payload[..payload.len().saturating_sub(WIDGET_FIELDS_BYTES)],
                    "replicas": 3,
                    "image": "registry.example.com/widget:1.2.3",
                    "color": "green",
                    "size": "large",
                    "port": 8080,
                    "target": "http",
                    "enabled": true,
                    "weight": 0.5,
                    "owner": "team-a",
                    "email": "team-a@example.com",
                    "schedule": "*/5 * * * *",
                    "created": "2026-01-01T00:00:00Z",
                    "labels": {"app": "widget", "tier": "back"},
                    "tags": ["a", "b", "c"],
                    "limits": {"cpu": 2, "memory": 512},
                    "endpoints": [{"host": "a.example.com", "port": 443}],
                    "notes": "benchmark object",
                    "retries": 5,
                },
            }),
        }
    }
}

/// What a Widget's fields other than its payload take, in bytes of JSON.
const WIDGET_FIELDS_BYTES: usize = 495;

/// The benchmark's custom kind: a namespaced `Widget` whose spec has 20
/// fields of every sort a schema checks (patterns, bounds, enums, formats,
/// int-or-string, maps, lists of objects) and defaults.
fn widget_definition() -> serde_json::Value {
    use serde_json::json;
    let fields = [
        ("payload", json!({"type": "string", "maxLength": 4096})),
        (
            "replicas",
            json!({"type": "integer", "minimum": 0, "maximum": 100}),
        ),
        (
            "image",
            json!({"type": "string", "pattern": "^[a-z0-9./-]+(:[a-z0-9._-]+)?$"}),
        ),
        (
            "color",
            json!({"type": "string", "enum": ["red", "green", "blue"]}),
        ),
        (
            "size",
            json!({"type": "string", "enum": ["small", "large"], "default": "small"}),
        ),
        (
            "port",
            json!({"type": "integer", "minimum": 1, "maximum": 65535}),
        ),
        ("target", json!({"x-kubernetes-int-or-string": true})),
        ("enabled", json!({"type": "boolean"})),
        (
            "weight",
            json!({"type": "number", "minimum": 0, "maximum": 1}),
        ),
        (
            "owner",
            json!({"type": "string", "minLength": 1, "maxLength": 63}),
        ),
        ("email", json!({"type": "string", "format": "email"})),
        ("schedule", json!({"type": "string"})),
        ("created", json!({"type": "string", "format": "date-time"})),
        (
            "labels",
            json!({"type": "object", "additionalProperties": {"type": "string"}}),
        ),
        (
            "tags",
            json!({"type": "array", "maxItems": 16, "items": {"type": "string"}}),
        ),
        (
            "limits",
            json!({"type": "object", "properties": {"cpu": {"type": "integer"}, "memory": {"type": "integer"}}}),
        ),
        (
            "endpoints",
            json!({"type": "array", "items": {"type": "object", "required": ["host"], "properties": {"host": {"type": "string"}, "port": {"type": "integer", "default": 80}}}}),
        ),
        ("notes", json!({"type": "string"})),
        ("retries", json!({"type": "integer", "default": 3})),
        ("paused", json!({"type": "boolean", "default": false})),
    ];
    let spec: serde_json::Map<String, serde_json::Value> = fields
        .into_iter()
        .map(|(name, schema)| (name.to_string(), schema))
        .collect();
    let schema = json!({"type": "object", "properties": {
        "spec": {"type": "object", "required": ["image", "replicas"], "properties": spec},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
    }});
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.bench.wharf.dev"},
        "spec": {
            "group": "bench.wharf.dev",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": schema},
            }],
        },
    })
}

/// Creates the benchmark's CustomResourceDefinition; how long from its
/// create until its kind answered a list (polled as fast as requests go),
/// and how long the create itself took.
async fn define_widgets(api: &Api) -> Result<(Duration, Duration), String> {
    let collection = BenchKind::Widgets.collection("default");
    let started = Instant::now();
    api.send(
        Method::POST,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        "application/json",
        Bytes::from(widget_definition().to_string()),
        StatusCode::CREATED,
    )
    .await?;
    let answered = started.elapsed();
    loop {
        let (status, _) = api
            .request(
                Method::GET,
                &format!("{collection}?limit=1"),
                "application/json",
                Bytes::new(),
            )
            .await?;
        if status == StatusCode::OK {
            return Ok((started.elapsed(), answered));
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err(format!(
                "{collection}: not served 30 s after its definition ({status})"
            ));
        }
    }
}

pub async fn run(options: ApiBench) -> Result<(), String> {
    let mut _temp = None;
    let access = match &options.kubeconfig {
        Some(path) => ClusterAccess::from_kubeconfig(path, None)?,
        None => {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let store =
                EmbeddedStore::open(EmbeddedConfig::new(dir.path())).map_err(|e| e.to_string())?;
            let state = ApiState::new(Arc::new(store))
                .await
                .map_err(|e| e.to_string())?;
            if options.audit {
                let log = wharf_apiserver::audit::AuditLog::open(
                    &dir.path().join("audit.log"),
                    100 << 20,
                    wharf_apiserver::audit::Policy::metadata(),
                )
                .map_err(|e| e.to_string())?;
                state.enable_audit(log)?;
            }
            let access = serve_in_process(state).await?;
            println!(
                "server: in-process API server on a temporary embedded store ({}), over TLS with an admin client certificate{}",
                dir.path().display(),
                if options.audit {
                    ", every request audited"
                } else {
                    ""
                }
            );
            _temp = Some(dir);
            access
        }
    };
    let kind = if options.crd {
        BenchKind::Widgets
    } else {
        BenchKind::ConfigMaps
    };
    let api = Api::new(&access, options.http1)?.of_kind(kind);
    let mut served_in = None;
    if options.crd {
        let (served, answered) = define_widgets(&api).await?;
        println!(
            "custom resource definition: served {:.1} ms after its create was sent (the create answered in {:.1} ms)",
            served.as_secs_f64() * 1e3,
            answered.as_secs_f64() * 1e3
        );
        served_in = Some(served);
    }

    // Seed the objects the lists return, alone in a namespace of their own.
    let payload = "x".repeat(1024);
    let namespace = serde_json::json!({"metadata": {"name": api.seed_namespace()}});
    api.send(
        Method::POST,
        "/api/v1/namespaces",
        "application/json",
        Bytes::from(namespace.to_string()),
        StatusCode::CREATED,
    )
    .await?;
    let seed_started = Instant::now();
    let seeded = futures_util::future::join_all((0..16).map(|worker| {
        let (api, payload) = (api.clone(), payload.clone());
        let count = options.list_size;
        async move {
            for i in (worker..count).step_by(16) {
                api.create_in(&api.seeds_path(), &format!("seed-{i}"), &payload)
                    .await?;
            }
            Ok::<_, String>(())
        }
    }))
    .await;
    seeded.into_iter().collect::<Result<Vec<_>, _>>()?;
    println!(
        "seeded {} {} of 1 KiB in {:.1} s",
        options.list_size,
        if options.crd { "Widgets" } else { "ConfigMaps" },
        seed_started.elapsed().as_secs_f64()
    );

    let steady = steady_phase(&api, &options, &payload).await?;
    let throughput = throughput_phase(&api, options.seconds, &payload).await?;

    let list_rate = (options.rate / 10).max(1);
    for (verb, rate, latencies) in [
        ("create", options.rate, &steady.create),
        ("patch", options.rate, &steady.patch),
        ("get", options.rate, &steady.get),
        ("list", list_rate, &steady.list),
    ] {
        println!(
            "{verb:<6} at {rate:>4} req/s: {} ({} requests)",
            latencies.summary(),
            latencies.count()
        );
    }
    println!(
        "watch delivery: lag {} ({} events)",
        steady.watch.summary(),
        steady.watch.count()
    );
    println!("mutating (create + patch): {}", steady.mutating.summary());
    let (build, allowed, denied) = authorization_cost(1000);
    println!(
        "authorization (RBAC, 1,000 RoleBindings, 100 namespaces): index built in {:.2} ms; a check {allowed:.2} µs allowed, {denied:.2} µs denied",
        build * 1e3
    );
    println!(
        "max create throughput, 16 clients: {:.0} creates/s, {}",
        throughput.count() as f64 / options.seconds as f64,
        throughput.summary()
    );
    println!(
        "api bench{}: {} req/s steady, get p99 {:.2} ms, list({}) p99 {:.2} ms, watch p99 {:.2} ms, max {:.0} creates/s{}; mutating p99 {:.2} ms",
        if options.crd {
            " (custom kind, 20-field schema)"
        } else {
            ""
        },
        options.rate,
        steady.get.quantile_ms(0.99),
        options.list_size,
        steady.list.quantile_ms(0.99),
        steady.watch.quantile_ms(0.99),
        throughput.count() as f64 / options.seconds as f64,
        served_in.map_or(String::new(), |served| format!(
            ", definition served in {:.1} ms",
            served.as_secs_f64() * 1e3
        )),
        steady.mutating.quantile_ms(0.99),
    );
    Ok(())
}

fn uuid_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros())
            % 0xffffff
    )
}

/// What RBAC costs a request with `bindings` RoleBindings in the cluster
/// (spread over 100 namespaces, each binding one user to `view` or to a
/// Role of its own), besides kube's default roles: the index's build time
/// (seconds) and the mean time of one check (µs), allowed and denied.
/// Measured on the authorizer's index itself, as every request not from
/// `system:masters` runs it.
fn authorization_cost(bindings: usize) -> (f64, f64, f64) {
    use wharf_apiserver::UserInfo;
    use wharf_apiserver::authz::{Attributes, Target, policy, rbac};
    let (cluster_roles, cluster_role_bindings) = policy::defaults();
    let mut objects = rbac::Objects {
        cluster_roles,
        cluster_role_bindings,
        ..Default::default()
    };
    for i in 0..bindings {
        let namespace = format!("team-{}", i % 100);
        objects.roles.push(serde_json::json!({
            "metadata": {"name": format!("role-{i}"), "namespace": namespace},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [format!("cm-{i}")], "verbs": ["get", "update"]}],
        }));
        let (kind, role) = if i % 2 == 0 {
            ("ClusterRole", "view".to_string())
        } else {
            ("Role", format!("role-{i}"))
        };
        objects.role_bindings.push(serde_json::json!({
            "metadata": {"name": format!("binding-{i}"), "namespace": namespace},
            "roleRef": {"kind": kind, "name": role},
            "subjects": [{"kind": "User", "name": format!("user-{i}")}, {"kind": "Group", "name": "everyone"}],
        }));
    }
    let started = Instant::now();
    let index = rbac::Index::build(&objects);
    let build = started.elapsed().as_secs_f64();
    let user = UserInfo {
        username: "user-998".into(),
        groups: vec!["everyone".into(), "system:authenticated".into()],
    };
    let target = |resource: &str, namespace: &str| Target::Resource {
        group: String::new(),
        resource: resource.into(),
        subresource: None,
        namespace: Some(namespace.into()),
        name: None,
    };
    let time = |verb: &str, target: Target, expect: bool| {
        let attributes = Attributes {
            user: &user,
            verb,
            target,
        };
        const ROUNDS: u32 = 20_000;
        let started = Instant::now();
        for _ in 0..ROUNDS {
            assert_eq!(
                std::hint::black_box(&index)
                    .allows(std::hint::black_box(&attributes))
                    .is_some(),
                expect
            );
        }
        started.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS)
    };
    let allowed = time("list", target("pods", "team-98"), true);
    let denied = time("list", target("secrets", "team-98"), false);
    (build, allowed, denied)
}

/// Serves `state` on loopback over TLS, with a new CA, as `wharf up`
/// would; returns how to reach it as the admin.
pub(super) async fn serve_in_process(state: Arc<ApiState>) -> Result<ClusterAccess, String> {
    let (dns_names, addresses) = wharf_pki::default_serving_names([10, 96, 0, 1].into());
    let pki = wharf_pki::ClusterPki::generate(&dns_names, &addresses).map_err(|e| e.to_string())?;
    let tls = Arc::new(pki.server_config().map_err(|e| e.to_string())?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(wharf_apiserver::serve(
        listener,
        state,
        tls,
        std::future::pending(),
    ));
    Ok(ClusterAccess {
        server: format!("https://{address}"),
        ca_pem: Some(pki.ca.cert_pem().as_bytes().to_vec()),
        client_cert_pem: Some(pki.admin.cert_pem.into_bytes()),
        client_key_pem: Some(pki.admin.key_pem.into_bytes()),
        token: None,
    })
}

/// An HTTP client of one API server, for benchmarks.
#[derive(Clone)]
pub(super) struct Api {
    transport: wharf_client::Transport,
    /// Names this run's objects, so that runs against one server do not collide.
    run: String,
    /// What the API benchmark's phases create.
    kind: BenchKind,
}

impl Api {
    pub(super) fn new(access: &ClusterAccess, http1_only: bool) -> Result<Self, String> {
        let options = wharf_client::PoolOptions {
            max_idle: 256,
            http1_only,
        };
        Ok(Self {
            transport: wharf_client::Transport::new(access, options)?,
            run: uuid_suffix(),
            kind: BenchKind::ConfigMaps,
        })
    }

    /// The same client, creating objects of `kind`.
    fn of_kind(mut self, kind: BenchKind) -> Self {
        self.kind = kind;
        self
    }

    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Bytes,
        expect: StatusCode,
    ) -> Result<Bytes, String> {
        let (status, body) = self.request(method, path, content_type, body).await?;
        if status != expect {
            return Err(format!(
                "{path}: {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(body)
    }

    /// One request; its status and body, whatever the status.
    pub(super) async fn request(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), String> {
        let headers = [
            ("content-type", content_type),
            ("accept", "application/json"),
        ];
        self.transport
            .call(method, path, &headers, body)
            .await
            .map_err(|e| format!("{path}: {e}"))
    }

    /// A connection of its own, for raw HTTP/1.1 requests.
    pub(super) async fn connect_raw(
        &self,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
        self.transport.connect_raw().await
    }

    /// A GET whose body is read as it comes (a watch).
    pub(super) async fn stream(
        &self,
        path: &str,
    ) -> Result<http_body_util::combinators::UnsyncBoxBody<Bytes, String>, String> {
        let response = self
            .transport
            .send(
                Method::GET,
                path,
                &[("accept", "application/json")],
                Bytes::new(),
            )
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        if response.status() != StatusCode::OK {
            return Err(format!("{path}: {}", response.status()));
        }
        Ok(response
            .into_body()
            .map_err(|e| e.to_string())
            .boxed_unsync())
    }

    async fn create(&self, name: &str, payload: &str) -> Result<(), String> {
        self.create_in(&self.kind.collection("default"), name, payload)
            .await
    }

    async fn create_in(&self, collection: &str, name: &str, payload: &str) -> Result<(), String> {
        let body = self.kind.body(name, payload);
        self.send(
            Method::POST,
            collection,
            "application/json",
            Bytes::from(body.to_string()),
            StatusCode::CREATED,
        )
        .await
        .map(drop)
    }

    fn seed_namespace(&self) -> String {
        format!("wharf-bench-{}", self.run)
    }

    /// The collection that holds only the seeded objects.
    fn seeds_path(&self) -> String {
        self.kind.collection(&self.seed_namespace())
    }
}

struct Steady {
    create: Latencies,
    patch: Latencies,
    get: Latencies,
    list: Latencies,
    mutating: Latencies,
    watch: Latencies,
}

/// Which request a steady phase sends.
#[derive(Clone, Copy)]
enum Verb {
    Create,
    Patch,
    Get,
    List,
}

async fn steady_phase(api: &Api, options: &ApiBench, payload: &str) -> Result<Steady, String> {
    // Scheduled start of each create, by name, for the watcher's lag.
    let scheduled: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let watch_lag = Arc::new(Mutex::new(Latencies::new()));
    let revision = {
        let list = api
            .send(
                Method::GET,
                &format!("{}?limit=1", api.kind.collection("default")),
                "application/json",
                Bytes::new(),
                StatusCode::OK,
            )
            .await?;
        let list: serde_json::Value = serde_json::from_slice(&list).map_err(|e| e.to_string())?;
        list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("0")
            .to_string()
    };
    let watcher = {
        let (api, scheduled, watch_lag) = (api.clone(), scheduled.clone(), watch_lag.clone());
        let prefix = format!("steady-{}-", api.run);
        tokio::spawn(
            async move { watch_creates(api, revision, prefix, scheduled, watch_lag).await },
        )
    };
    let create = open_loop(
        api,
        options,
        options.rate,
        Verb::Create,
        payload,
        &scheduled,
    )
    .await?;
    let creates = create.count();
    // Give the watcher up to 10 s to see every create.
    let deadline = Instant::now() + Duration::from_secs(10);
    while watch_lag.lock().expect("lock").count() < creates && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    watcher.abort();
    let watch = std::mem::replace(&mut *watch_lag.lock().expect("lock"), Latencies::new());
    if watch.count() < creates {
        return Err(format!(
            "the watcher saw {} of {creates} creates",
            watch.count()
        ));
    }
    let patch = open_loop(api, options, options.rate, Verb::Patch, payload, &scheduled).await?;
    let get = open_loop(api, options, options.rate, Verb::Get, payload, &scheduled).await?;
    let list = open_loop(
        api,
        options,
        (options.rate / 10).max(1),
        Verb::List,
        payload,
        &scheduled,
    )
    .await?;
    let mut mutating = Latencies::new();
    mutating.merge(&create);
    mutating.merge(&patch);
    Ok(Steady {
        create,
        patch,
        get,
        list,
        mutating,
        watch,
    })
}

/// Sends `verb` at `rate` requests/s for `--seconds`, each request on its
/// own task at its scheduled time; latency counts from that time.
async fn open_loop(
    api: &Api,
    options: &ApiBench,
    rate: u32,
    verb: Verb,
    payload: &str,
    scheduled: &Arc<Mutex<HashMap<String, Instant>>>,
) -> Result<Latencies, String> {
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let total = u64::from(rate) * options.seconds;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = started + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (api, payload, scheduled) = (api.clone(), payload.to_string(), scheduled.clone());
        let target = format!(
            "{}/seed-{}",
            api.seeds_path(),
            i as usize % options.list_size
        );
        tasks.push(tokio::spawn(async move {
            let outcome = match verb {
                Verb::Create => {
                    let name = format!("steady-{}-{i}", api.run);
                    scheduled.lock().expect("lock").insert(name.clone(), due);
                    api.create(&name, &payload).await
                }
                Verb::Patch => {
                    let patch = Bytes::from(format!(
                        r#"{{"metadata":{{"labels":{{"touched":"{i}"}}}}}}"#
                    ));
                    api.send(
                        Method::PATCH,
                        &target,
                        "application/merge-patch+json",
                        patch,
                        StatusCode::OK,
                    )
                    .await
                    .map(drop)
                }
                Verb::Get => api
                    .send(
                        Method::GET,
                        &target,
                        "application/json",
                        Bytes::new(),
                        StatusCode::OK,
                    )
                    .await
                    .map(drop),
                Verb::List => api
                    .send(
                        Method::GET,
                        &api.seeds_path(),
                        "application/json",
                        Bytes::new(),
                        StatusCode::OK,
                    )
                    .await
                    .map(drop),
            };
            outcome.map(|()| due.elapsed())
        }));
    }
    let mut latencies = Latencies::new();
    for task in tasks {
        latencies.record(task.await.map_err(|e| e.to_string())??);
    }
    Ok(latencies)
}

/// Reads a watch stream line by line and records each create's lag.
async fn watch_creates(
    api: Api,
    revision: String,
    prefix: String,
    scheduled: Arc<Mutex<HashMap<String, Instant>>>,
    lag: Arc<Mutex<Latencies>>,
) -> Result<(), String> {
    let mut body = api
        .stream(&format!(
            "{}?watch=true&resourceVersion={revision}",
            api.kind.collection("default")
        ))
        .await?;
    let mut buffer = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let event: serde_json::Value =
                serde_json::from_slice(&line).map_err(|e| e.to_string())?;
            let name = event["object"]["metadata"]["name"]
                .as_str()
                .unwrap_or_default();
            if event["type"] == "ADDED" && name.starts_with(&prefix) {
                let due = scheduled.lock().expect("lock").get(name).copied();
                if let Some(due) = due {
                    lag.lock().expect("lock").record(due.elapsed());
                }
            }
        }
    }
    Ok(())
}

async fn throughput_phase(api: &Api, seconds: u64, payload: &str) -> Result<Latencies, String> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let results = futures_util::future::join_all((0..16).map(|client| {
        let (api, payload) = (api.clone(), payload.to_string());
        async move {
            let mut latencies = Latencies::new();
            let mut i = 0;
            while Instant::now() < deadline {
                let started = Instant::now();
                api.create(&format!("max-{}-{client}-{i}", api.run), &payload)
                    .await?;
                latencies.record(started.elapsed());
                i += 1;
            }
            Ok::<_, String>(latencies)
        }
    }))
    .await;
    let mut all = Latencies::new();
    for latencies in results {
        all.merge(&latencies?);
    }
    Ok(all)
}
