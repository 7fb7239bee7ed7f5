//! Wharf's API server: the Kubernetes REST API over the revisioned store.
//!
//! Unmodified kubectl and client libraries are the judge: paths, verbs,
//! discovery, watch, Table output, patches and `Status` errors follow the
//! Kubernetes API conventions. The app is a function, [`app`], so tests can
//! drive it without a socket.

pub mod admission;
pub mod allocator;
pub mod audit;
pub mod authn;
pub mod authz;
mod body;
pub mod certificates;
pub mod client;
mod conversion;
pub mod crds;
mod discovery;
pub mod encryption;
mod eviction;
mod handlers;
pub mod histogram;
mod inflight;
mod kinds;
pub mod kubelet_proxy;
pub mod kubernetes_service;
pub mod logs;
pub mod managed;
pub mod modules;
mod objects;
mod openapi_v2;
mod request;
mod reviews;
mod schema;
pub mod serviceaccounts;
mod table;
mod validation;
mod watch_cache;

// What the API server shares with its clients (`wharf-client`), under the
// paths its modules use.
use wharf_client::{error, meta, patch, resources, selectors};

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::json;
use wharf_client::{ApiError, ApiResult, Registry};
use wharf_store::Store;

pub use admission::{AdmissionChain, Attributes, Operation, StatusUpdate, UserInfo};
pub use client::LocalClient;
pub use discovery::Discovery;
pub use inflight::InflightLimits;
pub use objects::{Objects, revision_of};
pub use watch_cache::{CacheBounds, WatchCache, WatchFilter};

/// What an API server keeps and allows: who may come in anonymously, its
/// watch cache's bounds and its in-flight limits.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApiConfig {
    /// Where anonymous requests may go.
    pub anonymous: authn::Anonymous,
    pub watch_cache: CacheBounds,
    pub inflight: InflightLimits,
    pub modules: modules::ModuleLimits,
}

/// Everything a request handler needs, shared by all of them.
pub struct ApiState {
    pub registry: Arc<Registry>,
    pub objects: Objects,
    /// Discovery as of a generation of the registry (rebuilt when a
    /// CustomResourceDefinition changed what is served).
    discovery: std::sync::RwLock<(u64, Arc<Discovery>)>,
    pub watch_cache: Arc<WatchCache>,
    /// Who asks: certificates, tokens, anonymous.
    pub authentication: authn::Authentication,
    /// What they may do: RBAC.
    pub authorizer: authz::Authorizer,
    /// Set to `true` when the server shuts down: open watches end.
    pub closing: tokio::sync::watch::Sender<bool>,
    /// How often a watch that allows bookmarks gets one (milliseconds;
    /// one minute, as kube-apiserver).
    bookmark_millis: std::sync::atomic::AtomicU64,
    inflight: Arc<inflight::Inflight>,
    pub(crate) module_limits: modules::ModuleLimits,
    /// Held while an uploaded module is read and stored.
    pub(crate) module_uploads: tokio::sync::Mutex<()>,
    /// Modules no Plugin names, since when (for [`modules::collect`]).
    unreferenced_modules: tokio::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// Signs and checks ServiceAccount tokens, once enabled.
    token_issuer: std::sync::OnceLock<Arc<serviceaccounts::TokenIssuer>>,
    /// Where requests are recorded, once enabled.
    audit: std::sync::OnceLock<Arc<audit::AuditLog>>,
    /// How `pods/log` reaches node agents, once enabled.
    kubelet_client: std::sync::OnceLock<Arc<logs::KubeletClient>>,
}

impl ApiState {
    /// The discovery documents of what is served now.
    pub fn discovery(&self) -> Arc<Discovery> {
        let generation = self.registry.generation();
        {
            let (built, discovery) = &*self.discovery.read().expect("discovery");
            if *built == generation {
                return discovery.clone();
            }
        }
        let mut cached = self.discovery.write().expect("discovery");
        if cached.0 != generation {
            *cached = (generation, Arc::new(Discovery::build(&self.registry)));
        }
        cached.1.clone()
    }

    /// Waits until the watch cache has seen `revision` (what a write of a
    /// CustomResourceDefinition changed is then served), for a bounded time.
    pub async fn wait_served(&self, revision: i64) {
        self.watch_cache
            .wait_for(revision, std::time::Duration::from_secs(5))
            .await;
    }

