//! kube's RBAC authorizer: Roles and ClusterRoles (with aggregation) bound
//! to users, groups and ServiceAccounts by RoleBindings and
//! ClusterRoleBindings, indexed by subject so that a request looks only at
//! the rules bound to its user and groups.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;
use wharf_client::LabelSelector;

use super::{Attributes, Target};

/// One `PolicyRule`.
#[derive(Debug, Default, PartialEq)]
pub struct Rule {
    verbs: Vec<String>,
    api_groups: Vec<String>,
    resources: Vec<String>,
    resource_names: Vec<String>,
    non_resource_urls: Vec<String>,
}

/// The strings of a JSON array (none for anything else).
pub(crate) fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

impl Rule {
    fn parse(rule: &Value) -> Self {
        Self {
            verbs: strings(&rule["verbs"]),
            api_groups: strings(&rule["apiGroups"]),
            resources: strings(&rule["resources"]),
            resource_names: strings(&rule["resourceNames"]),
            non_resource_urls: strings(&rule["nonResourceURLs"]),
        }
    }

    /// A rule from its JSON form (`PolicyRule`).
    pub fn from_value(rule: &Value) -> Self {
        Self::parse(rule)
    }

    /// Every request this rule allows, as (verb, target) pairs a
    /// coverage check asks about: `*` stays `*` (only a rule holding `*`
    /// covers it, as kube's `Covers`).
    pub fn requests(&self, namespace: Option<&str>) -> Vec<(String, Target)> {
        let mut requests = Vec::new();
        for verb in &self.verbs {
            for group in &self.api_groups {
                for resource in &self.resources {
                    let (resource, subresource) = match resource.split_once('/') {
                        Some((resource, sub)) => (resource.to_string(), Some(sub.to_string())),
                        None => (resource.clone(), None),
                    };
                    let names: Vec<Option<String>> = if self.resource_names.is_empty() {
                        vec![None]
                    } else {
                        self.resource_names.iter().cloned().map(Some).collect()
                    };
                    for name in names {
                        requests.push((
                            verb.clone(),
                            Target::Resource {
                                group: group.clone(),
                                resource: resource.clone(),
                                subresource: subresource.clone(),
                                namespace: namespace.map(str::to_string),
                                name,
                            },
                        ));
                    }
                }
            }
            for url in &self.non_resource_urls {
                requests.push((verb.clone(), Target::Path(url.clone())));
            }
        }
        requests
    }

    /// kube's `RuleAllows`.
    pub fn allows(&self, verb: &str, target: &Target) -> bool {
        if !self.verbs.iter().any(|v| v == "*" || v == verb) {
            return false;
        }
        match target {
            Target::Resource {
                group,
                resource,
                subresource,
                name,
                ..
            } => {
                self.api_groups.iter().any(|g| g == "*" || g == group)
                    && self.resources.iter().any(|r| {
                        resource_matches(r, resource, subresource.as_deref().unwrap_or(""))
                    })
                    && (self.resource_names.is_empty()
                        || name
                            .as_deref()
                            .is_some_and(|n| self.resource_names.iter().any(|r| r == n)))
            }
            Target::Path(path) => self.non_resource_urls.iter().any(|rule| {
                rule == "*"
                    || rule == path
                    || rule
                        .strip_suffix('*')
                        .is_some_and(|prefix| path.starts_with(prefix))
            }),
        }
    }
}

/// kube's `ResourceMatches`: `*`, `resource`, `resource/subresource`, or
/// `*/subresource`.
fn resource_matches(rule: &str, resource: &str, subresource: &str) -> bool {
    if rule == "*" {
        return true;
    }
    if subresource.is_empty() {
        return rule == resource;
    }
    rule.strip_prefix(resource)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|rest| rest == subresource)
        || rule
            .strip_prefix("*/")
            .is_some_and(|rest| rest == subresource)
}

