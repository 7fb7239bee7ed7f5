//! Field ownership: `metadata.managedFields` on every write, and
//! server-side apply with it, as kube's structured-merge-diff does.
//!
//! Every write records which manager set which fields (kube's `fieldsV1`
//! sets: `f:` fields, `k:` items of lists merged by key, `v:` members of
//! sets): an Update takes the fields it changed from whoever had them; an
//! Apply owns exactly the fields of its configuration. An Apply that would
//! change a field another manager owns is a 409 naming each conflict,
//! unless forced (then it takes them); a field the manager applied before
//! and leaves out now is removed, when no one else owns it.
//!
//! How lists merge comes from the same table the server's strategic merge
//! uses ([`wharf_patch::BuiltinSchema`]); lists of custom kinds are atomic
//! unless their schema says `x-kubernetes-list-type: map` or `set`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use wharf_patch::{BuiltinSchema, ListStrategy, PatchSchema};

use crate::error::{ApiError, ApiResult};
use crate::resources::ResourceDef;

/// One step of a field path, as `fieldsV1` spells it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    /// `f:name`.
    Field(String),
    /// `k:{"name":"a"}`: the item of a keyed list with these key values.
    Key(String),
    /// `v:"x"`: a member of a set.
    Value(String),
}

impl Step {
    fn text(&self) -> String {
        match self {
            Step::Field(name) => format!("f:{name}"),
            Step::Key(key) => format!("k:{key}"),
            Step::Value(value) => format!("v:{value}"),
        }
    }

    fn parse(text: &str) -> Option<Step> {
        let (kind, rest) = text.split_at_checked(2)?;
        match kind {
            "f:" => Some(Step::Field(rest.to_string())),
            "k:" => Some(Step::Key(rest.to_string())),
            "v:" => Some(Step::Value(rest.to_string())),
            _ => None,
        }
    }
}

/// A set of field paths, as a tree; `own` marks the node itself (`.`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    own: bool,
    children: BTreeMap<Step, FieldSet>,
}

impl FieldSet {
    fn is_empty(&self) -> bool {
        !self.own && self.children.values().all(FieldSet::is_empty)
    }

