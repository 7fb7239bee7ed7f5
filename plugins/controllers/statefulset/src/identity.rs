//! A StatefulSet pod's identity (as kube's `stateful_set_utils.go`): its
//! name `<set>-<ordinal>`, the ordinals the set keeps, its labels, hostname
//! and subdomain, the volumes of its claims, and what the controller reads
//! off a pod (ready, available, its revision).

use wharf_sdk::history::STATEFUL_SET_REVISION_LABEL;
use wharf_sdk::k8s_openapi::api::apps::v1::StatefulSet;
use wharf_sdk::k8s_openapi::api::core::v1::{
    PersistentVolumeClaimVolumeSource, Pod, PodSpec, Volume,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wharf_sdk::k8s_openapi::jiff::Timestamp;
use wharf_sdk::pods;
use wharf_sdk::prelude::*;

use crate::volumes::claim_name;

/// The label naming a StatefulSet pod (`apps.StatefulSetPodNameLabel`), so
/// that a Service can select one pod.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";

/// The label holding a pod's ordinal (`apps.PodIndexLabel`).
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// `podManagementPolicy: Parallel`: pods are created and deleted without
/// waiting for each other.
pub const PARALLEL: &str = "Parallel";

/// `updateStrategy.type: OnDelete`: pods get the new revision only when
/// they are deleted and made again.
pub const ON_DELETE: &str = "OnDelete";

/// `updateStrategy.type: RollingUpdate` (the default).
pub const ROLLING_UPDATE: &str = "RollingUpdate";

/// The set's parent name and ordinal in a pod's name (`(.*)-([0-9]+)$`,
/// `getParentNameAndOrdinal`): the ordinal is `None` when the digits do not
/// fit an int32; no parent when the name does not end in `-<digits>`.
pub fn parent_and_ordinal(name: &str) -> Option<(&str, Option<i32>)> {
    let (parent, digits) = name.rsplit_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((parent, digits.parse().ok()))
}

/// The pod's ordinal (`getOrdinal`; `None` for kube's -1).
pub fn ordinal(pod: &Pod) -> Option<i32> {
    parent_and_ordinal(name(pod)).and_then(|(_, ordinal)| ordinal)
}

/// Whether the pod's name makes it one of the set's (`isMemberOf`).
pub fn is_member_of(set: &StatefulSet, pod: &Pod) -> bool {
    parent_and_ordinal(name(pod)).map(|(parent, _)| parent) == Some(set_name(set))
}

/// `spec.replicas` (1 when absent).
pub fn replicas(set: &StatefulSet) -> i32 {
    set.spec.replicas.unwrap_or(1).max(0)
}

/// The first ordinal (`spec.ordinals.start`, 0 by default).
pub fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec
        .ordinals
        .as_ref()
        .and_then(|ordinals| ordinals.start)
        .unwrap_or(0)
}

/// The last ordinal the set keeps (inclusive; below the start when it keeps none).
pub fn end_ordinal(set: &StatefulSet) -> i32 {
    start_ordinal(set) + replicas(set) - 1
}

/// Whether the pod's ordinal is one the set keeps (`podInOrdinalRange`).
pub fn in_ordinal_range(set: &StatefulSet, pod: &Pod) -> bool {
    ordinal(pod).is_some_and(|ordinal| ordinal >= start_ordinal(set) && ordinal <= end_ordinal(set))
}

/// `<set>-<ordinal>`.
pub fn pod_name(set: &StatefulSet, ordinal: i32) -> String {
    format!("{}-{ordinal}", set_name(set))
}

pub fn set_name(set: &StatefulSet) -> &str {
    set.metadata.name.as_deref().unwrap_or_default()
}

pub fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

/// Whether the pod has the name, namespace and pod-name label of a member
/// of the set (`identityMatches`).
pub fn identity_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let Some((parent, Some(ordinal))) = parent_and_ordinal(name(pod)) else {
        return false;
    };
    parent == set_name(set)
        && name(pod) == pod_name(set, ordinal)
        && pod.metadata.namespace == set.metadata.namespace
        && label(pod, POD_NAME_LABEL) == Some(name(pod))
}

