//! `wharf node`: a node agent (and service proxy) for a cluster whose API
//! server runs elsewhere, joined with a bootstrap token (or reached with a
//! kubeconfig); and what it
//! shares with the node `wharf up` runs in process: the runtime options and
//! how the agent and proxy start.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use wharf_client::{ApiClient, RemoteClient};

/// The container runtime of a node.
#[derive(clap::Args, Clone, Debug)]
pub struct RuntimeArgs {
    /// The node's container runtime: `process` (host processes, no daemon
    /// needed), `docker` (the Docker Engine; images must be present or
    /// pullable) or `native` (a driver library, `--runtime-library`).
    #[arg(long, default_value = "process", value_parser = ["process", "docker", "native"])]
    runtime: String,
    /// The Docker Engine's socket (`unix:///path`) for `--runtime docker`;
    /// by default `DOCKER_HOST` or /var/run/docker.sock.
    #[arg(long)]
    docker_host: Option<String>,
    /// The shared library of a native runtime driver (`--runtime native`),
    /// built with `wharf_sdk::runtime_driver`.
    #[arg(long, required_if_eq("runtime", "native"))]
    runtime_library: Option<PathBuf>,
    /// The configuration handed to the native runtime driver.
    #[arg(long, default_value = "")]
    runtime_config: String,
    /// Pod networks kept wired ahead of pods, so that pods start without
    /// waiting for the CNI plugins (process and native drivers, as root).
    #[arg(long, default_value_t = 8)]
    warm_pod_networks: usize,
}

impl RuntimeArgs {
    fn config(&self) -> wharf_node::RuntimeConfig {
        match self.runtime.as_str() {
            "docker" => wharf_node::RuntimeConfig::Docker {
                host: self.docker_host.clone(),
            },
            "native" => wharf_node::RuntimeConfig::Native {
                library: self.runtime_library.clone().unwrap_or_default(),
                config: self.runtime_config.clone(),
            },
            _ => wharf_node::RuntimeConfig::Process,
        }
    }
}

