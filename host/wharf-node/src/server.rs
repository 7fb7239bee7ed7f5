//! The agent's HTTPS API, on the kubelet's port (10250 unless configured):
//! `GET /containerLogs/{namespace}/{pod}/{container}` with `follow`,
//! `tailLines`, `previous` and `limitBytes`, which the API server's
//! `pods/log` streams to `kubectl logs`. As the kubelet's, it serves a
//! certificate of the cluster CA and answers only the API server: a
//! client certificate of that CA naming `kube-apiserver-kubelet-client`
//! (or a member of `system:masters`). A request without a certificate gets
//! 401, one with another user's 403.
//!
//! `GET /exec/{namespace}/{pod}/{container}?command=…&stdin=…&stdout=…&stderr=…&tty=…`
//! upgrades to a WebSocket speaking `v5.channel.k8s.io` or
//! `v4.channel.k8s.io` ([`crate::streaming`]) and runs the command in the
//! running container through the runtime driver ([`Streams`]): what the
//! API server's `pods/exec` joins `kubectl exec` to. At most
//! [`MAX_STREAMS`] run at once; one idle for [`STREAM_IDLE`] is ended.
//!
//! Log files hold the process's output as written (no per-line timestamps),
//! so `timestamps` and `sinceSeconds` are accepted and ignored.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;

use crate::agent::logs::logs_dir;

/// The user of the API server's client certificate for kubelets
/// (kubeadm's `apiserver-kubelet-client`).
pub const KUBELET_CLIENT_USER: &str = "kube-apiserver-kubelet-client";

struct ApiState {
    data_dir: PathBuf,
    streams: Arc<dyn Streams>,
    /// One permit per stream running.
    permits: Arc<tokio::sync::Semaphore>,
}

/// Streams at once per node; more get 429.
pub const MAX_STREAMS: usize = 64;

/// A stream with no traffic either way for this long is ended (kubelet's
/// `--streaming-connection-idle-timeout` default).
pub const STREAM_IDLE: Duration = Duration::from_secs(4 * 3600);

/// What the API reaches inside running containers.
pub trait Streams: Send + Sync {
    /// Starts `request.command` in `container` of `namespace/pod`.
    fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        request: &crate::agent::enter::ExecRequest<'_>,
    ) -> Result<crate::streaming::Session, StreamError>;
}

/// Why a stream could not start.
#[derive(Debug)]
pub enum StreamError {
    /// No such pod or running container here (404).
    NotFound(String),
    /// The runtime could not start it (500, its message).
    Failed(String),
}

/// Who the connection's client certificate names, if anyone.
#[derive(Clone)]
struct Peer(Option<(String, Vec<String>)>);

/// Serves the agent's API over TLS (`tls`: its serving certificate, and
/// client certificates of the cluster CA) on `listener` until `shutdown`
/// resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    data_dir: PathBuf,
    streams: Arc<dyn Streams>,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let state = Arc::new(ApiState {
        data_dir,
        streams,
        permits: Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)),
    });
    let app = Router::new()
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(container_logs),
        )
        .route("/exec/{namespace}/{pod}/{container}", get(exec))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "the node agent's API: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let (app, acceptor) = (app.clone(), acceptor.clone());
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(
                Duration::from_secs(10),
                acceptor.accept(stream),
            )
            .await
            {
                Ok(Ok(stream)) => stream,
                _ => return,
            };
            let peer = Peer(
                stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .and_then(|cert| wharf_pki::client_identity(cert)),
            );
            let service = TowerToHyperService::new(app.map_request(
                move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(peer.clone());
                    request
                },
            ));
            let _ = Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// 401 without a client certificate, 403 for anyone but the API server.
fn refused(peer: &Peer) -> Option<Response> {
    match &peer.0 {
        None => Some(error(StatusCode::UNAUTHORIZED, "Unauthorized".into())),
        Some((user, groups))
            if user == KUBELET_CLIENT_USER || groups.iter().any(|g| g == "system:masters") =>
        {
            None
        }
        Some((user, _)) => Some(error(
            StatusCode::FORBIDDEN,
            format!("Forbidden (user={user}, verb=get, resource=nodes, subresource=log)"),
        )),
    }
}