    /// kube's `system-node-critical` and `system-cluster-critical`
    /// PriorityClasses, made when absent.
    async fn ensure_system_priority_classes(&self) -> ApiResult<()> {
        let Some(classes) = self
            .registry
            .by_kind("scheduling.k8s.io", "v1", "PriorityClass")
        else {
            return Ok(());
        };
        for class in kinds::priority_class::system_classes() {
            match self.objects.create(&classes, None, class, false).await {
                Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// How often watches that allow bookmarks get one.
    pub fn bookmark_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(
            self.bookmark_millis
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Sets how often watches get a bookmark (tests).
    pub fn set_bookmark_interval(&self, interval: std::time::Duration) {
        let millis = u64::try_from(interval.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.bookmark_millis
            .store(millis, std::sync::atomic::Ordering::Relaxed);
    }

    /// The API server's state over `store`: registry, discovery, watch cache,
    /// and the namespaces every cluster starts with.
    pub async fn new(store: Arc<dyn Store>) -> ApiResult<Arc<Self>> {
        Self::with_config(store, ApiConfig::default()).await
    }

    /// [`new`](Self::new) with other bounds and limits.
    pub async fn with_config(store: Arc<dyn Store>, config: ApiConfig) -> ApiResult<Arc<Self>> {
        let registry = Arc::new(Registry::builtin());
        let objects = Objects::new(store.clone(), registry.clone());
        let watch_cache = WatchCache::start(store, registry.clone(), config.watch_cache).await?;
        let (closing, _) = tokio::sync::watch::channel(false);
        let state = Arc::new(Self {
            discovery: std::sync::RwLock::new((
                registry.generation(),
                Arc::new(Discovery::build(&registry)),
            )),
            registry,
            objects,
            watch_cache,
            authentication: authn::Authentication::new(config.anonymous),
            authorizer: authz::Authorizer::default(),
            closing,
            bookmark_millis: std::sync::atomic::AtomicU64::new(60_000),
            inflight: Arc::new(inflight::Inflight::new(config.inflight)),
            module_limits: config.modules,
            module_uploads: tokio::sync::Mutex::new(()),
            unreferenced_modules: Default::default(),
            token_issuer: std::sync::OnceLock::new(),
            audit: std::sync::OnceLock::new(),
            kubelet_client: std::sync::OnceLock::new(),
        });
        state.ensure_system_namespaces().await?;
        authz::policy::ensure_defaults(&state).await?;
        state.ensure_system_priority_classes().await?;
        crds::spawn_cleanup(&state);
        crds::spawn_naming(&state);
        // kube-apiserver's repair loops: free ClusterIPs and NodePorts that
        // no Service holds, at start and every three minutes.
        let weak = Arc::downgrade(&state);
        tokio::spawn(async move {
            loop {
                let Some(state) = weak.upgrade() else { return };
                state.repair_allocations().await;
                drop(state);
                tokio::time::sleep(std::time::Duration::from_secs(180)).await;
            }
        });
        // Modules no Plugin names go after the grace period.
        let weak = Arc::downgrade(&state);
        let every = (config.modules.grace / 4).clamp(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(60),
        );
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(state) = weak.upgrade() else { return };
                if let Err(error) = state.collect_modules().await {
                    tracing::warn!(%error, "collecting unused modules failed");
                }
            }
        });
        Ok(state)
    }

    /// Deletes the modules no Plugin has named for the grace period;
    /// returns their digests.
    pub async fn collect_modules(&self) -> ApiResult<Vec<String>> {
        let Some(plugins) = self.registry.by_kind("wharf.dev", "v1alpha1", "Plugin") else {
            return Ok(Vec::new());
        };
        let listed = self
            .objects
            .list(&plugins, None, &objects::ListParams::default())
            .await?;
        let referenced = listed
            .items
            .iter()
            .filter_map(|plugin| plugin["spec"]["module"].as_str().map(str::to_string))
            .collect();
        // Uploads wait: a module stored after the list is not yet named.
        let _uploads = self.module_uploads.lock().await;
        let mut unreferenced = self.unreferenced_modules.lock().await;
        modules::collect(
            self.objects.store.as_ref(),
            &referenced,
            self.module_limits.grace,
            &mut unreferenced,
        )
        .await
    }

    async fn repair_allocations(&self) {
        let Some(services) = self.registry.by_kind("", "v1", "Service") else {
            return;
        };
        match self
            .objects
            .list(&services, None, &objects::ListParams::default())
            .await
        {
            Ok(listed) => self.objects.allocator.repair(&listed.items).await,
            Err(error) => tracing::warn!(%error, "allocation repair: listing services failed"),
        }
    }

    /// Ends every open watch (for a graceful shutdown).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    async fn ensure_system_namespaces(&self) -> ApiResult<()> {
        let namespaces = self.registry.namespace();
        for name in objects::IMMORTAL_NAMESPACES {
            let object =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            match self.objects.create(&namespaces, None, object, false).await {
                Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

/// How long a client may take to send a request's headers
/// (kube-apiserver's `ReadHeaderTimeout`): a connection that trickles them
/// (slow loris) is closed, not held.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(32);

/// The most connections served at once; past it a new one is closed at
/// once (each holds a file descriptor: `wharf up` raises its limit).
pub const MAX_CONNECTIONS: usize = 16_384;

/// The first byte of a TLS client's first record (a handshake).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Serves `app(state)` over TLS (`tls`: the serving certificate and the
/// client CA, see `wharf_pki::server_config`) on `listener` until
/// `shutdown` resolves: HTTP/1.1 and HTTP/2 (with upgrades, for exec and
/// attach), `TCP_NODELAY` on every connection so that small watch events
/// and responses are not held back by Nagle's algorithm,
/// [`HEADER_READ_TIMEOUT`] (for the TLS handshake too) and
/// [`MAX_CONNECTIONS`]. The user a client certificate names goes with each
/// of its connection's requests ([`authn::PeerCertificate`]). On shutdown
/// open watches end and every connection is drained.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ApiState>,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, tls, shutdown, HEADER_READ_TIMEOUT).await
}

/// [`serve`] with another header-read timeout (tests).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: Arc<ApiState>,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    header_read_timeout: std::time::Duration,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    // HTTP/2 peers that stop answering pings are dropped.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(std::time::Duration::from_secs(30))
        .keep_alive_timeout(std::time::Duration::from_secs(20));
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let router = app(state.clone());
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, most likely: let some close.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!("{MAX_CONNECTIONS} connections open; closing a new one");
            continue;
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "cannot set TCP_NODELAY");
        }
        let (builder, router, watcher, acceptor) = (
            builder.clone(),
            router.clone(),
            graceful.watcher(),
            acceptor.clone(),
        );
        let remote = stream.peer_addr().ok();
        tokio::spawn(async move {
            // A connection that does not finish its handshake in the
            // header-read timeout is closed (hyper's own timeout bounds a
            // kept-alive connection's idling between requests).
            // A plain HTTP request is answered as Go's TLS servers (and so
            // kube-apiserver) answer it, not with a TLS alert.
            let mut first = [0u8; 1];
            match tokio::time::timeout(header_read_timeout, stream.peek(&mut first)).await {
                Ok(Ok(read)) if read > 0 => {}
                _ => return,
            }
            if first[0] != TLS_HANDSHAKE_RECORD {
                refuse_plain_http(stream, header_read_timeout).await;
                return;
            }
            let stream =
                match tokio::time::timeout(header_read_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        tracing::debug!(%error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            // A connection that sends no request after its handshake is
            // closed after the timeout too (hyper's own starts with the
            // first byte of a request).
            let mut stream = tokio::io::BufReader::new(stream);
            match tokio::time::timeout(
                header_read_timeout,
                tokio::io::AsyncBufReadExt::fill_buf(&mut stream),
            )
            .await
            {
                Ok(Ok(read)) if !read.is_empty() => {}
                _ => return,
            }
            let peer = stream
                .get_ref()
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|cert| wharf_pki::client_identity(cert))
                .map(|(username, groups)| UserInfo { username, groups });
            let peer = authn::PeerCertificate(peer);
            let service = TowerToHyperService::new(router.map_request(
                move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(peer.clone());
                    request.extensions_mut().insert(audit::RemoteAddr(remote));
                    request
                },
            ));
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            let _ = watcher.watch(connection).await;
            drop(slot);
        });
    }
    drop(listener);
    state.close();
    graceful.shutdown().await;
    Ok(())
}