/// Whether the pod mounts the claim of each of the set's
/// volumeClaimTemplates under the template's name (`storageMatches`).
pub fn storage_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let Some(ordinal) = ordinal(pod) else {
        return false;
    };
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|spec| spec.volumes.as_deref())
        .unwrap_or_default();
    claim_templates(set).iter().all(|template| {
        let template_name = template.metadata.name.as_deref().unwrap_or_default();
        volumes
            .iter()
            .find(|volume| volume.name == template_name)
            .and_then(|volume| volume.persistent_volume_claim.as_ref())
            .is_some_and(|source| source.claim_name == claim_name(template_name, set, ordinal))
    })
}

/// The set's volumeClaimTemplates.
pub fn claim_templates(
    set: &StatefulSet,
) -> &[wharf_sdk::k8s_openapi::api::core::v1::PersistentVolumeClaim] {
    set.spec
        .volume_claim_templates
        .as_deref()
        .unwrap_or_default()
}

/// Gives the pod the name, namespace and labels of its ordinal
/// (`updateIdentity`).
pub fn update_identity(set: &StatefulSet, pod: &mut Pod) {
    let Some(ordinal) = ordinal(pod) else {
        return;
    };
    let name = pod_name(set, ordinal);
    pod.metadata.namespace = set.metadata.namespace.clone();
    let labels = pod.metadata.labels.get_or_insert_with(Default::default);
    labels.insert(POD_NAME_LABEL.to_owned(), name.clone());
    labels.insert(POD_INDEX_LABEL.to_owned(), ordinal.to_string());
    pod.metadata.name = Some(name);
}

/// Makes the pod's volumes those of its claims, replacing volumes of the
/// same names and keeping the others (`updateStorage`).
pub fn update_storage(set: &StatefulSet, pod: &mut Pod) {
    let Some(ordinal) = ordinal(pod) else {
        return;
    };
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    let templates = claim_templates(set);
    let template_names: Vec<&str> = templates
        .iter()
        .map(|template| template.metadata.name.as_deref().unwrap_or_default())
        .collect();
    let mut volumes: Vec<Volume> = template_names
        .iter()
        .map(|template_name| Volume {
            name: (*template_name).to_owned(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(template_name, set, ordinal),
                read_only: None,
            }),
            ..Volume::default()
        })
        .collect();
    volumes.extend(
        spec.volumes
            .take()
            .unwrap_or_default()
            .into_iter()
            .filter(|volume| !template_names.contains(&volume.name.as_str())),
    );
    spec.volumes = (!volumes.is_empty()).then_some(volumes);
}

/// The pod of `ordinal` as the set's template makes it (`newStatefulSetPod`):
/// `GetPodFromTemplate`'s labels, annotations, finalizers, `generateName`
/// and controller reference, then the name, the identity labels, hostname,
/// subdomain (`spec.serviceName`) and the claims' volumes.
pub fn new_pod(set: &StatefulSet, ordinal: i32) -> Pod {
    let template = &set.spec.template;
    let template_metadata = template.metadata.clone().unwrap_or_default();
    let mut pod = Pod {
        metadata: ObjectMeta {
            name: Some(pod_name(set, ordinal)),
            generate_name: Some(format!("{}-", set_name(set))),
            namespace: set.metadata.namespace.clone(),
            labels: template_metadata.labels,
            annotations: template_metadata.annotations,
            finalizers: template_metadata.finalizers,
            owner_references: Some(vec![owner_reference(set)]),
            ..ObjectMeta::default()
        },
        spec: Some(template.spec.clone().unwrap_or_default()),
        status: None,
    };
    update_identity(set, &mut pod);
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    spec.hostname = Some(pod_name(set, ordinal));
    spec.subdomain = set
        .spec
        .service_name
        .clone()
        .filter(|name| !name.is_empty());
    update_storage(set, &mut pod);
    pod
}

