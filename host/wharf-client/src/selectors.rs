//! Label and field selectors, parsed from the query and matched against
//! objects in their JSON form.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::resources::ResourceDef;

/// A parsed `labelSelector`: every requirement must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelSelector(Vec<LabelRequirement>);

#[derive(Clone, Debug, PartialEq)]
enum LabelRequirement {
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Greater(String, i64),
    Less(String, i64),
}

/// The selector as kube prints a structured one (`FormatLabelSelector`):
/// requirements by key, `key=value` for one value, `key in (a,b)`.
impl std::fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = |r: &LabelRequirement| match r {
            LabelRequirement::Exists(k)
            | LabelRequirement::NotExists(k)
            | LabelRequirement::In(k, _)
            | LabelRequirement::NotIn(k, _)
            | LabelRequirement::Greater(k, _)
            | LabelRequirement::Less(k, _) => k.clone(),
        };
        let mut requirements: Vec<&LabelRequirement> = self.0.iter().collect();
        requirements.sort_by_key(|r| key(r));
        let sorted = |values: &[String]| {
            let mut values = values.to_vec();
            values.sort();
            values.join(",")
        };
        for (i, requirement) in requirements.into_iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match requirement {
                LabelRequirement::Exists(k) => write!(f, "{k}")?,
                LabelRequirement::NotExists(k) => write!(f, "!{k}")?,
                LabelRequirement::In(k, values) if values.len() == 1 => {
                    write!(f, "{k}={}", values[0])?
                }
                LabelRequirement::In(k, values) => write!(f, "{k} in ({})", sorted(values))?,
                LabelRequirement::NotIn(k, values) => write!(f, "{k} notin ({})", sorted(values))?,
                LabelRequirement::Greater(k, n) => write!(f, "{k}>{n}")?,
                LabelRequirement::Less(k, n) => write!(f, "{k}<{n}")?,
            }
        }
        Ok(())
    }
}

impl LabelSelector {
    pub fn parse(text: &str) -> ApiResult<Self> {
        let mut requirements = Vec::new();
        for term in split_top_level(text) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            requirements.push(parse_label_term(term).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "unable to parse requirement: found '{term}', expected a label selector term"
                ))
            })?);
        }
        Ok(Self(requirements))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A structured `LabelSelector` object (`matchLabels`,
    /// `matchExpressions` with `In`, `NotIn`, `Exists`, `DoesNotExist`), as
    /// Deployments, aggregated ClusterRoles and others hold it.
    pub fn from_object(selector: &Value) -> ApiResult<Self> {
        let mut requirements = Vec::new();
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (key, value) in labels {
                let value = value.as_str().unwrap_or_default().to_string();
                requirements.push(LabelRequirement::In(key.clone(), vec![value]));
            }
        }
        for expression in selector
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = expression["key"].as_str().unwrap_or_default().to_string();
            let values = (expression["values"].as_array().into_iter().flatten())
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            requirements.push(match expression["operator"].as_str() {
                Some("In") => LabelRequirement::In(key, values),
                Some("NotIn") => LabelRequirement::NotIn(key, values),
                Some("Exists") => LabelRequirement::Exists(key),
                Some("DoesNotExist") => LabelRequirement::NotExists(key),
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "{other:?} is not a valid label selector operator"
                    )));
                }
            });
        }
        Ok(Self(requirements))
    }

    /// Whether an object's `metadata.labels` satisfy the selector.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object);
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.0.iter().all(|requirement| match requirement {
            LabelRequirement::Exists(key) => label(key).is_some(),
            LabelRequirement::NotExists(key) => label(key).is_none(),
            LabelRequirement::In(key, values) => {
                label(key).is_some_and(|v| values.iter().any(|w| w == v))
            }
            LabelRequirement::NotIn(key, values) => {
                label(key).is_none_or(|v| values.iter().all(|w| w != v))
            }
            LabelRequirement::Greater(key, bound) => label(key)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *bound),
            LabelRequirement::Less(key, bound) => label(key)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *bound),
        })
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_label_term(term: &str) -> Option<LabelRequirement> {
    if let Some(key) = term.strip_prefix('!') {
        return valid_key(key.trim()).then(|| LabelRequirement::NotExists(key.trim().to_string()));
    }
    for (operator, set_op) in [(" notin ", false), (" in ", true)] {
        if let Some(at) = term.find(operator) {
            let key = term[..at].trim();
            let set = term[at + operator.len()..].trim();
            let inner = set.strip_prefix('(')?.strip_suffix(')')?;
            let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
            if !valid_key(key) || values.iter().any(|v| !valid_value(v)) {
                return None;
            }
            return Some(if set_op {
                LabelRequirement::In(key.into(), values)
            } else {
                LabelRequirement::NotIn(key.into(), values)
            });
        }
    }
    for (operator, kind) in [("!=", 0), ("==", 1), ("=", 1), (">", 2), ("<", 3)] {
        if let Some(at) = term.find(operator) {
            let key = term[..at].trim();
            let value = term[at + operator.len()..].trim();
            if !valid_key(key) {
                return None;
            }
            return match kind {
                0 if valid_value(value) => {
                    Some(LabelRequirement::NotIn(key.into(), vec![value.into()]))
                }
                1 if valid_value(value) => {
                    Some(LabelRequirement::In(key.into(), vec![value.into()]))
                }
                2 => value
                    .parse()
                    .ok()
                    .map(|v| LabelRequirement::Greater(key.into(), v)),
                3 => value
                    .parse()
                    .ok()
                    .map(|v| LabelRequirement::Less(key.into(), v)),
                _ => None,
            };
        }
    }
    valid_key(term).then(|| LabelRequirement::Exists(term.to_string()))
}

