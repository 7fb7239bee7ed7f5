//! The DaemonSet controller (as Kubernetes' `pkg/controller/daemon`): one
//! daemon pod on every node that should run it, none elsewhere, replaced
//! by the update strategy when the template changes.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use wharf_sdk::expectations::Expectations;
use wharf_sdk::k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use wharf_sdk::k8s_openapi::api::core::v1::{Node, Pod, PodTemplateSpec};
use wharf_sdk::k8s_openapi::jiff::Timestamp;
use wharf_sdk::pod_control::{create_pods, delete_pod, slow_start_batch};
use wharf_sdk::prelude::*;

use crate::backoff::Backoff;
use crate::claim::claim;
use crate::placement::{Fit, Placement, scheduling_node};
use crate::pods::{self, is_available, is_ready, is_updated};
use crate::revisions::{cleanup_history, construct_history};
use crate::rolling::{Rollout, UpdateStrategy};
use crate::status::{self, Scheduled};

/// Reconciles DaemonSets; owns their pods and ControllerRevisions; every
/// Node event wakes every DaemonSet.
#[derive(Debug, Default)]
pub struct DaemonSetController {
    /// Pods created or deleted but not yet seen, per `namespace/name`.
    expectations: RefCell<Expectations>,
    /// Deletions of failed pods, per set, generation and node.
    failed_pods_backoff: RefCell<Backoff>,
}

/// At most this many pods are created, and this many deleted, in one pass
/// (`BurstReplicas`); the rest wait for the next reconcile.
pub const BURST_REPLICAS: usize = 500;

/// The first batch of creations has one pod; each successful batch doubles
/// the next (`SlowStartInitialBatchSize`).
pub const SLOW_START_INITIAL_BATCH_SIZE: usize = 1;

/// How soon a reconcile that hit [`BURST_REPLICAS`] looks again.
const BURST_REQUEUE: Duration = Duration::from_secs(1);

/// Event reasons, as Kubernetes records them on the DaemonSet.
pub mod reasons {
    pub use wharf_sdk::pod_control::reasons::*;
    pub const FAILED_DAEMON_POD: &str = "FailedDaemonPod";
    pub const SUCCEEDED_DAEMON_POD: &str = "SucceededDaemonPod";
    pub const SELECTING_ALL: &str = "SelectingAll";
}

impl Controller for DaemonSetController {
    fn registration(_config: &serde_json::Value) -> Result<Registration, Error> {
        Ok(Registration::new::<DaemonSet>()
            .owns::<Pod>()
            .owns::<ControllerRevision>()
            .watches::<Node>(Wakes::All))
    }

