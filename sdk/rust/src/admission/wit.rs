//! The wasm32 side of the `admission` world: its bindings (generated once,
//! here), the [`Backend`] over its imports (`cluster`, `log`, `clock`), and
//! the functions [`export_admission!`](crate::export_admission) wires to its
//! exports.

use std::cell::RefCell;

use super::Admission;
use super::types::{Decision, Operation, Request, Response, UserInfo};
use crate::backend::{Event, LogLevel};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::kind::GroupVersionKind;

#[allow(unsafe_code, clippy::all, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "admission",
        pub_export_macro: true,
        export_macro_name: "export_admission_world",
        default_bindings_module: "::wharf_sdk::admission::wit::bindings",
    });
}

use bindings::exports::wharf::plugin::review as exports;
use bindings::wharf::plugin::{clock, cluster, log, types};

pub use exports::Guest;

type Review = Box<dyn Fn(&Context<'_>, &Request) -> Result<Response>>;

thread_local! {
    /// The instance's plugin, set by `init`.
    static PLUGIN: RefCell<Option<Review>> = const { RefCell::new(None) };
}

/// The WIT `init` export.
pub fn init<A: Admission>(config: &str) -> std::result::Result<exports::Registration, String> {
    let config: serde_json::Value =
        serde_json::from_str(config).map_err(|e| format!("the config is not JSON: {e}"))?;
    let registration = A::registration(&config).map_err(|e| e.to_string())?;
    let mut plugin = A::default();
    plugin.configure(&config).map_err(|e| e.to_string())?;
    PLUGIN.with(|slot| {
        *slot.borrow_mut() = Some(Box::new(move |ctx, request| plugin.review(ctx, request)))
    });
    Ok(exports::Registration {
        kinds: registration.kinds.iter().map(to_wit_kind).collect(),
        operations: registration
            .operations
            .iter()
            .map(|o| o.as_str().to_string())
            .collect(),
        mutating: registration.mutating,
        reads: registration.reads.iter().map(to_wit_kind).collect(),
    })
}

/// The WIT `review` export. A plugin error becomes a denial that says so
/// (the host turns an error of its own into its failure policy).
pub fn review(request: exports::Request) -> exports::Response {
    let request = from_wit_request(request);
    let answer = PLUGIN.with(|slot| {
        let slot = slot.borrow();
        let plugin = slot
            .as_ref()
            .ok_or_else(|| Error::Other("review was called before init".into()))?;
        plugin(&Context::new(&WitBackend), &request)
    });
    let response = answer.unwrap_or_else(|error| Response::deny(format!("plugin error: {error}")));
    exports::Response {
        decision: match response.decision {
            Decision::Allow => exports::Decision::Allow,
            Decision::Deny(message) => exports::Decision::Deny(message),
            Decision::Patch(operations) => {
                exports::Decision::Patch(Decision::patch_text(&operations))
            }
        },
        warnings: response.warnings,
        audit_annotations: response.audit_annotations.into_iter().collect(),
        status_updates: response
            .status_updates
            .into_iter()
            .map(|update| exports::StatusUpdate {
                kind: to_wit_kind(&update.kind),
                namespace: update.namespace,
                name: update.name,
                resource_version: update.resource_version,
                status: update.status.to_string(),
            })
            .collect(),
    }
}

fn from_wit_request(request: exports::Request) -> Request {
    let parse = |text: Option<String>| text.and_then(|t| serde_json::from_str(&t).ok());
    Request {
        uid: request.uid,
        operation: Operation::parse(&request.operation).unwrap_or(Operation::Update),
        kind: GroupVersionKind::new(request.kind.group, request.kind.version, request.kind.kind),
        sub_resource: request.sub_resource,
        namespace: request.namespace,
        name: request.name,
        object: parse(request.object),
        old_object: parse(request.old_object),
        user: UserInfo {
            username: request.user.username,
            groups: request.user.groups,
        },
        dry_run: request.dry_run,
    }
}

/// The host, through the `admission` world's imports (no state, no events).
struct WitBackend;

crate::wit_backend::wit_backend!(WitBackend, cluster, types, log, clock, {
    fn emit_event(&self, event: &Event) {
        self.log(
            LogLevel::Info,
            &format!(
                "event {} on {}: {}",
                event.reason, event.regarding.name, event.message
            ),
        );
    }

    fn state_get(&self, _key: &str) -> Option<Vec<u8>> {
        None
    }

    fn state_set(&self, _key: &str, _value: &[u8]) {}

    fn state_delete(&self, _key: &str) {}
});
