//! Charging one object to a namespace's ResourceQuotas, as Kubernetes'
//! quota admission (`CheckRequest`): which quotas apply, the pod
//! constraints, the status check, and the new usage of each quota.
//!
//! As in Kubernetes, a quota's limits are read from its **`status.hard`**,
//! which the ResourceQuota controller copies from `spec.hard`: a quota the
//! controller has not yet counted limits nothing.
//!
//! Not followed: the admission configuration's `limitedResources` (objects
//! that need a covering quota to exist; off by default in Kubernetes too),
//! and the pod evaluator's charge on an update that makes a pod
//! terminating (Kubernetes charges nothing new for it either).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use wharf_sdk::k8s_openapi::api::core::v1::{Container, Pod, ResourceQuota, ResourceQuotaStatus};
use wharf_sdk::quantity::{ResourceList, resource_list, to_wire_list};
use wharf_sdk::quota::{
    QuotaKind, add, exceeded, mask, matches_scopes, pod_usage, pretty_print, usage_delta,
};
use wharf_sdk::serde_json::Value;

pub use wharf_sdk::quota::usage_of;

/// The resources whose requests or limits every container must state when
/// a quota limits them ("it was a mistake", Kubernetes says, kept for
/// compatibility: only these).
const MUST_SPECIFY: &[&str] = &[
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

/// Why an object may not be charged to a quota. The `Display` form is
/// Kubernetes' message (the caller adds `pods "x" is forbidden: `).
#[derive(Clone, Debug, PartialEq)]
pub enum QuotaError {
    /// Charging would take `quota` over its limits: for each resource that
    /// would, what the object asks, what is used, and the limit.
    Exceeded {
        quota: String,
        requested: ResourceList,
        used: ResourceList,
        limited: ResourceList,
    },
    /// `quota` limits cpu or memory requests or limits, and these
    /// containers (by resource) do not state them.
    MustSpecify {
        quota: String,
        missing: BTreeMap<String, BTreeSet<String>>,
    },
    /// `quota` has no usage yet for these resources it limits (its
    /// controller has not counted them).
    StatusUnknown {
        quota: String,
        resources: Vec<String>,
    },
    /// The object would charge a negative amount.
    NegativeUsage { resources: Vec<String> },
}

impl fmt::Display for QuotaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuotaError::Exceeded {
                quota,
                requested,
                used,
                limited,
            } => write!(
                f,
                "exceeded quota: {quota}, requested: {}, used: {}, limited: {}",
                pretty_print(requested),
                pretty_print(used),
                pretty_print(limited)
            ),
            QuotaError::MustSpecify { quota, missing } => {
                let missing: Vec<String> = missing
                    .iter()
                    .map(|(resource, containers)| {
                        let containers: Vec<&str> = containers.iter().map(String::as_str).collect();
                        format!("{resource} for: {}", containers.join(","))
                    })
                    .collect();
                write!(
                    f,
                    "failed quota: {quota}: must specify {}",
                    missing.join("; ")
                )
            }
            QuotaError::StatusUnknown { quota, resources } => write!(
                f,
                "status unknown for quota: {quota}, resources: {}",
                resources.join(",")
            ),
            QuotaError::NegativeUsage { resources } => write!(
                f,
                "quota usage is negative for resource(s): {}",
                resources.join(",")
            ),
        }
    }
}

impl std::error::Error for QuotaError {}

/// One quota charged by an admitted object.
#[derive(Clone, Debug, PartialEq)]
pub struct Charge {
    /// The quota as read, with `status.used` set to [`used`](Self::used):
    /// write it to the `status` subresource; its `resourceVersion` (the one
    /// it was read at) is the precondition.
    pub quota: ResourceQuota,
    /// The quota's new usage.
    pub used: ResourceList,
}

fn name_of(quota: &ResourceQuota) -> String {
    quota.metadata.name.clone().unwrap_or_default()
}

fn hard_of(quota: &ResourceQuota) -> ResourceList {
    resource_list(quota.status.as_ref().and_then(|s| s.hard.as_ref()))
}

fn used_of(quota: &ResourceQuota) -> ResourceList {
    resource_list(quota.status.as_ref().and_then(|s| s.used.as_ref()))
}

