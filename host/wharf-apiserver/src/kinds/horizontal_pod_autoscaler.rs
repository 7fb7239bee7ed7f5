//! The strategy of `HorizontalPodAutoscaler` (autoscaling/v2).

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::error::Cause;
use crate::table::{int, text};
use crate::validation::{ensure_object, set_default};

pub struct HorizontalPodAutoscaler;

#[async_trait::async_trait]
impl Strategy for HorizontalPodAutoscaler {
    /// kube's autoscaling/v2 defaults: one replica at least, and 80% CPU
    /// when no metric is named.
    fn default(&self, object: &mut Value) {
        let spec = ensure_object(object, "spec");
        set_default(spec, "minReplicas", json!(1));
        if spec["metrics"].as_array().is_none_or(|m| m.is_empty()) {
            spec["metrics"] = json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80}}}]);
        }
    }

    fn validate(&self, object: &Value, causes: &mut Vec<Cause>) {
        let max = object.pointer("/spec/maxReplicas").and_then(Value::as_i64);
        let min = object
            .pointer("/spec/minReplicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        match max {
            None => causes.push(Cause::required("spec.maxReplicas")),
            Some(max) if max < min => causes.push(Cause::invalid(
                "spec.maxReplicas",
                format!("Invalid value: {max}: must be greater than or equal to `minReplicas`"),
            )),
            _ => {}
        }
        for field in ["kind", "name"] {
            if object
                .pointer(&format!("/spec/scaleTargetRef/{field}"))
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                causes.push(Cause::required(format!("spec.scaleTargetRef.{field}")));
            }
        }
    }

    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            (
                "Reference",
                "string",
                0,
                "The target of the horizontal pod autoscaler.",
            ),
            (
                "Targets",
                "string",
                0,
                "The current and target values of its metrics.",
            ),
            (
                "MinPods",
                "string",
                0,
                "Lower limit for the number of pods that can be set by the autoscaler, default 1.",
            ),
            (
                "MaxPods",
                "integer",
                0,
                "Upper limit for the number of pods that can be set by the autoscaler; cannot be smaller than MinReplicas.",
            ),
            (
                "Replicas",
                "integer",
                0,
                "Current number of replicas of pods managed by this autoscaler.",
            ),
            AGE,
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let at = |path: &str| object.pointer(path);
        let reference = format!(
            "{}/{}",
            text(at("/spec/scaleTargetRef/kind")),
            text(at("/spec/scaleTargetRef/name"))
        );
        let min = match at("/spec/minReplicas").and_then(Value::as_i64) {
            Some(min) => min.to_string(),
            None => "<unset>".into(),
        };
        vec![
            name,
            json!(reference),
            json!(targets(object)),
            json!(min),
            json!(int(at("/spec/maxReplicas"))),
            json!(int(at("/status/currentReplicas"))),
            created,
        ]
    }
}

/// kubectl's TARGETS: each resource metric as `name: current/target`
/// (`<unknown>` until measured), others as their target.
fn targets(hpa: &Value) -> String {
    let metrics = hpa.pointer("/spec/metrics").and_then(Value::as_array);
    let current = hpa
        .pointer("/status/currentMetrics")
        .and_then(Value::as_array);
    let parts: Vec<String> = metrics
        .into_iter()
        .flatten()
        .map(|metric| {
            let resource = &metric["resource"];
            let name = resource["name"].as_str().unwrap_or_default();
            let target = &resource["target"];
            let measured = current
                .into_iter()
                .flatten()
                .find(|c| c["resource"]["name"] == name)
                .map(|c| &c["resource"]["current"]);
            match (target["averageUtilization"].as_i64(), measured) {
                (Some(percent), Some(now)) if now["averageUtilization"].is_i64() => {
                    format!("{name}: {}%/{percent}%", now["averageUtilization"])
                }
                (Some(percent), _) => format!("{name}: <unknown>/{percent}%"),
                (None, _) => {
                    let value = target["averageValue"]
                        .as_str()
                        .or(target["value"].as_str())
                        .unwrap_or("<unknown>");
                    format!("{name}: <unknown>/{value}")
                }
            }
        })
        .collect();
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(", ")
    }
}
