//! kube's Node authorizer and NodeRestriction admission, for the users of
//! node agents (`system:node:NAME` in `system:nodes`): a node reads what
//! its pods need and writes only its own Node, Lease and pods.
//!
//! - Read freely: nodes, pods, services, endpoints, EndpointSlices,
//!   namespaces (what the agent and the service proxy follow).
//! - Read only when a pod bound to the node refers to it: Secrets,
//!   ConfigMaps, PersistentVolumeClaims, ServiceAccounts, and their
//!   tokens (`serviceaccounts/token`).
//! - Write only its own: the Node `NAME` (and its status), the Lease
//!   `kube-node-lease/NAME`, the status of pods bound to it, deleting pods
//!   bound to it; Events; its CertificateSigningRequests.
//!
//! Anything else has no opinion here: RBAC decides, so a cluster admin
//! can still grant a node more.

use serde_json::Value;

use super::{Attributes, Target};
use crate::ApiState;
use crate::admission::UserInfo;
use crate::error::{ApiError, ApiResult};
use crate::objects::ListParams;

/// The group of every node's user.
pub const NODES_GROUP: &str = "system:nodes";
const PREFIX: &str = "system:node:";
/// The namespace of nodes' heartbeat Leases.
const LEASE_NAMESPACE: &str = "kube-node-lease";

/// What the Node authorizer says.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refused, and why (after kube's 403 message).
    Deny(String),
    NoOpinion,
}

/// The node a user is the agent of.
pub fn node_of(user: &UserInfo) -> Option<&str> {
    let name = user.username.strip_prefix(PREFIX)?;
    (!name.is_empty() && user.groups.iter().any(|g| g == NODES_GROUP)).then_some(name)
}

/// NodeRestriction on create (the name is in the body, not the path): a
/// node creates only its own Node and Lease.
pub fn restrict_create(
    user: &UserInfo,
    resource: &wharf_client::ResourceDef,
    name: Option<&str>,
) -> ApiResult<()> {
    let Some(node) = node_of(user) else {
        return Ok(());
    };
    let what = match (resource.group, resource.kind) {
        ("", "Node") => "node",
        ("coordination.k8s.io", "Lease") => "lease",
        _ => return Ok(()),
    };
    match name {
        Some(name) if name == node => Ok(()),
        other => Err(ApiError::Forbidden(format!(
            "{}s \"{}\" is forbidden: node \"{node}\" is not allowed to create the {what} of another node",
            what,
            other.unwrap_or_default()
        ))),
    }
}

