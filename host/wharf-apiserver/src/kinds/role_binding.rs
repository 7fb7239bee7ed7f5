//! The strategy of `RoleBinding` and `ClusterRoleBinding`.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::text;

pub struct RoleBinding;

#[async_trait::async_trait]
impl Strategy for RoleBinding {
    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            (
                "Role",
                "string",
                0,
                "RoleRef is the reference to the role this binding grants",
            ),
            AGE,
            ("Users", "string", 1, "Users in the binding"),
            ("Groups", "string", 1, "Groups in the binding"),
            (
                "ServiceAccounts",
                "string",
                1,
                "ServiceAccounts in the binding",
            ),
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let at = |path: &str| object.pointer(path);
        let subjects = object
            .get("subjects")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let of = |kind: &str| {
            subjects
                .iter()
                .filter(|s| s["kind"] == kind)
                .map(|s| {
                    let name = text(s.get("name"));
                    match (kind, s.get("namespace").and_then(Value::as_str)) {
                        ("ServiceAccount", Some(ns)) => format!("{ns}/{name}"),
                        _ => name,
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        vec![
            name,
            json!(format!(
                "{}/{}",
                text(at("/roleRef/kind")),
                text(at("/roleRef/name"))
            )),
            created,
            json!(of("User")),
            json!(of("Group")),
            json!(of("ServiceAccount")),
        ]
    }
}
