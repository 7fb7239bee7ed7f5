//! The garbage collector, as kube-controller-manager's: objects whose
//! owners (`metadata.ownerReferences`) are all gone are deleted, so that
//! deleting a Deployment deletes its ReplicaSets and they their Pods.
//!
//! It follows every kind the API server serves (one list-and-watch each)
//! into a graph of owners and dependents, and acts on it:
//!
//! - **Background** deletion (kubectl's default): once an owner is gone,
//!   each dependent none of whose owners remains is deleted. An owner the
//!   graph does not know is looked up first (its watch may lag), so a
//!   dependent of a just-created owner is never taken for an orphan.
//! - **Foreground** (`foregroundDeletion` finalizer on the owner): its
//!   dependents are deleted, and the finalizer is removed once none is
//!   left, which lets the API server delete the owner.
//! - **Orphan** (`orphan` finalizer): the owner's references are removed
//!   from its dependents, then the finalizer.
//!
//! Dependents that reference other, living owners stay.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use wharf_client::Client;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use wharf_apiserver::LocalClient;
use wharf_client::Selectors;
use wharf_client::watcher::{Seen, Watcher};
use wharf_client::{ApiClient, ApiError, DeleteParams, ResourceDef, WatchType};

const FOREGROUND: &str = "foregroundDeletion";
const ORPHAN: &str = "orphan";
/// How many times a failed delete is tried before the next event retries it.
const ATTEMPTS: usize = 5;

/// A running garbage collector; dropping it stops it.
pub struct GarbageCollector {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for GarbageCollector {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl GarbageCollector {
    /// Follows every served kind (and those served later: kinds
    /// CustomResourceDefinitions define) and collects garbage until dropped.
    pub fn start(client: LocalClient) -> Self {
        let (sender, receiver) = mpsc::channel(1024);
        let mut changes = client.state().registry.subscribe();
        let mut collector = Collector {
            client,
            listed: Vec::new(),
            resources: Vec::new(),
            graph: Graph::default(),
            swept: false,
            sender,
            watchers: Vec::new(),
        };
        collector.follow_new_kinds();
        let follower = collector.sender.clone();
        let mut tasks = vec![tokio::spawn(collector.run(receiver))];
        // A change of what is served wakes the collector (it starts
        // watches for new kinds between events).
        tasks.push(tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                if follower.send(Message::KindsChanged).await.is_err() {
                    return;
                }
            }
        }));
        Self { tasks }
    }
}

/// What the collector's loop hears.
enum Message {
    /// A watch of the kind at this index saw something.
    Seen(usize, Seen),
    /// The served kinds changed.
    KindsChanged,
}

/// One owner reference.
#[derive(Clone, Debug, PartialEq, Eq)]
struct OwnerRef {
    uid: String,
    api_version: String,
    kind: String,
    name: String,
}

/// What the graph knows of one object.
#[derive(Clone, Debug)]
struct Node {
    resource: usize,
    namespace: Option<String>,
    name: String,
    owners: Vec<OwnerRef>,
    /// Being deleted, with these finalizers.
    deleting: Option<Vec<String>>,
}

#[derive(Default)]
struct Graph {
    nodes: HashMap<String, Node>,
    /// Owner UID → the UIDs of the objects that name it.
    dependents: HashMap<String, HashSet<String>>,
}

impl Graph {
    /// Adds or replaces an object; its UID.
    fn upsert(&mut self, resource: usize, object: &Value) -> Option<String> {
        let metadata = object.get("metadata")?;
        let uid = metadata.get("uid")?.as_str()?.to_string();
        let owners: Vec<OwnerRef> = (metadata.get("ownerReferences").and_then(Value::as_array))
            .into_iter()
            .flatten()
            .filter_map(|owner| {
                let text = |field: &str| owner.get(field)?.as_str().map(str::to_string);
                Some(OwnerRef {
                    uid: text("uid")?,
                    api_version: text("apiVersion")?,
                    kind: text("kind")?,
                    name: text("name")?,
                })
            })
            .collect();
        let deleting = metadata
            .get("deletionTimestamp")
            .filter(|t| !t.is_null())
            .map(|_| {
                (metadata.get("finalizers").and_then(Value::as_array))
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f.as_str().map(str::to_string))
                    .collect()
            });
        self.remove(&uid);
        for owner in &owners {
            (self.dependents.entry(owner.uid.clone()))
                .or_default()
                .insert(uid.clone());
        }
        self.nodes.insert(
            uid.clone(),
            Node {
                resource,
                namespace: metadata
                    .get("namespace")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                name: metadata
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                owners,
                deleting,
            },
        );
        Some(uid)
    }

    /// Forgets an object (not its dependents); what it was.
    fn remove(&mut self, uid: &str) -> Option<Node> {
        let node = self.nodes.remove(uid)?;
        for owner in &node.owners {
            if let Some(dependents) = self.dependents.get_mut(&owner.uid) {
                dependents.remove(uid);
                if dependents.is_empty() {
                    self.dependents.remove(&owner.uid);
                }
            }
        }
        Some(node)
    }

    fn dependents_of(&self, uid: &str) -> Vec<String> {
        (self.dependents.get(uid))
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default()
    }
}

