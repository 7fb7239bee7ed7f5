//! A namespace's LimitRanges applied to one object: container defaults
//! (the mutating half) and the `min`, `max` and `maxLimitRequestRatio`
//! constraints (the validating half), as Kubernetes' LimitRanger.
//!
//! Kubernetes runs each half once per LimitRange of the namespace, in
//! turn: a later LimitRange's defaults fill only what the earlier ones left
//! out, and validation stops at the first LimitRange the object breaks,
//! with every constraint of that LimitRange it breaks.
//!
//! Where this differs from Kubernetes:
//!
//! - Resources of a LimitRange item are checked in name order (Kubernetes
//!   walks a Go map, in no order), so several violations come in a stable
//!   order.
//! - Quantities compare exactly, as Kubernetes does since it compares with
//!   `Cmp` (older releases compared thousandths, rounded up).
//! - A pod's total for a `Pod` item lets pod-level `resources` override
//!   hugepages too, as `PodRequests` does, where LimitRanger's own copy
//!   stops at cpu and memory.
//! - Pod updates (the `resize` subresource) and claim updates are not
//!   special-cased: the caller checks creates.

use std::collections::BTreeMap;
use std::fmt;

use wharf_sdk::k8s_openapi::api::core::v1::{
    Container, LimitRange, LimitRangeItem, PersistentVolumeClaim, Pod,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::api::resource::Quantity as WireQuantity;
use wharf_sdk::quantity::{Quantity, ResourceList, resource_list};
use wharf_sdk::quota::{Overhead, pod_limits, pod_requests};

/// The annotation that says what defaults the LimitRanger set.
pub const ANNOTATION: &str = "kubernetes.io/limit-ranger";

/// LimitRange item types.
pub const CONTAINER: &str = "Container";
pub const POD: &str = "Pod";
pub const PERSISTENT_VOLUME_CLAIM: &str = "PersistentVolumeClaim";

/// Fills in every container's and init container's missing requests and
/// limits from the `Container` items of `ranges` (`defaultRequest`,
/// `default`), one LimitRange after another (`PodMutateLimitFunc`).
///
/// Returns the `kubernetes.io/limit-ranger` annotation of the last
/// LimitRange that set anything, and sets it on the pod:
/// `LimitRanger plugin set: cpu, memory request for container app; cpu
/// limit for container app; cpu request for init container setup`.
/// `None` when nothing was set.
pub fn apply_defaults(pod: &mut Pod, ranges: &[LimitRange]) -> Option<String> {
    let mut annotation = None;
    for range in ranges {
        let defaults = container_defaults(range);
        let Some(spec) = pod.spec.as_mut() else {
            break;
        };
        let mut set = Vec::new();
        for container in &mut spec.containers {
            merge_container(container, &defaults, "container", &mut set);
        }
        for container in spec.init_containers.iter_mut().flatten() {
            merge_container(container, &defaults, "init container", &mut set);
        }
        if !set.is_empty() {
            annotation = Some(format!("LimitRanger plugin set: {}", set.join("; ")));
        }
    }
    if let Some(value) = &annotation {
        pod.metadata
            .annotations
            .get_or_insert_default()
            .insert(ANNOTATION.to_owned(), value.clone());
    }
    annotation
}

/// The requests and limits a container gets by default from one LimitRange
/// (`defaultContainerResourceRequirements`): later items win.
struct Defaults {
    requests: ResourceList,
    limits: ResourceList,
}

fn container_defaults(range: &LimitRange) -> Defaults {
    let mut defaults = Defaults {
        requests: ResourceList::new(),
        limits: ResourceList::new(),
    };
    for item in items(range).filter(|item| item.type_ == CONTAINER) {
        defaults
            .requests
            .extend(resource_list(item.default_request.as_ref()));
        defaults.limits.extend(resource_list(item.default.as_ref()));
    }
    defaults
}

fn items(range: &LimitRange) -> impl Iterator<Item = &LimitRangeItem> {
    range.spec.iter().flat_map(|spec| spec.limits.iter())
}

/// `mergeContainerResources`: sets what the container lacks and notes it
/// as `cpu, memory request for container app`.
fn merge_container(
    container: &mut Container,
    defaults: &Defaults,
    prefix: &str,
    set: &mut Vec<String>,
) {
    let had_resources = container.resources.is_some();
    let resources = container.resources.get_or_insert_default();
    let requests = fill(&mut resources.requests, &defaults.requests);
    let limits = fill(&mut resources.limits, &defaults.limits);
    if requests.is_empty() && limits.is_empty() && !had_resources {
        container.resources = None;
    }
    if !requests.is_empty() {
        set.push(format!(
            "{} request for {prefix} {}",
            requests.join(", "),
            container.name
        ));
    }
    if !limits.is_empty() {
        set.push(format!(
            "{} limit for {prefix} {}",
            limits.join(", "),
            container.name
        ));
    }
}

/// Adds the defaults `list` lacks; returns their names, sorted.
fn fill(list: &mut Option<BTreeMap<String, WireQuantity>>, defaults: &ResourceList) -> Vec<String> {
    let missing: Vec<String> = defaults
        .keys()
        .filter(|name| !list.as_ref().is_some_and(|list| list.contains_key(*name)))
        .cloned()
        .collect();
    if !missing.is_empty() {
        let list = list.get_or_insert_default();
        for name in &missing {
            list.insert(name.clone(), defaults[name].to_wire());
        }
    }
    missing
}

/// Checks a pod against `ranges` (`PodValidateLimitFunc`): each container
/// and init container against the `Container` items, the pod's total
/// requests and limits (without overhead) against the `Pod` items.
/// The error holds every violation of the first LimitRange broken.
pub fn validate(pod: &Pod, ranges: &[LimitRange]) -> Result<(), Violations> {
    first_broken(ranges, |range| pod_violations(pod, range))
}

/// Checks a claim's storage requests against the `PersistentVolumeClaim`
/// items of `ranges` (`PersistentVolumeClaimValidateLimitFunc`): `min` and
/// `max` apply to `spec.resources.requests`; claims get no defaults.
pub fn validate_claim(
    claim: &PersistentVolumeClaim,
    ranges: &[LimitRange],
) -> Result<(), Violations> {
    let requests = resource_list(
        claim
            .spec
            .as_ref()
            .and_then(|spec| spec.resources.as_ref())
            .and_then(|resources| resources.requests.as_ref()),
    );
    first_broken(ranges, |range| {
        let mut violations = Vec::new();
        for item in items(range).filter(|item| item.type_ == PERSISTENT_VOLUME_CLAIM) {
            let limits = ResourceList::new();
            let check = Check {
                limit_type: PERSISTENT_VOLUME_CLAIM,
                requests: &requests,
                limits: &limits,
            };
            for (resource, enforced) in resource_list(item.min.as_ref()) {
                violations.extend(check.min(&resource, enforced));
            }
            for (resource, enforced) in resource_list(item.max.as_ref()) {
                violations.extend(check.max_request(&resource, enforced));
            }
        }
        violations
    })
}

fn first_broken(
    ranges: &[LimitRange],
    violations_of: impl Fn(&LimitRange) -> Vec<Violation>,
) -> Result<(), Violations> {
    for range in ranges {
        let violations = violations_of(range);
        if !violations.is_empty() {
            return Err(Violations(violations));
        }
    }
    Ok(())
}

fn pod_violations(pod: &Pod, range: &LimitRange) -> Vec<Violation> {
    let mut violations = Vec::new();
    let Some(spec) = pod.spec.as_ref() else {
        return violations;
    };
    for item in items(range) {
        match item.type_.as_str() {
            CONTAINER => {
                for container in spec
                    .containers
                    .iter()
                    .chain(spec.init_containers.iter().flatten())
                {
                    let resources = container.resources.as_ref();
                    let requests = resource_list(resources.and_then(|r| r.requests.as_ref()));
                    let limits = resource_list(resources.and_then(|r| r.limits.as_ref()));
                    let check = Check {
                        limit_type: CONTAINER,
                        requests: &requests,
                        limits: &limits,
                    };
                    violations.extend(check.item(item));
                }
            }
            POD => {
                let requests = pod_requests(pod, Overhead::Exclude);
                let limits = pod_limits(pod, Overhead::Exclude);
                let check = Check {
                    limit_type: POD,
                    requests: &requests,
                    limits: &limits,
                };
                violations.extend(check.item(item));
            }
            _ => {}
        }
    }
    violations
}

/// The requests and limits of one container (or one pod) under one item type.
struct Check<'a> {
    limit_type: &'static str,
    requests: &'a ResourceList,
    limits: &'a ResourceList,
}

