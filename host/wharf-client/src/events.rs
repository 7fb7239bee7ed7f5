//! Events about pods from the components inside `wharf up` (the
//! scheduler's `Scheduled` and `FailedScheduling`, the node agent's
//! `Created`, `Started`, `Killing`, `Unhealthy`), written by a task of their
//! own so that the component never waits on them. Repeats of the
//! same event for the same pod update its count, as client-go's event
//! correlator does, so `kubectl describe` shows `(x3 over 20s)`. Events are
//! best effort: when the writer falls far behind, new ones are dropped.

use std::collections::HashMap;
use std::sync::Arc;

use crate::{ApiClient, Patch, ResourceDef};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// One event about a pod.
pub struct PodEvent {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub warning: bool,
    pub reason: &'static str,
    pub action: &'static str,
    pub message: String,
}

/// Sends events to the writer task.
#[derive(Clone)]
pub struct Recorder {
    sender: mpsc::Sender<PodEvent>,
}

/// Who reports: `source.component` (`default-scheduler`, `kubelet`) and,
/// for a node's events, `source.host`.
#[derive(Clone, Debug)]
pub struct Source {
    pub component: &'static str,
    pub host: Option<String>,
}

impl Recorder {
    /// Starts the writer on the current runtime.
    pub fn start(client: impl Into<ApiClient>, source: Source) -> Self {
        let client: ApiClient = client.into();
        let (sender, receiver) = mpsc::channel(10_000);
        tokio::spawn(write_events(client, source, receiver));
        Self { sender }
    }

    /// Queues an event; dropped if the writer is 10,000 behind.
    pub fn record(&self, event: PodEvent) {
        if self.sender.try_send(event).is_err() {
            tracing::debug!("scheduler event dropped: the writer is behind");
        }
    }
}

async fn write_events(client: ApiClient, source: Source, mut receiver: mpsc::Receiver<PodEvent>) {
    let Ok(events) = client.resource("", "v1", "Event") else {
        return;
    };
    // (pod uid, reason, message) → (event name, count).
    let mut seen: HashMap<(String, &'static str, String), (String, u64)> = HashMap::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(64));
    while let Some(event) = receiver.recv().await {
        if seen.len() > 10_000 {
            seen.clear();
        }
        let now = crate::now_rfc3339();
        let key = (event.uid.clone(), event.reason, event.message.clone());
        if let Some((name, count)) = seen.get_mut(&key) {
            *count += 1;
            let patch = Patch::Merge(json!({"count": *count, "lastTimestamp": now}));
            let (client, events, namespace, name) = (
                client.clone(),
                events.clone(),
                event.namespace.clone(),
                name.clone(),
            );
            let permit = limit.clone().acquire_owned().await;
            tokio::spawn(async move {
                let _permit = permit;
                let _ = client
                    .patch(&events, Some(&namespace), &name, &patch, false)
                    .await;
            });
            continue;
        }
        let name = format!("{}.{:x}", event.name, unique());
        seen.insert(key, (name.clone(), 1));
        let object = event_object(&event, &source, &name, &now);
        let (client, events) = (client.clone(), events.clone());
        let permit = limit.clone().acquire_owned().await;
        tokio::spawn(async move {
            let _permit = permit;
            create(&client, &events, &event.namespace, &object).await;
        });
    }
}

async fn create(client: &ApiClient, events: &ResourceDef, namespace: &str, object: &Value) {
    if let Err(error) = client.create(events, Some(namespace), object).await {
        tracing::debug!(%error, "scheduler event not written");
    }
}

fn unique() -> u128 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    now + u128::from(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

fn event_object(event: &PodEvent, source: &Source, name: &str, now: &str) -> Value {
    let mut origin = json!({"component": source.component});
    if let Some(host) = &source.host {
        origin["host"] = json!(host);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": event.namespace},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": event.namespace,
            "name": event.name,
            "uid": event.uid,
        },
        "type": if event.warning { "Warning" } else { "Normal" },
        "reason": event.reason,
        "action": event.action,
        "message": event.message,
        "source": origin,
        "reportingComponent": source.component,
        "reportingInstance": source.host.as_deref().unwrap_or(source.component),
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    })
}
