//! The admission request and response, typed.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::kind::GroupVersionKind;

/// What kind of write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "CREATE" => Some(Operation::Create),
            "UPDATE" => Some(Operation::Update),
            "DELETE" => Some(Operation::Delete),
            _ => None,
        }
    }
}

/// What a plugin reviews, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub kinds: Vec<GroupVersionKind>,
    pub operations: Vec<Operation>,
    /// May change objects (runs in the mutating phase).
    pub mutating: bool,
    /// Kinds it reads on every review; the host serves them from caches.
    pub reads: Vec<GroupVersionKind>,
}

impl Registration {
    /// A validating plugin (judges only), for every operation until
    /// [`operations`](Self::operations) narrows it.
    pub fn validating() -> Self {
        Self {
            kinds: Vec::new(),
            operations: vec![Operation::Create, Operation::Update, Operation::Delete],
            mutating: false,
            reads: Vec::new(),
        }
    }

    /// A mutating plugin.
    pub fn mutating() -> Self {
        Self {
            mutating: true,
            ..Self::validating()
        }
    }

    /// Reviews writes of `K`.
    pub fn kind<K: k8s_openapi::Resource>(mut self) -> Self {
        self.kinds.push(GroupVersionKind::of::<K>());
        self
    }

    /// Reviews writes of this kind.
    pub fn for_kind(mut self, kind: GroupVersionKind) -> Self {
        self.kinds.push(kind);
        self
    }

    /// Only these operations.
    pub fn operations(mut self, operations: &[Operation]) -> Self {
        self.operations = operations.to_vec();
        self
    }

    /// Reads `K` on every review.
    pub fn reads<K: k8s_openapi::Resource>(mut self) -> Self {
        self.reads.push(GroupVersionKind::of::<K>());
        self
    }
}

/// Who asks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// One write under review. Objects are Kubernetes JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    #[serde(default)]
    pub uid: String,
    pub operation: Operation,
    #[serde(default = "pod_kind")]
    pub kind: GroupVersionKind,
    #[serde(default)]
    pub sub_resource: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: String,
    /// The object as it would be stored; none for DELETE.
    #[serde(default)]
    pub object: Option<Value>,
    /// The object as stored now; none for CREATE.
    #[serde(default)]
    pub old_object: Option<Value>,
    #[serde(default)]
    pub user: UserInfo,
    #[serde(default)]
    pub dry_run: bool,
}

fn pod_kind() -> GroupVersionKind {
    GroupVersionKind::of::<k8s_openapi::api::core::v1::Pod>()
}

impl Request {
    /// The object, typed.
    pub fn object<K: DeserializeOwned>(&self) -> Result<K> {
        decode(self.object.as_ref(), "object")
    }

    /// The stored object, typed.
    pub fn old_object<K: DeserializeOwned>(&self) -> Result<K> {
        decode(self.old_object.as_ref(), "oldObject")
    }

    /// Whether the write is of `K`.
    pub fn is<K: k8s_openapi::Resource>(&self) -> bool {
        self.kind == GroupVersionKind::of::<K>()
    }
}

fn decode<K: DeserializeOwned>(value: Option<&Value>, field: &str) -> Result<K> {
    let value = value.ok_or_else(|| Error::Invalid(format!("the request has no {field}")))?;
    // Decoded from the value in place: no copy of the object first.
    K::deserialize(value)
        .map_err(|e| Error::Invalid(format!("the request's {field} does not decode: {e}")))
}

/// Allow, deny or change.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Allow,
    /// The message the client sees.
    Deny(String),
    /// An RFC 6902 JSON patch to the object (mutating plugins only).
    Patch(Vec<PatchOperation>),
}

/// One operation of a JSON patch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum PatchOperation {
    Add { path: String, value: Value },
    Remove { path: String },
    Replace { path: String, value: Value },
}

/// A plugin's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    pub decision: Decision,
    /// Sent to the client as `Warning` headers.
    pub warnings: Vec<String>,
    /// Recorded in the API server's audit log.
    pub audit_annotations: BTreeMap<String, String>,
    /// Statuses stored together with the write (validating plugins).
    pub status_updates: Vec<StatusUpdate>,
}

