//! The active policy set and one scheduling cycle through it: filters in
//! order over chunks of candidates until enough feasible nodes are found
//! (kube-scheduler's `percentageOfNodesToScore`), weighted scores over the
//! feasible ones, the best node (ties broken at random).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use wharf_plugin_abi::policy::{Change, Pod, Registration};
use wharf_plugins::policy::{PolicyInstance, PolicyModule, PreparedChanges, PreparedPod};
use wharf_plugins::{Limits, PluginError, PluginStats};

use crate::nodes::NodeTable;

/// kube-scheduler's floor on nodes to find before it stops filtering.
const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The floor of the adaptive percentage.
const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;

/// How many feasible nodes to look for among `all` (kube-scheduler's
/// `numFeasibleNodesToFind` with the adaptive default percentage).
pub fn feasible_nodes_to_find(all: usize) -> usize {
    if all < MIN_FEASIBLE_NODES_TO_FIND {
        return all;
    }
    let percentage = 50usize
        .saturating_sub(all / 125)
        .max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
    (all * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Everything needed to (re)build a policy instance.
#[derive(Clone)]
pub struct PolicySpec {
    /// The `Plugin` object's name.
    pub name: String,
    pub module: PolicyModule,
    pub config: String,
    pub limits: Limits,
    /// Filter order (lower first).
    pub order: i64,
    /// Score weight (0: not scored).
    pub weight: i64,
    /// Whether its extension points are switched on by config.
    pub filter_enabled: bool,
    pub score_enabled: bool,
    pub stats: Arc<PluginStats>,
}

/// A running policy.
pub struct ActivePolicy {
    pub spec: PolicySpec,
    pub registration: Registration,
    instance: PolicyInstance,
    /// It failed in a way that poisons the instance: rebuild before use.
    poisoned: bool,
    /// Whether every filter call of this cycle said the policy has no
    /// preference for the pod (`None`: not asked).
    skip_score: Option<bool>,
}

impl ActivePolicy {
    /// Instantiates the policy and gives it the whole snapshot.
    pub fn start(spec: PolicySpec, table: &NodeTable) -> Result<Self, PluginError> {
        let (mut instance, registration) =
            spec.module
                .instantiate(&spec.name, &spec.config, &spec.limits)?;
        let changes = table.full_changes(registration.wants_pods);
        instance.update(&PreparedChanges::new(&changes))?;
        Ok(Self {
            spec,
            registration,
            instance,
            poisoned: false,
            skip_score: None,
        })
    }

    fn filters(&self) -> bool {
        self.registration.filters && self.spec.filter_enabled
    }

    fn scores(&self) -> bool {
        self.registration.scores && self.spec.score_enabled && self.spec.weight > 0
    }
}

/// Why a pod got no node.
#[derive(Debug)]
pub enum ScheduleError {
    /// No node fits: kube-scheduler's FitError.
    Unschedulable(FitError),
    /// A policy failed; the pod is retried after a backoff.
    Policy { policy: String, error: PluginError },
}

/// The nodes considered and why each was turned down.
#[derive(Debug, Default)]
pub struct FitError {
    pub nodes: usize,
    pub reasons: BTreeMap<String, usize>,
}

impl std::fmt::Display for FitError {
    /// `0/5 nodes are available: 1 Insufficient cpu, 4 node(s) didn't match
    /// Pod's node affinity/selector.`, as kube-scheduler words it (the
    /// counted reasons sorted as strings).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.nodes == 0 {
            return f.write_str("no nodes available to schedule pods");
        }
        let mut reasons: Vec<String> = self
            .reasons
            .iter()
            .map(|(reason, count)| format!("{count} {reason}"))
            .collect();
        reasons.sort();
        write!(
            f,
            "0/{} nodes are available: {}.",
            self.nodes,
            reasons.join(", ")
        )
    }
}

/// The policies in filter order, and the cycle's scratch space.
#[derive(Default)]
pub struct Profile {
    policies: Vec<ActivePolicy>,
    /// Where the next cycle starts walking the nodes.
    next_start: usize,
    seed: u64,
}

