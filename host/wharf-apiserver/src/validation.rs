//! Names, strict decoding, defaulting and the validation rules Kubernetes
//! users meet most.

use serde_json::{Map, Value, json};

use crate::error::Cause;
use crate::meta::{is_dns1123_label, is_dns1123_subdomain};
use crate::resources::ResourceDef;

/// Kinds whose names must be DNS labels rather than subdomains.
fn needs_label_name(resource: &ResourceDef) -> bool {
    matches!(resource.kind, "Namespace" | "Service")
}

/// Checks a name for its kind; the message Kubernetes gives.
pub fn check_name(resource: &ResourceDef, name: &str) -> Result<(), Cause> {
    let (ok, rule) = if needs_label_name(resource) {
        (
            is_dns1123_label(name),
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        )
    } else if matches!(
        resource.kind,
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
    ) {
        (
            !name.is_empty()
                && name != "."
                && name != ".."
                && !name.contains('/')
                && !name.contains('%'),
            "may not contain '/' or '%'",
        )
    } else {
        (
            is_dns1123_subdomain(name),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        )
    };
    if ok {
        Ok(())
    } else {
        Err(Cause::invalid(
            "metadata.name",
            format!("Invalid value: \"{name}\": {rule}"),
        ))
    }
}

/// The fields of `input` that `decoded` (its typed round trip) lost: fields
/// the kind does not have. Paths as Kubernetes prints them (`spec.foo[0].bar`).
pub fn unknown_fields(input: &Value, decoded: &Value) -> Vec<String> {
    let mut unknown = Vec::new();
    walk_unknown(input, decoded, String::new(), &mut unknown);
    unknown
}

fn walk_unknown(input: &Value, decoded: &Value, path: String, unknown: &mut Vec<String>) {
    match (input, decoded) {
        (Value::Object(input), Value::Object(decoded)) => {
            for (key, value) in input {
                if value.is_null() {
                    continue;
                }
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match decoded.get(key) {
                    Some(decoded_value) => walk_unknown(value, decoded_value, child, unknown),
                    None if is_empty_value(value) => {}
                    None => unknown.push(child),
                }
            }
        }
        (Value::Array(input), Value::Array(decoded)) => {
            for (i, (a, b)) in input.iter().zip(decoded).enumerate() {
                walk_unknown(a, b, format!("{path}[{i}]"), unknown);
            }
        }
        _ => {}
    }
}

fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.is_empty(),
        Value::Array(list) => list.is_empty(),
        _ => false,
    }
}

/// Sets the defaults Kubernetes sets on create, for the kinds whose
/// controllers and printers rely on them.
pub fn apply_defaults(resource: &ResourceDef, object: &mut Value) {
    crate::kinds::strategy(resource).default(object);
}

/// Moves a Secret's write-only `stringData` into `data`, base64-encoded;
/// `stringData` wins over `data` for the same key, as in Kubernetes.
pub fn fold_string_data(object: &mut Value) {
    use base64::Engine;
    let Some(map) = object.as_object_mut() else {
        return;
    };
    let Some(Value::Object(strings)) = map.remove("stringData") else {
        return;
    };
    let data = map.entry("data").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    let data = data.as_object_mut().expect("an object");
    for (key, value) in strings {
        let text = value.as_str().unwrap_or_default();
        data.insert(
            key,
            json!(base64::engine::general_purpose::STANDARD.encode(text)),
        );
    }
}

pub(crate) fn default_template(spec: &mut Value) {
    if let Some(pod_spec) = spec.pointer_mut("/template/spec") {
        default_pod_spec(pod_spec);
    }
}

pub(crate) fn default_pod_spec(spec: &mut Value) {
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "securityContext", json!({}));
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for container in containers.iter_mut() {
                set_default(
                    container,
                    "terminationMessagePath",
                    json!("/dev/termination-log"),
                );
                set_default(container, "terminationMessagePolicy", json!("File"));
                set_default(container, "resources", json!({}));
                let image = container
                    .get("image")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let tag = image
                    .rsplit_once(':')
                    .map(|(_, tag)| tag)
                    .filter(|tag| !tag.contains('/'));
                let policy = if image.contains('@') || tag.is_some_and(|t| t != "latest") {
                    "IfNotPresent"
                } else {
                    "Always"
                };
                set_default(container, "imagePullPolicy", json!(policy));
                if let Some(ports) = container.get_mut("ports").and_then(Value::as_array_mut) {
                    for port in ports.iter_mut() {
                        set_default(port, "protocol", json!("TCP"));
                    }
                }
            }
        }
    }
}

