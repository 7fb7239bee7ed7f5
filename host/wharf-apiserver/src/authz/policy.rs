//! kube's default RBAC policy (its `bootstrappolicy`): the ClusterRoles
//! `cluster-admin`, `admin`, `edit`, `view` (aggregated from the
//! `system:aggregate-to-*` roles, so that a ClusterRole labelled
//! `rbac.authorization.k8s.io/aggregate-to-view: "true"` extends `view`),
//! `system:discovery`, `system:basic-user`, `system:public-info-viewer`,
//! and their bindings. Made at start when absent; a changed one is left as
//! its owner changed it.

use serde_json::{Value, json};

use crate::ApiState;
use crate::error::{ApiError, ApiResult};

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

fn paths(urls: &[&str], verbs: &[&str]) -> Value {
    json!({"nonResourceURLs": urls, "verbs": verbs})
}

fn cluster_role(name: &str, labels: Value, rules: Vec<Value>, aggregate: &[&str]) -> Value {
    let mut labels = labels;
    labels["kubernetes.io/bootstrapping"] = json!("rbac-defaults");
    let mut role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        },
        "rules": rules,
    });
    if !aggregate.is_empty() {
        role["aggregationRule"] = json!({"clusterRoleSelectors": aggregate.iter().map(|label| {
            json!({"matchLabels": {format!("rbac.authorization.k8s.io/{label}"): "true"}})
        }).collect::<Vec<_>>()});
    }
    role
}

fn binding(name: &str, role: &str, groups: &[&str]) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        },
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": groups.iter().map(|group| json!({
            "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group,
        })).collect::<Vec<_>>(),
    })
}

/// The default ClusterRoles, then their ClusterRoleBindings.
pub fn defaults() -> (Vec<Value>, Vec<Value>) {
    let label = |name: &str| json!({format!("rbac.authorization.k8s.io/{name}"): "true"});
    let view_rules = vec![
        rule(
            &[""],
            &[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
            ],
            READ,
        ),
        rule(
            &[""],
            &[
                "bindings",
                "events",
                "limitranges",
                "namespaces/status",
                "pods/log",
                "pods/status",
                "replicationcontrollers/status",
                "resourcequotas",
                "resourcequotas/status",
            ],
            READ,
        ),
        rule(&[""], &["namespaces"], READ),
        rule(&["discovery.k8s.io"], &["endpointslices"], READ),
        rule(
            &["apps"],
            &[
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
            READ,
        ),
        rule(
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
            READ,
        ),
        rule(
            &["batch"],
            &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
            READ,
        ),
        rule(
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
            READ,
        ),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "ingresses/status", "networkpolicies"],
            READ,
        ),
    ];
    let edit_rules = vec![
        rule(
            &[""],
            &[
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
                "secrets",
                "services/proxy",
            ],
            READ,
        ),
        rule(&[""], &["serviceaccounts"], &["impersonate"]),
        rule(
            &[""],
            &[
                "pods",
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
            ],
            WRITE,
        ),
        rule(&[""], &["pods/eviction"], &["create"]),
        rule(
            &[""],
            &[
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ],
            WRITE,
        ),
        rule(&[""], &["serviceaccounts/token"], &["create"]),
        rule(
            &["apps"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
            WRITE,
        ),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], WRITE),
        rule(&["batch"], &["cronjobs", "jobs"], WRITE),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "networkpolicies"],
            WRITE,
        ),
        rule(&["policy"], &["poddisruptionbudgets"], WRITE),
        rule(&["discovery.k8s.io"], &["endpointslices"], WRITE),
    ];
    let admin_rules = vec![
        rule(
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews"],
            &["create"],
        ),
        rule(
            &["rbac.authorization.k8s.io"],
            &["rolebindings", "roles"],
            &[READ, WRITE].concat(),
        ),
    ];
    let discovery = [
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/healthz",
        "/livez",
        "/openapi",
        "/openapi/*",
        "/readyz",
        "/version",
        "/version/",
    ];
    let public = ["/healthz", "/livez", "/readyz", "/version", "/version/"];
    let roles = vec![
        cluster_role(
            "cluster-admin",
            json!({}),
            vec![rule(&["*"], &["*"], &["*"]), paths(&["*"], &["*"])],
            &[],
        ),
        cluster_role("admin", json!({}), vec![], &["aggregate-to-admin"]),
        cluster_role(
            "edit",
            label("aggregate-to-admin"),
            vec![],
            &["aggregate-to-edit"],
        ),
        cluster_role(
            "view",
            label("aggregate-to-edit"),
            vec![],
            &["aggregate-to-view"],
        ),
        cluster_role(
            "system:aggregate-to-admin",
            label("aggregate-to-admin"),
            admin_rules,
            &[],
        ),
        cluster_role(
            "system:aggregate-to-edit",
            label("aggregate-to-edit"),
            edit_rules,
            &[],
        ),
        cluster_role(
            "system:aggregate-to-view",
            label("aggregate-to-view"),
            view_rules,
            &[],
        ),
        cluster_role(
            "system:discovery",
            json!({}),
            vec![paths(&discovery, &["get"])],
            &[],
        ),
        cluster_role(
            "system:public-info-viewer",
            json!({}),
            vec![paths(&public, &["get"])],
            &[],
        ),
        cluster_role(
            "system:basic-user",
            json!({}),
            vec![
                rule(
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    &["create"],
                ),
                rule(
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                    &["create"],
                ),
            ],
            &[],
        ),
        // Joining nodes (kubeadm's): a bootstrap token may ask for a
        // node's client certificate, which is then approved by itself, and
        // a node may renew its own.
        cluster_role(
            "system:node-bootstrapper",
            json!({}),
            vec![rule(
                &["certificates.k8s.io"],
                &["certificatesigningrequests"],
                &["create", "get", "list", "watch"],
            )],
            &[],
        ),
        cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            json!({}),
            vec![rule(
                &["certificates.k8s.io"],
                &["certificatesigningrequests/nodeclient"],
                &["create"],
            )],
            &[],
        ),
        cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            json!({}),
            vec![rule(
                &["certificates.k8s.io"],
                &["certificatesigningrequests/selfnodeclient"],
                &["create"],
            )],
            &[],
        ),
    ];
    let node_token = crate::certificates::DEFAULT_NODE_TOKEN_GROUP;
    let bindings = vec![
        binding("cluster-admin", "cluster-admin", &["system:masters"]),
        binding(
            "kubeadm:kubelet-bootstrap",
            "system:node-bootstrapper",
            &[node_token],
        ),
        binding(
            "kubeadm:node-autoapprove-bootstrap",
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            &[node_token],
        ),
        binding(
            "kubeadm:node-autoapprove-certificate-rotation",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            &[crate::authz::node::NODES_GROUP],
        ),
        // Discovery for anonymous clients too: authentication lets them
        // reach only health, version and discovery.
        binding(
            "system:discovery",
            "system:discovery",
            &["system:authenticated", "system:unauthenticated"],
        ),
        binding(
            "system:basic-user",
            "system:basic-user",
            &["system:authenticated"],
        ),
        binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
    ];
    (roles, bindings)
}

