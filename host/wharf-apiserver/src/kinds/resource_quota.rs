//! The strategy of `ResourceQuota`.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Strategy, name_and_age};

pub struct ResourceQuota;

#[async_trait::async_trait]
impl Strategy for ResourceQuota {
    fn columns(&self) -> &'static [Column] {
        &[
            NAME,
            AGE,
            (
                "Request",
                "string",
                0,
                "Request represents a minimum amount of cpu/memory that a container may consume.",
            ),
            (
                "Limit",
                "string",
                0,
                "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
            ),
        ]
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        let status = object.get("status");
        let (request, limit) = quota_columns(status);
        vec![name, created, json!(request), json!(limit)]
    }
}

/// The REQUEST and LIMIT columns of a ResourceQuota (`printResourceQuota`):
/// `resource: used/hard` for each resource of `status.hard` in name order,
/// `limits.*` in the second. Quantities print as stored.
fn quota_columns(status: Option<&Value>) -> (String, String) {
    let hard = status
        .and_then(|s| s.get("hard"))
        .and_then(Value::as_object);
    let mut resources: Vec<(&String, &Value)> = hard.into_iter().flatten().collect();
    resources.sort_by(|a, b| a.0.cmp(b.0));
    let (mut request, mut limit) = (Vec::new(), Vec::new());
    for (resource, hard) in resources {
        let used = status
            .and_then(|s| s.get("used"))
            .and_then(|used| used.get(resource))
            .and_then(Value::as_str)
            .unwrap_or("0");
        let cell = format!("{resource}: {used}/{}", hard.as_str().unwrap_or("0"));
        match resource.split_once('.') {
            Some(("limits", _)) => limit.push(cell),
            _ => request.push(cell),
        }
    }
    (request.join(", "), limit.join(", "))
}
