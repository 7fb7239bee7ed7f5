//! The update strategy and the rolling update (`rollingUpdate`,
//! `updatedDesiredNodeCounts`, `findUpdatedPodsOnNode`): which old pods go
//! and which nodes get a new pod now, within `maxUnavailable` or, when
//! surging, `maxSurge`. The creations and deletions themselves are the
//! controller's (`syncNodes`).

use std::collections::{BTreeMap, HashMap};

use wharf_sdk::k8s_openapi::api::apps::v1::DaemonSet;
use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use wharf_sdk::k8s_openapi::jiff::Timestamp;
use wharf_sdk::prelude::*;

use crate::placement::Fit;
use crate::pods::{self, is_available};

/// `spec.updateStrategy`, with the API server's defaults for what is absent
/// (RollingUpdate, maxUnavailable 1, maxSurge 0).
#[derive(Clone, Debug, PartialEq)]
pub enum UpdateStrategy {
    /// Old pods are replaced only when someone deletes them.
    OnDelete,
    /// Old pods are replaced by the controller, so many nodes at a time.
    RollingUpdate {
        max_unavailable: IntOrString,
        max_surge: IntOrString,
    },
}

impl UpdateStrategy {
    pub fn of(daemon_set: &DaemonSet) -> Self {
        let strategy = daemon_set.spec.update_strategy.as_ref();
        if strategy.and_then(|strategy| strategy.type_.as_deref()) == Some("OnDelete") {
            return UpdateStrategy::OnDelete;
        }
        let rolling = strategy.and_then(|strategy| strategy.rolling_update.as_ref());
        UpdateStrategy::RollingUpdate {
            max_unavailable: rolling
                .and_then(|rolling| rolling.max_unavailable.clone())
                .unwrap_or(IntOrString::Int(1)),
            max_surge: rolling
                .and_then(|rolling| rolling.max_surge.clone())
                .unwrap_or(IntOrString::Int(0)),
        }
    }

    /// `SurgeCount`: how many nodes may run an extra (new) pod, of
    /// `desired`; zero for OnDelete.
    pub fn surge(&self, desired: usize) -> Result<usize, Error> {
        match self {
            UpdateStrategy::OnDelete => Ok(0),
            UpdateStrategy::RollingUpdate { max_surge, .. } => scaled(max_surge, desired),
        }
    }

    /// `UnavailableCount`: how many nodes may be without an available pod
    /// during the update, of `desired`; zero for OnDelete.
    pub fn unavailable(&self, desired: usize) -> Result<usize, Error> {
        match self {
            UpdateStrategy::OnDelete => Ok(0),
            UpdateStrategy::RollingUpdate {
                max_unavailable, ..
            } => scaled(max_unavailable, desired),
        }
    }

    /// `AllowsSurge`: a node may hold an old and a new pod at once.
    pub fn allows_surge(&self) -> bool {
        self.surge(1).is_ok_and(|surge| surge > 0)
    }
}

/// `GetScaledValueFromIntOrPercent` rounding up: a count, or a percentage of `total`.
pub fn scaled(value: &IntOrString, total: usize) -> Result<usize, Error> {
    match value {
        IntOrString::Int(n) => Ok(usize::try_from(*n).unwrap_or(0)),
        IntOrString::String(text) => {
            let percent = text
                .strip_suffix('%')
                .and_then(|number| number.parse::<usize>().ok())
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "invalid value for IntOrString: invalid type: string is not a percentage: {text:?}"
                    ))
                })?;
            Ok((percent * total).div_ceil(100))
        }
    }
}

/// What one pass of the rolling update does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub pods_to_delete: Vec<String>,
    pub nodes_to_create: Vec<String>,
}

/// The facts the rolling update reads.
pub struct Rollout<'a> {
    pub strategy: &'a UpdateStrategy,
    /// Each existing node's fit, by name.
    pub fits: &'a HashMap<String, Fit>,
    /// The set's pods by node, finished-and-deleted ones left out.
    pub by_node: &'a BTreeMap<String, Vec<&'a Pod>>,
    pub hash: &'a str,
    pub generation: Option<i64>,
    pub min_ready_seconds: i64,
    pub now: Timestamp,
}

