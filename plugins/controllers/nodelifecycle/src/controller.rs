//! The reconcile of one Node: health, taints, then the taint manager's
//! evictions of its pods.

use std::cell::RefCell;
use std::time::Duration;

use wharf_sdk::k8s_openapi::api::coordination::v1::Lease;
use wharf_sdk::k8s_openapi::api::core::v1::{Node, Pod};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use wharf_sdk::prelude::*;
use wharf_sdk::{pods, serde_json::json};

use crate::config::Config;
use crate::eviction::{Verdict, no_execute, verdict};
use crate::health::{Heard, heard, mark_unknown, ready_status};
use crate::taints::{
    adds_no_execute, no_execute_key, no_schedule_keys, with_no_execute, with_no_schedule,
};
use crate::zones::{Zones, zone_of};

/// Where kubelets keep their heartbeat Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// Reconciles Nodes: kube's node lifecycle controller and taint manager.
#[derive(Debug, Default)]
pub struct NodeLifecycleController {
    config: Config,
    zones: RefCell<Zones>,
}

impl Controller for NodeLifecycleController {
    fn registration(config: &serde_json::Value) -> Result<Registration, Error> {
        Config::from_json(config)?;
        Ok(Registration::new::<Node>()
            .reads::<Lease>()
            .watches::<Pod>(Wakes::NamedBy("/spec/nodeName".into())))
    }

    fn configure(&mut self, config: &serde_json::Value) -> Result<(), Error> {
        self.config = Config::from_json(config)?;
        Ok(())
    }

    fn reconcile(
        &self,
        ctx: &Context,
        _namespace: Option<&str>,
        name: &str,
    ) -> Result<Action, Error> {
        let Some(mut node) = ctx.get::<Node>(None, name)? else {
            self.zones.borrow_mut().forget(name);
            return Ok(Action::Done);
        };
        if !self.zones.borrow().seeded() {
            let nodes: Vec<Node> = ctx.list(None, &ListParams::default())?;
            self.zones.borrow_mut().seed(&nodes);
        }
        let now = ctx.now();
        let lease = ctx.get::<Lease>(Some(LEASE_NAMESPACE), name)?;
        let mut next_look = match heard(&node, lease.as_ref(), now.0, &self.config) {
            Heard::Recently(after) => Some(after),
            Heard::Silent => {
                let mut marked = node.clone();
                if mark_unknown(&mut marked, &now) {
                    node = ctx.update_status(&marked)?;
                    ctx.event(
                        &node,
                        EventType::Normal,
                        "NodeNotReady",
                        format!("Node {name} status is now: NodeNotReady"),
                    );
                }
                None
            }
        };
        self.zones.borrow_mut().observe(&node);
        let on_node = if ready_status(&node) == Some("True") {
            None
        } else {
            let pods = pods_on(ctx, name)?;
            mark_pods_not_ready(ctx, &pods, &now)?;
            Some(pods)
        };

        if let Some(wait) = self.update_taints(ctx, &mut node, &now)? {
            next_look = earliest(next_look, wait);
        }

        // The taint manager: every NoExecute taint, whoever put it there.
        let taints = node
            .spec
            .as_ref()
            .and_then(|spec| spec.taints.clone())
            .unwrap_or_default();
        let no_execute = no_execute(&taints);
        if !no_execute.is_empty() {
            let pods = match on_node {
                Some(pods) => pods,
                None => pods_on(ctx, name)?,
            };
            for pod in pods.iter().filter(|pod| pods::is_active(pod)) {
                match verdict(pod, &no_execute, now.0) {
                    Verdict::Stays => {}
                    Verdict::Evict => evict(ctx, pod, &now)?,
                    Verdict::EvictAt(at) => {
                        let millis = at.duration_since(now.0).as_millis().max(1);
                        next_look = earliest(next_look, Duration::from_millis(millis as u64));
                    }
                }
            }
        }
        Ok(next_look.map_or(Action::Done, Action::RequeueAfter))
    }
}

