//! The wasm32 side of the contract: the bindings (generated once, here), the
//! [`Backend`] over the WIT imports, and the functions that
//! [`export_controller!`](crate::export_controller) wires to the exports.

use std::cell::RefCell;

use crate::backend::{Backend, Event, EventType, ListParams, LogLevel, PatchType};
use crate::context::Context;
use crate::controller::{Action, Controller};
use crate::error::{Error, Result};
use crate::kind::GroupVersionKind;
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
use bindings::wharf::plugin::{clock, cluster, events, log, state, types};

thread_local! {
    /// The instance's controller, set by `init`.
    static CONTROLLER: RefCell<Option<Reconcile>> = const { RefCell::new(None) };
}

/// The WIT `init` export.
pub fn init<C: Controller>(config: &str) -> std::result::Result<exports::Registration, String> {
    let (registration, reconcile) =
        runtime::instantiate::<C>(config).map_err(|error| error.to_string())?;
    CONTROLLER.with(|slot| *slot.borrow_mut() = Some(reconcile));
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

impl Backend for WitBackend {
    fn get(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<String>> {
        Ok(cluster::get(&to_wit_kind(kind), namespace, name)?)
    }

    fn list(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> Result<Vec<String>> {
        let options = cluster::ListOptions {
            namespace: namespace.map(str::to_owned),
            label_selector: params.label_selector.clone(),
            field_selector: params.field_selector.clone(),
        };
        Ok(cluster::list(&to_wit_kind(kind), &options)?)
    }

    fn create(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        object: &str,
    ) -> Result<String> {
        Ok(cluster::create(&to_wit_kind(kind), namespace, object)?)
    }

    fn create_all(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        objects: &[String],
    ) -> Vec<Result<String>> {
        cluster::create_all(&to_wit_kind(kind), namespace, objects)
            .into_iter()
            .map(|result| result.map_err(Into::into))
            .collect()
    }

    fn update(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        object: &str,
    ) -> Result<String> {
        Ok(cluster::update(&to_wit_kind(kind), namespace, object)?)
    }

    fn update_status(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        object: &str,
    ) -> Result<String> {
        Ok(cluster::update_status(
            &to_wit_kind(kind),
            namespace,
            object,
        )?)
    }

    fn patch(
        &self,
        kind: &GroupVersionKind,
        namespace: Option<&str>,
        name: &str,
        patch_type: PatchType,
        patch: &str,
        status: bool,
    ) -> Result<String> {
        let patch_type = match patch_type {
            PatchType::Merge => cluster::PatchType::Merge,
            PatchType::Json => cluster::PatchType::Json,
            PatchType::Strategic => cluster::PatchType::Strategic,
        };
        Ok(cluster::patch(
            &to_wit_kind(kind),
            namespace,
            name,
            patch_type,
            patch,
            status,
        )?)
    }

    fn delete(&self, kind: &GroupVersionKind, namespace: Option<&str>, name: &str) -> Result<()> {
        Ok(cluster::delete(&to_wit_kind(kind), namespace, name)?)
    }

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

    fn log(&self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Trace => log::Level::Trace,
            LogLevel::Debug => log::Level::Debug,
            LogLevel::Info => log::Level::Info,
            LogLevel::Warn => log::Level::Warn,
            LogLevel::Error => log::Level::Error,
        };
        log::log(level, message);
    }

    fn now_millis(&self) -> u64 {
        clock::now_millis()
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
}

fn to_wit_kind(kind: &GroupVersionKind) -> types::Kind {
    types::Kind {
        group: kind.group.clone(),
        version: kind.version.clone(),
        kind: kind.kind.clone(),
    }
}

impl From<types::ApiError> for Error {
    fn from(error: types::ApiError) -> Self {
        match error {
            types::ApiError::NotFound(message) => Error::NotFound(message),
            types::ApiError::AlreadyExists(message) => Error::AlreadyExists(message),
            types::ApiError::Conflict(message) => Error::Conflict(message),
            types::ApiError::Forbidden(message) => Error::Forbidden(message),
            types::ApiError::Invalid(message) => Error::Invalid(message),
            types::ApiError::Other(message) => Error::Other(message),
        }
    }
}
