//! The proxier: watches Services and EndpointSlices, and after each burst of
//! changes (at most once per `min_sync`) renders the ruleset and hands it to
//! `nft -f -` if it differs from the last one applied.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;
use wharf_client::Selectors;
use wharf_client::watcher::{Seen, Watcher};
use wharf_client::{ApiClient, ResourceDef, WatchType};

use crate::rules::{ServicePort, render};

/// The label an EndpointSlice names its Service with.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn key_of(object: &Value) -> String {
    format!(
        "{}/{}",
        text(object, "/metadata/namespace"),
        text(object, "/metadata/name")
    )
}

/// What the proxier knows: every Service and EndpointSlice by key.
#[derive(Default)]
pub struct State {
    pub services: BTreeMap<String, Value>,
    pub slices: BTreeMap<String, Value>,
}

impl State {
    /// The service ports with their ready endpoints.
    pub fn service_ports(&self) -> Vec<ServicePort> {
        // EndpointSlices by (namespace, service).
        let mut slices: HashMap<(String, String), Vec<&Value>> = HashMap::new();
        for slice in self.slices.values() {
            let service = text(
                slice,
                &format!("/metadata/labels/{}", SERVICE_NAME_LABEL.replace('/', "~1")),
            );
            if service.is_empty() {
                continue;
            }
            slices
                .entry((
                    text(slice, "/metadata/namespace").to_string(),
                    service.to_string(),
                ))
                .or_default()
                .push(slice);
        }
        let mut ports = Vec::new();
        for service in self.services.values() {
            let cluster_ip = text(service, "/spec/clusterIP");
            if cluster_ip.parse::<std::net::Ipv4Addr>().is_err()
                || text(service, "/spec/type") == "ExternalName"
            {
                continue;
            }
            let namespace = text(service, "/metadata/namespace");
            let name = text(service, "/metadata/name");
            let service_slices = slices
                .get(&(namespace.to_string(), name.to_string()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            for port in service
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(number) = port.get("port").and_then(Value::as_u64) else {
                    continue;
                };
                let port_name = text(port, "/name");
                let protocol = match text(port, "/protocol") {
                    "" => "tcp".to_string(),
                    other => other.to_ascii_lowercase(),
                };
                let mut endpoints = Vec::new();
                for slice in service_slices {
                    let Some(target) = slice
                        .get("ports")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .find(|p| text(p, "/name") == port_name)
                        .and_then(|p| p.get("port"))
                        .and_then(Value::as_u64)
                    else {
                        continue;
                    };
                    for endpoint in slice
                        .get("endpoints")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let conditions = endpoint.get("conditions");
                        let ready = conditions
                            .and_then(|c| c.get("ready"))
                            .and_then(Value::as_bool)
                            .unwrap_or(true);
                        let terminating = conditions
                            .and_then(|c| c.get("terminating"))
                            .and_then(Value::as_bool)
                            .unwrap_or(false);
                        if !ready || terminating {
                            continue;
                        }
                        for address in endpoint
                            .get("addresses")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                        {
                            if address.parse::<std::net::Ipv4Addr>().is_ok() {
                                endpoints.push((address.to_string(), target as u16));
                            }
                        }
                    }
                }
                endpoints.sort();
                endpoints.dedup();
                ports.push(ServicePort {
                    namespace: namespace.to_string(),
                    service: name.to_string(),
                    port_name: port_name.to_string(),
                    protocol,
                    cluster_ip: cluster_ip.to_string(),
                    port: number as u16,
                    node_port: port
                        .get("nodePort")
                        .and_then(Value::as_u64)
                        .map(|p| p as u16),
                    endpoints,
                });
            }
        }
        ports
    }
}

/// Applies an nft script; the error is nft's message.
pub async fn apply(script: &str) -> Result<(), String> {
    let mut child = tokio::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("nft: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(|e| format!("nft: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| format!("nft: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// Lists and watches one kind into the state, re-listing when the watch ends.
pub async fn watch_kind(
    client: ApiClient,
    resource: Arc<ResourceDef>,
    state: Arc<std::sync::Mutex<State>>,
    changed: Arc<Notify>,
    services: bool,
) {
    let mut watcher = Watcher::new(client, resource, Selectors::all());
    loop {
        let seen = watcher.next().await;
        {
            let mut state = state.lock().expect("proxy state");
            let map = if services {
                &mut state.services
            } else {
                &mut state.slices
            };
            match seen {
                Seen::Listed(items) => {
                    *map = items.into_iter().map(|o| (key_of(&o), o)).collect();
                }
                Seen::Changed(WatchType::Deleted, object) => {
                    map.remove(&key_of(&object));
                }
                Seen::Changed(_, object) => {
                    map.insert(key_of(&object), (*object).clone());
                }
            }
        }
        changed.notify_one();
    }
}

/// Renders and applies whenever the state changed, at most once per `min_sync`.
pub async fn sync_loop(
    table: String,
    cluster_cidr: Option<String>,
    state: Arc<std::sync::Mutex<State>>,
    changed: Arc<Notify>,
    min_sync: Duration,
) {
    let mut applied = String::new();
    loop {
        changed.notified().await;
        let script = {
            let state = state.lock().expect("proxy state");
            render(&table, cluster_cidr.as_deref(), &state.service_ports())
        };
        if script != applied {
            match apply(&script).await {
                Ok(()) => applied = script,
                Err(error) => tracing::error!(%error, "proxy: the ruleset was not applied"),
            }
        }
        tokio::time::sleep(min_sync).await;
    }
}
