//! The strategy of `Pod`.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};
use crate::Objects;
use crate::admission::UserInfo;
use crate::error::Cause;
use crate::objects::Part;
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
        if let Some(spec) = object.get("spec") {
            validate_ephemeral_containers(spec, causes);
        }
    }

    fn validate_change(
        &self,
        current: Option<&Value>,
        next: &Value,
        part: Part,
        causes: &mut Vec<Cause>,
    ) {
        let (old, new) = (
            current.and_then(|c| c.get("spec")),
            next.get("spec").unwrap_or(&Value::Null),
        );
        match (old, part) {
            (None, _) if !is_empty(&new["ephemeralContainers"]) => causes.push(Cause::forbidden(
                "spec.ephemeralContainers",
                "cannot be set on create",
            )),
            (Some(old), Part::Main) => validate_spec_update(old, new, causes),
            (Some(old), Part::EphemeralContainers) => validate_ephemeral_update(old, new, causes),
            _ => {}
        }
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
/// What kube forbids in an ephemeral container: it may not be given
/// ports, probes, a lifecycle, resources or a restart policy.
const NOT_IN_EPHEMERAL_CONTAINERS: [&str; 7] = [
    "ports",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "resources",
    "restartPolicy",
];

/// kube's `validateEphemeralContainers`.
fn validate_ephemeral_containers(spec: &Value, causes: &mut Vec<Cause>) {
    let Some(ephemeral) = spec.get("ephemeralContainers").and_then(Value::as_array) else {
        return;
    };
    let others: Vec<&str> = ["containers", "initContainers"]
        .iter()
        .filter_map(|list| spec.get(list).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    // Names are unique among every kind of container.
    let mut taken: std::collections::HashSet<&str> = others.iter().copied().collect();
    for (i, container) in ephemeral.iter().enumerate() {
        let at = format!("spec.ephemeralContainers[{i}]");
        crate::validation::check_container(container, &at, &mut taken, causes);
        for field in NOT_IN_EPHEMERAL_CONTAINERS {
            if !is_empty(&container[field]) {
                causes.push(Cause::forbidden(
                    format!("{at}.{field}"),
                    "cannot be set for an Ephemeral Container",
                ));
            }
        }
        if let Some(target) = container.get("targetContainerName").and_then(Value::as_str)
            && !target.is_empty()
            && !others.contains(&target)
        {
            causes.push(Cause::not_found(
                format!("{at}.targetContainerName"),
                target,
            ));
        }
    }
}

/// kube's `ValidatePodUpdate`: a pod's spec may change only in its
/// containers' images, `activeDeadlineSeconds`, added tolerations, removed
/// scheduling gates, and a negative `terminationGracePeriodSeconds` set to
/// 1. Empty and absent values are the same, as for Go's zero values.
fn validate_spec_update(old: &Value, new: &Value, causes: &mut Vec<Cause>) {
    if old == new {
        return;
    }
    let mut munged = new.clone();
    for list in ["containers", "initContainers"] {
        if let (Some(before), Some(after)) = (
            old.get(list).and_then(Value::as_array),
            munged.get_mut(list).and_then(Value::as_array_mut),
        ) && before.len() == after.len()
        {
            for (before, after) in before.iter().zip(after.iter_mut()) {
                if let (Some(image), Some(after)) = (before.get("image"), after.as_object_mut())
                    && after.get("image").is_some_and(|i| !is_empty(i))
                {
                    after.insert("image".into(), image.clone());
                }
            }
        }
    }
    let kept =
        |tolerations: &Value| -> Vec<Value> { tolerations.as_array().cloned().unwrap_or_default() };
    let (old_tolerations, new_tolerations) = (kept(&old["tolerations"]), kept(&new["tolerations"]));
    if let Some(changed) = old_tolerations
        .iter()
        .position(|t| !new_tolerations.contains(t))
    {
        causes.push(Cause::forbidden(
            format!("spec.tolerations[{changed}]"),
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }
    let old_grace = old["terminationGracePeriodSeconds"].as_i64();
    let to_one = old_grace.is_some_and(|g| g < 0) && new["terminationGracePeriodSeconds"] == 1;
    for field in ["activeDeadlineSeconds", "tolerations", "schedulingGates"]
        .into_iter()
        .chain(to_one.then_some("terminationGracePeriodSeconds"))
    {
        if let Some(spec) = munged.as_object_mut() {
            match old.get(field) {
                Some(value) => spec.insert(field.into(), value.clone()),
                None => spec.remove(field),
            };
        }
    }
    let changed: Vec<String> = changed_fields(old, &munged);
    if !changed.is_empty() {
        causes.push(Cause::forbidden(
            "spec",
            format!(
                "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n  changed: {}",
                changed.join(", ")
            ),
        ));
    }
}

/// The top-level fields of two specs that differ, as `spec.NAME`.
fn changed_fields(old: &Value, new: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (old, new) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|name| {
            !same(
                old.get(*name).unwrap_or(&Value::Null),
                new.get(*name).unwrap_or(&Value::Null),
            )
        })
        .map(|name| format!("spec.{name}"))
        .collect()
}

/// kube's ephemeral containers strategy: containers may be added, and
/// those there stay as they are.
fn validate_ephemeral_update(old: &Value, new: &Value, causes: &mut Vec<Cause>) {
    let list = |spec: &Value| {
        spec["ephemeralContainers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let (before, after) = (list(old), list(new));
    for container in &before {
        let name = container["name"].as_str().unwrap_or_default();
        match after.iter().position(|c| c["name"] == container["name"]) {
            None => causes.push(Cause::forbidden(
                "spec.ephemeralContainers",
                format!("existing ephemeral containers {name:?} may not be removed"),
            )),
            Some(at) if !same(&after[at], container) => causes.push(Cause::forbidden(
                format!("spec.ephemeralContainers[{at}]"),
                format!("existing ephemeral containers {name:?} may not be changed"),
            )),
            Some(_) => {}
        }
    }
}

/// `null`, `{}`, `[]`: what Go's zero values and omitted fields look like.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// Equal, with empty values and absent fields the same.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let null = Value::Null;
            a.iter().all(|(k, v)| same(v, b.get(k).unwrap_or(&null)))
                && b.iter().all(|(k, v)| a.contains_key(k) || is_empty(v))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        (a, b) if is_empty(a) && is_empty(b) => true,
        (a, b) => a == b,
    }
}

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

    fn change(current: Option<&Value>, next: &Value, part: Part) -> Vec<String> {
        let mut causes = Vec::new();
        Pod.validate(next, &mut causes);
        Pod.validate_change(current, next, part, &mut causes);
        causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": spec})
    }

    #[test]
    fn a_pods_spec_changes_only_where_kube_lets_it() {
        let current = pod(json!({
            "containers": [{"name": "c", "image": "busybox:1", "resources": {}}],
            "tolerations": [{"key": "a", "operator": "Exists"}],
            "terminationGracePeriodSeconds": -1,
        }));
        let mut next = current.clone();
        next["spec"]["containers"][0]["image"] = json!("busybox:2");
        next["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("resources");
        next["spec"]["tolerations"] =
            json!([{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]);
        next["spec"]["activeDeadlineSeconds"] = json!(30);
        next["spec"]["terminationGracePeriodSeconds"] = json!(1);
        assert!(change(Some(&current), &next, Part::Main).is_empty());

        next["spec"]["nodeSelector"] = json!({"disk": "ssd"});
        next["spec"]["tolerations"] = json!([]);
        let refused = change(Some(&current), &next, Part::Main);
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(refused[0].starts_with("spec.tolerations[0]: Forbidden: existing toleration"));
        assert!(refused[1].starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"));
        assert!(
            refused[1].ends_with("changed: spec.nodeSelector"),
            "{}",
            refused[1]
        );
        // Ephemeral containers are not added through the pod itself.
        let mut added = current.clone();
        added["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": "busybox"}]);
        assert_eq!(change(Some(&current), &added, Part::Main).len(), 1);
        assert_eq!(
            change(None, &added, Part::Main),
            ["spec.ephemeralContainers: Forbidden: cannot be set on create"]
        );
    }

    #[test]
    fn ephemeral_containers_are_added_never_changed_and_checked_as_kube_does() {
        let current = pod(json!({"containers": [{"name": "c", "image": "i"}],
                                  "ephemeralContainers": [{"name": "one", "image": "busybox"}]}));
        let mut next = current.clone();
        next["spec"]["ephemeralContainers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "two", "image": "busybox", "targetContainerName": "c", "resources": {}}));
        assert!(change(Some(&current), &next, Part::EphemeralContainers).is_empty());

        let mut bad = current.clone();
        bad["spec"]["ephemeralContainers"] = json!([
            {"name": "one", "image": "other"},
            {"name": "c", "image": "busybox", "ports": [{"containerPort": 80}], "targetContainerName": "nope"},
            {"name": "three"},
        ]);
        assert_eq!(
            change(Some(&current), &bad, Part::EphemeralContainers),
            [
                "spec.ephemeralContainers[1].name: Duplicate value: \"c\"",
                "spec.ephemeralContainers[1].ports: Forbidden: cannot be set for an Ephemeral Container",
                "spec.ephemeralContainers[1].targetContainerName: Not found: \"nope\"",
                "spec.ephemeralContainers[2].image: Required value",
                "spec.ephemeralContainers[0]: Forbidden: existing ephemeral containers \"one\" may not be changed",
            ]
        );
        let mut removed = current.clone();
        removed["spec"]["ephemeralContainers"] = json!([]);
        assert_eq!(
            change(Some(&current), &removed, Part::EphemeralContainers),
            [
                "spec.ephemeralContainers: Forbidden: existing ephemeral containers \"one\" may not be removed"
            ]
        );
    }
}
