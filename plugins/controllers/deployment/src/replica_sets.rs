//! What the controller knows about a Deployment's ReplicaSets: their sizes
//! and revisions, the orders it sorts them in, which one is new, and the
//! annotations it keeps on them. Pure functions over k8s-openapi objects
//! (`pkg/controller/deployment/util` and the ReplicaSet helpers of
//! `pkg/controller/controller_utils.go`).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use wharf_sdk::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use wharf_sdk::k8s_openapi::api::core::v1::PodTemplateSpec;

use crate::hash::equal_ignore_hash;
use crate::names::annotation;
use crate::spec::ResolvedSpec;

/// `spec.replicas` (the API server defaults it to 1).
pub fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(1)
}

/// `status.replicas`: the pods the ReplicaSet controller counted.
pub fn actual_replicas(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map_or(0, |s| s.replicas)
}

pub fn ready_replicas(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

pub fn available_replicas(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

fn observed_generation(rs: &ReplicaSet) -> i64 {
    rs.status
        .as_ref()
        .and_then(|s| s.observed_generation)
        .unwrap_or(0)
}

pub fn name(rs: &ReplicaSet) -> &str {
    rs.metadata.name.as_deref().unwrap_or_default()
}

pub fn uid(rs: &ReplicaSet) -> &str {
    rs.metadata.uid.as_deref().unwrap_or_default()
}

/// The ReplicaSet's pod template (an absent one is empty).
pub fn template(rs: &ReplicaSet) -> PodTemplateSpec {
    rs.spec.template.clone().unwrap_or_default()
}

pub fn is_active(rs: &ReplicaSet) -> bool {
    replicas(rs) > 0
}

/// `FilterActiveReplicaSets`: those with pods wanted.
pub fn active<'a>(replica_sets: impl IntoIterator<Item = &'a ReplicaSet>) -> Vec<ReplicaSet> {
    replica_sets
        .into_iter()
        .filter(|rs| is_active(rs))
        .cloned()
        .collect()
}

/// `GetReplicaCountForReplicaSets`: the sum of `spec.replicas`.
pub fn replica_count<'a>(replica_sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    replica_sets.into_iter().map(replicas).sum()
}

/// `GetActualReplicaCountForReplicaSets`: the sum of `status.replicas`.
pub fn actual_replica_count<'a>(replica_sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    replica_sets.into_iter().map(actual_replicas).sum()
}

pub fn ready_replica_count<'a>(replica_sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    replica_sets.into_iter().map(ready_replicas).sum()
}

pub fn available_replica_count<'a>(replica_sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    replica_sets.into_iter().map(available_replicas).sum()
}

/// `GetTerminatingReplicaCountForReplicaSets`: the sum of
/// `status.terminatingReplicas`, or `None` when a ReplicaSet its controller
/// has seen does not report it (an unseen one counts as none terminating).
pub fn terminating_replica_count<'a>(
    replica_sets: impl IntoIterator<Item = &'a ReplicaSet>,
) -> Option<i32> {
    let mut total = 0;
    for rs in replica_sets {
        match rs.status.as_ref().and_then(|s| s.terminating_replicas) {
            Some(terminating) => total += terminating,
            None if observed_generation(rs) == 0 => {}
            None => return None,
        }
    }
    Some(total)
}

// --- Orders ---

/// `ReplicaSetsByCreationTimestamp`: oldest first, then by name.
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let time = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
    time(a).cmp(&time(b)).then_with(|| name(a).cmp(name(b)))
}

/// `ReplicaSetsBySizeOlder`: largest first, older first among equals.
pub fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    replicas(b)
        .cmp(&replicas(a))
        .then_with(|| by_creation(a, b))
}

/// `ReplicaSetsBySizeNewer`: largest first, newer first among equals.
pub fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    replicas(b)
        .cmp(&replicas(a))
        .then_with(|| by_creation(b, a))
}

/// `ReplicaSetsByRevision`: lowest revision first, by creation among equals.
/// Kubernetes compares an unreadable revision by creation with everything,
/// which is not a total order; here it counts as revision 0 (oldest).
pub fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let key = |rs: &ReplicaSet| revision(rs).unwrap_or(0);
    key(a).cmp(&key(b)).then_with(|| by_creation(a, b))
}

// --- Revisions ---

/// `Revision`: the revision annotation; 0 when absent, an error when not a number.
pub fn revision(rs: &ReplicaSet) -> Result<i64, std::num::ParseIntError> {
    match annotation_of(rs, annotation::REVISION) {
        None => Ok(0),
        Some(text) => text.parse(),
    }
}

