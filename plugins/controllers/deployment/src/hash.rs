//! The pod-template hash that names a Deployment's ReplicaSets, and the
//! template comparison that finds the ReplicaSet of the current template,
//! over [`wharf_sdk::history`]'s hashing (canonical JSON into FNV-32a, as
//! Kubernetes' `controller.ComputeHash` with its own dump of the value).
//! The new ReplicaSet is found by comparing templates
//! ([`equal_ignore_hash`]), never by its name, as in Kubernetes.

use wharf_sdk::history;
use wharf_sdk::k8s_openapi::api::core::v1::PodTemplateSpec;
use wharf_sdk::serde_json::{self, Value};

use crate::names::POD_TEMPLATE_HASH_LABEL;

/// `ComputeHash`: the `pod-template-hash` of `template`, salted with the
/// Deployment's `status.collisionCount` when it has one.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    history::compute_hash(&template_value(template, false), collision_count)
}

/// `EqualIgnoreHash`: whether two templates are the same but for their
/// `pod-template-hash` label, as `apiequality.Semantic.DeepEqual` compares
/// them (a missing list or map equals an empty one).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    history::semantically_equal(&template_value(a, true), &template_value(b, true))
}

/// The template as JSON, optionally without the hash label.
fn template_value(template: &PodTemplateSpec, without_hash_label: bool) -> Value {
    let mut value = serde_json::to_value(template).expect("a PodTemplateSpec serializes");
    if without_hash_label
        && let Some(labels) = value
            .pointer_mut("/metadata/labels")
            .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use wharf_sdk::k8s_openapi::api::core::v1::{Container, PodSpec};
    use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn template(image: &str, labels: &[(&str, &str)]) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "web".into(),
                    image: Some(image.into()),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
        }
    }

    #[test]
    fn hashes_are_stable_label_safe_and_change_with_the_template_and_collision_count() {
        let a = template("nginx:1", &[("app", "web")]);
        let hash = compute_hash(&a, None);
        assert_eq!(hash, compute_hash(&a.clone(), None));
        assert!(
            hash.len() <= 10 && hash.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{hash}"
        );
        assert_ne!(
            hash,
            compute_hash(&template("nginx:2", &[("app", "web")]), None)
        );
        assert_ne!(hash, compute_hash(&a, Some(1)));
        assert_ne!(compute_hash(&a, Some(1)), compute_hash(&a, Some(2)));
        // Zero collisions salts too, as Kubernetes' non-nil pointer does.
        assert_ne!(hash, compute_hash(&a, Some(0)));
    }

    #[test]
    fn templates_compare_equal_ignoring_the_hash_label_and_empty_fields() {
        let base = template("nginx:1", &[("app", "web")]);
        let cases = [
            (
                "same template",
                template("nginx:1", &[("app", "web")]),
                true,
            ),
            (
                "hash label added",
                template(
                    "nginx:1",
                    &[("app", "web"), (POD_TEMPLATE_HASH_LABEL, "abc")],
                ),
                true,
            ),
            ("other image", template("nginx:2", &[("app", "web")]), false),
            (
                "other label",
                template("nginx:1", &[("app", "web"), ("tier", "a")]),
                false,
            ),
            (
                "empty annotations",
                {
                    let mut t = template("nginx:1", &[("app", "web")]);
                    t.metadata.as_mut().unwrap().annotations = Some(BTreeMap::new());
                    t.spec.as_mut().unwrap().volumes = Some(vec![]);
                    t
                },
                true,
            ),
        ];
        for (name, other, expected) in cases {
            assert_eq!(equal_ignore_hash(&base, &other), expected, "{name}");
            assert_eq!(
                equal_ignore_hash(&other, &base),
                expected,
                "{name}, reversed"
            );
        }
    }
}