/// Creates the default roles and bindings that are absent.
pub async fn ensure_defaults(state: &ApiState) -> ApiResult<()> {
    let (roles, bindings) = defaults();
    let kind = |kind: &str| {
        state
            .registry
            .by_kind("rbac.authorization.k8s.io", "v1", kind)
            .ok_or_else(|| ApiError::Internal(format!("{kind} is not served")))
    };
    for (resource, objects) in [
        (kind("ClusterRole")?, roles),
        (kind("ClusterRoleBinding")?, bindings),
    ] {
        for object in objects {
            match state.objects.create(&resource, None, object, false).await {
                Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(())
}

/// Every RBAC object, for the authorizer's index.
pub async fn list_rbac(state: &ApiState) -> ApiResult<super::rbac::Objects> {
    let list = |kind: &'static str| async move {
        let resource = state
            .registry
            .by_kind("rbac.authorization.k8s.io", "v1", kind)
            .ok_or_else(|| ApiError::Internal(format!("{kind} is not served")))?;
        let listed = state
            .objects
            .list(&resource, None, &crate::objects::ListParams::default())
            .await?;
        Ok::<_, ApiError>(listed.items)
    };
    let plugins = match state.registry.by_kind("wharf.dev", "v1alpha1", "Plugin") {
        Some(resource) => {
            state
                .objects
                .list(&resource, None, &crate::objects::ListParams::default())
                .await?
                .items
        }
        None => Vec::new(),
    };
    Ok(super::rbac::Objects {
        plugins,
        roles: list("Role").await?,
        cluster_roles: list("ClusterRole").await?,
        role_bindings: list("RoleBinding").await?,
        cluster_role_bindings: list("ClusterRoleBinding").await?,
    })
}
