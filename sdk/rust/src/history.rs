//! Template hashes and `ControllerRevision` history, as Kubernetes'
//! `pkg/controller/history` and `controller.ComputeHash` keep them for
//! Deployments, StatefulSets and DaemonSets.
//!
//! Kubernetes hashes a template by writing it with Go's `spew` printer into
//! an FNV-32a hasher, adds the collision count as eight little-endian
//! bytes, and encodes the decimal sum with `rand.SafeEncodeString`. Wharf
//! hashes the value's canonical JSON (keys sorted, empty and null fields
//! dropped) instead of Go's in-memory dump, which a Rust plugin cannot
//! reproduce. The names therefore differ from a Kubernetes cluster's for the
//! same template, which nothing depends on: controllers find the current
//! revision by comparing contents, never by name, as Kubernetes does.

use k8s_openapi::Metadata;
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::Value;

use crate::backend::ListParams;
use crate::context::Context;
use crate::error::Result;
use crate::owner::{controller_of, owner_reference};
use crate::selector::Selector;

/// The label naming the revision a DaemonSet's or StatefulSet's pod was made
/// from (`controller-revision-hash`; a StatefulSet's pods also carry
/// [`STATEFUL_SET_REVISION_LABEL`]).
pub const CONTROLLER_REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// `apps.StatefulSetRevisionLabel`, the same label under the name a
/// StatefulSet's code uses.
pub const STATEFUL_SET_REVISION_LABEL: &str = CONTROLLER_REVISION_HASH_LABEL;

/// The alphabet of `rand.SafeEncodeString`: no vowels (no words) and no
/// look-alikes (`0`, `1`, `3`, `l`…).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV32_OFFSET_BASIS: u32 = 0x811c_9dc5;
const FNV32_PRIME: u32 = 0x0100_0193;

/// `ComputeHash`: a label-safe hash of `value`, salted with the owner's
/// `status.collisionCount` when it has one (zero salts too, as Kubernetes'
/// non-nil pointer does).
pub fn compute_hash(value: &Value, collision_count: Option<i32>) -> String {
    let mut value = value.clone();
    prune(&mut value);
    let text = serde_json::to_vec(&value).expect("a JSON value serializes");
    let mut hash = fnv32a(FNV32_OFFSET_BASIS, &text);
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(count as u32).to_le_bytes());
        hash = fnv32a(hash, &bytes);
    }
    safe_encode(&hash.to_string())
}

/// Whether two values are equal as `apiequality.Semantic.DeepEqual` compares
/// objects: a missing list, map or field equals an empty or null one.
pub fn semantically_equal(a: &Value, b: &Value) -> bool {
    let (mut a, mut b) = (a.clone(), b.clone());
    prune(&mut a);
    prune(&mut b);
    a == b
}

/// `rand.SafeEncodeString`: each byte mapped into the safe alphabet.
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

/// Removes nulls and empty containers, innermost first (serde_json's maps
/// are sorted, so the text of what is left is canonical); returns whether
/// `value` itself is now empty.
pub fn prune(value: &mut Value) -> bool {
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

/// `ControllerRevisionName`: `parent-hash`, the parent's name cut so that
/// the whole fits in 63 characters (`parent[:52]-hash`).
pub fn revision_name(parent: &str, hash: &str) -> String {
    let parent = if parent.len() > 52 {
        let mut end = 52;
        while !parent.is_char_boundary(end) {
            end -= 1;
        }
        &parent[..end]
    } else {
        parent
    };
    format!("{parent}-{hash}")
}

/// `NewControllerRevision`: the revision `revision` of `parent` holding
/// `data`, labelled with the template's labels and the hash, named
/// [`revision_name`], controlled by `parent`.
pub fn new_revision<K>(
    parent: &K,
    template_labels: Option<&std::collections::BTreeMap<String, String>>,
    data: Value,
    revision: i64,
    collision_count: Option<i32>,
) -> ControllerRevision
where
    K: k8s_openapi::Resource + Metadata<Ty = ObjectMeta>,
{
    let hash = compute_hash(&data, collision_count);
    let mut labels = template_labels.cloned().unwrap_or_default();
    labels.insert(CONTROLLER_REVISION_HASH_LABEL.to_owned(), hash.clone());
    let metadata = parent.metadata();
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(
                metadata.name.as_deref().unwrap_or_default(),
                &hash,
            )),
            namespace: metadata.namespace.clone(),
            labels: Some(labels),
            owner_references: Some(vec![owner_reference(parent)]),
            ..ObjectMeta::default()
        },
        data: RawExtension(data),
        revision: Some(revision),
    }
}

