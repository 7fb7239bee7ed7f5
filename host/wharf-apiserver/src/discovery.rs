//! Discovery: aggregated discovery v2 at `/api` and `/apis`, the legacy
//! documents, `/version`, and the OpenAPI documents (v3 per group version,
//! v2 whole) with every kind's schema: what kubectl reads to decide on
//! server-side field validation, to explain fields, to validate a List and
//! to compute strategic merge patches. Built from the registry as it is at
//! one generation (rebuilt when CustomResourceDefinitions change it); the
//! OpenAPI documents when first asked for.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use std::sync::Arc;

use crate::resources::{Registry, ResourceDef};

/// The Kubernetes version Wharf speaks.
pub const KUBERNETES_MINOR: &str = "37";
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Every discovery document, rendered once.
pub struct Discovery {
    pub aggregated_core: Vec<u8>,
    pub aggregated_groups: Vec<u8>,
    pub legacy_core: Vec<u8>,
    pub legacy_groups: Vec<u8>,
    /// `group/version` (`v1` for core) → APIResourceList.
    pub resource_lists: BTreeMap<String, Vec<u8>>,
    /// group → APIGroup.
    pub groups: BTreeMap<String, Vec<u8>>,
    pub version: Vec<u8>,
    pub openapi_root: Vec<u8>,
    /// `api/v1`, `apis/apps/v1`… → OpenAPI v3 document, built when first
    /// asked for (schemas of every kind of the group version).
    openapi: BTreeMap<String, OpenApiDocument>,
    /// Every kind, for the OpenAPI v2 document.
    all: Vec<Arc<ResourceDef>>,
    /// `/openapi/v2` as JSON and as protobuf, built when first asked for.
    openapi_v2: std::sync::OnceLock<(Vec<u8>, Vec<u8>)>,
}

/// One group version's OpenAPI v3 document, built once.
struct OpenApiDocument {
    group: &'static str,
    version: &'static str,
    defs: Vec<Arc<ResourceDef>>,
    built: std::sync::OnceLock<Vec<u8>>,
}

/// In Go's field order, as kube-apiserver writes discovery documents.
fn to_bytes(value: &Value) -> Vec<u8> {
    wharf_protobuf::to_json(value)
}

fn aggregated_resource(def: &ResourceDef) -> Value {
    let kind = |kind: &str, group: &str, version: &str| json!({"group": group, "version": version, "kind": kind});
    let mut subresources = Vec::new();
    if def.status {
        subresources.push(json!({"subresource": "status", "responseKind": kind(def.kind, "", ""), "verbs": ["get", "patch", "update"]}));
    }
    if def.scale {
        subresources.push(json!({"subresource": "scale", "responseKind": kind("Scale", "autoscaling", "v1"), "verbs": ["get", "patch", "update"]}));
    }
    for sub in def.subresources {
        subresources.push(json!({"subresource": sub.name, "responseKind": kind(sub.kind, sub.group, sub.version), "verbs": sub.verbs}));
    }
    let mut resource = json!({
        "resource": def.plural,
        "responseKind": kind(def.kind, "", ""),
        "scope": if def.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": def.singular,
        "verbs": def.verbs(),
    });
    if !def.short_names.is_empty() {
        resource["shortNames"] = json!(def.short_names);
    }
    if !def.categories.is_empty() {
        resource["categories"] = json!(def.categories);
    }
    if !subresources.is_empty() {
        resource["subresources"] = json!(subresources);
    }
    resource
}

fn legacy_resources(def: &ResourceDef) -> Vec<Value> {
    let mut resource = json!({
        "name": def.plural,
        "singularName": def.singular,
        "namespaced": def.namespaced,
        "kind": def.kind,
        "verbs": def.verbs(),
    });
    if !def.short_names.is_empty() {
        resource["shortNames"] = json!(def.short_names);
    }
    if !def.categories.is_empty() {
        resource["categories"] = json!(def.categories);
    }
    let mut out = vec![resource];
    let sub = |name: &str, kind: &str, group: Option<&str>, verbs: &[&str]| {
        let mut value = json!({"name": format!("{}/{name}", def.plural), "singularName": "", "namespaced": def.namespaced, "kind": kind, "verbs": verbs});
        if let Some(group) = group {
            value["group"] = json!(group);
            value["version"] = json!("v1");
        }
        value
    };
    if def.status {
        out.push(sub("status", def.kind, None, &["get", "patch", "update"]));
    }
    if def.scale {
        out.push(sub(
            "scale",
            "Scale",
            Some("autoscaling"),
            &["get", "patch", "update"],
        ));
    }
    for extra in def.subresources {
        let group = (extra.group != def.group).then_some(extra.group);
        out.push(sub(extra.name, extra.kind, group, extra.verbs));
    }
    out
}

