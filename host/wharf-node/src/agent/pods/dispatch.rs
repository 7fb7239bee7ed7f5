//! The watch of the pods bound to this node: each pod's latest object goes
//! to its worker (one per UID), started on first sight.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;
use wharf_client::watcher::{Seen, Watcher};
use wharf_client::{Selectors, WatchType};

use super::worker::Worker;
use crate::agent::Shared;
use crate::agent::checkpoint;
use crate::agent::env::str_at;

/// What a worker is told about its pod.
#[derive(Clone)]
pub(super) enum PodEvent {
    Present(Arc<Value>),
    Deleted,
}

/// Watches the pods bound to this node and gives each its worker.
pub(in crate::agent) async fn run(shared: Arc<Shared>) {
    let selector = format!("spec.nodeName={}", shared.config.node_name);
    let mut watcher = Watcher::new(
        shared.client.clone(),
        shared.resources.pods.clone(),
        Selectors::fields(selector),
    );
    let mut dispatcher = Dispatcher {
        shared,
        workers: HashMap::new(),
        tasks: JoinSet::new(),
        task_uids: HashMap::new(),
        done: HashSet::new(),
    };
    loop {
        tokio::select! {
            seen = watcher.next() => dispatcher.saw(seen),
            Some(finished) = dispatcher.tasks.join_next_with_id() => dispatcher.finished(finished),
        }
    }
}

struct Dispatcher {
    shared: Arc<Shared>,
    /// By pod UID.
    workers: HashMap<String, watch::Sender<PodEvent>>,
    /// Dropped with the dispatcher, which aborts every worker.
    tasks: JoinSet<bool>,
    task_uids: HashMap<tokio::task::Id, String>,
    /// Pods whose worker finished while the object stays (being deleted):
    /// not taken on again.
    done: HashSet<String>,
}

impl Dispatcher {
    fn saw(&mut self, seen: Seen) {
        let node = self.shared.config.node_name.as_str();
        match seen {
            Seen::Listed(pods) => {
                let listed: HashSet<String> = (pods.iter())
                    .filter(|pod| str_at(pod, "/spec/nodeName") == Some(node))
                    .filter_map(|pod| Some(str_at(pod, "/metadata/uid")?.to_string()))
                    .collect();
                for (uid, worker) in &self.workers {
                    if !listed.contains(uid) {
                        worker.send_replace(PodEvent::Deleted);
                    }
                }
                self.done.retain(|uid| listed.contains(uid));
                for pod in pods {
                    self.route(Arc::new(pod));
                }
                // Records of pods no longer here: stop what they started.
                for uid in checkpoint::recorded_uids(&self.shared.config.data_dir) {
                    if !listed.contains(&uid) && !self.workers.contains_key(&uid) {
                        self.spawn(uid, PodEvent::Deleted);
                    }
                }
            }
            Seen::Changed(WatchType::Deleted, pod) => {
                let Some(uid) = str_at(&pod, "/metadata/uid") else {
                    return;
                };
                self.done.remove(uid);
                if let Some(worker) = self.workers.get(uid) {
                    worker.send_replace(PodEvent::Deleted);
                }
            }
            Seen::Changed(_, pod) => self.route(pod),
        }
    }

    /// Sends a pod to its worker, starting one if it has none.
    fn route(&mut self, pod: Arc<Value>) {
        if str_at(&pod, "/spec/nodeName") != Some(self.shared.config.node_name.as_str()) {
            return;
        }
        let (Some(uid), Some(namespace), Some(name)) = (
            str_at(&pod, "/metadata/uid"),
            str_at(&pod, "/metadata/namespace"),
            str_at(&pod, "/metadata/name"),
        ) else {
            tracing::warn!("ignoring a pod without uid, namespace or name");
            return;
        };
        if ![uid, namespace, name]
            .iter()
            .all(|part| checkpoint::safe_name(part))
        {
            tracing::warn!(
                namespace,
                pod = name,
                uid,
                "ignoring a pod whose names are not Kubernetes names"
            );
            return;
        }
        if self.done.contains(uid) {
            return;
        }
        match self.workers.get(uid) {
            Some(worker) => {
                worker.send_replace(PodEvent::Present(pod));
            }
            None => {
                let uid = uid.to_string();
                self.spawn(uid, PodEvent::Present(pod));
            }
        }
    }

    fn spawn(&mut self, uid: String, first: PodEvent) {
        let (sender, updates) = watch::channel(first);
        let worker = Worker::new(self.shared.clone(), uid.clone(), updates);
        let task = self.tasks.spawn(worker.run());
        self.task_uids.insert(task.id(), uid.clone());
        self.workers.insert(uid, sender);
    }

    fn finished(&mut self, finished: Result<(tokio::task::Id, bool), tokio::task::JoinError>) {
        let (id, gone) = match finished {
            Ok((id, gone)) => (id, gone),
            Err(error) => {
                if error.is_panic() {
                    tracing::error!(%error, "a pod worker panicked; the pod is taken on again at its next change");
                }
                (error.id(), true)
            }
        };
        if let Some(uid) = self.task_uids.remove(&id) {
            self.workers.remove(&uid);
            if !gone {
                self.done.insert(uid);
            }
        }
    }
}