/// `kubectl exec`: the command's streams over a WebSocket.
async fn exec(
    State(state): State<Arc<ApiState>>,
    UrlPath((namespace, pod, container)): UrlPath<(String, String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    axum::Extension(peer): axum::Extension<Peer>,
    upgrade: Result<
        axum::extract::ws::WebSocketUpgrade,
        axum::extract::ws::rejection::WebSocketUpgradeRejection,
    >,
) -> Response {
    use crate::streaming::{Frame, PROTOCOLS};
    use futures_util::{SinkExt, StreamExt};
    if let Some(refusal) = refused(&peer) {
        return refusal;
    }
    let Ok(upgrade) = upgrade else {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "exec needs a WebSocket upgrade offering {}",
                PROTOCOLS.join(" or ")
            ),
        );
    };
    let upgrade = upgrade.protocols(PROTOCOLS);
    if upgrade.selected_protocol().is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "none of the offered protocols is served: offer {}",
                PROTOCOLS.join(" or ")
            ),
        );
    }
    let flag = |key: &str| {
        query
            .iter()
            .any(|(k, v)| k == key && (v == "true" || v == "1"))
    };
    let command: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    let Ok(permit) = state.permits.clone().try_acquire_owned() else {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            format!("this node runs {MAX_STREAMS} streams already"),
        );
    };
    let request = crate::agent::enter::ExecRequest {
        command: &command,
        stdin: flag("stdin"),
        stdout: flag("stdout"),
        stderr: flag("stderr"),
        tty: flag("tty"),
    };
    let session = match state.streams.exec(&namespace, &pod, &container, &request) {
        Ok(session) => session,
        Err(StreamError::NotFound(message)) => return error(StatusCode::NOT_FOUND, message),
        Err(StreamError::Failed(message)) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, message);
        }
    };
    upgrade.on_upgrade(move |socket| async move {
        use axum::extract::ws::Message;
        let socket = socket
            .with(|frame: Frame| async move {
                Ok::<_, axum::Error>(match frame {
                    Frame::Binary(bytes) => Message::Binary(bytes.into()),
                    // A normal closure (1000): clients read it as the
                    // streams' end, a bare close as an error.
                    Frame::Close => Message::Close(Some(axum::extract::ws::CloseFrame {
                        code: axum::extract::ws::close_code::NORMAL,
                        reason: "".into(),
                    })),
                })
            })
            .filter_map(|message| async move {
                match message {
                    Ok(Message::Binary(bytes)) => Some(Frame::Binary(bytes.to_vec())),
                    Ok(Message::Close(_)) | Err(_) => Some(Frame::Close),
                    Ok(_) => None,
                }
            });
        crate::streaming::serve(Box::pin(socket), &command, session, STREAM_IDLE).await;
        drop(permit);
    })
}

fn error(status: StatusCode, message: String) -> Response {
    (status, message).into_response()
}

/// The log files of a container, oldest start first: the newest pod
/// directory with that namespace and name (a pod recreated under the same
/// name gets a new UID and directory).
fn log_files(data_dir: &Path, namespace: &str, pod: &str, container: &str) -> Vec<(u32, PathBuf)> {
    let prefix = format!("{namespace}_{pod}_");
    let Ok(entries) = std::fs::read_dir(logs_dir(data_dir)) else {
        return Vec::new();
    };
    let newest = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok());
    let Some(pod_dir) = newest else {
        return Vec::new();
    };
    let Ok(files) = std::fs::read_dir(pod_dir.path().join(container)) else {
        return Vec::new();
    };
    let mut files: Vec<(u32, PathBuf)> = files
        .flatten()
        .filter_map(|f| {
            let name = f.file_name().to_string_lossy().into_owned();
            let restart = name.strip_suffix(".log")?.parse().ok()?;
            Some((restart, f.path()))
        })
        .collect();
    files.sort();
    files
}

