//! Why a patch could not be applied: one variant per thing wrong with the
//! patch (or, rarely, with the live object), each naming where it was found.
//!
//! Every variant is the client's fault or an object the patch cannot apply
//! to; the API server answers all of them with a `400 Bad Request`-style
//! `Status`, as Kubernetes does.

use serde_json::Value;

/// A patch result.
pub type Result<T, E = PatchError> = std::result::Result<T, E>;

/// Why a strategic merge patch could not be applied.
///
/// `path` fields are dotted field paths from the object root, such as
/// `spec.template.spec.containers`; `<root>` is the object itself.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch document is not a JSON object.
    #[error("the patch must be a JSON object, not {found}")]
    PatchNotObject { found: &'static str },

    /// The live object is not a JSON object.
    #[error("the object to patch must be a JSON object, not {found}")]
    OriginalNotObject { found: &'static str },

    /// A map's `$patch` directive is neither `"replace"` nor `"delete"`.
    #[error(
        "unknown $patch directive {value} in the map at {path}: a map accepts \"replace\" or \"delete\""
    )]
    BadMapDirective { path: String, value: String },

    /// A list item's `$patch` directive is neither `"delete"` nor `"replace"`.
    #[error(
        "unknown $patch directive {value} in an item of the list at {path}: a list item accepts \"delete\" or \"replace\""
    )]
    BadListDirective { path: String, value: String },

    /// A list item says `"$patch": "merge"`, which Kubernetes does not support.
    #[error(
        "an item of the list at {path} says \"$patch\": \"merge\": merging lists cannot be specified in the patch"
    )]
    ListMergeDirective { path: String },

    /// An item of a list merged by key lacks that key.
    #[error("an item of the list at {path} does not contain its merge key {key:?}")]
    MissingMergeKey { path: String, key: String },

    /// An item of a list merged by key (or of its `$setElementOrder`) is not
    /// an object.
    #[error("an item of the list at {path} is {found}, but that list merges objects by {key:?}")]
    ListItemNotObject {
        path: String,
        key: String,
        found: &'static str,
    },

    /// A merged list holds lists.
    #[error("the list at {path} holds lists: lists of lists cannot be merged")]
    ListOfLists { path: String },

    /// A merged list's items (live and patch together) are not all of one
    /// JSON type, or one is `null`.
    #[error("the items of the list at {path} are not all of one JSON type")]
    MixedListItems { path: String },

    /// A list of objects must be merged or ordered, but its field has no
    /// merge key.
    #[error("the list at {path} holds objects but has no merge key to merge or order them by")]
    NoMergeKey { path: String },

    /// A directive whose value must be a list is not one.
    #[error("{directive} at {path} must be a list, not {found}")]
    DirectiveNotList {
        path: String,
        directive: String,
        found: &'static str,
    },

    /// A `$setElementOrder…` or `$deleteFromPrimitiveList…` key is not of
    /// the form `<directive>/<field>`.
    #[error("malformed directive {key:?} at {path}: expected \"{prefix}/<field>\"")]
    MalformedDirectiveKey {
        path: String,
        key: String,
        prefix: &'static str,
    },

    /// A `$deleteFromPrimitiveList/<field>` directive whose field, in the
    /// live object, or whose value is not a list (kube's
    /// `ErrBadPatchFormatForPrimitiveList`).
    #[error("invalid patch format of primitive list at {path}")]
    BadPrimitiveList { path: String },

    /// A `$setElementOrder/<field>` directive applies to a field that is not
    /// a list (in the live object or in the patch).
    #[error("{path} must be a list for $setElementOrder, not {found}")]
    NotAList { path: String, found: &'static str },

    /// The patch list's items are not in the order its `$setElementOrder`
    /// list gives, or are missing from it.
    #[error(
        "the order of the items of the patch list {path} does not match its $setElementOrder list"
    )]
    SetElementOrderMismatch { path: String },

    /// `$setElementOrder/<field>` names a list that has no items either in
    /// the live object or in the patch.
    #[error(
        "cannot apply $setElementOrder to {path}: neither the object nor the patch has items in it"
    )]
    NothingToOrder { path: String },

    /// A field set by the patch is missing from the map's `$retainKeys` list.
    #[error("field {field:?} is set in the map at {path} but missing from its $retainKeys list")]
    FieldNotInRetainKeys { path: String, field: String },
}

/// The JSON type of `value`, for error messages.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `path` (plus `field`) as a dotted path for error messages.
pub(crate) fn dotted(path: &[&str], field: Option<&str>) -> String {
    let parts: Vec<&str> = path.iter().copied().chain(field).collect();
    if parts.is_empty() {
        "<root>".to_owned()
    } else {
        parts.join(".")
    }
}

/// A directive's value for an error message: JSON, at most 64 characters.
pub(crate) fn shown(value: &Value) -> String {
    const MAX_CHARS: usize = 64;
    let text = value.to_string();
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
