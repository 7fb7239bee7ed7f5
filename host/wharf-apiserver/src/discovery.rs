//! Discovery: aggregated discovery v2 at `/api` and `/apis`, the legacy
//! documents, `/version`, and the OpenAPI v3 documents kubectl reads to
//! decide on server-side field validation. All built once from the registry.

use std::collections::BTreeMap;

use serde_json::{Value, json};

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
    /// `api/v1`, `apis/apps/v1`… → OpenAPI v3 document.
    pub openapi: BTreeMap<String, Vec<u8>>,
}

fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("discovery documents serialize")
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
    if def.kind == "Pod" {
        subresources.push(json!({"subresource": "binding", "responseKind": kind("Binding", "", "v1"), "verbs": ["create"]}));
    }
    if def.kind == "ServiceAccount" {
        subresources.push(json!({"subresource": "token", "responseKind": kind("TokenRequest", "authentication.k8s.io", "v1"), "verbs": ["create"]}));
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
    if def.kind == "Pod" {
        out.push(sub("binding", "Binding", None, &["create"]));
    }
    if def.kind == "ServiceAccount" {
        out.push(sub(
            "token",
            "TokenRequest",
            Some("authentication.k8s.io"),
            &["create"],
        ));
    }
    out
}

fn openapi_document(registry: &Registry, group: &str, version: &str) -> Value {
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
    for def in registry.in_group_version(group, version) {
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
        let item = json!({
            "get": operation("read", false),
            "put": operation("replace", true),
            "patch": operation("patch", true),
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
        "components": {"schemas": {}},
    })
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
                let document = to_bytes(&openapi_document(registry, group, version));
                openapi_paths.insert(
                    path.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", content_hash(&document))}),
                );
                openapi.insert(path, document);
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
        let apps: Value = serde_json::from_slice(&discovery.openapi["apis/apps/v1"]).unwrap();
        let patch =
            &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["parameters"][0]["name"], "fieldValidation");
    }
}