/// `MaxRevision`: the highest readable revision (0 for none).
pub fn max_revision<'a>(replica_sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    replica_sets
        .into_iter()
        .filter_map(|rs| revision(rs).ok())
        .max()
        .unwrap_or(0)
        .max(0)
}

/// `LastRevision`: the second highest revision (the one before the current).
pub fn last_revision<'a>(replica_sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    let (mut max, mut second) = (0, 0);
    for value in replica_sets.into_iter().filter_map(|rs| revision(rs).ok()) {
        if value >= max {
            second = max;
            max = value;
        } else if value > second {
            second = value;
        }
    }
    second
}

// --- New and old ---

/// `FindNewReplicaSet`: the oldest ReplicaSet whose template is the
/// Deployment's (there may be several after upgrades that change hashes).
/// Sorts `replica_sets` by creation, as Kubernetes does.
pub fn find_new(template: &PodTemplateSpec, replica_sets: &mut [ReplicaSet]) -> Option<usize> {
    replica_sets.sort_by(by_creation);
    replica_sets
        .iter()
        .position(|rs| equal_ignore_hash(&self::template(rs), template))
}

/// `FindActiveOrLatest`: the one ReplicaSet to size to the whole Deployment
/// when at most one has pods: that one, or else the new one, or else the
/// newest old one. `None` when several have pods (scale them
/// proportionally). Sorts `old` newest first, as Kubernetes does.
pub fn find_active_or_latest(
    new: Option<&ReplicaSet>,
    old: &mut [ReplicaSet],
) -> Option<ReplicaSet> {
    if new.is_none() && old.is_empty() {
        return None;
    }
    old.sort_by(|a, b| by_creation(b, a));
    let active = active(old.iter().chain(new));
    match active.len() {
        0 => new.cloned().or_else(|| old.first().cloned()),
        1 => active.into_iter().next(),
        _ => None,
    }
}

/// `IsSaturated`: the new ReplicaSet has all the Deployment's replicas, by
/// spec, by annotation and by available pods.
pub fn is_saturated(spec: &ResolvedSpec, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else {
        return false;
    };
    let Some(desired) =
        annotation_of(rs, annotation::DESIRED_REPLICAS).and_then(|d| d.parse::<i32>().ok())
    else {
        return false;
    };
    replicas(rs) == spec.replicas
        && desired == spec.replicas
        && available_replicas(rs) == spec.replicas
}

/// `NewRSNewReplicas`: how big the new ReplicaSet may be now. A rolling
/// update grows it within `replicas + maxSurge` pods in all; Recreate makes
/// it whole at once.
pub fn new_replica_set_replicas(spec: &ResolvedSpec, all: &[ReplicaSet], new: &ReplicaSet) -> i32 {
    if !spec.is_rolling_update() {
        return spec.replicas;
    }
    let current = replica_count(all);
    let max_total = spec.max_replicas();
    if current >= max_total {
        return replicas(new);
    }
    let scale_up = (max_total - current).min(spec.replicas - replicas(new));
    replicas(new) + scale_up
}

// --- Proportional scaling ---

/// `GetProportion`: how many of `to_add` replicas (negative: to remove)
/// `rs` takes, given `added` were given to the ReplicaSets before it.
pub fn proportion(
    rs: &ReplicaSet,
    deployment: &Deployment,
    spec: &ResolvedSpec,
    to_add: i32,
    added: i32,
) -> i32 {
    if replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = fraction(rs, deployment, spec);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

/// `getReplicaSetFraction`: the change that keeps `rs`'s share of the
/// Deployment when it goes from its annotated size to the new one.
fn fraction(rs: &ReplicaSet, deployment: &Deployment, spec: &ResolvedSpec) -> i32 {
    if spec.replicas == 0 {
        return -replicas(rs);
    }
    let deployment_replicas = spec.max_replicas();
    let annotated = int_annotation(rs, annotation::MAX_REPLICAS).unwrap_or_else(|| {
        deployment
            .status
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(0)
    });
    if annotated == 0 {
        // Kubernetes divides by zero here (a ReplicaSet never grows from
        // zero this way); keep its size instead.
        return 0;
    }
    let new_size = f64::from(replicas(rs)) * f64::from(deployment_replicas) / f64::from(annotated);
    (new_size.round() as i32) - replicas(rs)
}

// --- Annotations ---

/// The limit of the revision-history annotation, in characters.
pub const MAX_REVISION_HISTORY_CHARS: usize = 2000;

pub fn annotation_of<'a>(rs: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    rs.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

fn int_annotation(rs: &ReplicaSet, key: &str) -> Option<i32> {
    annotation_of(rs, key)?.parse().ok()
}

/// `GetDesiredReplicasAnnotation`.
pub fn desired_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    int_annotation(rs, annotation::DESIRED_REPLICAS)
}

