//! Reviews with no host: an admission plugin over a
//! [`FakeCluster`], requests written as YAML.

use std::cell::RefCell;

use serde_json::Value;

use super::Admission;
use super::types::{Decision, PatchOperation, Registration, Request, Response};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::testing::FakeCluster;

/// One plugin instance, configured as the host would, over a fake cluster.
pub struct Harness<A: Admission> {
    plugin: A,
    pub registration: Registration,
    pub cluster: FakeCluster,
    last: RefCell<Option<Request>>,
}

impl<A: Admission> Harness<A> {
    /// The plugin as `init` builds it from `config` (`spec.config`).
    pub fn new(config: Value) -> Result<Self> {
        let registration = A::registration(&config)?;
        let mut plugin = A::default();
        plugin.configure(&config)?;
        Ok(Self {
            plugin,
            registration,
            cluster: FakeCluster::new(),
            last: RefCell::new(None),
        })
    }

    /// Reviews one request.
    pub fn review(&self, request: &Request) -> Result<Response> {
        *self.last.borrow_mut() = Some(request.clone());
        self.plugin.review(&Context::new(&self.cluster), request)
    }

    /// Reviews a request written as YAML (the fields of [`Request`], in
    /// camelCase: `operation`, `kind` (default: Pod), `namespace`, `name`,
    /// `object`, `oldObject`, `user`, `dryRun`). The name defaults to the
    /// object's.
    pub fn review_yaml(&self, yaml: &str) -> Result<Response> {
        let mut value: Value = serde_yaml_ng::from_str(yaml)
            .map_err(|e| Error::Invalid(format!("the request is not YAML: {e}")))?;
        if value.get("name").is_none()
            && let Some(name) = value.pointer("/object/metadata/name").cloned()
        {
            value["name"] = name;
        }
        let request: Request = serde_json::from_value(value)
            .map_err(|e| Error::Invalid(format!("the request does not decode: {e}")))?;
        self.review(&request)
    }

    /// Stores `response`'s status updates in the fake cluster as the host
    /// does once the reviewed write is stored: each object's status
    /// replaced, guarded by the resourceVersion the plugin read (a
    /// [`Error::Conflict`] when it changed since: the host would review
    /// the write again). Recorded as `update_status` calls.
    pub fn store_status_updates(&self, response: &Response) -> Result<()> {
        use crate::backend::Backend;
        for update in &response.status_updates {
            let mut object = serde_json::json!({
                "metadata": {"name": update.name, "resourceVersion": update.resource_version},
                "status": update.status,
            });
            if let Some(namespace) = &update.namespace {
                object["metadata"]["namespace"] = namespace.clone().into();
            }
            self.cluster.update_status(
                &update.kind,
                update.namespace.as_deref(),
                &object.to_string(),
            )?;
        }
        Ok(())
    }

    /// The last request's object with `response`'s patch applied.
    pub fn patched(&self, response: &Response) -> Result<Value> {
        let last = self.last.borrow();
        let mut object = last
            .as_ref()
            .and_then(|request| request.object.clone())
            .ok_or_else(|| Error::Invalid("no request with an object was reviewed".into()))?;
        if let Decision::Patch(operations) = &response.decision {
            for operation in operations {
                apply(&mut object, operation)?;
            }
        }
        Ok(object)
    }
}

/// Applies one JSON patch operation (objects and array indices).
fn apply(document: &mut Value, operation: &PatchOperation) -> Result<()> {
    let (path, value) = match operation {
        PatchOperation::Add { path, value } | PatchOperation::Replace { path, value } => {
            (path, Some(value.clone()))
        }
        PatchOperation::Remove { path } => (path, None),
    };
    if path.is_empty() {
        *document = value.unwrap_or(Value::Null);
        return Ok(());
    }
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| Error::Invalid(format!("bad patch path {path:?}")))?;
    let key = last.replace("~1", "/").replace("~0", "~");
    let target = document
        .pointer_mut(parent)
        .ok_or_else(|| Error::Invalid(format!("patch path {path:?} does not exist")))?;
    match (target, value) {
        (Value::Object(map), Some(value)) => {
            map.insert(key, value);
        }
        (Value::Object(map), None) => {
            map.remove(&key);
        }
        (Value::Array(items), value) => {
            let index = if key == "-" {
                items.len()
            } else {
                key.parse::<usize>()
                    .map_err(|_| Error::Invalid(format!("bad array index in {path:?}")))?
            };
            match (operation, value) {
                (PatchOperation::Add { .. }, Some(value)) if index <= items.len() => {
                    items.insert(index, value)
                }
                (PatchOperation::Replace { .. }, Some(value)) if index < items.len() => {
                    items[index] = value
                }
                (PatchOperation::Remove { .. }, None) if index < items.len() => {
                    items.remove(index);
                }
                _ => {
                    return Err(Error::Invalid(format!(
                        "patch path {path:?} is out of range"
                    )));
                }
            }
        }
        _ => {
            return Err(Error::Invalid(format!(
                "patch path {path:?} is not in an object or array"
            )));
        }
    }
    Ok(())
}