/// The resources `quota` limits (in `status.hard`) that objects of `kind`
/// charge (`MatchingResources`), sorted.
pub fn limited_resources(quota: &ResourceQuota, kind: &QuotaKind) -> Vec<String> {
    hard_of(quota)
        .into_keys()
        .filter(|resource| kind.tracks(resource))
        .collect()
}

/// Whether `quota` applies to `object` of `kind` (`Matches`): it limits
/// something the kind charges, and the object falls in all its scopes.
pub fn applies(quota: &ResourceQuota, kind: &str, object: &Value) -> bool {
    let quota_kind = QuotaKind::of_object(kind, object);
    !limited_resources(quota, &quota_kind).is_empty() && matches_scopes(quota, kind, object)
}

/// The pod evaluator's `Constraints`: when `quota` limits cpu or memory
/// (requests, limits, or the bare names), every container and init
/// container must state them; pods with pod-level resources are exempt.
/// Other kinds have no constraints.
pub fn constraints(quota: &ResourceQuota, kind: &str, object: &Value) -> Result<(), QuotaError> {
    match pod_of(kind, object) {
        Some(pod) => pod_constraints(quota, &pod),
        None => Ok(()),
    }
}

/// `object` as a Pod, when it is one that decodes (the API server refuses
/// the others).
fn pod_of(kind: &str, object: &Value) -> Option<Pod> {
    (kind == "Pod")
        .then(|| <Pod as wharf_sdk::serde::Deserialize>::deserialize(object).ok())
        .flatten()
}

/// [`constraints`] of a decoded pod.
fn pod_constraints(quota: &ResourceQuota, pod: &Pod) -> Result<(), QuotaError> {
    let hard = hard_of(quota);
    let required: Vec<&str> = MUST_SPECIFY
        .iter()
        .copied()
        .filter(|resource| hard.contains_key(*resource))
        .collect();
    let Some(spec) = pod.spec.as_ref() else {
        return Ok(());
    };
    if required.is_empty() || has_pod_level_resources(pod) {
        return Ok(());
    }
    let mut missing: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for container in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        let stated = stated_resources(container);
        for resource in &required {
            if !stated.contains(resource) {
                missing
                    .entry((*resource).to_owned())
                    .or_default()
                    .insert(container.name.clone());
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(QuotaError::MustSpecify {
            quota: name_of(quota),
            missing,
        })
    }
}

/// The quota names a container's own requests and limits state: a cpu
/// request states `cpu` and `requests.cpu`, a cpu limit `limits.cpu`.
fn stated_resources(container: &Container) -> BTreeSet<&'static str> {
    let resources = container.resources.as_ref();
    let requests = resource_list(resources.and_then(|r| r.requests.as_ref()));
    let limits = resource_list(resources.and_then(|r| r.limits.as_ref()));
    let mut stated = BTreeSet::new();
    for (resource, request, limit) in [
        ("cpu", "requests.cpu", "limits.cpu"),
        ("memory", "requests.memory", "limits.memory"),
    ] {
        if requests.contains_key(resource) {
            stated.extend([resource, request]);
        }
        if limits.contains_key(resource) {
            stated.insert(limit);
        }
    }
    stated
}

/// `IsPodLevelResourcesSet`: pod-level requests or limits of cpu, memory or hugepages.
fn has_pod_level_resources(pod: &Pod) -> bool {
    let resources = pod.spec.as_ref().and_then(|s| s.resources.as_ref());
    [
        resources.and_then(|r| r.requests.as_ref()),
        resources.and_then(|r| r.limits.as_ref()),
    ]
    .into_iter()
    .flatten()
    .flat_map(|list| list.keys())
    .any(|name| matches!(name.as_str(), "cpu" | "memory") || name.starts_with("hugepages-"))
}

