//! Built-in kinds served in a second form from the objects of another, as
//! kube serves them: `events.k8s.io/v1` Events are core Events, and
//! `autoscaling/v1` HorizontalPodAutoscalers are `autoscaling/v2` ones.
//! Requests for the second form are turned into requests for the stored
//! kind at the handler (its strategy validates, its table prints, its
//! watch feeds), the bodies converted on the way in and the objects on the
//! way out, with kube's field mapping (what v1 of the autoscaler cannot
//! say travels in kube's `autoscaling.alpha.kubernetes.io/…` annotations).

use serde_json::{Map, Value, json};

use crate::resources::{Registry, ResourceDef};

/// The stored kind `resource` is served from, if it is a converted form.
pub fn storage_of(
    registry: &Registry,
    resource: &ResourceDef,
) -> Option<std::sync::Arc<ResourceDef>> {
    let (group, version, kind) = resource.converted_from?;
    registry.by_kind(group, version, kind)
}

/// A stored object as `served` shows it.
pub fn from_storage(served: &ResourceDef, object: Value) -> Value {
    let out = match (served.group, served.kind) {
        ("events.k8s.io", "Event") => event_from_core(object),
        ("autoscaling", "HorizontalPodAutoscaler") => hpa_v1_from_v2(object),
        _ => object,
    };
    typed_as(out, served)
}

/// An object of the `served` form as the stored kind (`storage`) holds it.
pub fn to_storage(served: &ResourceDef, storage: &ResourceDef, object: Value) -> Value {
    let out = match (served.group, served.kind) {
        ("events.k8s.io", "Event") => event_to_core(object),
        ("autoscaling", "HorizontalPodAutoscaler") => hpa_v2_from_v1(object),
        _ => object,
    };
    typed_as(out, storage)
}

/// The object with `resource`'s `apiVersion` and `kind`.
fn typed_as(mut object: Value, resource: &ResourceDef) -> Value {
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".into(), json!(resource.api_version()));
        map.insert("kind".into(), json!(resource.kind));
    }
    object
}

/// events.k8s.io/v1 field ↔ core/v1 field.
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn rename(object: Value, pairs: impl Iterator<Item = (&'static str, &'static str)>) -> Value {
    let Value::Object(mut map) = object else {
        return object;
    };
    let mut renamed = Map::new();
    for (from, to) in pairs {
        if let Some(value) = map.remove(from) {
            renamed.insert(to.to_string(), value);
        }
    }
    map.extend(renamed);
    Value::Object(map)
}

fn event_from_core(object: Value) -> Value {
    let mut event = rename(object, EVENT_FIELDS.iter().map(|(new, old)| (*old, *new)));
    // events.k8s.io/v1 always has an eventTime (clients require it): an
    // Event written without one (core/v1 recorders) shows when it was last
    // seen, as a MicroTime.
    if event.get("eventTime").is_none_or(Value::is_null) {
        let seen = [
            "/deprecatedLastTimestamp",
            "/deprecatedFirstTimestamp",
            "/metadata/creationTimestamp",
        ]
        .iter()
        .find_map(|at| event.pointer(at).and_then(Value::as_str))
        .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok());
        if let Some(seen) = seen {
            event["eventTime"] = json!(seen.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
        }
    }
    event
}

fn event_to_core(object: Value) -> Value {
    rename(object, EVENT_FIELDS.iter().copied())
}

const METRICS: &str = "autoscaling.alpha.kubernetes.io/metrics";
const CURRENT_METRICS: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
const CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";
const BEHAVIOR: &str = "autoscaling.alpha.kubernetes.io/behavior";

fn is_cpu_utilization(metric: &Value) -> bool {
    metric["type"] == "Resource"
        && metric.pointer("/resource/name") == Some(&json!("cpu"))
        && metric.pointer("/resource/target/type") == Some(&json!("Utilization"))
}

fn annotate(object: &mut Value, key: &str, value: &Value) {
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    if !object["metadata"]["annotations"].is_object() {
        object["metadata"]["annotations"] = json!({});
    }
    object["metadata"]["annotations"][key] = json!(value.to_string());
}

