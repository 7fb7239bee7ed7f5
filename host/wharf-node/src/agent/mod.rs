//! The node agent: Wharf's kubelet, with its runtime drivers.
//!
//! [`NodeAgent::start`] registers this machine as a Node, heartbeats it, and
//! runs the pods bound to it (`spec.nodeName`) through one runtime driver:
//! host processes (`process`, the default), Docker containers (`docker`),
//! or a third party's shared library (`native`). It talks to the API server
//! only through an [`ApiClient`] (in process in `wharf up`, over HTTP for
//! `wharf node`), as the kubelet talks to kube-apiserver: what it does is
//! what `kubectl` sees.
//!
//! The pieces, one noun each:
//!
//! - `node.rs`: registration (create or adopt the Node; capacity, labels,
//!   addresses, node info and conditions from this machine), the Lease
//!   heartbeat in `kube-node-lease`, the periodic node status.
//! - `pods/`: the pod watch and one worker task per pod: network and
//!   volumes, init containers in order, app containers, restarts with
//!   CrashLoopBackOff, deletion with a grace period, adoption of what a
//!   previous agent started.
//! - `runtime.rs`: the `ContainerRuntime` trait the pod workers run
//!   containers through (sandbox, create and start, signal, adopt,
//!   remove, exec for probes), and the driver chosen; its implementations:
//!   `process.rs` (a container is one process started from its
//!   `command`/`args` in a process group of its own, in its cgroup, mount
//!   and network namespaces), `docker.rs` (bollard: a pause container per
//!   pod holding its network namespace), and `native.rs` (a third party's
//!   library through `wharf-native-runtime`). A fake one
//!   (`runtime/fake.rs`) lets the tests of the pods' lifecycle
//!   (`pods/lifecycle_tests.rs`) run no process.
//! - `enter.rs`: exec for the process driver (a command entered into a
//!   running container from `/proc/PID`: cgroups, namespaces, user,
//!   environment; a pseudo-terminal with a TTY).
//! - `probes.rs`: startup, liveness and readiness probes (exec, httpGet,
//!   tcpSocket), a task per container process reporting to its worker.
//! - `env.rs`: a container's environment (service links such as
//!   `KUBERNETES_SERVICE_HOST`, `env`, `envFrom`, ConfigMaps, Secrets, the
//!   downward API) and `$(VAR)` expansion.
//! - `volumes.rs`: emptyDir, configMap, secret, downwardAPI, projected
//!   (with ServiceAccount tokens, refreshed) and hostPath volumes and a
//!   container's mounts of them.
//! - `warm.rs`: pod networks wired ahead of pods.
//! - `status.rs`: the pod status a kubelet reports (phase, conditions,
//!   container statuses), computed from the runtime's records.
//! - `checkpoint.rs`: per-pod records on disk, so that a restarted agent
//!   adopts processes and containers instead of starting them twice.
//! - `cgroups.rs`: a cgroup per container of the process driver, with its
//!   limits.
//! - `logs.rs`: where container logs go (every driver writes there).
//!
//! Files under `data_dir`: `pods/<uid>/checkpoint.json` (the records),
//! `pods/<uid>/volumes/` (the pod's emptyDir, configMap and secret
//! volumes), `logs/<namespace>_<pod>_<uid>/<container>/<restart>.log` (as
//! the kubelet's `/var/log/pods`) and `warm-networks.json`.
//!
//! # What is not done
//!
//! - Resources: each process-driver container runs in a cgroup of its own
//!   (`wharf/<pod-uid>/<container>`, v1 or v2) with its memory and cpu
//!   limits; the docker driver gives the engine the same limits. Not yet:
//!   requests (cpu shares, `memory.low`), `pids.max`, pod-level limits,
//!   hugepages.
//! - Volumes: not persistent ones; `emptyDir.medium: Memory` is a plain
//!   directory; mounted ConfigMaps and Secrets are written when a
//!   container starts, not updated live (projected tokens are refreshed).
//! - Images: the process driver pulls none: the program named by `command`
//!   (or `args[0]`) runs from the node's filesystem and `image` is only
//!   reported back. The docker driver pulls as `imagePullPolicy` says.
//! - Lifecycle hooks (postStart, preStop) are not run. Probes are, but not
//!   gRPC or HTTPS ones (each run of one fails, saying so), and an httpGet
//!   probe does not follow redirects (a 3xx is a success, as the kubelet's
//!   is for a redirect to another host). Under `restartPolicy: OnFailure`
//!   a container killed for a failed probe that exits 0 on SIGTERM counts
//!   as completed (the kubelet restarts it anyway).
//! - Exit codes of processes that exit while no agent is their parent (an
//!   adopted process, or one that ended while the agent was down) cannot be
//!   read; they are reported as `ContainerStatusUnknown` (137). A per-
//!   container shim process, as containerd's, would keep them. (The docker
//!   driver has them from the engine.)