/// Who a binding names.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Subject {
    User(String),
    Group(String),
}

type Rules = Arc<Vec<Rule>>;

/// The rules bound to each subject, cluster-wide and per namespace.
#[derive(Default)]
pub struct Index {
    cluster: HashMap<Subject, Vec<(String, Rules)>>,
    namespaced: HashMap<(String, Subject), Vec<(String, Rules)>>,
    /// Each ClusterRole's rules (aggregation resolved), by name.
    cluster_roles: HashMap<String, Rules>,
    /// Each Role's rules, by namespace and name.
    roles: HashMap<(String, String), Rules>,
}

/// The RBAC objects an index is built from.
#[derive(Default)]
pub struct Objects {
    /// Plugins: their `spec.permissions` are the rules of their user
    /// ([`super::plugin_user`]).
    pub plugins: Vec<Value>,
    pub roles: Vec<Value>,
    pub cluster_roles: Vec<Value>,
    pub role_bindings: Vec<Value>,
    pub cluster_role_bindings: Vec<Value>,
}

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

fn namespace(object: &Value) -> &str {
    object["metadata"]["namespace"].as_str().unwrap_or_default()
}

impl Index {
    pub fn build(objects: &Objects) -> Self {
        let cluster_roles = resolve_cluster_roles(&objects.cluster_roles);
        let roles: HashMap<(String, String), Rules> = objects
            .roles
            .iter()
            .map(|role| {
                let rules = strings_of_rules(role);
                (
                    (namespace(role).to_string(), name(role).to_string()),
                    Arc::new(rules),
                )
            })
            .collect();
        let mut index = Index::default();
        for binding in &objects.cluster_role_bindings {
            if binding["roleRef"]["kind"] != "ClusterRole" {
                continue;
            }
            let Some(rules) = binding["roleRef"]["name"]
                .as_str()
                .and_then(|role| cluster_roles.get(role))
            else {
                continue;
            };
            for subject in subjects(binding, None) {
                index.cluster.entry(subject).or_default().push((
                    format!("ClusterRoleBinding {:?}", name(binding)),
                    rules.clone(),
                ));
            }
        }
        for binding in &objects.role_bindings {
            let bound_in = namespace(binding);
            let role = binding["roleRef"]["name"].as_str().unwrap_or_default();
            let rules = match binding["roleRef"]["kind"].as_str() {
                Some("ClusterRole") => cluster_roles.get(role),
                Some("Role") => roles.get(&(bound_in.to_string(), role.to_string())),
                _ => None,
            };
            let Some(rules) = rules else { continue };
            for subject in subjects(binding, Some(bound_in)) {
                index
                    .namespaced
                    .entry((bound_in.to_string(), subject))
                    .or_default()
                    .push((
                        format!("RoleBinding \"{bound_in}/{}\"", name(binding)),
                        rules.clone(),
                    ));
            }
        }
        for plugin in &objects.plugins {
            let subject = Subject::User(super::plugin_user(name(plugin)).username);
            let binding = format!("Plugin {:?}", name(plugin));
            let rules = plugin["spec"]["permissions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let (everywhere, scoped): (Vec<&Value>, Vec<&Value>) = rules
                .iter()
                .partition(|rule| strings(&rule["namespaces"]).is_empty());
            let everywhere: Vec<Rule> = everywhere.into_iter().map(Rule::parse).collect();
            if !everywhere.is_empty() {
                index
                    .cluster
                    .entry(subject.clone())
                    .or_default()
                    .push((binding.clone(), Arc::new(everywhere)));
            }
            for rule in scoped {
                let parsed = Arc::new(vec![Rule::parse(rule)]);
                for namespace in strings(&rule["namespaces"]) {
                    index
                        .namespaced
                        .entry((namespace, subject.clone()))
                        .or_default()
                        .push((binding.clone(), parsed.clone()));
                }
            }
        }
        index.cluster_roles = cluster_roles;
        index.roles = roles;
        index
    }

    /// The rules of the role a binding's `roleRef` names (a Role in
    /// `namespace`), if it exists.
    pub fn role_rules(&self, kind: &str, name: &str, namespace: Option<&str>) -> Option<&[Rule]> {
        match kind {
            "ClusterRole" => self.cluster_roles.get(name),
            "Role" => self.roles.get(&(namespace?.to_string(), name.to_string())),
            _ => None,
        }
        .map(|rules| rules.as_slice())
    }

    /// The binding that allows the request, if one does.
    pub fn allows(&self, attributes: &Attributes) -> Option<&str> {
        let user = attributes.user;
        let subjects = std::iter::once(Subject::User(user.username.clone()))
            .chain(user.groups.iter().cloned().map(Subject::Group));
        let namespace = match &attributes.target {
            Target::Resource { namespace, .. } => namespace.as_deref(),
            Target::Path(_) => None,
        };
        for subject in subjects {
            let bound = self.cluster.get(&subject).into_iter().flatten().chain(
                namespace
                    .and_then(|ns| self.namespaced.get(&(ns.to_string(), subject.clone())))
                    .into_iter()
                    .flatten(),
            );
            for (binding, rules) in bound {
                if rules
                    .iter()
                    .any(|rule| rule.allows(attributes.verb, &attributes.target))
                {
                    return Some(binding);
                }
            }
        }
        None
    }
}

fn strings_of_rules(role: &Value) -> Vec<Rule> {
    role["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(Rule::parse)
        .collect()
}

/// Each ClusterRole's rules, an aggregated one's being those of every
/// ClusterRole its selectors pick (and what they aggregate in turn), as
/// kube's aggregation controller fills them in.
fn resolve_cluster_roles(cluster_roles: &[Value]) -> HashMap<String, Rules> {
    let by_name: HashMap<&str, &Value> = cluster_roles.iter().map(|r| (name(r), r)).collect();
    let mut resolved = HashMap::new();
    for role in cluster_roles {
        let mut rules = Vec::new();
        let mut seen = HashSet::new();
        collect_rules(role, &by_name, cluster_roles, &mut seen, &mut rules);
        resolved.insert(name(role).to_string(), Arc::new(rules));
    }
    resolved
}

fn collect_rules<'a>(
    role: &'a Value,
    by_name: &HashMap<&str, &'a Value>,
    all: &'a [Value],
    seen: &mut HashSet<&'a str>,
    rules: &mut Vec<Rule>,
) {
    if !seen.insert(name(role)) {
        return;
    }
    rules.extend(strings_of_rules(role));
    let selectors: Vec<LabelSelector> = role["aggregationRule"]["clusterRoleSelectors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|selector| LabelSelector::from_object(selector).ok())
        .filter(|selector| !selector.is_empty())
        .collect();
    if selectors.is_empty() {
        return;
    }
    for other in all {
        if selectors.iter().any(|s| s.matches(other)) {
            let other = by_name.get(name(other)).copied().unwrap_or(other);
            collect_rules(other, by_name, all, seen, rules);
        }
    }
}

/// A binding's subjects as users and groups (a ServiceAccount is the user
/// `system:serviceaccount:NS:NAME`; its namespace defaults to the
/// RoleBinding's).
fn subjects(binding: &Value, bound_in: Option<&str>) -> Vec<Subject> {
    binding["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|subject| {
            let name = subject["name"].as_str()?.to_string();
            match subject["kind"].as_str()? {
                "User" => Some(Subject::User(name)),
                "Group" => Some(Subject::Group(name)),
                "ServiceAccount" => {
                    let namespace = subject["namespace"].as_str().or(bound_in)?;
                    Some(Subject::User(format!(
                        "system:serviceaccount:{namespace}:{name}"
                    )))
                }
                _ => None,
            }
        })
        .collect()
}
