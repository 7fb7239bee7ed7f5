//! The pod status a kubelet reports, computed from what the runtime knows
//! of each container: phase (the kubelet's `getPhase`), the conditions the
//! kubelet owns, container statuses. Pure: no I/O, `now` is given.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The conditions the kubelet owns, in the order it writes them; any other
/// condition (PodScheduled, readiness gates…) is kept after them.
const KUBELET_CONDITIONS: [&str; 4] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
];

/// How a container ended (`state.terminated` / `lastState.terminated`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Termination {
    pub exit_code: i32,
    /// `Completed`, `Error`, `StartError`, `ContainerStatusUnknown`.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    pub container_id: String,
}

impl Termination {
    fn to_json(&self) -> Value {
        let mut terminated = Map::new();
        terminated.insert("exitCode".into(), json!(self.exit_code));
        terminated.insert("reason".into(), json!(self.reason));
        if let Some(message) = &self.message {
            terminated.insert("message".into(), json!(message));
        }
        for (field, value) in [
            ("startedAt", &self.started_at),
            ("finishedAt", &self.finished_at),
            ("containerID", &self.container_id),
        ] {
            if !value.is_empty() {
                terminated.insert(field.into(), json!(value));
            }
        }
        Value::Object(terminated)
    }
}

/// A container's current state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum State {
    Waiting {
        reason: String,
        message: Option<String>,
    },
    Running {
        started_at: String,
    },
    Terminated(Termination),
}

impl State {
    pub(super) fn waiting(reason: &str) -> Self {
        State::Waiting {
            reason: reason.into(),
            message: None,
        }
    }
}

/// What the runtime knows of one container.
#[derive(Clone, Debug)]
pub(super) struct ContainerView {
    pub name: String,
    pub image: String,
    /// `process://<pid>` of its current or last process.
    pub container_id: Option<String>,
    pub restart_count: u32,
    pub state: State,
    pub last: Option<Termination>,
    /// An init container with `restartPolicy: Always`.
    pub sidecar: bool,
    /// Running, and its startup probe (if any) succeeded.
    pub started: bool,
    /// Started, and its readiness probe (if any) says so.
    pub ready: bool,
}

impl ContainerView {
    fn to_json(&self) -> Value {
        let state = match &self.state {
            State::Waiting { reason, message } => {
                let mut waiting = json!({"reason": reason});
                if let Some(message) = message {
                    waiting["message"] = json!(message);
                }
                json!({"waiting": waiting})
            }
            State::Running { started_at } => json!({"running": {"startedAt": started_at}}),
            State::Terminated(termination) => json!({"terminated": termination.to_json()}),
        };
        let last = match &self.last {
            Some(termination) => json!({"terminated": termination.to_json()}),
            None => json!({}),
        };
        let mut status = json!({
            "name": self.name,
            "image": self.image,
            "imageID": if self.container_id.is_some() { self.image.as_str() } else { "" },
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
            "state": state,
            "lastState": last,
        });
        if let Some(id) = &self.container_id {
            status["containerID"] = json!(id);
        }
        status
    }
}

/// What the runtime knows of one pod.
#[derive(Clone, Debug)]
pub(super) struct PodView {
    pub init: Vec<ContainerView>,
    pub app: Vec<ContainerView>,
    /// The pod's sandbox is set up (false once a finished pod is torn down).
    pub sandbox_ready: bool,
    /// Every init container completed once (it stays so).
    pub initialized: bool,
    /// The pod is stopped for good (deleted): no container runs again.
    pub terminal: bool,
    pub host_ip: String,
    pub pod_ip: String,
    pub start_time: String,
}