    /// Every path of the set (leaves and `.` members).
    fn paths(&self) -> Vec<Vec<Step>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        if self.own {
            out.push(prefix.clone());
        }
        for (step, child) in &self.children {
            prefix.push(step.clone());
            child.collect(prefix, out);
            prefix.pop();
        }
    }

    fn insert(&mut self, path: &[Step]) {
        match path.split_first() {
            None => self.own = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    fn contains(&self, path: &[Step]) -> bool {
        match path.split_first() {
            None => self.own,
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    fn remove(&mut self, path: &[Step]) {
        match path.split_first() {
            None => {
                self.own = false;
                self.children.clear();
            }
            Some((first, rest)) => {
                if let Some(child) = self.children.get_mut(first) {
                    if rest.is_empty() {
                        child.own = false;
                        child.children.clear();
                    } else {
                        child.remove(rest);
                    }
                    if child.is_empty() {
                        self.children.remove(first);
                    }
                }
            }
        }
    }

    /// As `fieldsV1`.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        if self.own && !self.children.is_empty() {
            map.insert(".".into(), json!({}));
        }
        for (step, child) in &self.children {
            map.insert(step.text(), child.to_json());
        }
        Value::Object(map)
    }

    pub fn from_json(value: &Value) -> FieldSet {
        let mut set = FieldSet::default();
        let Some(map) = value.as_object() else {
            return set;
        };
        if map.is_empty() {
            set.own = true;
        }
        for (key, child) in map {
            if key == "." {
                set.own = true;
            } else if let Some(step) = Step::parse(key) {
                set.children.insert(step, FieldSet::from_json(child));
            }
        }
        set
    }
}

/// The fields no manager owns: identity and what the server sets.
fn untracked(path: &[&str], field: &str) -> bool {
    match path {
        [] => matches!(field, "apiVersion" | "kind"),
        ["metadata"] => !matches!(
            field,
            "labels" | "annotations" | "ownerReferences" | "finalizers"
        ),
        _ => false,
    }
}

/// How a list at `path.field` of `resource` merges.
fn list_strategy(resource: &ResourceDef, path: &[&str], field: &str) -> ListStrategy {
    if let Some(custom) = &resource.custom {
        let schema = custom.schema.as_ref().and_then(|schema| {
            path.iter()
                .chain(std::iter::once(&field))
                .try_fold(schema, |node, part| {
                    let node = node.get("items").unwrap_or(node);
                    node.get("properties")?.get(*part)
                })
        });
        return match schema
            .and_then(|s| s.get("x-kubernetes-list-type"))
            .and_then(Value::as_str)
        {
            Some("set") => ListStrategy::MergeSet,
            Some("map") => {
                let key = schema
                    .and_then(|s| s.pointer("/x-kubernetes-list-map-keys/0"))
                    .and_then(Value::as_str)
                    .map(wharf_client::resources::intern);
                key.map_or(ListStrategy::Atomic, ListStrategy::MergeByKey)
            }
            _ => ListStrategy::Atomic,
        };
    }
    BuiltinSchema.list_strategy(path, field)
}

/// The `k:` step of a keyed list's item.
fn key_step(key: &str, item: &Value) -> Option<Step> {
    let value = item.get(key)?;
    Some(Step::Key(json!({ key: value }).to_string()))
}

/// The fields `value` sets, below `path` (the names of the maps above it,
/// list items adding none, as [`PatchSchema`] takes them).
fn fields_of(resource: &ResourceDef, value: &Value, path: &mut Vec<String>, out: &mut FieldSet) {
    let Some(map) = value.as_object() else {
        return;
    };
    for (field, child) in map {
        let at: Vec<&str> = path.iter().map(String::as_str).collect();
        if untracked(&at, field) {
            continue;
        }
        let node = out.children.entry(Step::Field(field.clone())).or_default();
        match child {
            Value::Object(inner) if !inner.is_empty() => {
                path.push(field.clone());
                fields_of(resource, child, path, node);
                path.pop();
                if node.children.is_empty() {
                    node.own = true;
                }
            }
            Value::Array(items) => match list_strategy(resource, &at, field) {
                ListStrategy::MergeByKey(key) if items.iter().all(|i| i.get(key).is_some()) => {
                    path.push(field.clone());
                    for item in items {
                        let Some(step) = key_step(key, item) else {
                            continue;
                        };
                        let entry = node.children.entry(step).or_default();
                        entry.own = true;
                        fields_of(resource, item, path, entry);
                    }
                    path.pop();
                    if items.is_empty() {
                        node.own = true;
                    }
                }
                ListStrategy::MergeSet => {
                    for item in items {
                        node.children
                            .entry(Step::Value(item.to_string()))
                            .or_default()
                            .own = true;
                    }
                    if items.is_empty() {
                        node.own = true;
                    }
                }
                _ => node.own = true,
            },
            _ => node.own = true,
        }
    }
}

/// The fields an object sets.
fn field_set(resource: &ResourceDef, object: &Value) -> FieldSet {
    let mut set = FieldSet::default();
    fields_of(resource, object, &mut Vec::new(), &mut set);
    set
}

/// The value at `path`, if the object has it.
fn value_at<'a>(object: &'a Value, path: &[Step]) -> Option<&'a Value> {
    path.iter().try_fold(object, |node, step| match step {
        Step::Field(name) => node.get(name),
        Step::Key(key) => {
            let wanted: Map<String, Value> = serde_json::from_str(key).ok()?;
            node.as_array()?
                .iter()
                .find(|item| wanted.iter().all(|(k, v)| item.get(k) == Some(v)))
        }
        Step::Value(text) => {
            let wanted: Value = serde_json::from_str(text).ok()?;
            node.as_array()?.iter().find(|item| **item == wanted)
        }
    })
}