fn openapi_document(defs: &[Arc<ResourceDef>], group: &str, version: &str) -> Value {
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let field_validation = json!({
        "name": "fieldValidation",
        "in": "query",
        "description": "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields.",
        "schema": {"type": "string", "uniqueItems": true},
    });
    let mut paths = serde_json::Map::new();
    for def in defs {
        let gvk = json!({"group": def.group, "version": def.version, "kind": def.kind});
        let operation = |id: &str, with_validation: bool| {
            let mut op = json!({"operationId": id, "responses": {"200": {"description": "OK"}}, "x-kubernetes-group-version-kind": gvk});
            if with_validation {
                op["parameters"] = json!([field_validation]);
            }
            op
        };
        let base = if def.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", def.plural)
        } else {
            format!("{prefix}/{}", def.plural)
        };
        if def.review {
            paths.insert(base, json!({"post": operation("create", true)}));
            continue;
        }
        paths.insert(
            base.clone(),
            json!({"get": operation("list", false), "post": operation("create", true)}),
        );
        // The patch types a kind takes (kubectl computes a strategic
        // merge patch only where the path says it is taken).
        let mut patch = operation("patch", true);
        let mut patch_types = vec![
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json",
        ];
        if def.custom.is_none() {
            patch_types.push("application/strategic-merge-patch+json");
        }
        patch["requestBody"] = json!({
            "content": patch_types
                .iter()
                .map(|t| (t.to_string(), json!({"schema": {"type": "object"}})))
                .collect::<serde_json::Map<_, _>>(),
        });
        let item = json!({
            "get": operation("read", false),
            "put": operation("replace", true),
            "patch": patch,
            "delete": operation("delete", false),
        });
        paths.insert(format!("{base}/{{name}}"), item.clone());
        if def.status {
            paths.insert(format!("{base}/{{name}}/status"), item.clone());
        }
        if def.scale {
            paths.insert(format!("{base}/{{name}}/scale"), item);
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{KUBERNETES_MINOR}.0")},
        "paths": paths,
        "components": {"schemas": Value::Object(schemas(defs))},
    })
}

/// The definition a property refers to (`$ref`, or `allOf: [{$ref}]` as
/// kube and schemars write a reference with a description).
fn referenced(property: &Value) -> Option<String> {
    let reference = property
        .get("$ref")
        .or_else(|| property.pointer("/allOf/0/$ref"))
        .or_else(|| property.pointer("/items/$ref"))
        .or_else(|| property.pointer("/items/allOf/0/$ref"))
        .or_else(|| property.pointer("/additionalProperties/$ref"))?;
    Some(reference.as_str()?.rsplit('/').next()?.to_string())
}

/// Marks the list fields of definition `name` (reached at `path` from a
/// kind's root) with the patch strategy and merge key kube's types carry
/// (`x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`): what
/// kubectl computes strategic merge patches from. The strategies are the
/// ones the server merges by ([`wharf_patch::BuiltinSchema`]), so client
/// and server agree. Each definition is visited once.
fn annotate_patch_strategies(
    schemas: &mut serde_json::Map<String, Value>,
    name: &str,
    path: &mut Vec<String>,
    visited: &mut std::collections::HashSet<String>,
) {
    use wharf_patch::{BuiltinSchema, ListStrategy, PatchSchema};
    if !visited.insert(name.to_string()) || path.len() > 12 {
        return;
    }
    let Some(properties) = schemas
        .get(name)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .cloned()
    else {
        return;
    };
    let at: Vec<&str> = path.iter().map(String::as_str).collect();
    let mut marks = Vec::new();
    for (field, property) in &properties {
        let list = property.get("type").and_then(Value::as_str) == Some("array");
        let strategy = if list {
            BuiltinSchema.list_strategy(&at, field)
        } else {
            ListStrategy::Atomic
        };
        let retain = BuiltinSchema.retain_keys(&at, field);
        let mut text = Vec::new();
        if strategy.merges() {
            text.push("merge");
        }
        if retain {
            text.push("retainKeys");
        }
        if !text.is_empty() {
            marks.push((field.clone(), text.join(","), strategy.merge_key()));
        }
    }
    if let Some(target) = schemas
        .get_mut(name)
        .and_then(|s| s.get_mut("properties"))
        .and_then(Value::as_object_mut)
    {
        for (field, strategy, key) in marks {
            if let Some(property) = target.get_mut(&field).and_then(Value::as_object_mut) {
                property.insert("x-kubernetes-patch-strategy".into(), json!(strategy));
                if let Some(key) = key {
                    property.insert("x-kubernetes-patch-merge-key".into(), json!(key));
                }
            }
        }
    }
    for (field, property) in &properties {
        if let Some(child) = referenced(property) {
            path.push(field.clone());
            annotate_patch_strategies(schemas, &child, path, visited);
            path.pop();
        }
    }
}

