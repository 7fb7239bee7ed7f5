//! Resource quota accounting, as Kubernetes' quota evaluators
//! (`k8s.io/apiserver/pkg/quota/v1`, `pkg/quota/v1/evaluator/core`): what
//! one object charges a ResourceQuota ([`usage_of`]), which quota scopes it
//! falls in ([`matches_scopes`]), and which kind a quota resource name
//! counts ([`QuotaKind::counting`]).
//!
//! The ResourceQuota admission plugin charges with it and the ResourceQuota
//! controller recounts with it, so that both agree on every object.
//!
//! What an object charges:
//!
//! | kind | resources |
//! | --- | --- |
//! | Pod | `count/pods` always; unless terminal: `pods`, `cpu`/`requests.cpu`, `memory`/`requests.memory`, `ephemeral-storage`/`requests.ephemeral-storage` (requests), `limits.*` (limits), `hugepages-*`/`requests.hugepages-*`, `requests.<extended>` |
//! | Service | `services`, `count/services`, `services.nodeports` (NodePort and LoadBalancer ports), `services.loadbalancers` |
//! | PersistentVolumeClaim | `persistentvolumeclaims`, `count/persistentvolumeclaims`, `requests.storage`, and both per storage class (`<class>.storageclass.storage.k8s.io/…`) |
//! | ConfigMap, Secret, ReplicationController, ResourceQuota | `count/<plural>` and the legacy name (`configmaps`…) |
//! | any other | `count/<plural>.<group>` (`count/deployments.apps`) |
//!
//! A pod's requests and limits add up its containers, the largest init
//! container (counting the sidecars started before it), its sidecars, its
//! overhead, and pod-level `resources` where set, as `PodRequests` and
//! `PodLimits` compute them from the spec. Not followed: in-place resize
//! (requests from the status), DRA claims, the `VolumeAttributesClass`
//! scope of claims.

use k8s_openapi::api::core::v1::{
    Container, PersistentVolumeClaim, Pod, PodAffinityTerm, ResourceQuota,
    ScopedResourceSelectorRequirement, Service, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use crate::kind::GroupVersionKind;
use crate::quantity::{Format, Quantity, ResourceList, resource_list};

/// A kind quota counts: its group, version and kind, and its plural (the
/// resource that `count/<plural>.<group>` names).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QuotaKind {
    pub kind: GroupVersionKind,
    pub plural: String,
}

/// The kinds Wharf knows the plural of: `(group, version, kind, plural)`.
const KNOWN_KINDS: &[(&str, &str, &str, &str)] = &[
    ("", "v1", "Pod", "pods"),
    ("", "v1", "Service", "services"),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    ("", "v1", "ConfigMap", "configmaps"),
    ("", "v1", "Secret", "secrets"),
    ("", "v1", "ReplicationController", "replicationcontrollers"),
    ("", "v1", "ResourceQuota", "resourcequotas"),
    ("", "v1", "LimitRange", "limitranges"),
    ("", "v1", "Endpoints", "endpoints"),
    ("", "v1", "ServiceAccount", "serviceaccounts"),
    ("", "v1", "Event", "events"),
    ("", "v1", "PodTemplate", "podtemplates"),
    ("apps", "v1", "Deployment", "deployments"),
    ("apps", "v1", "ReplicaSet", "replicasets"),
    ("apps", "v1", "StatefulSet", "statefulsets"),
    ("apps", "v1", "DaemonSet", "daemonsets"),
    ("apps", "v1", "ControllerRevision", "controllerrevisions"),
    ("batch", "v1", "Job", "jobs"),
    ("batch", "v1", "CronJob", "cronjobs"),
    ("networking.k8s.io", "v1", "Ingress", "ingresses"),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
    ),
    ("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    ("coordination.k8s.io", "v1", "Lease", "leases"),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
    ),
    (
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
    ),
    (
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
    ),
];

/// Kinds whose object count also has a name without `count/`.
const LEGACY_COUNTS: &[(&str, &str)] = &[
    ("ConfigMap", "configmaps"),
    ("Secret", "secrets"),
    ("ReplicationController", "replicationcontrollers"),
    ("ResourceQuota", "resourcequotas"),
];

/// The resources a pod charges by name.
const POD_RESOURCES: &[&str] = &[
    "count/pods",
    "pods",
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
];

const SERVICE_RESOURCES: &[&str] = &[
    "count/services",
    "services",
    "services.nodeports",
    "services.loadbalancers",
];

const CLAIM_RESOURCES: &[&str] = &["persistentvolumeclaims", "requests.storage"];

/// `<class>.storageclass.storage.k8s.io/<resource>`: a claim resource per storage class.
const STORAGE_CLASS_SUFFIX: &str = ".storageclass.storage.k8s.io/";

/// The annotation that named a claim's storage class before `storageClassName`.
const BETA_STORAGE_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

impl QuotaKind {
    fn known(group: &str, version: &str, kind: &str, plural: &str) -> QuotaKind {
        QuotaKind {
            kind: GroupVersionKind::new(group, version, kind),
            plural: plural.to_owned(),
        }
    }

    /// `kind` in `group`: its plural from the known kinds, else guessed as
    /// Kubernetes guesses it (`UnsafeGuessKindToResource`).
    pub fn of(group: &str, version: &str, kind: &str) -> QuotaKind {
        match KNOWN_KINDS
            .iter()
            .find(|(g, _, k, _)| *g == group && *k == kind)
        {
            Some((group, version, kind, plural)) => QuotaKind::known(group, version, kind, plural),
            None => QuotaKind::known(group, version, kind, &guess_plural(kind)),
        }
    }