/// Removes the field at `path` from the object.
fn remove_at(object: &mut Value, path: &[Step]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = object;
    for step in parents {
        let next = match step {
            Step::Field(name) => node.get_mut(name),
            Step::Key(key) => {
                let Ok(wanted) = serde_json::from_str::<Map<String, Value>>(key) else {
                    return;
                };
                node.as_array_mut().and_then(|items| {
                    items
                        .iter_mut()
                        .find(|item| wanted.iter().all(|(k, v)| item.get(k) == Some(v)))
                })
            }
            Step::Value(_) => None,
        };
        let Some(next) = next else { return };
        node = next;
    }
    match last {
        Step::Field(name) => {
            if let Some(map) = node.as_object_mut() {
                map.remove(name);
            }
        }
        Step::Key(key) => {
            if let (Ok(wanted), Some(items)) = (
                serde_json::from_str::<Map<String, Value>>(key),
                node.as_array_mut(),
            ) {
                items.retain(|item| !wanted.iter().all(|(k, v)| item.get(k) == Some(v)));
            }
        }
        Step::Value(text) => {
            if let (Ok(wanted), Some(items)) =
                (serde_json::from_str::<Value>(text), node.as_array_mut())
            {
                items.retain(|item| *item != wanted);
            }
        }
    }
}

/// A path as kube prints it in a conflict: `.spec.replicas`,
/// `.spec.containers[name="a"].image`.
fn printed(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Field(name) => {
                out.push('.');
                out.push_str(name);
            }
            Step::Key(key) => {
                let map: Map<String, Value> = serde_json::from_str(key).unwrap_or_default();
                let inner: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.push_str(&format!("[{}]", inner.join(",")));
            }
            Step::Value(value) => out.push_str(&format!("[{value}]")),
        }
    }
    out
}

/// One `managedFields` entry.
#[derive(Clone, Debug)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: Option<String>,
    fields: FieldSet,
}

impl Entry {
    fn parse(value: &Value) -> Option<Entry> {
        Some(Entry {
            manager: value.get("manager")?.as_str()?.to_string(),
            operation: value.get("operation")?.as_str()?.to_string(),
            api_version: value["apiVersion"].as_str().unwrap_or_default().to_string(),
            time: value["time"].as_str().unwrap_or_default().to_string(),
            subresource: value["subresource"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            fields: FieldSet::from_json(&value["fieldsV1"]),
        })
    }

    fn to_json(&self) -> Value {
        let mut entry = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": self.fields.to_json(),
        });
        if let Some(subresource) = &self.subresource {
            entry["subresource"] = json!(subresource);
        }
        entry
    }

    fn same_slot(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }
}

fn entries_of(object: &Value) -> Vec<Entry> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Entry::parse)
        .collect()
}

fn set_entries(object: &mut Value, entries: &[Entry]) {
    let entries: Vec<Value> = entries
        .iter()
        .filter(|entry| !entry.fields.is_empty())
        .map(Entry::to_json)
        .collect();
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if entries.is_empty() {
            metadata.remove("managedFields");
        } else {
            metadata.insert("managedFields".into(), Value::Array(entries));
        }
    }
}

/// The fields of the status (for the status subresource) or of the rest.
fn part_of(set: &FieldSet, status: bool) -> FieldSet {
    let mut part = set.clone();
    part.children
        .retain(|step, _| (*step == Step::Field("status".into())) == status);
    part
}

