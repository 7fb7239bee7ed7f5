//! `wharf bench pods`: the node side. 100 pods (a `sleep` each) created
//! against one node agent with the process driver and the scheduler with
//! the sample policies: startup latency from creation to Running seen on a
//! watch (Kubernetes' pod startup SLO is 5 s at p99 without image pulls),
//! with `--warm-networks` pod networks wired ahead (8, as `wharf up`).
//! Then the service proxy: a pod streaming bytes, read from the node
//! directly (podIP:port) and through its Service's ClusterIP (nftables
//! DNAT), throughput of each.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wharf_client::{Client, Selectors};

use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use wharf_apiserver::LocalClient;
use wharf_client::{Delivery, WatchType};
use wharf_plugins::{Runtime, RuntimeConfig};

use super::report::Latencies;

#[derive(clap::Args)]
pub struct PodsBench {
    /// Pods in the startup phase.
    #[arg(long, default_value_t = 100)]
    pods: usize,
    /// Bytes read in each throughput phase.
    #[arg(long, default_value_t = 2 << 30)]
    bytes: u64,
    /// Run the pods in the host's network instead of a namespace each (to
    /// see what the pod networks cost).
    #[arg(long)]
    host_network: bool,
    /// Pod networks the agent keeps wired ahead of pods (waited for before
    /// the pods are created); `wharf up`'s default.
    #[arg(long, default_value_t = 8)]
    warm_networks: usize,
    /// Where the policy components are; by default the build's
    /// `wasm32-wasip2/plugin` folder next to this binary's.
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
}

const SOURCE: &str = "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',18900))\ns.listen(8)\nb=b'\\0'*(1<<20)\nwhile True:\n  c,_=s.accept()\n  try:\n    while True: c.sendall(b)\n  except Exception: c.close()\n";

pub async fn run(options: PodsBench) -> Result<(), String> {
    let (client, temp) = super::plugins::cluster().await?;
    let wasm_dir = options.plugin_dir.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|e| Some(e.parent()?.parent()?.join("wasm32-wasip2/plugin")))
            .unwrap_or_default()
    });
    super::scheduler::install_policies(&client, &wasm_dir, false).await?;
    let runtime = Runtime::new(RuntimeConfig::default()).map_err(|e| e.to_string())?;
    let _scheduler =
        wharf_scheduler::Scheduler::start(client.clone(), runtime).map_err(|e| e.to_string())?;
    let mut config = wharf_node::AgentConfig::new("bench-node", temp.path().join("node"));
    config.pod_cidr_hint = Some("10.244.250.0/24".into());
    config.cni_plugin_dir = (!options.host_network).then(|| PathBuf::from("/usr/lib/cni"));
    config.warm_networks = if options.host_network {
        0
    } else {
        options.warm_networks
    };
    let agent = wharf_node::NodeAgent::start(client.clone(), config)
        .await
        .map_err(|e| e.to_string())?;
    let proxy = wharf_proxy::Proxy::start(
        client.clone(),
        wharf_proxy::ProxyConfig {
            table: format!("wharf-bench-{}", std::process::id()),
            min_sync: Duration::from_millis(50),
            cluster_cidr: Some("10.244.0.0/16".into()),
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    super::scheduler::wait_for_policies(&client).await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while agent.warm_networks_ready() < config_warm(&options) {
        if Instant::now() > deadline {
            return Err("the warm pod networks were not ready within 2 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The proxy's table and the agent go whatever happens.
    let measured = async {
        let startup = startup_phase(&client, options.pods).await?;
        println!(
            "pod startup (create → Running on a watch), {} pods: {}",
            options.pods,
            startup.summary()
        );
        let throughput = proxy_phase(&client, options.bytes).await?;
        Ok::<_, String>((startup, throughput))
    }
    .await;
    // Nothing is left behind: the pods' processes and networks go with them.
    let records = temp.path().join("node").join("pods");
    remove_pods(&client, &records).await;
    let (startup, (direct, proxied)) = match measured {
        Ok(measured) => measured,
        Err(error) => {
            proxy.stop().await;
            agent.shutdown().await;
            return Err(error);
        }
    };
    println!(
        "throughput: direct {:.0} MB/s, through the ClusterIP {:.0} MB/s ({:.0}%)",
        direct / 1e6,
        proxied / 1e6,
        100.0 * proxied / direct
    );
    proxy.stop().await;
    agent.shutdown().await;
    println!(
        "summary: pods startup p50 {:.0} ms, p99 {:.0} ms; proxied throughput {:.0}% of direct",
        startup.quantile_ms(0.5),
        startup.quantile_ms(0.99),
        100.0 * proxied / direct
    );
    Ok(())
}

fn config_warm(options: &PodsBench) -> usize {
    if options.host_network {
        0
    } else {
        options.warm_networks
    }
}

async fn startup_phase(client: &LocalClient, count: usize) -> Result<Latencies, String> {
    let pods = client
        .resource("", "v1", "Pod")
        .map_err(|e| e.to_string())?;
    let revision = client
        .list(&pods, Some("default"), &Selectors::all())
        .await
        .map_err(|e| e.to_string())?
        .revision;
    let mut events = client.watch(&pods, Some("default"), &Selectors::all(), revision);
    let created: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let watcher_created = created.clone();
    let watcher = tokio::spawn(async move {
        let mut latencies = Latencies::new();
        let mut running = std::collections::HashSet::new();
        while running.len() < count {
            let Some(Delivery::Event(kind, event)) = events.recv().await else {
                continue;
            };
            if kind != WatchType::Modified
                || event.object.pointer("/status/phase") != Some(&json!("Running"))
            {
                continue;
            }
            let name = event.object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if let Some(at) = watcher_created.lock().expect("created").get(&name)
                && running.insert(name)
            {
                latencies.record(at.elapsed());
            }
        }
        latencies
    });
    for i in 0..count {
        let name = format!("startup-{i}");
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "sleep", "image": "none", "command": ["sleep", "3600"]}]}});
        created
            .lock()
            .expect("created")
            .insert(name, Instant::now());
        client
            .create(&pods, Some("default"), &pod)
            .await
            .map_err(|e| e.to_string())?;
    }
    let latencies = tokio::time::timeout(Duration::from_secs(120), watcher)
        .await
        .map_err(|_| "not every pod reached Running within 2 minutes".to_string())?
        .map_err(|e| e.to_string())?;
    for i in 0..count {
        let _ = client
            .delete(&pods, Some("default"), &format!("startup-{i}"))
            .await;
    }
    Ok(latencies)
}

