//! The conditions kube's namespace controller writes on a terminating
//! Namespace, with its reasons and messages.

use std::collections::BTreeMap;

use wharf_sdk::k8s_openapi::api::core::v1::{Namespace, NamespaceCondition};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub const DISCOVERY_FAILURE: &str = "NamespaceDeletionDiscoveryFailure";
pub const PARSING_FAILURE: &str = "NamespaceDeletionGroupVersionParsingFailure";
pub const CONTENT_FAILURE: &str = "NamespaceDeletionContentFailure";
pub const CONTENT_REMAINING: &str = "NamespaceContentRemaining";
pub const FINALIZERS_REMAINING: &str = "NamespaceFinalizersRemaining";

/// What one pass over the Namespace's content found.
#[derive(Debug, Default)]
pub struct Pass {
    /// Why discovery failed, if it did.
    pub discovery_error: Option<String>,
    /// Deletions or lists that failed, as messages.
    pub errors: Vec<String>,
    /// Objects left, by group-resource (`pods`, `deployments.apps`).
    pub remaining: BTreeMap<String, usize>,
    /// Objects left, by finalizer.
    pub finalizers: BTreeMap<String, usize>,
}

impl Pass {
    /// Whether the Namespace is empty and nothing failed.
    pub fn finished(&self) -> bool {
        self.discovery_error.is_none() && self.errors.is_empty() && self.remaining.is_empty()
    }

    /// The conditions, in kube's order, as `(type, status, reason, message)`.
    pub fn conditions(&self) -> [(&'static str, &'static str, &'static str, String); 5] {
        let discovery = match &self.discovery_error {
            None => (
                "False",
                "ResourcesDiscovered",
                "All resources successfully discovered".to_owned(),
            ),
            Some(error) => (
                "True",
                "DiscoveryFailed",
                format!("Discovery failed for some groups: {error}"),
            ),
        };
        let content = if self.errors.is_empty() {
            (
                "False",
                "ContentDeleted",
                "All content successfully deleted, may be waiting on finalization".to_owned(),
            )
        } else {
            (
                "True",
                "ContentDeletionFailed",
                format!(
                    "Failed to delete all resource types, {} remaining: {}",
                    self.errors.len(),
                    self.errors.join(", ")
                ),
            )
        };
        let remaining = if self.remaining.is_empty() {
            (
                "False",
                "ContentRemoved",
                "All content successfully removed".to_owned(),
            )
        } else {
            let counts: Vec<String> = self
                .remaining
                .iter()
                .map(|(resource, count)| format!("{resource} has {count} resource instances"))
                .collect();
            (
                "True",
                "SomeResourcesRemain",
                format!("Some resources are remaining: {}", counts.join(", ")),
            )
        };
        let finalizers = if self.finalizers.is_empty() {
            (
                "False",
                "ContentHasNoFinalizers",
                "All content-preserving finalizers finished".to_owned(),
            )
        } else {
            let counts: Vec<String> = self
                .finalizers
                .iter()
                .map(|(finalizer, count)| format!("{finalizer} in {count} resource instances"))
                .collect();
            (
                "True",
                "SomeFinalizersRemain",
                format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    counts.join(", ")
                ),
            )
        };
        [
            (DISCOVERY_FAILURE, discovery.0, discovery.1, discovery.2),
            (
                PARSING_FAILURE,
                "False",
                "ParsedGroupVersions",
                "All legacy kube types successfully parsed".to_owned(),
            ),
            (CONTENT_FAILURE, content.0, content.1, content.2),
            (CONTENT_REMAINING, remaining.0, remaining.1, remaining.2),
            (
                FINALIZERS_REMAINING,
                finalizers.0,
                finalizers.1,
                finalizers.2,
            ),
        ]
    }
}

/// Sets the pass's conditions on `namespace` (a condition's transition
/// time moves only when its status does); returns whether anything changed.
pub fn apply(namespace: &mut Namespace, pass: &Pass, now: &Time) -> bool {
    let status = namespace.status.get_or_insert_with(Default::default);
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let mut changed = false;
    for (type_, state, reason, message) in pass.conditions() {
        let next = NamespaceCondition {
            type_: type_.to_owned(),
            status: state.to_owned(),
            reason: Some(reason.to_owned()),
            message: Some(message),
            last_transition_time: Some(now.clone()),
        };
        match conditions
            .iter_mut()
            .find(|condition| condition.type_ == type_)
        {
            Some(current) => {
                let same = current.status == next.status
                    && current.reason == next.reason
                    && current.message == next.message;
                if !same {
                    if current.status == next.status {
                        let since = current.last_transition_time.clone();
                        *current = NamespaceCondition {
                            last_transition_time: since,
                            ..next
                        };
                    } else {
                        *current = next;
                    }
                    changed = true;
                }
            }
            None => {
                conditions.push(next);
                changed = true;
            }
        }
    }
    changed
}