mod cgroups;
mod checkpoint;
mod docker;
pub(crate) mod enter;
mod env;
pub(crate) mod logs;
mod native;
mod node;
mod pods;
mod probes;
mod process;
mod runtime;
mod security;
mod status;
mod volumes;
mod warm;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use wharf_client::{ApiClient, ApiError, ResourceDef};

pub use logs::container_log_path;
pub use runtime::RuntimeConfig;

/// Whether this process runs as root (effective uid 0): pod networks and
/// the process driver's volumes (a private mount namespace) need it.
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

/// What the node agent runs as.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The Node's name (and `kubernetes.io/hostname`).
    pub node_name: String,
    /// Pods' logs and the records that let a restarted agent adopt them.
    pub data_dir: PathBuf,
    /// Lease renew interval; default 10 s.
    pub heartbeat: Duration,
    /// `spec.podCIDR` to register the Node with, if it has none.
    pub pod_cidr_hint: Option<String>,
    /// How often the Node's status (its conditions' `lastHeartbeatTime`)
    /// is written even when nothing changed; default 1 min.
    pub node_status_period: Duration,
    /// Restart back-off of exited containers.
    pub crash_loop_back_off: BackOffConfig,
    /// Where the agent's API (pod logs, for `kubectl logs`) listens; port 0
    /// picks a free one. `None`: no API. The port is published in the
    /// Node's `status.daemonEndpoints.kubeletEndpoint.Port`.
    pub api_address: Option<std::net::SocketAddr>,
    /// The port the API got (set by [`NodeAgent::start`]).
    pub kubelet_port: Option<u16>,
    /// The API's TLS: required when it listens.
    pub tls: Option<KubeletTls>,
    /// Where the CNI plugins are: each pod then gets its own network
    /// namespace on the node's bridge with an address from the node's pod
    /// CIDR (needs root). `None`: pods share the host's network (podIP =
    /// hostIP), as with `hostNetwork: true`.
    pub cni_plugin_dir: Option<PathBuf>,
    /// The runtime driver: processes (default) or Docker containers.
    pub runtime: RuntimeConfig,
    /// The Node's InternalIP, where the API server reaches the agent's API
    /// and pods in the host's network are; default 127.0.0.1.
    pub node_ip: String,
    /// Pod networks kept wired ahead of pods (process and native drivers,
    /// with CNI), so that pods start without waiting for the plugins;
    /// default 0.
    pub warm_networks: usize,
}

/// The TLS of the agent's API.
#[derive(Clone, Debug)]
pub struct KubeletTls {
    /// The cluster CA, whose client certificates the API accepts (the API
    /// server's for kubelets).
    pub client_ca_pem: String,
    /// Its serving certificate; `None`: asked of the cluster at start (a
    /// CertificateSigningRequest to `kubernetes.io/kubelet-serving` for the
    /// node's name and InternalIP, which the cluster's signer approves for
    /// the node itself).
    pub serving: Option<wharf_pki::Issued>,
}

/// CrashLoopBackOff: the first restart is immediate, then the delay starts
/// at `initial` and doubles up to `max`; a container that ran `reset_after`
/// starts over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackOffConfig {
    /// Default 10 s.
    pub initial: Duration,
    /// Default 5 min.
    pub max: Duration,
    /// Default 10 min.
    pub reset_after: Duration,
}

impl Default for BackOffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
            reset_after: Duration::from_secs(600),
        }
    }
}

