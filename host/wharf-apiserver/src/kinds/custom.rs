//! The strategy of every custom kind: what its CustomResourceDefinition
//! says. Unknown fields are pruned and defaults filled in by the
//! version's schema on every write, the object is validated against it,
//! and `kubectl get` prints its `additionalPrinterColumns`.

use serde_json::{Value, json};
use wharf_client::CustomKind;

use super::{Column, Strategy};
use crate::Objects;
use crate::admission::UserInfo;
use crate::error::{ApiError, ApiResult, Cause};
use crate::schema;

#[async_trait::async_trait]
impl Strategy for CustomKind {
    async fn prepare_for_create(
        &self,
        _objects: &Objects,
        _namespace: Option<&str>,
        _user: &UserInfo,
        _object: &mut Value,
    ) -> ApiResult<()> {
        if self.terminating {
            return Err(ApiError::MethodNotAllowed(format!(
                "create not allowed while custom resource definition {} is terminating",
                self.crd
            )));
        }
        Ok(())
    }

    fn default(&self, object: &mut Value) {
        if let Some(schema) = &self.schema {
            schema::prune_root(schema, object);
            schema::default(schema, object);
        }
    }

    fn validate(&self, object: &Value, causes: &mut Vec<Cause>) {
        if let Some(schema) = &self.schema {
            schema::validate(schema, object, "", causes);
        }
    }

    fn columns(&self) -> &[Column] {
        &self.columns
    }

    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        self.column_paths
            .iter()
            .zip(&self.columns)
            .map(|((path, _format), (_, kind, _, _))| {
                let found = schema::find(object, path);
                let Some(first) = found.first() else {
                    return Value::Null;
                };
                match *kind {
                    // kube prints a date as how long ago it was.
                    "date" => json!(first.as_str().map_or(String::new(), |at| {
                        crate::table::age(&json!({"at": at}), "/at", now)
                    })),
                    "integer" => first.as_i64().map_or(Value::Null, |n| json!(n)),
                    "number" => first.as_f64().map_or(Value::Null, |n| json!(n)),
                    "boolean" => first.as_bool().map_or(Value::Null, |b| json!(b)),
                    _ => json!(
                        found
                            .iter()
                            .map(|value| match value {
                                Value::String(text) => text.clone(),
                                other => other.to_string(),
                            })
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                }
            })
            .collect()
    }
}