/// Charges `requested` (what one object uses, from [`usage_of`]) to
/// `quota`: only the resources the quota limits (`status.hard`) count.
/// Returns the quota's new `status.used` (unchanged when nothing it limits
/// is charged, or everything charged is zero), or
/// [`QuotaError::Exceeded`] naming each resource that would go over, as
/// `exceeded quota: NAME, requested: pods=1, used: pods=2, limited: pods=2`.
pub fn check(quota: &ResourceQuota, requested: &ResourceList) -> Result<ResourceList, QuotaError> {
    negative_check(requested)?;
    let hard = hard_of(quota);
    let used = used_of(quota);
    if requested.values().all(|quantity| quantity.is_zero()) {
        return Ok(used);
    }
    let charged = mask(requested, |resource| hard.contains_key(resource));
    let unknown: Vec<String> = charged
        .keys()
        .filter(|resource| !used.contains_key(*resource))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(QuotaError::StatusUnknown {
            quota: name_of(quota),
            resources: unknown,
        });
    }
    let new_used = add(&used, &charged);
    let over = exceeded(
        &mask(&new_used, |resource| charged.contains_key(resource)),
        &hard,
    );
    if !over.is_empty() {
        let only_over =
            |list: &ResourceList| mask(list, |resource| over.iter().any(|o| o == resource));
        return Err(QuotaError::Exceeded {
            quota: name_of(quota),
            requested: only_over(&charged),
            used: only_over(&used),
            limited: only_over(&hard),
        });
    }
    Ok(new_used)
}

fn negative_check(requested: &ResourceList) -> Result<(), QuotaError> {
    let negative: Vec<String> = requested
        .iter()
        .filter(|(_, quantity)| quantity.is_negative())
        .map(|(resource, _)| resource.clone())
        .collect();
    if negative.is_empty() {
        Ok(())
    } else {
        Err(QuotaError::NegativeUsage {
            resources: negative,
        })
    }
}

/// Admits `object` of `kind` against the `quotas` of its namespace
/// (`CheckRequest`): each quota that [`applies`] must pass
/// [`constraints`] and know its usage; then the object's usage is charged
/// to each ([`check`]). The first failure, in the quotas' order, refuses
/// the object.
///
/// `old` is the stored object on an update: then only the growth is
/// charged ([`usage_delta`]). Kubernetes charges creates of every kind and
/// updates of Services and PersistentVolumeClaims only.
///
/// Returns the quotas whose usage changed, with their new `status.used`.
pub fn admit(
    quotas: &[ResourceQuota],
    kind: &str,
    object: &Value,
    old: Option<&Value>,
) -> Result<Vec<Charge>, QuotaError> {
    let quota_kind = QuotaKind::of_object(kind, object);
    // Decoded once for every quota's constraints and the usage.
    let pod = pod_of(kind, object);
    let mut applicable = Vec::new();
    for quota in quotas {
        if !applies(quota, kind, object) {
            continue;
        }
        if let Some(pod) = &pod {
            pod_constraints(quota, pod)?;
        }
        let used = used_of(quota);
        let unknown: Vec<String> = limited_resources(quota, &quota_kind)
            .into_iter()
            .filter(|resource| !used.contains_key(resource))
            .collect();
        if !unknown.is_empty() {
            return Err(QuotaError::StatusUnknown {
                quota: name_of(quota),
                resources: unknown,
            });
        }
        applicable.push(quota);
    }
    let mut delta = match &pod {
        Some(pod) if quota_kind.kind.group.is_empty() => pod_usage(pod, None),
        _ => usage_of(kind, object),
    };
    negative_check(&delta)?;
    if let Some(old) = old {
        delta = usage_delta(&delta, &usage_of(kind, old));
    }
    let mut charges = Vec::new();
    for quota in applicable {
        let used = check(quota, &delta)?;
        if used != used_of(quota) {
            let mut charged = quota.clone();
            charged
                .status
                .get_or_insert_with(ResourceQuotaStatus::default)
                .used = Some(to_wire_list(&used));
            charges.push(Charge {
                quota: charged,
                used,
            });
        }
    }
    Ok(charges)
}

#[cfg(test)]
mod tests {
    use wharf_sdk::quantity::Quantity;
    use wharf_sdk::serde_json::{self, json};

    use super::*;

    fn list(pairs: &[(&str, &str)]) -> ResourceList {
        pairs
            .iter()
            .map(|(name, text)| ((*name).to_owned(), Quantity::parse(text).unwrap()))
            .collect()
    }

