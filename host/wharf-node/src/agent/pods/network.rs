//! The pod's network: its own namespace and address from the node's pod
//! CIDR through the CNI plugins (a warm one if the agent keeps some), in
//! the runtime's sandbox if it makes one, torn down with the pod.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::worker::Worker;
use super::{containers, name_of};
use crate::agent::Shared;
use crate::agent::env::str_at;
use crate::agent::runtime::PodRef;

impl Worker {
    /// Gives the pod its network namespace and address (once; a restarted
    /// agent finds the address in the record), unless the agent runs pods
    /// in the host's network or the pod asks for it.
    pub(super) async fn ensure_network(&mut self, pod: &Value) -> Result<(), Instant> {
        let Some(plugin_dir) = self.shared.config.cni_plugin_dir.clone() else {
            return Ok(());
        };
        if self.record.pod_ip.is_some()
            || pod.pointer("/spec/hostNetwork").and_then(Value::as_bool) == Some(true)
        {
            return Ok(());
        }
        let retry = Instant::now() + Duration::from_secs(2);
        let names: Vec<String> = containers(pod, "initContainers")
            .chain(containers(pod, "containers"))
            .map(|c| name_of(c).to_string())
            .collect();
        let cidr = self.node_pod_cidr().await;
        let Some(cidr) = cidr else {
            for name in &names {
                self.block(
                    name,
                    "ContainerCreating",
                    "network is not ready: the node has no pod CIDR yet",
                );
            }
            return Err(retry);
        };
        // Host ports are mapped as the pod's network is wired: not warm.
        let ports = host_ports(pod);
        if let Some(warm) = (self.shared.warm.as_ref())
            .filter(|_| !self.shared.runtime.sandbox_owns_network() && ports.is_empty())
            && let Some(taken) = warm.take(&cidr)
        {
            tracing::info!(
                namespace = self.record.namespace,
                pod = self.record.name,
                ip = taken.ip,
                "pod network ready (warm)"
            );
            self.record.pod_ip = Some(taken.ip);
            self.record.netns = Some(taken.netns);
            self.record.cni_id = Some(taken.cni_id);
            self.save();
            self.network_ready(&names);
            return Ok(());
        }
        if let Err(message) = self.prepare_sandbox().await {
            for name in &names {
                self.block(name, "ContainerCreating", &message);
            }
            return Err(retry);
        }
        let mut config = wharf_cni::CniConfig::new(&cidr, &self.shared.config.data_dir);
        config.plugin_dir = plugin_dir;
        let (uid, netns) = (self.uid.clone(), wharf_cni::netns_name(&self.uid));
        // Recorded first: a teardown after a failed setup removes them too.
        self.record.host_ports = ports.clone();
        self.save();
        match tokio::task::spawn_blocking(move || {
            wharf_cni::setup_named(&config, &netns, &uid, &ports)
        })
        .await
        {
            Ok(Ok(network)) => {
                tracing::info!(
                    namespace = self.record.namespace,
                    pod = self.record.name,
                    ip = network.ip,
                    "pod network ready"
                );
                self.record.pod_ip = Some(network.ip);
                self.save();
                self.network_ready(&names);
                Ok(())
            }
            Ok(Err(error)) => {
                let message = format!("failed to set up the pod's network: {error}");
                for name in &names {
                    self.block(name, "ContainerCreating", &message);
                }
                Err(retry)
            }
            Err(join) => {
                tracing::error!(%join, "pod network setup panicked");
                Err(retry)
            }
        }
    }

    /// The network is up: containers held for it may be created.
    pub(super) fn network_ready(&mut self, names: &[String]) {
        for name in names {
            if (self.blocked.get(name)).is_some_and(|(reason, _)| reason == "ContainerCreating") {
                self.blocked.remove(name);
            }
        }
    }

    /// The runtime's pod sandbox (docker's pause container), whose network
    /// namespace the CNI plugins then wire.
    pub(super) async fn prepare_sandbox(&mut self) -> Result<(), String> {
        let mut sandbox_id = self.record.sandbox_id.clone();
        let pod = PodRef {
            uid: &self.uid,
            namespace: &self.record.namespace,
            name: &self.record.name,
        };
        let prepared = (self.shared.runtime)
            .prepare_sandbox(pod, &mut sandbox_id)
            .await;
        if sandbox_id != self.record.sandbox_id {
            self.record.sandbox_id = sandbox_id;
            self.save();
        }
        prepared
    }

    pub(super) async fn node_pod_cidr(&self) -> Option<String> {
        node_pod_cidr(&self.shared).await
    }

    /// The pod's network namespace: a warm one it took, or its own.
    pub(super) fn netns(&self) -> String {
        (self.record.netns.clone()).unwrap_or_else(|| wharf_cni::netns_name(&self.uid))
    }

    /// Takes the pod's network down (its address back to the pool).
    pub(super) async fn teardown_network(&mut self) {
        let (Some(plugin_dir), Some(_)) = (
            self.shared.config.cni_plugin_dir.clone(),
            self.record.pod_ip.as_ref(),
        ) else {
            return;
        };
        let cidr = self.node_pod_cidr().await.unwrap_or_default();
        let mut config = wharf_cni::CniConfig::new(&cidr, &self.shared.config.data_dir);
        config.plugin_dir = plugin_dir;
        let netns = self.netns();
        let cni_id = (self.record.cni_id.clone()).unwrap_or_else(|| self.uid.clone());
        let ports = self.record.host_ports.clone();
        match tokio::task::spawn_blocking(move || {
            wharf_cni::teardown_named(&config, &netns, &cni_id, &ports)
        })
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "pod network teardown failed"),
            Err(join) => tracing::error!(%join, "pod network teardown panicked"),
        }
    }
}

/// The pod's `hostPort`s, for the portmap plugin.
fn host_ports(pod: &Value) -> Vec<wharf_cni::PortMapping> {
    let mut ports = Vec::new();
    for container in containers(pod, "initContainers").chain(containers(pod, "containers")) {
        for port in (container.get("ports").and_then(Value::as_array))
            .into_iter()
            .flatten()
        {
            let number = |field: &str| {
                (port.get(field).and_then(Value::as_u64)).and_then(|n| u16::try_from(n).ok())
            };
            let Some(host_port) = number("hostPort").filter(|p| *p > 0) else {
                continue;
            };
            ports.push(wharf_cni::PortMapping {
                host_port,
                container_port: number("containerPort").unwrap_or(host_port),
                protocol: str_at(port, "/protocol").unwrap_or("TCP").to_string(),
                host_ip: str_at(port, "/hostIP").map(str::to_string),
            });
        }
    }
    ports
}

/// The node's `spec.podCIDR`, which pod networks take addresses from.
pub(in crate::agent) async fn node_pod_cidr(shared: &Shared) -> Option<String> {
    let nodes = &shared.resources.nodes;
    let node = (shared.client.get(nodes, None, &shared.config.node_name))
        .await
        .ok()?;
    str_at(&node, "/spec/podCIDR")
        .filter(|cidr| !cidr.is_empty())
        .map(str::to_string)
}