impl NodeLifecycleController {
    /// Brings the node's managed taints in line with its conditions: the
    /// NoSchedule ones at once, a NoExecute one as the zone's eviction rate
    /// allows (removing one is never held back). Returns how long until the
    /// rate allows a NoExecute taint that had to wait.
    fn update_taints(
        &self,
        ctx: &Context,
        node: &mut Node,
        now: &Time,
    ) -> Result<Option<Duration>, Error> {
        let current = node
            .spec
            .as_ref()
            .and_then(|spec| spec.taints.clone())
            .unwrap_or_default();
        let mut taints =
            with_no_schedule(&current, &no_schedule_keys(node)).unwrap_or_else(|| current.clone());
        let mut wait = None;
        let key = no_execute_key(node);
        let allowed = match key {
            Some(key) if adds_no_execute(&taints, key) => {
                let zone = zone_of(node);
                match self
                    .zones
                    .borrow_mut()
                    .take(&zone, &self.config, ctx.now_millis())
                {
                    Ok(()) => true,
                    Err(after) => {
                        wait = Some(after);
                        false
                    }
                }
            }
            _ => true,
        };
        if allowed && let Some(next) = with_no_execute(&taints, key, now) {
            taints = next;
        }
        if taints != current {
            let mut next = node.clone();
            next.spec.get_or_insert_with(Default::default).taints =
                (!taints.is_empty()).then_some(taints);
            *node = ctx.update(&next)?;
        }
        Ok(wait)
    }
}

fn earliest(current: Option<Duration>, other: Duration) -> Option<Duration> {
    Some(current.map_or(other, |current| current.min(other)))
}

fn pods_on(ctx: &Context, node: &str) -> Result<Vec<Pod>, Error> {
    ctx.list(
        None,
        &ListParams {
            field_selector: Some(format!("spec.nodeName={node}")),
            ..ListParams::default()
        },
    )
}

/// `MarkPodsNotReady`: a pod on a node that is not Ready is not Ready
/// either (its endpoints go), whatever its silent kubelet last said.
fn mark_pods_not_ready(ctx: &Context, pods: &[Pod], now: &Time) -> Result<(), Error> {
    for pod in pods.iter().filter(|pod| pods::is_ready(pod)) {
        let patch = Patch::Strategic(json!({"status": {"conditions": [
            {"type": "Ready", "status": "False", "lastTransitionTime": now}
        ]}}));
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        match ctx.patch::<Pod>(pod.metadata.namespace.as_deref(), name, &patch, true) {
            Ok(_) => ctx.event(pod, EventType::Warning, "NodeNotReady", "Node is not ready"),
            Err(error) if error.is_not_found() => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Deletes a pod for a NoExecute taint, as kube's taint manager: the
/// `DisruptionTarget` condition first, an event, then the deletion.
fn evict(ctx: &Context, pod: &Pod, now: &Time) -> Result<(), Error> {
    let (namespace, name) = (
        pod.metadata.namespace.as_deref(),
        pod.metadata.name.as_deref().unwrap_or_default(),
    );
    ctx.event(
        pod,
        EventType::Normal,
        "TaintManagerEviction",
        format!(
            "Marking for deletion Pod {}/{name}",
            namespace.unwrap_or_default()
        ),
    );
    let patch = Patch::Strategic(json!({"status": {"conditions": [{
        "type": "DisruptionTarget", "status": "True", "lastTransitionTime": now,
        "reason": "DeletionByTaintManager", "message": "Taint manager: deleting due to NoExecute taint",
    }]}}));
    match ctx.patch::<Pod>(namespace, name, &patch, true) {
        Ok(_) => {}
        Err(error) if error.is_not_found() => return Ok(()),
        Err(error) => return Err(error),
    }
    match ctx.delete::<Pod>(namespace, name) {
        Err(error) if !error.is_not_found() => Err(error),
        _ => Ok(()),
    }
}