    /// The kind of `object` (named `kind`), its group from its `apiVersion`
    /// when it has one, else from the known kinds (the core group if unknown).
    pub fn of_object(kind: &str, object: &Value) -> QuotaKind {
        let api_version = object.get("apiVersion").and_then(Value::as_str);
        match api_version {
            Some(api_version) => {
                let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
                QuotaKind::of(group, version, kind)
            }
            None => match KNOWN_KINDS.iter().find(|(_, _, k, _)| *k == kind) {
                Some((group, version, kind, plural)) => {
                    QuotaKind::known(group, version, kind, plural)
                }
                None => QuotaKind::of("", "v1", kind),
            },
        }
    }

    /// The kind whose objects a quota resource name counts, among the known
    /// kinds (`cpu` → Pod, `services.nodeports` → Service,
    /// `count/deployments.apps` → Deployment).
    pub fn counting(resource: &str) -> Option<QuotaKind> {
        let by_kind = |kind: &str| QuotaKind::of("", "v1", kind);
        if is_pod_resource(resource) {
            return Some(by_kind("Pod"));
        }
        if SERVICE_RESOURCES.contains(&resource) {
            return Some(by_kind("Service"));
        }
        if is_claim_resource(resource) {
            return Some(by_kind("PersistentVolumeClaim"));
        }
        if let Some((kind, _)) = LEGACY_COUNTS.iter().find(|(_, name)| *name == resource) {
            return Some(by_kind(kind));
        }
        let counted = resource.strip_prefix("count/")?;
        let (plural, group) = counted.split_once('.').unwrap_or((counted, ""));
        KNOWN_KINDS
            .iter()
            .find(|(g, _, _, p)| *g == group && *p == plural)
            .map(|(group, version, kind, plural)| QuotaKind::known(group, version, kind, plural))
    }

    /// `count/<plural>` (core) or `count/<plural>.<group>`.
    pub fn object_count_name(&self) -> String {
        if self.kind.group.is_empty() {
            format!("count/{}", self.plural)
        } else {
            format!("count/{}.{}", self.plural, self.kind.group)
        }
    }

    /// Whether objects of this kind charge `resource` (`MatchingResources`).
    pub fn tracks(&self, resource: &str) -> bool {
        if resource == self.object_count_name() {
            return true;
        }
        if !self.kind.group.is_empty() {
            return false;
        }
        match self.kind.kind.as_str() {
            "Pod" => is_pod_resource(resource),
            "Service" => SERVICE_RESOURCES.contains(&resource),
            "PersistentVolumeClaim" => is_claim_resource(resource),
            kind => LEGACY_COUNTS.contains(&(kind, resource)),
        }
    }
}

/// `UnsafeGuessKindToResource`: lower case, then `-s`, `-es` or `-ies`.
fn guess_plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower.ends_with('s') {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    }
}

fn is_pod_resource(resource: &str) -> bool {
    POD_RESOURCES.contains(&resource)
        || resource.starts_with("hugepages-")
        || resource.starts_with("requests.hugepages-")
        || is_extended_quota_resource(resource)
}

fn is_claim_resource(resource: &str) -> bool {
    CLAIM_RESOURCES.contains(&resource)
        || CLAIM_RESOURCES.iter().any(|claim| {
            resource
                .strip_suffix(claim)
                .is_some_and(|rest| rest.ends_with(STORAGE_CLASS_SUFFIX))
        })
}

/// A resource outside the `kubernetes.io` domain (`example.com/gpu`), or
/// a device class's (`deviceclass.resource.kubernetes.io/…`).
fn is_extended_resource(name: &str) -> bool {
    let native = !name.contains('/') || name.contains("kubernetes.io/");
    (!native || name.starts_with("deviceclass.resource.kubernetes.io/"))
        && !name.starts_with("requests.")
}

/// `requests.<extended resource>`: the only quota name of an extended resource.
fn is_extended_quota_resource(name: &str) -> bool {
    name.strip_prefix("requests.")
        .is_some_and(is_extended_resource)
}

/// What one object of `kind` charges quota when it is created: the pod
/// evaluator's, service evaluator's, claim evaluator's or object count's
/// usage (see the [module docs](self)).
///
/// A pod being deleted is charged as though its grace period had not
/// run out: use [`usage_at`] to count with a clock.
pub fn usage_of(kind: &str, object: &Value) -> ResourceList {
    usage(kind, object, None)
}

/// [`usage_of`] at `now_millis`: a pod whose deletion grace period has run
/// out is no longer charged (except `count/pods`), as Kubernetes does not
/// charge pods stuck terminating.
pub fn usage_at(kind: &str, object: &Value, now_millis: u64) -> ResourceList {
    usage(kind, object, Some(now_millis))
}