    fn wire(pairs: &[(&str, &str)]) -> Value {
        pairs
            .iter()
            .map(|(name, text)| ((*name).to_owned(), json!(text)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// A quota named `name` whose status has `hard` and `used` (spec.hard = hard).
    fn quota(name: &str, hard: &[(&str, &str)], used: &[(&str, &str)]) -> ResourceQuota {
        quota_with(name, hard, used, json!({}))
    }

    fn quota_with(
        name: &str,
        hard: &[(&str, &str)],
        used: &[(&str, &str)],
        spec: Value,
    ) -> ResourceQuota {
        let mut spec = spec;
        if spec.get("hard").is_none() {
            spec["hard"] = wire(hard);
        }
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "resourceVersion": "7"},
            "spec": spec,
            "status": {"hard": wire(hard), "used": wire(used)},
        }))
        .unwrap()
    }

    fn container(name: &str, requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Value {
        json!({"name": name, "resources": {"requests": wire(requests), "limits": wire(limits)}})
    }

    fn pod(containers: Vec<Value>) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": {"containers": containers}})
    }

    #[test]
    fn check_charges_what_the_quota_limits_or_says_what_exceeds() {
        let cases: &[(&str, ResourceQuota, ResourceList, Result<&str, &str>)] = &[
            (
                "room left",
                quota("q", &[("pods", "2")], &[("pods", "1")]),
                list(&[("pods", "1"), ("count/pods", "1")]),
                Ok("pods=2"),
            ),
            (
                "the last unit taken",
                quota("q", &[("pods", "2")], &[("pods", "2")]),
                list(&[("pods", "1")]),
                Err("exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"),
            ),
            (
                "only exceeded resources are listed, in name order",
                quota(
                    "compute",
                    &[
                        ("pods", "10"),
                        ("requests.cpu", "1"),
                        ("requests.memory", "1Gi"),
                    ],
                    &[
                        ("pods", "1"),
                        ("requests.cpu", "800m"),
                        ("requests.memory", "768Mi"),
                    ],
                ),
                list(&[
                    ("pods", "1"),
                    ("requests.cpu", "500m"),
                    ("requests.memory", "512Mi"),
                ]),
                Err(
                    "exceeded quota: compute, requested: requests.cpu=500m,requests.memory=512Mi, \
                     used: requests.cpu=800m,requests.memory=768Mi, limited: requests.cpu=1,requests.memory=1Gi",
                ),
            ),
            (
                "exactly at the limit is fine",
                quota("q", &[("requests.cpu", "1")], &[("requests.cpu", "500m")]),
                list(&[("requests.cpu", "0.5")]),
                Ok("requests.cpu=1"),
            ),
            (
                "unlimited resources are not charged",
                quota("q", &[("services", "5")], &[("services", "0")]),
                list(&[("pods", "1"), ("cpu", "1")]),
                Ok("services=0"),
            ),
            (
                "other resources' usage is kept",
                quota(
                    "q",
                    &[("pods", "5"), ("secrets", "3")],
                    &[("pods", "1"), ("secrets", "3")],
                ),
                list(&[("pods", "1")]),
                Ok("pods=2,secrets=3"),
            ),
            (
                "nothing charged when all is zero, even over",
                quota(
                    "q",
                    &[("services.nodeports", "0")],
                    &[("services.nodeports", "1")],
                ),
                list(&[("services.nodeports", "0")]),
                Ok("services.nodeports=1"),
            ),
            (
                "no usage counted yet",
                quota("q", &[("pods", "5")], &[]),
                list(&[("pods", "1")]),
                Err("status unknown for quota: q, resources: pods"),
            ),
            (
                "negative usage",
                quota("q", &[("pods", "5")], &[("pods", "0")]),
                list(&[("requests.cpu", "-1")]),
                Err("quota usage is negative for resource(s): requests.cpu"),
            ),
        ];
        for (case, quota, requested, expected) in cases {
            let result = check(quota, requested)
                .map(|used| pretty_print(&used))
                .map_err(|error| error.to_string());
            let expected = expected.map(str::to_owned).map_err(str::to_owned);
            assert_eq!(result, expected, "{case}");
        }
    }

    #[test]
    fn pods_must_state_the_compute_resources_a_quota_limits() {
        let bare = container("app", &[], &[]);
        let requests_only = container("app", &[("cpu", "100m"), ("memory", "64Mi")], &[]);
        type Hard = &'static [(&'static str, &'static str)];
        let cases: &[(&str, Hard, Vec<Value>, Option<&str>)] = &[
            ("pods only", &[("pods", "5")], vec![bare.clone()], None),
            (
                "requests.cpu",
                &[("requests.cpu", "1")],
                vec![bare.clone()],
                Some("failed quota: q: must specify requests.cpu for: app"),
            ),
            (
                "several resources and containers",
                &[
                    ("requests.cpu", "1"),
                    ("limits.memory", "1Gi"),
                    ("cpu", "1"),
                ],
                vec![requests_only.clone(), container("side", &[], &[])],
                Some(
                    "failed quota: q: must specify cpu for: side; limits.memory for: app,side; requests.cpu for: side",
                ),
            ),
            (
                "stated",
                &[("requests.cpu", "1")],
                vec![requests_only.clone()],
                None,
            ),
            (
                "ephemeral storage is not required",
                &[("requests.ephemeral-storage", "1Gi")],
                vec![bare.clone()],
                None,
            ),
        ];
        for (case, hard, containers, expected) in cases {
            let quota = quota("q", hard, hard);
            let result =
                constraints(&quota, "Pod", &pod(containers.clone())).map_err(|e| e.to_string());
            assert_eq!(
                result,
                expected.map_or(Ok(()), |m| Err(m.to_owned())),
                "{case}"
            );
        }
        // Init containers count; pod-level resources exempt the pod.
        let quota = quota("q", &[("requests.memory", "1Gi")], &[]);
        let mut with_init = pod(vec![requests_only.clone()]);
        with_init["spec"]["initContainers"] = json!([container("setup", &[], &[])]);
        assert_eq!(
            constraints(&quota, "Pod", &with_init)
                .unwrap_err()
                .to_string(),
            "failed quota: q: must specify requests.memory for: setup"
        );
        let mut pod_level = pod(vec![bare]);
        pod_level["spec"]["resources"] = json!({"requests": {"memory": "1Gi"}});
        assert_eq!(constraints(&quota, "Pod", &pod_level), Ok(()));
        assert_eq!(constraints(&quota, "Service", &json!({})), Ok(()));
    }

    #[test]
    fn admission_charges_every_applicable_quota() {
        let app = pod(vec![container(
            "app",
            &[("cpu", "250m"), ("memory", "256Mi")],
            &[("cpu", "500m")],
        )]);
        let quotas = [
            quota("count", &[("pods", "10")], &[("pods", "3")]),
            quota(
                "compute",
                &[("requests.cpu", "1"), ("limits.cpu", "2")],
                &[("requests.cpu", "0"), ("limits.cpu", "0")],
            ),
            quota("services", &[("services", "1")], &[("services", "1")]),
            quota_with(
                "best-effort",
                &[("pods", "1")],
                &[("pods", "0")],
                json!({"scopes": ["BestEffort"]}),
            ),
        ];
        let charges = admit(&quotas, "Pod", &app, None).unwrap();
        let summary: Vec<(String, String)> = charges
            .iter()
            .map(|charge| (name_of(&charge.quota), pretty_print(&charge.used)))
            .collect();
        assert_eq!(
            summary,
            [
                ("count".to_owned(), "pods=4".to_owned()),
                (
                    "compute".to_owned(),
                    "limits.cpu=500m,requests.cpu=250m".to_owned()
                ),
            ]
        );
        // The charged quota is ready to write: the new status, the old resourceVersion.
        let written = &charges[1].quota;
        assert_eq!(written.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(
            written.status.as_ref().unwrap().used.as_ref().unwrap()["requests.cpu"].0,
            "250m"
        );
    }

    #[test]
    fn admission_refuses_at_the_first_quota_that_fails() {
        let bare = pod(vec![container("app", &[], &[])]);
        let full = quota("full", &[("pods", "1")], &[("pods", "1")]);
        let compute = quota(
            "compute",
            &[("requests.cpu", "1")],
            &[("requests.cpu", "0")],
        );
        let uncounted = quota("new", &[("count/pods", "5")], &[]);
        let cases: &[(&str, Vec<ResourceQuota>, &str)] = &[
            (
                "over",
                vec![full.clone()],
                "exceeded quota: full, requested: pods=1, used: pods=1, limited: pods=1",
            ),
            (
                "constraints come first",
                vec![full.clone(), compute.clone(), uncounted.clone()],
                "failed quota: compute: must specify requests.cpu for: app",
            ),
            (
                "status unknown",
                vec![uncounted.clone(), full.clone()],
                "status unknown for quota: new, resources: count/pods",
            ),
        ];
        for (case, quotas, expected) in cases {
            assert_eq!(
                admit(quotas, "Pod", &bare, None).unwrap_err().to_string(),
                *expected,
                "{case}"
            );
        }
    }

    #[test]
    fn admission_of_other_kinds_and_updates() {
        let quotas = [quota(
            "objects",
            &[
                ("services", "2"),
                ("services.nodeports", "1"),
                ("count/deployments.apps", "1"),
                ("configmaps", "5"),
            ],
            &[
                ("services", "1"),
                ("services.nodeports", "0"),
                ("count/deployments.apps", "1"),
                ("configmaps", "0"),
            ],
        )];
        let cluster_ip =
            json!({"apiVersion": "v1", "spec": {"type": "ClusterIP", "ports": [{"port": 80}]}});
        let node_port = json!({"apiVersion": "v1", "spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 81}]}});
        let charged = admit(&quotas, "Service", &cluster_ip, None).unwrap();
        assert_eq!(
            pretty_print(&charged[0].used),
            "configmaps=0,count/deployments.apps=1,services=2,services.nodeports=0"
        );
        // Turning it into a NodePort service charges only the new node ports.
        assert_eq!(
            admit(&quotas, "Service", &node_port, Some(&cluster_ip))
                .unwrap_err()
                .to_string(),
            "exceeded quota: objects, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1"
        );
        // An update that changes nothing charged charges nothing.
        assert_eq!(
            admit(&quotas, "Service", &cluster_ip, Some(&cluster_ip)),
            Ok(vec![])
        );
        assert_eq!(
            admit(
                &quotas,
                "Deployment",
                &json!({"apiVersion": "apps/v1"}),
                None
            )
            .unwrap_err()
            .to_string(),
            "exceeded quota: objects, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1"
        );
        let config_map = admit(&quotas, "ConfigMap", &json!({"apiVersion": "v1"}), None).unwrap();
        assert_eq!(config_map[0].used["configmaps"].to_string(), "1");
        // A kind the quota does not limit passes untouched.
        assert_eq!(
            admit(&quotas, "Secret", &json!({"apiVersion": "v1"}), None),
            Ok(vec![])
        );
    }

    #[test]
    fn quotas_apply_by_resources_and_scopes() {
        let best_effort = pod(vec![container("app", &[], &[])]);
        let cases: &[(&str, ResourceQuota, bool)] = &[
            ("limits pods", quota("q", &[("pods", "1")], &[]), true),
            (
                "limits count/pods",
                quota("q", &[("count/pods", "1")], &[]),
                true,
            ),
            (
                "limits services only",
                quota("q", &[("services", "1")], &[]),
                false,
            ),
            (
                "status not yet counted",
                quota_with("q", &[], &[], json!({"hard": {"pods": "1"}})),
                false,
            ),
            (
                "in scope",
                quota_with(
                    "q",
                    &[("pods", "1")],
                    &[],
                    json!({"scopes": ["BestEffort"]}),
                ),
                true,
            ),
            (
                "out of scope",
                quota_with(
                    "q",
                    &[("pods", "1")],
                    &[],
                    json!({"scopes": ["NotBestEffort"]}),
                ),
                false,
            ),
        ];
        for (case, quota, expected) in cases {
            assert_eq!(applies(quota, "Pod", &best_effort), *expected, "{case}");
        }
    }
}
