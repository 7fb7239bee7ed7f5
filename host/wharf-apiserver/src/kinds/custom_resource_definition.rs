//! The strategy of `CustomResourceDefinition` (kube's
//! `apiextensions-apiserver/pkg/registry/customresourcedefinition`): its
//! defaults and validation, and the status the server sets itself. Where
//! kube's naming and establishing controllers set `NamesAccepted` and
//! `Established` a moment after the create, Wharf decides on the create:
//! the definition's kinds are served as soon as the watch cache sees it
//! (`crds.rs`).

use serde_json::{Value, json};

use super::{Column, NAME, Strategy};
use crate::Objects;
use crate::admission::UserInfo;
use crate::error::{ApiResult, Cause};
use crate::meta::{is_dns1123_label, is_dns1123_subdomain, now_rfc3339};
use crate::schema;

pub struct CustomResourceDefinition;

fn condition(kind: &str, status: bool, reason: &str, message: &str) -> Value {
    json!({
        "type": kind,
        "status": if status { "True" } else { "False" },
        "lastTransitionTime": now_rfc3339(),
        "reason": reason,
        "message": message,
    })
}

/// The names the definition's kinds are served under, or why they are not.
pub(crate) async fn accepted(objects: &Objects, crd: &Value) -> Result<(), String> {
    let group = crd["spec"]["group"].as_str().unwrap_or_default();
    let names = crate::crds::names_of(crd);
    let name = crate::meta::name_of(crd);
    if objects.registry.served_by_other(name, group, &names.plural) {
        return Err(format!("\"{}\" is already in use", names.plural));
    }
    let taken = objects.registry.all().into_iter().any(|def| {
        def.group == group
            && def.custom.as_ref().is_none_or(|custom| custom.crd != name)
            && (def.kind == names.kind
                || names
                    .short_names
                    .iter()
                    .any(|short| def.short_names.contains(&short.as_str())))
    });
    if taken {
        return Err(format!(
            "\"{}\" or a short name is already in use",
            names.kind
        ));
    }
    Ok(())
}

/// The status kube's controllers give a definition: its names accepted
/// (or not), established, the versions objects were stored in.
pub(crate) fn set_status(crd: &mut Value, names: Result<(), String>) {
    let spec = crd["spec"].clone();
    let storage = spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["storage"] == true)
        .and_then(|v| v["name"].as_str())
        .unwrap_or_default()
        .to_string();
    let stored: Vec<Value> = if storage.is_empty() {
        Vec::new()
    } else {
        vec![json!(storage)]
    };
    let conditions = match names {
        Ok(()) => vec![
            condition("NamesAccepted", true, "NoConflicts", "no conflicts found"),
            condition(
                "Established",
                true,
                "InitialNamesAccepted",
                "the initial names have been accepted",
            ),
        ],
        Err(message) => vec![
            condition("NamesAccepted", false, "AlreadyInUse", &message),
            condition(
                "Established",
                false,
                "NotAccepted",
                "not all names are accepted",
            ),
        ],
    };
    // The names as defaulted (`default` runs before `prepare_for_create`).
    crd["status"] = json!({
        "conditions": conditions,
        "acceptedNames": spec["names"],
        "storedVersions": stored,
    });
}

#[async_trait::async_trait]
impl Strategy for CustomResourceDefinition {
    async fn prepare_for_create(
        &self,
        objects: &Objects,
        _namespace: Option<&str>,
        _user: &UserInfo,
        object: &mut Value,
    ) -> ApiResult<()> {
        let names = accepted(objects, object).await;
        set_status(object, names);
        let finalizers = object["metadata"]
            .as_object_mut()
            .map(|m| m.entry("finalizers").or_insert_with(|| json!([])));
        if let Some(Value::Array(finalizers)) = finalizers
            && !finalizers.iter().any(|f| f == crate::crds::FINALIZER)
        {
            finalizers.push(json!(crate::crds::FINALIZER));
        }
        if object["spec"]["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|v| schema::has_cel_rules(&v["schema"]))
        {
            crate::admission::warn(
                "x-kubernetes-validations (CEL) rules are not enforced by this server".into(),
            );
        }
        Ok(())
    }

    fn default(&self, object: &mut Value) {
        let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
            return;
        };
        spec.entry("conversion")
            .or_insert_with(|| json!({"strategy": "None"}));
        if let Some(Value::Object(names)) = spec.get_mut("names") {
            let kind = names
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            names
                .entry("singular")
                .or_insert_with(|| json!(kind.to_ascii_lowercase()));
            names
                .entry("listKind")
                .or_insert_with(|| json!(format!("{kind}List")));
        }
    }

