//! The StatefulSet controller (as kube's `StatefulSetController.sync` and
//! `defaultStatefulSetControl.UpdateStatefulSet`): revisions, pods, status,
//! history, for one key.

use std::cell::RefCell;
use std::time::Duration;

use wharf_sdk::expectations::Expectations;
use wharf_sdk::k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use wharf_sdk::k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use wharf_sdk::prelude::*;

use crate::adoption::claim_pods;
use crate::identity;
use crate::pod_control::PodControl;
use crate::revisions;
use crate::status::update_status;
use crate::update::update_stateful_set;

/// Reconciles StatefulSets; owns their pods and ControllerRevisions, reads
/// PersistentVolumeClaims.
#[derive(Debug, Default)]
pub struct StatefulSetController {
    /// Pods created or deleted but not yet seen, per `namespace/name`: a
    /// pod is deleted by name, and a cache that still shows the old pod
    /// must not make the set delete the new one of the same name.
    expectations: RefCell<Expectations>,
}

impl Controller for StatefulSetController {
    fn registration(_config: &serde_json::Value) -> Result<Registration, Error> {
        Ok(Registration::new::<StatefulSet>()
            .owns::<Pod>()
            .owns::<ControllerRevision>()
            .reads::<PersistentVolumeClaim>())
    }

    /// `sync`: adopt revisions, claim pods, update the set, write the
    /// status, truncate the history.
    fn reconcile(
        &self,
        ctx: &Context,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Action, Error> {
        let Some(namespace) = namespace else {
            ctx.warn(format!(
                "StatefulSet key {name:?} has no namespace; ignoring it"
            ));
            return Ok(Action::Done);
        };
        let key = format!("{namespace}/{name}");
        let Some(set) = ctx.get::<StatefulSet>(Some(namespace), name)? else {
            // Gone: its pods and revisions are garbage-collected.
            self.expectations.borrow_mut().forget(&key);
            return Ok(Action::Done);
        };
        let selector = match Selector::from_label_selector(&set.spec.selector) {
            Ok(selector) => selector,
            Err(error) => {
                // Retrying cannot help until the set changes.
                ctx.error(format!(
                    "StatefulSet {key} has an invalid selector: {error}"
                ));
                return Ok(Action::Done);
            }
        };

        let history = revisions::list_and_adopt(ctx, &set, &selector)?;
        let all_pods: Vec<Pod> = ctx.list(Some(namespace), &ListParams::default())?;
        let now = ctx.now();
        let act = self
            .expectations
            .borrow_mut()
            .satisfied(&key, &all_pods, ctx.now_millis());
        let pods = claim_pods(ctx, &set, &selector, &all_pods)?;

        let revisions = revisions::current_and_update(ctx, &set, &history)?;
        let control = PodControl::new(ctx, &set);
        let updated = update_stateful_set(&control, &set, &revisions, &pods, act, now.0);
        self.expectations.borrow_mut().expect(
            &key,
            control.created.take(),
            control.deleted.take(),
            ctx.now_millis(),
        );
        let live = [
            revisions
                .current
                .metadata
                .name
                .as_deref()
                .unwrap_or_default(),
            revisions
                .update
                .metadata
                .name
                .as_deref()
                .unwrap_or_default(),
        ];
        let updated = match updated {
            Ok(updated) => updated,
            Err(error) => {
                revisions::truncate_history(ctx, &set, &pods, &history, &live)?;
                return Err(error);
            }
        };
        let status = update_status(ctx, &set, updated.status);
        let truncated = revisions::truncate_history(ctx, &set, &pods, &history, &live);
        updated.result?;
        let status = status?;
        truncated?;

        // Availability comes with time, not with an event: look again when
        // the next ready pod has been ready for minReadySeconds.
        let min_ready_seconds = set.spec.min_ready_seconds.unwrap_or(0);
        if min_ready_seconds <= 0 || status.available_replicas == Some(identity::replicas(&set)) {
            return Ok(Action::Done);
        }
        let next_available = pods
            .iter()
            .filter_map(|pod| identity::millis_until_available(pod, min_ready_seconds, now.0))
            .min()
            .unwrap_or(i64::from(min_ready_seconds) * 1000);
        Ok(Action::RequeueAfter(Duration::from_millis(
            next_available.clamp(1, i64::from(min_ready_seconds) * 1000 + 1) as u64,
        )))
    }
}
