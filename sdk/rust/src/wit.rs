//! The wasm32 side of the contract: the bindings (generated once, here), the
//! [`Backend`] over the WIT imports, and the functions that
//! [`export_controller!`](crate::export_controller) wires to the exports.

use std::cell::RefCell;

use crate::backend::{Event, EventType};
use crate::context::Context;
use crate::controller::{Action, Controller};
use crate::runtime::{self, Reconcile};

#[allow(unsafe_code, clippy::all, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "controller",
        pub_export_macro: true,
        export_macro_name: "export_reconciler",
        default_bindings_module: "::wharf_sdk::__private::bindings",
    });
}

use bindings::exports::wharf::plugin::reconciler as exports;
use bindings::wharf::plugin::{
    clock, cluster, discovery, events, log, state, subresources, types, watches,
};

thread_local! {
    /// The instance's controller, set by `init`.
    static CONTROLLER: RefCell<Option<Reconcile>> = const { RefCell::new(None) };
}

/// The WIT `init` export.
pub fn init<C: Controller>(config: &str) -> std::result::Result<exports::Registration, String> {
    let (registration, reconcile) =
        runtime::instantiate::<C>(config).map_err(|error| error.to_string())?;
    CONTROLLER.with(|slot| *slot.borrow_mut() = Some(reconcile));
    for (kind, wakes) in &registration.watches {
        let wakes = match wakes {
            crate::controller::Wakes::All => watches::Wakes::All,
            crate::controller::Wakes::NamedBy(pointer) => watches::Wakes::NamedBy(pointer.clone()),
            crate::controller::Wakes::Selecting(pointer) => {
                watches::Wakes::Selecting(pointer.clone())
            }
        };
        watches::watch(&to_wit_kind(kind), &wakes)?;
    }
    Ok(exports::Registration {
        primary: to_wit_kind(&registration.primary),
        owns: registration.owns.iter().map(to_wit_kind).collect(),
        reads: registration.reads.iter().map(to_wit_kind).collect(),
        resync_seconds: runtime::resync_seconds(&registration),
    })
}

/// The WIT `reconcile` export.
pub fn reconcile(
    namespace: Option<&str>,
    name: &str,
) -> std::result::Result<exports::Outcome, String> {
    CONTROLLER.with(|slot| {
        let slot = slot.borrow();
        let reconcile = slot.as_ref().ok_or("reconcile was called before init")?;
        match reconcile(&Context::new(&WitBackend), namespace, name) {
            Ok(Action::Done) => Ok(exports::Outcome::Done),
            Ok(Action::RequeueAfter(after)) => Ok(exports::Outcome::RequeueAfter(
                runtime::requeue_millis(after),
            )),
            Err(error) => Err(error.to_string()),
        }
    })
}

/// The host, through the `controller` world's imports.
struct WitBackend;

crate::wit_backend::wit_backend!(WitBackend, cluster, types, log, clock, {
    fn emit_event(&self, event: &Event) {
        events::emit(&events::Event {
            regarding: types::ObjectRef {
                kind: to_wit_kind(&event.regarding.kind),
                namespace: event.regarding.namespace.clone(),
                name: event.regarding.name.clone(),
            },
            type_: match event.type_ {
                EventType::Normal => events::EventType::Normal,
                EventType::Warning => events::EventType::Warning,
            },
            reason: event.reason.clone(),
            message: event.message.clone(),
        });
    }

    fn state_get(&self, key: &str) -> Option<Vec<u8>> {
        state::get(key)
    }

    fn state_set(&self, key: &str, value: &[u8]) {
        state::set(key, value);
    }

    fn state_delete(&self, key: &str) {
        state::delete(key);
    }

    fn served_kinds(&self) -> crate::error::Result<Vec<crate::kind::ServedKind>> {
        Ok(discovery::served_kinds()
            .into_iter()
            .map(|served| crate::kind::ServedKind {
                kind: crate::kind::GroupVersionKind::new(
                    served.kind.group,
                    served.kind.version,
                    served.kind.kind,
                ),
                plural: served.plural,
                namespaced: served.namespaced,
                verbs: served.verbs,
            })
            .collect())
    }

    fn update_subresource(
        &self,
        kind: &crate::kind::GroupVersionKind,
        namespace: Option<&str>,
        subresource: &str,
        object: &str,
    ) -> crate::error::Result<String> {
        Ok(subresources::update(
            &to_wit_kind(kind),
            namespace,
            subresource,
            object,
        )?)
    }
});
