//! The patches the fake cluster applies: JSON merge patch (RFC 7386), which
//! also stands in for strategic merge patch, and JSON patch (RFC 6902).

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Applies a JSON merge patch: objects merge key by key, `null` removes a
/// key, anything else (lists included) replaces. With `strategic`,
/// `$deleteFromPrimitiveList/KEY` removes its values from the list `KEY`
/// (how controllers drop a finalizer), other keys starting with `$`
/// (strategic merge directives) are dropped instead of stored, and lists
/// are still replaced whole, without merge keys.
pub(crate) fn merge(target: &mut Value, patch: &Value, strategic: bool) {
    let Value::Object(patch) = patch else {
        *target = strip_directives(patch, strategic);
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        unreachable!("made an object above")
    };
    for (key, value) in patch {
        if strategic && let Some(list) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Value::Array(gone)) = (target.get_mut(list), value) {
                items.retain(|item| !gone.contains(item));
            }
            continue;
        }
        if strategic && key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            target.remove(key);
        } else {
            merge(
                target.entry(key.clone()).or_insert(Value::Null),
                value,
                strategic,
            );
        }
    }
}

fn strip_directives(value: &Value, strategic: bool) -> Value {
    match value {
        Value::Object(map) if strategic => Value::Object(
            map.iter()
                .filter(|(key, _)| !key.starts_with('$'))
                .map(|(key, value)| (key.clone(), strip_directives(value, strategic)))
                .collect(),
        ),
        Value::Array(items) if strategic => Value::Array(
            items
                .iter()
                .map(|item| strip_directives(item, strategic))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Applies a JSON patch: `add`, `remove`, `replace`, `move`, `copy` and
/// `test`, all or nothing. A failed `test` is a conflict, any other failure invalid.
pub(crate) fn json_patch(target: &mut Value, patch: &Value) -> Result<()> {
    let Value::Array(operations) = patch else {
        return Err(Error::Invalid(
            "a JSON patch must be an array of operations".to_owned(),
        ));
    };
    let mut result = target.clone();
    for operation in operations {
        let op = operation["op"].as_str().unwrap_or_default();
        let path = string_field(operation, "path")?;
        match op {
            "add" => add(&mut result, path, value_field(operation)?.clone())?,
            "remove" => {
                remove(&mut result, path)?;
            }
            "replace" => {
                remove(&mut result, path)?;
                add(&mut result, path, value_field(operation)?.clone())?;
            }
            "move" => {
                let from = string_field(operation, "from")?;
                let value = remove(&mut result, from)?;
                add(&mut result, path, value)?;
            }
            "copy" => {
                let from = string_field(operation, "from")?;
                let value = result.pointer(from).cloned().ok_or_else(|| missing(from))?;
                add(&mut result, path, value)?;
            }
            "test" => {
                if result.pointer(path) != Some(value_field(operation)?) {
                    return Err(Error::Conflict(format!(
                        "JSON patch test failed at {path:?}"
                    )));
                }
            }
            other => {
                return Err(Error::Invalid(format!(
                    "unknown JSON patch operation {other:?}"
                )));
            }
        }
    }
    *target = result;
    Ok(())
}

fn string_field<'a>(operation: &'a Value, field: &str) -> Result<&'a str> {
    operation[field].as_str().ok_or_else(|| {
        Error::Invalid(format!(
            "JSON patch operation without {field:?}: {operation}"
        ))
    })
}

fn value_field(operation: &Value) -> Result<&Value> {
    operation.get("value").ok_or_else(|| {
        Error::Invalid(format!(
            "JSON patch operation without \"value\": {operation}"
        ))
    })
}

fn missing(path: &str) -> Error {
    Error::Invalid(format!("JSON patch path {path:?} does not exist"))
}

/// Splits `/a/b~1c` into the parent pointer `/a` and the unescaped last token `b/c`.
fn split(path: &str) -> Result<(&str, String)> {
    let slash = path
        .rfind('/')
        .ok_or_else(|| Error::Invalid(format!("{path:?} is not a JSON pointer")))?;
    let token = path[slash + 1..].replace("~1", "/").replace("~0", "~");
    Ok((&path[..slash], token))
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<()> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, token) = split(path)?;
    match target.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(token, value);
            Ok(())
        }
        Some(Value::Array(items)) => {
            let index = if token == "-" {
                items.len()
            } else {
                token.parse().map_err(|_| missing(path))?
            };
            if index > items.len() {
                return Err(missing(path));
            }
            items.insert(index, value);
            Ok(())
        }
        _ => Err(missing(path)),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value> {
    let (parent, token) = split(path)?;
    match target.pointer_mut(parent) {
        Some(Value::Object(map)) => map.remove(&token).ok_or_else(|| missing(path)),
        Some(Value::Array(items)) => {
            let index: usize = token.parse().map_err(|_| missing(path))?;
            if index >= items.len() {
                return Err(missing(path));
            }
            Ok(items.remove(index))
        }
        _ => Err(missing(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patches_follow_rfc_7386() {
        let mut target = json!({"a": {"b": 1, "c": 2}, "l": [1, 2], "s": "x"});
        merge(
            &mut target,
            &json!({"a": {"b": null, "d": 3}, "l": [3], "n": {"m": 1}}),
            false,
        );
        assert_eq!(
            target,
            json!({"a": {"c": 2, "d": 3}, "l": [3], "s": "x", "n": {"m": 1}})
        );
    }

    #[test]
    fn strategic_patches_drop_directives() {
        let mut target = json!({"metadata": {"labels": {"a": "1"}}});
        let patch = json!({"metadata": {"$retainKeys": ["labels"], "labels": {"b": "2"}}, "l": [{"$patch": "delete", "uid": "u"}]});
        merge(&mut target, &patch, true);
        assert_eq!(
            target,
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "l": [{"uid": "u"}]})
        );
    }

    #[test]
    fn json_patches_follow_rfc_6902() {
        let mut target = json!({"a": [1, 2], "b": {"c~/": 1}});
        let patch = json!([
            {"op": "add", "path": "/a/-", "value": 3},
            {"op": "add", "path": "/a/0", "value": 0},
            {"op": "remove", "path": "/b/c~0~1"},
            {"op": "replace", "path": "/a/1", "value": 9},
            {"op": "copy", "from": "/a", "path": "/d"},
            {"op": "move", "from": "/d", "path": "/b/e"},
            {"op": "test", "path": "/b/e/1", "value": 9},
        ]);
        json_patch(&mut target, &patch).unwrap();
        assert_eq!(target, json!({"a": [0, 9, 2, 3], "b": {"e": [0, 9, 2, 3]}}));
    }

    #[test]
    fn a_failed_json_patch_changes_nothing() {
        let original = json!({"a": 1});
        let mut target = original.clone();
        let failed_test =
            json!([{"op": "remove", "path": "/a"}, {"op": "test", "path": "/a", "value": 1}]);
        assert!(matches!(
            json_patch(&mut target, &failed_test),
            Err(Error::Conflict(_))
        ));
        assert!(matches!(
            json_patch(&mut target, &json!([{"op": "remove", "path": "/x"}])),
            Err(Error::Invalid(_))
        ));
        assert_eq!(target, original);
    }
}
