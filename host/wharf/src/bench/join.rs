//! `wharf bench join`: what joining costs a node, and what the Node
//! authorizer costs its reads. An API server in this process (HTTPS, the
//! CSR signer running), a bootstrap token, then for each of N nodes: the
//! whole join as `wharf node --token` does it (cluster-info checked by
//! hash, a client certificate through an auto-approved CSR) and its
//! serving certificate (a second CSR). Then one node reads a Secret its
//! pod refers to, repeatedly, against the admin reading it (the Node
//! authorizer finds the relationship through the node's pods in the
//! namespace, at `--pods` pods).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wharf_client::{Client, ClusterAccess, RemoteClient};

use super::report::Latencies;

#[derive(clap::Args)]
pub struct JoinBench {
    /// How many nodes join, one after another.
    #[arg(long, default_value_t = 20)]
    nodes: usize,
    /// Pods bound to the reading node in its namespace (the Node
    /// authorizer looks through them).
    #[arg(long, default_value_t = 100)]
    pods: usize,
    /// Secret reads measured per reader.
    #[arg(long, default_value_t = 2000)]
    reads: usize,
}

pub async fn run(options: JoinBench) -> Result<(), String> {
    let (state, dir) = super::embedded_state().await?;
    let (dns_names, addresses) = wharf_pki::default_serving_names([10, 96, 0, 1].into());
    let pki = wharf_pki::ClusterPki::generate(&dns_names, &addresses).map_err(|e| e.to_string())?;
    state.enable_bootstrap_tokens();
    wharf_apiserver::certificates::spawn_signer(&state, pki.ca.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let server = format!(
        "https://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    wharf_apiserver::certificates::publish_cluster_info(&state, &server, pki.ca.cert_pem())
        .await
        .map_err(|e| e.to_string())?;
    let tls = Arc::new(pki.server_config().map_err(|e| e.to_string())?);
    tokio::spawn(wharf_apiserver::serve(
        listener,
        state.clone(),
        tls,
        std::future::pending(),
    ));
    let admin = RemoteClient::new(&ClusterAccess {
        server: server.clone(),
        ca_pem: Some(pki.ca.cert_pem().as_bytes().to_vec()),
        client_cert_pem: Some(pki.admin.cert_pem.clone().into_bytes()),
        client_key_pem: Some(pki.admin.key_pem.clone().into_bytes()),
        token: None,
    })?;
    let token = crate::token_cmd::create_bootstrap_token(
        &admin,
        Duration::from_secs(3600),
        "wharf bench join",
    )
    .await?;
    let hash = wharf_pki::ca_cert_hash(pki.ca.cert_pem()).map_err(|e| e.to_string())?;

    println!("{} nodes join, one after another", options.nodes);
    let (mut joins, mut serving) = (Latencies::new(), Latencies::new());
    let mut first = None;
    for i in 0..options.nodes {
        let name = format!("bench-node-{i}");
        let kubeconfig = dir.path().join(format!("{name}.kubeconfig"));
        let started = Instant::now();
        crate::join::join(&server, &token, &hash, &name, &kubeconfig).await?;
        joins.record(started.elapsed());
        let node = RemoteClient::from_kubeconfig(&kubeconfig, None)?;
        let started = Instant::now();
        let (request, _key) = wharf_pki::new_request(
            &format!("system:node:{name}"),
            Some("system:nodes"),
            std::slice::from_ref(&name),
            &["127.0.0.1".parse().map_err(|_| "an address")?],
        )
        .map_err(|e| e.to_string())?;
        wharf_client::certificates::request_certificate(
            &node,
            &request,
            wharf_client::certificates::KUBELET_SERVING_SIGNER,
            &["digital signature", "server auth"],
        )
        .await?;
        serving.record(started.elapsed());
        first.get_or_insert(node);
    }
    println!(
        "  join (cluster-info, client CSR approved and signed, kubeconfig written): {}",
        joins.summary()
    );
    println!(
        "  serving certificate (CSR approved and signed): {}",
        serving.summary()
    );

    // The Node authorizer on a read: one node's pods, one of which uses the Secret.
    let node = first.ok_or("no node joined")?;
    let pods = admin.resource("", "v1", "Pod").map_err(|e| e.to_string())?;
    let secrets = admin
        .resource("", "v1", "Secret")
        .map_err(|e| e.to_string())?;
    admin
        .create(
            &secrets,
            Some("default"),
            &json!({"metadata": {"name": "used"}, "data": {"k": "dg=="}}),
        )
        .await
        .map_err(|e| e.to_string())?;
    for i in 0..options.pods {
        let env = if i == options.pods - 1 {
            json!([{"name": "S", "valueFrom": {"secretKeyRef": {"name": "used", "key": "k"}}}])
        } else {
            json!([])
        };
        let pod = json!({
            "metadata": {"name": format!("p{i}")},
            "spec": {"nodeName": "bench-node-0", "automountServiceAccountToken": false,
                     "containers": [{"name": "c", "image": "none", "env": env}]},
        });
        admin
            .create(&pods, Some("default"), &pod)
            .await
            .map_err(|e| e.to_string())?;
    }
    let read = |client: RemoteClient| {
        let secrets = secrets.clone();
        async move {
            let mut latencies = Latencies::new();
            for _ in 0..options.reads {
                let started = Instant::now();
                client
                    .get(&secrets, Some("default"), "used")
                    .await
                    .map_err(|e| e.to_string())?;
                latencies.record(started.elapsed());
            }
            Ok::<_, String>(latencies)
        }
    };
    let as_admin = read(admin).await?;
    let as_node = read(node).await?;
    println!(
        "  a Secret read, {} times each ({} pods on the node): admin {}; node {}",
        options.reads,
        options.pods,
        as_admin.summary_us(),
        as_node.summary_us()
    );
    println!(
        "join: p50 {:.1} ms, p99 {:.1} ms per node ({} nodes); serving certificate p50 {:.1} ms; Node authorizer +{:.0} µs p50 on a Secret read at {} pods",
        joins.quantile_ms(0.5),
        joins.quantile_ms(0.99),
        options.nodes,
        serving.quantile_ms(0.5),
        as_node.quantile_us(0.5) - as_admin.quantile_us(0.5),
        options.pods
    );
    Ok(())
}