/// autoscaling/v2 → v1: the CPU utilization target in its field, every
/// other metric, the behavior and the conditions in kube's annotations.
fn hpa_v1_from_v2(mut object: Value) -> Value {
    let metrics = object["spec"]
        .as_object_mut()
        .and_then(|spec| spec.remove("metrics"))
        .and_then(|m| m.as_array().cloned())
        .unwrap_or_default();
    let (cpu, others): (Vec<Value>, Vec<Value>) = metrics.into_iter().partition(is_cpu_utilization);
    if let Some(target) = cpu
        .first()
        .and_then(|m| m.pointer("/resource/target/averageUtilization"))
    {
        object["spec"]["targetCPUUtilizationPercentage"] = target.clone();
    }
    if !others.is_empty() {
        annotate(&mut object, METRICS, &json!(others));
    }
    if let Some(behavior) = object["spec"]
        .as_object_mut()
        .and_then(|s| s.remove("behavior"))
    {
        annotate(&mut object, BEHAVIOR, &behavior);
    }
    if let Some(status) = object.get_mut("status").and_then(Value::as_object_mut) {
        let current = status
            .remove("currentMetrics")
            .and_then(|m| m.as_array().cloned())
            .unwrap_or_default();
        let conditions = status.remove("conditions");
        let (cpu, others): (Vec<Value>, Vec<Value>) = current.into_iter().partition(|m| {
            m["type"] == "Resource" && m.pointer("/resource/name") == Some(&json!("cpu"))
        });
        if let Some(now) = cpu
            .first()
            .and_then(|m| m.pointer("/resource/current/averageUtilization"))
        {
            status.insert("currentCPUUtilizationPercentage".into(), now.clone());
        }
        if !others.is_empty() {
            annotate(&mut object, CURRENT_METRICS, &json!(others));
        }
        if let Some(conditions) = conditions.filter(|c| c.as_array().is_some_and(|c| !c.is_empty()))
        {
            annotate(&mut object, CONDITIONS, &conditions);
        }
    }
    object
}

/// autoscaling/v1 → v2: the reverse of [`hpa_v1_from_v2`].
fn hpa_v2_from_v1(mut object: Value) -> Value {
    let mut annotations = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
        .map(std::mem::take)
        .unwrap_or_default();
    let mut take = |key: &str| -> Option<Value> {
        annotations
            .remove(key)
            .and_then(|v| v.as_str().and_then(|text| serde_json::from_str(text).ok()))
    };
    let mut metrics: Vec<Value> = Vec::new();
    if let Some(target) = object["spec"]
        .as_object_mut()
        .and_then(|spec| spec.remove("targetCPUUtilizationPercentage"))
    {
        metrics.push(json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}));
    }
    if let Some(Value::Array(others)) = take(METRICS) {
        metrics.extend(others);
    }
    if !metrics.is_empty() {
        object["spec"]["metrics"] = json!(metrics);
    }
    if let Some(behavior) = take(BEHAVIOR) {
        object["spec"]["behavior"] = behavior;
    }
    let current = take(CURRENT_METRICS);
    let conditions = take(CONDITIONS);
    if let Some(status) = object.get_mut("status").and_then(Value::as_object_mut) {
        let mut all: Vec<Value> = Vec::new();
        if let Some(now) = status.remove("currentCPUUtilizationPercentage") {
            all.push(json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": now}}}));
        }
        if let Some(Value::Array(others)) = current {
            all.extend(others);
        }
        if !all.is_empty() {
            status.insert("currentMetrics".into(), json!(all));
        }
        if let Some(conditions) = conditions {
            status.insert("conditions".into(), conditions);
        }
    }
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if annotations.is_empty() {
            metadata.remove("annotations");
        } else {
            metadata.insert("annotations".into(), Value::Object(annotations));
        }
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_rename_their_fields_both_ways() {
        let core = json!({"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"}, "message": "hello", "reason": "Started", "count": 2, "reportingComponent": "kubelet"});
        let new = event_from_core(core.clone());
        assert_eq!(new["regarding"]["name"], "p");
        assert_eq!(new["note"], "hello");
        assert_eq!(new["deprecatedCount"], 2);
        assert_eq!(new["reportingController"], "kubelet");
        assert!(new.get("message").is_none());
        assert_eq!(new.get("eventTime"), None, "no time to show");
        assert_eq!(event_to_core(new), core);
        let seen = json!({"metadata": {"name": "e"}, "lastTimestamp": "2026-01-02T03:04:05Z"});
        assert_eq!(
            event_from_core(seen)["eventTime"],
            "2026-01-02T03:04:05.000000Z"
        );
    }

    #[test]
    fn an_autoscaler_round_trips_through_v1_without_losing_its_other_metrics() {
        let v2 = json!({
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 5,
                     "metrics": [
                         {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
                         {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
                     ]},
            "status": {"currentReplicas": 2, "desiredReplicas": 2,
                       "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 40}}}]},
        });
        let v1 = hpa_v1_from_v2(v2.clone());
        assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 60);
        assert_eq!(v1["status"]["currentCPUUtilizationPercentage"], 40);
        assert!(
            v1["metadata"]["annotations"][METRICS]
                .as_str()
                .unwrap()
                .contains("memory")
        );
        assert_eq!(hpa_v2_from_v1(v1), v2);
    }
}
