//! What a plugin may use: its memory and time per call, and the cluster
//! operations its permissions allow (deny by default, like an RBAC role).

use std::time::Duration;

use serde::Deserialize;

/// Per-instance memory and per-call time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: usize,
    pub call_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            call_deadline: Duration::from_secs(1),
        }
    }
}

/// One rule: the plugin may do `verbs` on `resources` of `api_groups`, in
/// `namespaces` (empty: every namespace). `*` matches anything.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PermissionRule {
    #[serde(default)]
    pub api_groups: Vec<String>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
}

/// A plugin's rules; nothing is allowed unless a rule allows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions(pub Vec<PermissionRule>);

fn matches(list: &[String], value: &str) -> bool {
    list.iter().any(|item| item == "*" || item == value)
}

impl Permissions {
    /// Whether `verb` on `resource` (plural) of `group` in `namespace` is allowed.
    pub fn allows(&self, group: &str, resource: &str, verb: &str, namespace: Option<&str>) -> bool {
        self.0.iter().any(|rule| {
            matches(&rule.api_groups, group)
                && matches(&rule.resources, resource)
                && matches(&rule.verbs, verb)
                && (rule.namespaces.is_empty()
                    || namespace.is_some_and(|ns| matches(&rule.namespaces, ns)))
        })
    }
}

/// The wasmtime store limits of one instance: its memory limit, room for
/// the few instances and tables a component needs, and a trap (not a
/// silent failure) when memory cannot grow.
pub(crate) fn store_limits(limits: &Limits) -> wasmtime::StoreLimits {
    wasmtime::StoreLimitsBuilder::new()
        .memory_size(limits.memory_bytes)
        .instances(crate::engine::MAX_CORE_INSTANCES_PER_COMPONENT as usize)
        .tables(crate::engine::MAX_TABLES_PER_COMPONENT as usize)
        .trap_on_grow_failure(true)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        groups: &[&str],
        resources: &[&str],
        verbs: &[&str],
        namespaces: &[&str],
    ) -> PermissionRule {
        let own = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        PermissionRule {
            api_groups: own(groups),
            resources: own(resources),
            verbs: own(verbs),
            namespaces: own(namespaces),
        }
    }

    #[test]
    fn permissions_deny_unless_a_rule_allows() {
        let permissions = Permissions(vec![
            rule(&["apps"], &["replicasets"], &["get", "list", "watch"], &[]),
            rule(&[""], &["pods"], &["*"], &["team-a"]),
        ]);
        let cases = [
            ("apps", "replicasets", "list", None, true),
            ("apps", "replicasets", "delete", None, false),
            ("apps", "deployments", "get", None, false),
            ("", "pods", "create", Some("team-a"), true),
            ("", "pods", "create", Some("team-b"), false),
            ("", "pods", "list", None, false),
        ];
        for (group, resource, verb, namespace, allowed) in cases {
            assert_eq!(
                permissions.allows(group, resource, verb, namespace),
                allowed,
                "{verb} {group}/{resource} in {namespace:?}"
            );
        }
        assert!(!Permissions::default().allows("", "pods", "get", None));
    }
}