struct Collector {
    client: LocalClient,
    resources: Vec<Arc<ResourceDef>>,
    listed: Vec<bool>,
    graph: Graph,
    /// Every kind was listed once and the whole graph checked.
    swept: bool,
    /// Where the watches send what they see.
    sender: mpsc::Sender<Message>,
    /// The watches' tasks.
    watchers: Vec<JoinHandle<()>>,
}

impl Drop for Collector {
    fn drop(&mut self) {
        for watcher in &self.watchers {
            watcher.abort();
        }
    }
}

/// An owner's state, as far as its dependents are concerned.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// Exists and is not being deleted in the foreground.
    Alive,
    /// Being deleted in the foreground: dependents go first.
    WaitingForDependents,
    /// Gone (or another object with the same name).
    Absent,
}

impl Collector {
    /// Starts a watch of every stored kind not yet watched (one per
    /// group and resource, whatever versions serve it; events own nothing
    /// and are many).
    fn follow_new_kinds(&mut self) {
        for resource in self.client.state().registry.stored() {
            let watched = self
                .resources
                .iter()
                .any(|r| r.group == resource.group && r.plural == resource.plural);
            if resource.plural == "events" || watched {
                continue;
            }
            let index = self.resources.len();
            let stored = self
                .client
                .state()
                .registry
                .stored_as(resource.group, resource.plural)
                .unwrap_or(resource);
            let mut watcher = Watcher::new(self.client.clone(), stored.clone(), Selectors::all());
            let sender = self.sender.clone();
            self.watchers.push(tokio::spawn(async move {
                loop {
                    let seen = watcher.next().await;
                    if sender.send(Message::Seen(index, seen)).await.is_err() {
                        return;
                    }
                }
            }));
            self.resources.push(stored);
            self.listed.push(false);
        }
    }

    async fn run(mut self, mut receiver: mpsc::Receiver<Message>) {
        while let Some(message) = receiver.recv().await {
            let (index, seen) = match message {
                Message::Seen(index, seen) => (index, seen),
                Message::KindsChanged => {
                    self.follow_new_kinds();
                    continue;
                }
            };
            match seen {
                Seen::Listed(items) => self.listed(index, items).await,
                Seen::Changed(WatchType::Deleted, object) => {
                    let uid = object.pointer("/metadata/uid").and_then(Value::as_str);
                    if let Some(uid) = uid {
                        let uid = uid.to_string();
                        let node = self.graph.remove(&uid);
                        if self.swept {
                            self.owner_gone(&uid).await;
                            // Its owners in the foreground may now be free.
                            for owner in node.map(|n| n.owners).unwrap_or_default() {
                                self.finish_foreground(&owner.uid).await;
                            }
                        }
                    }
                }
                Seen::Changed(_, object) => {
                    let Some(uid) = self.graph.upsert(index, &object) else {
                        continue;
                    };
                    if self.swept {
                        self.check(&uid).await;
                    }
                }
            }
            if !self.swept && self.listed.iter().all(|l| *l) {
                self.swept = true;
                let uids: Vec<String> = self.graph.nodes.keys().cloned().collect();
                tracing::debug!(objects = uids.len(), "garbage collector: first sweep");
                for uid in uids {
                    self.check(&uid).await;
                }
            }
        }
    }

    /// A (re-)list of one kind: what it no longer has was deleted.
    async fn listed(&mut self, index: usize, items: Vec<Value>) {
        let mut present = HashSet::new();
        for item in &items {
            if let Some(uid) = self.graph.upsert(index, item) {
                present.insert(uid);
            }
        }
        let gone: Vec<String> = (self.graph.nodes.iter())
            .filter(|(uid, node)| node.resource == index && !present.contains(*uid))
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in &gone {
            self.graph.remove(uid);
        }
        let first = !self.listed[index];
        self.listed[index] = true;
        if self.swept && !first {
            for uid in gone {
                self.owner_gone(&uid).await;
            }
            for uid in present {
                self.check(&uid).await;
            }
        }
    }

