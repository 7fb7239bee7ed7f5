//! Structural OpenAPI v3 schemas, as CustomResourceDefinitions give them:
//! pruning of unknown fields, defaulting and validation with
//! kube-apiserver's messages (`k8s.io/apiextensions-apiserver`'s
//! structural schema and kube-openapi's validator), and the JSONPath
//! subset printer columns and the scale subresource use.
//!
//! The schema is walked as JSON: a CustomResourceDefinition's schema is
//! small (the validation of a 20-field object costs microseconds), and
//! the patterns it names are compiled once ([`pattern`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value, json};

use crate::error::Cause;

const PRESERVE: &str = "x-kubernetes-preserve-unknown-fields";
const INT_OR_STRING: &str = "x-kubernetes-int-or-string";
const EMBEDDED: &str = "x-kubernetes-embedded-resource";

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool).unwrap_or(false)
}

/// Drops what the schema does not name (kube's pruning), below `schema`.
/// The root's `apiVersion`, `kind` and `metadata` are kept.
pub fn prune_root(schema: &Value, object: &mut Value) {
    prune(schema, object, true);
}

fn prune(schema: &Value, value: &mut Value, keep_type_meta: bool) {
    let embedded = flag(schema, EMBEDDED);
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            if let Some(additional) = additional.filter(|a| a.is_object()) {
                for item in map.values_mut() {
                    prune(additional, item, false);
                }
                return;
            }
            let preserve = flag(schema, PRESERVE) || additional == Some(&Value::Bool(true));
            map.retain(|key, _| {
                preserve
                    || properties.is_some_and(|p| p.contains_key(key))
                    || ((keep_type_meta || embedded)
                        && matches!(key.as_str(), "apiVersion" | "kind" | "metadata"))
            });
            if let Some(properties) = properties {
                for (key, item) in map.iter_mut() {
                    if let Some(child) = properties.get(key) {
                        prune(child, item, false);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(child) = schema.get("items") {
                for item in items {
                    prune(child, item, false);
                }
            }
        }
        _ => {}
    }
}

/// Fills in the schema's `default`s where a field is absent (kube's
/// structural defaulting), below `schema`.
pub fn default(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (key, child) in properties {
                    if !map.contains_key(key)
                        && let Some(default) = child.get("default")
                    {
                        map.insert(key.clone(), default.clone());
                    }
                }
                for (key, item) in map.iter_mut() {
                    if let Some(child) = properties.get(key) {
                        default(child, item);
                    }
                }
            } else if let Some(additional) =
                schema.get("additionalProperties").filter(|a| a.is_object())
            {
                for item in map.values_mut() {
                    default(additional, item);
                }
            }
        }
        Value::Array(items) => {
            if let Some(child) = schema.get("items") {
                for item in items {
                    default(child, item);
                }
            }
        }
        _ => {}
    }
}

/// How kube names a JSON value's type in its messages.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value as kube quotes it in `Invalid value: …`.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{text:?}"),
        Value::Object(_) => "\"object\"".into(),
        Value::Array(_) => "\"array\"".into(),
        other => other.to_string(),
    }
}

/// A compiled `pattern` (each text compiled once; an invalid one is `None`).
fn pattern(text: &str) -> Option<Arc<regex::Regex>> {
    static COMPILED: OnceLock<Mutex<HashMap<String, Option<Arc<regex::Regex>>>>> = OnceLock::new();
    let mut compiled = COMPILED
        .get_or_init(Default::default)
        .lock()
        .expect("patterns");
    if compiled.len() > 4096 {
        compiled.clear();
    }
    if let Some(found) = compiled.get(text) {
        return found.clone();
    }
    let made = regex::Regex::new(text).ok().map(Arc::new);
    compiled.insert(text.to_string(), made.clone());
    made
}

/// Whether a pattern compiles (a CustomResourceDefinition's check).
pub fn pattern_compiles(text: &str) -> bool {
    pattern(text).is_some()
}

