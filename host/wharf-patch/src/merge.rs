//! Applying a strategic merge patch: apimachinery's `mergeMap` and
//! `mergeSlice`, with the server-side options (`MergeParallelList`,
//! `IgnoreUnmatchedNulls`) the API server uses.
//!
//! Within one map the steps run in the API server's order: the map's
//! `$patch` directive; `$retainKeys`; every `$setElementOrder/<field>` with
//! its list; then the remaining fields, in the patch's key order (Go visits
//! them in random order; no patch a client generates can tell).

use serde_json::{Map, Value};

use crate::directives::{
    Cleaning, DELETE_FROM_PRIMITIVE_LIST, ItemDirective, MapDirective, RETAIN_KEYS,
    SET_ELEMENT_ORDER, clean, clean_items, clean_map, has_patch_directive, is_delete_item,
    item_directive, map_directive, parallel_list_field,
};
use crate::error::{PatchError, Result, dotted, json_type};
use crate::order::{
    Identity, deduplicate_scalars, find_by_key, item_type, key_value, normalize_element_order,
    partition,
};
use crate::schema::{ListStrategy, PatchSchema};

#[cfg(test)]
mod tests;

/// Applies the strategic merge patch `patch` to the object `original`, as the
/// Kubernetes API server does, with list strategies from `schema`.
///
/// Both must be JSON objects; `null` counts as an empty object, as when the
/// API server decodes a `null` body. The result holds no directives.
///
/// ```
/// use serde_json::json;
/// use wharf_patch::{BuiltinSchema, strategic_merge};
///
/// let live = json!({"spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]}});
/// let patch = json!({"spec": {"containers": [{"name": "app", "image": "busybox:1.37"}]}});
/// let patched = strategic_merge(&live, &patch, &BuiltinSchema).unwrap();
/// assert_eq!(patched, json!({"spec": {"containers": [{"name": "app", "image": "busybox:1.37"}]}}));
/// ```
pub fn strategic_merge(original: &Value, patch: &Value, schema: &dyn PatchSchema) -> Result<Value> {
    let empty = Map::new();
    let patch = match patch {
        Value::Object(patch) => patch,
        Value::Null => &empty,
        other => {
            return Err(PatchError::PatchNotObject {
                found: json_type(other),
            });
        }
    };
    let original = match original {
        Value::Object(original) => original.clone(),
        Value::Null => Map::new(),
        other => {
            return Err(PatchError::OriginalNotObject {
                found: json_type(other),
            });
        }
    };
    let merged = Merger { schema }.merge_map(original, patch, &[])?;
    Ok(Value::Object(merged))
}

/// One patch application: the schema, and the merge steps as methods.
struct Merger<'s> {
    schema: &'s dyn PatchSchema,
}