/// The status to write: `pod`'s status with the kubelet's fields replaced.
pub(super) fn pod_status(pod: &Value, view: &PodView, now: &str) -> Value {
    let mut view = view.clone();
    if view.terminal {
        // Containers that will never run are reported as ended.
        for container in view.init.iter_mut().chain(view.app.iter_mut()) {
            if matches!(container.state, State::Waiting { .. }) {
                container.state = State::Terminated(Termination {
                    exit_code: 137,
                    reason: "ContainerStatusUnknown".into(),
                    message: Some(
                        "The container could not be located when the pod was terminated".into(),
                    ),
                    started_at: String::new(),
                    finished_at: now.into(),
                    container_id: container.container_id.clone().unwrap_or_default(),
                });
            }
        }
    }
    let view = &view;
    let previous = pod.get("status").filter(|s| s.is_object());
    let mut status = previous.cloned().unwrap_or_else(|| json!({}));
    let restart_policy = pod
        .pointer("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("Always");
    let previous_phase = previous
        .and_then(|s| s.get("phase"))
        .and_then(Value::as_str);
    let phase = match previous_phase {
        // Pods never leave a terminal phase.
        Some(terminal @ ("Succeeded" | "Failed")) => terminal,
        _ => match phase(restart_policy, view) {
            // A stopped pod ends in a terminal phase.
            "Pending" | "Running" if view.terminal => "Failed",
            phase => phase,
        },
    };
    let conditions = conditions(pod, view, phase, now);
    let Some(fields) = status.as_object_mut() else {
        return status;
    };
    fields.insert("phase".into(), json!(phase));
    fields.insert("conditions".into(), json!(conditions));
    fields.insert("hostIP".into(), json!(view.host_ip));
    fields.insert("hostIPs".into(), json!([{"ip": view.host_ip}]));
    fields.insert("podIP".into(), json!(view.pod_ip));
    fields.insert("podIPs".into(), json!([{"ip": view.pod_ip}]));
    fields.insert("startTime".into(), json!(view.start_time));
    let statuses = |list: &[ContainerView]| list.iter().map(ContainerView::to_json).collect();
    fields.insert(
        "containerStatuses".into(),
        Value::Array(statuses(&view.app)),
    );
    if view.init.is_empty() {
        fields.remove("initContainerStatuses");
    } else {
        fields.insert(
            "initContainerStatuses".into(),
            Value::Array(statuses(&view.init)),
        );
    }
    status
}

/// The pod phase from its containers' states, as the kubelet's `getPhase`.
pub(super) fn phase(restart_policy: &str, view: &PodView) -> &'static str {
    let mut pending_init = 0;
    let mut failed_init = 0;
    for container in view.init.iter().filter(|c| !c.sidecar) {
        match &container.state {
            State::Running { .. } => pending_init += 1,
            State::Terminated(t) => failed_init += usize::from(t.exit_code != 0),
            State::Waiting { .. } => match &container.last {
                Some(last) => failed_init += usize::from(last.exit_code != 0),
                None => pending_init += 1,
            },
        }
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    let mut pending_sidecars = 0;
    for container in view.init.iter().filter(|c| c.sidecar) {
        match &container.state {
            State::Running { .. } => running += 1,
            State::Terminated(_) => {}
            State::Waiting { .. } if container.last.is_some() => {}
            State::Waiting { .. } => {
                pending_sidecars += 1;
                waiting += 1;
            }
        }
    }
    for container in &view.app {
        match &container.state {
            State::Running { .. } => running += 1,
            State::Terminated(t) => {
                stopped += 1;
                succeeded += usize::from(t.exit_code == 0);
            }
            State::Waiting { .. } if container.last.is_some() => stopped += 1,
            State::Waiting { .. } => waiting += 1,
        }
    }
    if failed_init > 0 && restart_policy == "Never" {
        return "Failed";
    }
    if pending_init > 0 || pending_sidecars > 0 || waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped == 0 {
        return "Pending";
    }
    if view.terminal {
        return if stopped == succeeded {
            "Succeeded"
        } else {
            "Failed"
        };
    }
    match restart_policy {
        "Always" => "Running",
        _ if stopped == succeeded => "Succeeded",
        "Never" => "Failed",
        _ => "Running",
    }
}

/// The kubelet's four conditions, then the others `pod` has.
fn conditions(pod: &Value, view: &PodView, phase: &str, now: &str) -> Vec<Value> {
    let existing: Vec<Value> = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names = |list: Vec<&str>| format!("[{}]", list.join(" "));

    let sandbox = if view.sandbox_ready {
        Verdict::yes()
    } else {
        Verdict::no("", "")
    };

    let initialized = if phase == "Succeeded" {
        Verdict::yes_because("PodCompleted")
    } else if view.initialized || view.init.is_empty() {
        Verdict::yes()
    } else {
        let incomplete: Vec<&str> = (view.init.iter())
            .filter(|c| match (&c.state, c.sidecar) {
                (State::Running { .. }, true) => false,
                (State::Terminated(t), false) => t.exit_code != 0,
                _ => true,
            })
            .map(|c| c.name.as_str())
            .collect();
        Verdict::no(
            "ContainersNotInitialized",
            &format!("containers with incomplete status: {}", names(incomplete)),
        )
    };

    let unready: Vec<&str> = (view.init.iter().filter(|c| c.sidecar))
        .chain(&view.app)
        .filter(|c| !c.ready)
        .map(|c| c.name.as_str())
        .collect();
    let containers_ready = match phase {
        "Succeeded" => Verdict::no("PodCompleted", ""),
        "Failed" => Verdict::no("PodFailed", ""),
        _ if !unready.is_empty() => Verdict::no(
            "ContainersNotReady",
            &format!("containers with unready status: {}", names(unready)),
        ),
        _ => Verdict::yes(),
    };
    let ready = if containers_ready.status {
        readiness_gates(pod, &existing)
    } else {
        containers_ready.clone()
    };

    let previous = |kind: &str| existing.iter().find(|c| c["type"] == kind);
    let mut conditions: Vec<Value> = KUBELET_CONDITIONS
        .iter()
        .zip([sandbox, initialized, ready, containers_ready])
        .map(|(kind, verdict)| verdict.condition(kind, previous(kind), now))
        .collect();
    conditions.extend(
        existing
            .iter()
            .filter(|c| !KUBELET_CONDITIONS.iter().any(|kind| c["type"] == *kind))
            .cloned(),
    );
    // A pod created with its nodeName set was scheduled by its author.
    if previous("PodScheduled").is_none() {
        conditions.push(Verdict::yes().condition("PodScheduled", None, now));
    }
    conditions
}

/// `Ready` when the containers are: every readiness gate's condition True.
fn readiness_gates(pod: &Value, existing: &[Value]) -> Verdict {
    let gates = pod
        .pointer("/spec/readinessGates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|gate| gate.get("conditionType")?.as_str());
    let mut messages = Vec::new();
    for gate in gates {
        match existing.iter().find(|c| c["type"] == gate) {
            None => messages.push(format!(
                "corresponding condition of pod readiness gate \"{gate}\" does not exist."
            )),
            Some(condition) if condition["status"] != "True" => messages.push(format!(
                "the status of pod readiness gate \"{gate}\" is not \"True\", but {}",
                condition["status"].as_str().unwrap_or_default()
            )),
            Some(_) => {}
        }
    }
    if messages.is_empty() {
        Verdict::yes()
    } else {
        Verdict::no("ReadinessGatesNotReady", &messages.join(", "))
    }
}

/// A condition's status, reason and message.
#[derive(Clone)]
struct Verdict {
    status: bool,
    reason: String,
    message: String,
}

impl Verdict {
    fn yes() -> Self {
        Self::yes_because("")
    }

    fn yes_because(reason: &str) -> Self {
        Self {
            status: true,
            reason: reason.into(),
            message: String::new(),
        }
    }

    fn no(reason: &str, message: &str) -> Self {
        Self {
            status: false,
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// The condition, its transition time kept while its status is.
    fn condition(self, kind: &str, previous: Option<&Value>, now: &str) -> Value {
        let status = if self.status { "True" } else { "False" };
        let since = previous
            .filter(|c| c["status"] == status)
            .and_then(|c| c.get("lastTransitionTime"))
            .filter(|t| t.is_string())
            .cloned()
            .unwrap_or_else(|| json!(now));
        let mut condition = Map::new();
        condition.insert("type".into(), json!(kind));
        condition.insert("status".into(), json!(status));
        if !self.reason.is_empty() {
            condition.insert("reason".into(), json!(self.reason));
        }
        if !self.message.is_empty() {
            condition.insert("message".into(), json!(self.message));
        }
        condition.insert("lastProbeTime".into(), Value::Null);
        condition.insert("lastTransitionTime".into(), since);
        Value::Object(condition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without probes: running is started and ready.
    fn container(name: &str, state: State) -> ContainerView {
        let running = matches!(state, State::Running { .. });
        ContainerView {
            name: name.into(),
            image: "busybox".into(),
            container_id: Some("process://1".into()),
            restart_count: 0,
            state,
            last: None,
            sidecar: false,
            started: running,
            ready: running,
        }
    }

    fn running() -> State {
        State::Running {
            started_at: "t0".into(),
        }
    }

    fn exited(code: i32) -> State {
        State::Terminated(ended(code))
    }

    fn ended(code: i32) -> Termination {
        Termination {
            exit_code: code,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message: None,
            started_at: "t0".into(),
            finished_at: "t1".into(),
            container_id: "process://1".into(),
        }
    }

    fn back_off() -> State {
        State::waiting("CrashLoopBackOff")
    }

    fn view(init: Vec<ContainerView>, app: Vec<ContainerView>) -> PodView {
        PodView {
            init,
            app,
            sandbox_ready: true,
            initialized: false,
            terminal: false,
            host_ip: "127.0.0.1".into(),
            pod_ip: "127.0.0.1".into(),
            start_time: "t0".into(),
        }
    }

    fn restarting(name: &str, code: i32) -> ContainerView {
        ContainerView {
            last: Some(ended(code)),
            ..container(name, back_off())
        }
    }

    #[test]
    fn the_phase_follows_the_kubelets_rules() {
        let creating = || container("a", State::waiting("ContainerCreating"));
        let cases: Vec<(&str, &str, PodView)> = vec![
            ("Always", "Pending", view(vec![], vec![creating()])),
            (
                "Always",
                "Running",
                view(vec![], vec![container("a", running())]),
            ),
            ("Always", "Running", view(vec![], vec![restarting("a", 1)])),
            (
                "Never",
                "Succeeded",
                view(vec![], vec![container("a", exited(0))]),
            ),
            (
                "Never",
                "Failed",
                view(vec![], vec![container("a", exited(3))]),
            ),
            (
                "OnFailure",
                "Running",
                view(vec![], vec![restarting("a", 3)]),
            ),
            (
                "OnFailure",
                "Succeeded",
                view(vec![], vec![container("a", exited(0))]),
            ),
            (
                "Never",
                "Running",
                view(
                    vec![],
                    vec![container("a", running()), container("b", exited(1))],
                ),
            ),
            (
                "Always",
                "Pending",
                view(
                    vec![container("i", running())],
                    vec![container("a", State::waiting("PodInitializing"))],
                ),
            ),
            (
                "Never",
                "Failed",
                view(vec![container("i", exited(2))], vec![creating()]),
            ),
            (
                "OnFailure",
                "Pending",
                view(vec![restarting("i", 2)], vec![creating()]),
            ),
            (
                "Never",
                "Succeeded",
                view(
                    vec![ContainerView {
                        sidecar: true,
                        ..container("s", exited(143))
                    }],
                    vec![container("a", exited(0))],
                ),
            ),
            (
                "Always",
                "Failed",
                PodView {
                    terminal: true,
                    ..view(vec![], vec![container("a", exited(143))])
                },
            ),
            (
                "Always",
                "Succeeded",
                PodView {
                    terminal: true,
                    ..view(vec![], vec![container("a", exited(0))])
                },
            ),
        ];
        for (policy, expected, pod) in cases {
            assert_eq!(phase(policy, &pod), expected, "{policy}: {pod:?}");
        }
    }

    fn condition<'a>(status: &'a Value, kind: &str) -> &'a Value {
        status["conditions"]
            .as_array()
            .and_then(|list| list.iter().find(|c| c["type"] == kind))
            .unwrap_or(&Value::Null)
    }

    #[test]
    fn a_running_pod_is_ready_and_keeps_its_scheduled_condition() {
        let pod = json!({
            "spec": {"restartPolicy": "Always", "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "qosClass": "BestEffort", "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "then"},
                {"type": "Ready", "status": "True", "lastTransitionTime": "before"},
            ]},
        });
        let status = pod_status(&pod, &view(vec![], vec![container("a", running())]), "now");
        let types: Vec<&str> = (status["conditions"].as_array().unwrap().iter())
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "PodScheduled"
            ]
        );
        assert_eq!(condition(&status, "Ready")["lastTransitionTime"], "before");
        assert_eq!(
            condition(&status, "ContainersReady")["lastTransitionTime"],
            "now"
        );
        assert_eq!(status["phase"], "Running");
        assert_eq!(
            status["qosClass"], "BestEffort",
            "fields not the kubelet's are kept"
        );
        assert_eq!(status["podIPs"], json!([{"ip": "127.0.0.1"}]));
        let app = &status["containerStatuses"][0];
        assert_eq!(
            (
                &app["ready"],
                &app["started"],
                &app["state"]["running"]["startedAt"],
                &app["lastState"]
            ),
            (&json!(true), &json!(true), &json!("t0"), &json!({}))
        );
        assert!(status.get("initContainerStatuses").is_none());
    }

    #[test]
    fn a_running_container_its_probes_hold_back_is_reported_unready() {
        let pod = json!({"spec": {"restartPolicy": "Always"}});
        let starting = ContainerView {
            started: false,
            ready: false,
            ..container("slow", running())
        };
        let unready = ContainerView {
            ready: false,
            ..container("busy", running())
        };
        let status = pod_status(
            &pod,
            &view(
                vec![],
                vec![starting, unready, container("fine", running())],
            ),
            "now",
        );
        assert_eq!(status["phase"], "Running");
        let flags: Vec<(&Value, &Value)> = (status["containerStatuses"].as_array().unwrap())
            .iter()
            .map(|c| (&c["started"], &c["ready"]))
            .collect();
        assert_eq!(
            flags,
            [
                (&json!(false), &json!(false)),
                (&json!(true), &json!(false)),
                (&json!(true), &json!(true))
            ]
        );
        for kind in ["Ready", "ContainersReady"] {
            let condition = condition(&status, kind);
            assert_eq!(
                (&condition["status"], &condition["message"]),
                (
                    &json!("False"),
                    &json!("containers with unready status: [slow busy]")
                ),
                "{kind}"
            );
        }
    }

    #[test]
    fn a_pod_created_on_its_node_is_reported_scheduled() {
        let pod = json!({"spec": {"containers": [{"name": "a"}]}});
        let status = pod_status(&pod, &view(vec![], vec![container("a", running())]), "now");
        let scheduled = condition(&status, "PodScheduled");
        assert_eq!(
            (&scheduled["status"], &scheduled["lastTransitionTime"]),
            (&json!("True"), &json!("now"))
        );
    }

    #[test]
    fn unready_and_uninitialized_pods_say_which_containers_hold_them() {
        let pod = json!({"spec": {"restartPolicy": "Always"}});
        let init = vec![container("one", exited(0)), container("two", running())];
        let app = vec![
            container("a", State::waiting("PodInitializing")),
            container("b", State::waiting("PodInitializing")),
        ];
        let status = pod_status(&pod, &view(init, app), "now");
        let initialized = condition(&status, "Initialized");
        assert_eq!(
            (
                &initialized["status"],
                &initialized["reason"],
                &initialized["message"]
            ),
            (
                &json!("False"),
                &json!("ContainersNotInitialized"),
                &json!("containers with incomplete status: [two]")
            )
        );
        assert_eq!(
            condition(&status, "Ready")["message"],
            "containers with unready status: [a b]"
        );
        assert_eq!(
            status["initContainerStatuses"][1]["state"]["running"]["startedAt"],
            "t0"
        );
        assert_eq!(status["phase"], "Pending");
    }

    #[test]
    fn a_completed_pod_is_not_ready_because_it_completed_and_stays_terminal() {
        let pod = json!({"spec": {"restartPolicy": "Never"}, "status": {}});
        let done = PodView {
            sandbox_ready: false,
            ..view(vec![], vec![container("a", exited(0))])
        };
        let status = pod_status(&pod, &done, "now");
        assert_eq!(status["phase"], "Succeeded");
        assert_eq!(condition(&status, "Ready")["reason"], "PodCompleted");
        assert_eq!(condition(&status, "Initialized")["reason"], "PodCompleted");
        assert_eq!(
            condition(&status, "PodReadyToStartContainers")["status"],
            "False"
        );
        let terminated = &status["containerStatuses"][0]["state"]["terminated"];
        assert_eq!(
            (&terminated["exitCode"], &terminated["reason"]),
            (&json!(0), &json!("Completed"))
        );

        // A Failed pod stays Failed whatever its containers say now.
        let failed = json!({"spec": {"restartPolicy": "Always"}, "status": {"phase": "Failed"}});
        let status = pod_status(
            &failed,
            &view(vec![], vec![container("a", running())]),
            "now",
        );
        assert_eq!(status["phase"], "Failed");
    }

    #[test]
    fn a_readiness_gate_without_its_condition_keeps_the_pod_unready() {
        let pod = json!({"spec": {"readinessGates": [{"conditionType": "example.com/lb"}]}});
        let status = pod_status(&pod, &view(vec![], vec![container("a", running())]), "now");
        let ready = condition(&status, "Ready");
        assert_eq!(
            (&ready["status"], &ready["reason"]),
            (&json!("False"), &json!("ReadinessGatesNotReady"))
        );
        assert_eq!(condition(&status, "ContainersReady")["status"], "True");
    }

    #[test]
    fn containers_that_never_ran_in_a_terminated_pod_are_reported_unknown() {
        let pod = json!({"spec": {"restartPolicy": "Always"}});
        let stopped = PodView {
            terminal: true,
            ..view(
                vec![],
                vec![container("a", State::waiting("ContainerCreating"))],
            )
        };
        let status = pod_status(&pod, &stopped, "now");
        let terminated = &status["containerStatuses"][0]["state"]["terminated"];
        assert_eq!(
            (&terminated["exitCode"], &terminated["reason"]),
            (&json!(137), &json!("ContainerStatusUnknown"))
        );
        assert_eq!(status["phase"], "Failed");
    }
}