/// A label key: an optional DNS prefix and `/`, then a name of at most 63
/// characters of alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
pub fn valid_key(key: &str) -> bool {
    let name = match key.rsplit_once('/') {
        Some((prefix, name)) => {
            if prefix.is_empty() || prefix.len() > 253 || !crate::meta::is_dns1123_subdomain(prefix)
            {
                return false;
            }
            name
        }
        None => key,
    };
    !name.is_empty() && valid_value(name)
}

/// A label value: empty, or at most 63 characters of alphanumerics, `-`,
/// `_`, `.`, starting and ending alphanumeric.
pub fn valid_value(value: &str) -> bool {
    if value.is_empty() {
        return true;
    }
    let bytes = value.as_bytes();
    value.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A parsed `fieldSelector`: `field=value`, `field==value`, `field!=value`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSelector(Vec<FieldTerm>);

/// One term of a field selector, with the JSON pointer its field reads
/// (made once: a selector is matched against every object of a list).
#[derive(Clone, Debug, PartialEq)]
struct FieldTerm {
    field: String,
    pointer: String,
    equal: bool,
    value: String,
}

impl FieldSelector {
    pub fn parse(text: &str, resource: &ResourceDef) -> ApiResult<Self> {
        let mut terms = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(ApiError::BadRequest(format!(
                    "invalid selector: '{text}'; can't understand '{term}'"
                )));
            };
            let field = field.trim();
            if !resource.supports_field_label(field) {
                return Err(ApiError::BadRequest(format!(
                    "field label not supported: {field}"
                )));
            }
            let path = match field {
                "source" => "source.component",
                other => other,
            };
            terms.push(FieldTerm {
                field: field.to_string(),
                pointer: format!("/{}", path.replace('.', "/")),
                equal,
                value: value.trim().to_string(),
            });
        }
        Ok(Self(terms))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value a term `field=value` pins, if the selector has one.
    pub fn pinned(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|term| term.equal && term.field == field)
            .map(|term| term.value.as_str())
    }

    /// The value a field selector `metadata.name=…` pins, if any.
    pub fn exact_name(&self) -> Option<&str> {
        self.pinned("metadata.name")
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0
            .iter()
            .all(|term| field_is(object, term) == term.equal)
    }
}

/// Whether the field a term names has the term's value on `object`, as
/// Kubernetes' field sets give fields: missing strings are empty, missing
/// booleans `false`.
fn field_is(object: &Value, term: &FieldTerm) -> bool {
    match object.pointer(&term.pointer) {
        Some(Value::String(s)) => *s == term.value,
        Some(Value::Bool(b)) => term.value == if *b { "true" } else { "false" },
        Some(Value::Number(n)) => n.to_string() == term.value,
        Some(_) => term.value.is_empty(),
        None if matches!(
            term.field.as_str(),
            "spec.unschedulable" | "spec.hostNetwork"
        ) =>
        {
            term.value == "false"
        }
        None => term.value.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resources::Registry;

    fn labelled(labels: Value) -> Value {
        json!({"metadata": {"labels": labels}})
    }

    #[test]
    fn label_selectors_support_every_operator() {
        let object = labelled(json!({"app": "web", "tier": "front", "n": "5"}));
        let cases = [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app!=db", true),
            ("app in (web, db)", true),
            ("app notin (web,db)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("missing!=x", true),
            ("app=web,tier in (front),!missing", true),
            ("n>4", true),
            ("n<4", false),
            ("", true),
        ];
        for (selector, expected) in cases {
            let parsed = LabelSelector::parse(selector).unwrap();
            assert_eq!(parsed.matches(&object), expected, "{selector}");
        }
    }

    #[test]
    fn malformed_label_selectors_are_bad_requests() {
        for selector in ["app in web", "=x", "app=(", "a b c", "app in (a,b"] {
            assert!(LabelSelector::parse(selector).is_err(), "{selector}");
        }
    }

    #[test]
    fn field_selectors_match_supported_fields_only() {
        let registry = Registry::builtin();
        let pods = registry.get("", "v1", "pods").unwrap();
        let pod = json!({"metadata": {"name": "x", "namespace": "default"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        assert!(
            FieldSelector::parse("spec.nodeName=n1,status.phase!=Failed", &pods)
                .unwrap()
                .matches(&pod)
        );
        assert!(
            !FieldSelector::parse("metadata.name=y", &pods)
                .unwrap()
                .matches(&pod)
        );
        assert!(
            FieldSelector::parse("spec.nodeName=", &pods)
                .unwrap()
                .matches(&json!({"metadata": {"name": "p"}}))
        );
        assert!(FieldSelector::parse("spec.bogus=1", &pods).is_err());
        let events = registry.get("", "v1", "events").unwrap();
        let event = json!({"involvedObject": {"kind": "Pod", "name": "x"}});
        assert!(
            FieldSelector::parse("involvedObject.kind=Pod,involvedObject.name=x", &events)
                .unwrap()
                .matches(&event)
        );
    }
}