impl Merger<'_> {
    /// Merges `patch` into the map `original` found at `path`.
    fn merge_map<'p>(
        &self,
        mut original: Map<String, Value>,
        patch: &'p Map<String, Value>,
        path: &[&'p str],
    ) -> Result<Map<String, Value>> {
        match map_directive(patch, path)? {
            Some(MapDirective::Replace) => {
                return Ok(clean_map(patch, Cleaning::Verbatim).unwrap_or_default());
            }
            Some(MapDirective::Delete) => return Ok(Map::new()),
            None => {}
        }
        apply_retain_keys(&mut original, patch, path)?;
        let ordered = self.apply_set_element_order(&mut original, patch, path)?;

        for (key, value) in patch {
            if key == RETAIN_KEYS
                || key.starts_with(SET_ELEMENT_ORDER)
                || ordered.contains(&key.as_str())
            {
                continue;
            }
            let (field, delete_list) =
                match parallel_list_field(key, DELETE_FROM_PRIMITIVE_LIST, path)? {
                    Some(field) if !field.is_empty() => (field, true),
                    // `$deleteFromPrimitiveList/` names no field, so nothing matches it.
                    Some(_) => (key.as_str(), true),
                    None => (key.as_str(), false),
                };
            self.merge_field(&mut original, field, value, delete_list, path)?;
        }
        Ok(original)
    }

    /// Merges the patch's value for `field` (or, for a delete list, the
    /// values to delete from it) into `original`.
    fn merge_field<'p>(
        &self,
        original: &mut Map<String, Value>,
        field: &'p str,
        patch_value: &'p Value,
        delete_list: bool,
        path: &[&'p str],
    ) -> Result<()> {
        if delete_list {
            // As kube: nothing to delete from a missing (or null) field,
            // and a field or a value that is not a list is an error.
            match (original.get(field), patch_value) {
                (None | Some(Value::Null), _) => return Ok(()),
                (Some(Value::Array(_)), Value::Array(_)) => {}
                _ => {
                    return Err(PatchError::BadPrimitiveList {
                        path: dotted(path, Some(field)),
                    });
                }
            }
        }
        if patch_value.is_null() {
            original.remove(field);
            return Ok(());
        }
        let Some(live) = original.get_mut(field) else {
            if !delete_list && let Some(value) = clean(patch_value, Cleaning::NewValue) {
                original.insert(field.to_owned(), value);
            }
            return Ok(());
        };
        if !same_json_type(live, patch_value) {
            if !delete_list {
                match clean(patch_value, Cleaning::NewValue) {
                    Some(value) => *live = value,
                    None => {
                        original.remove(field);
                    }
                }
            }
            return Ok(());
        }
        match (live, patch_value) {
            (Value::Object(live), Value::Object(patch_map)) => {
                let merged =
                    self.merge_map(std::mem::take(live), patch_map, &child(path, field))?;
                *live = merged;
            }
            (Value::Array(live), Value::Array(patch_items)) => {
                let strategy = self.schema.list_strategy(path, field);
                let merged = self.merge_list(
                    std::mem::take(live),
                    patch_items,
                    strategy,
                    delete_list,
                    &child(path, field),
                    None,
                )?;
                *live = merged;
            }
            (live, scalar) => *live = scalar.clone(),
        }
        Ok(())
    }

    /// Merges the list `patch` into the list `original` at `path`: the
    /// patch's list replaces an atomic list; merging lists (and any list a
    /// `$deleteFromPrimitiveList` applies to) merge item by item.
    ///
    /// `view`, when given, replays on `original`'s [`LiveView`] the in-place
    /// edits the API server makes to the live list.
    fn merge_list<'p>(
        &self,
        original: Vec<Value>,
        patch: &'p [Value],
        strategy: ListStrategy,
        delete_list: bool,
        path: &[&'p str],
        mut view: Option<&mut LiveView>,
    ) -> Result<Vec<Value>> {
        if !strategy.merges() && !delete_list {
            return Ok(clean_items(patch, Cleaning::Verbatim));
        }
        let merge_key = strategy.merge_key();
        if original.is_empty() && patch.is_empty() {
            return Ok(original);
        }
        let Some(item_type) = item_type(&[&original, patch], path)? else {
            return Ok(original);
        };

        let (live, patch_items, merged) = if item_type.is_object() {
            let Some(key) = merge_key else {
                return Err(PatchError::NoMergeKey {
                    path: dotted(path, None),
                });
            };
            let (live, patch_items, replaced) =
                apply_item_directives(original, patch, key, path, view.as_deref_mut())?;
            // Items appended to a replacement list do not touch the live one.
            let view = if replaced { None } else { view };
            let merged = self.merge_items(live.clone(), &patch_items, key, path, view)?;
            (live, patch_items, merged)
        } else if delete_list {
            return Ok(original
                .into_iter()
                .filter(|item| !patch.contains(item))
                .collect());
        } else {
            let mut both = original.clone();
            both.extend(patch.iter().cloned());
            (original, patch.to_vec(), deduplicate_scalars(both))
        };

        let identity = Identity::of(merge_key);
        let (mentioned, others) = partition(merged, &patch_items, identity, path)?;
        normalize_element_order(
            mentioned,
            others,
            &patch_items,
            &live,
            identity,
            item_type,
            path,
        )
    }

    /// Merges each patch item into the live item with the same merge key
    /// value, or appends it when there is none.
    fn merge_items<'p>(
        &self,
        mut live: Vec<Value>,
        patch_items: &'p [Value],
        key: &str,
        path: &[&'p str],
        mut view: Option<&mut LiveView>,
    ) -> Result<Vec<Value>> {
        for item in patch_items {
            let value = key_value(item, key, path)?;
            let found = find_by_key(&live, key, value, path)?;
            match (found.and_then(|index| live.get_mut(index)), item) {
                (Some(Value::Object(target)), Value::Object(patch_map)) => {
                    let merged = self.merge_map(std::mem::take(target), patch_map, path)?;
                    *target = merged;
                }
                _ => {
                    if let Some(view) = view.as_deref_mut() {
                        view.push(item);
                    }
                    live.extend(clean(item, Cleaning::Verbatim));
                }
            }
        }
        Ok(live)
    }

    /// Applies every `$setElementOrder/<field>` of `patch`: merges the field's
    /// list (when the patch has it) and orders the result. Returns the fields
    /// done, which the rest of the merge skips.
    fn apply_set_element_order<'p>(
        &self,
        original: &mut Map<String, Value>,
        patch: &'p Map<String, Value>,
        path: &[&'p str],
    ) -> Result<Vec<&'p str>> {
        let mut ordered = Vec::new();
        for (key, order) in patch {
            let Some(field) = parallel_list_field(key, SET_ELEMENT_ORDER, path)? else {
                continue;
            };
            let Some(order) = order.as_array() else {
                return Err(PatchError::DirectiveNotList {
                    path: dotted(path, None),
                    directive: key.clone(),
                    found: json_type(order),
                });
            };
            let list_path = child(path, field);
            let live = list_field(original, field, &list_path)?;
            let patched = list_field(patch, field, &list_path)?;
            let strategy = self.schema.list_strategy(path, field);
            let merge_key = strategy.merge_key();
            validate_patch_order(patched.unwrap_or_default(), order, merge_key, &list_path)?;

            // The order of the live list, as this step sees it after merging.
            let (merged, live_order) = match (live, patched) {
                (Some(live), None) => (live.to_vec(), live.to_vec()),
                (None, Some(patched)) => (clean_items(patched, Cleaning::NewValue), Vec::new()),
                (Some(live), Some(patched)) => {
                    let mut view = LiveView::new(live);
                    let merged = self.merge_list(
                        live.to_vec(),
                        patched,
                        strategy,
                        false,
                        &list_path,
                        Some(&mut view),
                    )?;
                    (merged, view.into_items())
                }
                (None, None) => continue,
            };
            let identity = Identity::of(merge_key);
            let (mentioned, others) = partition(merged, order, identity, &list_path)?;
            let Some(item_type) =
                item_type(&[&live_order, patched.unwrap_or_default()], &list_path)?
            else {
                return Err(PatchError::NothingToOrder {
                    path: dotted(&list_path, None),
                });
            };
            let both = normalize_element_order(
                mentioned,
                others,
                order,
                &live_order,
                identity,
                item_type,
                &list_path,
            )?;
            original.insert(field.to_owned(), Value::Array(both));
            ordered.push(field);
        }
        Ok(ordered)
    }
}

