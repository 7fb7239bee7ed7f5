//! The patch directives: their names, how their keys are read, and how
//! patch content that is copied into the result loses them.

use serde_json::{Map, Value};

use crate::error::{PatchError, Result, dotted};

/// `"$patch": "replace" | "delete"` in a map; `{"$patch": "delete", <key>}`
/// or `{"$patch": "replace"}` as a list item.
pub(crate) const PATCH: &str = "$patch";
/// `"$retainKeys": [fields]`: after merging, the map keeps only these fields.
pub(crate) const RETAIN_KEYS: &str = "$retainKeys";
/// `"$setElementOrder/<field>": [items]`: the order of the merged list.
pub(crate) const SET_ELEMENT_ORDER: &str = "$setElementOrder";
/// `"$deleteFromPrimitiveList/<field>": [values]`: values to remove.
pub(crate) const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

const REPLACE: &str = "replace";
const DELETE: &str = "delete";
const MERGE: &str = "merge";

/// What a map's `$patch` directive asks for.
pub(crate) enum MapDirective {
    /// Replace the map with the patch's map, minus the directive.
    Replace,
    /// Replace the map with an empty map.
    Delete,
}

/// Reads a map's `$patch` directive, if it has one. Only `"replace"` and
/// `"delete"` are accepted: the API server rejects even `"merge"` here.
pub(crate) fn map_directive(
    patch: &Map<String, Value>,
    path: &[&str],
) -> Result<Option<MapDirective>> {
    let Some(value) = patch.get(PATCH) else {
        return Ok(None);
    };
    match value.as_str() {
        Some(REPLACE) => Ok(Some(MapDirective::Replace)),
        Some(DELETE) => Ok(Some(MapDirective::Delete)),
        _ => Err(PatchError::BadMapDirective {
            path: dotted(path, None),
            value: crate::error::shown(value),
        }),
    }
}

/// What a list item's `$patch` directive asks for.
pub(crate) enum ItemDirective {
    /// Remove the live items with this item's merge key value.
    Delete,
    /// Replace the whole list with the patch's other items.
    Replace,
}

/// Reads a list item's `$patch` directive, if it has one.
pub(crate) fn item_directive(
    item: &Map<String, Value>,
    path: &[&str],
) -> Result<Option<ItemDirective>> {
    let Some(value) = item.get(PATCH) else {
        return Ok(None);
    };
    match value.as_str() {
        Some(DELETE) => Ok(Some(ItemDirective::Delete)),
        Some(REPLACE) => Ok(Some(ItemDirective::Replace)),
        Some(MERGE) => Err(PatchError::ListMergeDirective {
            path: dotted(path, None),
        }),
        _ => Err(PatchError::BadListDirective {
            path: dotted(path, None),
            value: crate::error::shown(value),
        }),
    }
}

/// Whether a list item is a `{"$patch": "delete", ...}` item.
pub(crate) fn is_delete_item(item: &Value) -> bool {
    item.get(PATCH).and_then(Value::as_str) == Some(DELETE)
}

/// Whether a list item carries any `$patch` directive.
pub(crate) fn has_patch_directive(item: &Value) -> bool {
    item.as_object().is_some_and(|map| map.contains_key(PATCH))
}

/// The field a parallel-list directive key (`<prefix>/<field>`) names, or
/// `None` when `key` does not start with `prefix`.
///
/// A key that starts with the prefix but is not `<prefix>/…` is an error, as
/// in the API server. An empty field (`"<prefix>/"`) is returned as is.
pub(crate) fn parallel_list_field<'k>(
    key: &'k str,
    prefix: &'static str,
    path: &[&str],
) -> Result<Option<&'k str>> {
    if !key.starts_with(prefix) {
        return Ok(None);
    }
    match key.split_once('/') {
        Some((head, field)) if head == prefix => Ok(Some(field)),
        _ => Err(PatchError::MalformedDirectiveKey {
            path: dotted(path, None),
            key: key.to_owned(),
            prefix,
        }),
    }
}

/// Whether `key` is a directive rather than a field.
pub(crate) fn is_directive_key(key: &str) -> bool {
    key == PATCH
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

/// How patch content that lands in the result unmerged is cleaned.
///
/// The API server copies such content as it is and then decodes the result
/// into the typed object, which drops directive keys (unknown fields) and
/// `null` fields; we clean it here instead so the result is already what the
/// server would store.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cleaning {
    /// A value for a key the live object lacks (or holds with another JSON
    /// type): as apimachinery's `discardNullValuesFromPatch` and
    /// `removeDirectives`, a map carrying `$patch` is dropped altogether, from
    /// its parent map or list; other directive keys and `null` fields go.
    NewValue,
    /// Content the API server copies verbatim (a `$patch: replace` map or
    /// list, an atomic list, a new list item): directive keys and `null`
    /// fields go, every map stays.
    Verbatim,
}

/// `value` without directives and `null` fields; `None` when the whole value
/// is to be dropped (see [`Cleaning::NewValue`]).
pub(crate) fn clean(value: &Value, how: Cleaning) -> Option<Value> {
    match value {
        Value::Object(map) => clean_map(map, how).map(Value::Object),
        // `null` items of lists stay, as in the API server.
        Value::Array(items) => Some(Value::Array(
            items.iter().filter_map(|item| clean(item, how)).collect(),
        )),
        scalar => Some(scalar.clone()),
    }
}

/// [`clean`] for a map.
pub(crate) fn clean_map(map: &Map<String, Value>, how: Cleaning) -> Option<Map<String, Value>> {
    // A `"$patch": null` field is discarded as a null before directives are
    // looked at, so it does not drop the map.
    if how == Cleaning::NewValue && map.get(PATCH).is_some_and(|value| !value.is_null()) {
        return None;
    }
    let mut cleaned = Map::new();
    for (key, value) in map {
        if value.is_null() || is_directive_key(key) {
            continue;
        }
        if let Some(value) = clean(value, how) {
            cleaned.insert(key.clone(), value);
        }
    }
    Some(cleaned)
}

/// [`clean`] for the items of a list.
pub(crate) fn clean_items(items: &[Value], how: Cleaning) -> Vec<Value> {
    items.iter().filter_map(|item| clean(item, how)).collect()
}
