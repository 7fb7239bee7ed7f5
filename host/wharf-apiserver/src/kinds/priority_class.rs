//! The strategy of `PriorityClass` (scheduling.k8s.io/v1), kube's two
//! system classes, and kube's Priority admission: a pod's
//! `priorityClassName` resolved into `spec.priority` on create.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::Objects;
use crate::error::{ApiError, ApiResult, Cause};
use crate::table::int;
use crate::validation::set_default;

pub struct PriorityClass;

/// The highest value a user's class may have (kube's
/// `HighestUserDefinablePriority`); above it are the system classes.
const HIGHEST_USER_PRIORITY: i64 = 1_000_000_000;

/// kube's system classes, made at start when absent.
pub fn system_classes() -> Vec<Value> {
    [
        ("system-node-critical", 2_000_001_000, "Used for system critical pods that must not be moved from their current node."),
        ("system-cluster-critical", 2_000_000_000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
    ]
    .into_iter()
    .map(|(name, value, description)| {
        json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
               "metadata": {"name": name}, "value": value, "description": description,
               "preemptionPolicy": "PreemptLowerPriority"})
    })
    .collect()
}

#[async_trait::async_trait]
impl Strategy for PriorityClass {
    fn default(&self, object: &mut Value) {
        set_default(object, "preemptionPolicy", json!("PreemptLowerPriority"));
    }

    fn validate(&self, object: &Value, causes: &mut Vec<Cause>) {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        match object["value"].as_i64() {
            None => causes.push(Cause::required("value")),
            Some(value) if value > HIGHEST_USER_PRIORITY && !name.starts_with("system-") => {
                causes.push(Cause::invalid(
                    "value",
                    format!("Invalid value: {value}: maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"),
                ));
            }
            _ => {}
        }
    }

    /// The value and preemption policy never change (kube).
    fn prepare_for_update(&self, current: &Value, next: &mut Value) {
        for field in ["value", "preemptionPolicy"] {
            if let Some(value) = current.get(field) {
                next[field] = value.clone();
            }
        }
    }

    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            (
                "Value",
                "integer",
                0,
                "The integer value of this priority class.",
            ),
            (
                "Global-Default",
                "boolean",
                0,
                "Whether this class is the default for pods without one.",
            ),
            AGE,
            (
                "PreemptionPolicy",
                "string",
                0,
                "The policy for preempting pods with lower priority.",
            ),
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        vec![
            name,
            json!(int(object.get("value"))),
            json!(object["globalDefault"].as_bool().unwrap_or(false)),
            created,
            json!(
                object["preemptionPolicy"]
                    .as_str()
                    .unwrap_or("PreemptLowerPriority")
            ),
        ]
    }
}

/// kube's Priority admission on a pod being created: its class's value
/// (and preemption policy) into the spec, the global default's when it
/// names none; a class that does not exist is refused.
pub async fn admit_pod(objects: &Objects, pod: &mut Value) -> ApiResult<()> {
    let Some(classes) = objects
        .registry
        .by_kind("scheduling.k8s.io", "v1", "PriorityClass")
    else {
        return Ok(());
    };
    let named = pod
        .pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    let class = match &named {
        Some(name) => match objects.get(&classes, None, name).await {
            Ok(stored) => Some(stored.object),
            Err(ApiError::NotFound { .. }) => {
                return Err(ApiError::Forbidden(format!(
                    "pods \"{}\" is forbidden: no PriorityClass with name {name} was found",
                    pod["metadata"]["name"].as_str().unwrap_or_default()
                )));
            }
            Err(error) => return Err(error),
        },
        None => objects
            .list(&classes, None, &crate::objects::ListParams::default())
            .await?
            .items
            .into_iter()
            .find(|c| c["globalDefault"] == true),
    };
    let spec = crate::validation::ensure_object(pod, "spec");
    match class {
        Some(class) => {
            if let Some(given) = spec["priority"].as_i64()
                && Some(given) != class["value"].as_i64()
            {
                return Err(ApiError::Forbidden(
                    "the integer value of priority must not be provided in pod spec; priority admission controller computed the value from the given PriorityClass name".into(),
                ));
            }
            spec["priority"] = class["value"].clone();
            spec["priorityClassName"] = class["metadata"]["name"].clone();
            spec["preemptionPolicy"] = class["preemptionPolicy"].clone();
        }
        None => {
            set_default(spec, "priority", json!(0));
            set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
        }
    }
    Ok(())
}