/// The pod of `ordinal` at the revision it should have
/// (`newVersionedStatefulSetPod`): below the partition (with a rolling
/// update) the current revision, otherwise the update revision.
pub fn new_versioned_pod(
    current_set: &StatefulSet,
    update_set: &StatefulSet,
    current_revision: &str,
    update_revision: &str,
    ordinal: i32,
) -> Pod {
    let strategy = current_set.spec.update_strategy.as_ref();
    let strategy_type = strategy
        .and_then(|strategy| strategy.type_.as_deref())
        .unwrap_or(ROLLING_UPDATE);
    let rolling_update = strategy.and_then(|strategy| strategy.rolling_update.as_ref());
    let start = start_ordinal(current_set);
    // As kube writes it: `type == RollingUpdate && rollingUpdate == nil && …
    // || rollingUpdate != nil && ordinal < start + partition`.
    let at_current = match rolling_update {
        None => {
            strategy_type == ROLLING_UPDATE
                && ordinal
                    < start
                        + current_set
                            .status
                            .as_ref()
                            .and_then(|status| status.current_replicas)
                            .unwrap_or(0)
        }
        Some(rolling_update) => ordinal < start + rolling_update.partition.unwrap_or(0),
    };
    let (set, revision) = if at_current {
        (current_set, current_revision)
    } else {
        (update_set, update_revision)
    };
    let mut pod = new_pod(set, ordinal);
    set_revision(&mut pod, revision);
    pod
}

/// The revision label of the pod (`getPodRevision`; `""` when none).
pub fn revision(pod: &Pod) -> &str {
    label(pod, STATEFUL_SET_REVISION_LABEL).unwrap_or_default()
}

pub fn set_revision(pod: &mut Pod, revision: &str) {
    pod.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(STATEFUL_SET_REVISION_LABEL.to_owned(), revision.to_owned());
}

fn label<'p>(pod: &'p Pod, key: &str) -> Option<&'p str> {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(key))
        .map(String::as_str)
}

/// Whether the pod exists in the cluster (`isCreated`). Kube reads a phase
/// off the pod, which the API server sets on create; a pod this controller
/// has only built has no uid either, and the uid does not depend on a
/// status being written.
pub fn is_created(pod: &Pod) -> bool {
    pod.metadata.uid.is_some() || !pods::phase(pod).is_empty()
}

/// Phase Failed or Succeeded: the pod will not run again and is made anew.
pub fn is_finished(pod: &Pod) -> bool {
    pods::is_terminal(pod)
}

pub fn is_pending(pod: &Pod) -> bool {
    pods::phase(pod) == "Pending"
}

/// Being deleted (`isTerminating`: any deletionTimestamp).
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Phase Running and the Ready condition (`isRunningAndReady`).
pub fn is_running_and_ready(pod: &Pod) -> bool {
    pods::phase(pod) == "Running" && pods::is_ready(pod)
}

/// Running, ready and not being deleted (`isHealthy`).
pub fn is_healthy(pod: &Pod) -> bool {
    is_running_and_ready(pod) && !is_terminating(pod)
}

/// Ready for longer than `min_ready_seconds` (`IsPodAvailable`).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    pods::is_available(pod, i64::from(min_ready_seconds), now)
}

/// Milliseconds until a ready pod is available, when it is ready but not
/// yet available and its ready time is known.
pub fn millis_until_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> Option<i64> {
    pods::millis_until_available(pod, i64::from(min_ready_seconds), now)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Split<'a> = Option<(&'a str, Option<i32>)>;

    #[test]
    fn names_split_into_parent_and_ordinal_as_kubes_pattern_does() {
        let cases: &[(&str, Split)] = &[
            ("web-0", Some(("web", Some(0)))),
            ("my-web-12", Some(("my-web", Some(12)))),
            ("web-", None),
            ("web", None),
            ("web-1a", None),
            ("web-99999999999", Some(("web", None))),
            ("-3", Some(("", Some(3)))),
        ];
        for (name, expected) in cases {
            assert_eq!(parent_and_ordinal(name), *expected, "{name}");
        }
    }
}
