//! Wharf's DefaultTolerationSeconds admission rule, following Kubernetes'
//! `plugin/pkg/admission/defaulttolerationseconds`.
//!
//! A pod created without a toleration of the `node.kubernetes.io/not-ready`
//! or `node.kubernetes.io/unreachable` NoExecute taint gets one (`Exists`,
//! `NoExecute`, `tolerationSeconds` 300 by default): when its node stops
//! being Ready, the node lifecycle controller's taint evicts it after five
//! minutes rather than at once. A toleration of the key with any effect, or
//! of every key, counts as tolerating it, as in kube.
//!
//! Config (`spec.config`): `defaultNotReadyTolerationSeconds`,
//! `defaultUnreachableTolerationSeconds` (kube's flags of the same names).
//! Only creations are reviewed: pods keep what they were admitted with.

use wharf_sdk::admission::{Admission, Operation, Registration, Request, Response};
use wharf_sdk::k8s_openapi::api::core::v1::{Pod, Toleration};
use wharf_sdk::prelude::*;
use wharf_sdk::serde_json::{self, Value};
use wharf_sdk::taints::{NO_EXECUTE, NOT_READY, UNREACHABLE};

/// kube's default for both flags.
pub const DEFAULT_SECONDS: i64 = 300;

/// The plugin, with its configured seconds.
#[derive(Debug)]
pub struct DefaultTolerationSeconds {
    not_ready_seconds: i64,
    unreachable_seconds: i64,
}

impl Default for DefaultTolerationSeconds {
    fn default() -> Self {
        DefaultTolerationSeconds {
            not_ready_seconds: DEFAULT_SECONDS,
            unreachable_seconds: DEFAULT_SECONDS,
        }
    }
}

fn seconds(config: &Value, key: &str) -> Result<i64, Error> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(DEFAULT_SECONDS),
        Some(value) => value.as_i64().filter(|s| *s >= 0).ok_or_else(|| {
            Error::Invalid(format!(
                "{key} must be a whole number of seconds, not {value}"
            ))
        }),
    }
}

impl Admission for DefaultTolerationSeconds {
    fn registration(config: &Value) -> Result<Registration, Error> {
        seconds(config, "defaultNotReadyTolerationSeconds")?;
        seconds(config, "defaultUnreachableTolerationSeconds")?;
        Ok(Registration::mutating()
            .kind::<Pod>()
            .operations(&[Operation::Create]))
    }

    fn configure(&mut self, config: &Value) -> Result<(), Error> {
        self.not_ready_seconds = seconds(config, "defaultNotReadyTolerationSeconds")?;
        self.unreachable_seconds = seconds(config, "defaultUnreachableTolerationSeconds")?;
        Ok(())
    }

    fn review(&self, _ctx: &Context, request: &Request) -> Result<Response, Error> {
        if request.operation != Operation::Create || request.sub_resource.is_some() {
            return Ok(Response::allow());
        }
        let pod: Pod = request.object()?;
        let tolerations = pod
            .spec
            .as_ref()
            .and_then(|spec| spec.tolerations.as_deref())
            .unwrap_or_default();
        let mut added = Vec::new();
        for (key, seconds) in [
            (NOT_READY, self.not_ready_seconds),
            (UNREACHABLE, self.unreachable_seconds),
        ] {
            if !tolerations.iter().any(|toleration| covers(toleration, key)) {
                added.push(Toleration {
                    key: Some(key.to_owned()),
                    operator: Some("Exists".to_owned()),
                    effect: Some(NO_EXECUTE.to_owned()),
                    toleration_seconds: Some(seconds),
                    value: None,
                });
            }
        }
        if added.is_empty() {
            return Ok(Response::allow());
        }
        // Only the tolerations change: the rest of the object is sent back
        // as it came, so that nothing the typed pod lacks is removed.
        let mut object = request.object.clone().unwrap_or(Value::Null);
        let list = &mut object["spec"]["tolerations"];
        if !list.is_array() {
            *list = Value::Array(Vec::new());
        }
        if let Some(list) = list.as_array_mut() {
            for toleration in added {
                list.push(serde_json::to_value(toleration)?);
            }
        }
        Ok(Response::patch_json(request, &object))
    }
}

/// Whether `toleration` already covers `key`'s NoExecute taint in kube's
/// sense: the key or every key, NoExecute or every effect.
fn covers(toleration: &Toleration, key: &str) -> bool {
    let key_matches = toleration
        .key
        .as_deref()
        .is_none_or(|k| k.is_empty() || k == key);
    let effect_matches = toleration
        .effect
        .as_deref()
        .is_none_or(|e| e.is_empty() || e == NO_EXECUTE);
    key_matches && effect_matches
}

wharf_sdk::export_admission!(DefaultTolerationSeconds);

#[cfg(test)]
mod tests;