/// Answers a plain HTTP request on the TLS port with Go's 400, after
/// reading its headers (closing with them unread would reset the
/// connection before the client reads the answer).
async fn refuse_plain_http(mut stream: tokio::net::TcpStream, timeout: std::time::Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    let read_head = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => head.extend_from_slice(&buffer[..read]),
            }
        }
    };
    if tokio::time::timeout(timeout, read_head).await.is_err() {
        return;
    }
    let _ = stream
        .write_all(
            b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
        )
        .await;
    let _ = stream.shutdown().await;
}

/// The API server's routes.
pub fn app(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/api", get(api_root))
        .route("/apis", get(apis_root))
        .route("/api/v1", get(core_resources))
        .route("/apis/{group}", get(group_document))
        .route("/apis/{group}/{version}", get(group_resources))
        .route("/api/v1/{*rest}", any(handlers::core))
        .route("/apis/{group}/{version}/{*rest}", any(handlers::grouped))
        .route("/wharf/v1/modules", axum::routing::post(modules::upload))
        .route("/wharf/v1/modules/{digest}", get(modules::download))
        .route("/version", get(version))
        .route("/openapi/v2", get(openapi_v2))
        .route("/openapi/v3", get(openapi_root))
        .route("/openapi/v3/{*path}", get(openapi_document))
        .route("/livez", get(healthy))
        .route("/readyz", get(healthy))
        .route("/healthz", get(healthy))
        .route("/livez/{*check}", get(healthy))
        .route("/readyz/{*check}", get(healthy))
        .route("/healthz/{*check}", get(healthy))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.inflight.clone(),
            inflight::limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authz::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            audit::layer,
        ))
        // Outermost: nothing is done for a client not authenticated.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authn::layer,
        ))
        .with_state(state)
}