    /// `syncDaemonSet`: claim, history, manage, rolling update, history
    /// cleanup, then status.
    fn reconcile(
        &self,
        ctx: &Context,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Action, Error> {
        let Some(namespace) = namespace else {
            ctx.warn(format!(
                "DaemonSet key {name:?} has no namespace; ignoring it"
            ));
            return Ok(Action::Done);
        };
        let key = format!("{namespace}/{name}");
        let Some(daemon_set) = ctx.get::<DaemonSet>(Some(namespace), name)? else {
            // Gone: its pods and revisions are garbage-collected.
            self.expectations.borrow_mut().forget(&key);
            return Ok(Action::Done);
        };
        let spec = &daemon_set.spec;
        if spec
            .selector
            .match_labels
            .as_ref()
            .is_none_or(BTreeMap::is_empty)
            && spec
                .selector
                .match_expressions
                .as_ref()
                .is_none_or(Vec::is_empty)
        {
            ctx.event(
                &daemon_set,
                EventType::Warning,
                reasons::SELECTING_ALL,
                "This daemon set is selecting all pods. A non-empty selector is required.",
            );
            return Ok(Action::Done);
        }
        let selector = match Selector::from_label_selector(&spec.selector) {
            Ok(selector) => selector,
            Err(error) => {
                // Retrying cannot help until the DaemonSet changes.
                ctx.error(format!("DaemonSet {key} has an invalid selector: {error}"));
                return Ok(Action::Done);
            }
        };
        // Being deleted: the garbage collector may be removing its revisions
        // and pods in any order, so its status cannot be trusted.
        if daemon_set.metadata.deletion_timestamp.is_some() {
            return Ok(Action::Done);
        }

        let nodes: Vec<Node> = ctx.list(None, &ListParams::default())?;
        // The pods the selector matches, and the daemon pods of the
        // namespace (they carry `pod-template-generation`), among which are
        // those this set controls that no longer match (to release them) —
        // not every pod of the namespace, which may hold tens of thousands
        // of finished Job pods that would not fit the plugin's memory.
        let mut all_pods: Vec<Pod> = ctx.list(
            Some(namespace),
            &ListParams::default().labels(selector.to_string()),
        )?;
        let listed: HashSet<Option<String>> = all_pods
            .iter()
            .map(|pod| pod.metadata.uid.clone())
            .collect();
        let daemon_pods: Vec<Pod> = ctx.list(
            Some(namespace),
            &ListParams::default().labels(pods::POD_TEMPLATE_GENERATION_LABEL),
        )?;
        all_pods.extend(
            daemon_pods
                .into_iter()
                .filter(|pod| !listed.contains(&pod.metadata.uid)),
        );
        let now_millis = ctx.now_millis();
        let needs_sync = self
            .expectations
            .borrow_mut()
            .satisfied(&key, &all_pods, now_millis);
        let claimed = claim(ctx, &daemon_set, &selector, all_pods)?;
        let history = construct_history(ctx, &daemon_set, &selector, &claimed)?;
        let hash = history.hash().to_owned();
        let generation = pods::template_generation(&daemon_set);
        let template = pods::daemon_template(&daemon_set, generation, &hash);
        let placement = Placement::new(template.spec.as_ref().unwrap_or(&Default::default()))?;
        let fits: Vec<(String, Fit)> = nodes
            .iter()
            .map(|node| {
                let node = scheduling_node(node);
                let fit = placement.fit(&node);
                (node.name, fit)
            })
            .collect();
        let by_node = pods::by_node(&claimed, false);
        let now = ctx.now().0;
        let min_ready_seconds = i64::from(spec.min_ready_seconds.unwrap_or(0));
        let sync = Sync {
            ctx,
            daemon_set: &daemon_set,
            key: &key,
            hash: &hash,
            generation,
            template: &template,
            fits: &fits,
            by_node: &by_node,
            min_ready_seconds,
            now,
        };

        let outcome = if needs_sync {
            self.update_daemon_set(&sync).and_then(|requeue| {
                cleanup_history(ctx, &daemon_set, &history.old, &claimed)
                    .map(|()| requeue)
                    .map_err(|error| {
                        Error::Other(format!(
                            "failed to clean up revisions of DaemonSet: {error}"
                        ))
                    })
            })
        } else {
            // Only the status; the generation is not observed, as nothing
            // was done for it.
            Ok(Requeue::default())
        };

        let counts = status::count(&Scheduled {
            nodes: &fits,
            by_node: &by_node,
            hash: &hash,
            generation,
            min_ready_seconds,
            now,
        });
        let status_result = status::store(ctx, &daemon_set, &counts, needs_sync);
        let mut requeue = match (outcome, status_result) {
            (Err(error), Err(status_error)) => {
                ctx.error(format!(
                    "DaemonSet {key}: failed to update status: {status_error}"
                ));
                return Err(error);
            }
            (Err(error), _) | (_, Err(error)) => return Err(error),
            (Ok(requeue), Ok(())) => requeue,
        };
        // Availability comes with time, not with an event: look again when
        // the next ready pod (the oldest of a node, or a surging new one)
        // has been ready for minReadySeconds.
        let next_available = by_node
            .values()
            .flatten()
            .filter_map(|pod| pods::millis_until_available(pod, min_ready_seconds, now))
            .min();
        requeue.after(next_available.map(|millis| millis.max(1) as u64));
        Ok(requeue.action())
    }
}

/// When to look again, the soonest of several reasons.
#[derive(Clone, Copy, Debug, Default)]
struct Requeue(Option<u64>);

impl Requeue {
    fn after(&mut self, millis: Option<u64>) {
        if let Some(millis) = millis {
            self.0 = Some(self.0.map_or(millis, |soonest| soonest.min(millis)));
        }
    }