/// The schema name kube gives a custom kind: its group reversed, version, kind
/// (`com.example.stable.v1.CronTab`).
fn custom_schema_name(def: &ResourceDef) -> String {
    let mut parts: Vec<&str> = def.group.split('.').collect();
    parts.reverse();
    format!("{}.{}.{}", parts.join("."), def.version, def.kind)
}

/// The schemas of `defs` and of everything they refer to, each kind's
/// marked with its `x-kubernetes-group-version-kind` (how `kubectl
/// explain` finds it).
fn schemas(defs: &[Arc<ResourceDef>]) -> serde_json::Map<String, Value> {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
    let mut kinds = Vec::new();
    let mut custom = serde_json::Map::new();
    for def in defs {
        let gvk = json!([{"group": def.group, "version": def.version, "kind": def.kind}]);
        if let Some(schema_of) = def.schema {
            let reference = schema_of(&mut generator);
            if let Some(name) = reference
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.rsplit('/').next())
            {
                kinds.push((name.to_string(), gvk));
            }
            continue;
        }
        let metadata = generator.subschema_for::<ObjectMeta>();
        let mut schema = def
            .custom
            .as_ref()
            .and_then(|c| c.schema.clone())
            .unwrap_or_else(
                || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            );
        if let Some(properties) = schema
            .as_object_mut()
            .map(|s| s.entry("properties").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
        {
            properties.insert("apiVersion".into(), json!({"description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources", "type": "string"}));
            properties.insert("kind".into(), json!({"description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds", "type": "string"}));
            properties.insert("metadata".into(), json!({"description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata", "allOf": [metadata.as_value()]}));
        }
        schema["x-kubernetes-group-version-kind"] = gvk;
        custom.insert(custom_schema_name(def), schema);
    }
    let mut schemas = generator.take_definitions(true);
    let mut annotated = std::collections::HashSet::new();
    for (name, gvk) in kinds {
        if let Some(schema) = schemas.get_mut(&name).and_then(Value::as_object_mut) {
            schema.insert("x-kubernetes-group-version-kind".into(), gvk);
            // k8s-openapi's types always have metadata; kube's schemas do
            // not require it (the server fills it in).
            if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
                required.retain(|field| field != "metadata");
                if required.is_empty() {
                    schema.remove("required");
                }
            }
        }
        annotate_patch_strategies(&mut schemas, &name, &mut Vec::new(), &mut annotated);
    }
    schemas.extend(custom);
    schemas
}

/// A short content hash for cache-busting OpenAPI URLs (FNV-1a, hex).
fn content_hash(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    format!("{hash:016X}")
}

impl Discovery {
    /// The OpenAPI v3 document at `path` (`apis/apps/v1`), if it is served.
    pub fn openapi(&self, path: &str) -> Option<&[u8]> {
        let document = self.openapi.get(path)?;
        Some(document.built.get_or_init(|| {
            to_bytes(&openapi_document(
                &document.defs,
                document.group,
                document.version,
            ))
        }))
    }

    /// `/openapi/v2`: (JSON, protobuf).
    pub fn openapi_v2(&self) -> &(Vec<u8>, Vec<u8>) {
        self.openapi_v2.get_or_init(|| {
            let document = crate::openapi_v2::document(schemas(&self.all));
            (to_bytes(&document), crate::openapi_v2::protobuf(&document))
        })
    }