/// An object that does not decode as its kind (the API server refuses
/// those) charges its object count only.
fn usage(kind: &str, object: &Value, now_millis: Option<u64>) -> ResourceList {
    let quota_kind = QuotaKind::of_object(kind, object);
    let core = quota_kind.kind.group.is_empty();
    match (core, kind) {
        (true, "Pod") => match <Pod as serde::Deserialize>::deserialize(object) {
            Ok(pod) => pod_usage(&pod, now_millis),
            Err(_) => object_count(&quota_kind),
        },
        (true, "Service") => match <Service as serde::Deserialize>::deserialize(object) {
            Ok(service) => service_usage(&service),
            Err(_) => object_count(&quota_kind),
        },
        (true, "PersistentVolumeClaim") => {
            match <PersistentVolumeClaim as serde::Deserialize>::deserialize(object) {
                Ok(claim) => claim_usage(&claim),
                Err(_) => object_count(&quota_kind),
            }
        }
        _ => object_count(&quota_kind),
    }
}

fn one() -> Quantity {
    Quantity::from_units(1, Format::DecimalSI)
}

fn count(n: usize) -> Quantity {
    Quantity::from_units(i64::try_from(n).unwrap_or(i64::MAX), Format::DecimalSI)
}

/// `count/<plural>[.<group>]` = 1, and the legacy name for the kinds that have one.
fn object_count(kind: &QuotaKind) -> ResourceList {
    let mut usage = ResourceList::from([(kind.object_count_name(), one())]);
    if kind.kind.group.is_empty()
        && let Some((_, legacy)) = LEGACY_COUNTS.iter().find(|(k, _)| *k == kind.kind.kind)
    {
        usage.insert((*legacy).to_owned(), one());
    }
    usage
}

/// What a pod charges (`PodUsageFunc`); `now_millis` to stop charging pods
/// whose deletion grace period ran out.
pub fn pod_usage(pod: &Pod, now_millis: Option<u64>) -> ResourceList {
    // The object count is charged whatever the pod's state: it counts
    // what is stored.
    let mut usage = ResourceList::from([("count/pods".to_owned(), one())]);
    if !is_charged(pod, now_millis) {
        return usage;
    }
    let requests = pod_requests(pod, Overhead::Include);
    let limits = pod_limits(pod, Overhead::Include);
    add_into(&mut usage, &compute_usage(&requests, &limits));
    usage
}

/// `podComputeUsageHelper`: the quota names of a pod's (or a container's)
/// requests and limits, and `pods` = 1.
fn compute_usage(requests: &ResourceList, limits: &ResourceList) -> ResourceList {
    let mut usage = ResourceList::from([("pods".to_owned(), one())]);
    for resource in ["cpu", "memory", "ephemeral-storage"] {
        if let Some(request) = requests.get(resource) {
            usage.insert(resource.to_owned(), *request);
            usage.insert(format!("requests.{resource}"), *request);
        }
        if let Some(limit) = limits.get(resource) {
            usage.insert(format!("limits.{resource}"), *limit);
        }
    }
    for (resource, request) in requests {
        if resource.starts_with("hugepages-") {
            usage.insert(resource.clone(), *request);
            usage.insert(format!("requests.{resource}"), *request);
        }
        if is_extended_resource(resource) {
            usage.insert(format!("requests.{resource}"), *request);
        }
    }
    usage
}

/// `QuotaV1Pod`: whether a pod is charged its compute resources: not when
/// it has finished (Succeeded, Failed), nor when its deletion grace period
/// has run out.
fn is_charged(pod: &Pod, now_millis: Option<u64>) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return false;
    }
    let metadata = &pod.metadata;
    if let (Some(now), Some(deleted), Some(grace)) = (
        now_millis,
        metadata.deletion_timestamp.as_ref(),
        metadata.deletion_grace_period_seconds,
    ) {
        let deadline = millis_of(deleted).saturating_add(grace.saturating_mul(1000));
        if i64::try_from(now).unwrap_or(i64::MAX) > deadline {
            return false;
        }
    }
    true
}

fn millis_of(time: &Time) -> i64 {
    time.0.as_millisecond()
}

/// Whether a pod's overhead (`spec.overhead`) is added to its requests and limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overhead {
    Include,
    Exclude,
}

fn container_requests(container: &Container) -> ResourceList {
    resource_list(
        container
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref()),
    )
}

fn container_limits(container: &Container) -> ResourceList {
    resource_list(container.resources.as_ref().and_then(|r| r.limits.as_ref()))
}

fn is_sidecar(container: &Container) -> bool {
    container.restart_policy.as_deref() == Some("Always")
}

/// Containers, plus the largest init container, where an init container
/// counts the sidecars (restartable init containers) started before it and
/// sidecars count for the pod's whole life.
fn aggregate(pod: &Pod, of: impl Fn(&Container) -> ResourceList) -> ResourceList {
    let Some(spec) = pod.spec.as_ref() else {
        return ResourceList::new();
    };
    let mut total = ResourceList::new();
    for container in &spec.containers {
        add_into(&mut total, &of(container));
    }
    let mut sidecars = ResourceList::new();
    let mut init = ResourceList::new();
    for container in spec.init_containers.iter().flatten() {
        let own = of(container);
        let during = if is_sidecar(container) {
            add_into(&mut total, &own);
            add_into(&mut sidecars, &own);
            sidecars.clone()
        } else {
            add(&own, &sidecars)
        };
        max_into(&mut init, &during);
    }
    max_into(&mut total, &init);
    total
}

/// Resources pod-level `resources` may set: cpu, memory, hugepages.
fn is_pod_level_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory") || name.starts_with("hugepages-")
}