/// Checks `value` against `schema`; `path` is the field's path
/// (`spec.replicas`), empty at the root.
pub fn validate(schema: &Value, value: &Value, path: &str, causes: &mut Vec<Cause>) {
    let field = |name: &str| {
        if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    let shown_path = if path.is_empty() { "body" } else { path };
    let invalid = |causes: &mut Vec<Cause>, message: String| {
        causes.push(Cause::invalid(
            path,
            format!("Invalid value: {}: {message}", shown(value)),
        ));
    };
    // minItems/maxItems, minProperties/maxProperties, as kube words them.
    let bounds =
        |causes: &mut Vec<Cause>, len: usize, (min_key, max_key, noun): (&str, &str, &str)| {
            let count = |key: &str| schema.get(key).and_then(Value::as_u64);
            if let Some(min) = count(min_key)
                && (len as u64) < min
            {
                invalid(
                    causes,
                    format!("{shown_path} in body should have at least {min} {noun}"),
                );
            }
            if let Some(max) = count(max_key)
                && (len as u64) > max
            {
                causes.push(Cause {
                    reason: "FieldValueTooMany",
                    field: path.to_string(),
                    message: format!("Too many: {len}: must have at most {max} items"),
                });
            }
        };
    if value.is_null() {
        if !flag(schema, "nullable") && schema.get("type").is_some() {
            causes.push(Cause::invalid(
                path,
                format!(
                    "Invalid value: \"null\": {shown_path} in body must be of type {}: \"null\"",
                    schema["type"].as_str().unwrap_or("object")
                ),
            ));
        }
        return;
    }
    if flag(schema, INT_OR_STRING) {
        if !matches!(type_name(value), "integer" | "string") {
            invalid(
                causes,
                format!(
                    "{shown_path} in body must be of type integer,string: \"{}\"",
                    type_name(value)
                ),
            );
            return;
        }
    } else if let Some(wanted) = schema.get("type").and_then(Value::as_str) {
        let given = type_name(value);
        let fits = given == wanted || (wanted == "number" && given == "integer");
        if !fits {
            invalid(
                causes,
                format!("{shown_path} in body must be of type {wanted}: \"{given}\""),
            );
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let supported = allowed.iter().map(shown).collect::<Vec<_>>().join(", ");
        causes.push(Cause {
            reason: "FieldValueNotSupported",
            field: path.to_string(),
            message: format!(
                "Unsupported value: {}: supported values: {supported}",
                shown(value)
            ),
        });
    }
    match value {
        Value::String(text) => validate_string(schema, text, shown_path, causes, &invalid),
        Value::Number(number) => {
            let Some(number) = number.as_f64() else {
                return;
            };
            let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
            let exclusive = |key: &str| flag(schema, key);
            let show = |bound: f64| json!(bound).to_string().replace(".0", "");
            if let Some(min) = bound("minimum") {
                if exclusive("exclusiveMinimum") && number <= min {
                    invalid(
                        causes,
                        format!("{shown_path} in body should be greater than {}", show(min)),
                    );
                } else if number < min {
                    invalid(
                        causes,
                        format!(
                            "{shown_path} in body should be greater than or equal to {}",
                            show(min)
                        ),
                    );
                }
            }
            if let Some(max) = bound("maximum") {
                if exclusive("exclusiveMaximum") && number >= max {
                    invalid(
                        causes,
                        format!("{shown_path} in body should be less than {}", show(max)),
                    );
                } else if number > max {
                    invalid(
                        causes,
                        format!(
                            "{shown_path} in body should be less than or equal to {}",
                            show(max)
                        ),
                    );
                }
            }
            if let Some(factor) = bound("multipleOf").filter(|f| *f > 0.0)
                && (number / factor).fract() != 0.0
            {
                invalid(
                    causes,
                    format!(
                        "{shown_path} in body should be a multiple of {}",
                        show(factor)
                    ),
                );
            }
        }
        Value::Array(items) => {
            bounds(causes, items.len(), ("minItems", "maxItems", "items"));
            if flag(schema, "uniqueItems")
                || schema.get("x-kubernetes-list-type") == Some(&json!("set"))
            {
                for (index, item) in items.iter().enumerate() {
                    if items[..index].contains(item) {
                        causes.push(Cause {
                            reason: "FieldValueDuplicate",
                            field: format!("{path}[{index}]"),
                            message: format!("Duplicate value: {}", shown(item)),
                        });
                    }
                }
            }
            if let Some(child) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    validate(child, item, &format!("{path}[{index}]"), causes);
                }
            }
        }
        Value::Object(map) => {
            if flag(schema, EMBEDDED) {
                for required in ["apiVersion", "kind"] {
                    if map
                        .get(required)
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        causes.push(Cause::required(field(required)));
                    }
                }
            }
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for name in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(name) {
                        causes.push(Cause::required(field(name)));
                    }
                }
            }
            bounds(
                causes,
                map.len(),
                ("minProperties", "maxProperties", "properties"),
            );
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (key, item) in map {
                if path.is_empty() && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(child) = properties.and_then(|p| p.get(key)) {
                    validate(child, item, &field(key), causes);
                } else if let Some(additional) = additional {
                    validate(additional, item, &field(key), causes);
                }
            }
        }
        _ => {}
    }
    for (key, all) in [("allOf", true), ("anyOf", false), ("oneOf", false)] {
        let Some(branches) = schema.get(key).and_then(Value::as_array) else {
            continue;
        };
        let results: Vec<Vec<Cause>> = branches
            .iter()
            .map(|branch| {
                let mut found = Vec::new();
                validate(branch, value, path, &mut found);
                found
            })
            .collect();
        let passing = results.iter().filter(|found| found.is_empty()).count();
        match (key, all) {
            (_, true) => causes.extend(results.into_iter().flatten()),
            ("anyOf", _) if passing == 0 => invalid(
                causes,
                format!("{shown_path} in body must match at least one schema (anyOf)"),
            ),
            ("oneOf", _) if passing != 1 => invalid(
                causes,
                format!("{shown_path} in body must validate one and only one schema (oneOf)"),
            ),
            _ => {}
        }
    }
    if let Some(not) = schema.get("not") {
        let mut found = Vec::new();
        validate(not, value, path, &mut found);
        if found.is_empty() {
            invalid(
                causes,
                format!("{shown_path} in body should not validate the schema (not)"),
            );
        }
    }
}

