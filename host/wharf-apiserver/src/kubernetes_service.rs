//! The `kubernetes` Service in `default`, as kube-apiserver keeps it: the
//! first ClusterIP of the service range (10.96.0.1), port 443 (`https`),
//! and an Endpoints object and an EndpointSlice of the same name that
//! point at the API server's advertised address. In-cluster clients
//! (client-go's and the Python client's in-cluster configuration) reach the
//! API through it: the service proxy forwards `10.96.0.1:443` there.
//!
//! The Service has no selector, so the endpoints controller leaves its
//! endpoints alone; this loop writes them at start and puts them back
//! every ten seconds if someone changed them (kube's endpoint reconciler
//! interval). With several API servers on one store each adds its own
//! address and keeps the others' (kube's `lease` reconciler expires those
//! of servers that stopped; not done here).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use wharf_client::Client;

use crate::ApiState;
use crate::client::LocalClient;
use crate::error::{ApiError, ApiResult};

const NAME: &str = "kubernetes";
const NAMESPACE: &str = "default";
/// How often the objects are checked (kube's `EndpointReconcilerInterval`).
const INTERVAL: Duration = Duration::from_secs(10);

/// Keeps the `kubernetes` Service and its endpoints true until the state
/// goes: they name `advertise` (the API server's address as pods reach
/// it) and the Service takes `cluster_ip`.
pub fn spawn(state: &Arc<ApiState>, cluster_ip: std::net::Ipv4Addr, advertise: SocketAddr) {
    let weak = Arc::downgrade(state);
    tokio::spawn(async move {
        loop {
            let Some(state) = weak.upgrade() else { return };
            if *state.closing.borrow() {
                return;
            }
            if let Err(error) = reconcile(&state, cluster_ip, advertise).await {
                tracing::warn!(%error, "the kubernetes Service could not be reconciled");
            }
            drop(state);
            tokio::time::sleep(INTERVAL).await;
        }
    });
}

/// One pass: the Service, its Endpoints and its EndpointSlice.
pub async fn reconcile(
    state: &Arc<ApiState>,
    cluster_ip: std::net::Ipv4Addr,
    advertise: SocketAddr,
) -> ApiResult<()> {
    let client = LocalClient::new(state.clone());
    let port = advertise.port();
    let ip = advertise.ip().to_string();

    let services = client.resource("", "v1", "Service")?;
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip.to_string(),
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
            "sessionAffinity": "None",
        },
    });
    match client.get(&services, Some(NAMESPACE), NAME).await {
        Err(ApiError::NotFound { .. }) => {
            create(&client, &services, &service).await?;
        }
        Err(error) => return Err(error),
        Ok(existing) => {
            // Only the ports are put back (kube's reconciler: a user may
            // label or annotate it).
            if existing.pointer("/spec/ports") != service.pointer("/spec/ports") {
                let mut updated = existing.clone();
                updated["spec"]["ports"] = service["spec"]["ports"].clone();
                client
                    .update(&services, Some(NAMESPACE), &updated, false)
                    .await?;
            }
        }
    }

    let endpoints = client.resource("", "v1", "Endpoints")?;
    let address = json!({"ip": ip});
    let subset_ports = json!([{"name": "https", "port": port, "protocol": "TCP"}]);
    match client.get(&endpoints, Some(NAMESPACE), NAME).await {
        Err(ApiError::NotFound { .. }) => {
            let object = json!({
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {
                    "name": NAME,
                    "namespace": NAMESPACE,
                    "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
                },
                "subsets": [{"addresses": [address], "ports": subset_ports}],
            });
            create(&client, &endpoints, &object).await?;
        }
        Err(error) => return Err(error),
        Ok(existing) => {
            let mut addresses: Vec<Value> = existing
                .pointer("/subsets/0/addresses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let ports_right = existing.pointer("/subsets/0/ports") == Some(&subset_ports);
            let single_subset = existing
                .get("subsets")
                .and_then(Value::as_array)
                .is_some_and(|s| s.len() == 1);
            if !addresses.iter().any(|a| a["ip"] == ip) || !ports_right || !single_subset {
                addresses.retain(|a| a["ip"] != ip);
                addresses.push(address);
                if !ports_right {
                    // Another port: the others' addresses are stale.
                    addresses.retain(|a| a["ip"] == ip);
                }
                let mut updated = existing.clone();
                updated["subsets"] = json!([{"addresses": addresses, "ports": subset_ports}]);
                client
                    .update(&endpoints, Some(NAMESPACE), &updated, false)
                    .await?;
            }
        }
    }

    let slices = client.resource("discovery.k8s.io", "v1", "EndpointSlice")?;
    let family = if advertise.is_ipv4() { "IPv4" } else { "IPv6" };
    let endpoint = json!({"addresses": [ip], "conditions": {"ready": true}});
    let slice_ports = json!([{"name": "https", "port": port, "protocol": "TCP"}]);
    match client.get(&slices, Some(NAMESPACE), NAME).await {
        Err(ApiError::NotFound { .. }) => {
            let object = json!({
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": NAME,
                    "namespace": NAMESPACE,
                    "labels": {"kubernetes.io/service-name": NAME},
                },
                "addressType": family,
                "endpoints": [endpoint],
                "ports": slice_ports,
            });
            create(&client, &slices, &object).await?;
        }
        Err(error) => return Err(error),
        Ok(existing) => {
            let mut listed: Vec<Value> = existing
                .get("endpoints")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let ports_right = existing.get("ports") == Some(&slice_ports);
            if !listed.contains(&endpoint) || !ports_right {
                listed.retain(|e| e["addresses"][0] != ip);
                if !ports_right {
                    listed.clear();
                }
                listed.push(endpoint);
                let mut updated = existing.clone();
                updated["endpoints"] = json!(listed);
                updated["ports"] = slice_ports;
                updated["addressType"] = json!(family);
                client
                    .update(&slices, Some(NAMESPACE), &updated, false)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Creates `object`; one made meanwhile (another API server) is fine.
async fn create(
    client: &LocalClient,
    resource: &wharf_client::ResourceDef,
    object: &Value,
) -> ApiResult<()> {
    match client.create(resource, Some(NAMESPACE), object).await {
        Ok(_) | Err(ApiError::AlreadyExists { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}