/// Deletes every pod and waits (a minute at most) until the agent has
/// stopped them all and removed their records.
async fn remove_pods(client: &LocalClient, records: &std::path::Path) {
    if let Ok(pods) = client.resource("", "v1", "Pod")
        && let Ok(listed) = client.list(&pods, None, &Selectors::all()).await
    {
        for pod in listed.items {
            let namespace = pod.pointer("/metadata/namespace").and_then(Value::as_str);
            let name = pod
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let _ = client.delete(&pods, namespace, name).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline
        && std::fs::read_dir(records).is_ok_and(|mut entries| entries.next().is_some())
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn read_bytes(address: &str, bytes: u64) -> Result<f64, String> {
    let mut socket = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| format!("{address}: {e}"))?;
    let mut buffer = vec![0u8; 1 << 20];
    let started = Instant::now();
    let mut read = 0u64;
    while read < bytes {
        let n = socket.read(&mut buffer).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!("{address} closed after {read} bytes"));
        }
        read += n as u64;
    }
    Ok(read as f64 / started.elapsed().as_secs_f64())
}

async fn proxy_phase(client: &LocalClient, bytes: u64) -> Result<(f64, f64), String> {
    let pods = client
        .resource("", "v1", "Pod")
        .map_err(|e| e.to_string())?;
    let services = client
        .resource("", "v1", "Service")
        .map_err(|e| e.to_string())?;
    let slices = client
        .resource("discovery.k8s.io", "v1", "EndpointSlice")
        .map_err(|e| e.to_string())?;
    client
        .create(&pods, Some("default"), &json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "source", "labels": {"app": "source"}},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "source", "image": "none",
                "command": ["python3", "-c", SOURCE], "ports": [{"containerPort": 18900}]}]}}))
        .await
        .map_err(|e| e.to_string())?;
    let service = client
        .create(&services, Some("default"), &json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "source"},
            "spec": {"selector": {"app": "source"}, "ports": [{"name": "data", "port": 80, "targetPort": 18900}]}}))
        .await
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let pod_ip = loop {
        let pod: Value = client
            .get(&pods, Some("default"), "source")
            .await
            .map_err(|e| e.to_string())?;
        if pod.pointer("/status/phase") == Some(&json!("Running"))
            && let Some(ip) = pod.pointer("/status/podIP").and_then(Value::as_str)
        {
            break ip.to_string();
        }
        if Instant::now() > deadline {
            return Err("the source pod did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The endpoints controller is not part of this bench: its slice, by hand.
    client
        .create(&slices, Some("default"), &json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "source-bench", "labels": {"kubernetes.io/service-name": "source"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [pod_ip], "conditions": {"ready": true}}],
            "ports": [{"name": "data", "port": 18900, "protocol": "TCP"}]}))
        .await
        .map_err(|e| e.to_string())?;
    let direct_address = format!("{pod_ip}:18900");
    let cluster_address = format!(
        "{}:80",
        service["spec"]["clusterIP"].as_str().unwrap_or_default()
    );
    // Wait for the server and the rules.
    let deadline = Instant::now() + Duration::from_secs(30);
    while read_bytes(&cluster_address, 1 << 20).await.is_err()
        || read_bytes(&direct_address, 1 << 20).await.is_err()
    {
        if Instant::now() > deadline {
            return Err("the source was not reachable directly and through its ClusterIP".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut direct = Vec::new();
    let mut proxied = Vec::new();
    for _ in 0..3 {
        direct.push(read_bytes(&direct_address, bytes).await?);
        proxied.push(read_bytes(&cluster_address, bytes).await?);
    }
    let _ = client.delete(&pods, Some("default"), "source").await;
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok((median(direct), median(proxied)))
}
