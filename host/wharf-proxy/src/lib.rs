//! Wharf's service proxy (kube-proxy, nftables mode): makes
//! `ClusterIP:port` and `NodeIP:nodePort` reach a Service's ready
//! endpoints, spread at random, with kernel NAT rules in one nftables
//! table that it owns and replaces atomically.
//!
//! - [`rules`]: the ruleset for a set of service ports (pure, tested).
//! - [`proxier`]: the Service and EndpointSlice watches and the sync loop.
//!
//! It needs root and the `nft` command (Debian's `nftables`); without them
//! [`Proxy::start`] says so and the caller runs on without a proxy. It sets
//! `net.ipv4.conf.all.route_localnet=1` so that endpoints on 127.0.0.1 (pods
//! in the host's network) are reachable through NAT.

pub mod proxier;
pub mod rules;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use wharf_client::ApiClient;

/// How the proxy runs.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// The nftables table it owns (`ip` family).
    pub table: String,
    /// At most one ruleset write per this interval (kube-proxy's minSyncPeriod).
    pub min_sync: Duration,
    /// The pods' network (kube-proxy's clusterCIDR): its traffic to a
    /// Service is not masqueraded.
    pub cluster_cidr: Option<String>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            table: "wharf-proxy".into(),
            min_sync: Duration::from_millis(100),
            cluster_cidr: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The machine cannot run it (no `nft`, not root).
    #[error("the service proxy cannot run here: {0}")]
    Unavailable(String),
    #[error("the API server does not serve {0}")]
    MissingKind(&'static str),
}

/// A running proxy; its table is removed on `stop`.
pub struct Proxy {
    table: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    /// Starts the watches and the sync loop on the current runtime.
    pub async fn start(
        client: impl Into<ApiClient>,
        config: ProxyConfig,
    ) -> Result<Proxy, ProxyError> {
        let client: ApiClient = client.into();
        proxier::apply(&rules::render_removal(&config.table))
            .await
            .map_err(ProxyError::Unavailable)?;
        if let Err(error) = std::fs::write("/proc/sys/net/ipv4/conf/all/route_localnet", "1") {
            tracing::warn!(%error, "proxy: cannot set route_localnet; endpoints on 127.0.0.1 will not be reachable");
        }
        let services = client
            .resource("", "v1", "Service")
            .map_err(|_| ProxyError::MissingKind("services"))?;
        let slices = client
            .resource("discovery.k8s.io", "v1", "EndpointSlice")
            .map_err(|_| ProxyError::MissingKind("endpointslices"))?;
        let state = Arc::new(std::sync::Mutex::new(proxier::State::default()));
        let changed = Arc::new(Notify::new());
        let tasks = vec![
            tokio::spawn(proxier::watch_kind(
                client.clone(),
                services,
                state.clone(),
                changed.clone(),
                true,
            )),
            tokio::spawn(proxier::watch_kind(
                client,
                slices,
                state.clone(),
                changed.clone(),
                false,
            )),
            tokio::spawn(proxier::sync_loop(
                config.table.clone(),
                config.cluster_cidr.clone(),
                state,
                changed,
                config.min_sync,
            )),
        ];
        Ok(Proxy {
            table: config.table,
            tasks,
        })
    }

    /// Stops and removes its rules.
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Err(error) = proxier::apply(&rules::render_removal(&self.table)).await {
            tracing::warn!(%error, "proxy: its table was not removed");
        }
    }
}