pub(crate) fn ensure_object<'a>(value: &'a mut Value, key: &str) -> &'a mut Value {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    let map = value.as_object_mut().expect("an object");
    let entry = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry
}

pub(crate) fn set_default(value: &mut Value, key: &str, default: Value) {
    if let Some(map) = value.as_object_mut() {
        match map.get(key) {
            Some(existing) if !existing.is_null() => {}
            _ => {
                map.insert(key.to_string(), default);
            }
        }
    }
}

/// The rules Kubernetes checks on every write of these kinds (422 Invalid).
pub fn validate(resource: &ResourceDef, object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let labels = object
        .pointer("/metadata/labels")
        .and_then(Value::as_object);
    for (key, value) in labels.into_iter().flatten() {
        if !crate::selectors::valid_key(key) {
            causes.push(Cause::invalid("metadata.labels", format!("Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.'")));
        }
        if !value.as_str().is_some_and(crate::selectors::valid_value) {
            causes.push(Cause::invalid("metadata.labels", format!("Invalid value: {value}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'")));
        }
    }
    crate::kinds::strategy(resource).validate(object, &mut causes);
    causes
}

/// kube's MaxSecretSize, which ConfigMaps share: the keys and the values
/// (decoded, for a Secret's base64) together, at most 1 MiB.
pub(crate) fn validate_data_size(kind: &str, object: &Value, causes: &mut Vec<Cause>) {
    const MAX_DATA_BYTES: usize = 1 << 20;
    let decoded = |field: &str, value: &Value| -> usize {
        let text = value.as_str().unwrap_or_default();
        match (kind, field) {
            ("Secret", "data") | (_, "binaryData") => text.len() / 4 * 3,
            _ => text.len(),
        }
    };
    let size: usize = ["data", "binaryData", "stringData"]
        .into_iter()
        .filter_map(|field| Some((field, object.get(field)?.as_object()?)))
        .flat_map(|(field, entries)| {
            entries
                .iter()
                .map(move |(key, value)| key.len() + decoded(field, value))
        })
        .sum();
    if size > MAX_DATA_BYTES {
        causes.push(Cause {
            reason: "FieldValueTooLong",
            field: "[]".into(),
            message: format!("Too long: must have at most {MAX_DATA_BYTES} bytes"),
        });
    }
}

/// What every workload's spec must hold: a selector that matches its
/// template's labels, replicas not below zero, a valid pod template.
pub(crate) fn validate_workload(object: &Value, causes: &mut Vec<Cause>) {
    let selector = object.pointer("/spec/selector");
    let match_labels = selector
        .and_then(|s| s.get("matchLabels"))
        .and_then(Value::as_object);
    let expressions = selector
        .and_then(|s| s.get("matchExpressions"))
        .and_then(Value::as_array);
    if match_labels.is_none_or(|m| m.is_empty()) && expressions.is_none_or(|e| e.is_empty()) {
        causes.push(Cause::required("spec.selector"));
    } else if let Some(match_labels) = match_labels {
        validate_template_labels(match_labels, object, causes);
    }
    if let Some(replicas) = object.pointer("/spec/replicas").and_then(Value::as_i64)
        && replicas < 0
    {
        causes.push(Cause::invalid(
            "spec.replicas",
            format!("Invalid value: {replicas}: must be greater than or equal to 0"),
        ));
    }
    validate_pod_spec(
        object.pointer("/spec/template/spec"),
        "spec.template.spec",
        causes,
    );
}

