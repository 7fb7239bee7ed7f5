//! The four patch types Kubernetes accepts, chosen by `Content-Type`.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// The most operations a JSON patch may have (kube-apiserver's
/// `maxJSONPatchOperations`).
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// How many bytes a JSON patch's `copy` operations may copy in all: each
/// copy of a value into itself doubles it, so a 1 KB patch of 25 copies
/// would otherwise ask for gigabytes.
pub const MAX_JSON_PATCH_COPY_BYTES: usize = 3 << 20;

/// A patch body and how to apply it.
#[derive(Clone, Debug)]
pub enum Patch {
    /// `application/json-patch+json` (RFC 6902).
    Json(json_patch::Patch),
    /// `application/merge-patch+json` (RFC 7386).
    Merge(Value),
    /// `application/strategic-merge-patch+json`.
    Strategic(Value),
    /// `application/apply-patch+yaml`: server-side apply of a full configuration.
    Apply(Value),
}

impl Patch {
    pub fn parse(content_type: &str, body: &[u8]) -> ApiResult<Self> {
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        let json = || -> ApiResult<Value> {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::BadRequest(format!("error decoding patch: {e}")))
        };
        match media_type {
            "application/json-patch+json" => {
                let patch: json_patch::Patch = serde_json::from_value(json()?).map_err(|e| {
                    ApiError::BadRequest(format!("the JSON patch is malformed: {e}"))
                })?;
                if patch.len() > MAX_JSON_PATCH_OPERATIONS {
                    return Err(ApiError::TooLarge(format!(
                        "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {}",
                        patch.len()
                    )));
                }
                Ok(Patch::Json(patch))
            }
            "application/merge-patch+json" => Ok(Patch::Merge(object(json()?)?)),
            "application/strategic-merge-patch+json" => Ok(Patch::Strategic(object(json()?)?)),
            "application/apply-patch+yaml" => Ok(Patch::Apply(object(
                crate::meta::parse_yaml_or_json(body)?,
            )?)),
            other => Err(ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"
            ))),
        }
    }

    /// The patched object. Directives and merge keys follow Kubernetes.
    pub fn apply_to(&self, current: &Value) -> ApiResult<Value> {
        match self {
            Patch::Json(patch) => {
                // One operation at a time on a copy (what fails leaves the
                // object as it was), counting what the copies copy.
                let mut patched = current.clone();
                let mut copied = 0usize;
                for (index, operation) in patch.iter().enumerate() {
                    if let json_patch::PatchOperation::Copy(copy) = operation
                        && let Some(source) = patched.pointer(copy.from.as_str())
                    {
                        copied = copied.saturating_add(encoded_len(source));
                        if copied > MAX_JSON_PATCH_COPY_BYTES {
                            return Err(ApiError::TooLarge(format!(
                                "the JSON patch's copy operations copy more than {MAX_JSON_PATCH_COPY_BYTES} bytes (at operation {index})"
                            )));
                        }
                    }
                    json_patch::patch(&mut patched, std::slice::from_ref(operation)).map_err(
                        |e| ApiError::Invalid {
                            group: String::new(),
                            kind: "".into(),
                            name: crate::meta::name_of(current).into(),
                            causes: vec![crate::error::Cause::invalid(
                                "",
                                format!(
                                    "the JSON patch could not be applied: operation {index}: {e}"
                                ),
                            )],
                        },
                    )?;
                }
                Ok(patched)
            }
            Patch::Merge(patch) => {
                let mut patched = current.clone();
                json_patch::merge(&mut patched, patch);
                Ok(patched)
            }
            Patch::Strategic(patch) | Patch::Apply(patch) => {
                wharf_patch::strategic_merge(current, patch, &wharf_patch::BuiltinSchema).map_err(
                    |e| {
                        ApiError::BadRequest(format!(
                            "the strategic merge patch could not be applied: {e}"
                        ))
                    },
                )
            }
        }
    }
}

fn object(value: Value) -> ApiResult<Value> {
    if value.is_object() {
        Ok(value)
    } else {
        Err(ApiError::BadRequest(
            "the patch must be a JSON object".into(),
        ))
    }
}

/// How many bytes `value` takes as JSON.
fn encoded_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_json_patch_doubling_a_value_with_copies_is_refused_not_applied() {
        let current = json!({"metadata": {"name": "bomb"}, "data": {"a": "x".repeat(1024)}});
        let copies: Vec<Value> = (0..25)
            .map(|i| json!({"op": "copy", "from": "/data", "path": format!("/data/k{i}")}))
            .collect();
        // Each copy adds the whole of /data to itself: 2^25 KiB uncapped.
        let patch = Patch::parse(
            "application/json-patch+json",
            &serde_json::to_vec(&copies).unwrap(),
        )
        .unwrap();
        let error = patch.apply_to(&current).unwrap_err();
        assert!(
            matches!(&error, ApiError::TooLarge(message) if message.contains("copy operations copy more than")),
            "{error:?}"
        );
        // A few copies are fine.
        let few = Patch::parse(
            "application/json-patch+json",
            &serde_json::to_vec(&copies[..3]).unwrap(),
        )
        .unwrap();
        assert!(few.apply_to(&current).is_ok());
    }

    #[test]
    fn a_json_patch_of_more_than_ten_thousand_operations_is_refused() {
        let operations: Vec<Value> = (0..=MAX_JSON_PATCH_OPERATIONS)
            .map(|_| json!({"op": "test", "path": "/a", "value": 1}))
            .collect();
        let error = Patch::parse(
            "application/json-patch+json",
            &serde_json::to_vec(&operations).unwrap(),
        )
        .unwrap_err();
        assert!(
            matches!(&error, ApiError::TooLarge(message) if message == "The allowed maximum operations in a JSON patch is 10000, got 10001"),
            "{error:?}"
        );
    }

    #[test]
    fn merge_and_json_patches_apply_as_their_rfcs_say() {
        let current =
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1}});
        let merge = Patch::parse(
            "application/merge-patch+json",
            br#"{"metadata":{"labels":{"a":null,"c":"3"}}}"#,
        )
        .unwrap();
        assert_eq!(
            merge.apply_to(&current).unwrap()["metadata"]["labels"],
            json!({"b": "2", "c": "3"})
        );
        let json_patch = Patch::parse(
            "application/json-patch+json",
            br#"[{"op":"replace","path":"/spec/replicas","value":4}]"#,
        )
        .unwrap();
        assert_eq!(
            json_patch.apply_to(&current).unwrap()["spec"]["replicas"],
            4
        );
        let failing = Patch::parse(
            "application/json-patch+json",
            br#"[{"op":"test","path":"/spec/replicas","value":9}]"#,
        )
        .unwrap();
        assert!(failing.apply_to(&current).is_err());
    }

    #[test]
    fn malformed_patches_are_client_errors() {
        assert!(matches!(
            Patch::parse("application/merge-patch+json", b"{not json"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            Patch::parse("application/merge-patch+json", b"[1]"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            Patch::parse("text/plain", b"{}"),
            Err(ApiError::UnsupportedMediaType(_))
        ));
    }
}