/// A status stored together with the reviewed write, or not at all: see
/// [`Response::update_status`].
#[derive(Clone, Debug, PartialEq)]
pub struct StatusUpdate {
    pub kind: GroupVersionKind,
    pub namespace: Option<String>,
    pub name: String,
    /// The resourceVersion the plugin read.
    pub resource_version: String,
    pub status: Value,
}

impl Response {
    pub fn allow() -> Self {
        Self {
            decision: Decision::Allow,
            warnings: Vec::new(),
            audit_annotations: BTreeMap::new(),
            status_updates: Vec::new(),
        }
    }

    /// Stores `object`'s status together with the reviewed write (a
    /// validating plugin's charge, as a quota's usage): both are stored or
    /// neither is. `object` is the version the plugin read with its new
    /// status; if the stored one has changed since, the API server reviews
    /// the write again and the plugin reads the newer one. A dry run
    /// stores nothing.
    pub fn update_status<K: k8s_openapi::Resource + Serialize>(
        mut self,
        object: &K,
    ) -> Result<Self> {
        let value = serde_json::to_value(object)
            .map_err(|e| Error::Invalid(format!("the object does not encode: {e}")))?;
        let text = |pointer: &str| {
            value
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let (Some(name), Some(resource_version)) =
            (text("/metadata/name"), text("/metadata/resourceVersion"))
        else {
            return Err(Error::Invalid(
                "a status update needs the object's name and resourceVersion".into(),
            ));
        };
        self.status_updates.push(StatusUpdate {
            kind: GroupVersionKind::of::<K>(),
            namespace: text("/metadata/namespace"),
            name,
            resource_version,
            status: value.get("status").cloned().unwrap_or(Value::Null),
        });
        Ok(self)
    }

    pub fn deny(message: impl Into<String>) -> Self {
        Self {
            decision: Decision::Deny(message.into()),
            ..Self::allow()
        }
    }

    /// Allows the write with `changed` in place of the request's object:
    /// the JSON patch between them (nothing changed: allow).
    pub fn patch<K: Serialize>(request: &Request, changed: &K) -> Result<Self> {
        let changed = serde_json::to_value(changed)
            .map_err(|e| Error::Invalid(format!("the changed object does not encode: {e}")))?;
        Ok(Self::patch_json(request, &changed))
    }

    /// [`patch`](Self::patch) of an object already in JSON (no copy made).
    pub fn patch_json(request: &Request, changed: &Value) -> Self {
        let original = request.object.as_ref().unwrap_or(&Value::Null);
        Self::with_patch(json_patch(original, changed))
    }

    /// Allows the write with these changes.
    pub fn with_patch(operations: Vec<PatchOperation>) -> Self {
        if operations.is_empty() {
            return Self::allow();
        }
        Self {
            decision: Decision::Patch(operations),
            ..Self::allow()
        }
    }

    /// Adds a warning.
    pub fn warn(mut self, warning: impl Into<String>) -> Self {
        self.warnings.push(warning.into());
        self
    }

    /// Adds an audit annotation.
    pub fn annotate(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.audit_annotations.insert(key.into(), value.into());
        self
    }
}

/// The JSON patch that turns `from` into `to`: objects compared key by key,
/// anything else (arrays included) replaced whole where it differs.
pub fn json_patch(from: &Value, to: &Value) -> Vec<PatchOperation> {
    let mut operations = Vec::new();
    diff(from, to, String::new(), &mut operations);
    operations
}

fn diff(from: &Value, to: &Value, path: String, out: &mut Vec<PatchOperation>) {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                match b.get(key) {
                    // Equal subtrees (most of them) cost no path.
                    Some(other) if other == value => {}
                    Some(other) => diff(value, other, format!("{path}/{}", escape(key)), out),
                    None => out.push(PatchOperation::Remove {
                        path: format!("{path}/{}", escape(key)),
                    }),
                }
            }
            for (key, value) in b {
                if !a.contains_key(key) {
                    out.push(PatchOperation::Add {
                        path: format!("{path}/{}", escape(key)),
                        value: value.clone(),
                    });
                }
            }
        }
        (a, b) if a == b => {}
        (_, b) => out.push(PatchOperation::Replace {
            path,
            value: b.clone(),
        }),
    }
}

/// A JSON pointer segment (`~` and `/` escaped).
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Decision {
    /// The patch as JSON text.
    pub fn patch_text(operations: &[PatchOperation]) -> String {
        json!(operations).to_string()
    }
}
