//! The plugin's reviews over a fake cluster holding the LimitRanges.

use wharf_sdk::admission::testing::Harness;
use wharf_sdk::admission::{Decision, Operation, PatchOperation, Response};
use wharf_sdk::k8s_openapi::api::core::v1::LimitRange;
use wharf_sdk::serde_json::{self, Value, json};

use super::LimitRanger;
use crate::limits::ANNOTATION;

/// A LimitRange named `name` in `namespace` with these items.
fn limit_range(namespace: &str, name: &str, items: Value) -> LimitRange {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"limits": items},
    }))
    .unwrap()
}

/// The usual one: containers get 100m/128Mi requested and 500m/256Mi as
/// limits, and may not go over 1 CPU.
fn defaults(namespace: &str) -> LimitRange {
    limit_range(
        namespace,
        "defaults",
        json!([{
            "type": "Container",
            "default": {"cpu": "500m", "memory": "256Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
            "max": {"cpu": "1"},
        }]),
    )
}

fn harness(ranges: Vec<LimitRange>) -> Harness<LimitRanger> {
    let harness = Harness::<LimitRanger>::new(json!({})).unwrap();
    for range in ranges {
        harness.cluster.add(range);
    }
    harness
}

/// A CREATE of a pod in `default` whose container `app` has `resources`.
fn create_pod(resources: &str) -> String {
    format!(
        "
operation: CREATE
namespace: default
object:
  apiVersion: v1
  kind: Pod
  metadata: {{name: web, labels: {{app: web}}}}
  spec:
    schedulerName: default-scheduler
    containers:
    - name: app
      image: nginx
      imagePullPolicy: IfNotPresent
      resources: {resources}
"
    )
}

fn denial(response: &Response) -> Option<&str> {
    match &response.decision {
        Decision::Deny(message) => Some(message),
        _ => None,
    }
}

#[test]
fn it_defaults_pods_on_create_and_reads_limit_ranges_from_the_cache() {
    let registration = Harness::<LimitRanger>::new(json!({})).unwrap().registration;
    assert!(registration.mutating);
    assert_eq!(registration.operations, [Operation::Create]);
    let kinds: Vec<&str> = registration.kinds.iter().map(|k| k.kind.as_str()).collect();
    assert_eq!(kinds, ["Pod", "PersistentVolumeClaim"]);
    let reads: Vec<&str> = registration.reads.iter().map(|k| k.kind.as_str()).collect();
    assert_eq!(reads, ["LimitRange"]);
}

#[test]
fn a_pod_without_resources_gets_the_defaults_and_the_annotation() {
    let harness = harness(vec![defaults("default")]);
    let response = harness.review_yaml(&create_pod("{}")).unwrap();
    let pod = harness.patched(&response).unwrap();
    let resources = &pod["spec"]["containers"][0]["resources"];
    assert_eq!(
        resources,
        &json!({
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        })
    );
    assert_eq!(
        pod["metadata"]["annotations"][ANNOTATION],
        "LimitRanger plugin set: cpu, memory request for container app; \
         cpu, memory limit for container app"
    );
    // The patch touches only what the defaults set (the SDK's patches
    // replace arrays whole): nothing else of the pod is removed or rewritten.
    let Decision::Patch(operations) = &response.decision else {
        panic!("expected a patch, got {:?}", response.decision);
    };
    for operation in operations {
        let path = match operation {
            PatchOperation::Add { path, .. } | PatchOperation::Replace { path, .. } => path,
            PatchOperation::Remove { path } => panic!("removes {path}"),
        };
        assert!(
            path.starts_with("/metadata/annotations") || path == "/spec/containers",
            "{path}"
        );
    }
    assert_eq!(pod["spec"]["schedulerName"], "default-scheduler");
    assert_eq!(
        pod["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    assert_eq!(pod["metadata"]["labels"]["app"], "web");
}

#[test]
fn reviews_allow_deny_or_default_as_kubernetes_does() {
    // (case, LimitRanges of `default`, the container's resources, expected:
    // Ok(Some(cpu limit after the patch)) / Ok(None) unchanged / Err(denial))
    type Expected = Result<Option<&'static str>, &'static str>;
    let cases: Vec<(&str, Vec<LimitRange>, &str, Expected)> = vec![
        ("no LimitRange: unchanged", vec![], "{}", Ok(None)),
        (
            "a LimitRange of another namespace: unchanged",
            vec![defaults("other")],
            "{}",
            Ok(None),
        ),
        (
            "everything stated and within: unchanged",
            vec![defaults("default")],
            "{requests: {cpu: 200m, memory: 64Mi}, limits: {cpu: 800m, memory: 128Mi}}",
            Ok(None),
        ),
        (
            "a limit over the maximum",
            vec![defaults("default")],
            "{limits: {cpu: '2'}}",
            Err("maximum cpu usage per Container is 1, but limit is 2"),
        ),
        (
            "a request under the minimum, after defaulting",
            vec![limit_range(
                "default",
                "floor",
                json!([{"type": "Container", "min": {"cpu": "100m"}, "defaultRequest": {"memory": "1Mi"}}]),
            )],
            "{requests: {cpu: 50m}}",
            Err("minimum cpu usage per Container is 100m, but request is 50m"),
        ),
        (
            "validation runs on the defaulted pod: the default limit fits the maximum",
            vec![defaults("default")],
            "{requests: {cpu: 300m}}",
            Ok(Some("500m")),
        ),
        (
            "validation runs on the defaulted pod: a request over the default limit",
            vec![limit_range(
                "default",
                "ratio",
                json!([{"type": "Container", "default": {"cpu": "1"}, "maxLimitRequestRatio": {"cpu": "4"}}]),
            )],
            "{requests: {cpu: 100m}}",
            Err(
                "cpu max limit to request ratio per Container is 4, but provided ratio is 10.000000",
            ),
        ),
        (
            "several violations of one LimitRange, with kube's brackets",
            vec![limit_range(
                "default",
                "strict",
                json!([{"type": "Container", "min": {"cpu": "100m", "memory": "64Mi"}}]),
            )],
            "{requests: {cpu: 50m, memory: 32Mi}}",
            Err(
                "[minimum cpu usage per Container is 100m, but request is 50m, \
                 minimum memory usage per Container is 64Mi, but request is 32Mi]",
            ),
        ),
    ];
    for (case, ranges, resources, expected) in cases {
        let harness = harness(ranges);
        let response = harness.review_yaml(&create_pod(resources)).unwrap();
        let result = match denial(&response) {
            Some(message) => Err(message.to_owned()),
            None => Ok(match response.decision {
                Decision::Allow => None,
                _ => {
                    let pod = harness.patched(&response).unwrap();
                    let limit = &pod["spec"]["containers"][0]["resources"]["limits"]["cpu"];
                    Some(limit.as_str().unwrap_or_default().to_owned())
                }
            }),
        };
        let expected = expected
            .map(|limit| limit.map(str::to_owned))
            .map_err(str::to_owned);
        assert_eq!(result, expected, "{case}");
    }
}

#[test]
fn init_containers_get_defaults_and_containers_keep_theirs() {
    let harness = harness(vec![defaults("default")]);
    let response = harness
        .review_yaml(
            "
operation: CREATE
namespace: default
object:
  apiVersion: v1
  kind: Pod
  metadata: {name: web, annotations: {keep: me}}
  spec:
    initContainers: [{name: setup, image: busybox}]
    containers:
    - {name: tuned, image: nginx, resources: {requests: {cpu: 200m, memory: 64Mi}, limits: {cpu: 800m, memory: 128Mi}}}
    - {name: bare, image: nginx}
",
        )
        .unwrap();
    let pod = harness.patched(&response).unwrap();
    let spec = &pod["spec"];
    assert_eq!(
        spec["initContainers"][0]["resources"]["requests"]["cpu"],
        "100m"
    );
    assert_eq!(spec["containers"][0]["resources"]["limits"]["cpu"], "800m");
    assert_eq!(
        spec["containers"][1]["resources"]["limits"]["memory"],
        "256Mi"
    );
    assert_eq!(pod["metadata"]["annotations"]["keep"], "me");
    assert_eq!(
        pod["metadata"]["annotations"][ANNOTATION],
        "LimitRanger plugin set: cpu, memory request for container bare; \
         cpu, memory limit for container bare; cpu, memory request for init container setup; \
         cpu, memory limit for init container setup"
    );
}

#[test]
fn claims_are_checked_against_their_storage_limits() {
    let storage = limit_range(
        "default",
        "storage",
        json!([{"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}}]),
    );
    let harness = harness(vec![storage]);
    let claim = |size: &str| {
        format!(
            "
operation: CREATE
namespace: default
kind: {{group: '', version: v1, kind: PersistentVolumeClaim}}
object:
  apiVersion: v1
  kind: PersistentVolumeClaim
  metadata: {{name: data}}
  spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: {size}}}}}}}
"
        )
    };
    let small = harness.review_yaml(&claim("500Mi")).unwrap();
    assert_eq!(
        denial(&small),
        Some("minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi")
    );
    assert_eq!(
        harness.review_yaml(&claim("5Gi")).unwrap(),
        Response::allow()
    );
}

#[test]
fn subresources_and_other_operations_are_not_reviewed() {
    let harness = harness(vec![defaults("default")]);
    let status = create_pod("{limits: {cpu: '2'}}") + "subResource: status\n";
    assert_eq!(harness.review_yaml(&status).unwrap(), Response::allow());
    let update = create_pod("{limits: {cpu: '2'}}").replace("CREATE", "UPDATE");
    assert_eq!(harness.review_yaml(&update).unwrap(), Response::allow());
    // Neither read anything.
    assert!(harness.cluster.calls().is_empty());
}
