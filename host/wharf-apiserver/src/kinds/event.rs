//! The strategy of `Event`.

use serde_json::{Value, json};

use super::{Column, Strategy, name_and_age};
use crate::table::{age, int, or_none, text};

pub struct Event;

#[async_trait::async_trait]
impl Strategy for Event {
    fn columns(&self) -> &'static [Column] {
        &[
            (
                "Last Seen",
                "string",
                0,
                "Time when this Event was last observed.",
            ),
            (
                "Type",
                "string",
                0,
                "Type of this event (Normal, Warning), new types could be added in the future.",
            ),
            (
                "Reason",
                "string",
                0,
                "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
            ),
            (
                "Object",
                "string",
                0,
                "The object that this event is about.",
            ),
            (
                "Subobject",
                "string",
                1,
                "The subobject that this event is about.",
            ),
            ("Source", "string", 1, "The component reporting this event."),
            (
                "Message",
                "string",
                0,
                "A human-readable description of the status of this operation.",
            ),
            (
                "First Seen",
                "string",
                1,
                "The time at which the event was first recorded.",
            ),
            (
                "Count",
                "string",
                1,
                "The number of times this event has occurred.",
            ),
            (
                "Name",
                "string",
                1,
                "Name must be unique within a namespace.",
            ),
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, _) = name_and_age(object, now);
        let at = |path: &str| object.pointer(path);
        let last_seen = [
            "/lastTimestamp",
            "/eventTime",
            "/metadata/creationTimestamp",
        ]
        .iter()
        .find(|p| at(p).and_then(Value::as_str).is_some())
        .map(|p| age(object, p, now))
        .unwrap_or_else(|| "<unknown>".into());
        let first_seen = [
            "/firstTimestamp",
            "/eventTime",
            "/metadata/creationTimestamp",
        ]
        .iter()
        .find(|p| at(p).and_then(Value::as_str).is_some())
        .map(|p| age(object, p, now))
        .unwrap_or_else(|| "<unknown>".into());
        let involved = at("/involvedObject");
        let object_ref = format!(
            "{}/{}",
            text(involved.and_then(|i| i.get("kind"))).to_ascii_lowercase(),
            text(involved.and_then(|i| i.get("name")))
        );
        let source = or_none(
            text(at("/source/component")).to_string()
                + &at("/source/host")
                    .and_then(Value::as_str)
                    .map(|h| format!(", {h}"))
                    .unwrap_or_default(),
        );
        vec![
            json!(last_seen),
            json!(text(at("/type"))),
            json!(text(at("/reason"))),
            json!(object_ref),
            json!(text(involved.and_then(|i| i.get("fieldPath")))),
            json!(source),
            json!(text(at("/message")).trim().to_string()),
            json!(first_seen),
            json!(int(at("/count")).max(1).to_string()),
            name,
        ]
    }
}