impl AgentConfig {
    /// The kubelet's defaults for a node named `node_name`.
    pub fn new(node_name: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            node_name: node_name.into(),
            data_dir: data_dir.into(),
            heartbeat: Duration::from_secs(10),
            pod_cidr_hint: None,
            node_status_period: Duration::from_secs(60),
            crash_loop_back_off: BackOffConfig::default(),
            api_address: None,
            kubelet_port: None,
            tls: None,
            cni_plugin_dir: None,
            runtime: RuntimeConfig::Process,
            node_ip: "127.0.0.1".into(),
            warm_networks: 0,
        }
    }

    fn check(&self) -> Result<(), AgentError> {
        let invalid = |message: &str| Err(AgentError::InvalidConfig(message.into()));
        if !node::valid_node_name(&self.node_name) {
            return Err(AgentError::InvalidConfig(format!(
                "{:?} is not a valid node name (a lowercase DNS subdomain)",
                self.node_name
            )));
        }
        if self.heartbeat.is_zero() || self.node_status_period.is_zero() {
            return invalid("the heartbeat and node status periods must be more than zero");
        }
        let back_off = &self.crash_loop_back_off;
        if back_off.initial.is_zero() || back_off.max < back_off.initial {
            return invalid("the back-off must start above zero and end at or above its start");
        }
        if self.data_dir.as_os_str().is_empty() {
            return invalid("the data directory must be given");
        }
        Ok(())
    }
}

/// The TLS configuration of the agent's API: the configured serving
/// certificate, or one the cluster signs now.
async fn serving_tls(
    client: &ApiClient,
    config: &AgentConfig,
) -> Result<Arc<rustls::ServerConfig>, AgentError> {
    let tls = config.tls.as_ref().ok_or_else(|| {
        AgentError::InvalidConfig("the agent's API needs its TLS configuration".into())
    })?;
    let tls_error = |message: String| AgentError::Tls(message);
    let serving = match &tls.serving {
        Some(serving) => serving.clone(),
        None => {
            let user = format!("system:node:{}", config.node_name);
            let addresses: Vec<std::net::IpAddr> = config.node_ip.parse().into_iter().collect();
            let (request, key) = wharf_pki::new_request(
                &user,
                Some("system:nodes"),
                std::slice::from_ref(&config.node_name),
                &addresses,
            )
            .map_err(|e| tls_error(e.to_string()))?;
            let chain = wharf_client::certificates::request_certificate(
                &**client,
                &request,
                wharf_client::certificates::KUBELET_SERVING_SIGNER,
                &["digital signature", "key encipherment", "server auth"],
            )
            .await
            .map_err(tls_error)?;
            wharf_pki::Issued {
                cert_pem: chain,
                key_pem: key,
            }
        }
    };
    wharf_pki::server_config(&serving, &tls.client_ca_pem)
        .map(Arc::new)
        .map_err(|e| tls_error(e.to_string()))
}

/// Why the node agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration cannot be run (bad node name, zero period…).
    #[error("invalid node agent configuration: {0}")]
    InvalidConfig(String),
    /// The data directory cannot be created or written.
    #[error("cannot use the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The API server does not serve a kind a kubelet needs.
    #[error("the API server does not serve {kind}: {source}")]
    KindMissing {
        kind: &'static str,
        #[source]
        source: Box<ApiError>,
    },
    /// The agent's API has no certificate to serve.
    #[error("the node agent's API certificate: {0}")]
    Tls(String),
    /// The agent's API could not listen.
    #[error("the node agent's API cannot listen on {address}: {source}")]
    Api {
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The runtime driver cannot be used (no Docker Engine…).
    #[error("the {driver} runtime cannot be used: {message}")]
    Runtime {
        driver: &'static str,
        message: String,
    },
    /// The Node could be neither created nor adopted.
    #[error("cannot register node {name}: {source}")]
    RegisterFailed {
        name: String,
        #[source]
        source: Box<ApiError>,
    },
}

/// A running node agent. Dropping it (or [`NodeAgent::stop`]) stops the
/// agent but leaves the pods' processes running, as a kubelet that exits
/// leaves its containers: the next agent on the same `data_dir` adopts them.
pub struct NodeAgent {
    gate: Gate,
    tasks: Vec<JoinHandle<()>>,
    warm: Option<Arc<warm::WarmNetworks>>,
}