fn pod_level(pod: &Pod) -> (ResourceList, ResourceList) {
    let resources = pod.spec.as_ref().and_then(|s| s.resources.as_ref());
    let supported = |list: ResourceList| {
        list.into_iter()
            .filter(|(name, _)| is_pod_level_resource(name))
            .collect::<ResourceList>()
    };
    (
        supported(resource_list(resources.and_then(|r| r.requests.as_ref()))),
        supported(resource_list(resources.and_then(|r| r.limits.as_ref()))),
    )
}

fn overhead(pod: &Pod) -> ResourceList {
    resource_list(pod.spec.as_ref().and_then(|s| s.overhead.as_ref()))
}

/// A pod's requests, from its spec (`PodRequests`): containers, init
/// containers and sidecars, pod-level requests where set, and the overhead.
pub fn pod_requests(pod: &Pod, with_overhead: Overhead) -> ResourceList {
    let mut requests = aggregate(pod, container_requests);
    let (pod_requests, _) = pod_level(pod);
    requests.extend(pod_requests);
    if with_overhead == Overhead::Include {
        add_into(&mut requests, &overhead(pod));
    }
    requests
}

/// A pod's limits, from its spec (`PodLimits`): as [`pod_requests`], the
/// overhead added only to resources that have a limit.
pub fn pod_limits(pod: &Pod, with_overhead: Overhead) -> ResourceList {
    let mut limits = aggregate(pod, container_limits);
    let (pod_requests, pod_limits) = pod_level(pod);
    if !pod_requests.is_empty() || !pod_limits.is_empty() {
        limits.extend(pod_limits);
    }
    if with_overhead == Overhead::Include {
        for (name, extra) in overhead(pod) {
            if let Some(limit) = limits.get_mut(&name) {
                *limit += extra;
            }
        }
    }
    limits
}

/// `IsTerminating`: the pod has an `activeDeadlineSeconds`.
pub fn is_terminating(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.active_deadline_seconds)
        .is_some_and(|seconds| seconds >= 0)
}

/// Whether the pod's QoS class is BestEffort: its status says so, or no
/// container (nor the pod-level resources, when set) requests or limits
/// any cpu or memory.
pub fn is_best_effort(pod: &Pod) -> bool {
    if let Some(class) = pod.status.as_ref().and_then(|s| s.qos_class.as_deref())
        && !class.is_empty()
    {
        return class == "BestEffort";
    }
    let positive_compute = |list: ResourceList| {
        list.iter().any(|(name, quantity)| {
            matches!(name.as_str(), "cpu" | "memory") && *quantity > Quantity::zero()
        })
    };
    let Some(spec) = pod.spec.as_ref() else {
        return true;
    };
    if let Some(resources) = spec.resources.as_ref() {
        return !positive_compute(resource_list(resources.requests.as_ref()))
            && !positive_compute(resource_list(resources.limits.as_ref()));
    }
    !spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(|c| positive_compute(container_requests(c)) || positive_compute(container_limits(c)))
}

fn cross_namespace(term: &PodAffinityTerm) -> bool {
    term.namespaces.as_ref().is_some_and(|n| !n.is_empty()) || term.namespace_selector.is_some()
}

fn cross_namespace_terms(
    required: Option<&Vec<PodAffinityTerm>>,
    preferred: Option<&Vec<WeightedPodAffinityTerm>>,
) -> bool {
    required.into_iter().flatten().any(cross_namespace)
        || preferred
            .into_iter()
            .flatten()
            .any(|weighted| cross_namespace(&weighted.pod_affinity_term))
}

/// Whether a pod's (anti-)affinity terms reach into other namespaces.
fn uses_cross_namespace_affinity(pod: &Pod) -> bool {
    let Some(affinity) = pod.spec.as_ref().and_then(|s| s.affinity.as_ref()) else {
        return false;
    };
    affinity.pod_affinity.as_ref().is_some_and(|a| {
        cross_namespace_terms(
            a.required_during_scheduling_ignored_during_execution
                .as_ref(),
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref(),
        )
    }) || affinity.pod_anti_affinity.as_ref().is_some_and(|a| {
        cross_namespace_terms(
            a.required_during_scheduling_ignored_during_execution
                .as_ref(),
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref(),
        )
    })
}

/// Whether a pod falls in a quota scope (`podMatchesScopeFunc`):
/// `Terminating`, `NotTerminating`, `BestEffort`, `NotBestEffort`,
/// `PriorityClass` (with `In`, `NotIn`, `Exists`, `DoesNotExist`) and
/// `CrossNamespacePodAffinity`. As in Kubernetes, the operator of the
/// other scopes is not read.
pub fn pod_matches_scope(pod: &Pod, requirement: &ScopedResourceSelectorRequirement) -> bool {
    match requirement.scope_name.as_str() {
        "Terminating" => is_terminating(pod),
        "NotTerminating" => !is_terminating(pod),
        "BestEffort" => is_best_effort(pod),
        "NotBestEffort" => !is_best_effort(pod),
        "PriorityClass" => {
            let class = pod
                .spec
                .as_ref()
                .and_then(|s| s.priority_class_name.as_deref())
                .filter(|class| !class.is_empty());
            let values = requirement.values.as_deref().unwrap_or_default();
            match requirement.operator.as_str() {
                "Exists" => class.is_some(),
                "DoesNotExist" => class.is_none(),
                "In" => class.is_some_and(|class| values.iter().any(|v| v == class)),
                "NotIn" => !class.is_some_and(|class| values.iter().any(|v| v == class)),
                _ => false,
            }
        }
        "CrossNamespacePodAffinity" => uses_cross_namespace_affinity(pod),
        _ => false,
    }
}

