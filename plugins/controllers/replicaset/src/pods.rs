//! What the controller reads off pods (as `k8s.io/kubernetes/pkg/api/v1/pod`
//! and `pkg/controller`'s helpers do), the pod a template makes, and which
//! pods go first when scaling down (`ActivePodsWithRanks`).

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use wharf_sdk::k8s_openapi::jiff::Timestamp;
use wharf_sdk::prelude::*;

use crate::kind::Replicated;

/// The annotation that orders pods for deletion (lower cost goes first).
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

pub use wharf_sdk::pods::{
    is_active, is_available, is_ready, is_terminal, is_terminating, millis_until_available, phase,
    ready_since,
};

/// The pod the ReplicaSet's template makes (`GetPodFromTemplate`): the
/// template's labels, annotations, finalizers and spec, `generateName`
/// `<replicaset>-`, and the ReplicaSet as controlling owner.
pub fn pod_from_template<K: Replicated>(replica_set: &K) -> Result<Pod, Error> {
    let name = replica_set.metadata().name.as_deref().unwrap_or_default();
    let template = replica_set
        .template()
        .ok_or_else(|| Error::Invalid(format!("{} {name} has no pod template", K::KIND)))?;
    let template_metadata = template.metadata.clone().unwrap_or_default();
    let labels = template_metadata.labels.filter(|labels| !labels.is_empty());
    if labels.is_none() {
        return Err(Error::Invalid(
            "unable to create pods, no labels".to_owned(),
        ));
    }
    Ok(Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: replica_set.metadata().namespace.clone(),
            labels,
            annotations: template_metadata.annotations,
            finalizers: template_metadata.finalizers,
            owner_references: Some(vec![owner_reference(replica_set)]),
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    })
}

/// The `diff` pods to delete first (`getPodsToDelete`): `pods` ranked by
/// [`deletion_order`], each ranked by how many active `related` pods (the
/// pods of ReplicaSets with the same controller) share its node.
pub fn pods_to_delete<'a>(
    pods: &[&'a Pod],
    related: &[&Pod],
    diff: usize,
    now: Timestamp,
) -> Vec<&'a Pod> {
    if diff >= pods.len() {
        return pods.to_vec();
    }
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for pod in related.iter().filter(|pod| is_active(pod)) {
        *on_node.entry(node_name(pod)).or_default() += 1;
    }
    let ranked: Vec<(&Pod, usize)> = pods
        .iter()
        .map(|pod| (*pod, on_node.get(node_name(pod)).copied().unwrap_or(0)))
        .collect();
    let ranked = merge_sort(ranked, &|a, b| deletion_order(a, b, now));
    ranked.into_iter().take(diff).map(|(pod, _)| pod).collect()
}

/// A stable merge sort that, unlike `slice::sort_by`, never panics when the
/// comparison is not a total order: with its log2 buckets and uid tie-breaks,
/// `ActivePodsWithRanks.Less` is not always transitive (Go's `sort.Sort`
/// shrugs that off too).
fn merge_sort<T: Copy>(items: Vec<T>, compare: &impl Fn(&T, &T) -> Ordering) -> Vec<T> {
    if items.len() <= 1 {
        return items;
    }
    let mut left = items;
    let right = left.split_off(left.len() / 2);
    let (left, right) = (merge_sort(left, compare), merge_sort(right, compare));
    let mut merged = Vec::with_capacity(left.len() + right.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if compare(&right[j], &left[i]) == Ordering::Less {
            merged.push(right[j]);
            j += 1;
        } else {
            merged.push(left[i]);
            i += 1;
        }
    }
    merged.extend_from_slice(&left[i..]);
    merged.extend_from_slice(&right[j..]);
    merged
}

fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|spec| spec.node_name.as_deref())
        .unwrap_or("")
}

