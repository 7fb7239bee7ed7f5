//! The DaemonSet's pods: the pod a node gets (`CreatePodTemplate`,
//! `GetPodFromTemplate`), which pods are up to date (`IsPodUpdated`), their
//! order on a node (`podByCreationTimestampAndPhase`) and availability.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use wharf_sdk::history::CONTROLLER_REVISION_HASH_LABEL;
use wharf_sdk::k8s_openapi::api::apps::v1::DaemonSet;
use wharf_sdk::k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wharf_sdk::prelude::*;

use crate::placement::{add_daemon_tolerations, pin_to_node, target_node_name};

pub use wharf_sdk::pods::{
    is_available, is_ready, is_terminal, millis_until_available, phase, ready_since,
};

/// The label holding the generation of the template a pod was made from
/// (`extensions.DaemonSetTemplateGenerationKey`).
pub const POD_TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// The annotation older API servers kept the template's generation in
/// (`apps.DeprecatedTemplateGeneration`).
pub const DEPRECATED_TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

/// The template's generation (`GetTemplateGeneration`): the deprecated
/// annotation when the API server keeps it, else the set's generation
/// (Wharf's API server does not keep the annotation; the generation moves
/// with every spec change, which only ever makes fewer pods look updated
/// by generation, and the revision hash decides then).
pub fn template_generation(daemon_set: &DaemonSet) -> Option<i64> {
    let annotation = daemon_set
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(DEPRECATED_TEMPLATE_GENERATION));
    match annotation {
        Some(text) => text.parse().ok(),
        None => daemon_set
            .metadata
            .generation
            .filter(|generation| *generation > 0),
    }
}

/// `CreatePodTemplate`: the set's template with the daemon tolerations and
/// the `pod-template-generation` and `controller-revision-hash` labels.
pub fn daemon_template(
    daemon_set: &DaemonSet,
    generation: Option<i64>,
    hash: &str,
) -> PodTemplateSpec {
    let mut template = daemon_set.spec.template.clone();
    add_daemon_tolerations(template.spec.get_or_insert_with(Default::default));
    let labels = template
        .metadata
        .get_or_insert_with(ObjectMeta::default)
        .labels
        .get_or_insert_with(BTreeMap::new);
    if let Some(generation) = generation {
        labels.insert(
            POD_TEMPLATE_GENERATION_LABEL.to_owned(),
            generation.to_string(),
        );
    }
    if !hash.is_empty() {
        labels.insert(CONTROLLER_REVISION_HASH_LABEL.to_owned(), hash.to_owned());
    }
    template
}

/// The pod for `node_name` (`GetPodFromTemplate` with the node affinity
/// replaced): the template's labels, annotations, finalizers and spec,
/// `generateName` `<set>-`, the set as controlling owner, and no nodeName:
/// the scheduler binds it, and kubelet admission, preemption and resource
/// accounting see it as any other pod.
pub fn pod_for_node(
    daemon_set: &DaemonSet,
    template: &PodTemplateSpec,
    node_name: &str,
) -> Result<Pod, Error> {
    let metadata = template.metadata.clone().unwrap_or_default();
    let labels = metadata.labels.filter(|labels| !labels.is_empty());
    if labels.is_none() {
        return Err(Error::Invalid(
            "unable to create pods, no labels".to_owned(),
        ));
    }
    let mut spec = template.spec.clone().unwrap_or_default();
    spec.affinity = Some(pin_to_node(spec.affinity.take(), node_name));
    let name = daemon_set.metadata.name.as_deref().unwrap_or_default();
    Ok(Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: daemon_set.metadata.namespace.clone(),
            labels,
            annotations: metadata.annotations,
            finalizers: metadata.finalizers,
            owner_references: Some(vec![owner_reference(daemon_set)]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    })
}

/// `IsPodUpdated`: made from the current revision (its hash label) or, for
/// pods of older controllers, from the current template generation.
pub fn is_updated(pod: &Pod, hash: &str, generation: Option<i64>) -> bool {
    let label = |key: &str| {
        pod.metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(key))
            .map(String::as_str)
    };
    let generation_matches = generation.is_some_and(|generation| {
        label(POD_TEMPLATE_GENERATION_LABEL) == Some(generation.to_string().as_str())
    });
    let hash_matches = !hash.is_empty() && label(CONTROLLER_REVISION_HASH_LABEL) == Some(hash);
    hash_matches || generation_matches
}

/// The pod's revision hash label, if any.
pub fn revision_hash(pod: &Pod) -> Option<&str> {
    pod.metadata
        .labels
        .as_ref()?
        .get(CONTROLLER_REVISION_HASH_LABEL)
        .map(String::as_str)
}

/// `podByCreationTimestampAndPhase`: bound pods first, then the oldest,
/// then by name. The first of a node's pods is the one kept and counted.
pub fn creation_order(a: &Pod, b: &Pod) -> Ordering {
    let bound = |pod: &Pod| {
        pod.spec
            .as_ref()
            .and_then(|spec| spec.node_name.as_deref())
            .is_some_and(|name| !name.is_empty())
    };
    bound(b)
        .cmp(&bound(a))
        .then_with(|| {
            let created = |pod: &Pod| pod.metadata.creation_timestamp.as_ref().map(|time| time.0);
            created(a).cmp(&created(b))
        })
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// The daemon pods by the node they run on or are meant for
/// (`getNodesToDaemonPods`), each node's pods in [`creation_order`]. Pods
/// that are finished and being deleted are left out unless
/// `include_deleted_terminal` (the controller has nothing more to do with
/// them but remember their revision); pods naming no node are left out.
pub fn by_node(pods: &[Pod], include_deleted_terminal: bool) -> BTreeMap<String, Vec<&Pod>> {
    let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for pod in pods {
        if !include_deleted_terminal
            && is_terminal(pod)
            && pod.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        if let Some(node) = target_node_name(pod) {
            by_node.entry(node.to_owned()).or_default().push(pod);
        }
    }
    for pods in by_node.values_mut() {
        pods.sort_by(|a, b| creation_order(a, b));
    }
    by_node
}

/// The pod's name.
pub fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}
