//! kube's RBAC escalation rule, and Wharf's for Plugins: a user cannot
//! grant what they do not hold. Writing a Role or ClusterRole needs every
//! permission in it (or the `escalate` verb on it); writing a RoleBinding
//! or ClusterRoleBinding needs every permission of the role it names (or
//! `bind` on that role); writing a Plugin needs every permission its
//! `spec.permissions` gives it. A ClusterRole with an `aggregationRule`
//! needs everything (`*` on `*`). `system:masters` may do anything.

use serde_json::Value;

use super::rbac::{Index, Rule};
use super::{Attributes, PRIVILEGED_GROUP, Target};
use crate::admission::UserInfo;
use crate::error::{ApiError, ApiResult};
use crate::resources::ResourceDef;

/// Whether the kind is one the rule applies to.
pub fn guards(resource: &ResourceDef) -> bool {
    matches!(
        (resource.group, resource.kind),
        (
            "rbac.authorization.k8s.io",
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
        ) | ("wharf.dev", "Plugin")
    )
}

fn allowed(index: &Index, user: &UserInfo, verb: &str, target: Target) -> bool {
    index.allows(&Attributes { user, verb, target }).is_some()
}

fn rbac_object(resource: &str, name: &str, namespace: Option<&str>) -> Target {
    Target::Resource {
        group: "rbac.authorization.k8s.io".into(),
        resource: resource.into(),
        subresource: None,
        namespace: namespace.map(str::to_string),
        name: Some(name.into()),
    }
}

/// Refuses `object` (of `resource`, in `namespace`) if writing it would
/// give more than `user` holds.
pub fn confirm(
    index: &Index,
    user: &UserInfo,
    resource: &ResourceDef,
    namespace: Option<&str>,
    object: &Value,
) -> ApiResult<()> {
    if !guards(resource) || user.groups.iter().any(|g| g == PRIVILEGED_GROUP) {
        return Ok(());
    }
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let scope = if resource.namespaced { namespace } else { None };
    let refuse = |why: String| {
        ApiError::Forbidden(format!(
            "{} \"{name}\" is forbidden: user \"{}\" (groups={:?}) is attempting to grant RBAC permissions not currently held:\n{why}",
            resource.group_resource(),
            user.username,
            user.groups,
        ))
    };
    let missing = |rules: &[Rule], scope: Option<&str>| -> Vec<String> {
        rules
            .iter()
            .flat_map(|rule| rule.requests(scope))
            .filter(|(verb, target)| !allowed(index, user, verb, target.clone()))
            .map(|(verb, target)| describe(&verb, &target))
            .collect()
    };
    match resource.kind {
        "Role" | "ClusterRole" => {
            if object.get("aggregationRule").is_some_and(|r| !r.is_null()) {
                let everything = Target::Resource {
                    group: "*".into(),
                    resource: "*".into(),
                    subresource: None,
                    namespace: None,
                    name: None,
                };
                if !allowed(index, user, "*", everything) {
                    return Err(ApiError::Forbidden(format!(
                        "{} \"{name}\" is forbidden: must have cluster-admin privileges to use the aggregationRule",
                        resource.group_resource()
                    )));
                }
            }
            if allowed(
                index,
                user,
                "escalate",
                rbac_object(resource.plural, name, scope),
            ) {
                return Ok(());
            }
            let rules: Vec<Rule> = object["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .map(Rule::from_value)
                .collect();
            let missing = missing(&rules, scope);
            if missing.is_empty() {
                Ok(())
            } else {
                Err(refuse(missing.join("\n")))
            }
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let kind = object["roleRef"]["kind"].as_str().unwrap_or_default();
            let role = object["roleRef"]["name"].as_str().unwrap_or_default();
            let plural = if kind == "Role" {
                "roles"
            } else {
                "clusterroles"
            };
            let role_scope = if kind == "Role" { scope } else { None };
            if allowed(index, user, "bind", rbac_object(plural, role, role_scope))
                || allowed(index, user, "bind", rbac_object(plural, role, scope))
            {
                return Ok(());
            }
            let Some(rules) = index.role_rules(kind, role, scope) else {
                return Err(refuse(format!(
                    "the {kind} {role:?} to bind does not exist"
                )));
            };
            let missing = missing(rules, scope);
            if missing.is_empty() {
                Ok(())
            } else {
                Err(refuse(missing.join("\n")))
            }
        }
        _ => {
            // A Plugin: its permissions, in each namespace they name (or
            // cluster-wide).
            let mut missing_all = Vec::new();
            for permission in object["spec"]["permissions"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let rule = Rule::from_value(permission);
                let namespaces: Vec<Option<&str>> = match permission["namespaces"].as_array() {
                    Some(list) if !list.is_empty() => list.iter().map(Value::as_str).collect(),
                    _ => vec![None],
                };
                for namespace in namespaces {
                    missing_all.extend(missing(std::slice::from_ref(&rule), namespace));
                }
            }
            if missing_all.is_empty() {
                Ok(())
            } else {
                Err(ApiError::Forbidden(format!(
                    "plugins.wharf.dev \"{name}\" is forbidden: user \"{}\" is attempting to give the plugin permissions not currently held:\n{}",
                    user.username,
                    missing_all.join("\n")
                )))
            }
        }
    }
}

fn describe(verb: &str, target: &Target) -> String {
    match target {
        Target::Resource {
            group,
            resource,
            subresource,
            namespace,
            name,
        } => {
            let resource = super::resource_path(resource, subresource.as_deref());
            let mut text = format!("{{APIGroups:[{group:?}], Resources:[{resource:?}]");
            if let Some(name) = name {
                text.push_str(&format!(", ResourceNames:[{name:?}]"));
            }
            text.push_str(&format!(", Verbs:[{verb:?}]}}"));
            if let Some(namespace) = namespace {
                text.push_str(&format!(" in the namespace {namespace:?}"));
            }
            text
        }
        Target::Path(path) => format!("{{NonResourceURLs:[{path:?}], Verbs:[{verb:?}]}}"),
    }
}
