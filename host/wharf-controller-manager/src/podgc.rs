//! The pod garbage collector, as kube-controller-manager's `podgc`: a pod
//! bound to a node that does not exist has no kubelet to run it or to
//! finish its deletion, so it is deleted at once (no grace period) once
//! the node has been missing for a quarantine of 40 s and is still not
//! found when asked again.
//!
//! Not done (kube's other passes): terminated pods beyond a threshold, and
//! pods on nodes tainted out-of-service.

use std::collections::{HashMap, HashSet};
use std::time::Duration;
use wharf_client::{Client, Selectors};

use serde_json::Value;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use wharf_apiserver::LocalClient;
use wharf_client::{ApiError, DeleteParams};

/// How long a pod's node must be missing before the pod goes (kube's).
pub const QUARANTINE: Duration = Duration::from_secs(40);
/// How often pods and nodes are compared (kube's `gcCheckPeriod`).
const PERIOD: Duration = Duration::from_secs(20);

/// A running pod garbage collector; dropping it stops it.
pub struct PodGarbageCollector {
    task: JoinHandle<()>,
}

impl Drop for PodGarbageCollector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PodGarbageCollector {
    pub fn start(client: LocalClient) -> Self {
        Self {
            task: tokio::spawn(run(client)),
        }
    }
}

async fn run(client: LocalClient) {
    let (Ok(pods), Ok(nodes)) = (
        client.resource("", "v1", "Pod"),
        client.resource("", "v1", "Node"),
    ) else {
        return;
    };
    let mut orphans = Orphans::default();
    loop {
        tokio::time::sleep(PERIOD).await;
        let (Ok(pod_list), Ok(node_list)) = (
            client.list(&pods, None, &Selectors::all()).await,
            client.list(&nodes, None, &Selectors::all()).await,
        ) else {
            continue;
        };
        let known: HashSet<&str> = (node_list.items.iter())
            .filter_map(|node| node.pointer("/metadata/name").and_then(Value::as_str))
            .collect();
        for pod in orphans.due(&pod_list.items, &known, Instant::now()) {
            // The node is asked for once more: the list may be stale.
            match client.get(&nodes, None, &pod.node).await {
                Err(ApiError::NotFound { .. }) => {}
                _ => continue,
            }
            tracing::info!(
                namespace = pod.namespace,
                pod = pod.name,
                node = pod.node,
                "pod garbage collector: deleting a pod bound to a node that does not exist"
            );
            let deleted = client
                .delete_with(
                    &pods,
                    Some(&pod.namespace),
                    &pod.name,
                    &DeleteParams::of_uid(&pod.uid).at_once(),
                )
                .await;
            if let Err(error) = deleted
                && !matches!(error, ApiError::NotFound { .. } | ApiError::Conflict { .. })
            {
                tracing::warn!(pod = pod.name, %error, "pod garbage collector: cannot delete a pod");
            }
        }
    }
}

/// A pod bound to a missing node.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Orphan {
    namespace: String,
    name: String,
    uid: String,
    node: String,
}

/// When each orphan was first seen so.
#[derive(Default)]
struct Orphans {
    since: HashMap<String, Instant>,
}

impl Orphans {
    /// The pods whose node has been missing for the whole quarantine.
    fn due(&mut self, pods: &[Value], nodes: &HashSet<&str>, now: Instant) -> Vec<Orphan> {
        let text = |pod: &Value, pointer: &str| {
            pod.pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let orphans: Vec<Orphan> = pods
            .iter()
            .map(|pod| Orphan {
                namespace: text(pod, "/metadata/namespace"),
                name: text(pod, "/metadata/name"),
                uid: text(pod, "/metadata/uid"),
                node: text(pod, "/spec/nodeName"),
            })
            .filter(|pod| !pod.node.is_empty() && !nodes.contains(pod.node.as_str()))
            .collect();
        self.since
            .retain(|uid, _| orphans.iter().any(|pod| &pod.uid == uid));
        orphans
            .into_iter()
            .filter(|pod| {
                let since = *self.since.entry(pod.uid.clone()).or_insert(now);
                now.duration_since(since) >= QUARANTINE
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(uid: &str, node: &str) -> Value {
        json!({"metadata": {"namespace": "d", "name": uid, "uid": uid}, "spec": {"nodeName": node}})
    }

    #[test]
    fn pods_on_missing_nodes_are_due_after_the_quarantine() {
        let mut orphans = Orphans::default();
        let nodes = HashSet::from(["n1"]);
        let pods = [pod("a", "n1"), pod("b", "gone"), pod("c", "")];
        let start = Instant::now();
        assert!(orphans.due(&pods, &nodes, start).is_empty());
        let due = orphans.due(&pods, &nodes, start + QUARANTINE);
        assert_eq!(
            due.iter().map(|p| p.uid.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        // A node that comes back ends the quarantine.
        let back = HashSet::from(["n1", "gone"]);
        assert!(orphans.due(&pods, &back, start + QUARANTINE).is_empty());
        assert!(orphans.since.is_empty());
    }
}
