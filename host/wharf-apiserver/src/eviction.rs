//! `POST pods/{name}/eviction` (`policy/v1` `Eviction`), as kube-apiserver's
//! eviction REST (`registry/core/pod/storage/eviction.go`): a pod is
//! deleted unless that would leave a PodDisruptionBudget covering it with
//! fewer healthy pods than it asks for; then the answer is kube's 429
//! (`Cannot evict pod as it would violate the pod's disruption budget.`),
//! which `kubectl drain` retries.
//!
//! Where kube reads the budget's `status.disruptionsAllowed` (kept by the
//! disruption controller), Wharf counts at the eviction: the pods the
//! budget selects, those Ready and not being deleted, less those evicted
//! in the last two minutes (`status.disruptedPods`, written with the
//! budget's revision as a guard, so two evictions at once cannot both take
//! the last allowed disruption).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::{ApiError, ApiResult, Cause};
use crate::objects::{ListParams, Part};
use crate::resources::ResourceDef;
use crate::selectors::LabelSelector;

/// How long an eviction counts against its budget before the pod is seen gone.
const DISRUPTION_WINDOW_SECONDS: i64 = 120;

/// How many times an eviction is tried again when its budget changed meanwhile.
const ATTEMPTS: usize = 5;

fn ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn deleting(object: &Value) -> bool {
    object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

/// An int-or-percent against `total` (rounded up, as kube's
/// `GetScaledValueFromIntOrPercent(…, true)`).
fn scaled(value: &Value, total: i64) -> ApiResult<i64> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| ApiError::BadRequest(format!("invalid value {n}"))),
        Value::String(text) => {
            let percent: i64 = text
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("invalid value for IntOrString: {text:?}"))
                })?;
            Ok((percent * total + 99) / 100)
        }
        _ => Err(ApiError::BadRequest("invalid IntOrString".into())),
    }
}

/// What a budget allows now: (disruptions allowed, healthy, desired healthy, expected).
fn budget(pdb: &Value, pods: &[Value], now: i64) -> ApiResult<(i64, i64, i64, i64)> {
    let recent: Vec<&str> = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, at)| {
            at.as_str()
                .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
                .is_some_and(|t| now - t.as_second() < DISRUPTION_WINDOW_SECONDS)
        })
        .map(|(name, _)| name.as_str())
        .collect();
    let counted: Vec<&Value> = pods
        .iter()
        .filter(|pod| {
            !matches!(
                pod["status"]["phase"].as_str(),
                Some("Succeeded" | "Failed")
            )
        })
        .collect();
    let expected = counted.len() as i64;
    let healthy = counted
        .iter()
        .filter(|pod| ready(pod) && !deleting(pod) && !recent.contains(&crate::meta::name_of(pod)))
        .count() as i64;
    let spec = &pdb["spec"];
    let desired = match (spec.get("minAvailable"), spec.get("maxUnavailable")) {
        (Some(min), _) if !min.is_null() => scaled(min, expected)?,
        (_, Some(max)) if !max.is_null() => (expected - scaled(max, expected)?).max(0),
        _ => expected,
    };
    Ok(((healthy - desired).max(0), healthy, desired, expected))
}