/// `SetNewReplicaSetAnnotations`: copies the Deployment's annotations (all
/// but [`annotation::NOT_COPIED`]), raises the revision to `new_revision`
/// (keeping the replaced one in the revision history), and, for a
/// ReplicaSet about to be created, sets the replica annotations. Returns
/// whether anything changed.
pub fn set_new_replica_set_annotations(
    deployment: &Deployment,
    spec: &ResolvedSpec,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = copy_deployment_annotations(deployment, rs);
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let old_revision_text = annotations.get(annotation::REVISION).cloned();
    let old_revision = match old_revision_text.as_deref() {
        None | Some("") => 0,
        Some(text) => match text.parse::<i64>() {
            Ok(value) => value,
            // Kubernetes leaves a ReplicaSet with an unreadable revision alone.
            Err(_) => return false,
        },
    };
    if old_revision < new_revision {
        annotations.insert(annotation::REVISION.to_owned(), new_revision.to_string());
        changed = true;
        // It had a revision and gets a newer one: a rollback reuses it.
        // Remember the old revision, within the length limit.
        if let Some(old_text) = old_revision_text {
            let history = annotations
                .get(annotation::REVISION_HISTORY)
                .cloned()
                .unwrap_or_default();
            if history.is_empty() {
                annotations.insert(annotation::REVISION_HISTORY.to_owned(), old_text);
            } else {
                let mut revisions: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old_text.len() + 1;
                let mut start = 0;
                while total > MAX_REVISION_HISTORY_CHARS && start < revisions.len() {
                    total -= revisions[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REVISION_HISTORY_CHARS {
                    revisions.drain(..start);
                    revisions.push(&old_text);
                    let joined = revisions.join(",");
                    annotations.insert(annotation::REVISION_HISTORY.to_owned(), joined);
                }
            }
        }
    }
    if !exists && set_replicas_annotations(rs, spec.replicas, spec.max_replicas()) {
        changed = true;
    }
    changed
}

/// `copyDeploymentAnnotationsToReplicaSet`.
fn copy_deployment_annotations(deployment: &Deployment, rs: &mut ReplicaSet) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (key, value) in deployment.metadata.annotations.iter().flatten() {
        if annotation::is_not_copied(key) || annotations.get(key) == Some(value) {
            continue;
        }
        annotations.insert(key.clone(), value.clone());
        changed = true;
    }
    changed
}

/// `SetReplicasAnnotations`: records `desired` and `max` on the ReplicaSet.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (key, value) in [
        (annotation::DESIRED_REPLICAS, desired),
        (annotation::MAX_REPLICAS, max),
    ] {
        let value = value.to_string();
        if annotations.get(key) != Some(&value) {
            annotations.insert(key.to_owned(), value);
            changed = true;
        }
    }
    changed
}