impl Check<'_> {
    /// Every constraint of `item`: min, then max, then ratio, each in name order.
    fn item(&self, item: &LimitRangeItem) -> Vec<Violation> {
        let min = resource_list(item.min.as_ref());
        let max = resource_list(item.max.as_ref());
        let ratio = resource_list(item.max_limit_request_ratio.as_ref());
        let min = min.iter().filter_map(|(r, e)| self.min(r, *e));
        let max = max.iter().filter_map(|(r, e)| self.max(r, *e));
        let ratio = ratio.iter().filter_map(|(r, e)| self.ratio(r, *e));
        min.chain(max).chain(ratio).collect()
    }

    fn violation(&self, resource: &str, enforced: Quantity, problem: Problem) -> Violation {
        Violation {
            limit_type: self.limit_type.to_owned(),
            resource: resource.to_owned(),
            enforced,
            problem,
        }
    }

    /// `minConstraint`: a request is required and neither it nor the limit
    /// may be below the minimum.
    fn min(&self, resource: &str, enforced: Quantity) -> Option<Violation> {
        let problem = match (self.requests.get(resource), self.limits.get(resource)) {
            (None, _) => Problem::MinNoRequest,
            (Some(request), _) if *request < enforced => Problem::RequestBelowMin(*request),
            (_, Some(limit)) if *limit < enforced => Problem::LimitBelowMin(*limit),
            _ => return None,
        };
        Some(self.violation(resource, enforced, problem))
    }

    /// `maxConstraint`: a limit is required and neither it nor the request
    /// may be above the maximum.
    fn max(&self, resource: &str, enforced: Quantity) -> Option<Violation> {
        let problem = match (self.limits.get(resource), self.requests.get(resource)) {
            (None, _) => Problem::MaxNoLimit,
            (Some(limit), _) if *limit > enforced => Problem::LimitAboveMax(*limit),
            (_, Some(request)) if *request > enforced => Problem::RequestAboveMax(*request),
            _ => return None,
        };
        Some(self.violation(resource, enforced, problem))
    }

    /// `maxRequestConstraint`: for claims, which have no limits.
    fn max_request(&self, resource: &str, enforced: Quantity) -> Option<Violation> {
        let problem = match self.requests.get(resource) {
            None => Problem::MaxNoRequest,
            Some(request) if *request > enforced => Problem::RequestAboveMax(*request),
            Some(_) => return None,
        };
        Some(self.violation(resource, enforced, problem))
    }

    /// `limitRequestRatioConstraint`: both set and non-zero, and the limit
    /// at most `enforced` times the request.
    fn ratio(&self, resource: &str, enforced: Quantity) -> Option<Violation> {
        let request = self.requests.get(resource).filter(|q| !q.is_zero());
        let limit = self.limits.get(resource).filter(|q| !q.is_zero());
        let problem = match (request, limit) {
            (None, _) => Problem::RatioNoRequest,
            (_, None) => Problem::RatioNoLimit,
            (Some(request), Some(limit)) if exceeds_ratio(*limit, *request, enforced) => {
                Problem::RatioAboveMax(limit.as_f64() / request.as_f64())
            }
            _ => return None,
        };
        Some(self.violation(resource, enforced, problem))
    }
}