    fn validate(&self, object: &Value, causes: &mut Vec<Cause>) {
        let spec = &object["spec"];
        let group = spec["group"].as_str().unwrap_or_default();
        let plural = spec["names"]["plural"].as_str().unwrap_or_default();
        let name = crate::meta::name_of(object);
        if group.is_empty() {
            causes.push(Cause::required("spec.group"));
        } else if !is_dns1123_subdomain(group) || !group.contains('.') {
            causes.push(Cause::invalid(
                "spec.group",
                format!("Invalid value: {group:?}: should be a domain with at least one dot"),
            ));
        }
        if name != format!("{plural}.{group}") {
            causes.push(Cause::invalid(
                "metadata.name",
                format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
            ));
        }
        match spec["scope"].as_str() {
            Some("Namespaced" | "Cluster") => {}
            Some(other) => causes.push(Cause {
                reason: "FieldValueNotSupported",
                field: "spec.scope".into(),
                message: format!(
                    "Unsupported value: {other:?}: supported values: \"Cluster\", \"Namespaced\""
                ),
            }),
            None => causes.push(Cause::required("spec.scope")),
        }
        let names = &spec["names"];
        for (field, label) in [("plural", true), ("singular", true), ("kind", false)] {
            let value = names[field].as_str().unwrap_or_default();
            if value.is_empty() {
                if field != "singular" {
                    causes.push(Cause::required(format!("spec.names.{field}")));
                }
            } else if label && !is_dns1123_label(value) {
                causes.push(Cause::invalid(
                    format!("spec.names.{field}"),
                    format!("Invalid value: {value:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"),
                ));
            }
        }
        for (index, short) in names["shortNames"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if !short.as_str().is_some_and(is_dns1123_label) {
                causes.push(Cause::invalid(
                    format!("spec.names.shortNames[{index}]"),
                    format!("Invalid value: {short}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"),
                ));
            }
        }
        let versions = spec["versions"].as_array().cloned().unwrap_or_default();
        if versions.is_empty() {
            causes.push(Cause::required("spec.versions"));
            return;
        }
        let storage = versions.iter().filter(|v| v["storage"] == true).count();
        if storage != 1 {
            causes.push(Cause::invalid(
                "spec.versions",
                format!(
                    "Invalid value: {}: must have exactly one version marked as storage version",
                    json!(versions)
                ),
            ));
        }
        let mut seen = Vec::new();
        for (index, version) in versions.iter().enumerate() {
            let at = format!("spec.versions[{index}]");
            let version_name = version["name"].as_str().unwrap_or_default();
            if !is_dns1123_label(version_name) {
                causes.push(Cause::invalid(
                    format!("{at}.name"),
                    format!("Invalid value: {version_name:?}: a DNS-1035 label must consist of lower case alphanumeric characters or '-'"),
                ));
            }
            if seen.contains(&version_name) {
                causes.push(Cause::duplicate(format!("{at}.name"), version_name));
            }
            seen.push(version_name);
            if version["storage"] == true && version["served"] != true {
                causes.push(Cause::invalid(
                    format!("{at}.served"),
                    "Invalid value: false: the storage version must be served",
                ));
            }
            match version.pointer("/schema/openAPIV3Schema") {
                Some(root) => {
                    schema::check_structural(root, &format!("{at}.schema.openAPIV3Schema"), causes)
                }
                None => causes.push(Cause::required(format!("{at}.schema.openAPIV3Schema"))),
            }
            if let Some(scale) = version.pointer("/subresources/scale") {
                for (key, required) in [
                    ("specReplicasPath", true),
                    ("statusReplicasPath", true),
                    ("labelSelectorPath", false),
                ] {
                    match scale[key].as_str() {
                        Some(path) if path.starts_with('.') => {}
                        Some(path) => causes.push(Cause::invalid(
                            format!("{at}.subresources.scale.{key}"),
                            format!("Invalid value: {path:?}: should be a json path under .spec or .status"),
                        )),
                        None if required => causes.push(Cause::required(format!(
                            "{at}.subresources.scale.{key}"
                        ))),
                        None => {}
                    }
                }
            }
            for (column_index, column) in version["additionalPrinterColumns"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let column_at = format!("{at}.additionalPrinterColumns[{column_index}]");
                if column["name"].as_str().is_none_or(str::is_empty) {
                    causes.push(Cause::required(format!("{column_at}.name")));
                }
                if column["jsonPath"].as_str().is_none_or(str::is_empty) {
                    causes.push(Cause::required(format!("{column_at}.jsonPath")));
                }
                match column["type"].as_str() {
                    Some("integer" | "number" | "string" | "boolean" | "date") => {}
                    Some(other) => causes.push(Cause {
                        reason: "FieldValueNotSupported",
                        field: format!("{column_at}.type"),
                        message: format!("Unsupported value: {other:?}: supported values: \"boolean\", \"date\", \"integer\", \"number\", \"string\""),
                    }),
                    None => causes.push(Cause::required(format!("{column_at}.type"))),
                }
            }
        }
        match spec.pointer("/conversion/strategy").and_then(Value::as_str) {
            None | Some("None") => {}
            Some(other) => causes.push(Cause {
                reason: "FieldValueNotSupported",
                field: "spec.conversion.strategy".into(),
                message: format!(
                    "Unsupported value: {other:?}: supported values: \"None\" (conversion webhooks are not served)"
                ),
            }),
        }
    }

    fn columns(&self) -> &[Column] {
        &[
            NAME,
            (
                "Created At",
                "date",
                0,
                "CreationTimestamp is a timestamp representing the server time when this object was created.",
            ),
        ]
    }

    fn cells(&self, object: &Value, _now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        vec![
            json!(crate::meta::name_of(object)),
            object
                .pointer("/metadata/creationTimestamp")
                .cloned()
                .unwrap_or(Value::Null),
        ]
    }
}
