use serde_json::json;

use super::rbac::{Index, Objects};
use super::*;

fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo {
        username: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

fn resource(group: &str, resource: &str, namespace: Option<&str>) -> Target {
    Target::Resource {
        group: group.into(),
        resource: resource.into(),
        subresource: None,
        namespace: namespace.map(str::to_string),
        name: None,
    }
}

#[test]
fn streams_and_proxies_are_authorized_as_kube_authorizes_them() {
    let info = |method: Method, path: &str| request_info(&method, path, None);
    let pod_sub = |sub: &str| Target::Resource {
        group: String::new(),
        resource: "pods".into(),
        subresource: Some(sub.into()),
        namespace: Some("ns".into()),
        name: Some("web".into()),
    };
    // A WebSocket exec is a GET; kube asks for `create` as for SPDY's POST.
    for sub in ["exec", "attach", "portforward"] {
        let path = format!("/api/v1/namespaces/ns/pods/web/{sub}");
        assert_eq!(info(Method::GET, &path), ("create".into(), pod_sub(sub)));
        assert_eq!(info(Method::POST, &path), ("create".into(), pod_sub(sub)));
    }
    assert_eq!(
        info(Method::GET, "/api/v1/namespaces/ns/pods/web/log"),
        ("get".into(), pod_sub("log"))
    );
    // The path after `proxy/` is not part of what is authorized.
    assert_eq!(
        info(Method::GET, "/api/v1/nodes/n1/proxy/stats/summary"),
        (
            "get".into(),
            Target::Resource {
                group: String::new(),
                resource: "nodes".into(),
                subresource: Some("proxy".into()),
                namespace: None,
                name: Some("n1".into()),
            }
        )
    );
}

#[test]
fn requests_are_read_as_kube_reads_them() {
    let info = |method: Method, path: &str, query: Option<&str>| request_info(&method, path, query);
    assert_eq!(
        info(Method::GET, "/api/v1/namespaces/ns/pods", None),
        ("list".into(), resource("", "pods", Some("ns")))
    );
    assert_eq!(
        info(
            Method::GET,
            "/api/v1/pods",
            Some("watch=true&labelSelector=a")
        ),
        ("watch".into(), resource("", "pods", None))
    );
    assert_eq!(
        info(
            Method::GET,
            "/apis/apps/v1/namespaces/ns/deployments/web/scale",
            None
        ),
        (
            "get".into(),
            Target::Resource {
                group: "apps".into(),
                resource: "deployments".into(),
                subresource: Some("scale".into()),
                namespace: Some("ns".into()),
                name: Some("web".into()),
            }
        )
    );
    // A namespace is in itself.
    assert_eq!(
        info(Method::DELETE, "/api/v1/namespaces/team", None),
        (
            "delete".into(),
            Target::Resource {
                group: String::new(),
                resource: "namespaces".into(),
                subresource: None,
                namespace: Some("team".into()),
                name: Some("team".into()),
            }
        )
    );
    assert_eq!(
        info(Method::PUT, "/api/v1/namespaces/team/finalize", None),
        (
            "update".into(),
            Target::Resource {
                group: String::new(),
                resource: "namespaces".into(),
                subresource: Some("finalize".into()),
                namespace: Some("team".into()),
                name: Some("team".into()),
            }
        )
    );
    assert_eq!(
        info(Method::DELETE, "/api/v1/namespaces/ns/configmaps", None).0,
        "deletecollection"
    );
    assert_eq!(info(Method::PATCH, "/api/v1/nodes/n1", None).0, "patch");
    for path in [
        "/version",
        "/api",
        "/apis/apps",
        "/apis/apps/v1",
        "/wharf/v1/modules",
    ] {
        assert_eq!(
            info(Method::GET, path, None),
            ("get".into(), Target::Path(path.into()))
        );
    }
    assert_eq!(
        info(Method::POST, "/wharf/v1/modules", None),
        ("post".into(), Target::Path("/wharf/v1/modules".into()))
    );
}

#[test]
fn denials_are_worded_as_kube_words_them() {
    let alice = user("alice", &[]);
    let message = |verb: &str, target: Target| {
        forbidden(&Attributes {
            user: &alice,
            verb,
            target,
        })
        .to_string()
    };
    assert_eq!(
        message("list", resource("", "pods", Some("y"))),
        r#"pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "y""#
    );
    assert_eq!(
        message("list", resource("apps", "deployments", None)),
        r#"deployments.apps is forbidden: User "alice" cannot list resource "deployments" in API group "apps" at the cluster scope"#
    );
    assert_eq!(
        message(
            "get",
            Target::Resource {
                group: String::new(),
                resource: "pods".into(),
                subresource: Some("log".into()),
                namespace: Some("y".into()),
                name: Some("web".into()),
            }
        ),
        r#"pods "web" is forbidden: User "alice" cannot get resource "pods/log" in API group "" in the namespace "y""#
    );
    assert_eq!(
        message("get", Target::Path("/metrics".into())),
        r#"forbidden: User "alice" cannot get path "/metrics""#
    );
}

fn objects() -> Objects {
    let (cluster_roles, cluster_role_bindings) = policy::defaults();
    Objects {
        plugins: vec![json!({
            "metadata": {"name": "scaler"},
            "spec": {"permissions": [
                {"apiGroups": ["apps"], "resources": ["deployments", "deployments/scale"], "verbs": ["get", "update"]},
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "namespaces": ["team"]},
            ]},
        })],
        roles: vec![json!({
            "metadata": {"name": "cm-reader", "namespace": "team"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"], "verbs": ["get"]}],
        })],
        cluster_roles,
        role_bindings: vec![
            json!({
                "metadata": {"name": "robot-view", "namespace": "team"},
                "roleRef": {"kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "ServiceAccount", "name": "robot"}],
            }),
            json!({
                "metadata": {"name": "readers", "namespace": "team"},
                "roleRef": {"kind": "Role", "name": "cm-reader"},
                "subjects": [{"kind": "Group", "name": "readers"}],
            }),
        ],
        cluster_role_bindings,
    }
}

fn allowed(index: &Index, user: &UserInfo, verb: &str, target: Target) -> bool {
    index.allows(&Attributes { user, verb, target }).is_some()
}

#[test]
fn rbac_follows_bindings_roles_and_aggregation() {
    let index = Index::build(&objects());
    let robot = user(
        "system:serviceaccount:team:robot",
        &["system:serviceaccounts", "system:authenticated"],
    );
    // `view` in team, through the aggregated `system:aggregate-to-view`.
    assert!(allowed(
        &index,
        &robot,
        "list",
        resource("", "pods", Some("team"))
    ));
    assert!(allowed(
        &index,
        &robot,
        "watch",
        resource("apps", "deployments", Some("team"))
    ));
    // Not Secrets, not writes, not other namespaces, not the cluster scope.
    assert!(!allowed(
        &index,
        &robot,
        "list",
        resource("", "secrets", Some("team"))
    ));
    assert!(!allowed(
        &index,
        &robot,
        "create",
        resource("", "pods", Some("team"))
    ));
    assert!(!allowed(
        &index,
        &robot,
        "list",
        resource("", "pods", Some("other"))
    ));
    assert!(!allowed(&index, &robot, "list", resource("", "pods", None)));
    // Every authenticated user: discovery, whoami, can-i.
    assert!(allowed(
        &index,
        &robot,
        "get",
        Target::Path("/apis/apps/v1".into())
    ));
    assert!(allowed(
        &index,
        &robot,
        "create",
        resource("authorization.k8s.io", "selfsubjectaccessreviews", None)
    ));
    assert!(!allowed(
        &index,
        &robot,
        "get",
        Target::Path("/metrics".into())
    ));
    // resourceNames.
    let reader = user("bob", &["readers"]);
    let named = |name: &str| Target::Resource {
        group: String::new(),
        resource: "configmaps".into(),
        subresource: None,
        namespace: Some("team".into()),
        name: Some(name.into()),
    };
    assert!(allowed(&index, &reader, "get", named("settings")));
    assert!(!allowed(&index, &reader, "get", named("other")));
    assert!(!allowed(
        &index,
        &reader,
        "list",
        resource("", "configmaps", Some("team"))
    ));
    // edit aggregates view; admin aggregates edit.
    let mut objects = objects();
    objects.role_bindings.push(json!({
        "metadata": {"name": "boss", "namespace": "team"},
        "roleRef": {"kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "User", "name": "carol"}],
    }));
    // A ClusterRole labelled to aggregate into view reaches admin too.
    objects.cluster_roles.push(json!({
        "metadata": {"name": "widgets-view", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list"]}],
    }));
    let index = Index::build(&objects);
    let carol = user("carol", &["system:authenticated"]);
    assert!(allowed(
        &index,
        &carol,
        "delete",
        resource("", "secrets", Some("team"))
    ));
    assert!(allowed(
        &index,
        &carol,
        "create",
        resource("rbac.authorization.k8s.io", "rolebindings", Some("team"))
    ));
    assert!(allowed(
        &index,
        &carol,
        "list",
        resource("example.com", "widgets", Some("team"))
    ));
    assert!(allowed(
        &index,
        &robot,
        "list",
        resource("example.com", "widgets", Some("team"))
    ));
    assert!(!allowed(
        &index,
        &carol,
        "delete",
        resource("", "namespaces", None)
    ));
    // Anonymous: public info and discovery only.
    let anonymous = UserInfo::anonymous();
    assert!(allowed(
        &index,
        &anonymous,
        "get",
        Target::Path("/version".into())
    ));
    assert!(!allowed(
        &index,
        &anonymous,
        "list",
        resource("", "pods", Some("team"))
    ));
}

#[test]
fn no_one_grants_what_they_do_not_hold() {
    let mut objects = objects();
    objects.role_bindings.push(json!({
        "metadata": {"name": "boss", "namespace": "team"},
        "roleRef": {"kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "User", "name": "carol"}],
    }));
    objects.cluster_roles.push(json!({
        "metadata": {"name": "binder"},
        "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                   "resourceNames": ["cluster-admin"], "verbs": ["bind"]}],
    }));
    objects.cluster_role_bindings.push(json!({
        "metadata": {"name": "dave-binds"},
        "roleRef": {"kind": "ClusterRole", "name": "binder"},
        "subjects": [{"kind": "User", "name": "dave"}],
    }));
    let index = Index::build(&objects);
    let carol = user("carol", &["system:authenticated"]);
    let confirm = |user: &UserInfo, kind: &str, object: serde_json::Value| {
        escalation::confirm(&index, user, &kind_of(kind), Some("team"), &object)
    };
    fn kind_of(kind: &str) -> std::sync::Arc<crate::resources::ResourceDef> {
        let registry = crate::resources::Registry::builtin();
        let group = if kind == "Plugin" {
            "wharf.dev"
        } else {
            "rbac.authorization.k8s.io"
        };
        let version = if kind == "Plugin" { "v1alpha1" } else { "v1" };
        registry.by_kind(group, version, kind).unwrap().clone()
    }
    let binding = |role_kind: &str, role: &str| {
        json!({"metadata": {"name": "b", "namespace": "team"},
               "roleRef": {"kind": role_kind, "name": role}, "subjects": [{"kind": "User", "name": "eve"}]})
    };
    // An admin of the namespace may hand out view, edit, admin there…
    assert!(confirm(&carol, "RoleBinding", binding("ClusterRole", "view")).is_ok());
    assert!(confirm(&carol, "RoleBinding", binding("ClusterRole", "admin")).is_ok());
    assert!(confirm(&carol, "RoleBinding", binding("Role", "cm-reader")).is_ok());
    // …but not cluster-admin, whose `*` she does not hold.
    let refused = confirm(
        &carol,
        "RoleBinding",
        binding("ClusterRole", "cluster-admin"),
    )
    .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("is attempting to grant RBAC permissions not currently held"),
        "{refused}"
    );
    // A Role with what she holds, yes; with nodes (cluster-scoped) or
    // everything, no.
    let role = |rules: serde_json::Value| json!({"metadata": {"name": "r", "namespace": "team"}, "rules": rules});
    for (rules, holds) in [
        (
            json!([{"apiGroups": [""], "resources": ["secrets", "pods/log"], "verbs": ["get"]}]),
            true,
        ),
        (
            json!([{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]),
            false,
        ),
        (
            json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
            false,
        ),
    ] {
        assert_eq!(
            confirm(&carol, "Role", role(rules.clone())).is_ok(),
            holds,
            "{rules}"
        );
    }
    // `bind` on a role lets one bind it without holding it.
    let dave = user("dave", &["system:authenticated"]);
    let cluster_binding = json!({"metadata": {"name": "b"},
        "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}, "subjects": [{"kind": "User", "name": "dave"}]});
    assert!(
        escalation::confirm(
            &index,
            &dave,
            &kind_of("ClusterRoleBinding"),
            None,
            &cluster_binding
        )
        .is_ok()
    );
    assert!(
        escalation::confirm(
            &index,
            &carol,
            &kind_of("ClusterRoleBinding"),
            None,
            &cluster_binding
        )
        .is_err()
    );
    // A Plugin gets no more than its author holds.
    let plugin = |namespaces: serde_json::Value| {
        json!({"metadata": {"name": "p"}, "spec": {"permissions": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "update"], "namespaces": namespaces}]}})
    };
    assert!(
        escalation::confirm(
            &index,
            &carol,
            &kind_of("Plugin"),
            None,
            &plugin(json!(["team"]))
        )
        .is_ok()
    );
    assert!(
        escalation::confirm(&index, &carol, &kind_of("Plugin"), None, &plugin(json!([]))).is_err()
    );
    // The privileged group may grant anything.
    let admin = user("root", &["system:masters"]);
    assert!(
        confirm(
            &admin,
            "RoleBinding",
            binding("ClusterRole", "cluster-admin")
        )
        .is_ok()
    );
}

#[test]
fn a_plugins_permissions_are_the_rules_of_its_user() {
    let index = Index::build(&objects());
    let scaler = plugin_user("scaler");
    assert_eq!(scaler.username, "system:plugin:scaler");
    let scale = Target::Resource {
        group: "apps".into(),
        resource: "deployments".into(),
        subresource: Some("scale".into()),
        namespace: Some("any".into()),
        name: Some("web".into()),
    };
    assert!(allowed(&index, &scaler, "update", scale.clone()));
    assert!(!allowed(&index, &scaler, "delete", scale));
    assert!(allowed(
        &index,
        &scaler,
        "get",
        resource("", "configmaps", Some("team"))
    ));
    assert!(!allowed(
        &index,
        &scaler,
        "get",
        resource("", "configmaps", Some("other"))
    ));
    assert!(!allowed(
        &index,
        &plugin_user("other"),
        "get",
        resource("apps", "deployments", Some("team"))
    ));
    // The rules are the Plugin's user's alone: nobody else gets them.
    let someone = user("system:plugin", &[PLUGINS_GROUP]);
    assert!(!allowed(
        &index,
        &someone,
        "get",
        resource("apps", "deployments", Some("team"))
    ));
}