/// The revisions `parent` controls among those in its namespace that
/// `selector` matches (`ListControllerRevisions`, without adoption),
/// oldest revision first.
pub fn owned_revisions<K>(
    ctx: &Context<'_>,
    parent: &K,
    selector: &Selector,
) -> Result<Vec<ControllerRevision>>
where
    K: k8s_openapi::Resource + Metadata<Ty = ObjectMeta>,
{
    let metadata = parent.metadata();
    let uid = metadata.uid.as_deref();
    let mut revisions: Vec<ControllerRevision> = ctx
        .list::<ControllerRevision>(
            metadata.namespace.as_deref(),
            &ListParams {
                label_selector: Some(selector.to_string()),
                ..ListParams::default()
            },
        )?
        .into_iter()
        .filter(|revision| {
            controller_of(revision).is_some_and(|owner| Some(owner.uid.as_str()) == uid)
        })
        .collect();
    sort_revisions(&mut revisions);
    Ok(revisions)
}

/// Sorts revisions by revision number, then creation time, then name
/// (`history.SortControllerRevisions`).
pub fn sort_revisions(revisions: &mut [ControllerRevision]) {
    revisions.sort_by(|a, b| {
        a.revision
            .cmp(&b.revision)
            .then_with(|| {
                let created = |r: &ControllerRevision| r.metadata.creation_timestamp.clone();
                created(a).cmp(&created(b))
            })
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

/// `nextRevision`: one more than the highest revision number, 1 for none.
pub fn next_revision_number(revisions: &[ControllerRevision]) -> i64 {
    revisions
        .iter()
        .filter_map(|r| r.revision)
        .max()
        .unwrap_or(0)
        + 1
}

/// The revisions whose data equals `data` (`FindEqualRevisions`).
pub fn equal_revisions<'r>(
    revisions: &'r [ControllerRevision],
    data: &Value,
) -> Vec<&'r ControllerRevision> {
    revisions
        .iter()
        .filter(|revision| semantically_equal(&revision.data.0, data))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn hashes_ignore_empty_fields_and_change_with_content_and_collisions() {
        let a = json!({"spec": {"containers": [{"name": "web", "image": "nginx:1"}]}});
        let padded = json!({"spec": {"containers": [{"name": "web", "image": "nginx:1", "env": []}], "volumes": null}});
        let hash = compute_hash(&a, None);
        assert_eq!(hash, compute_hash(&padded, None));
        assert!(
            hash.len() <= 10 && hash.bytes().all(|b| SAFE_ALPHABET.contains(&b)),
            "{hash}"
        );
        assert_ne!(
            hash,
            compute_hash(
                &json!({"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}),
                None
            )
        );
        assert_ne!(hash, compute_hash(&a, Some(0)));
        assert_ne!(compute_hash(&a, Some(1)), compute_hash(&a, Some(2)));
        assert!(semantically_equal(&a, &padded));
    }

    #[test]
    fn revision_names_fit_a_label() {
        assert_eq!(revision_name("web", "abc"), "web-abc");
        let long = "x".repeat(60);
        assert_eq!(revision_name(&long, "h"), format!("{}-h", "x".repeat(52)));
    }

    #[test]
    fn revisions_sort_and_number_as_kube_does() {
        let revision = |name: &str, number: i64| ControllerRevision {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            data: RawExtension(json!({"n": number})),
            revision: Some(number),
        };
        let mut revisions = vec![revision("c", 3), revision("a", 1), revision("b", 2)];
        sort_revisions(&mut revisions);
        let names: Vec<_> = revisions
            .iter()
            .map(|r| r.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(next_revision_number(&revisions), 4);
        assert_eq!(next_revision_number(&[]), 1);
        assert_eq!(equal_revisions(&revisions, &json!({"n": 2})).len(), 1);
    }
}
