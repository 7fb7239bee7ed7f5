//! The four patch types Kubernetes accepts, chosen by `Content-Type`.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

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
                let patch = serde_json::from_value(json()?).map_err(|e| {
                    ApiError::BadRequest(format!("the JSON patch is malformed: {e}"))
                })?;
                Ok(Patch::Json(patch))
            }
            "application/merge-patch+json" => Ok(Patch::Merge(object(json()?)?)),
            "application/strategic-merge-patch+json" => Ok(Patch::Strategic(object(json()?)?)),
            "application/apply-patch+yaml" => Ok(Patch::Apply(object(
                crate::body::parse_yaml_or_json(body)?,
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
                let mut patched = current.clone();
                json_patch::patch(&mut patched, patch).map_err(|e| ApiError::Invalid {
                    group: String::new(),
                    kind: "".into(),
                    name: crate::objects::name_of(current).into(),
                    causes: vec![crate::error::Cause::invalid(
                        "",
                        format!("the JSON patch could not be applied: {e}"),
                    )],
                })?;
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