/// A workload's template must carry the labels its selector matches.
pub(crate) fn validate_template_labels(
    match_labels: &Map<String, Value>,
    object: &Value,
    causes: &mut Vec<Cause>,
) {
    let template_labels = object
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object);
    let matches = match_labels
        .iter()
        .all(|(k, v)| template_labels.and_then(|t| t.get(k)) == Some(v));
    if !matches {
        causes.push(Cause::invalid(
            "spec.template.metadata.labels",
            format!(
                "Invalid value: {}: `selector` does not match template `labels`",
                Value::Object(template_labels.cloned().unwrap_or_default())
            ),
        ));
    }
}

pub(crate) fn validate_pod_spec(spec: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let containers = spec
        .and_then(|s| s.get("containers"))
        .and_then(Value::as_array);
    let Some(containers) = containers.filter(|c| !c.is_empty()) else {
        causes.push(Cause::required(format!("{path}.containers")));
        return;
    };
    let mut names = std::collections::HashSet::new();
    for (i, container) in containers.iter().enumerate() {
        check_container(
            container,
            &format!("{path}.containers[{i}]"),
            &mut names,
            causes,
        );
    }
}

/// A container's name (required, an RFC 1123 label, not in `taken`, which
/// it joins) and image (required), as kube's `validateContainerCommon`.
pub(crate) fn check_container<'c>(
    container: &'c Value,
    at: &str,
    taken: &mut std::collections::HashSet<&'c str>,
    causes: &mut Vec<Cause>,
) {
    match container.get("name").and_then(Value::as_str) {
        None | Some("") => causes.push(Cause::required(format!("{at}.name"))),
        Some(name) if !is_dns1123_label(name) => causes.push(Cause::invalid(
            format!("{at}.name"),
            format!("Invalid value: \"{name}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"),
        )),
        Some(name) if !taken.insert(name) => causes.push(Cause::duplicate(format!("{at}.name"), name)),
        Some(_) => {}
    }
    if container
        .get("image")
        .and_then(Value::as_str)
        .is_none_or(|image| image.trim().is_empty())
    {
        causes.push(Cause::required(format!("{at}.image")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn dns_names_follow_rfc_1123() {
        assert!(is_dns1123_subdomain("my-app.example.com"));
        assert!(!is_dns1123_subdomain("My-App"));
        assert!(!is_dns1123_subdomain("-x"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(is_dns1123_label("web-1"));
        assert!(!is_dns1123_label("a.b"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
    }

    #[test]
    fn unknown_fields_are_named_by_path() {
        let input = json!({"spec": {"replicas": 1, "bogus": true, "template": {"spec": {"containers": [{"name": "a", "imagee": "x"}]}}}, "extra": null});
        let decoded =
            json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a"}]}}}});
        assert_eq!(
            unknown_fields(&input, &decoded),
            vec!["spec.bogus", "spec.template.spec.containers[0].imagee"]
        );
    }

    #[test]
    fn deployments_get_kubernetes_defaults() {
        let registry = Registry::builtin();
        let mut deployment = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "busybox:1.36"}]}}}});
        apply_defaults(
            &registry.get("apps", "v1", "deployments").unwrap(),
            &mut deployment,
        );
        assert_eq!(deployment["spec"]["replicas"], 1);
        assert_eq!(
            deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"],
            "25%"
        );
        assert_eq!(
            deployment["spec"]["template"]["spec"]["restartPolicy"],
            "Always"
        );
        assert_eq!(
            deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
    }

    #[test]
    fn workloads_need_a_selector_matching_their_template() {
        let registry = Registry::builtin();
        let deployments = registry.get("apps", "v1", "deployments").unwrap();
        let good = json!({"spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "a", "image": "i"}]}}}});
        assert!(validate(&deployments, &good).is_empty());
        let mismatched = json!({"spec": {"selector": {"matchLabels": {"app": "y"}}, "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "a", "image": "i"}]}}}});
        assert_eq!(
            validate(&deployments, &mismatched)[0].field,
            "spec.template.metadata.labels"
        );
        let no_containers = json!({"spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}}}}});
        assert_eq!(
            validate(&deployments, &no_containers)[0].field,
            "spec.template.spec.containers"
        );
    }
}