/// Whether `limit > request × ratio`, exactly when the products fit.
fn exceeds_ratio(limit: Quantity, request: Quantity, ratio: Quantity) -> bool {
    // In nano-units: limit·10⁹ against request·ratio.
    let left = limit.nanos().unsigned_abs().checked_mul(1_000_000_000);
    let right = request
        .nanos()
        .unsigned_abs()
        .checked_mul(ratio.nanos().unsigned_abs());
    match (left, right) {
        (Some(left), Some(right)) => left > right,
        _ => limit.as_f64().abs() > request.as_f64().abs() * ratio.as_f64(),
    }
}

/// One constraint of one LimitRange item that an object breaks.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// The item's type: `Container`, `Pod` or `PersistentVolumeClaim`.
    pub limit_type: String,
    /// The resource (`cpu`, `memory`, `storage`…).
    pub resource: String,
    /// The item's minimum, maximum or ratio.
    pub enforced: Quantity,
    pub problem: Problem,
}

/// How a constraint is broken.
#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    /// A minimum applies and there is no request.
    MinNoRequest,
    /// The request is below the minimum.
    RequestBelowMin(Quantity),
    /// The limit is below the minimum.
    LimitBelowMin(Quantity),
    /// A maximum applies and there is no limit.
    MaxNoLimit,
    /// A maximum applies to a claim and it requests nothing.
    MaxNoRequest,
    /// The limit is above the maximum.
    LimitAboveMax(Quantity),
    /// The request is above the maximum.
    RequestAboveMax(Quantity),
    /// A ratio applies and there is no request, or it is zero.
    RatioNoRequest,
    /// A ratio applies and there is no limit, or it is zero.
    RatioNoLimit,
    /// Limit over request is above the ratio (the observed ratio).
    RatioAboveMax(f64),
}