/// A quota's scopes as requirements: each of `spec.scopes` (operator
/// `Exists`) and `spec.scopeSelector.matchExpressions`.
pub fn scope_selectors(quota: &ResourceQuota) -> Vec<ScopedResourceSelectorRequirement> {
    let spec = quota.spec.as_ref();
    let scopes = spec
        .and_then(|s| s.scopes.as_ref())
        .into_iter()
        .flatten()
        .map(|scope| ScopedResourceSelectorRequirement {
            scope_name: scope.clone(),
            operator: "Exists".to_owned(),
            values: None,
        });
    let expressions = spec
        .and_then(|s| s.scope_selector.as_ref())
        .and_then(|s| s.match_expressions.clone())
        .into_iter()
        .flatten();
    scopes.chain(expressions).collect()
}

/// Whether `object` (of `kind`) falls in every scope of `quota`. A quota
/// without scopes takes every object; only pods fall in any scope.
pub fn matches_scopes(quota: &ResourceQuota, kind: &str, object: &Value) -> bool {
    let selectors = scope_selectors(quota);
    if selectors.is_empty() {
        return true;
    }
    let pod = (kind == "Pod")
        .then(|| <Pod as serde::Deserialize>::deserialize(object).ok())
        .flatten();
    match pod {
        Some(pod) => selectors
            .iter()
            .all(|selector| pod_matches_scope(&pod, selector)),
        None => false,
    }
}

/// What a Service charges (the service evaluator's `Usage`).
fn service_usage(service: &Service) -> ResourceList {
    let spec = service.spec.as_ref();
    let ports = spec.and_then(|s| s.ports.as_deref()).unwrap_or_default();
    let (node_ports, load_balancers) = match spec.and_then(|s| s.type_.as_deref()) {
        Some("NodePort") => (ports.len(), 0),
        Some("LoadBalancer") => {
            // Without allocated node ports only the ones asked for count.
            let allocate = spec.and_then(|s| s.allocate_load_balancer_node_ports);
            let node_ports = if allocate == Some(false) {
                ports
                    .iter()
                    .filter(|p| p.node_port.unwrap_or(0) != 0)
                    .count()
            } else {
                ports.len()
            };
            (node_ports, 1)
        }
        _ => (0, 0),
    };
    ResourceList::from([
        ("count/services".to_owned(), one()),
        ("services".to_owned(), one()),
        ("services.nodeports".to_owned(), count(node_ports)),
        ("services.loadbalancers".to_owned(), count(load_balancers)),
    ])
}

/// What a PersistentVolumeClaim charges (the claim evaluator's `Usage`):
/// the storage it requests (or was allocated, if more), in whole bytes.
fn claim_usage(claim: &PersistentVolumeClaim) -> ResourceList {
    let mut usage = ResourceList::from([
        ("persistentvolumeclaims".to_owned(), one()),
        ("count/persistentvolumeclaims".to_owned(), one()),
    ]);
    let class = claim
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(BETA_STORAGE_CLASS_ANNOTATION))
        .or(claim
            .spec
            .as_ref()
            .and_then(|s| s.storage_class_name.as_ref()))
        .filter(|class| !class.is_empty());
    if let Some(class) = class {
        usage.insert(
            format!("{class}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"),
            one(),
        );
    }
    let requested = resource_list(
        claim
            .spec
            .as_ref()
            .and_then(|s| s.resources.as_ref())
            .and_then(|r| r.requests.as_ref()),
    )
    .remove("storage");
    let allocated = resource_list(
        claim
            .status
            .as_ref()
            .and_then(|s| s.allocated_resources.as_ref()),
    )
    .remove("storage");
    let storage = match (requested, allocated) {
        (Some(requested), Some(allocated)) if allocated > requested => Some(allocated),
        (requested, _) => requested,
    };
    if let Some(storage) = storage.map(Quantity::round_up_to_units) {
        usage.insert("requests.storage".to_owned(), storage);
        if let Some(class) = class {
            usage.insert(
                format!("{class}{STORAGE_CLASS_SUFFIX}requests.storage"),
                storage,
            );
        }
    }
    usage
}

// --- Resource lists (`quota/v1/resources.go`) ---

/// `a + b`, name by name; a name in one only is copied.
pub fn add(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let mut sum = a.clone();
    add_into(&mut sum, b);
    sum
}

fn add_into(list: &mut ResourceList, other: &ResourceList) {
    for (name, quantity) in other {
        list.entry(name.clone())
            .and_modify(|total| *total += *quantity)
            .or_insert(*quantity);
    }
}

fn max_into(list: &mut ResourceList, other: &ResourceList) {
    for (name, quantity) in other {
        match list.get(name) {
            Some(current) if current >= quantity => {}
            _ => {
                list.insert(name.clone(), *quantity);
            }
        }
    }
}

