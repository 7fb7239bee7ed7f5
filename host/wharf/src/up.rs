//! `wharf up`: the store and the API server in one process, a kubeconfig for
//! kubectl, and a clean stop on Ctrl-C or SIGTERM.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wharf_client::Client;

use wharf_apiserver::ApiState;
use wharf_store::{EmbeddedConfig, EmbeddedStore, EtcdConfig, EtcdStore, Store};

#[derive(clap::Args)]
pub struct Up {
    /// Where the embedded store and the kubeconfig live.
    #[arg(long, default_value_os_t = default_data_dir())]
    data_dir: PathBuf,
    /// The API server's address.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// More names (DNS names or addresses) for the serving certificate,
    /// comma-separated or repeated (it always covers `localhost`, the
    /// listen address, or every address of this machine when listening on
    /// all, and the `kubernetes` Service's names and ClusterIP).
    #[arg(long, value_delimiter = ',')]
    tls_san: Vec<String>,
    /// Let requests without credentials in everywhere as
    /// `system:anonymous`, for RBAC to decide (kube's flag); without it
    /// they reach only health, version and discovery and get 401
    /// elsewhere.
    #[arg(long)]
    anonymous_auth: bool,
    /// The address the `kubernetes` Service's endpoints name, where pods
    /// reach this API server (kube-apiserver's flag; the server must be
    /// reachable there). By default the listen address, or this machine's
    /// first non-loopback IPv4 address when listening on all.
    #[arg(long)]
    advertise_address: Option<IpAddr>,
    /// Where the audit log goes (JSON lines, `audit.k8s.io/v1` Events);
    /// by default `DATA_DIR/audit.log`.
    #[arg(long)]
    audit_log_path: Option<PathBuf>,
    /// Past this size (MiB) the audit log is rotated to `PATH.1`.
    #[arg(long, default_value_t = 100)]
    audit_log_maxsize: u64,
    /// An audit `Policy` (kube's format) choosing what is logged; without
    /// one every request is, at the Metadata level.
    #[arg(long)]
    audit_policy_file: Option<PathBuf>,
    /// Keep no audit log.
    #[arg(long)]
    no_audit_log: bool,
    /// `embedded` (default) or `etcd=URL[,URL…]`.
    #[arg(long, default_value = "embedded")]
    store: String,
    /// Where the sample plugins' components are (`*.wasm`); by default the
    /// build's `wasm32-wasip2/plugin` folder next to this binary's.
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
    /// How objects are encrypted at rest: an `EncryptionConfiguration`
    /// (kube-apiserver's flag and format: aesgcm and identity providers).
    /// By default `DATA_DIR/encryption-config.yaml`, written on first start
    /// to seal Secrets with a new AES-256 key. Servers sharing one etcd
    /// must be given the same file.
    #[arg(long)]
    encryption_provider_config: Option<PathBuf>,
    /// The most memory a plugin instance may be given (`spec.limits.memory`
    /// over it is refused).
    #[arg(long, default_value_t = 256)]
    plugin_max_memory_mib: usize,
    /// The longest call deadline a plugin may ask for
    /// (`spec.limits.callTimeout` over it is refused).
    #[arg(long, default_value_t = 10_000)]
    plugin_max_call_timeout_ms: u64,
    /// The most workers a controller plugin may ask for (`spec.workers`).
    #[arg(long, default_value_t = 16)]
    plugin_max_workers: usize,
    /// The only directory native plugins (shared libraries: trusted, not
    /// sandboxed, loaded into this process) may come from; without it a
    /// Plugin naming a `.so` fails to start.
    #[arg(long)]
    native_plugin_dir: Option<PathBuf>,
    /// Where compiled plugins are cached (by module digest and engine);
    /// by default `DATA_DIR/plugin-cache`. Several servers may share one.
    #[arg(long)]
    plugin_cache: Option<PathBuf>,
    /// Start only the API server: no controller manager, no scheduler, no
    /// sample plugins.
    #[arg(long)]
    no_controllers: bool,
    /// Simulated nodes to register (`sim-0`…): they heartbeat, report
    /// capacity and mark the pods bound to them Running without running
    /// anything, like kwok. Nodes labelled `wharf.dev/hollow=true` created
    /// later (with kubectl) are simulated too.
    #[arg(long, default_value_t = 0)]
    sim_nodes: usize,
    /// Zones the simulated nodes are spread over (`topology.kubernetes.io/zone`), comma-separated.
    #[arg(long, value_delimiter = ',')]
    sim_zones: Vec<String>,
    /// CPU of each simulated node.
    #[arg(long, default_value = "4")]
    sim_node_cpu: String,
    /// Memory of each simulated node.
    #[arg(long, default_value = "16Gi")]
    sim_node_memory: String,
    /// Pods each simulated node takes.
    #[arg(long, default_value_t = 110)]
    sim_node_pods: u32,
    /// Extra labels on the simulated nodes (`k=v,k2=v2`).
    #[arg(long)]
    sim_node_labels: Option<String>,
    /// A taint on the simulated nodes (`key=value:Effect`), repeatable.
    #[arg(long)]
    sim_node_taint: Vec<String>,
    /// How often simulated nodes renew their Leases, in milliseconds (a
    /// kubelet's default is 10 s; tests of the node lifecycle controller
    /// shorten it with its grace period).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..))]
    sim_heartbeat_ms: u64,
    /// Do not run a node agent on this machine (pods then run only on
    /// simulated nodes or on agents elsewhere).
    #[arg(long)]
    no_node: bool,
    /// The local node's name; by default this machine's hostname.
    #[arg(long)]
    node_name: Option<String>,
    /// Do not run the service proxy (nftables rules for ClusterIPs and
    /// NodePorts; it needs root and `nft`).
    #[arg(long)]
    no_proxy: bool,
    /// Events the API server's watch cache keeps for watches that resume.
    #[arg(long, default_value_t = 100_000)]
    watch_cache_events: usize,
    /// Memory the watch cache may hold, in MiB (it keeps fewer events
    /// when objects are big).
    #[arg(long, default_value_t = 256)]
    watch_cache_mib: usize,
    /// History the embedded store keeps in memory, in MiB (older history
    /// is compacted sooner when big objects change often).
    #[arg(long, default_value_t = 128)]
    store_history_mib: usize,
    /// Read-only requests served at once; more get 429 (kube's flag).
    #[arg(long, default_value_t = 400)]
    max_requests_inflight: usize,
    /// Mutating requests served at once; more get 429 (kube's flag).
    #[arg(long, default_value_t = 200)]
    max_mutating_requests_inflight: usize,
    /// Plugin modules (`wharf plugin push`) kept in all, in MiB.
    #[arg(long, default_value_t = 1024)]
    modules_mib: usize,
    /// Seconds a module no Plugin names is kept before it is deleted.
    #[arg(long, default_value_t = 600)]
    module_grace_seconds: u64,
    #[command(flatten)]
    runtime: crate::node_cmd::RuntimeArgs,
}