/// The Node authorizer's decision on a request of `node`'s agent.
pub async fn decide(
    state: &ApiState,
    node: &str,
    attributes: &Attributes<'_>,
) -> ApiResult<Decision> {
    let Target::Resource {
        group,
        resource,
        subresource,
        namespace,
        name,
    } = &attributes.target
    else {
        return Ok(Decision::NoOpinion);
    };
    let verb = attributes.verb;
    let read = matches!(verb, "get" | "list" | "watch");
    let sub = subresource.as_deref();
    let name = name.as_deref();
    let namespace = namespace.as_deref();
    let own = |what: &str| {
        if name == Some(node) {
            Decision::Allow
        } else {
            Decision::Deny(format!(
                "node \"{node}\" cannot modify {what} \"{}\"",
                name.unwrap_or_default()
            ))
        }
    };
    Ok(match (group.as_str(), resource.as_str(), sub) {
        ("", "nodes", None | Some("status")) => match verb {
            _ if read => Decision::Allow,
            "create" => Decision::Allow,
            "update" | "patch" | "delete" => own("node"),
            _ => Decision::NoOpinion,
        },
        ("", "pods", None) if read => Decision::Allow,
        ("", "pods", None) if verb == "delete" => bound_pod(state, node, namespace, name).await?,
        ("", "pods", Some("status")) if matches!(verb, "update" | "patch") => {
            bound_pod(state, node, namespace, name).await?
        }
        ("", "pods", None) if verb == "create" => {
            Decision::Deny(format!("node \"{node}\" may not create pods"))
        }
        ("", "services" | "endpoints" | "namespaces", None)
        | ("discovery.k8s.io", "endpointslices", None)
            if read =>
        {
            Decision::Allow
        }
        (
            "",
            kind @ ("secrets" | "configmaps" | "persistentvolumeclaims" | "serviceaccounts"),
            None,
        ) if read => match (verb, namespace, name) {
            ("get", Some(namespace), Some(name)) => {
                related(state, node, namespace, kind, name).await?
            }
            _ => Decision::Deny(format!(
                "node \"{node}\" may only get individual {kind} its pods refer to"
            )),
        },
        ("", "serviceaccounts", Some("token")) if verb == "create" => match (namespace, name) {
            (Some(namespace), Some(name)) => {
                related(state, node, namespace, "serviceaccounts", name).await?
            }
            _ => Decision::NoOpinion,
        },
        ("coordination.k8s.io", "leases", None) if namespace == Some(LEASE_NAMESPACE) => match verb
        {
            "create" => Decision::Allow,
            "get" | "update" | "patch" | "delete" => own("lease"),
            _ => Decision::NoOpinion,
        },
        ("" | "events.k8s.io", "events", None) if matches!(verb, "create" | "update" | "patch") => {
            Decision::Allow
        }
        ("certificates.k8s.io", "certificatesigningrequests", None)
            if matches!(verb, "create" | "get" | "list" | "watch") =>
        {
            Decision::Allow
        }
        _ => Decision::NoOpinion,
    })
}

/// A pod `node` may write: one bound to it.
async fn bound_pod(
    state: &ApiState,
    node: &str,
    namespace: Option<&str>,
    name: Option<&str>,
) -> ApiResult<Decision> {
    let (Some(namespace), Some(name)) = (namespace, name) else {
        return Ok(Decision::Deny(format!(
            "node \"{node}\" may only change pods one by one"
        )));
    };
    let pods = kind(state, "Pod")?;
    let pod = match state.objects.get(&pods, Some(namespace), name).await {
        Ok(stored) => stored.object,
        // Let the handler say NotFound.
        Err(ApiError::NotFound { .. }) => return Ok(Decision::Allow),
        Err(error) => return Err(error),
    };
    Ok(
        if pod.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node) {
            Decision::Allow
        } else {
            Decision::Deny(format!("node \"{node}\" can only change pods bound to it"))
        },
    )
}

/// Whether a pod bound to `node` in `namespace` refers to the object.
async fn related(
    state: &ApiState,
    node: &str,
    namespace: &str,
    resource: &str,
    name: &str,
) -> ApiResult<Decision> {
    let pods = kind(state, "Pod")?;
    let params = ListParams {
        fields: wharf_client::FieldSelector::parse(&format!("spec.nodeName={node}"), &pods)?,
        ..ListParams::default()
    };
    let listed = state.objects.list(&pods, Some(namespace), &params).await?;
    if listed
        .items
        .iter()
        .any(|pod| refers_to(pod, resource, name))
    {
        return Ok(Decision::Allow);
    }
    Ok(Decision::Deny(format!(
        "no relationship found between node '{node}' and this object"
    )))
}