impl Rollout<'_> {
    /// `rollingUpdate`. Without surge, old pods are deleted (the next
    /// reconcile creates their replacements) while fewer than
    /// `maxUnavailable` nodes lack an available pod; an old pod that is not
    /// available goes at once. With surge, a new pod is created beside an
    /// available old one on at most `maxSurge` nodes at a time, and the old
    /// pod goes once the new one is available.
    pub fn plan(&self) -> Result<Plan, Error> {
        // `updatedDesiredNodeCounts`: every node that should run a pod is
        // looked at, with or without pods.
        let mut nodes: BTreeMap<&str, &[&Pod]> = self
            .by_node
            .iter()
            .map(|(node, pods)| (node.as_str(), pods.as_slice()))
            .collect();
        let mut desired = 0;
        for (node, fit) in self.fits {
            if fit.should_run {
                desired += 1;
                nodes.entry(node.as_str()).or_insert(&[]);
            }
        }
        let max_surge = self.strategy.surge(desired)?;
        let mut max_unavailable = self.strategy.unavailable(desired)?;
        if desired > 0 && max_surge == 0 && max_unavailable == 0 {
            // An impossible configuration: accept one unavailable node.
            max_unavailable = 1;
        }
        Ok(if max_surge == 0 {
            self.without_surge(&nodes, max_unavailable)
        } else {
            self.with_surge(&nodes, max_surge, desired)
        })
    }

    fn available(&self, pod: &Pod) -> bool {
        is_available(pod, self.min_ready_seconds, self.now)
    }

    fn should_run(&self, node: &str) -> bool {
        self.fits.get(node).is_some_and(|fit| fit.should_run)
    }

    fn without_surge(&self, nodes: &BTreeMap<&str, &[&Pod]>, max_unavailable: usize) -> Plan {
        let mut unavailable = 0;
        let mut replacements = Vec::new();
        let mut candidates = Vec::new();
        for pods in nodes.values() {
            let Some((new, old)) = self.updated_and_old(pods) else {
                // Excess pods: the manage pass prunes them first.
                unavailable += 1;
                continue;
            };
            match (new, old) {
                // The manage pass creates or prunes: unavailable meanwhile.
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some(new), None) => {
                    if !self.available(new) {
                        unavailable += 1;
                    }
                }
                (None, Some(old)) if !self.available(old) => {
                    replacements.push(pods::name(old).to_owned());
                    unavailable += 1;
                }
                (None, Some(_)) if unavailable >= max_unavailable => {}
                (None, Some(old)) => candidates.push(pods::name(old).to_owned()),
            }
        }
        let remaining = max_unavailable
            .saturating_sub(unavailable)
            .min(candidates.len());
        replacements.extend(candidates.into_iter().take(remaining));
        Plan {
            pods_to_delete: replacements,
            nodes_to_create: Vec::new(),
        }
    }

    fn with_surge(
        &self,
        nodes: &BTreeMap<&str, &[&Pod]>,
        max_surge: usize,
        desired: usize,
    ) -> Plan {
        let mut pods_to_delete = Vec::new();
        let mut should_not_run = Vec::new();
        let mut candidates = Vec::new();
        let mut allowed = Vec::new();
        let mut surging = 0;
        let mut available: usize = 0;
        for (node, pods) in nodes {
            let Some((new, old)) = self.updated_and_old(pods) else {
                surging += 1;
                continue;
            };
            // Availability counts every node, those being left too.
            if let Some(pod) = old.or(new)
                && self.available(pod)
            {
                available += 1;
            }
            match (new, old) {
                (_, None) => {} // the manage pass handles it
                (None, Some(old)) if !self.available(old) => {
                    if self.should_run(node) {
                        allowed.push((*node).to_owned());
                    } else {
                        pods_to_delete.push(pods::name(old).to_owned());
                    }
                }
                (None, Some(old)) => {
                    if !self.should_run(node) {
                        should_not_run.push(pods::name(old).to_owned());
                    } else if surging < max_surge {
                        candidates.push((*node).to_owned());
                    }
                }
                (Some(new), Some(old)) => {
                    if self.available(new) {
                        pods_to_delete.push(pods::name(old).to_owned());
                    } else {
                        surging += 1;
                    }
                }
            }
        }
        // Surging promises full availability: a pod on a node the set left
        // goes only once as many pods are available elsewhere.
        let deletable = available.saturating_sub(desired).min(should_not_run.len());
        pods_to_delete.extend(should_not_run.into_iter().take(deletable));
        let remaining = max_surge.saturating_sub(surging).min(candidates.len());
        allowed.extend(candidates.into_iter().take(remaining));
        Plan {
            pods_to_delete,
            nodes_to_create: allowed,
        }
    }

    /// `findUpdatedPodsOnNode`: the node's one new and one old pod (not
    /// being deleted); `None` when it has more of either.
    #[allow(clippy::type_complexity)]
    fn updated_and_old<'p>(&self, pods: &[&'p Pod]) -> Option<(Option<&'p Pod>, Option<&'p Pod>)> {
        let mut new = None;
        let mut old = None;
        for pod in pods
            .iter()
            .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        {
            let slot = if pods::is_updated(pod, self.hash, self.generation) {
                &mut new
            } else {
                &mut old
            };
            if slot.is_some() {
                return None;
            }
            *slot = Some(*pod);
        }
        Some((new, old))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_sdk::k8s_openapi::api::apps::v1::{DaemonSetUpdateStrategy, RollingUpdateDaemonSet};

    #[test]
    fn int_or_percent_scales_rounding_up() {
        let cases = [
            (IntOrString::Int(2), 10, Some(2)),
            (IntOrString::String("10%".into()), 10, Some(1)),
            (IntOrString::String("15%".into()), 10, Some(2)),
            (IntOrString::String("100%".into()), 7, Some(7)),
            (IntOrString::String("0%".into()), 7, Some(0)),
            (IntOrString::String("1".into()), 7, None),
        ];
        for (value, total, expected) in cases {
            assert_eq!(scaled(&value, total).ok(), expected, "{value:?} of {total}");
        }
    }

    #[test]
    fn the_strategy_defaults_as_the_api_server_does() {
        let with = |strategy: Option<DaemonSetUpdateStrategy>| {
            let mut daemon_set = DaemonSet::default();
            daemon_set.spec.update_strategy = strategy;
            UpdateStrategy::of(&daemon_set)
        };
        let default = with(None);
        assert_eq!(
            (default.unavailable(5).unwrap(), default.surge(5).unwrap()),
            (1, 0)
        );
        assert!(!default.allows_surge());
        let surging = with(Some(DaemonSetUpdateStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDaemonSet {
                max_surge: Some(IntOrString::String("20%".into())),
                max_unavailable: Some(IntOrString::Int(0)),
            }),
        }));
        assert_eq!(
            (surging.unavailable(5).unwrap(), surging.surge(5).unwrap()),
            (0, 1)
        );
        assert!(surging.allows_surge());
        let on_delete = with(Some(DaemonSetUpdateStrategy {
            type_: Some("OnDelete".into()),
            rolling_update: None,
        }));
        assert_eq!(on_delete, UpdateStrategy::OnDelete);
        assert_eq!(on_delete.unavailable(5).unwrap(), 0);
    }
}
