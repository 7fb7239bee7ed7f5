//! The strategy of `CronJob` (batch/v1).

use serde_json::{Value, json};

use super::{AGE, CONTAINERS, Column, IMAGES, NAME, SELECTOR, Strategy, name_and_age};
use crate::error::Cause;
use crate::table::{age, containers_cells, or_none, selector_text, text};
use crate::validation::{ensure_object, set_default, validate_pod_spec};

pub struct CronJob;

#[async_trait::async_trait]
impl Strategy for CronJob {
    fn default(&self, object: &mut Value) {
        let spec = ensure_object(object, "spec");
        set_default(spec, "concurrencyPolicy", json!("Allow"));
        set_default(spec, "suspend", json!(false));
        set_default(spec, "successfulJobsHistoryLimit", json!(3));
        set_default(spec, "failedJobsHistoryLimit", json!(1));
    }

    fn validate(&self, object: &Value, causes: &mut Vec<Cause>) {
        let schedule = object
            .pointer("/spec/schedule")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if schedule.trim().is_empty() {
            causes.push(Cause::required("spec.schedule"));
        } else if !(schedule.starts_with('@') || schedule.split_whitespace().count() == 5) {
            causes.push(Cause::invalid(
                "spec.schedule",
                format!("Invalid value: \"{schedule}\": expected exactly 5 fields, found {}: {schedule}", schedule.split_whitespace().count()),
            ));
        }
        validate_pod_spec(
            object.pointer("/spec/jobTemplate/spec/template/spec"),
            "spec.jobTemplate.spec.template.spec",
            causes,
        );
    }

    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            (
                "Schedule",
                "string",
                0,
                "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
            ),
            (
                "Timezone",
                "string",
                0,
                "The name of the time zone the schedule is in.",
            ),
            (
                "Suspend",
                "boolean",
                0,
                "Whether later executions are suspended.",
            ),
            (
                "Active",
                "integer",
                0,
                "The number of pointers to currently running jobs.",
            ),
            (
                "Last Schedule",
                "string",
                0,
                "Information when was the last time the job was successfully scheduled.",
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
        let [containers, images] = containers_cells(at("/spec/jobTemplate/spec/template/spec"));
        let suspend = match at("/spec/suspend").and_then(Value::as_bool) {
            Some(true) => "True",
            Some(false) => "False",
            None => "<unset>",
        };
        let last = if at("/status/lastScheduleTime").is_some() {
            age(object, "/status/lastScheduleTime", now)
        } else {
            "<none>".into()
        };
        vec![
            name,
            json!(text(at("/spec/schedule"))),
            json!(or_none(text(at("/spec/timeZone")))),
            json!(suspend),
            json!(
                at("/status/active")
                    .and_then(Value::as_array)
                    .map_or(0, |a| a.len())
            ),
            json!(last),
            created,
            containers,
            images,
            json!(selector_text(at("/spec/jobTemplate/spec/selector"))),
        ]
    }
}
