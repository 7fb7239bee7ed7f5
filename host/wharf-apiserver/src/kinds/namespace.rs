//! The strategy of `Namespace`.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::table::text;
use crate::validation::{ensure_object, set_default};

pub struct Namespace;

#[async_trait::async_trait]
impl Strategy for Namespace {
    /// kube's NamespaceLifecycle admission: these always exist.
    fn check_delete(&self, name: &str) -> crate::error::ApiResult<()> {
        if crate::objects::IMMORTAL_NAMESPACES.contains(&name) {
            return Err(crate::error::ApiError::Forbidden(format!(
                "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
            )));
        }
        Ok(())
    }

    /// `spec.finalizers` (`kubernetes`) hold it until the namespace
    /// controller has emptied it.
    fn holds_deletion(&self, object: &Value) -> bool {
        object
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
    }

    /// As kube: `spec.finalizers` change only through `namespaces/finalize`.
    fn prepare_for_update(&self, current: &Value, next: &mut Value) {
        let finalizers = current
            .pointer("/spec/finalizers")
            .cloned()
            .unwrap_or_else(|| json!([]));
        ensure_object(next, "spec")["finalizers"] = finalizers;
    }

    fn mark_deleting(&self, object: &mut Value) {
        object["status"]["phase"] = json!("Terminating");
    }

    fn default(&self, object: &mut Value) {
        let spec = ensure_object(object, "spec");
        set_default(spec, "finalizers", json!(["kubernetes"]));
        set_default(ensure_object(object, "status"), "phase", json!("Active"));
    }

    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            ("Status", "string", 0, "The status of the namespace"),
            AGE,
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let at = |path: &str| object.pointer(path);
        vec![name, json!(text(at("/status/phase"))), created]
    }
}