impl Profile {
    pub fn policies(&self) -> &[ActivePolicy] {
        &self.policies
    }

    /// Adds or replaces a policy (by Plugin name), kept in filter order.
    pub fn install(&mut self, policy: ActivePolicy) {
        self.policies.retain(|p| p.spec.name != policy.spec.name);
        self.policies.push(policy);
        self.policies
            .sort_by(|a, b| (a.spec.order, &a.spec.name).cmp(&(b.spec.order, &b.spec.name)));
    }

    /// Removes a policy.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.policies.len();
        self.policies.retain(|p| p.spec.name != name);
        before != self.policies.len()
    }

    /// Pushes the snapshot's pending changes to every policy, each getting
    /// only the kinds it registered for (pods, usage); a policy that fails
    /// is rebuilt from the full snapshot before its next use.
    pub fn push_changes(&mut self, table: &mut NodeTable) {
        let changes = table.take_changes();
        if changes.is_empty() {
            return;
        }
        // One list per (wants pods, wants usage), made on first use, each
        // prepared (converted for components or encoded) once.
        let lists: [Vec<Change>; 4] = std::array::from_fn(|kind| {
            let (pods, usage) = (kind >= 2, kind % 2 == 1);
            let wanted = |change: &&Change| match change {
                Change::PodAdded(_) | Change::PodRemoved(_) => pods,
                Change::NodeUsage(..) => usage,
                Change::UpsertNode(_) | Change::RemoveNode(_) => true,
            };
            let needed = self.policies.iter().any(|p| {
                !p.poisoned
                    && p.registration.wants_pods == pods
                    && p.registration.wants_usage == usage
            });
            if needed {
                changes.iter().filter(wanted).cloned().collect()
            } else {
                Vec::new()
            }
        });
        let prepared: [PreparedChanges<'_>; 4] =
            std::array::from_fn(|kind| PreparedChanges::new(&lists[kind]));
        for policy in &mut self.policies {
            if policy.poisoned {
                continue;
            }
            let kind = usize::from(policy.registration.wants_pods) * 2
                + usize::from(policy.registration.wants_usage);
            if prepared[kind].is_empty() {
                continue;
            }
            let started = Instant::now();
            let result = policy.instance.update(&prepared[kind]);
            policy
                .spec
                .stats
                .record(started.elapsed(), result.as_ref().err());
            if result.is_err() {
                policy.poisoned = true;
            }
        }
    }

    /// Rebuilds poisoned instances; the ones that cannot be rebuilt stay out.
    fn heal(&mut self, table: &NodeTable) {
        for policy in &mut self.policies {
            if !policy.poisoned {
                continue;
            }
            match ActivePolicy::start(policy.spec.clone(), table) {
                Ok(fresh) => *policy = fresh,
                Err(error) => {
                    policy.spec.stats.record_error(&error);
                }
            }
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: tie-breaking needs no more.
        if self.seed == 0 {
            self.seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
                | 1;
        }
        self.seed ^= self.seed >> 12;
        self.seed ^= self.seed << 25;
        self.seed ^= self.seed >> 27;
        self.seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// One scheduling cycle: the chosen node's index.
    pub fn schedule(
        &mut self,
        pod: &Pod,
        object: &serde_json::Value,
        table: &NodeTable,
    ) -> Result<u32, ScheduleError> {
        self.heal(table);
        let live = table.live();
        let all = live.len();
        if all == 0 {
            return Err(ScheduleError::Unschedulable(FitError::default()));
        }
        let prepared = PreparedPod::new(pod, object);
        for policy in &mut self.policies {
            policy.skip_score = None;
        }
        let to_find = feasible_nodes_to_find(all);
        let start = self.next_start % all;
        let mut feasible: Vec<u32> = Vec::with_capacity(to_find);
        let mut fit_error = FitError {
            nodes: all,
            reasons: BTreeMap::new(),
        };
        let mut processed = 0;
        while processed < all && feasible.len() < to_find {
            let chunk = (to_find - feasible.len())
                .max(MIN_FEASIBLE_NODES_TO_FIND)
                .min(all - processed);
            let mut candidates: Vec<u32> = (processed..processed + chunk)
                .map(|i| live[(start + i) % all])
                .collect();
            processed += chunk;
            for policy in self
                .policies
                .iter_mut()
                .filter(|p| p.filters() && !p.poisoned)
            {
                if candidates.is_empty() {
                    break;
                }
                let started = Instant::now();
                let result = policy.instance.filter(&prepared, &candidates);
                policy
                    .spec
                    .stats
                    .record(started.elapsed(), result.as_ref().err());
                let rejections = match result {
                    Ok(filtered) => {
                        policy.skip_score =
                            Some(policy.skip_score.unwrap_or(true) && filtered.skip_score);
                        filtered.rejections
                    }
                    Err(error) => {
                        policy.poisoned |= error.poisons_instance();
                        return Err(ScheduleError::Policy {
                            policy: policy.spec.name.clone(),
                            error,
                        });
                    }
                };
                if rejections.is_empty() {
                    continue;
                }
                let mut keep = vec![true; candidates.len()];
                for rejection in rejections {
                    let Some(slot) = keep.get_mut(rejection.position as usize) else {
                        continue;
                    };
                    if !*slot {
                        continue;
                    }
                    *slot = false;
                    for reason in rejection.reasons {
                        *fit_error.reasons.entry(reason).or_default() += 1;
                    }
                }
                let mut position = 0;
                candidates.retain(|_| {
                    position += 1;
                    keep[position - 1]
                });
            }
            feasible.extend(candidates);
        }
        self.next_start = (start + processed) % all;
        if feasible.is_empty() {
            return Err(ScheduleError::Unschedulable(fit_error));
        }
        feasible.truncate(to_find);
        if feasible.len() == 1 {
            return Ok(feasible[0]);
        }
        let mut totals = vec![0i64; feasible.len()];
        let mut scores = Vec::with_capacity(feasible.len());
        for policy in self
            .policies
            .iter_mut()
            .filter(|p| p.scores() && !p.poisoned)
        {
            let started = Instant::now();
            let mut result = policy.instance.score(&prepared, &feasible, &mut scores);
            if result.is_ok()
                && let Some(bad) = scores.iter().find(|s| !(0..=100).contains(*s))
            {
                result = Err(PluginError::Failed(format!(
                    "score {bad} is outside [0, 100]"
                )));
            }
            policy
                .spec
                .stats
                .record(started.elapsed(), result.as_ref().err());
            if let Err(error) = result {
                policy.poisoned |= error.poisons_instance();
                return Err(ScheduleError::Policy {
                    policy: policy.spec.name.clone(),
                    error,
                });
            }
            let weight = policy.spec.weight;
            for (total, score) in totals.iter_mut().zip(&scores) {
                *total += score * weight;
            }
        }
        // The best score; among ties, each equally likely (reservoir sampling).
        let mut best = 0;
        let mut ties = 0u64;
        for i in 0..totals.len() {
            if totals[i] > totals[best] {
                best = i;
                ties = 1;
            } else if totals[i] == totals[best] {
                ties += 1;
                if self.random().is_multiple_of(ties) {
                    best = i;
                }
            }
        }
        Ok(feasible[best])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_number_of_nodes_to_find_follows_kube_scheduler() {
        let cases = [
            (50, 50),
            (100, 100),
            (500, 230),
            (1000, 420),
            (5000, 500),
            (10000, 500),
            (20000, 1000),
        ];
        for (all, expected) in cases {
            assert_eq!(feasible_nodes_to_find(all), expected, "{all} nodes");
        }
    }

    #[test]
    fn fit_errors_read_as_kube_schedulers() {
        let error = FitError {
            nodes: 5000,
            reasons: [
                ("Insufficient cpu".to_string(), 4990),
                ("node(s) had untolerated taint {gpu: true}".to_string(), 10),
            ]
            .into(),
        };
        assert_eq!(
            error.to_string(),
            "0/5000 nodes are available: 10 node(s) had untolerated taint {gpu: true}, 4990 Insufficient cpu."
        );
        assert_eq!(
            FitError::default().to_string(),
            "no nodes available to schedule pods"
        );
    }
}