/// The last `lines` lines of `text`.
fn tail(text: &[u8], lines: usize) -> &[u8] {
    if lines == 0 {
        return &[];
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut seen = 0;
    for (i, byte) in body.iter().enumerate().rev() {
        if *byte == b'\n' {
            seen += 1;
            if seen == lines {
                return &text[i + 1..];
            }
        }
    }
    text
}

async fn container_logs(
    State(state): State<Arc<ApiState>>,
    UrlPath((namespace, pod, container)): UrlPath<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    axum::Extension(peer): axum::Extension<Peer>,
) -> Response {
    if let Some(refusal) = refused(&peer) {
        return refusal;
    }
    let flag = |key: &str| query.get(key).is_some_and(|v| v == "true" || v == "1");
    let files = log_files(&state.data_dir, &namespace, &pod, &container);
    let chosen = if flag("previous") {
        match files.len().checked_sub(2).map(|i| files[i].clone()) {
            Some(file) => file,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "previous terminated container \"{container}\" in pod \"{pod}\" not found"
                    ),
                );
            }
        }
    } else {
        match files.last() {
            Some(file) => file.clone(),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating"
                    ),
                );
            }
        }
    };
    let (restart, path) = chosen;
    let content = match std::fs::read(&path) {
        Ok(content) => content,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{}: {e}", path.display()),
            );
        }
    };
    let mut start: Vec<u8> = match query.get("tailLines").and_then(|t| t.parse::<usize>().ok()) {
        Some(lines) => tail(&content, lines).to_vec(),
        None => content.clone(),
    };
    let limit = query
        .get("limitBytes")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    start.truncate(limit);
    let plain = |body: Body| {
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(body)
            .unwrap_or_else(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
    };
    if !flag("follow") || flag("previous") {
        return plain(Body::from(start));
    }
    // Follow: what is there, then what is appended, until the container
    // starts again (a newer file), its pod's logs go, or the client leaves.
    let follow = Follow {
        path,
        offset: content.len() as u64,
        sent: start.len(),
        limit,
        data_dir: state.data_dir.clone(),
        namespace,
        pod,
        container,
        restart,
        first: Some(start),
    };
    let stream = futures_util::stream::unfold(follow, |mut follow| async move {
        follow
            .next()
            .await
            .map(|chunk| (Ok::<Bytes, std::io::Error>(chunk), follow))
    });
    plain(Body::from_stream(stream))
}

struct Follow {
    path: PathBuf,
    offset: u64,
    sent: usize,
    limit: usize,
    data_dir: PathBuf,
    namespace: String,
    pod: String,
    container: String,
    restart: u32,
    first: Option<Vec<u8>>,
}

impl Follow {
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(first) = self.first.take()
            && !first.is_empty()
        {
            return Some(Bytes::from(first));
        }
        loop {
            if self.sent >= self.limit {
                return None;
            }
            let length = std::fs::metadata(&self.path).ok()?.len();
            if length > self.offset {
                use std::io::{Read, Seek, SeekFrom};
                let mut file = std::fs::File::open(&self.path).ok()?;
                file.seek(SeekFrom::Start(self.offset)).ok()?;
                let wanted = (length - self.offset).min((self.limit - self.sent) as u64);
                let mut chunk = Vec::with_capacity(wanted as usize);
                file.take(wanted).read_to_end(&mut chunk).ok()?;
                self.offset += chunk.len() as u64;
                self.sent += chunk.len();
                return Some(Bytes::from(chunk));
            }
            let files = log_files(&self.data_dir, &self.namespace, &self.pod, &self.container);
            if files
                .last()
                .is_none_or(|(restart, _)| *restart != self.restart)
            {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(tail(b"a\nb\n", 5), b"a\nb\n");
        assert_eq!(tail(b"a\nb\n", 0), b"");
    }
}
