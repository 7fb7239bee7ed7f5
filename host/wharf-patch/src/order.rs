//! The order of merged lists, as the API server computes it.
//!
//! After a list merges, its items are split into those the patch mentions
//! and those only the live object has ("server-only"). The patch's items
//! take the patch's order (or its `$setElementOrder` list's); the
//! server-only items keep their live order; then the two are interleaved,
//! a server-only item going before a patch item only when both are in the
//! live list and it came first there. So, without `$setElementOrder`, items
//! new to the list come first.
//!
//! Items are compared as Go compares `interface{}` values: same JSON type and
//! equal value, so `1` and `1.0` differ.

use serde_json::Value;

use crate::directives::is_delete_item;
use crate::error::{PatchError, Result, dotted, json_type};

/// The JSON type of list items, as Go's decoder types them: what must agree
/// across a merged list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemType {
    Object,
    String,
    /// A number that fits an `i64`.
    Integer,
    /// Any other number.
    Float,
    Bool,
}

impl ItemType {
    fn of(value: &Value) -> Option<Self> {
        match value {
            Value::Object(_) => Some(Self::Object),
            Value::String(_) => Some(Self::String),
            Value::Number(number) if number.is_i64() => Some(Self::Integer),
            Value::Number(_) => Some(Self::Float),
            Value::Bool(_) => Some(Self::Bool),
            Value::Null | Value::Array(_) => None,
        }
    }

    /// Whether items of this type are objects (merged and ordered by key).
    pub(crate) fn is_object(self) -> bool {
        self == Self::Object
    }
}

/// The one type of every item of `lists`, or `None` when they are all empty.
///
/// Lists of lists and lists mixing types (or holding `null`) are errors.
pub(crate) fn item_type(lists: &[&[Value]], path: &[&str]) -> Result<Option<ItemType>> {
    let mut found = None;
    for item in lists.iter().flat_map(|list| list.iter()) {
        let this = match (ItemType::of(item), item) {
            (Some(this), _) => this,
            (None, Value::Array(_)) if found.is_none() => {
                return Err(PatchError::ListOfLists {
                    path: dotted(path, None),
                });
            }
            (None, _) => {
                return Err(PatchError::MixedListItems {
                    path: dotted(path, None),
                });
            }
        };
        match found {
            None => found = Some(this),
            Some(first) if first != this => {
                return Err(PatchError::MixedListItems {
                    path: dotted(path, None),
                });
            }
            Some(_) => {}
        }
    }
    Ok(found)
}

/// How list items are identified: by a merge key, or (for scalars) by value.
#[derive(Clone, Copy)]
pub(crate) enum Identity<'a> {
    MergeKey(&'a str),
    Value,
}

impl<'a> Identity<'a> {
    pub(crate) fn of(merge_key: Option<&'a str>) -> Self {
        merge_key.map_or(Self::Value, Self::MergeKey)
    }
}

/// Splits `merged` into the items `by` mentions and the others, each in
/// `merged`'s order.
pub(crate) fn partition(
    merged: Vec<Value>,
    by: &[Value],
    identity: Identity<'_>,
    path: &[&str],
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut mentioned = Vec::new();
    let mut others = Vec::new();
    match identity {
        Identity::Value => {
            // Go hashes these items into a set: objects and lists cannot be.
            if merged
                .iter()
                .chain(by)
                .any(|item| item.is_object() || item.is_array())
            {
                return Err(PatchError::NoMergeKey {
                    path: dotted(path, None),
                });
            }
            for item in merged {
                if by.contains(&item) {
                    mentioned.push(item);
                } else {
                    others.push(item);
                }
            }
        }
        Identity::MergeKey(key) => {
            for item in merged {
                let value = key_value(&item, key, path)?;
                if find_by_key(by, key, value, path)?.is_some() {
                    mentioned.push(item);
                } else {
                    others.push(item);
                }
            }
        }
    }
    Ok((mentioned, others))
}

/// The value of `item`'s merge key; an error when `item` is not an object
/// or lacks the key.
pub(crate) fn key_value<'v>(item: &'v Value, key: &str, path: &[&str]) -> Result<&'v Value> {
    let Some(map) = item.as_object() else {
        return Err(PatchError::ListItemNotObject {
            path: dotted(path, None),
            key: key.to_owned(),
            found: json_type(item),
        });
    };
    map.get(key).ok_or_else(|| PatchError::MissingMergeKey {
        path: dotted(path, None),
        key: key.to_owned(),
    })
}

