//! The strategy of `Pod`.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::Objects;
use crate::admission::UserInfo;
use crate::error::Cause;
use crate::table::int;
use crate::validation::{default_pod_spec, validate_pod_spec};

pub struct Pod;

#[async_trait::async_trait]
impl Strategy for Pod {
    /// A pod bound to a node and not finished gets `requested` or its
    /// `terminationGracePeriodSeconds` (30 by default), as kube-apiserver's
    /// graceful deletion: its kubelet stops it, then deletes it.
    fn grace_seconds(&self, object: &Value, requested: Option<i64>) -> i64 {
        let bound = object
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|node| !node.is_empty());
        let finished = matches!(
            object.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        );
        if !bound || finished {
            return 0;
        }
        requested
            .or_else(|| {
                object
                    .pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
            })
            .unwrap_or(30)
            .max(0)
    }

    /// A pod's QoS class never changes (kube).
    fn prepare_for_status_update(&self, current: &Value, next: &mut Value) {
        if let Some(qos) = current.pointer("/status/qosClass") {
            next["status"]["qosClass"] = qos.clone();
        }
    }

    /// kube's ServiceAccount and Priority admission.
    async fn prepare_for_create(
        &self,
        objects: &Objects,
        namespace: Option<&str>,
        _user: &UserInfo,
        object: &mut Value,
    ) -> crate::error::ApiResult<()> {
        // kube's Pod strategy: a new pod's status is Pending and its QoS
        // class, whatever the body says.
        object["status"] = json!({"phase": "Pending", "qosClass": qos_class(object)});
        if let Some(namespace) = namespace {
            crate::serviceaccounts::admit_pod(objects, namespace, object).await;
        }
        super::priority_class::admit_pod(objects, object).await
    }

    fn default(&self, object: &mut Value) {
        if let Some(spec) = object.get_mut("spec") {
            default_pod_spec(spec);
        }
    }

    fn validate(&self, object: &Value, causes: &mut Vec<Cause>) {
        validate_pod_spec(object.get("spec"), "spec", causes);
    }

    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            (
                "Ready",
                "string",
                0,
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            (
                "Status",
                "string",
                0,
                "The aggregate status of the containers in this pod.",
            ),
            (
                "Restarts",
                "string",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            AGE,
            (
                "IP",
                "string",
                1,
                "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
            ),
            (
                "Node",
                "string",
                1,
                "NodeName is a request to schedule this pod onto a specific node.",
            ),
            (
                "Nominated Node",
                "string",
                1,
                "nominatedNodeName is set when this pod preempts other pods on the node.",
            ),
            (
                "Readiness Gates",
                "string",
                1,
                "If specified, all readiness gates will be evaluated for pod readiness.",
            ),
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        pod_cells(object, name, created)
    }
}

fn pod_cells(pod: &Value, name: Value, created: Value) -> Vec<Value> {
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, |c| c.len());
    let ready = statuses.iter().filter(|s| s["ready"] == true).count();
    let restarts: i64 = statuses.iter().map(|s| int(s.get("restartCount"))).sum();
    let mut reason = pod
        .pointer("/status/reason")
        .and_then(Value::as_str)
        .or_else(|| pod.pointer("/status/phase").and_then(Value::as_str))
        .unwrap_or("Pending")
        .to_string();
    let init_statuses = pod
        .pointer("/status/initContainerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let init_total = pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .map_or(0, |c| c.len());
    let mut initializing = false;
    for (i, status) in init_statuses.iter().enumerate() {
        let terminated = status.pointer("/state/terminated");
        if terminated.is_some_and(|t| t["exitCode"] == 0) {
            continue;
        }
        initializing = true;
        reason = match (
            terminated,
            status
                .pointer("/state/waiting/reason")
                .and_then(Value::as_str),
        ) {
            (Some(t), _) => format!(
                "Init:{}",
                t.get("reason").and_then(Value::as_str).unwrap_or("Error")
            ),
            (None, Some(waiting)) if waiting != "PodInitializing" => format!("Init:{waiting}"),
            _ => format!("Init:{i}/{init_total}"),
        };
        break;
    }
    if !initializing {
        for status in statuses.iter().rev() {
            if let Some(waiting) = status
                .pointer("/state/waiting/reason")
                .and_then(Value::as_str)
            {
                reason = waiting.to_string();
            } else if let Some(terminated) = status.pointer("/state/terminated") {
                reason = terminated
                    .get("reason")
                    .and_then(Value::as_str)
                    .map(String::from)
                    .unwrap_or_else(|| match terminated.get("signal").and_then(Value::as_i64) {
                        Some(signal) if signal != 0 => format!("Signal:{signal}"),
                        _ => format!("ExitCode:{}", int(terminated.get("exitCode"))),
                    });
            }
        }
    }
    if pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        reason = "Terminating".into();
    }
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let ip = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let nominated = pod
        .pointer("/status/nominatedNodeName")
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let gates = pod
        .pointer("/spec/readinessGates")
        .and_then(Value::as_array)
        .map_or("<none>".to_string(), |g| format!("0/{}", g.len()));
    vec![
        name,
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts.to_string()),
        created,
        json!(ip),
        json!(node),
        json!(nominated),
        json!(gates),
    ]
}

/// kube's QoS class of a pod: `Guaranteed` when every container limits
/// CPU and memory and requests what it limits, `BestEffort` when none
/// requests or limits either, `Burstable` otherwise.
pub fn qos_class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|key| pod["spec"][*key].as_array())
        .flatten()
        .collect();
    let named = |resources: &Value, kind: &str, name: &str| {
        resources[kind][name]
            .as_str()
            .map(str::to_string)
            .or_else(|| resources[kind][name].as_i64().map(|n| n.to_string()))
            .filter(|q| !q.is_empty() && q != "0")
    };
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for container in containers {
        let resources = &container["resources"];
        for name in ["cpu", "memory"] {
            let limit = named(resources, "limits", name);
            // A request defaults to the limit.
            let request = named(resources, "requests", name).or_else(|| limit.clone());
            any |= limit.is_some() || request.is_some();
            if limit.is_none() || request != limit {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_classes_follow_kubes_rules() {
        let pod = |resources: Value| json!({"spec": {"containers": [{"name": "c", "resources": resources}]}});
        assert_eq!(qos_class(&pod(json!({}))), "BestEffort");
        assert_eq!(
            qos_class(&pod(json!({"limits": {"cpu": "1", "memory": "1Gi"}}))),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&pod(
                json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}})
            )),
            "Burstable"
        );
        assert_eq!(
            qos_class(&pod(json!({"requests": {"memory": "1Gi"}}))),
            "Burstable"
        );
    }
}