fn validate_string(
    schema: &Value,
    text: &str,
    shown_path: &str,
    causes: &mut Vec<Cause>,
    invalid: &dyn Fn(&mut Vec<Cause>, String),
) {
    let count = |key: &str| schema.get(key).and_then(Value::as_u64);
    let length = text.chars().count() as u64;
    if let Some(min) = count("minLength")
        && length < min
    {
        invalid(
            causes,
            format!("{shown_path} in body should be at least {min} chars long"),
        );
    }
    if let Some(max) = count("maxLength")
        && length > max
    {
        causes.push(Cause {
            reason: "FieldValueTooLong",
            field: shown_path.to_string(),
            message: format!("Too long: may not be more than {max} bytes"),
        });
    }
    if let Some(wanted) = schema.get("pattern").and_then(Value::as_str)
        && pattern(wanted).is_some_and(|re| !re.is_match(text))
    {
        invalid(
            causes,
            format!("{shown_path} in body should match '{wanted}'"),
        );
    }
    if let Some(format) = schema.get("format").and_then(Value::as_str)
        && !format_fits(format, text)
    {
        invalid(
            causes,
            format!("{shown_path} in body must be of type {format}: {text:?}"),
        );
    }
}

/// The string formats kube checks (others are accepted as any string).
fn format_fits(format: &str, text: &str) -> bool {
    use base64::Engine;
    match format {
        "date-time" | "datetime" => text.parse::<k8s_openapi::jiff::Timestamp>().is_ok(),
        "date" => text.parse::<k8s_openapi::jiff::civil::Date>().is_ok(),
        "byte" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .is_ok(),
        "uuid" => uuid::Uuid::parse_str(text).is_ok(),
        "ipv4" => text.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => text.parse::<std::net::Ipv6Addr>().is_ok(),
        "cidr" => text.split_once('/').is_some_and(|(ip, bits)| {
            ip.parse::<std::net::IpAddr>().is_ok() && bits.parse::<u8>().is_ok()
        }),
        "email" => text
            .split_once('@')
            .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.')),
        "hostname" => {
            !text.is_empty()
                && text.len() <= 253
                && text.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
        }
        _ => true,
    }
}

/// What a CustomResourceDefinition's schema must be (kube's structural
/// rules, the ones that matter for serving): an object at the root, a
/// type on every node unless it preserves unknown fields or is
/// int-or-string, patterns that compile. Causes name fields under `at`.
pub fn check_structural(schema: &Value, at: &str, causes: &mut Vec<Cause>) {
    if !schema.is_object() {
        causes.push(Cause::invalid(at, "Invalid value: must be an object"));
        return;
    }
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        causes.push(Cause::invalid(
            format!("{at}.type"),
            "Unsupported value: must be object at the root",
        ));
    }
    check_node(schema, at, causes, 0);
}

