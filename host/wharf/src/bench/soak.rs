//! `wharf bench soak`: an API server under mixed load for minutes, its
//! memory watched. The server is `wharf up --no-controllers` in a process of
//! its own (its RSS is its own), on a temporary data directory, with the
//! default bounds. The load:
//!
//! - small ConfigMaps created, merge-patched and deleted (about 1,000 live);
//! - 1 MiB ConfigMaps replaced over and over in a namespace of their own;
//! - watches: most on the small objects, some on the big ones, and some on
//!   the big ones that never read a byte;
//! - idle connections, each sending one request and then nothing (the server
//!   closes them; they connect again);
//! - hostile requests (issue 12's list), each of which must get a 4xx.
//!
//! Every minute it prints the server's RSS. At the end every reading watcher
//! must hold what a final list holds (the name → resourceVersion of every
//! object), each having relisted only when told 410 Expired. The last line
//! ends with `peak RSS N MiB`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use wharf_apiserver::revision_of;
use wharf_client::ClusterAccess;

use super::api::Api;

#[derive(clap::Args)]
pub struct SoakBench {
    /// Minutes of load.
    #[arg(long, default_value_t = 10)]
    minutes: u64,
    /// Watches that read (most on small objects, a tenth on the big ones).
    #[arg(long, default_value_t = 190)]
    watches: usize,
    /// Watches on the big objects that never read.
    #[arg(long, default_value_t = 10)]
    stuck_watches: usize,
    /// Idle connections.
    #[arg(long, default_value_t = 1000)]
    idle: usize,
    /// Replacements of 1 MiB objects per second.
    #[arg(long, default_value_t = 4)]
    big_rate: u32,
    /// Creates (and as many patches and deletes) of small objects per second.
    #[arg(long, default_value_t = 40)]
    small_rate: u32,
}

const SMALL: &str = "soak-small";
const BIG: &str = "soak-big";

/// What the load saw.
#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    server_errors: AtomicU64,
    overloaded: AtomicU64,
    hostile_refused: AtomicU64,
    hostile_accepted: AtomicU64,
    events: AtomicU64,
    relists: AtomicU64,
    rewatches: AtomicU64,
    reconnects: AtomicU64,
    disorder: AtomicU64,
}