impl NodeAgent {
    /// Registers the Node (or adopts it), then heartbeats it and runs the
    /// pods bound to it. Returns once the Node is registered.
    pub async fn start(
        client: impl Into<ApiClient>,
        mut config: AgentConfig,
    ) -> Result<Self, AgentError> {
        let client: ApiClient = client.into();
        config.check()?;
        // The API first, so that the Node is registered with its port.
        let mut api = None;
        if let Some(address) = config.api_address {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .map_err(|source| AgentError::Api { address, source })?;
            config.kubelet_port = listener.local_addr().ok().map(|a| a.port());
            let tls = serving_tls(&client, &config).await?;
            api = Some((listener, tls));
        }
        for dir in [
            logs::logs_dir(&config.data_dir),
            checkpoint::pods_dir(&config.data_dir),
        ] {
            std::fs::create_dir_all(&dir).map_err(|source| AgentError::DataDir {
                path: dir.clone(),
                source,
            })?;
        }
        // Pods' volumes (their Secrets) are under it: a pod's process,
        // whatever its user, reaches its own only through its mounts.
        let pods = checkpoint::pods_dir(&config.data_dir);
        std::fs::set_permissions(&pods, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(|source| AgentError::DataDir {
                path: pods.clone(),
                source,
            })?;
        let kind = |kind: &'static str, group: &str| {
            client
                .resource(group, "v1", kind)
                .map_err(|source| AgentError::KindMissing {
                    kind,
                    source: Box::new(source),
                })
        };
        let runtime =
            runtime::connect(&config.runtime)
                .await
                .map_err(|message| AgentError::Runtime {
                    driver: config.runtime.kind(),
                    message,
                })?;
        let warm = (config.cni_plugin_dir.clone())
            .filter(|_| config.warm_networks > 0 && !runtime.sandbox_owns_network())
            .map(|plugin_dir| {
                Arc::new(warm::WarmNetworks::new(
                    config.warm_networks,
                    &config.data_dir,
                    plugin_dir,
                ))
            });
        let shared = Arc::new(Shared {
            warm: warm.clone(),
            runtime,
            resources: Resources {
                nodes: kind("Node", "")?,
                pods: kind("Pod", "")?,
                leases: kind("Lease", "coordination.k8s.io")?,
                config_maps: kind("ConfigMap", "")?,
                secrets: kind("Secret", "")?,
                services: kind("Service", "")?,
            },
            events: wharf_client::events::Recorder::start(
                client.clone(),
                wharf_client::events::Source {
                    component: "kubelet",
                    host: Some(config.node_name.clone()),
                },
            ),
            client,
            config,
            gate: Gate::default(),
        });
        let node = node::register(&shared).await?;
        let mut tasks = vec![
            tokio::spawn(node::heartbeat(shared.clone(), node)),
            tokio::spawn(pods::run(shared.clone())),
        ];
        if let Some(warm) = warm {
            tasks.push(tokio::spawn(warm::fill(shared.clone(), warm)));
        }
        if let Some((listener, tls)) = api {
            let data_dir = shared.config.data_dir.clone();
            let streams: Arc<dyn crate::server::Streams> = Arc::new(Containers {
                data_dir: data_dir.clone(),
                runtime: shared.runtime.clone(),
            });
            tasks.push(tokio::spawn(async move {
                if let Err(error) =
                    crate::server::serve(listener, data_dir, streams, tls, std::future::pending())
                        .await
                {
                    tracing::error!(%error, "the node agent's API stopped");
                }
            }));
        }
        Ok(Self {
            gate: shared.gate.clone(),
            tasks,
            warm: shared.warm.clone(),
        })
    }

    /// How many warm pod networks are ready now.
    pub fn warm_networks_ready(&self) -> usize {
        self.warm.as_ref().map_or(0, |warm| warm.ready_count())
    }

    /// Stops the agent (as dropping it does). Once it returns, the agent
    /// starts no process, signals none, and writes no record.
    pub fn stop(self) {}