/// `ReplicasAnnotationsNeedUpdate`.
pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    let mut copy = ReplicaSet {
        metadata: rs.metadata.clone(),
        ..ReplicaSet::default()
    };
    set_replicas_annotations(&mut copy, desired, max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Strategy;
    use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use wharf_sdk::time_from_millis;

    fn rs(name: &str, replicas: i32, created_second: u64, revision: Option<&str>) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(time_from_millis(created_second * 1000)),
                annotations: revision
                    .map(|r| [(annotation::REVISION.to_owned(), r.to_owned())].into()),
                ..ObjectMeta::default()
            },
            spec: wharf_sdk::k8s_openapi::api::apps::v1::ReplicaSetSpec {
                replicas: Some(replicas),
                ..Default::default()
            },
            status: None,
        }
    }

    fn names(list: &[ReplicaSet]) -> Vec<&str> {
        list.iter().map(name).collect()
    }

    fn rolling(replicas: i32, max_surge: i32, max_unavailable: i32) -> ResolvedSpec {
        ResolvedSpec {
            replicas,
            strategy: Strategy::RollingUpdate {
                max_surge,
                max_unavailable,
            },
            revision_history_limit: Some(10),
            progress_deadline_seconds: Some(600),
            paused: false,
            min_ready_seconds: 0,
        }
    }

    #[test]
    fn orders_break_ties_as_kubernetes_does() {
        let mut list = vec![
            rs("b", 2, 1, None),
            rs("a", 2, 1, None),
            rs("c", 5, 0, None),
            rs("d", 2, 3, None),
        ];
        list.sort_by(by_creation);
        assert_eq!(names(&list), ["c", "a", "b", "d"]);
        list.sort_by(by_size_older);
        assert_eq!(names(&list), ["c", "a", "b", "d"]);
        list.sort_by(by_size_newer);
        assert_eq!(names(&list), ["c", "d", "b", "a"]);
        let mut revisions = vec![
            rs("x", 0, 5, Some("3")),
            rs("y", 0, 1, Some("10")),
            rs("z", 0, 2, Some("bad")),
        ];
        revisions.sort_by(by_revision);
        assert_eq!(names(&revisions), ["z", "x", "y"]);
    }

    #[test]
    fn revisions_read_as_numbers_and_the_last_is_the_second_highest() {
        let list = [
            rs("a", 0, 0, Some("1")),
            rs("b", 0, 1, Some("4")),
            rs("c", 0, 2, Some("x")),
            rs("d", 0, 3, None),
        ];
        assert_eq!(max_revision(&list), 4);
        assert_eq!(last_revision(&list), 1);
        assert!(revision(&list[2]).is_err());
        assert_eq!(revision(&list[3]), Ok(0));
    }

    #[test]
    fn the_new_replica_set_grows_within_max_surge() {
        // (replicas, maxSurge, old sizes, new size) → new size allowed now
        let cases: &[(i32, i32, &[i32], i32, i32)] = &[
            (10, 3, &[10], 0, 3),
            (10, 3, &[8], 3, 5),
            (10, 3, &[10], 3, 3),
            (10, 0, &[9], 0, 1),
            (3, 1, &[], 0, 3),
            (3, 5, &[3], 0, 3),
        ];
        for (replicas, surge, old, new_size, expected) in cases {
            let spec = rolling(*replicas, *surge, 1);
            let new = rs("new", *new_size, 9, None);
            let mut all: Vec<ReplicaSet> = old.iter().map(|n| rs("old", *n, 0, None)).collect();
            all.push(new.clone());
            assert_eq!(
                new_replica_set_replicas(&spec, &all, &new),
                *expected,
                "{replicas} {surge} {old:?} {new_size}"
            );
        }
    }

    #[test]
    fn a_reused_replica_set_keeps_its_old_revision_in_the_history() {
        let deployment = Deployment {
            metadata: ObjectMeta {
                annotations: Some(
                    [
                        (
                            annotation::CHANGE_CAUSE.to_owned(),
                            "kubectl set image".to_owned(),
                        ),
                        (annotation::REVISION.to_owned(), "2".to_owned()),
                    ]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            ..Deployment::default()
        };
        let spec = rolling(3, 1, 0);
        let mut old = rs("old", 0, 0, Some("1"));
        assert!(set_new_replica_set_annotations(
            &deployment,
            &spec,
            &mut old,
            3,
            true
        ));
        let annotations = old.metadata.annotations.clone().unwrap();
        assert_eq!(annotations[annotation::REVISION], "3");
        assert_eq!(annotations[annotation::REVISION_HISTORY], "1");
        assert_eq!(annotations[annotation::CHANGE_CAUSE], "kubectl set image");
        assert!(!set_new_replica_set_annotations(
            &deployment,
            &spec,
            &mut old,
            3,
            true
        ));
        assert!(set_new_replica_set_annotations(
            &deployment,
            &spec,
            &mut old,
            5,
            true
        ));
        assert_eq!(
            old.metadata.annotations.unwrap()[annotation::REVISION_HISTORY],
            "1,3"
        );
        let mut fresh = rs("new", 0, 0, None);
        assert!(set_new_replica_set_annotations(
            &deployment,
            &spec,
            &mut fresh,
            1,
            false
        ));
        let annotations = fresh.metadata.annotations.unwrap();
        assert_eq!(annotations[annotation::DESIRED_REPLICAS], "3");
        assert_eq!(annotations[annotation::MAX_REPLICAS], "4");
        assert!(!annotations.contains_key(annotation::REVISION_HISTORY));
    }
}