/// Serves an eviction of pod `namespace/name`.
pub async fn evict(
    state: &Arc<ApiState>,
    pods: &ResourceDef,
    namespace: &str,
    name: &str,
    eviction: &Value,
    params: crate::meta::DeleteParams,
) -> ApiResult<Response> {
    if eviction
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .is_some_and(|n| n != name)
    {
        return Err(ApiError::BadRequest(
            "name in URL does not match name in Eviction object".into(),
        ));
    }
    let pdbs = state
        .registry
        .by_kind("policy", "v1", "PodDisruptionBudget")
        .ok_or_else(|| ApiError::Internal("PodDisruptionBudgets are not served".into()))?;
    for _ in 0..ATTEMPTS {
        let pod = state.objects.get(pods, Some(namespace), name).await?.object;
        // A pod that is finished, not yet running or already going
        // disrupts nothing (kube's canIgnorePDB).
        let ignore = deleting(&pod)
            || matches!(
                pod["status"]["phase"].as_str(),
                Some("Succeeded" | "Failed" | "Pending")
            );
        let covering: Vec<Value> = if ignore {
            Vec::new()
        } else {
            let all = state
                .objects
                .list(&pdbs, Some(namespace), &ListParams::default())
                .await?;
            let mut covering = Vec::new();
            for pdb in all.items {
                let Some(selector) = pdb.pointer("/spec/selector").filter(|s| s.is_object()) else {
                    continue;
                };
                if LabelSelector::from_object(selector)?.matches(&pod) {
                    covering.push(pdb);
                }
            }
            covering
        };
        if covering.len() > 1 {
            return Err(ApiError::Internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.".into(),
            ));
        }
        if let Some(pdb) = covering.first() {
            let selector = LabelSelector::from_object(&pdb["spec"]["selector"])?;
            let selected = state
                .objects
                .list(
                    pods,
                    Some(namespace),
                    &ListParams {
                        labels: selector,
                        ..Default::default()
                    },
                )
                .await?
                .items;
            let now = crate::meta::now();
            let (allowed, healthy, desired, expected) = budget(pdb, &selected, now.as_second())?;
            let pdb_name = crate::meta::name_of(pdb).to_string();
            let always =
                pdb.pointer("/spec/unhealthyPodEvictionPolicy") == Some(&json!("AlwaysAllow"));
            // An unhealthy pod may go while the budget is met (kube's
            // IfHealthyBudget), or always (AlwaysAllow).
            let free = !ready(&pod) && (always || healthy >= desired);
            if !free && allowed <= 0 {
                return Err(ApiError::TooManyRequests {
                    message: "Cannot evict pod as it would violate the pod's disruption budget."
                        .into(),
                    retry_after_seconds: 0,
                    causes: vec![Cause {
                        reason: "DisruptionBudget",
                        field: String::new(),
                        message: format!(
                            "The disruption budget {pdb_name} needs {desired} healthy pods and has {healthy} currently"
                        ),
                    }],
                });
            }
            if !free {
                let revision = crate::objects::revision_of(pdb);
                let at = crate::meta::now_rfc3339();
                let recorded = state
                    .objects
                    .update_with(
                        &pdbs,
                        Some(namespace),
                        &pdb_name,
                        Part::Status,
                        params.dry_run,
                        |current| {
                            let mut next = current.clone();
                            next["metadata"]["resourceVersion"] = json!(revision.to_string());
                            let generation = current["metadata"]["generation"].clone();
                            let status = &mut next["status"];
                            if !status.is_object() {
                                *status = json!({});
                            }
                            if !status["disruptedPods"].is_object() {
                                status["disruptedPods"] = json!({});
                            }
                            status["disruptedPods"][name] = json!(at);
                            status["disruptionsAllowed"] = json!(allowed - 1);
                            status["currentHealthy"] = json!(healthy);
                            status["desiredHealthy"] = json!(desired);
                            status["expectedPods"] = json!(expected);
                            status["observedGeneration"] = generation;
                            Ok(next)
                        },
                    )
                    .await;
                match recorded {
                    Ok(_) => {}
                    // Another eviction counted against it meanwhile: again.
                    Err(ApiError::Conflict { .. }) => continue,
                    Err(error) => return Err(error),
                }
            }
        }
        state
            .objects
            .delete(pods, Some(namespace), name, &params)
            .await?;
        return Ok(crate::handlers::json_response(
            StatusCode::CREATED,
            "application/json",
            &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            &[],
        ));
    }
    Err(ApiError::TooManyRequests {
        message: "Cannot evict pod as it would violate the pod's disruption budget.".into(),
        retry_after_seconds: 0,
        causes: vec![Cause {
            reason: "DisruptionBudget",
            field: String::new(),
            message: "the disruption budget changed too often while the eviction was decided"
                .into(),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ready: bool) -> Value {
        json!({"metadata": {"name": name}, "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    #[test]
    fn a_budget_counts_healthy_pods_against_what_it_asks() {
        let pods = vec![pod("a", true), pod("b", true), pod("c", false)];
        let min = json!({"spec": {"minAvailable": 2}});
        assert_eq!(budget(&min, &pods, 0).unwrap(), (0, 2, 2, 3));
        let max = json!({"spec": {"maxUnavailable": "50%"}});
        // 50% of 3 rounds up to 2 unavailable: 1 must stay healthy.
        assert_eq!(budget(&max, &pods, 0).unwrap(), (1, 2, 1, 3));
        // A pod evicted a moment ago no longer counts as healthy.
        let recent = json!({"spec": {"minAvailable": 1}, "status": {"disruptedPods": {"a": "1970-01-01T00:01:00Z"}}});
        assert_eq!(budget(&recent, &pods, 90).unwrap(), (0, 1, 1, 3));
        assert_eq!(budget(&recent, &pods, 600).unwrap(), (1, 2, 1, 3));
    }
}