/// `SubtractWithNonNegativeResult`: `new - old` for every name of either,
/// zero where negative; what an update charges beyond the old object.
pub fn usage_delta(new: &ResourceList, old: &ResourceList) -> ResourceList {
    let mut delta = ResourceList::new();
    for (name, quantity) in new {
        let difference = match old.get(name) {
            Some(before) => *quantity - *before,
            None => *quantity,
        };
        let value = if difference > Quantity::zero() {
            difference
        } else {
            Quantity::zero()
        };
        delta.insert(name.clone(), value);
    }
    for name in old.keys() {
        delta.entry(name.clone()).or_insert(Quantity::zero());
    }
    delta
}

/// The entries of `list` whose names `keep` accepts (`Mask`).
pub fn mask(list: &ResourceList, keep: impl Fn(&str) -> bool) -> ResourceList {
    list.iter()
        .filter(|(name, _)| keep(name))
        .map(|(name, quantity)| (name.clone(), *quantity))
        .collect()
}

/// The names where `used` exceeds `hard` (`LessThanOrEqual`); names `hard`
/// lacks are not limited. Sorted.
pub fn exceeded(used: &ResourceList, hard: &ResourceList) -> Vec<String> {
    used.iter()
        .filter(|(name, quantity)| hard.get(*name).is_some_and(|limit| *quantity > limit))
        .map(|(name, _)| name.clone())
        .collect()
}