    /// Stops the agent, then tears down its warm pod networks (pods keep
    /// running, as with [`NodeAgent::stop`]).
    pub async fn shutdown(mut self) {
        let warm = self.warm.take();
        drop(self);
        if let Some(warm) = warm {
            warm.drain().await;
        }
    }
}

impl Drop for NodeAgent {
    fn drop(&mut self) {
        self.gate.close();
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What every task of one agent shares.
struct Shared {
    /// Pod networks wired ahead of pods, if the agent keeps some.
    warm: Option<Arc<warm::WarmNetworks>>,
    /// What runs the containers.
    runtime: Arc<dyn runtime::ContainerRuntime>,
    /// The pods' events (Created, Started, Killing, Unhealthy).
    events: wharf_client::events::Recorder,
    client: ApiClient,
    config: AgentConfig,
    resources: Resources,
    gate: Gate,
}

struct Resources {
    nodes: Arc<ResourceDef>,
    pods: Arc<ResourceDef>,
    leases: Arc<ResourceDef>,
    config_maps: Arc<ResourceDef>,
    secrets: Arc<ResourceDef>,
    services: Arc<ResourceDef>,
}

/// Guards the agent's side effects on the machine (starting and signalling
/// processes, writing records): each runs whole under the lock, and none
/// runs once the agent is stopped. So a stopped agent's tasks, cancelled at
/// their next await, cannot race the next agent on the same `data_dir`.
#[derive(Clone, Default)]
struct Gate {
    closed: Arc<Mutex<bool>>,
}

impl Gate {
    /// Runs `effect` unless the agent is stopped.
    fn run<T>(&self, effect: impl FnOnce() -> T) -> Option<T> {
        let closed = self.closed.lock().unwrap_or_else(PoisonError::into_inner);
        (!*closed).then(effect)
    }

    fn close(&self) {
        *self.closed.lock().unwrap_or_else(PoisonError::into_inner) = true;
    }
}

/// The agent's running containers as its API reaches them: found through
/// the pods' checkpoints, entered through the runtime.
struct Containers {
    data_dir: PathBuf,
    runtime: Arc<dyn runtime::ContainerRuntime>,
}

impl crate::server::Streams for Containers {
    fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        request: &enter::ExecRequest<'_>,
    ) -> Result<crate::streaming::Session, crate::server::StreamError> {
        use crate::server::StreamError;
        // A pod recreated under its name has a record per UID: the one
        // whose container runs is the one asked for.
        let records: Vec<_> = checkpoint::recorded_uids(&self.data_dir)
            .into_iter()
            .filter_map(|uid| checkpoint::load(&self.data_dir, &uid))
            .filter(|record| {
                record.namespace == namespace && record.name == pod && !record.finished
            })
            .collect();
        if records.is_empty() {
            return Err(StreamError::NotFound(format!(
                "pod not found (\"{namespace}/{pod}\")"
            )));
        }
        let running = records
            .iter()
            .find_map(|record| record.containers.get(container)?.running.as_ref())
            .ok_or_else(|| {
                StreamError::NotFound(format!("container not found (\"{container}\")"))
            })?;
        self.runtime
            .stream_exec(running, request)
            .map_err(StreamError::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_that_cannot_run_is_refused() {
        let good = AgentConfig::new("node-a", "/tmp/x");
        assert!(good.check().is_ok());
        let cases = [
            AgentConfig::new("Node_A", "/tmp/x"),
            AgentConfig::new("", "/tmp/x"),
            AgentConfig::new("node-a", ""),
            AgentConfig {
                heartbeat: Duration::ZERO,
                ..good.clone()
            },
            AgentConfig {
                crash_loop_back_off: BackOffConfig {
                    initial: Duration::from_secs(2),
                    max: Duration::from_secs(1),
                    reset_after: Duration::from_secs(1),
                },
                ..good.clone()
            },
        ];
        for config in cases {
            assert!(
                matches!(config.check(), Err(AgentError::InvalidConfig(_))),
                "{config:?}"
            );
        }
    }

    #[test]
    fn a_closed_gate_runs_nothing() {
        let gate = Gate::default();
        assert_eq!(gate.run(|| 1), Some(1));
        gate.close();
        assert_eq!(gate.run(|| 2), None);
    }
}