/// Applies a map's `$retainKeys` directive: every field the patch sets must
/// be listed, and the live map keeps only the listed fields.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    path: &[&str],
) -> Result<()> {
    let Some(retain) = patch.get(RETAIN_KEYS) else {
        return Ok(());
    };
    let Some(retain) = retain.as_array() else {
        return Err(PatchError::DirectiveNotList {
            path: dotted(path, None),
            directive: RETAIN_KEYS.to_owned(),
            found: json_type(retain),
        });
    };
    let retained = |field: &str| retain.iter().any(|name| name.as_str() == Some(field));
    for (key, value) in patch {
        let exempt = value.is_null()
            || key == RETAIN_KEYS
            || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || key.starts_with(SET_ELEMENT_ORDER);
        if !exempt && !retained(key) {
            return Err(PatchError::FieldNotInRetainKeys {
                path: dotted(path, None),
                field: key.clone(),
            });
        }
    }
    original.retain(|key, _| retained(key));
    Ok(())
}

/// Applies the `$patch` items of a list of objects: removes the live items
/// a `delete` item names; a `replace` item makes the patch's other items the
/// whole list. Returns the live list after that, the patch's plain items,
/// and whether the list was replaced.
fn apply_item_directives(
    mut live: Vec<Value>,
    patch: &[Value],
    key: &str,
    path: &[&str],
    mut view: Option<&mut LiveView>,
) -> Result<(Vec<Value>, Vec<Value>, bool)> {
    let mut plain = Vec::new();
    let mut replace = false;
    for item in patch {
        let Some(map) = item.as_object() else {
            return Err(PatchError::ListItemNotObject {
                path: dotted(path, None),
                key: key.to_owned(),
                found: json_type(item),
            });
        };
        match item_directive(map, path)? {
            None => plain.push(item.clone()),
            Some(ItemDirective::Delete) => {
                let Some(value) = map.get(key) else {
                    return Err(PatchError::MissingMergeKey {
                        path: dotted(path, None),
                        key: key.to_owned(),
                    });
                };
                // One by one, as the API server removes them.
                while let Some(index) = live
                    .iter()
                    .position(|candidate| candidate.get(key) == Some(value))
                {
                    live.remove(index);
                    if let Some(view) = view.as_deref_mut() {
                        view.remove(index);
                    }
                }
            }
            Some(ItemDirective::Replace) => replace = true,
        }
    }
    if replace {
        Ok((clean_items(&plain, Cleaning::Verbatim), Vec::new(), true))
    } else {
        Ok((live, plain, false))
    }
}

