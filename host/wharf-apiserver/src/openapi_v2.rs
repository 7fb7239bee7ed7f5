//! `/openapi/v2`: the Swagger 2.0 document older clients read, and the one
//! kubectl validates a `kind: List` against before it sends its items
//! (kubectl asks for it in protobuf, gnostic's `openapi.v2.Document`, and
//! accepts nothing else). It holds the definitions of every served kind —
//! the same schemas as the OpenAPI v3 documents, references rewritten to
//! `#/definitions/` — and no paths: kubectl then validates on the client,
//! as it does against kube for a List.
//!
//! The protobuf is written here (a few dozen fields of gnostic's
//! `OpenAPIv2.proto`); nothing else in Wharf speaks that schema.

use serde_json::{Map, Value, json};

/// The protobuf media type kubectl asks for.
pub const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The media type of the answer (as kube-openapi writes it: Go's media
/// type parser refuses the `@` of the one asked for).
pub const PROTOBUF_ANSWER: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// The Swagger 2.0 document with `definitions` (from OpenAPI v3 schemas).
pub fn document(schemas: Map<String, Value>) -> Value {
    let mut definitions = Value::Object(schemas);
    rewrite_references(&mut definitions);
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{}.0", crate::discovery::KUBERNETES_MINOR)},
        "paths": {},
        "definitions": definitions,
    })
}

/// OpenAPI v3's `#/components/schemas/X` as v2's `#/definitions/X`, and a
/// reference with a description (`allOf: [{$ref}]`) as v2 writes it.
fn rewrite_references(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let single_reference = map
                .get("allOf")
                .and_then(Value::as_array)
                .filter(|all| all.len() == 1 && all[0].get("$ref").is_some())
                .map(|all| all[0]["$ref"].clone());
            if let Some(reference) = single_reference {
                map.remove("allOf");
                map.insert("$ref".into(), reference);
            }
            if let Some(Value::String(reference)) = map.get_mut("$ref")
                && let Some(name) = reference.strip_prefix("#/components/schemas/")
            {
                *reference = format!("#/definitions/{name}");
            }
            map.remove("nullable");
            for item in map.values_mut() {
                rewrite_references(item);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_references),
        _ => {}
    }
}

/// Protobuf wire writing: varints, length-delimited fields, doubles.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, 2);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    fn string(&mut self, field: u32, text: &str) {
        if !text.is_empty() {
            self.bytes(field, text.as_bytes());
        }
    }

    fn message(&mut self, field: u32, inner: Writer) {
        self.bytes(field, &inner.0);
    }

    fn boolean(&mut self, field: u32, value: bool) {
        if value {
            self.key(field, 0);
            self.varint(1);
        }
    }

    fn int64(&mut self, field: u32, value: i64) {
        self.key(field, 0);
        self.varint(value as u64);
    }

    fn double(&mut self, field: u32, value: f64) {
        self.key(field, 1);
        self.0.extend_from_slice(&value.to_le_bytes());
    }
}

/// An `Any` holding a value as YAML (JSON is YAML).
fn any(value: &Value) -> Writer {
    let mut any = Writer::default();
    any.string(2, &value.to_string());
    any
}

/// A `NamedAny` (a vendor extension).
fn named_any(name: &str, value: &Value) -> Writer {
    let mut named = Writer::default();
    named.string(1, name);
    named.message(2, any(value));
    named
}