/// Records an Update by `manager` that made `next` of `previous` (none on
/// create): the fields it changed are its, and no one else's.
pub fn record_update(
    resource: &ResourceDef,
    manager: &str,
    subresource: Option<&str>,
    previous: Option<&Value>,
    next: &mut Value,
) {
    let given = next.pointer("/metadata/managedFields");
    let mut entries = match previous {
        // Managed fields the client sent and changed are taken as given
        // (an empty list resets them); left out, they stay as they were.
        Some(previous)
            if given.is_some() && given != previous.pointer("/metadata/managedFields") =>
        {
            entries_of(next)
        }
        Some(previous) => entries_of(previous),
        None => entries_of(next),
    };
    let before = previous.map(|p| field_set(resource, p)).unwrap_or_default();
    let after = field_set(resource, next);
    let status = subresource == Some("status");
    let mut changed = FieldSet::default();
    for path in after.paths() {
        let old = previous.and_then(|p| value_at(p, &path));
        if old != value_at(next, &path) {
            changed.insert(&path);
        }
    }
    let mut removed = Vec::new();
    for path in before.paths() {
        if !after.contains(&path) {
            removed.push(path);
        }
    }
    let changed = part_of(&changed, status);
    if changed.is_empty() && removed.is_empty() && previous.is_some() {
        set_entries(next, &entries);
        return;
    }
    for entry in &mut entries {
        for path in changed.paths().iter().chain(&removed) {
            entry.fields.remove(path);
        }
    }
    let now = crate::meta::now_rfc3339();
    let index = entries
        .iter()
        .position(|e| e.same_slot(manager, "Update", subresource));
    let entry = match index {
        Some(index) => &mut entries[index],
        None => {
            entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: resource.api_version(),
                time: now.clone(),
                subresource: subresource.map(str::to_string),
                fields: FieldSet::default(),
            });
            entries.last_mut().expect("just pushed")
        }
    };
    for path in changed.paths() {
        entry.fields.insert(&path);
    }
    entry.time = now;
    entry.api_version = resource.api_version();
    set_entries(next, &entries);
}

/// Server-side apply of `config` by `manager` to `current` (already
/// merged into `merged` by the caller's patch): conflicts, removal of
/// fields the manager no longer applies, and the managed fields after.
pub fn apply(
    resource: &ResourceDef,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
    current: &Value,
    config: &Value,
    merged: &mut Value,
) -> ApiResult<()> {
    let mut entries = entries_of(current);
    let applied = part_of(&field_set(resource, config), subresource == Some("status"));
    let mut conflicts = Vec::new();
    for path in applied.paths() {
        let live = value_at(current, &path);
        let wanted = value_at(config, &path);
        let differs = live.is_some() && live != wanted && !is_container(wanted);
        if !differs {
            continue;
        }
        for entry in &entries {
            if entry.manager != manager && entry.fields.contains(&path) {
                conflicts.push((
                    entry.manager.clone(),
                    entry.api_version.clone(),
                    path.clone(),
                ));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        let lines: Vec<String> = conflicts
            .iter()
            .map(|(other, version, path)| {
                format!(
                    "conflict with \"{other}\" using {version}: {}",
                    printed(path)
                )
            })
            .collect();
        let message = if lines.len() == 1 {
            format!("Apply failed with 1 conflict: {}", lines[0])
        } else {
            format!(
                "Apply failed with {} conflicts: {}",
                lines.len(),
                lines.join("\n")
            )
        };
        return Err(ApiError::ApplyConflict {
            message,
            causes: conflicts
                .iter()
                .zip(&lines)
                .map(|((_, _, path), line)| crate::error::Cause {
                    reason: "FieldManagerConflict",
                    field: printed(path),
                    message: line.clone(),
                })
                .collect(),
        });
    }
    // Forced: the fields change hands.
    for (other, _, path) in &conflicts {
        for entry in entries.iter_mut().filter(|e| &e.manager == other) {
            entry.fields.remove(path);
        }
    }
    // Fields this manager applied before and leaves out now go, unless
    // another manager owns them too.
    let index = entries
        .iter()
        .position(|e| e.same_slot(manager, "Apply", subresource));
    if let Some(index) = index {
        for path in entries[index].fields.paths() {
            let kept = applied.contains(&path)
                || entries
                    .iter()
                    .enumerate()
                    .any(|(i, e)| i != index && e.fields.contains(&path));
            if !kept {
                remove_at(merged, &path);
            }
        }
    }
    // The time moves only when what the manager owns does (a repeated
    // apply changes nothing and writes nothing).
    let time = match index {
        Some(index) if entries[index].fields == applied => entries[index].time.clone(),
        _ => crate::meta::now_rfc3339(),
    };
    let entry = Entry {
        manager: manager.to_string(),
        operation: "Apply".into(),
        api_version: resource.api_version(),
        time,
        subresource: subresource.map(str::to_string),
        fields: applied,
    };
    match index {
        Some(index) => entries[index] = entry,
        None => entries.push(entry),
    }
    set_entries(merged, &entries);
    Ok(())
}

/// A map or list whose own value is not compared (its members are).
fn is_container(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::Object(map)) if !map.is_empty())
}