fn bytes_response(content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn discovery_response(headers: &HeaderMap, aggregated: &[u8], legacy: &[u8]) -> Response {
    if request::wants_aggregated_discovery(headers) {
        bytes_response(discovery::AGGREGATED_CONTENT_TYPE, aggregated.to_vec())
    } else {
        bytes_response("application/json", legacy.to_vec())
    }
}

async fn api_root(State(state): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    discovery_response(
        &headers,
        &state.discovery().aggregated_core,
        &state.discovery().legacy_core,
    )
}

async fn apis_root(State(state): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    discovery_response(
        &headers,
        &state.discovery().aggregated_groups,
        &state.discovery().legacy_groups,
    )
}

async fn core_resources(State(state): State<Arc<ApiState>>) -> Response {
    match state.discovery().resource_lists.get("v1") {
        Some(list) => bytes_response("application/json", list.clone()),
        None => ApiError::NoSuchPath("the server could not find the requested resource".into())
            .into_response(),
    }
}

async fn group_document(State(state): State<Arc<ApiState>>, Path(group): Path<String>) -> Response {
    match state.discovery().groups.get(&group) {
        Some(document) => bytes_response("application/json", document.clone()),
        None => ApiError::NoSuchPath(format!(
            "the server could not find the requested resource (group {group})"
        ))
        .into_response(),
    }
}

async fn group_resources(
    State(state): State<Arc<ApiState>>,
    Path((group, version)): Path<(String, String)>,
) -> Response {
    match state
        .discovery()
        .resource_lists
        .get(&format!("{group}/{version}"))
    {
        Some(list) => bytes_response("application/json", list.clone()),
        None => ApiError::NoSuchPath(format!(
            "the server could not find the requested resource ({group}/{version})"
        ))
        .into_response(),
    }
}

async fn version(State(state): State<Arc<ApiState>>) -> Response {
    bytes_response("application/json", state.discovery().version.clone())
}

/// The Swagger 2.0 document, in protobuf when asked for (as kubectl does).
async fn openapi_v2(State(state): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    let discovery = state.discovery();
    let (json, protobuf) = discovery.openapi_v2();
    let wants_protobuf = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept.contains(openapi_v2::PROTOBUF) || accept.contains(openapi_v2::PROTOBUF_ANSWER)
        });
    if wants_protobuf {
        bytes_response(openapi_v2::PROTOBUF_ANSWER, protobuf.clone())
    } else {
        bytes_response("application/json", json.clone())
    }
}

async fn openapi_root(State(state): State<Arc<ApiState>>) -> Response {
    bytes_response("application/json", state.discovery().openapi_root.clone())
}

async fn openapi_document(
    State(state): State<Arc<ApiState>>,
    Path(path): Path<String>,
) -> Response {
    let discovery = state.discovery();
    match discovery.openapi(path.trim_end_matches('/')) {
        Some(document) => {
            let mut response = bytes_response("application/json", document.to_vec());
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, immutable"),
            );
            response
        }
        None => ApiError::NoSuchPath(format!("no OpenAPI document for {path}")).into_response(),
    }
}

async fn healthy() -> &'static str {
    "ok"
}

async fn not_found() -> Response {
    ApiError::NoSuchPath("the server could not find the requested resource".into()).into_response()
}