    fn action(self) -> Action {
        match self.0 {
            Some(millis) => Action::RequeueAfter(Duration::from_millis(millis.max(1))),
            None => Action::Done,
        }
    }
}

/// What one reconcile of a set knows.
struct Sync<'a> {
    ctx: &'a Context<'a>,
    daemon_set: &'a DaemonSet,
    key: &'a str,
    hash: &'a str,
    generation: Option<i64>,
    /// The pod template with the daemon tolerations and revision labels.
    template: &'a PodTemplateSpec,
    /// Every node, with its fit, in the order listed.
    fits: &'a [(String, Fit)],
    /// The set's pods by node, finished-and-deleted ones left out.
    by_node: &'a BTreeMap<String, Vec<&'a Pod>>,
    min_ready_seconds: i64,
    now: Timestamp,
}

/// What a node needs (`podsShouldBeOnNode`).
#[derive(Debug, Default)]
struct NodeActions {
    create: bool,
    delete: Vec<String>,
    /// A failed pod waits out its backoff this long.
    requeue_millis: Option<u64>,
}

impl DaemonSetController {
    /// `updateDaemonSet`: manage, then, if that created or deleted nothing,
    /// the rolling update.
    fn update_daemon_set(&self, sync: &Sync<'_>) -> Result<Requeue, Error> {
        let (mut requeue, acted) = self.manage(sync)?;
        if acted {
            // Expectations are pending: the rolling update waits for the
            // cache to show what manage did.
            return Ok(requeue);
        }
        let strategy = UpdateStrategy::of(sync.daemon_set);
        if strategy == UpdateStrategy::OnDelete {
            return Ok(requeue);
        }
        let fits: HashMap<String, Fit> = sync.fits.iter().cloned().collect();
        let plan = Rollout {
            strategy: &strategy,
            fits: &fits,
            by_node: sync.by_node,
            hash: sync.hash,
            generation: sync.generation,
            min_ready_seconds: sync.min_ready_seconds,
            now: sync.now,
        }
        .plan()
        .map_err(|error| Error::Invalid(format!("couldn't get unavailable numbers: {error}")))?;
        let (_, capped) = self.sync_nodes(sync, &plan.pods_to_delete, &plan.nodes_to_create)?;
        if capped {
            requeue.after(Some(BURST_REQUEUE.as_millis() as u64));
        }
        Ok(requeue)
    }