/// `wharf node --server URL --token ID.SECRET --ca-cert-hash sha256:…`
/// (what `wharf token create` prints), or `wharf node --kubeconfig FILE`.
#[derive(clap::Args)]
pub struct Node {
    /// A kubeconfig to reach the API server with (its current context);
    /// by default the one the node got when it joined
    /// (`DATA_DIR/kubelet.kubeconfig`).
    #[arg(long, conflicts_with = "token")]
    kubeconfig: Option<PathBuf>,
    /// The API server (`https://host:port`); by default the kubeconfig's.
    #[arg(long)]
    server: Option<String>,
    /// Join with this bootstrap token (`wharf token create`): the node
    /// gets a client certificate of its own, kept in its data directory,
    /// and uses it from then on.
    #[arg(long, requires_all = ["server", "ca_cert_hash"])]
    token: Option<String>,
    /// The cluster CA's hash (`sha256:…`), checked before the node trusts
    /// the server (kubeadm's `--discovery-token-ca-cert-hash`).
    #[arg(long)]
    ca_cert_hash: Option<String>,
    /// The node's name; by default this machine's hostname.
    #[arg(long)]
    node_name: Option<String>,
    /// Where pods' logs and records live.
    #[arg(long, default_value_os_t = crate::up::default_data_dir().join("node"))]
    data_dir: PathBuf,
    /// The Node's InternalIP: the API server reaches the agent's API (pod
    /// logs) there.
    #[arg(long, default_value = "127.0.0.1")]
    node_ip: IpAddr,
    /// The port of the agent's API (the kubelet port; 0 picks a free one).
    #[arg(long, default_value_t = 10250)]
    kubelet_port: u16,
    /// Do not run the service proxy on this node.
    #[arg(long)]
    no_proxy: bool,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

/// Starts a node agent for `name` with `runtime`, listening for the API
/// server on `api_address`.
pub async fn start_agent(
    client: impl Into<ApiClient>,
    name: String,
    data_dir: PathBuf,
    runtime: &RuntimeArgs,
    api_address: SocketAddr,
    tls: wharf_node::KubeletTls,
) -> Result<wharf_node::NodeAgent, String> {
    let mut config = wharf_node::AgentConfig::new(name.to_lowercase(), data_dir);
    config.api_address = Some(api_address);
    config.tls = Some(tls);
    config.node_ip = api_address.ip().to_string();
    config.cni_plugin_dir = pod_networks();
    config.runtime = runtime.config();
    config.warm_networks = runtime.warm_pod_networks;
    wharf_node::NodeAgent::start(client, config)
        .await
        .map_err(|e| format!("the node agent: {e}"))
}

/// The service proxy, or none (said once) where it cannot run.
pub async fn start_proxy(client: impl Into<ApiClient>) -> Option<wharf_proxy::Proxy> {
    let config = wharf_proxy::ProxyConfig {
        // The cluster CIDR nodeipam hands node CIDRs out of.
        cluster_cidr: Some("10.244.0.0/16".into()),
        ..Default::default()
    };
    match wharf_proxy::Proxy::start(client, config).await {
        Ok(proxy) => Some(proxy),
        Err(error) => {
            tracing::warn!(%error, "running without the service proxy");
            None
        }
    }
}

/// The CNI plugins' folder, when pods can have a network each (root, and
/// Debian's containernetworking-plugins installed).
fn pod_networks() -> Option<PathBuf> {
    let plugins = PathBuf::from("/usr/lib/cni");
    if wharf_node::running_as_root() && plugins.join("bridge").exists() {
        return Some(plugins);
    }
    tracing::warn!(
        "pods run in this machine's network namespace (podIP = hostIP): a network per pod needs root and Debian's containernetworking-plugins"
    );
    None
}

pub async fn run(options: Node) -> Result<(), String> {
    crate::up::private_dir(&options.data_dir)?;
    let name = options
        .node_name
        .clone()
        .unwrap_or_else(crate::up::hostname)
        .to_lowercase();
    let joined = crate::join::kubelet_kubeconfig(&options.data_dir);
    let kubeconfig = match (&options.kubeconfig, &options.token) {
        (Some(path), _) => path.clone(),
        (None, Some(token)) if !joined.exists() => {
            let (Some(server), Some(hash)) = (&options.server, &options.ca_cert_hash) else {
                return Err("--token needs --server and --ca-cert-hash".into());
            };
            crate::join::join(server, token, hash, &name, &joined).await?;
            println!(
                "wharf: node {name} joined; its credentials are in {}",
                joined.display()
            );
            joined
        }
        (None, _) if joined.exists() => joined,
        (None, _) => {
            return Err(
                "give --token (and --server, --ca-cert-hash: `wharf token create` prints them) to join, or --kubeconfig"
                    .into(),
            );
        }
    };
    let access =
        wharf_client::ClusterAccess::from_kubeconfig(&kubeconfig, options.server.as_deref())?;
    // The agent's API answers only client certificates of the cluster CA
    // (the API server's), and gets its own serving certificate signed.
    let tls = wharf_node::KubeletTls {
        client_ca_pem: access
            .ca_pem
            .as_deref()
            .map(|pem| String::from_utf8_lossy(pem).into_owned())
            .ok_or_else(|| format!("{}: names no certificate authority", kubeconfig.display()))?,
        serving: None,
    };
    let client = ApiClient::from(RemoteClient::new(&access)?);
    let agent = start_agent(
        client.clone(),
        name.clone(),
        options.data_dir.clone(),
        &options.runtime,
        SocketAddr::new(options.node_ip, options.kubelet_port),
        tls,
    )
    .await?;
    let proxy = if options.no_proxy {
        None
    } else {
        start_proxy(client).await
    };
    println!("wharf: node {name} ready");
    crate::up::shutdown_signal().await;
    if let Some(proxy) = proxy {
        proxy.stop().await;
    }
    // Pods keep running: the next agent on this data directory adopts them.
    agent.shutdown().await;
    println!("wharf: node stopped");
    Ok(())
}