    /// Everything to do about one object: its own deletion's finalizers,
    /// and whether it has lost its owners.
    async fn check(&mut self, uid: &str) {
        let Some(node) = self.graph.nodes.get(uid).cloned() else {
            return;
        };
        if let Some(finalizers) = &node.deleting {
            if finalizers.iter().any(|f| f == ORPHAN) {
                self.orphan_dependents(uid, &node).await;
            }
            if finalizers.iter().any(|f| f == FOREGROUND) {
                for dependent in self.graph.dependents_of(uid) {
                    self.delete_dependent(&dependent, true).await;
                }
                self.finish_foreground(uid).await;
            }
        }
        if !node.owners.is_empty() && node.deleting.is_none() {
            self.delete_if_orphaned(uid).await;
        }
    }

    /// An owner is gone: its dependents may be garbage.
    async fn owner_gone(&mut self, uid: &str) {
        for dependent in self.graph.dependents_of(uid) {
            self.delete_if_orphaned(&dependent).await;
        }
    }

    /// Deletes the object if none of its owners remains alive.
    async fn delete_if_orphaned(&mut self, uid: &str) {
        let Some(node) = self.graph.nodes.get(uid).cloned() else {
            return;
        };
        if node.owners.is_empty() || node.deleting.is_some() {
            return;
        }
        // Each kind has a watch of its own, so the graph may not yet know
        // the dependent's latest owners (an `orphan` finalizer has just
        // removed the reference whose owner is now gone): judge it as the
        // API server has it now, as kube's collector does.
        let resource = self.resources[node.resource].clone();
        match self
            .client
            .get(&resource, node.namespace.as_deref(), &node.name)
            .await
        {
            Ok(fresh) if fresh.pointer("/metadata/uid").and_then(Value::as_str) == Some(uid) => {
                self.graph.upsert(node.resource, &fresh);
            }
            // Gone, replaced by another of its name, or unsure: not ours.
            _ => return,
        }
        let Some(node) = self.graph.nodes.get(uid).cloned() else {
            return;
        };
        if node.owners.is_empty() || node.deleting.is_some() {
            return;
        }
        let mut foreground = false;
        for owner in &node.owners {
            match self.owner_state(&node, owner).await {
                Owner::Alive => return,
                Owner::WaitingForDependents => foreground = true,
                Owner::Absent => {}
            }
        }
        self.delete_dependent(uid, foreground).await;
    }

    async fn owner_state(&self, dependent: &Node, owner: &OwnerRef) -> Owner {
        if let Some(known) = self.graph.nodes.get(&owner.uid) {
            let foreground =
                (known.deleting.as_ref()).is_some_and(|f| f.iter().any(|f| f == FOREGROUND));
            return if foreground {
                Owner::WaitingForDependents
            } else {
                Owner::Alive
            };
        }
        // Not in the graph: gone, or its watch lags. Ask.
        let (group, version) = match owner.api_version.split_once('/') {
            Some((group, version)) => (group, version),
            None => ("", owner.api_version.as_str()),
        };
        let Ok(resource) = self.client.resource(group, version, &owner.kind) else {
            // A kind this server does not serve: not ours to judge.
            return Owner::Alive;
        };
        let namespace = if resource.namespaced {
            dependent.namespace.as_deref()
        } else {
            None
        };
        match self.client.get(&resource, namespace, &owner.name).await {
            Ok(found)
                if found.pointer("/metadata/uid").and_then(Value::as_str) == Some(&owner.uid) =>
            {
                Owner::Alive
            }
            Ok(_) | Err(ApiError::NotFound { .. }) => Owner::Absent,
            // Unsure: keep the dependent.
            Err(_) => Owner::Alive,
        }
    }

