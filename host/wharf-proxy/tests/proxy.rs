//! The proxy with the real kernel: a Service's ClusterIP and NodePort reach
//! its ready endpoints (here, listeners on 127.0.0.1), spread over all of
//! them, and an endpoint that is no longer ready gets no more connections.
//! Needs root and `nft` (the test command installs Debian's nftables).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wharf_client::Client;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wharf_apiserver::{ApiState, LocalClient};
use wharf_proxy::{Proxy, ProxyConfig};
use wharf_store::{EmbeddedConfig, EmbeddedStore};

async fn cluster() -> (LocalClient, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path().join("store"))).unwrap();
    let state = ApiState::new(Arc::new(store)).await.unwrap();
    (LocalClient::new(state), dir)
}

/// A backend on 127.0.0.1 that answers every connection with its name.
async fn backend(name: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let _ = socket.write_all(name.as_bytes()).await;
            });
        }
    });
    port
}

async fn ask(address: &str) -> Option<String> {
    let connect = tokio::net::TcpStream::connect(address);
    let mut socket = tokio::time::timeout(Duration::from_secs(2), connect)
        .await
        .ok()?
        .ok()?;
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(2), socket.read_to_string(&mut answer))
        .await
        .ok()?
        .ok()?;
    Some(answer)
}

async fn eventually_answers(address: &str, expected: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(answer) = ask(address).await
            && expected.contains(&answer.as_str())
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{address} never answered one of {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn slice(name: &str, endpoints: &[(u16, bool)]) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": endpoints.iter().map(|(_, ready)| json!({
            "addresses": ["127.0.0.1"], "conditions": {"ready": ready}
        })).collect::<Vec<_>>(),
        "ports": [{"name": "http", "port": endpoints.first().map_or(0, |e| e.0), "protocol": "TCP"}],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_ip_and_node_port_reach_the_ready_endpoints_spread_over_them() {
    let (client, _dir) = cluster().await;
    let services = client.resource("", "v1", "Service").unwrap();
    let slices = client
        .resource("discovery.k8s.io", "v1", "EndpointSlice")
        .unwrap();
    let service = client
        .create(
            &services,
            Some("default"),
            &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                    "spec": {"type": "NodePort", "selector": {"app": "web"},
                             "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}),
        )
        .await
        .unwrap();
    let cluster_ip = service["spec"]["clusterIP"].as_str().unwrap().to_string();
    let node_port = service["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
    let (one, two) = (backend("one").await, backend("two").await);
    client
        .create(&slices, Some("default"), &slice("web-a", &[(one, true)]))
        .await
        .unwrap();
    client
        .create(&slices, Some("default"), &slice("web-b", &[(two, true)]))
        .await
        .unwrap();

    let table = format!("wharf-proxy-test-{}", std::process::id());
    let proxy = Proxy::start(
        client.clone(),
        ProxyConfig {
            table: table.clone(),
            min_sync: Duration::from_millis(20),
            cluster_cidr: Some("10.244.0.0/16".into()),
        },
    )
    .await
    .expect("the test command runs as root with nft installed");

    let via_cluster_ip = format!("{cluster_ip}:80");
    eventually_answers(&via_cluster_ip, &["one", "two"]).await;
    eventually_answers(&format!("127.0.0.1:{node_port}"), &["one", "two"]).await;
    let mut seen = HashSet::new();
    for _ in 0..60 {
        if let Some(answer) = ask(&via_cluster_ip).await {
            seen.insert(answer);
        }
    }
    assert_eq!(
        seen,
        HashSet::from(["one".to_string(), "two".to_string()]),
        "spread over both"
    );

    // "two" is no longer ready: only "one" answers.
    let mut b = client.get(&slices, Some("default"), "web-b").await.unwrap();
    b["endpoints"][0]["conditions"]["ready"] = json!(false);
    client
        .update(&slices, Some("default"), &b, false)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut answers = HashSet::new();
        for _ in 0..20 {
            if let Some(answer) = ask(&via_cluster_ip).await {
                answers.insert(answer);
            }
        }
        if answers == HashSet::from(["one".to_string()]) {
            break;
        }
        assert!(Instant::now() < deadline, "still answered by {answers:?}");
    }

    proxy.stop().await;
    let tables = std::process::Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&tables.stdout).contains(&table),
        "table removed"
    );
}
