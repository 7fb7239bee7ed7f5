//! `Table` responses (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`):
//! each kind's columns and cells (its [`crate::kinds::Strategy`]) and the
//! printing helpers they share, as Kubernetes' printers compute them.

use serde_json::{Value, json};

use crate::resources::ResourceDef;

/// How much of each object a row carries (`includeObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// The `Table` for `objects` of one kind.
pub fn render(
    resource: &ResourceDef,
    objects: &[&Value],
    include: IncludeObject,
    metadata: Value,
    with_columns: bool,
) -> Value {
    let now = crate::meta::now();
    let strategy = crate::kinds::strategy(resource);
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let mut row = json!({"cells": strategy.cells(object, now)});
            match include {
                IncludeObject::None => {}
                IncludeObject::Object => row["object"] = (*object).clone(),
                IncludeObject::Metadata => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": object.get("metadata").cloned().unwrap_or_default(),
                    })
                }
            }
            row
        })
        .collect();
    let mut table = json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "rows": rows});
    table["columnDefinitions"] = if with_columns {
        strategy
            .columns()
            .iter()
            .map(|(name, kind, priority, description)| {
                let format = if *name == "Name" { "name" } else { "" };
                json!({"name": name, "type": kind, "format": format, "description": description, "priority": priority})
            })
            .collect()
    } else {
        Value::Null
    };
    table
}

pub(crate) fn text(value: Option<&Value>) -> String {
    value
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub(crate) fn int(value: Option<&Value>) -> i64 {
    value.and_then(Value::as_i64).unwrap_or(0)
}

pub(crate) fn or_none(text: String) -> String {
    if text.is_empty() {
        "<none>".into()
    } else {
        text
    }
}

pub(crate) fn joined<'a>(values: impl Iterator<Item = &'a Value>, field: &str) -> String {
    values
        .filter_map(|v| v.get(field).and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn selector_text(selector: Option<&Value>) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(labels) = selector
        .and_then(|s| s.get("matchLabels").or(Some(s)))
        .and_then(Value::as_object)
    {
        for (key, value) in labels {
            if let Some(value) = value.as_str() {
                parts.push(format!("{key}={value}"));
            }
        }
    }
    or_none(parts.join(","))
}

pub(crate) fn age(object: &Value, field: &str, now: k8s_openapi::jiff::Timestamp) -> String {
    object
        .pointer(field)
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
        .map(|then| human_duration(now.as_second() - then.as_second()))
        .unwrap_or_else(|| "<unknown>".into())
}

/// Kubernetes' `duration.HumanDuration`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let s = seconds.max(0);
    let (m, h) = (s / 60, s / 3600);
    let (d, y) = (h / 24, h / (24 * 365));
    let pair = |big: i64, unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{unit}")
        } else {
            format!("{big}{unit}{small}{small_unit}")
        }
    };
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        pair(m, "m", s % 60, "s")
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        pair(h, "h", m % 60, "m")
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        pair(d, "d", h % 24, "h")
    } else if h < 24 * 365 * 2 {
        format!("{d}d")
    } else if y < 8 {
        pair(y, "y", d % 365, "d")
    } else {
        format!("{y}y")
    }
}

/// The CONTAINERS and IMAGES cells of a pod spec (a template's).
pub(crate) fn containers_cells(pod_spec: Option<&Value>) -> [Value; 2] {
    let containers = pod_spec
        .and_then(|spec| spec.get("containers"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    [
        json!(joined(containers.iter(), "name")),
        json!(joined(containers.iter(), "image")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn ages_print_like_kubectl() {
        for (seconds, text) in [
            (5, "5s"),
            (119, "119s"),
            (150, "2m30s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (30 * 3600, "30h"),
            (3 * 86400 + 3600, "3d1h"),
            (40 * 86400, "40d"),
        ] {
            assert_eq!(human_duration(seconds), text, "{seconds}");
        }
    }

    #[test]
    fn every_kind_has_as_many_cells_as_columns() {
        let registry = Registry::builtin();
        for resource in registry.all() {
            let object =
                json!({"metadata": {"name": "x", "creationTimestamp": "2020-01-01T00:00:00Z"}});
            let table = render(&resource, &[&object], IncludeObject::None, json!({}), true);
            let columns = table["columnDefinitions"].as_array().unwrap().len();
            let cells = table["rows"][0]["cells"].as_array().unwrap().len();
            assert_eq!(columns, cells, "{}", resource.kind);
        }
    }

    #[test]
    fn resource_quota_rows_split_requests_from_limits() {
        let registry = Registry::builtin();
        let quotas = registry.get("", "v1", "resourcequotas").unwrap();
        let quota = json!({
            "metadata": {"name": "compute", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "status": {
                "hard": {"requests.cpu": "1", "pods": "2", "limits.memory": "1Gi", "limits.cpu": "2",
                         "requests.nvidia.com/gpu": "4"},
                "used": {"pods": "1", "requests.cpu": "500m", "limits.cpu": "1"}
            }
        });
        let table = render(&quotas, &[&quota], IncludeObject::None, json!({}), true);
        let cells = &table["rows"][0]["cells"];
        assert_eq!(cells[0], "compute");
        assert_eq!(
            cells[2],
            "pods: 1/2, requests.cpu: 500m/1, requests.nvidia.com/gpu: 0/4"
        );
        assert_eq!(cells[3], "limits.cpu: 1/2, limits.memory: 0/1Gi");
        let names: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|column| column["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Age", "Request", "Limit"]);
        // A quota not yet counted shows empty columns.
        let fresh = json!({"metadata": {"name": "new"}});
        let table = render(&quotas, &[&fresh], IncludeObject::None, json!({}), false);
        assert_eq!(table["rows"][0]["cells"][2], "");
    }

    #[test]
    fn limit_range_rows_show_when_they_were_created() {
        let registry = Registry::builtin();
        let limits = registry.get("", "v1", "limitranges").unwrap();
        let range =
            json!({"metadata": {"name": "limits", "creationTimestamp": "2020-01-01T00:00:00Z"}});
        let table = render(&limits, &[&range], IncludeObject::None, json!({}), true);
        assert_eq!(
            table["rows"][0]["cells"],
            json!(["limits", "2020-01-01T00:00:00Z"])
        );
        assert_eq!(table["columnDefinitions"][1]["type"], "date");
    }

    #[test]
    fn pod_rows_show_readiness_status_and_restarts() {
        let registry = Registry::builtin();
        let pods = registry.get("", "v1", "pods").unwrap();
        let pod = json!({
            "metadata": {"name": "web", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
            "status": {"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ]}
        });
        let table = render(&pods, &[&pod], IncludeObject::Metadata, json!({}), true);
        let cells = &table["rows"][0]["cells"];
        assert_eq!(cells[0], "web");
        assert_eq!(cells[1], "1/2");
        assert_eq!(cells[2], "CrashLoopBackOff");
        assert_eq!(cells[3], "3");
        assert_eq!(cells[5], "10.0.0.5");
        assert_eq!(cells[6], "n1");
        assert_eq!(
            table["columnDefinitions"].as_array().unwrap().len(),
            cells.as_array().unwrap().len()
        );
        assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }
}