    /// Deletes a dependent: in the foreground if an owner waits for its
    /// dependents (so theirs go first too), else in the background.
    async fn delete_dependent(&mut self, uid: &str, foreground: bool) {
        let Some(node) = self.graph.nodes.get(uid).cloned() else {
            return;
        };
        if node.deleting.is_some() {
            return;
        }
        let resource = self.resources[node.resource].clone();
        let propagation = if foreground {
            "Foreground"
        } else {
            "Background"
        };
        tracing::info!(
            kind = resource.kind,
            namespace = node.namespace,
            name = node.name,
            propagation,
            "garbage collector: deleting a dependent whose owners are gone"
        );
        for attempt in 1..=ATTEMPTS {
            // Only this object: a new one with the same name is not garbage.
            let deleted = self
                .client
                .delete_with(
                    &resource,
                    node.namespace.as_deref(),
                    &node.name,
                    &DeleteParams::of_uid(uid).propagation(propagation),
                )
                .await;
            match deleted {
                Ok(_) | Err(ApiError::NotFound { .. } | ApiError::Conflict { .. }) => return,
                Err(error) if attempt == ATTEMPTS => {
                    tracing::warn!(kind = resource.kind, name = node.name, %error, "garbage collector: cannot delete a dependent");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Removes the owner's references from its dependents, then its
    /// `orphan` finalizer.
    async fn orphan_dependents(&mut self, uid: &str, owner: &Node) {
        for dependent in self.graph.dependents_of(uid) {
            let Some(node) = self.graph.nodes.get(&dependent).cloned() else {
                continue;
            };
            let resource = self.resources[node.resource].clone();
            let owner_uid = uid.to_string();
            self.modify(
                &resource,
                node.namespace.as_deref(),
                &node.name,
                move |object| {
                    let Some(owners) = object
                        .pointer_mut("/metadata/ownerReferences")
                        .and_then(Value::as_array_mut)
                    else {
                        return false;
                    };
                    let before = owners.len();
                    owners.retain(|o| o.get("uid").and_then(Value::as_str) != Some(&owner_uid));
                    owners.len() != before
                },
            )
            .await;
        }
        self.remove_finalizer(uid, owner, ORPHAN).await;
    }

    /// Removes the owner's `foregroundDeletion` finalizer once it has no
    /// dependents left.
    async fn finish_foreground(&mut self, uid: &str) {
        let Some(owner) = self.graph.nodes.get(uid).cloned() else {
            return;
        };
        let foreground =
            (owner.deleting.as_ref()).is_some_and(|f| f.iter().any(|f| f == FOREGROUND));
        if foreground && self.graph.dependents_of(uid).is_empty() {
            self.remove_finalizer(uid, &owner, FOREGROUND).await;
        }
    }

    async fn remove_finalizer(&mut self, uid: &str, node: &Node, finalizer: &'static str) {
        let resource = self.resources[node.resource].clone();
        let uid = uid.to_string();
        self.modify(
            &resource,
            node.namespace.as_deref(),
            &node.name,
            move |object| {
                if object.pointer("/metadata/uid").and_then(Value::as_str) != Some(&uid) {
                    return false;
                }
                let Some(finalizers) = object
                    .pointer_mut("/metadata/finalizers")
                    .and_then(Value::as_array_mut)
                else {
                    return false;
                };
                let before = finalizers.len();
                finalizers.retain(|f| f != finalizer);
                finalizers.len() != before
            },
        )
        .await;
    }

    /// Read-modify-write of an object's main part; `change` says whether
    /// it changed anything.
    async fn modify(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        change: impl FnMut(&mut Value) -> bool,
    ) {
        let written = ApiClient::from(self.client.clone())
            .read_modify_write(resource, namespace, name, false, change)
            .await;
        match written {
            Ok(_) | Err(ApiError::NotFound { .. }) => {}
            Err(error) => {
                tracing::warn!(kind = resource.kind, name, %error, "garbage collector: cannot update an object");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(uid: &str, owners: &[&str]) -> Value {
        json!({"metadata": {"uid": uid, "name": uid, "namespace": "default",
            "ownerReferences": owners.iter().map(|o| json!({"uid": o, "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": o})).collect::<Vec<_>>()}})
    }

    #[test]
    fn the_graph_indexes_dependents_by_owner_and_forgets_them() {
        let mut graph = Graph::default();
        graph.upsert(0, &object("rs", &[]));
        graph.upsert(1, &object("p1", &["rs"]));
        graph.upsert(1, &object("p2", &["rs", "other"]));
        let mut dependents = graph.dependents_of("rs");
        dependents.sort();
        assert_eq!(dependents, ["p1", "p2"]);
        assert_eq!(graph.dependents_of("other"), ["p2"]);
        // A changed owner list moves the object.
        graph.upsert(1, &object("p2", &[]));
        assert_eq!(graph.dependents_of("rs"), ["p1"]);
        assert!(graph.dependents_of("other").is_empty());
        graph.remove("p1");
        assert!(graph.dependents_of("rs").is_empty());
        assert!(graph.dependents.is_empty());
    }

    #[test]
    fn a_deleting_object_keeps_its_finalizers() {
        let mut graph = Graph::default();
        let mut owner = object("d", &[]);
        owner["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        owner["metadata"]["finalizers"] = json!([FOREGROUND]);
        graph.upsert(0, &owner);
        assert_eq!(
            graph.nodes["d"].deleting.as_deref(),
            Some(&[FOREGROUND.to_string()][..])
        );
    }
}