fn check_node(schema: &Value, at: &str, causes: &mut Vec<Cause>, depth: usize) {
    if depth > 64 {
        causes.push(Cause::invalid(at, "Invalid value: nested too deep"));
        return;
    }
    let typed = schema
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    if !typed && !flag(schema, PRESERVE) && !flag(schema, INT_OR_STRING) && depth > 0 {
        causes.push(Cause::required(format!("{at}.type")));
    }
    if let Some(wanted) = schema.get("pattern").and_then(Value::as_str)
        && !pattern_compiles(wanted)
    {
        causes.push(Cause::invalid(
            format!("{at}.pattern"),
            format!("Invalid value: {wanted:?}: must be a valid regular expression"),
        ));
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (key, child) in properties {
            check_node(child, &format!("{at}.properties[{key}]"), causes, depth + 1);
        }
    }
    if let Some(items) = schema.get("items").filter(|i| i.is_object()) {
        check_node(items, &format!("{at}.items"), causes, depth + 1);
    }
    if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
        check_node(
            additional,
            &format!("{at}.additionalProperties"),
            causes,
            depth + 1,
        );
    }
}

/// Whether a schema uses CEL rules (`x-kubernetes-validations`) anywhere.
pub fn has_cel_rules(schema: &Value) -> bool {
    match schema {
        Value::Object(map) => {
            map.contains_key("x-kubernetes-validations") || map.values().any(has_cel_rules)
        }
        Value::Array(items) => items.iter().any(has_cel_rules),
        _ => false,
    }
}

/// One step of a JSONPath.
enum Step {
    Field(String),
    Index(usize),
    All,
    /// `[?(@.field=="value")]`.
    Filter(Vec<String>, Value),
}

fn parse_path(path: &str) -> Option<Vec<Step>> {
    let path = path.trim();
    let path = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path);
    let mut rest = path.strip_prefix('$').unwrap_or(path);
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..end];
            if !name.is_empty() {
                steps.push(Step::Field(name.to_string()));
            }
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inside = after[..end].trim();
            rest = &after[end + 1..];
            if inside == "*" {
                steps.push(Step::All);
            } else if let Ok(index) = inside.parse() {
                steps.push(Step::Index(index));
            } else if let Some(filter) = inside
                .strip_prefix("?(@.")
                .and_then(|f| f.strip_suffix(')'))
            {
                let (field, wanted) = filter.split_once("==")?;
                let wanted = wanted.trim();
                let wanted = wanted
                    .strip_prefix('"')
                    .and_then(|w| w.strip_suffix('"'))
                    .or_else(|| wanted.strip_prefix('\'').and_then(|w| w.strip_suffix('\'')))
                    .map(|w| json!(w))
                    .or_else(|| serde_json::from_str(wanted).ok())?;
                let field = field.trim().split('.').map(str::to_string).collect();
                steps.push(Step::Filter(field, wanted));
            } else {
                let name = inside.trim_matches(|c| c == '\'' || c == '"');
                steps.push(Step::Field(name.to_string()));
            }
        } else {
            return None;
        }
    }
    Some(steps)
}

/// What a JSONPath (kube's subset for printer columns: fields, indexes,
/// `[*]` and `[?(@.f=="v")]` filters) finds in `object`.
pub fn find<'a>(object: &'a Value, path: &str) -> Vec<&'a Value> {
    let Some(steps) = parse_path(path) else {
        return Vec::new();
    };
    let mut found = vec![object];
    for step in &steps {
        let mut next = Vec::new();
        for node in found {
            match step {
                Step::Field(name) => next.extend(node.get(name)),
                Step::Index(index) => next.extend(node.get(*index)),
                Step::All => match node {
                    Value::Array(items) => next.extend(items),
                    Value::Object(map) => next.extend(map.values()),
                    _ => {}
                },
                Step::Filter(field, wanted) => {
                    if let Value::Array(items) = node {
                        next.extend(items.iter().filter(|item| {
                            field
                                .iter()
                                .try_fold(*item, |v, f| v.get(f))
                                .is_some_and(|v| v == wanted)
                        }));
                    }
                }
            }
        }
        found = next;
    }
    found
}