impl fmt::Display for Violation {
    /// Kubernetes' messages, word for word.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Violation {
            limit_type,
            resource,
            enforced,
            problem,
        } = self;
        let minimum = format!("minimum {resource} usage per {limit_type} is {enforced}");
        let maximum = format!("maximum {resource} usage per {limit_type} is {enforced}");
        let ratio = format!("{resource} max limit to request ratio per {limit_type} is {enforced}");
        match problem {
            Problem::MinNoRequest => write!(f, "{minimum}.  No request is specified"),
            Problem::RequestBelowMin(request) => write!(f, "{minimum}, but request is {request}"),
            Problem::LimitBelowMin(limit) => write!(f, "{minimum}, but limit is {limit}"),
            Problem::MaxNoLimit => write!(f, "{maximum}.  No limit is specified"),
            Problem::MaxNoRequest => write!(f, "{maximum}.  No request is specified"),
            Problem::LimitAboveMax(limit) => write!(f, "{maximum}, but limit is {limit}"),
            Problem::RequestAboveMax(request) => write!(f, "{maximum}, but request is {request}"),
            Problem::RatioNoRequest => {
                write!(f, "{ratio}, but no request is specified or request is 0")
            }
            Problem::RatioNoLimit => {
                write!(f, "{ratio}, but no limit is specified or limit is 0")
            }
            Problem::RatioAboveMax(observed) => {
                write!(f, "{ratio}, but provided ratio is {observed:.6}")
            }
        }
    }
}

/// Every violation of the LimitRange an object breaks. Printed as
/// Kubernetes aggregates errors: one alone as it is, several as
/// `[first, second]`, repeated messages once.
#[derive(Clone, Debug, PartialEq)]
pub struct Violations(pub Vec<Violation>);

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut messages: Vec<String> = Vec::new();
        for violation in &self.0 {
            let message = violation.to_string();
            if !messages.contains(&message) {
                messages.push(message);
            }
        }
        match messages.as_slice() {
            [one] => f.write_str(one),
            many => write!(f, "[{}]", many.join(", ")),
        }
    }
}