/// gnostic's `Schema` message.
fn schema(value: &Value) -> Writer {
    let mut out = Writer::default();
    let Some(map) = value.as_object() else {
        return out;
    };
    let text = |key: &str| map.get(key).and_then(Value::as_str);
    if let Some(reference) = text("$ref") {
        out.string(1, reference);
    }
    if let Some(format) = text("format") {
        out.string(2, format);
    }
    if let Some(title) = text("title") {
        out.string(3, title);
    }
    if let Some(description) = text("description") {
        out.string(4, description);
    }
    if let Some(default) = map.get("default") {
        out.message(5, any(default));
    }
    let number = |key: &str| map.get(key).and_then(Value::as_f64);
    let count = |key: &str| map.get(key).and_then(Value::as_i64);
    let flag = |key: &str| map.get(key).and_then(Value::as_bool).unwrap_or(false);
    if let Some(factor) = number("multipleOf") {
        out.double(6, factor);
    }
    if let Some(max) = number("maximum") {
        out.double(7, max);
    }
    out.boolean(8, flag("exclusiveMaximum"));
    if let Some(min) = number("minimum") {
        out.double(9, min);
    }
    out.boolean(10, flag("exclusiveMinimum"));
    for (field, key) in [
        (11, "maxLength"),
        (12, "minLength"),
        (14, "maxItems"),
        (15, "minItems"),
        (17, "maxProperties"),
        (18, "minProperties"),
    ] {
        if let Some(value) = count(key) {
            out.int64(field, value);
        }
    }
    if let Some(pattern) = text("pattern") {
        out.string(13, pattern);
    }
    out.boolean(16, flag("uniqueItems"));
    for required in map
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        out.string(19, required);
    }
    for allowed in map
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.message(20, any(allowed));
    }
    match map.get("additionalProperties") {
        Some(Value::Bool(allowed)) => {
            let mut item = Writer::default();
            item.key(2, 0);
            item.varint(u64::from(*allowed));
            out.message(21, item);
        }
        Some(additional @ Value::Object(_)) => {
            let mut item = Writer::default();
            item.message(1, schema(additional));
            out.message(21, item);
        }
        _ => {}
    }
    if let Some(kind) = text("type") {
        let mut item = Writer::default();
        item.string(1, kind);
        out.message(22, item);
    }
    if let Some(items) = map.get("items").filter(|i| i.is_object()) {
        let mut item = Writer::default();
        item.message(1, schema(items));
        out.message(23, item);
    }
    for branch in map
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.message(24, schema(branch));
    }
    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        let mut all = Writer::default();
        for (name, property) in properties {
            let mut named = Writer::default();
            named.string(1, name);
            named.message(2, schema(property));
            all.message(1, named);
        }
        out.message(25, all);
    }
    for (name, value) in map.iter().filter(|(name, _)| name.starts_with("x-")) {
        out.message(31, named_any(name, value));
    }
    out
}

/// The document as gnostic's `openapi.v2.Document` protobuf.
pub fn protobuf(document: &Value) -> Vec<u8> {
    let mut out = Writer::default();
    out.string(1, document["swagger"].as_str().unwrap_or("2.0"));
    let mut info = Writer::default();
    info.string(1, document["info"]["title"].as_str().unwrap_or_default());
    info.string(2, document["info"]["version"].as_str().unwrap_or_default());
    out.message(2, info);
    out.message(8, Writer::default());
    let mut definitions = Writer::default();
    for (name, definition) in document["definitions"].as_object().into_iter().flatten() {
        let mut named = Writer::default();
        named.string(1, name);
        named.message(2, schema(definition));
        definitions.message(1, named);
    }
    out.message(9, definitions);
    out.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_become_definitions_and_a_described_reference_is_flattened() {
        let mut schemas = Map::new();
        schemas.insert(
            "a.B".into(),
            json!({"properties": {"c": {"description": "d", "allOf": [{"$ref": "#/components/schemas/a.C"}]}}}),
        );
        let document = document(schemas);
        assert_eq!(
            document["definitions"]["a.B"]["properties"]["c"],
            json!({"description": "d", "$ref": "#/definitions/a.C"})
        );
    }

    #[test]
    fn the_protobuf_carries_the_version_and_each_definition() {
        let mut schemas = Map::new();
        schemas.insert(
            "io.k8s.api.core.v1.ConfigMap".into(),
            json!({"type": "object", "properties": {"data": {"type": "object", "additionalProperties": {"type": "string"}}}, "x-kubernetes-group-version-kind": [{"group": "", "kind": "ConfigMap", "version": "v1"}]}),
        );
        let bytes = protobuf(&document(schemas));
        // Field 1 ("swagger", length 3, "2.0").
        assert_eq!(&bytes[..5], &[0x0a, 3, b'2', b'.', b'0']);
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("io.k8s.api.core.v1.ConfigMap"));
        assert!(text.contains("x-kubernetes-group-version-kind"));
        assert!(text.contains("\"kind\":\"ConfigMap\""));
    }
}