/// The index of the first item of `list` whose `key` equals `value`.
///
/// As in the API server, an item that is not an object met before a match
/// is an error; items without the key do not match.
pub(crate) fn find_by_key(
    list: &[Value],
    key: &str,
    value: &Value,
    path: &[&str],
) -> Result<Option<usize>> {
    for (index, item) in list.iter().enumerate() {
        let Some(map) = item.as_object() else {
            return Err(PatchError::ListItemNotObject {
                path: dotted(path, None),
                key: key.to_owned(),
                found: json_type(item),
            });
        };
        if map.get(key) == Some(value) {
            return Ok(Some(index));
        }
    }
    Ok(None)
}

/// Orders `mentioned` by `mentioned_order` and `others` by `live_order`, then
/// interleaves them (see the module documentation).
pub(crate) fn normalize_element_order(
    mentioned: Vec<Value>,
    others: Vec<Value>,
    mentioned_order: &[Value],
    live_order: &[Value],
    identity: Identity<'_>,
    item_type: ItemType,
    path: &[&str],
) -> Result<Vec<Value>> {
    let mentioned = sort_by_order(mentioned, mentioned_order, identity, item_type, path)?;
    let others = sort_by_order(others, live_order, identity, item_type, path)?;
    Ok(interleave(
        others, mentioned, live_order, identity, item_type,
    ))
}

/// `to_sort` in the order of `order` (stable), with `{"$patch": "delete"}`
/// items moved to the end.
fn sort_by_order(
    to_sort: Vec<Value>,
    order: &[Value],
    identity: Identity<'_>,
    item_type: ItemType,
    path: &[&str],
) -> Result<Vec<Value>> {
    let (mut kept, deleted) = if item_type.is_object() {
        let Identity::MergeKey(key) = identity else {
            return Err(PatchError::NoMergeKey {
                path: dotted(path, None),
            });
        };
        for item in to_sort.iter().chain(order) {
            key_value(item, key, path)?;
        }
        to_sort.into_iter().partition(|item| !is_delete_item(item))
    } else {
        (to_sort, Vec::new())
    };
    // Callers only sort items that `order` holds. Were one missing, it would
    // go last rather than where Go's inconsistent comparison puts it.
    kept.sort_by_key(|item| position(order, item, identity, item_type).unwrap_or(usize::MAX));
    kept.extend(deleted);
    Ok(kept)
}

/// Merges the server-only items (`left`, in live order) into the patch's
/// (`right`, in patch order): a server-only item goes first only when both
/// are in `live_order` and it comes first there.
fn interleave(
    left: Vec<Value>,
    right: Vec<Value>,
    live_order: &[Value],
    identity: Identity<'_>,
    item_type: ItemType,
) -> Vec<Value> {
    let mut merged = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    while let (Some(l), Some(r)) = (left.peek(), right.peek()) {
        let l_position = position(live_order, l, identity, item_type);
        let r_position = position(live_order, r, identity, item_type);
        let take_left = matches!((l_position, r_position), (Some(li), Some(ri)) if li < ri);
        let next = if take_left { left.next() } else { right.next() };
        merged.extend(next);
    }
    merged.extend(left);
    merged.extend(right);
    merged
}

/// The index of `item` in `list`: by merge key value for objects (a missing
/// key counting as `null`, as in Go), by value for scalars.
fn position(
    list: &[Value],
    item: &Value,
    identity: Identity<'_>,
    item_type: ItemType,
) -> Option<usize> {
    match (item_type.is_object(), identity) {
        (true, Identity::MergeKey(key)) => {
            let wanted = key_or_null(item, key);
            list.iter()
                .position(|candidate| key_or_null(candidate, key) == wanted)
        }
        _ => list.iter().position(|candidate| candidate == item),
    }
}

/// The value of `item`'s `key`, `null` when it has none.
fn key_or_null<'v>(item: &'v Value, key: &str) -> &'v Value {
    static NULL: Value = Value::Null;
    item.get(key).unwrap_or(&NULL)
}

/// Removes repeated scalars, as apimachinery's `deduplicateScalars` does
/// (which may reorder: the caller orders the result afterwards).
pub(crate) fn deduplicate_scalars(mut items: Vec<Value>) -> Vec<Value> {
    let mut i = 0;
    while i + 1 < items.len() {
        let mut j = i + 1;
        while j < items.len() {
            if items[i] == items[j] {
                items.swap_remove(j);
            } else {
                j += 1;
            }
        }
        i += 1;
    }
    items
}