impl Counts {
    /// Counts a response: 5xx other than 503/504 are failures, 429 and 504
    /// are overload.
    fn answered(&self, status: StatusCode) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        match status.as_u16() {
            429 | 504 => {
                self.overloaded.fetch_add(1, Ordering::Relaxed);
            }
            500..=599 => {
                self.server_errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// The server process, stopped when dropped.
struct Server {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Resident memory now and at its peak (VmRSS, VmHWM), in MiB.
    fn rss_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
                .map_or(0.0, |kib| kib / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

async fn start_server() -> Result<(Server, ClusterAccess), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let child = std::process::Command::new(exe)
        .args([
            "up",
            "--no-controllers",
            "--no-node",
            "--no-proxy",
            "--listen",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("starting wharf up: {e}"))?;
    let kubeconfig = dir.path().join("kubeconfig");
    let server = Server { child, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(60);
    // The kubeconfig is written once the server listens.
    loop {
        if let Ok(access) = ClusterAccess::from_kubeconfig(&kubeconfig, None) {
            let api = Api::new(&access, false)?;
            let ready = api
                .send(
                    Method::GET,
                    "/readyz",
                    "text/plain",
                    Bytes::new(),
                    StatusCode::OK,
                )
                .await;
            if ready.is_ok() {
                return Ok((server, access));
            }
        }
        if Instant::now() > deadline {
            return Err("the server was not ready within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn run(options: SoakBench) -> Result<(), String> {
    let (server, access) = start_server().await?;
    let api = Api::new(&access, false)?;
    for namespace in [SMALL, BIG] {
        api.send(
            Method::POST,
            "/api/v1/namespaces",
            "application/json",
            Bytes::from(json!({"metadata": {"name": namespace}}).to_string()),
            StatusCode::CREATED,
        )
        .await?;
    }
    let (rss, _) = server.rss_mib();
    println!(
        "server: wharf up --no-controllers (pid {}), {rss:.0} MiB RSS at start; {} min of load: {} small creates/s (and patches, deletes), {} 1 MiB replacements/s, {} reading watches, {} that never read, {} idle connections, hostile requests",
        server.child.id(),
        options.minutes,
        options.small_rate,
        options.big_rate,
        options.watches,
        options.stuck_watches,
        options.idle
    );

    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(small_load(
        api.clone(),
        options.small_rate,
        counts.clone(),
        stop.clone(),
    ));
    tasks.spawn(big_load(
        api.clone(),
        options.big_rate,
        counts.clone(),
        stop.clone(),
    ));
    tasks.spawn(hostile_load(api.clone(), counts.clone(), stop.clone()));
    for _ in 0..options.idle {
        tasks.spawn(idle_connection(api.clone(), counts.clone(), stop.clone()));
    }
    let mut stuck = Vec::new();
    for _ in 0..options.stuck_watches {
        stuck.push(stuck_watch(&api, BIG).await?);
    }
    let mut watchers = Vec::new();
    for i in 0..options.watches {
        let namespace = if i % 10 == 9 { BIG } else { SMALL };
        let view = Arc::new(std::sync::Mutex::new(View::default()));
        watchers.push((namespace, view.clone()));
        tokio::spawn(watcher(access.clone(), namespace, view, counts.clone()));
    }

    let started = Instant::now();
    let mut samples = Vec::new();
    let mut peak: f64 = 0.0;
    for minute in 1..=options.minutes {
        tokio::time::sleep_until((started + Duration::from_secs(60 * minute)).into()).await;
        let (rss, hwm) = server.rss_mib();
        peak = peak.max(hwm);
        samples.push(rss);
        println!(
            "minute {minute:>2}: RSS {rss:.0} MiB (peak {hwm:.0}); {} requests, {} 5xx, {} 429/504; {} watch events, {} relists after 410, {} watches resumed; {} idle reconnects",
            counts.requests.load(Ordering::Relaxed),
            counts.server_errors.load(Ordering::Relaxed),
            counts.overloaded.load(Ordering::Relaxed),
            counts.events.load(Ordering::Relaxed),
            counts.relists.load(Ordering::Relaxed),
            counts.rewatches.load(Ordering::Relaxed),
            counts.reconnects.load(Ordering::Relaxed),
        );
    }
    stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    drop(stuck);

    // Every reading watcher must come to hold what a list holds.
    let mut consistent = 0;
    for namespace in [SMALL, BIG] {
        let (revision, truth) = list(&api, namespace).await?;
        // One more write moves every watcher of the namespace past the list.
        let sentinel =
            json!({"metadata": {"name": "sentinel"}, "data": {"at": revision.to_string()}});
        let body = api
            .send(
                Method::POST,
                &format!("/api/v1/namespaces/{namespace}/configmaps"),
                "application/json",
                Bytes::from(sentinel.to_string()),
                StatusCode::CREATED,
            )
            .await?;
        let sentinel: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let sentinel_revision = revision_of(&sentinel);
        let deadline = Instant::now() + Duration::from_secs(120);
        for (watched, view) in watchers.iter().filter(|(n, _)| *n == namespace) {
            loop {
                let caught_up = view.lock().expect("view").revision >= sentinel_revision;
                if caught_up {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "a watcher of {watched} did not reach revision {sentinel_revision} within 120 s"
                    ));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let view = view.lock().expect("view");
            let mut objects = view.objects.clone();
            objects.remove("sentinel");
            if objects != truth {
                return Err(format!(
                    "a watcher of {namespace} holds {} objects where the list holds {}",
                    objects.len(),
                    truth.len()
                ));
            }
            consistent += 1;
        }
    }
    let disorder = counts.disorder.load(Ordering::Relaxed);
    if disorder > 0 {
        return Err(format!("{disorder} watch events came out of order"));
    }
    let server_errors = counts.server_errors.load(Ordering::Relaxed);
    let accepted = counts.hostile_accepted.load(Ordering::Relaxed);
    let last = &samples[samples.len().saturating_sub(5)..];
    let (low, high) = last.iter().fold((f64::MAX, 0.0f64), |(lo, hi), rss| {
        (lo.min(*rss), hi.max(*rss))
    });
    println!(
        "hostile requests: {} refused with 4xx, {accepted} accepted; 5xx other than 429/504: {server_errors}",
        counts.hostile_refused.load(Ordering::Relaxed)
    );
    println!(
        "watchers: {consistent} of {} consistent with a final list",
        watchers.len()
    );
    println!(
        "RSS over the last {} minutes: {low:.0}–{high:.0} MiB ({:.1}% apart)",
        last.len(),
        if low > 0.0 {
            (high - low) / low * 100.0
        } else {
            0.0
        }
    );
    println!(
        "soak: {} min, {} requests, {server_errors} 5xx, {accepted} hostile accepted, {consistent}/{} watchers consistent, peak RSS {peak:.0} MiB",
        options.minutes,
        counts.requests.load(Ordering::Relaxed),
        watchers.len()
    );
    Ok(())
}

/// A namespace's ConfigMaps: the list's revision and name → resourceVersion.
async fn list(api: &Api, namespace: &str) -> Result<(i64, HashMap<String, i64>), String> {
    let body = api
        .send(
            Method::GET,
            &format!("/api/v1/namespaces/{namespace}/configmaps"),
            "application/json",
            Bytes::new(),
            StatusCode::OK,
        )
        .await?;
    let list: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let objects = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| {
            Some((
                item["metadata"]["name"].as_str()?.to_string(),
                revision_of(item),
            ))
        })
        .collect();
    Ok((revision_of(&list), objects))
}

/// Sends one request and counts its answer; returns the status and body.
async fn request(
    api: &Api,
    counts: &Counts,
    method: Method,
    path: &str,
    content_type: &str,
    body: Bytes,
) -> Option<(StatusCode, Bytes)> {
    let answer = api.request(method, path, content_type, body).await.ok()?;
    counts.answered(answer.0);
    Some(answer)
}

/// Steps at `rate` per second until `stop`.
struct Pacer<'a> {
    ticker: tokio::time::Interval,
    step: u64,
    stop: &'a AtomicBool,
}

impl<'a> Pacer<'a> {
    fn new(rate: u32, stop: &'a AtomicBool) -> Self {
        let mut ticker =
            tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self {
            ticker,
            step: 0,
            stop,
        }
    }

    /// The next step's number, on time; `None` once stopped.
    async fn next(&mut self) -> Option<u64> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        self.ticker.tick().await;
        self.step += 1;
        Some(self.step - 1)
    }
}

/// Creates, patches and deletes small ConfigMaps, about 1,000 live.
async fn small_load(api: Api, rate: u32, counts: Arc<Counts>, stop: Arc<AtomicBool>) {
    let path = format!("/api/v1/namespaces/{SMALL}/configmaps");
    let mut pacer = Pacer::new(rate, &stop);
    while let Some(i) = pacer.next().await {
        let body = json!({"metadata": {"name": format!("small-{i}"), "labels": {"n": (i % 7).to_string()}}, "data": {"v": "x".repeat(512)}});
        request(
            &api,
            &counts,
            Method::POST,
            &path,
            "application/json",
            Bytes::from(body.to_string()),
        )
        .await;
        if i >= 10 {
            let patch = json!({"data": {"patched": i.to_string()}});
            let target = format!("{path}/small-{}", i - 10);
            request(
                &api,
                &counts,
                Method::PATCH,
                &target,
                "application/merge-patch+json",
                Bytes::from(patch.to_string()),
            )
            .await;
        }
        if i >= 1000 {
            let target = format!("{path}/small-{}", i - 1000);
            request(
                &api,
                &counts,
                Method::DELETE,
                &target,
                "application/json",
                Bytes::new(),
            )
            .await;
        }
    }
}

/// Replaces four 1 MiB ConfigMaps in turn.
async fn big_load(api: Api, rate: u32, counts: Arc<Counts>, stop: Arc<AtomicBool>) {
    let path = format!("/api/v1/namespaces/{BIG}/configmaps");
    let blob = "b".repeat((1 << 20) - 4096);
    let mut pacer = Pacer::new(rate, &stop);
    while let Some(i) = pacer.next().await {
        let name = format!("big-{}", i % 4);
        let body =
            json!({"metadata": {"name": name}, "data": {"blob": blob, "round": i.to_string()}});
        if i < 4 {
            request(
                &api,
                &counts,
                Method::POST,
                &path,
                "application/json",
                Bytes::from(body.to_string()),
            )
            .await;
        } else {
            request(
                &api,
                &counts,
                Method::PUT,
                &format!("{path}/{name}"),
                "application/json",
                Bytes::from(body.to_string()),
            )
            .await;
        }
    }
}

/// Issue 12's hostile requests, one every half second; each must get a 4xx.
async fn hostile_load(api: Api, counts: Arc<Counts>, stop: Arc<AtomicBool>) {
    let path = format!("/api/v1/namespaces/{SMALL}/configmaps");
    let copies: Vec<Value> = (0..25)
        .map(|_| json!({"op": "copy", "from": "/data", "path": "/data/x"}))
        .collect();
    let hostile: Vec<(Method, String, &str, Bytes)> = vec![
        (Method::POST, path.clone(), "application/json", Bytes::from(json!({"metadata": {"name": "hostile-target", "labels": {"a": "1"}}, "data": {"a": "b"}}).to_string())),
        (Method::PATCH, format!("{path}/hostile-target"), "application/json-patch+json", Bytes::from(Value::Array(copies).to_string())),
        (Method::POST, path.clone(), "application/json", Bytes::from(json!({"metadata": {"name": "too-big"}, "data": {"a": "x".repeat((1 << 20) + 10)}}).to_string())),
        (Method::POST, path.clone(), "application/json", Bytes::from(vec![b'x'; 4 << 20])),
        (Method::DELETE, "/api/v1/namespaces/default".into(), "application/json", Bytes::new()),
        (Method::PUT, format!("{path}/hostile-target"), "application/json", Bytes::from(json!({"metadata": {"name": "hostile-target", "namespace": "other"}}).to_string())),
        (Method::PATCH, format!("{path}/hostile-target"), "application/strategic-merge-patch+json", Bytes::from(r#"{"metadata": {"$deleteFromPrimitiveList/labels": ["a"]}}"#)),
        (Method::POST, format!("{path}?fieldValidation=Strict"), "application/json", Bytes::from(r#"{"metadata": {"name": "twice", "name": "twice"}}"#)),
        (Method::PATCH, format!("{path}/hostile-target"), "application/merge-patch+json", Bytes::from(json!({"metadata": {"uid": "forged"}}).to_string())),
        (Method::GET, format!("{path}?resourceVersionMatch=Exact"), "application/json", Bytes::new()),
        (Method::GET, format!("{path}?labelSelector=a%20in%20(((("), "application/json", Bytes::new()),
    ];
    let mut pacer = Pacer::new(2, &stop);
    while let Some(i) = pacer.next().await {
        let (method, target, content_type, body) = &hostile[i as usize % hostile.len()];
        let Some((status, _)) = request(
            &api,
            &counts,
            method.clone(),
            target,
            content_type,
            body.clone(),
        )
        .await
        else {
            continue;
        };
        // The first one only makes the target.
        if (i as usize).is_multiple_of(hostile.len()) {
            continue;
        }
        if status.is_client_error() {
            counts.hostile_refused.fetch_add(1, Ordering::Relaxed);
        } else if !matches!(status.as_u16(), 429 | 504) {
            counts.hostile_accepted.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One idle connection: a request, then nothing until the server closes it;
/// then again.
async fn idle_connection(api: Api, counts: Arc<Counts>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = api.connect_raw().await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        if stream
            .write_all(b"GET /livez HTTP/1.1\r\nHost: wharf\r\n\r\n")
            .await
            .is_err()
        {
            continue;
        }
        let mut buffer = [0u8; 4096];
        // The answer, then the server's close after its idle timeout.
        loop {
            match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buffer)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(_)) => {}
                Err(_) if stop.load(Ordering::Relaxed) => return,
                Err(_) => {}
            }
        }
        counts.reconnects.fetch_add(1, Ordering::Relaxed);
    }
}

/// A watch on `namespace` whose client never reads: the connection is held.
async fn stuck_watch(
    api: &Api,
    namespace: &str,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let mut stream = api.connect_raw().await?;
    let request = format!(
        "GET /api/v1/namespaces/{namespace}/configmaps?watch=true HTTP/1.1\r\nHost: wharf\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    Ok(stream)
}

/// What one watcher has seen: name → resourceVersion, and how far it is.
#[derive(Default)]
struct View {
    objects: HashMap<String, i64>,
    revision: i64,
}

/// A reading watcher, as an informer: list, watch from the list's revision
/// with bookmarks, resume from the last revision seen when the watch ends,
/// list again only on 410 Expired.
async fn watcher(
    access: ClusterAccess,
    namespace: &str,
    view: Arc<std::sync::Mutex<View>>,
    counts: Arc<Counts>,
) {
    let Ok(api) = Api::new(&access, false) else {
        return;
    };
    let mut listed = false;
    loop {
        if !listed {
            match list(&api, namespace).await {
                Ok((revision, objects)) => {
                    let mut view = view.lock().expect("view");
                    view.objects = objects;
                    view.revision = revision;
                    listed = true;
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        let from = view.lock().expect("view").revision;
        let path = format!(
            "/api/v1/namespaces/{namespace}/configmaps?watch=true&allowWatchBookmarks=true&resourceVersion={from}"
        );
        let Ok(mut body) = api.stream(&path).await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let mut buffer = Vec::new();
        'stream: while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buffer.extend_from_slice(&data);
            while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                let Ok(event) = serde_json::from_slice::<Value>(&line) else {
                    continue;
                };
                let object = &event["object"];
                let revision = revision_of(object);
                let mut view = view.lock().expect("view");
                match event["type"].as_str() {
                    Some("ERROR") => {
                        if object["code"] == 410 {
                            counts.relists.fetch_add(1, Ordering::Relaxed);
                            listed = false;
                        }
                        break 'stream;
                    }
                    Some("BOOKMARK") => {
                        if revision < view.revision {
                            counts.disorder.fetch_add(1, Ordering::Relaxed);
                        }
                        view.revision = view.revision.max(revision);
                    }
                    Some(kind) => {
                        counts.events.fetch_add(1, Ordering::Relaxed);
                        if revision <= view.revision {
                            counts.disorder.fetch_add(1, Ordering::Relaxed);
                        }
                        view.revision = view.revision.max(revision);
                        let name = object["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string();
                        if kind == "DELETED" {
                            view.objects.remove(&name);
                        } else {
                            view.objects.insert(name, revision);
                        }
                    }
                    None => {}
                }
            }
        }
        counts.rewatches.fetch_add(1, Ordering::Relaxed);
    }
}