/// The sample plugin set: each manifest's `spec.module` names its component.
const SAMPLE_PLUGINS: &[&str] = &[
    include_str!("../../../plugins/controllers/replicaset/plugin.yaml"),
    include_str!("../../../plugins/controllers/deployment/plugin.yaml"),
    include_str!("../../../plugins/controllers/job/plugin.yaml"),
    include_str!("../../../plugins/controllers/cronjob/plugin.yaml"),
    include_str!("../../../plugins/controllers/statefulset/plugin.yaml"),
    include_str!("../../../plugins/controllers/daemonset/plugin.yaml"),
    include_str!("../../../plugins/controllers/replicaset/replicationcontroller.yaml"),
    include_str!("../../../plugins/controllers/disruption/plugin.yaml"),
    include_str!("../../../plugins/controllers/namespace/plugin.yaml"),
    include_str!("../../../plugins/controllers/nodelifecycle/plugin.yaml"),
    include_str!("../../../plugins/controllers/nodeipam/plugin.yaml"),
    include_str!("../../../plugins/controllers/endpoints/plugin.yaml"),
    include_str!("../../../plugins/controllers/serviceaccount/plugin.yaml"),
    include_str!("../../../plugins/scheduling/node-unschedulable/plugin.yaml"),
    include_str!("../../../plugins/scheduling/node-name/plugin.yaml"),
    include_str!("../../../plugins/scheduling/taint-toleration/plugin.yaml"),
    include_str!("../../../plugins/scheduling/node-affinity/plugin.yaml"),
    include_str!("../../../plugins/scheduling/node-ports/plugin.yaml"),
    include_str!("../../../plugins/scheduling/node-resources-fit/plugin.yaml"),
    include_str!("../../../plugins/scheduling/pod-topology-spread/plugin.yaml"),
    include_str!("../../../plugins/scheduling/balanced-allocation/plugin.yaml"),
    include_str!("../../../plugins/admission/pod-security/plugin.yaml"),
    include_str!("../../../plugins/admission/limit-ranger/plugin.yaml"),
    include_str!("../../../plugins/admission/default-toleration-seconds/plugin.yaml"),
    include_str!("../../../plugins/admission/resource-quota/plugin.yaml"),
    include_str!("../../../plugins/controllers/resourcequota/plugin.yaml"),
    include_str!("../../../plugins/scheduling/node-resources-allocatable/plugin.yaml"),
    include_str!("../../../plugins/controllers/config-reloader/plugin.yaml"),
    include_str!("../../../plugins/admission/image-policy/plugin.yaml"),
];