/// Sets the field a simple path (`.spec.replicas`) names, making the
/// objects on the way.
pub fn set_path(object: &mut Value, path: &str, value: Value) {
    let parts: Vec<&str> = path
        .trim_start_matches('.')
        .split('.')
        .filter(|p| !p.is_empty())
        .collect();
    let Some((last, parents)) = parts.split_last() else {
        return;
    };
    let mut node = object;
    for part in parents {
        if !node.get(*part).is_some_and(Value::is_object) {
            node[*part] = Value::Object(Map::new());
        }
        node = &mut node[*part];
    }
    node[*last] = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "string", "pattern": "^[a-z]+(:[0-9.]+)?$"},
                        "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                        "color": {"type": "string", "enum": ["red", "green"]},
                        "port": {"x-kubernetes-int-or-string": true},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "items": {"type": "array", "maxItems": 2, "items": {"type": "object", "properties": {"name": {"type": "string", "default": "x"}}}},
                    },
                },
                "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
            },
        })
    }

    fn causes(object: &Value) -> Vec<String> {
        let mut found = Vec::new();
        validate(&schema(), object, "", &mut found);
        found
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn validation_speaks_kubes_messages() {
        let bad = json!({"spec": {"replicas": "two", "color": "pink", "image": "Nginx"}});
        assert_eq!(
            causes(&bad),
            vec![
                "spec.color: Unsupported value: \"pink\": supported values: \"red\", \"green\"",
                "spec.image: Invalid value: \"Nginx\": spec.image in body should match '^[a-z]+(:[0-9.]+)?$'",
                "spec.replicas: Invalid value: \"two\": spec.replicas in body must be of type integer: \"string\"",
            ]
        );
        assert_eq!(
            causes(&json!({"spec": {"replicas": 0}})),
            vec![
                "spec.image: Required value",
                "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1",
            ]
        );
        assert!(causes(&json!({"spec": {"image": "nginx", "port": 80}})).is_empty());
        assert!(causes(&json!({"spec": {"image": "nginx", "port": "http"}})).is_empty());
        assert_eq!(
            causes(&json!({"spec": {"image": "nginx", "port": true}})),
            vec![
                "spec.port: Invalid value: true: spec.port in body must be of type integer,string: \"boolean\""
            ]
        );
        assert_eq!(
            causes(&json!({"spec": {"image": "nginx", "items": [{}, {}, {}]}})),
            vec!["spec.items: Too many: 3: must have at most 2 items"]
        );
    }

    #[test]
    fn pruning_keeps_what_the_schema_names_and_defaults_fill_the_rest() {
        let mut object = json!({
            "apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"},
            "spec": {"image": "nginx", "bogus": 1, "labels": {"a": "b"}, "free": {"any": {"thing": 1}}, "items": [{"name": "y", "extra": 2}, {}]},
            "extra": true,
        });
        prune_root(&schema(), &mut object);
        default(&schema(), &mut object);
        assert_eq!(
            object,
            json!({
                "apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"},
                "spec": {"image": "nginx", "replicas": 1, "labels": {"a": "b"}, "free": {"any": {"thing": 1}}, "items": [{"name": "y"}, {"name": "x"}]},
            })
        );
    }

    #[test]
    fn jsonpath_finds_fields_indexes_and_filters() {
        let object = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}]}, "spec": {"list": [1, 2]}});
        assert_eq!(
            find(&object, ".status.conditions[?(@.type==\"Synced\")].status"),
            vec![&json!("False")]
        );
        assert_eq!(find(&object, ".spec.list[1]"), vec![&json!(2)]);
        assert_eq!(find(&object, ".spec.list[*]").len(), 2);
        assert!(find(&object, ".spec.missing").is_empty());
        let mut object = json!({});
        set_path(&mut object, ".spec.replicas", json!(3));
        assert_eq!(object, json!({"spec": {"replicas": 3}}));
    }

    #[test]
    fn a_schema_without_an_object_root_or_types_is_not_structural() {
        let mut found = Vec::new();
        check_structural(
            &json!({"type": "object", "properties": {"a": {}, "b": {"type": "string", "pattern": "("}}}),
            "spec.versions[0].schema.openAPIV3Schema",
            &mut found,
        );
        let fields: Vec<_> = found.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "spec.versions[0].schema.openAPIV3Schema.properties[a].type",
                "spec.versions[0].schema.openAPIV3Schema.properties[b].pattern",
            ]
        );
    }
}
