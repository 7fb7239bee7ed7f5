//! The pod to check in a request's object (kube's `DefaultPodSpecExtractor`).
//!
//! kube checks Pods, and the pod templates of the workloads that create
//! them, so that a workload whose pods would be rejected warns when it is
//! written rather than failing silently later: ReplicationController,
//! PodTemplate (core), ReplicaSet, Deployment, StatefulSet, DaemonSet
//! (apps), Job, CronJob (batch).

use wharf_sdk::k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wharf_sdk::serde::Deserialize;
use wharf_sdk::serde_json::Value;

/// The kinds whose pod (or pod template) kube checks, `Pod` first.
pub const KINDS: &[&str] = &[
    "Pod",
    "PodTemplate",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
];

/// The metadata and spec of a Pod, or of the pod template of one of the
/// other [`KINDS`] (the kinds of the core, apps and batch groups; the
/// caller matches the group).
///
/// `None` when there is nothing to check: another kind, or a workload
/// without a pod template (kube skips a nil template, and an absent one
/// would be an empty pod, which passes every check). Also `None` when the
/// pod or template does not decode as one — the API server decodes and
/// validates objects before admission, so that is an object it would not
/// store.
pub fn pod_spec_of(kind: &str, object: &Value) -> Option<(ObjectMeta, PodSpec)> {
    let template = match kind {
        "Pod" => {
            let metadata = decode_or_default::<ObjectMeta>(object.get("metadata"))?;
            let spec = decode_or_default::<PodSpec>(object.get("spec"))?;
            return Some((metadata, spec));
        }
        "PodTemplate" => object.get("template"),
        "ReplicationController"
        | "ReplicaSet"
        | "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "Job" => object.get("spec").and_then(|spec| spec.get("template")),
        "CronJob" => object.pointer("/spec/jobTemplate/spec/template"),
        _ => None,
    };
    let template = PodTemplateSpec::deserialize(template.filter(|t| !t.is_null())?).ok()?;
    Some((
        template.metadata.unwrap_or_default(),
        template.spec.unwrap_or_default(),
    ))
}

/// Decodes `value`, absent or null as the type's default.
fn decode_or_default<'a, T: Deserialize<'a> + Default>(value: Option<&'a Value>) -> Option<T> {
    match value {
        None | Some(Value::Null) => Some(T::default()),
        Some(value) => T::deserialize(value).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_sdk::serde_json::json;

    fn template(container: &str) -> Value {
        json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": container, "image": "nginx"}]},
        })
    }

    fn container_names(found: Option<(ObjectMeta, PodSpec)>) -> Option<Vec<String>> {
        found.map(|(_, spec)| spec.containers.into_iter().map(|c| c.name).collect())
    }

    #[test]
    fn each_kind_kube_checks_yields_its_pod_or_pod_template() {
        let objects = [
            (
                "Pod",
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": template("pod")["spec"]}),
            ),
            ("PodTemplate", json!({"template": template("podtemplate")})),
            (
                "ReplicationController",
                json!({"spec": {"template": template("rc")}}),
            ),
            ("ReplicaSet", json!({"spec": {"template": template("rs")}})),
            (
                "Deployment",
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": template("deploy")}}),
            ),
            (
                "StatefulSet",
                json!({"spec": {"template": template("sts")}}),
            ),
            ("DaemonSet", json!({"spec": {"template": template("ds")}})),
            ("Job", json!({"spec": {"template": template("job")}})),
            (
                "CronJob",
                json!({"spec": {"jobTemplate": {"spec": {"template": template("cron")}}}}),
            ),
        ];
        let want = [
            "pod",
            "podtemplate",
            "rc",
            "rs",
            "deploy",
            "sts",
            "ds",
            "job",
            "cron",
        ];
        assert_eq!(objects.each_ref().map(|(kind, _)| *kind), KINDS);
        for ((kind, object), container) in objects.iter().zip(want) {
            assert_eq!(
                container_names(pod_spec_of(kind, object)),
                Some(vec![container.to_owned()]),
                "{kind}"
            );
        }
        let (metadata, _) = pod_spec_of("Deployment", &objects[4].1).unwrap();
        assert_eq!(
            metadata.labels.unwrap()["app"],
            "web",
            "the template's metadata, not the workload's"
        );
    }

    #[test]
    fn objects_without_a_pod_to_check_yield_none() {
        let cases = [
            ("another kind", "ConfigMap", json!({"data": {"a": "b"}})),
            (
                "a workload of an unknown kind",
                "Rollout",
                json!({"spec": {"template": template("x")}}),
            ),
            (
                "a workload without a template",
                "Deployment",
                json!({"spec": {"replicas": 1}}),
            ),
            (
                "a null template",
                "ReplicationController",
                json!({"spec": {"template": null}}),
            ),
            (
                "a CronJob without a job template",
                "CronJob",
                json!({"spec": {"schedule": "* * * * *"}}),
            ),
            (
                "a template that is not one",
                "Job",
                json!({"spec": {"template": {"spec": {"containers": "nginx"}}}}),
            ),
        ];
        for (name, kind, object) in cases {
            assert!(pod_spec_of(kind, &object).is_none(), "{name}");
        }
    }

    #[test]
    fn a_pod_without_metadata_or_spec_is_an_empty_pod() {
        let (metadata, spec) = pod_spec_of("Pod", &json!({})).unwrap();
        assert_eq!(
            (metadata, spec),
            (ObjectMeta::default(), PodSpec::default())
        );
    }
}
