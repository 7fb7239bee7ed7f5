//! The pod-template hash that names a Deployment's ReplicaSets, and the
//! template comparison that finds the ReplicaSet of the current template.
//!
//! Kubernetes' `controller.ComputeHash` writes the template with Go's
//! `spew` printer into an FNV-32a hasher, adds the collision count as eight
//! little-endian bytes, and encodes the decimal sum with
//! `rand.SafeEncodeString`. Wharf hashes the template's canonical JSON
//! (keys sorted, empty and null fields dropped) instead of Go's in-memory
//! dump, which a Rust plugin cannot reproduce. The names therefore differ
//! from a Kubernetes cluster's for the same template, which nothing depends
//! on: the new ReplicaSet is found by comparing templates
//! ([`equal_ignore_hash`]), never by its name, as in Kubernetes.

use wharf_sdk::k8s_openapi::api::core::v1::PodTemplateSpec;
use wharf_sdk::serde_json::{self, Value};

use crate::names::POD_TEMPLATE_HASH_LABEL;

/// The alphabet of `rand.SafeEncodeString`: no vowels (no words) and no
/// look-alikes (`0`, `1`, `3`, `l`…).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV32_OFFSET_BASIS: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;

/// `ComputeHash`: the `pod-template-hash` of `template`, salted with the
/// Deployment's `status.collisionCount` when it has one.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let text = serde_json::to_vec(&canonical(template, false)).expect("a JSON value serializes");
    let mut hash = fnv32a(FNV32_OFFSET_BASIS, &text);
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(count as u32).to_le_bytes());
        hash = fnv32a(hash, &bytes);
    }
    safe_encode(&hash.to_string())
}

/// `EqualIgnoreHash`: whether two templates are the same but for their
/// `pod-template-hash` label, as `apiequality.Semantic.DeepEqual` compares
/// them (a missing list or map equals an empty one).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    canonical(a, true) == canonical(b, true)
}

/// `rand.SafeEncodeString`: each byte mapped into [`SAFE_ALPHABET`].
pub fn safe_encode(text: &str) -> String {
    text.bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

fn fnv32a(mut hash: u32, bytes: &[u8]) -> u32 {
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(FNV32_PRIME);
    }
    hash
}

/// The template as JSON with nulls, empty lists and empty maps removed
/// (serde_json's maps are sorted, so the text is canonical); optionally
/// without the hash label.
fn canonical(template: &PodTemplateSpec, without_hash_label: bool) -> Value {
    let mut value = serde_json::to_value(template).expect("a PodTemplateSpec serializes");
    if without_hash_label
        && let Some(labels) = value
            .pointer_mut("/metadata/labels")
            .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    prune(&mut value);
    value
}

/// Removes nulls and empty containers, innermost first; returns whether
/// `value` itself is now empty.
fn prune(value: &mut Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => {
            map.retain(|_, field| !prune(field));
            map.is_empty()
        }
        Value::Array(items) => {
            // List elements keep their place (an empty element is still an element).
            for item in items.iter_mut() {
                prune(item);
            }
            items.is_empty()
        }
        _ => false,
    }
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
    fn safe_encoding_maps_digits_as_apimachinery_does() {
        // FNV-32a of nothing is 2166136261; its SafeEncodeString is well known.
        assert_eq!(fnv32a(FNV32_OFFSET_BASIS, b""), 2_166_136_261);
        assert_eq!(safe_encode("2166136261"), "65bb57b6b5");
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn fnv32a_matches_the_reference_vectors() {
        assert_eq!(fnv32a(FNV32_OFFSET_BASIS, b"a"), 0xe40c_292c);
        assert_eq!(fnv32a(FNV32_OFFSET_BASIS, b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn hashes_are_stable_label_safe_and_change_with_the_template_and_collision_count() {
        let a = template("nginx:1", &[("app", "web")]);
        let hash = compute_hash(&a, None);
        assert_eq!(hash, compute_hash(&a.clone(), None));
        assert!(
            hash.len() <= 10 && hash.bytes().all(|b| SAFE_ALPHABET.contains(&b)),
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