/// The live list as the API server's `$setElementOrder` step sees it after
/// merging.
///
/// apimachinery deletes items from the live list and appends new ones in
/// place, on a Go slice that shares its array with the list the
/// `$setElementOrder` step then orders by. Through that step's slice (the
/// live list's length), deletions shift later items left and leave the last
/// slots as they were, and the first appended items land in the freed
/// slots. Where server-only items end up depends on that order, so we replay
/// the edits. (How much spare capacity Go's arrays have never matters here:
/// appends only reach the slots that deletions freed.)
struct LiveView {
    items: Vec<Value>,
    /// The length of the Go slice being edited.
    len: usize,
}

impl LiveView {
    fn new(live: &[Value]) -> Self {
        Self {
            items: live.to_vec(),
            len: live.len(),
        }
    }

    /// `s = append(s[:index], s[index+1:]...)`.
    fn remove(&mut self, index: usize) {
        if index >= self.len {
            return;
        }
        let end = self.len.min(self.items.len());
        if let Some(shifted) = self.items.get_mut(index..end) {
            for slot in 1..shifted.len() {
                shifted[slot - 1] = shifted[slot].clone();
            }
        }
        self.len -= 1;
    }

    /// `s = append(s, item)`.
    fn push(&mut self, item: &Value) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = item.clone();
        }
        self.len += 1;
    }

    fn into_items(self) -> Vec<Value> {
        self.items
    }
}

/// Checks that the patch list's items appear in its `$setElementOrder` list
/// and in the same order (delete items and other directive items aside).
fn validate_patch_order(
    patch: &[Value],
    order: &[Value],
    merge_key: Option<&str>,
    path: &[&str],
) -> Result<()> {
    if order.is_empty() || patch.is_empty() {
        return Ok(());
    }
    let candidates: Vec<&Value> = match merge_key {
        Some(key) => {
            if let Some(item) = patch.iter().find(|item| !item.is_object()) {
                return Err(PatchError::ListItemNotObject {
                    path: dotted(path, None),
                    key: key.to_owned(),
                    found: json_type(item),
                });
            }
            patch.iter().filter(|item| !is_delete_item(item)).collect()
        }
        None => patch.iter().collect(),
    };
    let (mut in_patch, mut in_order) = (0, 0);
    while let (Some(item), Some(wanted)) = (candidates.get(in_patch), order.get(in_order)) {
        if has_patch_directive(item) {
            in_patch += 1;
            continue;
        }
        if same_item(item, wanted, merge_key, path)? {
            in_patch += 1;
        }
        in_order += 1;
    }
    if in_patch < candidates.len() {
        return Err(PatchError::SetElementOrderMismatch {
            path: dotted(path, None),
        });
    }
    Ok(())
}

/// Whether two list items are the same item: equal merge key values, or
/// (without a merge key) equal scalars.
fn same_item(left: &Value, right: &Value, merge_key: Option<&str>, path: &[&str]) -> Result<bool> {
    match merge_key {
        Some(key) => Ok(key_value(left, key, path)? == key_value(right, key, path)?),
        // Go cannot compare two objects (or two lists) without a key.
        None if (left.is_object() && right.is_object())
            || (left.is_array() && right.is_array()) =>
        {
            Err(PatchError::NoMergeKey {
                path: dotted(path, None),
            })
        }
        None => Ok(left == right),
    }
}

/// The list at `map.field`, if there is one; an error when it is something
/// else.
fn list_field<'m>(
    map: &'m Map<String, Value>,
    field: &str,
    path: &[&str],
) -> Result<Option<&'m [Value]>> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(other) => Err(PatchError::NotAList {
            path: dotted(path, None),
            found: json_type(other),
        }),
    }
}

/// Whether two values have the same JSON type as Go's decoder types them,
/// where integers and other numbers differ.
fn same_json_type(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => left.is_i64() == right.is_i64(),
        _ => std::mem::discriminant(left) == std::mem::discriminant(right),
    }
}

/// `path` extended by `field`.
fn child<'p>(path: &[&'p str], field: &'p str) -> Vec<&'p str> {
    let mut child = Vec::with_capacity(path.len() + 1);
    child.extend_from_slice(path);
    child.push(field);
    child
}