impl std::error::Error for Violations {}

#[cfg(test)]
mod tests {
    use wharf_sdk::k8s_openapi::api::core::v1::{
        LimitRangeSpec, PersistentVolumeClaimSpec, PodSpec, ResourceRequirements,
        VolumeResourceRequirements,
    };
    use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn wire(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, WireQuantity>> {
        (!pairs.is_empty()).then(|| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), WireQuantity((*v).to_owned())))
                .collect()
        })
    }

    /// A LimitRange item: `item("Container").min(&[("cpu", "100m")])`.
    struct Item(LimitRangeItem);

    fn item(type_: &str) -> Item {
        Item(LimitRangeItem {
            type_: type_.to_owned(),
            ..LimitRangeItem::default()
        })
    }

    impl Item {
        fn min(mut self, pairs: &[(&str, &str)]) -> Self {
            self.0.min = wire(pairs);
            self
        }
        fn max(mut self, pairs: &[(&str, &str)]) -> Self {
            self.0.max = wire(pairs);
            self
        }
        fn ratio(mut self, pairs: &[(&str, &str)]) -> Self {
            self.0.max_limit_request_ratio = wire(pairs);
            self
        }
        fn default(mut self, pairs: &[(&str, &str)]) -> Self {
            self.0.default = wire(pairs);
            self
        }
        fn default_request(mut self, pairs: &[(&str, &str)]) -> Self {
            self.0.default_request = wire(pairs);
            self
        }
    }

    fn range(items: Vec<Item>) -> LimitRange {
        LimitRange {
            metadata: ObjectMeta {
                name: Some("limits".to_owned()),
                ..ObjectMeta::default()
            },
            spec: Some(LimitRangeSpec {
                limits: items.into_iter().map(|item| item.0).collect(),
            }),
        }
    }

    /// A container: `container("app").requests(&[("cpu", "1")])`.
    struct ContainerBuilder(Container);

    fn container(name: &str) -> ContainerBuilder {
        ContainerBuilder(Container {
            name: name.to_owned(),
            ..Container::default()
        })
    }

    impl ContainerBuilder {
        fn resources(&mut self) -> &mut ResourceRequirements {
            self.0.resources.get_or_insert_default()
        }
        fn requests(mut self, pairs: &[(&str, &str)]) -> Self {
            self.resources().requests = wire(pairs);
            self
        }
        fn limits(mut self, pairs: &[(&str, &str)]) -> Self {
            self.resources().limits = wire(pairs);
            self
        }
    }

    fn pod(containers: Vec<ContainerBuilder>, init: Vec<ContainerBuilder>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers: containers.into_iter().map(|c| c.0).collect(),
                init_containers: (!init.is_empty())
                    .then(|| init.into_iter().map(|c| c.0).collect()),
                ..PodSpec::default()
            }),
            ..Pod::default()
        }
    }

    fn resources_of(container: &Container) -> (String, String) {
        let print = |list: Option<&BTreeMap<String, WireQuantity>>| {
            list.into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v.0))
                .collect::<Vec<_>>()
                .join(",")
        };
        let resources = container.resources.as_ref();
        (
            print(resources.and_then(|r| r.requests.as_ref())),
            print(resources.and_then(|r| r.limits.as_ref())),
        )
    }

    #[test]
    fn defaults_fill_only_what_containers_leave_out() {
        let defaults = range(vec![
            item(CONTAINER)
                .default(&[("cpu", "500m"), ("memory", "512Mi")])
                .default_request(&[("cpu", "0.1"), ("memory", "256Mi")]),
            item(POD).max(&[("cpu", "4")]),
        ]);
        let mut pod = pod(
            vec![
                container("app"),
                container("tuned")
                    .requests(&[("cpu", "200m")])
                    .limits(&[("memory", "1Gi")]),
            ],
            vec![container("setup")],
        );
        let annotation = apply_defaults(&mut pod, &[defaults]);
        let expected = "LimitRanger plugin set: cpu, memory request for container app; \
            cpu, memory limit for container app; memory request for container tuned; \
            cpu limit for container tuned; cpu, memory request for init container setup; \
            cpu, memory limit for init container setup";
        assert_eq!(annotation.as_deref(), Some(expected));
        assert_eq!(pod.metadata.annotations.unwrap()[ANNOTATION], expected);
        let spec = pod.spec.unwrap();
        let cases = [
            (
                &spec.containers[0],
                "cpu=100m,memory=256Mi",
                "cpu=500m,memory=512Mi",
            ),
            (
                &spec.containers[1],
                "cpu=200m,memory=256Mi",
                "cpu=500m,memory=1Gi",
            ),
            (
                &spec.init_containers.as_ref().unwrap()[0],
                "cpu=100m,memory=256Mi",
                "cpu=500m,memory=512Mi",
            ),
        ];
        for (container, requests, limits) in cases {
            assert_eq!(
                resources_of(container),
                (requests.to_owned(), limits.to_owned()),
                "{}",
                container.name
            );
        }
    }

    #[test]
    fn defaults_come_from_each_limit_range_in_turn() {
        let first = range(vec![item(CONTAINER).default_request(&[("cpu", "100m")])]);
        let second = range(vec![
            item(CONTAINER).default_request(&[("cpu", "1"), ("memory", "1Gi")]),
        ]);
        let mut pod = pod(vec![container("app")], vec![]);
        let annotation = apply_defaults(&mut pod, &[first, second]);
        // The second LimitRange only adds memory, and its note replaces the first's.
        assert_eq!(
            annotation.as_deref(),
            Some("LimitRanger plugin set: memory request for container app")
        );
        assert_eq!(
            resources_of(&pod.spec.unwrap().containers[0]).0,
            "cpu=100m,memory=1Gi"
        );
    }

    #[test]
    fn nothing_to_default_changes_nothing() {
        let ranges = [range(vec![item(CONTAINER).max(&[("cpu", "1")])])];
        let mut pod = pod(vec![container("app").requests(&[("cpu", "1")])], vec![]);
        let before = pod.clone();
        assert_eq!(apply_defaults(&mut pod, &ranges), None);
        assert_eq!(apply_defaults(&mut pod, &[]), None);
        assert_eq!(pod, before);
    }

    #[test]
    fn pods_are_checked_with_kubernetes_messages() {
        let app = |requests: &[(&str, &str)], limits: &[(&str, &str)]| {
            pod(
                vec![container("app").requests(requests).limits(limits)],
                vec![],
            )
        };
        let cases: Vec<(&str, LimitRange, Pod, Option<&str>)> = vec![
            (
                "within min and max",
                range(vec![
                    item(CONTAINER).min(&[("cpu", "100m")]).max(&[("cpu", "1")]),
                ]),
                app(&[("cpu", "200m")], &[("cpu", "500m")]),
                None,
            ),
            (
                "request below the minimum",
                range(vec![item(CONTAINER).min(&[("cpu", "100m")])]),
                app(&[("cpu", "50m")], &[]),
                Some("minimum cpu usage per Container is 100m, but request is 50m"),
            ),
            (
                "limit below the minimum",
                range(vec![item(CONTAINER).min(&[("cpu", "100m")])]),
                app(&[("cpu", "100m")], &[("cpu", "0.05")]),
                Some("minimum cpu usage per Container is 100m, but limit is 50m"),
            ),
            (
                "no request under a minimum",
                range(vec![item(CONTAINER).min(&[("memory", "1Mi")])]),
                app(&[], &[]),
                Some("minimum memory usage per Container is 1Mi.  No request is specified"),
            ),
            (
                "limit above the maximum",
                range(vec![item(CONTAINER).max(&[("memory", "1Gi")])]),
                app(&[], &[("memory", "2Gi")]),
                Some("maximum memory usage per Container is 1Gi, but limit is 2Gi"),
            ),
            (
                "request above the maximum",
                range(vec![item(CONTAINER).max(&[("memory", "1Gi")])]),
                app(&[("memory", "1.5Gi")], &[("memory", "1Gi")]),
                Some("maximum memory usage per Container is 1Gi, but request is 1536Mi"),
            ),
            (
                "no limit under a maximum",
                range(vec![item(CONTAINER).max(&[("cpu", "2")])]),
                app(&[("cpu", "1")], &[]),
                Some("maximum cpu usage per Container is 2.  No limit is specified"),
            ),
            (
                "ratio above the maximum",
                range(vec![item(CONTAINER).ratio(&[("cpu", "2")])]),
                app(&[("cpu", "250m")], &[("cpu", "1")]),
                Some(
                    "cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000",
                ),
            ),
            (
                "ratio exactly at the maximum",
                range(vec![item(CONTAINER).ratio(&[("cpu", "1500m")])]),
                app(&[("cpu", "2")], &[("cpu", "3")]),
                None,
            ),
            (
                "ratio without a request",
                range(vec![item(CONTAINER).ratio(&[("memory", "2")])]),
                app(&[("memory", "0")], &[("memory", "1Gi")]),
                Some(
                    "memory max limit to request ratio per Container is 2, but no request is specified or request is 0",
                ),
            ),
            (
                "ratio without a limit",
                range(vec![item(CONTAINER).ratio(&[("memory", "2")])]),
                app(&[("memory", "1Gi")], &[]),
                Some(
                    "memory max limit to request ratio per Container is 2, but no limit is specified or limit is 0",
                ),
            ),
            (
                "every violation of the LimitRange, joined",
                range(vec![
                    item(CONTAINER)
                        .min(&[("cpu", "100m"), ("memory", "64Mi")])
                        .max(&[("cpu", "1")]),
                ]),
                app(&[("cpu", "50m"), ("memory", "32Mi")], &[("cpu", "2")]),
                Some(
                    "[minimum cpu usage per Container is 100m, but request is 50m, \
                    minimum memory usage per Container is 64Mi, but request is 32Mi, \
                    maximum cpu usage per Container is 1, but limit is 2]",
                ),
            ),
            (
                "init containers are checked too",
                range(vec![item(CONTAINER).max(&[("cpu", "1")])]),
                pod(
                    vec![container("app").limits(&[("cpu", "1")])],
                    vec![container("setup").limits(&[("cpu", "2")])],
                ),
                Some("maximum cpu usage per Container is 1, but limit is 2"),
            ),
            (
                "the same message twice is said once",
                range(vec![item(CONTAINER).max(&[("cpu", "1")])]),
                pod(
                    vec![
                        container("a").limits(&[("cpu", "2")]),
                        container("b").limits(&[("cpu", "2")]),
                    ],
                    vec![],
                ),
                Some("maximum cpu usage per Container is 1, but limit is 2"),
            ),
            (
                "the pod's total above a Pod maximum",
                range(vec![item(POD).max(&[("memory", "1Gi")])]),
                pod(
                    vec![
                        container("a")
                            .requests(&[("memory", "512Mi")])
                            .limits(&[("memory", "768Mi")]),
                        container("b")
                            .requests(&[("memory", "512Mi")])
                            .limits(&[("memory", "768Mi")]),
                    ],
                    vec![],
                ),
                Some("maximum memory usage per Pod is 1Gi, but limit is 1536Mi"),
            ),
            (
                "the pod's total below a Pod minimum",
                range(vec![item(POD).min(&[("cpu", "1")])]),
                pod(
                    vec![
                        container("a").requests(&[("cpu", "300m")]),
                        container("b").requests(&[("cpu", "300m")]),
                    ],
                    vec![],
                ),
                Some("minimum cpu usage per Pod is 1, but request is 600m"),
            ),
            (
                "a Pod ratio over the totals",
                range(vec![item(POD).ratio(&[("cpu", "3")])]),
                pod(
                    vec![
                        container("a")
                            .requests(&[("cpu", "100m")])
                            .limits(&[("cpu", "500m")]),
                        container("b")
                            .requests(&[("cpu", "200m")])
                            .limits(&[("cpu", "500m")]),
                    ],
                    vec![],
                ),
                Some("cpu max limit to request ratio per Pod is 3, but provided ratio is 3.333333"),
            ),
            (
                "claim items do not apply to pods",
                range(vec![
                    item(PERSISTENT_VOLUME_CLAIM).min(&[("storage", "1Gi")]),
                ]),
                app(&[], &[]),
                None,
            ),
        ];
        for (case, range, pod, expected) in cases {
            let result = validate(&pod, &[range]).map_err(|violations| violations.to_string());
            assert_eq!(
                result,
                expected.map_or(Ok(()), |m| Err(m.to_owned())),
                "{case}"
            );
        }
    }

    #[test]
    fn validation_stops_at_the_first_limit_range_broken() {
        let lenient = range(vec![item(CONTAINER).max(&[("cpu", "4")])]);
        let strict = range(vec![
            item(CONTAINER).max(&[("cpu", "1")]).min(&[("cpu", "500m")]),
        ]);
        let stricter = range(vec![item(CONTAINER).max(&[("cpu", "100m")])]);
        let pod = pod(
            vec![
                container("app")
                    .requests(&[("cpu", "2")])
                    .limits(&[("cpu", "2")]),
            ],
            vec![],
        );
        let error = validate(&pod, &[lenient, strict, stricter]).unwrap_err();
        assert_eq!(error.0.len(), 1);
        assert_eq!(
            error.0[0].problem,
            Problem::LimitAboveMax(Quantity::parse("2").unwrap())
        );
        assert_eq!(
            error.to_string(),
            "maximum cpu usage per Container is 1, but limit is 2"
        );
    }

    #[test]
    fn defaults_then_validation_admit_a_bare_pod() {
        let ranges = [range(vec![
            item(CONTAINER)
                .default(&[("cpu", "500m")])
                .default_request(&[("cpu", "100m")])
                .min(&[("cpu", "100m")])
                .max(&[("cpu", "1")])
                .ratio(&[("cpu", "5")]),
        ])];
        let mut bare = pod(vec![container("app")], vec![]);
        assert!(validate(&bare, &ranges).is_err());
        apply_defaults(&mut bare, &ranges);
        assert_eq!(validate(&bare, &ranges), Ok(()));
    }

    #[test]
    fn claims_are_checked_against_their_storage_requests() {
        let claim = |storage: Option<&str>| PersistentVolumeClaim {
            spec: Some(PersistentVolumeClaimSpec {
                resources: Some(VolumeResourceRequirements {
                    requests: storage.and_then(|s| wire(&[("storage", s)])),
                    limits: None,
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
            ..PersistentVolumeClaim::default()
        };
        let ranges = [range(vec![
            item(PERSISTENT_VOLUME_CLAIM)
                .min(&[("storage", "1Gi")])
                .max(&[("storage", "10Gi")]),
            item(CONTAINER).max(&[("cpu", "1")]),
        ])];
        let cases = [
            (Some("5Gi"), None),
            (
                Some("500Mi"),
                Some(
                    "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi",
                ),
            ),
            (
                Some("20Gi"),
                Some(
                    "maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi",
                ),
            ),
            (
                None,
                Some(
                    "[minimum storage usage per PersistentVolumeClaim is 1Gi.  No request is specified, \
                    maximum storage usage per PersistentVolumeClaim is 10Gi.  No request is specified]",
                ),
            ),
        ];
        for (storage, expected) in cases {
            let result = validate_claim(&claim(storage), &ranges).map_err(|v| v.to_string());
            assert_eq!(
                result,
                expected.map_or(Ok(()), |m| Err(m.to_owned())),
                "{storage:?}"
            );
        }
    }
}