    /// `manage`: creates the pods nodes lack and deletes the pods nodes
    /// should not have (failed, succeeded, surplus, on nodes the set left,
    /// unscheduled for nodes that are gone). Returns when to look again
    /// and whether anything was created or deleted.
    fn manage(&self, sync: &Sync<'_>) -> Result<(Requeue, bool), Error> {
        let surge = UpdateStrategy::of(sync.daemon_set).allows_surge();
        let mut requeue = Requeue::default();
        let mut nodes_needing_pods = Vec::new();
        let mut pods_to_delete = Vec::new();
        {
            let mut backoff = self.failed_pods_backoff.borrow_mut();
            backoff.collect_garbage(sync.ctx.now_millis());
            for (node, fit) in sync.fits {
                let pods = sync.by_node.get(node).map(Vec::as_slice);
                let actions = pods_should_be_on_node(sync, node, *fit, pods, surge, &mut backoff);
                if actions.create {
                    nodes_needing_pods.push(node.clone());
                }
                pods_to_delete.extend(actions.delete);
                requeue.after(actions.requeue_millis);
            }
        }
        // Pods meant for nodes that no longer exist are never scheduled, so
        // the pod garbage collector (which looks at bound pods) never
        // deletes them (`getUnscheduledPodsWithoutNode`).
        let existing: HashSet<&str> = sync.fits.iter().map(|(node, _)| node.as_str()).collect();
        for (node, pods) in sync.by_node {
            if existing.contains(node.as_str()) {
                continue;
            }
            pods_to_delete.extend(
                pods.iter()
                    .filter(|pod| pod.metadata.deletion_timestamp.is_none())
                    .filter(|pod| {
                        pod.spec
                            .as_ref()
                            .and_then(|spec| spec.node_name.as_deref())
                            .is_none_or(str::is_empty)
                    })
                    .map(|pod| pods::name(pod).to_owned()),
            );
        }
        let (acted, capped) = self.sync_nodes(sync, &pods_to_delete, &nodes_needing_pods)?;
        if capped {
            requeue.after(Some(BURST_REQUEUE.as_millis() as u64));
        }
        Ok((requeue, acted))
    }

    /// `syncNodes`: deletes `pods_to_delete` and creates a pod on each of
    /// `nodes_needing_pods`, at most [`BURST_REPLICAS`] of each, creations
    /// in slow-start batches (one `create_all` each), with events and
    /// expectations. Returns whether anything was created or deleted and
    /// whether the burst limit left work undone; the first error after
    /// trying everything.
    fn sync_nodes(
        &self,
        sync: &Sync<'_>,
        pods_to_delete: &[String],
        nodes_needing_pods: &[String],
    ) -> Result<(bool, bool), Error> {
        let ctx = sync.ctx;
        let daemon_set = sync.daemon_set;
        let namespace = daemon_set.metadata.namespace.as_deref();
        let capped =
            pods_to_delete.len() > BURST_REPLICAS || nodes_needing_pods.len() > BURST_REPLICAS;
        let nodes_needing_pods =
            &nodes_needing_pods[..nodes_needing_pods.len().min(BURST_REPLICAS)];
        let pods_to_delete = &pods_to_delete[..pods_to_delete.len().min(BURST_REPLICAS)];
        if !nodes_needing_pods.is_empty() || !pods_to_delete.is_empty() {
            ctx.debug(format!(
                "DaemonSet {}: creating {} pods, deleting {}",
                sync.key,
                nodes_needing_pods.len(),
                pods_to_delete.len()
            ));
        }

        let mut created = Vec::new();
        let mut next = 0;
        let create_result = slow_start_batch(
            nodes_needing_pods.len(),
            SLOW_START_INITIAL_BATCH_SIZE,
            |batch| {
                let targets = &nodes_needing_pods[next..next + batch];
                next += batch;
                let pods: Result<Vec<Pod>, Error> = targets
                    .iter()
                    .map(|node| pods::pod_for_node(daemon_set, sync.template, node))
                    .collect();
                let pods = match pods {
                    Ok(pods) => pods,
                    Err(error) => return vec![Err(error)],
                };
                create_pods(ctx, daemon_set, namespace, &pods, &mut created)
            },
        );

        let mut deleted = Vec::new();
        let mut delete_error = None;
        for name in pods_to_delete {
            match delete_pod(ctx, daemon_set, namespace, name) {
                Ok(true) => deleted.push(name.clone()),
                Ok(false) => {}
                Err(error) => {
                    delete_error.get_or_insert(error);
                }
            }
        }
        let acted = !created.is_empty() || !deleted.is_empty();
        self.expectations
            .borrow_mut()
            .expect(sync.key, created, deleted, ctx.now_millis());
        create_result?;
        match delete_error {
            Some(error) => Err(error),
            None => Ok((acted, capped)),
        }
    }
}

