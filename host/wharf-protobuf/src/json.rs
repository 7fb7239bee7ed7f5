//! Kubernetes JSON in the order kube-apiserver writes it.
//!
//! Go's JSON encoder writes a struct's fields in their declaration order —
//! `kind`, `apiVersion`, `metadata`, `spec`, `status`, and within each the
//! Go struct's order — and a map's keys sorted. `serde_json::Value` holds
//! every object's keys sorted, so [`write_json`] walks the value beside its
//! kind's message in the schema, whose fields `k8s-pb` declares in Go's
//! order: known fields in that order (an inline struct's fields where the
//! struct is), then any key the schema does not know, sorted. An object
//! whose `apiVersion` and `kind` the schema does not know (a custom
//! resource, which kube-apiserver handles as a map) is written sorted, as
//! kube writes it.

use serde_json::{Map, Value};

use crate::schema::{self, Card, FieldDef, FieldType, MessageDef, Special, message_for_kind};

/// `value` as JSON, in Go's field order when it is an object of a kind
/// the schema knows.
pub fn to_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    write_json(&mut out, value);
    out
}

/// Appends `value` to `out`, as [`to_json`] writes it.
pub fn write_json(out: &mut Vec<u8>, value: &Value) {
    let kind = value.get("kind").and_then(Value::as_str);
    let api_version = value.get("apiVersion").and_then(Value::as_str);
    match (
        value,
        api_version
            .zip(kind)
            .and_then(|(a, k)| message_for_kind(a, k)),
    ) {
        (Value::Object(map), Some(message)) => write_message(out, map, message),
        _ => plain(out, value),
    }
}

/// `TypeMeta`, inline at the start of every kind and never in its message.
const TYPE_META: [&str; 2] = ["kind", "apiVersion"];

fn write_message(out: &mut Vec<u8>, map: &Map<String, Value>, message: &MessageDef) {
    out.push(b'{');
    let mut written = 0;
    for key in TYPE_META {
        if let Some(value) = map.get(key)
            && !knows(message, key)
        {
            entry(out, &mut written, key, |out| plain(out, value));
        }
    }
    write_fields(out, map, message, &mut written);
    if written < map.len() {
        for (key, value) in map {
            if !TYPE_META.contains(&key.as_str()) && !knows(message, key) {
                entry(out, &mut written, key, |out| plain(out, value));
            }
        }
    }
    out.push(b'}');
}

fn write_fields(
    out: &mut Vec<u8>,
    map: &Map<String, Value>,
    message: &MessageDef,
    written: &mut usize,
) {
    for field in message.fields_in_go_order() {
        match (field.card, field.ty) {
            (Card::Inline, FieldType::Message(index)) => {
                if let Some(inline) = schema::message(index) {
                    write_fields(out, map, inline, written);
                }
            }
            _ => {
                if let Some(value) = map.get(field.json) {
                    entry(out, written, field.json, |out| {
                        write_field(out, value, field)
                    });
                }
            }
        }
    }
}

/// Whether the message (or a struct inline in it) has a field of this name.
fn knows(message: &MessageDef, key: &str) -> bool {
    message
        .fields
        .iter()
        .any(|field| match (field.card, field.ty) {
            (Card::Inline, FieldType::Message(index)) => {
                schema::message(index).is_some_and(|inline| knows(inline, key))
            }
            _ => field.json == key,
        })
}

fn write_field(out: &mut Vec<u8>, value: &Value, field: &FieldDef) {
    match field.ty {
        FieldType::Message(index) => write_as(out, value, index),
        FieldType::MapMessage(index) => match value {
            Value::Object(map) => {
                out.push(b'{');
                let mut written = 0;
                for (key, value) in map {
                    entry(out, &mut written, key, |out| write_as(out, value, index));
                }
                out.push(b'}');
            }
            other => plain(out, other),
        },
        _ => plain(out, value),
    }
}

/// A value of the message `index`: an object, or a list of them.
fn write_as(out: &mut Vec<u8>, value: &Value, index: u16) {
    let Some(def) = schema::message(index).filter(|def| def.special == Special::Object) else {
        return plain(out, value);
    };
    match value {
        Value::Object(map) => write_message(out, map, def),
        Value::Array(items) => {
            out.push(b'[');
            for (at, item) in items.iter().enumerate() {
                if at > 0 {
                    out.push(b',');
                }
                match item {
                    Value::Object(map) => write_message(out, map, def),
                    other => plain(out, other),
                }
            }
            out.push(b']');
        }
        other => plain(out, other),
    }
}

