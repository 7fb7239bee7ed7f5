//! The agent's HTTP API, on the kubelet's port (10250 unless configured):
//! `GET /containerLogs/{namespace}/{pod}/{container}` with `follow`,
//! `tailLines`, `previous` and `limitBytes`, which the API server's
//! `pods/log` streams to `kubectl logs`. Every request must carry the
//! cluster's kubelet token (`Authorization: Bearer …`); others get 401.
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
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;

use crate::agent::logs::logs_dir;

struct ApiState {
    data_dir: PathBuf,
    token: String,
}

/// Serves the agent's API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    data_dir: PathBuf,
    token: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = Arc::new(ApiState { data_dir, token });
    let app = Router::new()
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(container_logs),
        )
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
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
    headers: HeaderMap,
) -> Response {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| token == state.token);
    if !authorized {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized".into());
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