/// Who writes, for the request being served.
#[derive(Clone, Debug)]
pub struct Manager {
    pub name: String,
    /// The request is a server-side apply (its handler records the
    /// fields; the generic write path does not).
    pub applying: bool,
    /// `force=true`: an apply takes conflicting fields.
    pub force: bool,
}

tokio::task_local! {
    static MANAGER: Manager;
}

/// Runs a request's handling with its manager.
pub async fn scope<F: std::future::Future>(manager: Manager, handle: F) -> F::Output {
    MANAGER.scope(manager, handle).await
}

/// The manager of the request being served; outside a request (the
/// components inside `wharf up`), the user's name.
pub fn current() -> Manager {
    MANAGER
        .try_with(Manager::clone)
        .unwrap_or_else(|_| Manager {
            name: match crate::admission::current_user().username {
                name if name.is_empty() => "wharf".into(),
                name => name,
            },
            applying: false,
            force: false,
        })
}

/// The manager a request names (`fieldManager`), or kube's default: the
/// client's user agent up to its first `/`.
pub fn manager_of(field_manager: Option<&str>, user_agent: Option<&str>) -> String {
    if let Some(manager) = field_manager.filter(|m| !m.is_empty()) {
        return manager.to_string();
    }
    user_agent
        .and_then(|agent| agent.split('/').next())
        .filter(|agent| !agent.is_empty())
        .unwrap_or("unknown")
        .chars()
        .take(128)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployments() -> std::sync::Arc<ResourceDef> {
        crate::resources::Registry::builtin()
            .get("apps", "v1", "deployments")
            .unwrap()
    }

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "a", "image": image}]}}},
        })
    }

    #[test]
    fn fields_v1_names_keyed_items_and_round_trips() {
        let set = field_set(&deployments(), &deployment(1, "nginx"));
        let json = set.to_json();
        assert_eq!(
            json["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"a\"}"],
            json!({".": {}, "f:image": {}, "f:name": {}})
        );
        assert_eq!(json["f:metadata"], json!({"f:labels": {"f:app": {}}}));
        assert_eq!(FieldSet::from_json(&json), set);
    }

    #[test]
    fn an_apply_conflicts_with_another_managers_field_unless_forced() {
        let resource = deployments();
        let mut current = deployment(1, "nginx");
        record_update(&resource, "kubectl-create", None, None, &mut current);
        let mut scaled = current.clone();
        scaled["spec"]["replicas"] = json!(5);
        record_update(
            &resource,
            "kubectl-scale",
            None,
            Some(&current),
            &mut scaled,
        );
        let config = deployment(2, "nginx");
        let mut merged = scaled.clone();
        let error =
            apply(&resource, "ssa", false, None, &scaled, &config, &mut merged).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl-scale\" using apps/v1: .spec.replicas"
        );
        apply(&resource, "ssa", true, None, &scaled, &config, &mut merged).unwrap();
        let entries = entries_of(&merged);
        let scale = entries.iter().find(|e| e.manager == "kubectl-scale");
        assert!(
            scale.is_none(),
            "kubectl-scale lost its only field: {entries:?}"
        );
    }

    #[test]
    fn a_field_the_manager_stops_applying_is_removed() {
        let resource = deployments();
        let mut config = deployment(1, "nginx");
        config["metadata"]["labels"]["tier"] = json!("front");
        let empty = json!({"metadata": {"name": "web"}});
        let mut first = config.clone();
        apply(&resource, "ssa", false, None, &empty, &config, &mut first).unwrap();
        let smaller = deployment(1, "nginx");
        let mut second = first.clone();
        apply(&resource, "ssa", false, None, &first, &smaller, &mut second).unwrap();
        assert_eq!(second["metadata"]["labels"], json!({"app": "web"}));
    }
}