fn entry(out: &mut Vec<u8>, written: &mut usize, key: &str, value: impl FnOnce(&mut Vec<u8>)) {
    if *written > 0 {
        out.push(b',');
    }
    *written += 1;
    plain_str(out, key);
    out.push(b':');
    value(out);
}

fn plain(out: &mut Vec<u8>, value: &Value) {
    serde_json::to_writer(out, value).expect("a JSON value serializes into memory");
}

fn plain_str(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(out, text).expect("a string serializes into memory");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(value: &Value) -> String {
        String::from_utf8(to_json(value)).unwrap()
    }

    #[test]
    fn a_pod_comes_out_in_go_order_and_parses_back_to_itself() {
        let pod = json!({
            "status": {"qosClass": "BestEffort", "phase": "Pending"},
            "spec": {
                "restartPolicy": "Always",
                "containers": [{"name": "c", "image": "busybox", "env": [{"value": "1", "name": "A"}],
                                "resources": {}, "args": ["x"]}],
                "initContainers": [{"name": "i", "image": "busybox"}],
                "volumes": [{"name": "v", "emptyDir": {}}],
                "nodeSelector": {"z": "1", "a": "2"},
            },
            "metadata": {"uid": "u", "name": "p", "namespace": "default", "labels": {"b": "1", "a": "2"},
                         "creationTimestamp": "2026-01-01T00:00:00Z", "resourceVersion": "5",
                         "wharf.dev/unknown": 1},
            "kind": "Pod",
            "apiVersion": "v1",
        });
        let written = text(&pod);
        assert_eq!(serde_json::from_str::<Value>(&written).unwrap(), pod);
        assert!(written.starts_with(
            r#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"default","uid":"u","resourceVersion":"5","creationTimestamp":"2026-01-01T00:00:00Z","labels":{"a":"2","b":"1"},"wharf.dev/unknown":1},"spec":{"volumes":[{"name":"v","emptyDir":{}}],"initContainers":[{"name":"i","image":"busybox"}],"containers":[{"name":"c","image":"busybox","args":["x"],"env":[{"name":"A","value":"1"}],"resources":{}}],"restartPolicy":"Always","nodeSelector":{"a":"2","z":"1"}},"status":{"phase":"Pending","qosClass":"BestEffort"}}"#
        ), "{written}");
    }

    #[test]
    fn status_lists_and_inline_structs_follow_go() {
        let status = json!({"code": 404, "details": {"kind": "pods", "name": "x"}, "reason": "NotFound",
                            "message": "m", "status": "Failure", "metadata": {}, "apiVersion": "v1", "kind": "Status"});
        assert_eq!(
            text(&status),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"m","reason":"NotFound","details":{"name":"x","kind":"pods"},"code":404}"#
        );
        let list = json!({"items": [{"metadata": {"name": "a"}, "data": {"k": "v"}}], "metadata": {"resourceVersion": "3"},
                          "apiVersion": "v1", "kind": "ConfigMapList"});
        assert_eq!(
            text(&list),
            r#"{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"3"},"items":[{"metadata":{"name":"a"},"data":{"k":"v"}}]}"#
        );
        // RoleBinding's subjects and roleRef; a ClusterRole's rules.
        let role = json!({"kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "r"},
                          "rules": [{"verbs": ["get"], "resources": ["pods"], "apiGroups": [""]}]});
        assert!(
            text(&role)
                .ends_with(r#""rules":[{"verbs":["get"],"apiGroups":[""],"resources":["pods"]}]}"#)
        );
    }

    #[test]
    fn unknown_kinds_and_non_objects_are_written_sorted() {
        let custom = json!({"spec": {"b": 1, "a": 2}, "kind": "PodSet", "apiVersion": "wharf.dev/v1", "metadata": {"name": "x"}});
        assert_eq!(text(&custom), serde_json::to_string(&custom).unwrap());
        for value in [
            json!(1),
            json!("x"),
            json!([1, {"b": 1, "a": 2}]),
            json!({"kind": 3}),
        ] {
            assert_eq!(text(&value), serde_json::to_string(&value).unwrap());
        }
        // A field of the wrong type is written as it is.
        let odd = json!({"kind": "Pod", "apiVersion": "v1", "spec": {"containers": "no"}, "metadata": []});
        assert_eq!(
            serde_json::from_slice::<Value>(&to_json(&odd)).unwrap(),
            odd
        );
    }
}