/// `name=quantity` pairs in name order, joined by commas, as quota
/// messages print resource lists (`pods=1,requests.cpu=500m`).
pub fn pretty_print(list: &ResourceList) -> String {
    list.iter()
        .map(|(name, quantity)| format!("{name}={quantity}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list(pairs: &[(&str, &str)]) -> ResourceList {
        pairs
            .iter()
            .map(|(name, text)| ((*name).to_owned(), Quantity::parse(text).unwrap()))
            .collect()
    }

    fn printed(list: &ResourceList) -> String {
        pretty_print(list)
    }

    fn container(name: &str, requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Value {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json!(v)))
                .collect::<serde_json::Map<_, _>>()
        };
        json!({"name": name, "resources": {"requests": map(requests), "limits": map(limits)}})
    }

    #[test]
    fn pods_charge_as_the_pod_evaluator_counts_them() {
        let app = container(
            "app",
            &[("cpu", "100m"), ("memory", "1Gi")],
            &[("cpu", "200m")],
        );
        let side = container("side", &[("cpu", "50m"), ("memory", "512Mi")], &[]);
        let cases: &[(&str, Value, &str)] = &[
            (
                "no resources: only the counts",
                json!({"spec": {"containers": [{"name": "app"}]}}),
                "count/pods=1,pods=1",
            ),
            (
                "requests and limits",
                json!({"spec": {"containers": [app.clone()]}}),
                "count/pods=1,cpu=100m,limits.cpu=200m,memory=1Gi,pods=1,requests.cpu=100m,requests.memory=1Gi",
            ),
            (
                "containers add up",
                json!({"spec": {"containers": [app.clone(), side.clone()]}}),
                "count/pods=1,cpu=150m,limits.cpu=200m,memory=1536Mi,pods=1,requests.cpu=150m,requests.memory=1536Mi",
            ),
            (
                "the largest init container wins",
                json!({"spec": {"containers": [side.clone()], "initContainers": [
                    container("init", &[("cpu", "1")], &[])
                ]}}),
                "count/pods=1,cpu=1,memory=512Mi,pods=1,requests.cpu=1,requests.memory=512Mi",
            ),
            (
                "a sidecar counts for the pod and for later init containers",
                json!({"spec": {"containers": [side.clone()], "initContainers": [
                    {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
                    container("init", &[("cpu", "100m")], &[])
                ]}}),
                "count/pods=1,cpu=200m,memory=512Mi,pods=1,requests.cpu=200m,requests.memory=512Mi",
            ),
            (
                "overhead is added to requests, and to limits that exist",
                json!({"spec": {"containers": [app.clone()], "overhead": {"cpu": "10m", "memory": "1Mi"}}}),
                "count/pods=1,cpu=110m,limits.cpu=210m,memory=1025Mi,pods=1,requests.cpu=110m,requests.memory=1025Mi",
            ),
            (
                "pod-level resources replace the containers' sum",
                json!({"spec": {"containers": [app.clone()], "resources": {"requests": {"cpu": "1"}, "limits": {"memory": "2Gi"}}}}),
                "count/pods=1,cpu=1,limits.cpu=200m,limits.memory=2Gi,memory=1Gi,pods=1,requests.cpu=1,requests.memory=1Gi",
            ),
            (
                "ephemeral storage, hugepages and extended resources",
                json!({"spec": {"containers": [container("app",
                    &[("ephemeral-storage", "1Gi"), ("hugepages-2Mi", "4Mi"), ("example.com/gpu", "1")],
                    &[("ephemeral-storage", "2Gi"), ("example.com/gpu", "1")])]}}),
                "count/pods=1,ephemeral-storage=1Gi,hugepages-2Mi=4Mi,limits.ephemeral-storage=2Gi,pods=1,requests.ephemeral-storage=1Gi,requests.example.com/gpu=1,requests.hugepages-2Mi=4Mi",
            ),
            (
                "a finished pod charges only its object count",
                json!({"spec": {"containers": [app.clone()]}, "status": {"phase": "Succeeded"}}),
                "count/pods=1",
            ),
            (
                "a failed pod too",
                json!({"spec": {"containers": [app.clone()]}, "status": {"phase": "Failed"}}),
                "count/pods=1",
            ),
        ];
        for (case, pod, expected) in cases {
            assert_eq!(printed(&usage_of("Pod", pod)), *expected, "{case}");
        }
    }

    #[test]
    fn a_pod_stuck_terminating_past_its_grace_period_is_not_charged() {
        let pod = json!({
            "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z", "deletionGracePeriodSeconds": 30},
            "spec": {"containers": [container("app", &[("cpu", "1")], &[])]}
        });
        let deleted = 1_767_225_600_000;
        assert_eq!(
            usage_at("Pod", &pod, deleted + 30_000)["cpu"].to_string(),
            "1"
        );
        assert_eq!(
            printed(&usage_at("Pod", &pod, deleted + 30_001)),
            "count/pods=1"
        );
        // Without a clock it is charged.
        assert_eq!(usage_of("Pod", &pod)["pods"].to_string(), "1");
    }

    #[test]
    fn other_kinds_charge_their_object_counts() {
        let cases: &[(&str, Value, &str)] = &[
            (
                "Service",
                json!({"spec": {"type": "ClusterIP", "ports": [{"port": 80}]}}),
                "count/services=1,services=1,services.loadbalancers=0,services.nodeports=0",
            ),
            (
                "Service",
                json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}}),
                "count/services=1,services=1,services.loadbalancers=0,services.nodeports=2",
            ),
            (
                "Service",
                json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}),
                "count/services=1,services=1,services.loadbalancers=1,services.nodeports=1",
            ),
            (
                "Service",
                json!({"spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false,
                    "ports": [{"port": 80}, {"port": 81, "nodePort": 30001}]}}),
                "count/services=1,services=1,services.loadbalancers=1,services.nodeports=1",
            ),
            ("ConfigMap", json!({}), "configmaps=1,count/configmaps=1"),
            (
                "Secret",
                json!({"apiVersion": "v1"}),
                "count/secrets=1,secrets=1",
            ),
            (
                "ReplicationController",
                json!({}),
                "count/replicationcontrollers=1,replicationcontrollers=1",
            ),
            (
                "ResourceQuota",
                json!({}),
                "count/resourcequotas=1,resourcequotas=1",
            ),
            (
                "Deployment",
                json!({"apiVersion": "apps/v1"}),
                "count/deployments.apps=1",
            ),
            ("Deployment", json!({}), "count/deployments.apps=1"),
            (
                "Ingress",
                json!({"apiVersion": "networking.k8s.io/v1"}),
                "count/ingresses.networking.k8s.io=1",
            ),
            (
                "Widget",
                json!({"apiVersion": "example.com/v1"}),
                "count/widgets.example.com=1",
            ),
            (
                "Policy",
                json!({"apiVersion": "example.com/v1"}),
                "count/policies.example.com=1",
            ),
            ("Endpoints", json!({}), "count/endpoints=1"),
            (
                "PersistentVolumeClaim",
                json!({"spec": {"storageClassName": "gold", "resources": {"requests": {"storage": "1.5"}}}}),
                "count/persistentvolumeclaims=1,gold.storageclass.storage.k8s.io/persistentvolumeclaims=1,gold.storageclass.storage.k8s.io/requests.storage=2,persistentvolumeclaims=1,requests.storage=2",
            ),
            (
                "PersistentVolumeClaim",
                json!({"metadata": {"annotations": {"volume.beta.kubernetes.io/storage-class": "old"}},
                    "spec": {"storageClassName": "gold", "resources": {"requests": {"storage": "1Gi"}}},
                    "status": {"allocatedResources": {"storage": "2Gi"}}}),
                "count/persistentvolumeclaims=1,old.storageclass.storage.k8s.io/persistentvolumeclaims=1,old.storageclass.storage.k8s.io/requests.storage=2Gi,persistentvolumeclaims=1,requests.storage=2Gi",
            ),
        ];
        for (kind, object, expected) in cases {
            assert_eq!(
                printed(&usage_of(kind, object)),
                *expected,
                "{kind} {object}"
            );
        }
    }

    #[test]
    fn quota_resource_names_map_to_the_kind_they_count() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("pods", Some(("", "Pod"))),
            ("count/pods", Some(("", "Pod"))),
            ("cpu", Some(("", "Pod"))),
            ("requests.memory", Some(("", "Pod"))),
            ("limits.cpu", Some(("", "Pod"))),
            ("requests.hugepages-2Mi", Some(("", "Pod"))),
            ("requests.example.com/gpu", Some(("", "Pod"))),
            ("services.nodeports", Some(("", "Service"))),
            ("count/services", Some(("", "Service"))),
            ("requests.storage", Some(("", "PersistentVolumeClaim"))),
            (
                "gold.storageclass.storage.k8s.io/requests.storage",
                Some(("", "PersistentVolumeClaim")),
            ),
            ("configmaps", Some(("", "ConfigMap"))),
            ("count/secrets", Some(("", "Secret"))),
            ("count/deployments.apps", Some(("apps", "Deployment"))),
            ("count/jobs.batch", Some(("batch", "Job"))),
            ("count/widgets.example.com", None),
            ("example.com/gpu", None),
            ("bogus", None),
        ];
        for (resource, expected) in cases {
            let counted = QuotaKind::counting(resource);
            assert_eq!(
                counted
                    .as_ref()
                    .map(|k| (k.kind.group.as_str(), k.kind.kind.as_str())),
                *expected,
                "{resource}"
            );
            if let Some(kind) = counted {
                assert!(kind.tracks(resource), "{resource}");
            }
        }
        let widgets = QuotaKind::of("example.com", "v1", "Widget");
        assert!(widgets.tracks("count/widgets.example.com"));
        assert!(!widgets.tracks("pods"));
        assert!(!QuotaKind::of("", "v1", "Pod").tracks("services"));
    }

    fn quota(scopes: &[&str], expressions: Value) -> ResourceQuota {
        serde_json::from_value(json!({
            "metadata": {"name": "q"},
            "spec": {"hard": {"pods": "1"}, "scopes": scopes, "scopeSelector": {"matchExpressions": expressions}}
        }))
        .unwrap()
    }

    #[test]
    fn pods_fall_in_quota_scopes() {
        let best_effort = json!({"spec": {"containers": [{"name": "a"}]}});
        let burstable = json!({"spec": {"containers": [container("a", &[("cpu", "1")], &[])]}});
        let zero_request = json!({"spec": {"containers": [container("a", &[("cpu", "0")], &[])]}});
        let terminating =
            json!({"spec": {"activeDeadlineSeconds": 60, "containers": [{"name": "a"}]}});
        let high = json!({"spec": {"priorityClassName": "high", "containers": [{"name": "a"}]}});
        let cross = json!({"spec": {"containers": [{"name": "a"}], "affinity": {"podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "zone", "namespaces": ["other"]}]}}}});
        let priority = |operator: &str, values: &[&str]| json!([{"scopeName": "PriorityClass", "operator": operator, "values": values}]);
        let cases: &[(&str, &[&str], Value, &Value, bool)] = &[
            ("no scopes", &[], json!([]), &burstable, true),
            ("BestEffort", &["BestEffort"], json!([]), &best_effort, true),
            ("BestEffort", &["BestEffort"], json!([]), &burstable, false),
            (
                "a zero request is best effort",
                &["BestEffort"],
                json!([]),
                &zero_request,
                true,
            ),
            (
                "NotBestEffort",
                &["NotBestEffort"],
                json!([]),
                &burstable,
                true,
            ),
            (
                "Terminating",
                &["Terminating"],
                json!([]),
                &terminating,
                true,
            ),
            (
                "Terminating",
                &["Terminating"],
                json!([]),
                &best_effort,
                false,
            ),
            (
                "NotTerminating",
                &["NotTerminating"],
                json!([]),
                &best_effort,
                true,
            ),
            (
                "both must match",
                &["NotTerminating", "BestEffort"],
                json!([]),
                &burstable,
                false,
            ),
            (
                "PriorityClass In",
                &[],
                priority("In", &["high"]),
                &high,
                true,
            ),
            (
                "PriorityClass In",
                &[],
                priority("In", &["low"]),
                &high,
                false,
            ),
            (
                "PriorityClass NotIn",
                &[],
                priority("NotIn", &["low"]),
                &high,
                true,
            ),
            (
                "PriorityClass NotIn, none",
                &[],
                priority("NotIn", &["high"]),
                &best_effort,
                true,
            ),
            (
                "PriorityClass Exists",
                &[],
                priority("Exists", &[]),
                &best_effort,
                false,
            ),
            (
                "PriorityClass DoesNotExist",
                &[],
                priority("DoesNotExist", &[]),
                &best_effort,
                true,
            ),
            (
                "CrossNamespacePodAffinity",
                &["CrossNamespacePodAffinity"],
                json!([]),
                &cross,
                true,
            ),
            (
                "CrossNamespacePodAffinity",
                &["CrossNamespacePodAffinity"],
                json!([]),
                &high,
                false,
            ),
        ];
        for (case, scopes, expressions, pod, expected) in cases {
            let quota = quota(scopes, expressions.clone());
            assert_eq!(matches_scopes(&quota, "Pod", pod), *expected, "{case}");
        }
        // Other kinds fall in no scope.
        assert!(!matches_scopes(
            &quota(&["BestEffort"], json!([])),
            "Service",
            &json!({})
        ));
        assert!(matches_scopes(
            &quota(&[], json!([])),
            "Service",
            &json!({})
        ));
        // The status's QoS class wins.
        let status_says = json!({"spec": {"containers": [container("a", &[("cpu", "1")], &[])]}, "status": {"qosClass": "BestEffort"}});
        assert!(matches_scopes(
            &quota(&["BestEffort"], json!([])),
            "Pod",
            &status_says
        ));
    }

    #[test]
    fn resource_lists_add_subtract_and_compare_by_name() {
        let a = list(&[("cpu", "1"), ("pods", "2")]);
        let b = list(&[("cpu", "500m"), ("memory", "1Gi")]);
        assert_eq!(printed(&add(&a, &b)), "cpu=1500m,memory=1Gi,pods=2");
        assert_eq!(printed(&usage_delta(&b, &a)), "cpu=0,memory=1Gi,pods=0");
        assert_eq!(printed(&usage_delta(&a, &b)), "cpu=500m,memory=0,pods=2");
        assert_eq!(printed(&mask(&a, |name| name == "pods")), "pods=2");
        assert_eq!(
            exceeded(&a, &list(&[("cpu", "2"), ("pods", "1")])),
            ["pods"]
        );
        assert!(exceeded(&a, &list(&[("memory", "1")])).is_empty());
    }
}