/// `podsShouldBeOnNode`: what one node needs. A node that should run the
/// pod and has none gets one. Where a pod may stay, failed pods go (with
/// a `FailedDaemonPod` event, at most once per backoff delay), succeeded
/// ones go, and of the rest the oldest stays; when surging, an old and a
/// new pod may share the node until the new one is available. Where no
/// pod may stay, every pod goes.
fn pods_should_be_on_node(
    sync: &Sync<'_>,
    node: &str,
    fit: Fit,
    pods: Option<&[&Pod]>,
    surge: bool,
    backoff: &mut Backoff,
) -> NodeActions {
    let mut actions = NodeActions::default();
    let ctx = sync.ctx;
    let daemon_set = sync.daemon_set;
    match pods {
        None if fit.should_run => actions.create = true,
        None => {}
        Some(pods) if fit.should_continue_running => {
            let mut running = Vec::new();
            for pod in pods
                .iter()
                .filter(|pod| pod.metadata.deletion_timestamp.is_none())
            {
                let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
                match pods::phase(pod) {
                    "Failed" => {
                        let backoff_key = failed_pods_backoff_key(daemon_set, node);
                        let now_millis = ctx.now_millis();
                        if let Some(delay) = backoff.remaining(&backoff_key, now_millis) {
                            ctx.debug(format!(
                                "deleting failed pod {namespace}/{} on node {node} is limited by backoff ({delay} ms)",
                                pods::name(pod)
                            ));
                            actions.requeue_millis = Some(delay);
                            continue;
                        }
                        backoff.next(&backoff_key, now_millis);
                        ctx.event(
                            daemon_set,
                            EventType::Warning,
                            reasons::FAILED_DAEMON_POD,
                            format!(
                                "Found failed daemon pod {namespace}/{} on node {node}, will try to kill it",
                                pods::name(pod)
                            ),
                        );
                        actions.delete.push(pods::name(pod).to_owned());
                    }
                    "Succeeded" => {
                        ctx.event(
                            daemon_set,
                            EventType::Normal,
                            reasons::SUCCEEDED_DAEMON_POD,
                            format!(
                                "Found succeeded daemon pod {namespace}/{} on node {node}, will try to delete it",
                                pods::name(pod)
                            ),
                        );
                        actions.delete.push(pods::name(pod).to_owned());
                    }
                    _ => running.push(*pod),
                }
            }
            // `pods` are in creation order: the first is the oldest.
            if !surge {
                actions
                    .delete
                    .extend(running.iter().skip(1).map(|pod| pods::name(pod).to_owned()));
                return actions;
            }
            if running.len() <= 1 {
                // Surging: a node needs one pod not being deleted.
                actions.create = running.is_empty() && fit.should_run;
                return actions;
            }
            // Two pods are allowed only while the oldest new one is not
            // available and the oldest old one is ready; the rest go.
            let mut oldest_new = None;
            let mut oldest_old = None;
            for pod in running {
                let slot = if is_updated(pod, sync.hash, sync.generation) {
                    &mut oldest_new
                } else {
                    &mut oldest_old
                };
                if slot.is_none() {
                    *slot = Some(pod);
                } else {
                    actions.delete.push(pods::name(pod).to_owned());
                }
            }
            if let (Some(new), Some(old)) = (oldest_new, oldest_old)
                && (!is_ready(old) || is_available(new, sync.min_ready_seconds, sync.now))
            {
                actions.delete.push(pods::name(old).to_owned());
            }
        }
        Some(pods) => actions.delete.extend(
            pods.iter()
                .filter(|pod| pod.metadata.deletion_timestamp.is_none())
                .map(|pod| pods::name(pod).to_owned()),
        ),
    }
    actions
}

/// The failed-pod backoff's key: the set, its observed generation and the node.
fn failed_pods_backoff_key(daemon_set: &DaemonSet, node: &str) -> String {
    format!(
        "{}/{}/{node}",
        daemon_set.metadata.uid.as_deref().unwrap_or_default(),
        daemon_set
            .status
            .as_ref()
            .and_then(|status| status.observed_generation)
            .unwrap_or(0)
    )
}