/// `ActivePodsWithRanks.Less`: `Less` means "delete first". Each pod comes
/// with its rank (active related pods on its node).
///
/// 1. unscheduled < scheduled;
/// 2. Pending < Unknown < Running;
/// 3. not ready < ready;
/// 4. lower `pod-deletion-cost` < higher;
/// 5. more related pods on the same node < fewer;
/// 6. ready more recently < longer (in log2 buckets of the time since);
/// 7. more container restarts < fewer (then sidecar restarts);
/// 8. created more recently < earlier (in log2 buckets; an unset time first);
///
/// and, where both 6 or 8 fall in the same bucket, by uid.
pub fn deletion_order(a: &(&Pod, usize), b: &(&Pod, usize), now: Timestamp) -> Ordering {
    let ((pod_a, rank_a), (pod_b, rank_b)) = (a, b);
    let (node_a, node_b) = (node_name(pod_a), node_name(pod_b));
    if node_a != node_b && (node_a.is_empty() || node_b.is_empty()) {
        return if node_a.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let by_phase = phase_ordinal(pod_a).cmp(&phase_ordinal(pod_b));
    if by_phase != Ordering::Equal {
        return by_phase;
    }
    let by_readiness = is_ready(pod_a).cmp(&is_ready(pod_b));
    if by_readiness != Ordering::Equal {
        return by_readiness;
    }
    let by_cost = deletion_cost(pod_a).cmp(&deletion_cost(pod_b));
    if by_cost != Ordering::Equal {
        return by_cost;
    }
    let by_rank = rank_b.cmp(rank_a);
    if by_rank != Ordering::Equal {
        return by_rank;
    }
    if is_ready(pod_a) && is_ready(pod_b) {
        let (since_a, since_b) = (ready_since(pod_a), ready_since(pod_b));
        if since_a != since_b {
            return newer_first(since_a, since_b, pod_a, pod_b, now);
        }
    }
    let (restarts_a, restarts_b) = (restarts(pod_a), restarts(pod_b));
    if restarts_a != restarts_b {
        return restarts_b.cmp(&restarts_a);
    }
    let created_a = pod_a
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|time: &Time| time.0);
    let created_b = pod_b
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|time: &Time| time.0);
    if created_a != created_b {
        return newer_first(created_a, created_b, pod_a, pod_b, now);
    }
    Ordering::Equal
}

/// Pending 0, Unknown 1, Running 2; anything else counts as Pending.
fn phase_ordinal(pod: &Pod) -> u8 {
    match phase(pod) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

/// The `pod-deletion-cost` annotation; missing or malformed is 0.
fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(POD_DELETION_COST))
        .and_then(|cost| cost.parse().ok())
        .unwrap_or(0)
}

/// The most restarts of a regular container, then of a sidecar (an init
/// container with `restartPolicy: Always`).
fn restarts(pod: &Pod) -> (i32, i32) {
    let Some(status) = pod.status.as_ref() else {
        return (0, 0);
    };
    let regular = status
        .container_statuses
        .iter()
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0);
    let sidecars: BTreeSet<&str> = pod
        .spec
        .iter()
        .flat_map(|spec| spec.init_containers.iter().flatten())
        .filter(|container| container.restart_policy.as_deref() == Some("Always"))
        .map(|container| container.name.as_str())
        .collect();
    let sidecar = status
        .init_container_statuses
        .iter()
        .flatten()
        .filter(|c| sidecars.contains(c.name.as_str()))
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0);
    (regular, sidecar)
}

/// Later times first, an unset time before any; with `LogarithmicScaleDown`
/// (on by default) times in the same power-of-two bucket of age are equal
/// and the uid decides.
fn newer_first(
    a: Option<Timestamp>,
    b: Option<Timestamp>,
    pod_a: &Pod,
    pod_b: &Pod,
    now: Timestamp,
) -> Ordering {
    let (Some(a), Some(b)) = (a, b) else {
        return if a.is_none() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    };
    let by_bucket = log2_age(a, now).cmp(&log2_age(b, now));
    if by_bucket != Ordering::Equal {
        return by_bucket;
    }
    pod_a.metadata.uid.cmp(&pod_b.metadata.uid)
}

/// `floor(log2(age in nanoseconds))`, or -1 for a time not in the past.
fn log2_age(time: Timestamp, now: Timestamp) -> i64 {
    let age = now.as_nanosecond() - time.as_nanosecond();
    if age > 0 {
        (age as f64).log2() as i64
    } else {
        -1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_sort_is_stable() {
        let sorted = merge_sort(
            vec![(2, 'a'), (1, 'b'), (2, 'c'), (1, 'd'), (0, 'e')],
            &|a, b| a.0.cmp(&b.0),
        );
        assert_eq!(sorted, [(0, 'e'), (1, 'b'), (1, 'd'), (2, 'a'), (2, 'c')]);
    }

    #[test]
    fn log2_buckets_group_similar_ages() {
        let now = Timestamp::from_second(1_000_000).unwrap();
        let ago = |seconds: i64| Timestamp::from_second(1_000_000 - seconds).unwrap();
        assert_eq!(log2_age(now, now), -1);
        assert_eq!(log2_age(ago(100), now), log2_age(ago(120), now));
        assert!(log2_age(ago(10), now) < log2_age(ago(100), now));
    }
}