/// Whether `pod` refers to the object `name` of `resource` (plural):
/// through its volumes (projected ones too), its containers' environment,
/// its image pull Secrets or its ServiceAccount.
pub fn refers_to(pod: &Value, resource: &str, name: &str) -> bool {
    let spec = &pod["spec"];
    let is = |value: &Value| value.as_str() == Some(name);
    let each = |value: &Value| value.as_array().cloned().unwrap_or_default();
    match resource {
        "serviceaccounts" => {
            let account = spec["serviceAccountName"]
                .as_str()
                .filter(|a| !a.is_empty())
                .unwrap_or("default");
            return account == name;
        }
        "secrets"
            if each(&spec["imagePullSecrets"])
                .iter()
                .any(|s| is(&s["name"])) =>
        {
            return true;
        }
        _ => {}
    }
    let (volume_key, volume_name, env_key, env_from_key) = match resource {
        "secrets" => ("secret", "secretName", "secretKeyRef", "secretRef"),
        "configmaps" => ("configMap", "name", "configMapKeyRef", "configMapRef"),
        "persistentvolumeclaims" => ("persistentVolumeClaim", "claimName", "", ""),
        _ => return false,
    };
    let projected_key = if resource == "secrets" {
        "secret"
    } else {
        "configMap"
    };
    for volume in each(&spec["volumes"]) {
        if is(&volume[volume_key][volume_name]) {
            return true;
        }
        if each(&volume["projected"]["sources"])
            .iter()
            .any(|source| is(&source[projected_key]["name"]))
            && resource != "persistentvolumeclaims"
        {
            return true;
        }
    }
    if env_key.is_empty() {
        return false;
    }
    ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .flat_map(|key| each(&spec[*key]))
        .any(|container| {
            each(&container["env"])
                .iter()
                .any(|env| is(&env["valueFrom"][env_key]["name"]))
                || each(&container["envFrom"])
                    .iter()
                    .any(|from| is(&from[env_from_key]["name"]))
        })
}

fn kind(state: &ApiState, kind: &str) -> ApiResult<std::sync::Arc<wharf_client::ResourceDef>> {
    state
        .registry
        .by_kind("", "v1", kind)
        .ok_or_else(|| ApiError::Internal(format!("no {kind} kind is registered")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pod_refers_to_what_it_mounts_reads_and_runs_as() {
        let pod = json!({"spec": {
            "serviceAccountName": "robot",
            "imagePullSecrets": [{"name": "pull"}],
            "volumes": [
                {"name": "a", "secret": {"secretName": "mounted"}},
                {"name": "b", "configMap": {"name": "settings"}},
                {"name": "c", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "d", "projected": {"sources": [{"configMap": {"name": "kube-root-ca.crt"}}]}}
            ],
            "containers": [{"name": "c",
                "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "k"}}}],
                "envFrom": [{"configMapRef": {"name": "env-all"}}]}]
        }});
        for (resource, name) in [
            ("serviceaccounts", "robot"),
            ("secrets", "pull"),
            ("secrets", "mounted"),
            ("secrets", "env-secret"),
            ("configmaps", "settings"),
            ("configmaps", "kube-root-ca.crt"),
            ("configmaps", "env-all"),
            ("persistentvolumeclaims", "data"),
        ] {
            assert!(refers_to(&pod, resource, name), "{resource}/{name}");
        }
        for (resource, name) in [
            ("serviceaccounts", "default"),
            ("secrets", "settings"),
            ("configmaps", "mounted"),
            ("secrets", "other"),
            ("nodes", "robot"),
        ] {
            assert!(!refers_to(&pod, resource, name), "{resource}/{name}");
        }
        assert!(refers_to(
            &json!({"spec": {}}),
            "serviceaccounts",
            "default"
        ));
    }

    #[test]
    fn only_a_node_user_in_the_nodes_group_is_a_node() {
        let user = |name: &str, group: &str| UserInfo {
            username: name.into(),
            groups: vec![group.into()],
        };
        assert_eq!(node_of(&user("system:node:a", NODES_GROUP)), Some("a"));
        assert_eq!(
            node_of(&user("system:node:a", "system:authenticated")),
            None
        );
        assert_eq!(node_of(&user("system:node:", NODES_GROUP)), None);
        assert_eq!(node_of(&user("alice", NODES_GROUP)), None);
        let nodes = wharf_client::Registry::builtin();
        let node_kind = nodes.by_kind("", "v1", "Node").unwrap();
        let a = user("system:node:a", NODES_GROUP);
        assert!(restrict_create(&a, &node_kind, Some("a")).is_ok());
        assert!(restrict_create(&a, &node_kind, Some("b")).is_err());
        let pods = nodes.by_kind("", "v1", "Pod").unwrap();
        assert!(restrict_create(&a, &pods, Some("b")).is_ok());
    }
}
