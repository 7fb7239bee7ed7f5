//! The API server's connections, over real TCP on loopback: a client that
//! trickles its headers (slow loris), sends nothing at all, or idles between
//! requests is cut off after the header-read timeout while others are
//! served.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wharf_apiserver::{ApiState, serve_with};
use wharf_store::{EmbeddedConfig, EmbeddedStore};

/// A plain HTTP/1.1 GET; returns the status line.
async fn get(address: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: wharf\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_finish_their_headers_are_closed_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    let state = ApiState::new(Arc::new(store)).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(
        listener,
        state,
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(1),
    ));

    // 200 clients send half a request and wait.
    let mut lorises = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: wh")
            .await
            .unwrap();
        lorises.push(stream);
    }
    assert_eq!(get(address, "/readyz").await, "HTTP/1.1 200 OK");

    // Each is closed once the timeout has passed (without an answer, or
    // with a 408), not held.
    for mut stream in lorises {
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "a half-sent request was held past 10 s");
        let answer = String::from_utf8_lossy(&rest);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
    }
    assert_eq!(get(address, "/livez").await, "HTTP/1.1 200 OK");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    let state = ApiState::new(Arc::new(store)).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(serve_with(
        listener,
        state,
        std::future::pending(),
        Duration::from_secs(1),
    ));
    // One connection sends nothing; another one request, kept alive.
    let mut silent = TcpStream::connect(address).await.unwrap();
    let mut kept = TcpStream::connect(address).await.unwrap();
    kept.write_all(b"GET /readyz HTTP/1.1\r\nHost: wharf\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    kept.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    for (what, stream) in [("silent", &mut silent), ("kept-alive", &mut kept)] {
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "a {what} connection was held past 10 s");
    }
    assert_eq!(get(address, "/livez").await, "HTTP/1.1 200 OK");
    server.abort();
}