    pub fn build(registry: &Registry) -> Self {
        let mut aggregated_core = Vec::new();
        let mut aggregated_groups = Vec::new();
        let mut legacy_groups = Vec::new();
        let mut resource_lists = BTreeMap::new();
        let mut groups = BTreeMap::new();
        let mut openapi = BTreeMap::new();
        let mut openapi_paths = serde_json::Map::new();
        for (group, versions) in registry.groups() {
            let mut aggregated_versions = Vec::new();
            let mut legacy_versions = Vec::new();
            for version in &versions {
                let defs = registry.in_group_version(group, version);
                aggregated_versions.push(json!({
                    "version": version,
                    "resources": defs.iter().map(|d| aggregated_resource(d)).collect::<Vec<_>>(),
                    "freshness": "Current",
                }));
                let group_version = if group.is_empty() {
                    version.to_string()
                } else {
                    format!("{group}/{version}")
                };
                legacy_versions.push(json!({"groupVersion": group_version, "version": version}));
                resource_lists.insert(
                    group_version.clone(),
                    to_bytes(&json!({
                        "kind": "APIResourceList",
                        "apiVersion": "v1",
                        "groupVersion": group_version,
                        "resources": defs.iter().flat_map(|d| legacy_resources(d)).collect::<Vec<_>>(),
                    })),
                );
                let path = if group.is_empty() {
                    format!("api/{version}")
                } else {
                    format!("apis/{group}/{version}")
                };
                // The hash names the content: the kinds, and the schemas
                // of custom ones (built-in ones change with the binary).
                let signature = format!(
                    "{}|{path}|{}",
                    env!("CARGO_PKG_VERSION"),
                    defs.iter()
                        .map(|d| format!(
                            "{}:{}",
                            d.kind,
                            d.custom
                                .as_ref()
                                .and_then(|c| c.schema.as_ref())
                                .map(Value::to_string)
                                .unwrap_or_default()
                        ))
                        .collect::<Vec<_>>()
                        .join(",")
                );
                openapi_paths.insert(
                    path.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", content_hash(signature.as_bytes()))}),
                );
                openapi.insert(
                    path,
                    OpenApiDocument {
                        group,
                        version,
                        defs: defs.clone(),
                        built: std::sync::OnceLock::new(),
                    },
                );
            }
            let item = json!({"metadata": {"name": group}, "versions": aggregated_versions});
            if group.is_empty() {
                aggregated_core.push(item);
            } else {
                aggregated_groups.push(item);
                let api_group = json!({
                    "kind": "APIGroup",
                    "apiVersion": "v1",
                    "name": group,
                    "versions": legacy_versions,
                    "preferredVersion": legacy_versions[0],
                });
                groups.insert(group.to_string(), to_bytes(&api_group));
                let mut listed = api_group;
                listed.as_object_mut().expect("object").remove("kind");
                listed.as_object_mut().expect("object").remove("apiVersion");
                legacy_groups.push(listed);
            }
        }
        let aggregated = |items: Vec<Value>| {
            to_bytes(
                &json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items}),
            )
        };
        Self {
            aggregated_core: aggregated(aggregated_core),
            aggregated_groups: aggregated(aggregated_groups),
            legacy_core: to_bytes(&json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
            })),
            legacy_groups: to_bytes(
                &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": legacy_groups}),
            ),
            resource_lists,
            groups,
            version: to_bytes(&json!({
                "major": "1",
                "minor": KUBERNETES_MINOR,
                "gitVersion": format!("v1.{KUBERNETES_MINOR}.0-wharf.{}", env!("CARGO_PKG_VERSION")),
                "gitCommit": "",
                "gitTreeState": "clean",
                "buildDate": "1970-01-01T00:00:00Z",
                "goVersion": "n/a (Rust)",
                "compiler": "rustc",
                "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH }),
            })),
            openapi_root: to_bytes(&json!({"paths": openapi_paths})),
            openapi,
            all: registry.all(),
            openapi_v2: std::sync::OnceLock::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_discovery_lists_every_kind_with_its_subresources() {
        let discovery = Discovery::build(&Registry::builtin());
        let core: Value = serde_json::from_slice(&discovery.aggregated_core).unwrap();
        let resources = core["items"][0]["versions"][0]["resources"]
            .as_array()
            .unwrap();
        let pods = resources.iter().find(|r| r["resource"] == "pods").unwrap();
        assert_eq!(pods["scope"], "Namespaced");
        assert_eq!(pods["shortNames"][0], "po");
        let groups: Value = serde_json::from_slice(&discovery.aggregated_groups).unwrap();
        let apps = groups["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == "apps")
            .unwrap();
        let deployments = apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        assert!(
            deployments["subresources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["subresource"] == "scale")
        );
    }

    #[test]
    fn openapi_root_points_at_every_group_version_with_a_hash() {
        let discovery = Discovery::build(&Registry::builtin());
        let root: Value = serde_json::from_slice(&discovery.openapi_root).unwrap();
        let url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="));
        let apps: Value =
            serde_json::from_slice(discovery.openapi("apis/apps/v1").unwrap()).unwrap();
        let patch =
            &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["parameters"][0]["name"], "fieldValidation");
    }

    #[test]
    fn openapi_documents_carry_every_kinds_schema_marked_with_its_kind() {
        let discovery = Discovery::build(&Registry::builtin());
        let apps: Value =
            serde_json::from_slice(discovery.openapi("apis/apps/v1").unwrap()).unwrap();
        let schemas = &apps["components"]["schemas"];
        let deployment = &schemas["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            deployment["x-kubernetes-group-version-kind"][0]["kind"],
            "Deployment"
        );
        let strategy = &schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"];
        assert_eq!(
            strategy["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"
        );
        let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        let ports = &schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"];
        assert_eq!(ports["x-kubernetes-patch-merge-key"], "containerPort");
        assert_eq!(
            schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]["x-kubernetes-patch-strategy"],
            "retainKeys"
        );
        assert!(
            schemas["io.k8s.api.apps.v1.DeploymentStrategy"]["description"]
                .as_str()
                .unwrap()
                .contains("how to replace existing pods")
        );
    }
}
