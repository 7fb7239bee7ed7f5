//! The API server's connections, over real TCP on loopback: a client that
//! trickles its headers (slow loris), sends nothing at all, or idles between
//! requests is cut off after the header-read timeout while others are
//! served.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wharf_apiserver::ApiState;
use wharf_client::Transport;
use wharf_store::{EmbeddedConfig, EmbeddedStore};

mod common;
use common::TlsServer;

/// An HTTP/1.1 GET on a connection of its own; returns the status line.
async fn get(transport: &Transport, path: &str) -> String {
    let mut stream = transport.connect_raw().await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: wharf\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    // The server may close without TLS's close_notify: what came is enough.
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

async fn server(header_read_timeout: Duration) -> (TlsServer, Transport, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    let state = ApiState::new(Arc::new(store)).await.unwrap();
    let server = TlsServer::start(state, header_read_timeout).await;
    let transport = Transport::new(&server.admin(), Default::default()).unwrap();
    (server, transport, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_finish_their_headers_are_closed_while_others_are_served() {
    let (server, transport, _dir) = server(Duration::from_secs(1)).await;

    // 100 clients send half a request and wait; 100 more open a TCP
    // connection and never start TLS.
    let mut lorises = Vec::new();
    for _ in 0..100 {
        let mut stream = transport.connect_raw().await.unwrap();
        stream
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: wh")
            .await
            .unwrap();
        stream.flush().await.unwrap();
        lorises.push(stream);
    }
    let mut silent = Vec::new();
    for _ in 0..100 {
        let mut stream = TcpStream::connect(server.address).await.unwrap();
        stream.write_all(b"\x16").await.unwrap();
        silent.push(stream);
    }
    assert_eq!(get(&transport, "/readyz").await, "HTTP/1.1 200 OK");
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
    for mut stream in silent {
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "an unfinished handshake was held past 10 s");
    }
    assert_eq!(get(&transport, "/livez").await, "HTTP/1.1 200 OK");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let (server, transport, _dir) = server(Duration::from_secs(1)).await;
    // One connection sends nothing; another one request, kept alive.
    let mut silent = transport.connect_raw().await.unwrap();
    let mut kept = transport.connect_raw().await.unwrap();
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
    assert_eq!(get(&transport, "/livez").await, "HTTP/1.1 200 OK");
    server.stop().await;
}