pub(crate) fn default_plugin_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.join("wasm32-wasip2").join("plugin"))
}

/// The sample plugin manifests, parsed.
pub fn sample_plugins() -> Result<Vec<serde_json::Value>, String> {
    SAMPLE_PLUGINS
        .iter()
        .map(|m| serde_yaml_ng::from_str(m).map_err(|e| format!("sample plugin manifest: {e}")))
        .collect()
}

/// Creates or updates the sample `Plugin` objects whose components exist.
async fn install_sample_plugins(
    client: &wharf_apiserver::LocalClient,
    dir: &std::path::Path,
    root_ca: &str,
) -> Result<usize, String> {
    install_plugins(client, dir, root_ca, |_| true).await
}

/// Creates or updates the sample `Plugin` objects that `wanted` picks and
/// whose components exist in `dir`. A manifest whose `spec.config` has a
/// `rootCACert` gets the cluster CA there (the root CA publisher's).
pub(crate) async fn install_plugins(
    client: &wharf_apiserver::LocalClient,
    dir: &std::path::Path,
    root_ca: &str,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> Result<usize, String> {
    let plugins = client
        .resource("wharf.dev", "v1alpha1", "Plugin")
        .map_err(|e| e.to_string())?;
    let mut installed = 0;
    for mut plugin in sample_plugins()?.into_iter().filter(|p| wanted(p)) {
        let file = plugin["spec"]["module"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let path = dir.join(&file);
        if !path.exists() {
            tracing::warn!(module = %path.display(), "sample plugin not built; skipping it");
            continue;
        }
        let path = path
            .canonicalize()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        plugin["spec"]["module"] = serde_json::json!(format!("file://{}", path.display()));
        if let Some(config) = plugin
            .pointer_mut("/spec/config")
            .and_then(serde_json::Value::as_object_mut)
            && config.contains_key("rootCACert")
        {
            config.insert("rootCACert".into(), serde_json::json!(root_ca));
        }
        let name = plugin["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match client.get(&plugins, None, &name).await {
            Ok(existing) if existing["spec"] == plugin["spec"] => {}
            Ok(existing) => {
                plugin["metadata"]["resourceVersion"] =
                    existing["metadata"]["resourceVersion"].clone();
                client
                    .update(&plugins, None, &plugin, false)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Err(_) => {
                client
                    .create(&plugins, None, &plugin)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        installed += 1;
    }
    Ok(installed)
}

/// Runs the admission plugins, and the controller manager and the
/// scheduler whenever this process holds the leader lease.
async fn start_controllers(
    state: Arc<ApiState>,
    options: &Up,
    root_ca: &str,
) -> Result<(), String> {
    let runtime = wharf_plugins::Runtime::new(wharf_plugins::RuntimeConfig {
        cache_dir: Some(
            (options.plugin_cache.clone()).unwrap_or_else(|| options.data_dir.join("plugin-cache")),
        ),
        max_memory_bytes: options.plugin_max_memory_mib << 20,
        max_call_deadline: std::time::Duration::from_millis(options.plugin_max_call_timeout_ms),
        max_workers: options.plugin_max_workers,
        native_plugin_dir: options.native_plugin_dir.clone(),
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    let plugin_dir = options.plugin_dir.clone();
    let client = wharf_apiserver::LocalClient::new(state.clone());
    // Admission runs in every API server, leader or not.
    let admission = wharf_admission::AdmissionPlugins::new(client.clone(), runtime.clone());
    let chain: Arc<dyn wharf_apiserver::AdmissionChain> = admission.chain();
    if state.objects.admission.set(chain).is_err() {
        return Err("the API server already has an admission chain".into());
    }
    tokio::spawn(
        wharf_plugin_host::Supervisor::new(admission, client.clone()).run(std::future::pending()),
    );
    match plugin_dir.or_else(default_plugin_dir) {
        Some(dir) => {
            let installed = install_sample_plugins(&client, &dir, root_ca).await?;
            tracing::info!(installed, dir = %dir.display(), "sample plugins installed");
        }
        None => tracing::warn!("no plugin directory; no sample plugins installed"),
    }
    let identity = format!("{}-{}", hostname(), std::process::id());
    let election = wharf_plugin_host::leader::ElectionConfig::new(identity);
    tokio::spawn(wharf_plugin_host::leader::run(
        client.clone(),
        election,
        move |mut stopped| {
            let manager =
                wharf_controller_manager::ControllerManager::new(client.clone(), runtime.clone());
            let (client, runtime) = (client.clone(), runtime.clone());
            async move {
                // Stopped (dropped) when leadership is lost.
                let _collector = wharf_controller_manager::GarbageCollector::start(client.clone());
                let _pod_collector =
                    wharf_controller_manager::PodGarbageCollector::start(client.clone());
                let _scheduler = match wharf_scheduler::Scheduler::start(client, runtime) {
                    Ok(scheduler) => Some(scheduler),
                    Err(error) => {
                        tracing::error!(%error, "the scheduler did not start");
                        None
                    }
                };
                manager
                    .run(async move {
                        let _ = stopped.wait_for(|stop| *stop).await;
                    })
                    .await;
            }
        },
    ));
    Ok(())
}

/// Registers the simulated nodes, if asked (and simulates any node
/// labelled `wharf.dev/hollow=true`).
async fn start_hollow_nodes(
    state: &Arc<ApiState>,
    options: &Up,
) -> Result<Option<wharf_node::HollowNodes>, String> {
    let labels = match &options.sim_node_labels {
        Some(text) => wharf_node::HollowConfig::parse_labels(text)?,
        None => Default::default(),
    };
    let taints = options
        .sim_node_taint
        .iter()
        .map(|t| wharf_node::HollowConfig::parse_taint(t))
        .collect::<Result<Vec<_>, _>>()?;
    let config = wharf_node::HollowConfig {
        count: options.sim_nodes,
        cpu: options.sim_node_cpu.clone(),
        memory: options.sim_node_memory.clone(),
        pods: options.sim_node_pods,
        zones: options.sim_zones.clone(),
        labels,
        taints,
        heartbeat: std::time::Duration::from_millis(options.sim_heartbeat_ms),
        ..Default::default()
    };
    let client = wharf_apiserver::LocalClient::new(state.clone());
    let nodes = wharf_node::HollowNodes::start(client, config)
        .await
        .map_err(|e| format!("simulated nodes: {e}"))?;
    if options.sim_nodes > 0 {
        tracing::info!(count = options.sim_nodes, "simulated nodes registered");
    }
    Ok(Some(nodes))
}

/// Debian's CNI plugins, if this process may use them (root): pods then
/// get their own network namespace; else they share the host's network,
/// which is said once.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "wharf".into())
}

pub fn default_data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("wharf")
}

pub async fn run(options: Up) -> Result<(), String> {
    private_dir(&options.data_dir)?;
    let store: Arc<dyn Store> = match options.store.as_str() {
        "embedded" => Arc::new(
            EmbeddedStore::open(EmbeddedConfig {
                history_bytes: options.store_history_mib << 20,
                ..EmbeddedConfig::new(options.data_dir.join("store"))
            })
            .map_err(|e| e.to_string())?,
        ),
        other => match other.strip_prefix("etcd=") {
            Some(urls) => {
                let endpoints: Vec<String> = urls.split(',').map(String::from).collect();
                Arc::new(
                    EtcdStore::connect(EtcdConfig::new(endpoints))
                        .await
                        .map_err(|e| format!("etcd: {e}"))?,
                )
            }
            None => {
                return Err(format!(
                    "--store must be `embedded` or `etcd=URL`, not {other:?}"
                ));
            }
        },
    };
    let encryption = match &options.encryption_provider_config {
        Some(path) => wharf_apiserver::encryption::EncryptionConfig::load(path),
        None => wharf_apiserver::encryption::EncryptionConfig::ensure(
            &options.data_dir.join("encryption-config.yaml"),
        ),
    }
    .map_err(|e| format!("--encryption-provider-config: {e}"))?;
    let store: Arc<dyn Store> = Arc::new(wharf_store::TransformingStore::new(
        store,
        Arc::new(encryption),
    ));
    let config = wharf_apiserver::ApiConfig {
        watch_cache: wharf_apiserver::CacheBounds {
            events: options.watch_cache_events,
            bytes: options.watch_cache_mib << 20,
        },
        inflight: wharf_apiserver::InflightLimits {
            readonly: options.max_requests_inflight,
            mutating: options.max_mutating_requests_inflight,
        },
        modules: wharf_apiserver::modules::ModuleLimits {
            total_bytes: options.modules_mib << 20,
            grace: std::time::Duration::from_secs(options.module_grace_seconds),
        },
        anonymous: if options.anonymous_auth {
            wharf_apiserver::authn::Anonymous::Everywhere
        } else {
            wharf_apiserver::authn::Anonymous::PublicEndpoints
        },
    };
    let state = ApiState::with_config(store, config)
        .await
        .map_err(|e| format!("starting the API server: {e}"))?;
    let pki = cluster_pki(&options)?;
    let token_key = wharf_pki::TokenKey::load_or_generate(&options.data_dir.join("pki"))
        .map_err(|e| format!("the ServiceAccount token key: {e}"))?;
    state.enable_service_account_tokens(token_key)?;
    // Joining nodes: bootstrap tokens, and their certificates signed.
    state.enable_bootstrap_tokens();
    wharf_apiserver::certificates::spawn_signer(&state, pki.ca.clone());
    // `pods/log` reaches node agents with a client certificate of its own.
    let kubelet_client = pki
        .ca
        .issue(&wharf_pki::Usage::Client {
            user: wharf_node::server::KUBELET_CLIENT_USER,
            group: None,
        })
        .map_err(|e| format!("the kubelet client certificate: {e}"))?;
    state.enable_kubelet_client(wharf_apiserver::logs::KubeletClient::new(
        pki.ca.cert_pem(),
        &kubelet_client,
    )?)?;
    if !options.no_audit_log {
        let policy = match &options.audit_policy_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|text| wharf_apiserver::audit::Policy::parse(&text))
                .map_err(|e| format!("--audit-policy-file {}: {e}", path.display()))?,
            None => wharf_apiserver::audit::Policy::metadata(),
        };
        let path =
            (options.audit_log_path.clone()).unwrap_or_else(|| options.data_dir.join("audit.log"));
        let log =
            wharf_apiserver::audit::AuditLog::open(&path, options.audit_log_maxsize << 20, policy)
                .map_err(|e| format!("the audit log {}: {e}", path.display()))?;
        state.enable_audit(log)?;
    }
    if !options.no_controllers {
        start_controllers(state.clone(), &options, pki.ca.cert_pem()).await?;
    }
    let _hollow = start_hollow_nodes(&state, &options).await?;
    let agent = if options.no_node {
        None
    } else {
        let client = wharf_apiserver::LocalClient::new(state.clone());
        let name = options
            .node_name
            .clone()
            .unwrap_or_else(hostname)
            .to_lowercase();
        let api = SocketAddr::from(([127, 0, 0, 1], 0));
        let data_dir = options.data_dir.join("node");
        // This node's serving certificate is signed here, not asked for.
        let serving = pki
            .ca
            .issue(&wharf_pki::Usage::Server {
                common_name: &format!("system:node:{name}"),
                dns_names: std::slice::from_ref(&name),
                addresses: &[api.ip()],
            })
            .map_err(|e| format!("the node's serving certificate: {e}"))?;
        let tls = wharf_node::KubeletTls {
            client_ca_pem: pki.ca.cert_pem().to_string(),
            serving: Some(serving),
        };
        Some(
            crate::node_cmd::start_agent(client, name, data_dir, &options.runtime, api, tls)
                .await?,
        )
    };
    let proxy = if options.no_proxy {
        None
    } else {
        crate::node_cmd::start_proxy(wharf_apiserver::LocalClient::new(state.clone())).await
    };
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    // A server listening on every address is reached locally on loopback.
    let local = match address.ip() {
        ip if ip.is_unspecified() => SocketAddr::new(
            if ip.is_ipv4() {
                IpAddr::from([127, 0, 0, 1])
            } else {
                IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
            },
            address.port(),
        ),
        _ => address,
    };
    let advertise = SocketAddr::new(
        options
            .advertise_address
            .unwrap_or_else(|| advertised_ip(address.ip())),
        address.port(),
    );
    wharf_apiserver::kubernetes_service::spawn(&state, service_ip(), advertise);
    wharf_apiserver::certificates::publish_cluster_info(
        &state,
        &format!("https://{advertise}"),
        pki.ca.cert_pem(),
    )
    .await
    .map_err(|e| format!("publishing cluster-info: {e}"))?;
    let tls = Arc::new(
        pki.server_config()
            .map_err(|e| format!("the serving certificate: {e}"))?,
    );
    let kubeconfig = options.data_dir.join("kubeconfig");
    let server = format!("https://{local}");
    write_kubeconfig(&kubeconfig, &server, &pki)?;
    println!(
        "wharf: ready — API server at {server}, kubeconfig {}",
        kubeconfig.display()
    );

    let shutdown = async {
        shutdown_signal().await;
        tracing::info!("shutting down");
    };
    wharf_apiserver::serve(listener, state, tls, shutdown)
        .await
        .map_err(|e| format!("the API server failed: {e}"))?;
    if let Some(proxy) = proxy {
        proxy.stop().await;
    }
    // Pods keep running: the next `wharf up` adopts them.
    if let Some(agent) = agent {
        agent.shutdown().await;
    }
    println!("wharf: stopped");
    Ok(())
}

pub async fn shutdown_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return std::future::pending().await,
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// The cluster CA in `DATA_DIR/pki` (made on first start) and this
/// start's serving and admin certificates. The serving certificate covers
/// kube's names (`localhost`, the `kubernetes` Service's names and
/// ClusterIP), the listen address (every address of this machine when it
/// is unspecified), this machine's hostname and `--tls-san`.
fn cluster_pki(options: &Up) -> Result<wharf_pki::ClusterPki, String> {
    let (mut dns_names, mut addresses) = wharf_pki::default_serving_names(service_ip().into());
    dns_names.push(hostname());
    if options.listen.ip().is_unspecified() {
        addresses.extend(local_addresses());
    } else {
        addresses.push(options.listen.ip());
    }
    for san in &options.tls_san {
        match san.parse::<IpAddr>() {
            Ok(ip) => addresses.push(ip),
            Err(_) => dns_names.push(san.clone()),
        }
    }
    addresses.sort();
    addresses.dedup();
    dns_names.sort();
    dns_names.dedup();
    wharf_pki::ClusterPki::load_or_generate(&options.data_dir.join("pki"), &dns_names, &addresses)
        .map_err(|e| format!("the cluster's certificates: {e}"))
}

/// The `kubernetes` Service's ClusterIP: the first of the service range.
fn service_ip() -> std::net::Ipv4Addr {
    wharf_apiserver::allocator::AllocatorConfig::default().api_server_ip()
}

/// The address pods reach this API server at, as kube-apiserver picks its
/// advertise address: the listen address, or when listening on every
/// address this machine's first non-loopback IPv4 one (loopback if it has
/// none).
fn advertised_ip(listen: IpAddr) -> IpAddr {
    if !listen.is_unspecified() {
        return listen;
    }
    local_addresses()
        .into_iter()
        .find(|ip| ip.is_ipv4() && !ip.is_loopback())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// This machine's own addresses: IPv4 from the kernel's local routing
/// table, IPv6 from `if_inet6`.
fn local_addresses() -> Vec<IpAddr> {
    let mut addresses = Vec::new();
    // `/proc/net/fib_trie` lists each local address as a `/32 host LOCAL`
    // leaf under the line that names it.
    if let Ok(trie) = std::fs::read_to_string("/proc/net/fib_trie") {
        let mut previous = "";
        for line in trie.lines() {
            if line.trim() == "/32 host LOCAL"
                && let Some(ip) = previous
                    .trim()
                    .trim_start_matches("|-- ")
                    .parse::<IpAddr>()
                    .ok()
            {
                addresses.push(ip);
            }
            previous = line;
        }
    }
    if let Ok(table) = std::fs::read_to_string("/proc/net/if_inet6") {
        for line in table.lines() {
            let Some(hex) = line.split_whitespace().next() else {
                continue;
            };
            if let Ok(bits) = u128::from_str_radix(hex, 16) {
                addresses.push(IpAddr::from(std::net::Ipv6Addr::from(bits)));
            }
        }
    }
    addresses
}

/// The admin's kubeconfig: the server, the cluster CA and the admin
/// client certificate, all inline (0600).
fn write_kubeconfig(
    path: &std::path::Path,
    server: &str,
    pki: &wharf_pki::ClusterPki,
) -> Result<(), String> {
    let text = kubeconfig_text(server, pki.ca.cert_pem(), &pki.admin, "wharf");
    wharf_pki::write_file(path, text.as_bytes(), 0o600).map_err(|e| e.to_string())
}

/// A kubeconfig for `server`, trusting `ca_pem`, as the user `client`
/// names (`user` names its entry).
pub(crate) fn kubeconfig_text(
    server: &str,
    ca_pem: &str,
    client: &wharf_pki::Issued,
    user: &str,
) -> String {
    use base64::Engine;
    let encode = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    let (ca, cert, key) = (
        encode(ca_pem),
        encode(&client.cert_pem),
        encode(&client.key_pem),
    );
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: wharf
  cluster:
    server: {server}
    certificate-authority-data: {ca}
contexts:
- name: wharf
  context:
    cluster: wharf
    user: {user}
    namespace: default
current-context: wharf
users:
- name: {user}
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
"
    )
}

/// Makes `dir` (and its parents) and leaves it to its owner alone (0700):
/// the store, the kubeconfig and the plugins' modules are in it.
pub(crate) fn private_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
        .map_err(|e| format!("{}: {e}", dir.display()))
}
