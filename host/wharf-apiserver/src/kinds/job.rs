//! The strategy of `Job` (batch/v1).

use serde_json::{Value, json};

use super::{AGE, CONTAINERS, Column, IMAGES, NAME, SELECTOR, Strategy, name_and_age};
use crate::Objects;
use crate::admission::UserInfo;
use crate::error::Cause;
use crate::table::{containers_cells, human_duration, int, selector_text};
use crate::validation::{default_template, ensure_object, set_default, validate_pod_spec};

pub struct Job;

/// The label kube's Job strategy ties a Job's pods to it with.
const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
const JOB_NAME: &str = "batch.kubernetes.io/job-name";

#[async_trait::async_trait]
impl Strategy for Job {
    fn default(&self, object: &mut Value) {
        let spec = ensure_object(object, "spec");
        if spec.get("completions").is_none() && spec.get("parallelism").is_none() {
            set_default(spec, "completions", json!(1));
        }
        set_default(spec, "parallelism", json!(1));
        // kube's SetDefaults_Job: with a limit per index, no overall one;
        // with a pod failure policy, pods are replaced once they failed.
        let per_index = spec
            .get("backoffLimitPerIndex")
            .is_some_and(|limit| !limit.is_null());
        set_default(
            spec,
            "backoffLimit",
            json!(if per_index { i64::from(i32::MAX) } else { 6 }),
        );
        set_default(spec, "completionMode", json!("NonIndexed"));
        set_default(spec, "suspend", json!(false));
        set_default(spec, "manualSelector", json!(false));
        let failure_policy = spec
            .get("podFailurePolicy")
            .is_some_and(|policy| !policy.is_null());
        set_default(
            spec,
            "podReplacementPolicy",
            json!(if failure_policy {
                "Failed"
            } else {
                "TerminatingOrFailed"
            }),
        );
        default_template(spec);
    }

    /// kube's Job strategy: unless `manualSelector`, the selector is the
    /// Job's own UID label, which its template's pods carry.
    async fn prepare_for_create(
        &self,
        _objects: &Objects,
        _namespace: Option<&str>,
        _user: &UserInfo,
        object: &mut Value,
    ) -> crate::error::ApiResult<()> {
        if object.pointer("/spec/manualSelector") == Some(&json!(true)) {
            return Ok(());
        }
        let uid = object["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let spec = ensure_object(object, "spec");
        spec["selector"] = json!({"matchLabels": {CONTROLLER_UID: uid}});
        let template = ensure_object(spec, "template");
        let labels = ensure_object(ensure_object(template, "metadata"), "labels");
        for (key, value) in [
            (CONTROLLER_UID, &uid),
            ("controller-uid", &uid),
            (JOB_NAME, &name),
            ("job-name", &name),
        ] {
            labels[key] = json!(value);
        }
        Ok(())
    }

    /// A Job's selector and template never change once made (kube's
    /// `spec.selector` and `spec.template` immutability).
    fn prepare_for_update(&self, current: &Value, next: &mut Value) {
        for field in ["selector", "template"] {
            if let Some(value) = current.pointer(&format!("/spec/{field}")) {
                next["spec"][field] = value.clone();
            }
        }
    }

    fn validate(&self, object: &Value, causes: &mut Vec<Cause>) {
        validate_pod_spec(
            object.pointer("/spec/template/spec"),
            "spec.template.spec",
            causes,
        );
        let policy = object
            .pointer("/spec/template/spec/restartPolicy")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !matches!(policy, "OnFailure" | "Never") {
            causes.push(Cause {
                reason: "FieldValueNotSupported",
                field: "spec.template.spec.restartPolicy".into(),
                message: format!(
                    "Unsupported value: \"{policy}\": supported values: \"OnFailure\", \"Never\""
                ),
            });
        }
        for field in ["parallelism", "completions", "backoffLimit"] {
            if let Some(value) = object
                .pointer(&format!("/spec/{field}"))
                .and_then(Value::as_i64)
                && value < 0
            {
                causes.push(Cause::invalid(
                    format!("spec.{field}"),
                    format!("Invalid value: {value}: must be greater than or equal to 0"),
                ));
            }
        }
    }

    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            ("Status", "string", 0, "Status of the job."),
            (
                "Completions",
                "string",
                0,
                "The completion status of the job, desired and successful pods.",
            ),
            (
                "Duration",
                "string",
                0,
                "Time required to complete the job.",
            ),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let at = |path: &str| object.pointer(path);
        let succeeded = int(at("/status/succeeded"));
        let completions = match at("/spec/completions").and_then(Value::as_i64) {
            Some(completions) => format!("{succeeded}/{completions}"),
            None => match int(at("/spec/parallelism")) {
                parallelism if parallelism > 1 => format!("{succeeded}/1 of {parallelism}"),
                _ => format!("{succeeded}/1"),
            },
        };
        let seconds = |path: &str| {
            at(path)
                .and_then(Value::as_str)
                .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
                .map(|t| t.as_second())
        };
        let duration = match (
            seconds("/status/startTime"),
            seconds("/status/completionTime"),
        ) {
            (Some(start), Some(end)) => human_duration(end - start),
            (Some(start), None) => human_duration(now.as_second() - start),
            _ => String::new(),
        };
        let [containers, images] = containers_cells(at("/spec/template/spec"));
        vec![
            name,
            json!(job_status(object)),
            json!(completions),
            json!(duration),
            created,
            containers,
            images,
            json!(selector_text(at("/spec/selector"))),
        ]
    }
}

/// kubectl's STATUS of a Job: its terminal condition, else what it is doing.
fn job_status(job: &Value) -> &'static str {
    let holds = |kind: &str| {
        job.pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| c["type"] == kind && c["status"] == "True")
    };
    if holds("Complete") {
        "Complete"
    } else if holds("Failed") {
        "Failed"
    } else if job.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else if holds("FailureTarget") {
        "FailureTarget"
    } else if holds("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else if holds("Suspended") {
        "Suspended"
    } else {
        "Running"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_kubes_per_index_and_failure_policy_rules() {
        let defaulted = |spec: Value| {
            let mut job = json!({"spec": spec});
            Job.default(&mut job);
            (
                job["spec"]["backoffLimit"].clone(),
                job["spec"]["podReplacementPolicy"].clone(),
            )
        };
        assert_eq!(
            defaulted(json!({})),
            (json!(6), json!("TerminatingOrFailed"))
        );
        assert_eq!(
            defaulted(json!({"backoffLimitPerIndex": 1, "completionMode": "Indexed"})),
            (json!(2_147_483_647), json!("TerminatingOrFailed"))
        );
        assert_eq!(
            defaulted(json!({"podFailurePolicy": {"rules": []}, "backoffLimit": 3})),
            (json!(3), json!("Failed"))
        );
    }
}
