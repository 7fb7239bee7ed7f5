//! The Rust SDK for Wharf plugins.
//!
//! A controller plugin is one crate that depends only on `wharf-sdk`: it
//! implements [`Controller`] and exports it with [`export_controller!`]. The
//! SDK hides the WIT contract (`wharf:plugin`, world `controller`): it
//! generates the bindings once, turns the `cluster`, `events`, `log`,
//! `clock` and `state` imports into a typed [`Context`] over k8s-openapi
//! types, and turns the `reconciler` export into calls of your trait impl.
//!
//! # A controller
//!
//! Keeps `<name>-mirror` a copy of every ConfigMap labelled `mirror=true`:
//!
//! ```
//! use wharf_sdk::prelude::*;
//! use wharf_sdk::k8s_openapi::api::core::v1::ConfigMap;
//! use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
//!
//! #[derive(Default)]
//! struct Mirror;
//!
//! impl Controller for Mirror {
//!     fn registration(_config: &serde_json::Value) -> Result<Registration, Error> {
//!         // Mirrors are ConfigMaps owned by their source: their events wake the source.
//!         Ok(Registration::new::<ConfigMap>().owns::<ConfigMap>())
//!     }
//!
//!     fn reconcile(&self, ctx: &Context, namespace: Option<&str>, name: &str) -> Result<Action, Error> {
//!         let Some(source) = ctx.get::<ConfigMap>(namespace, name)? else {
//!             return Ok(Action::Done); // gone: garbage collection removes the mirror
//!         };
//!         let labels = source.metadata.labels.clone().unwrap_or_default();
//!         if labels.get("mirror").map(String::as_str) != Some("true") {
//!             return Ok(Action::Done);
//!         }
//!         let mirror_name = format!("{name}-mirror");
//!         match ctx.get::<ConfigMap>(namespace, &mirror_name)? {
//!             None => {
//!                 let metadata = ObjectMeta {
//!                     name: Some(mirror_name),
//!                     owner_references: Some(vec![owner_reference(&source)]),
//!                     ..ObjectMeta::default()
//!                 };
//!                 let data = source.data.clone();
//!                 ctx.create(namespace, &ConfigMap { metadata, data, ..ConfigMap::default() })?;
//!                 ctx.event(&source, EventType::Normal, "Mirrored", format!("Created {name}-mirror"));
//!             }
//!             Some(mut mirror) if mirror.data != source.data => {
//!                 mirror.data = source.data;
//!                 ctx.update(&mirror)?;
//!             }
//!             Some(_) => ctx.debug("mirror up to date"),
//!         }
//!         Ok(Action::Done)
//!     }
//! }
//!
//! wharf_sdk::export_controller!(Mirror);
//! # // And its unit test, with the in-memory cluster:
//! # use wharf_sdk::testing::FakeCluster;
//! # let fake = FakeCluster::new();
//! # fake.add(ConfigMap {
//! #     metadata: ObjectMeta {
//! #         name: Some("settings".into()),
//! #         namespace: Some("default".into()),
//! #         labels: Some([("mirror".to_owned(), "true".to_owned())].into()),
//! #         ..ObjectMeta::default()
//! #     },
//! #     data: Some([("color".to_owned(), "blue".to_owned())].into()),
//! #     ..ConfigMap::default()
//! # });
//! # fake.run::<Mirror>("default/settings").unwrap();
//! # let mirror = fake.get::<ConfigMap>(Some("default"), "settings-mirror").unwrap();
//! # assert_eq!(mirror.data.unwrap()["color"], "blue");
//! # let revision = fake.revision();
//! # fake.run::<Mirror>("default/settings").unwrap();
//! # assert_eq!(fake.revision(), revision);
//! ```
//!
//! Build it as a component with
//! `cargo build -p <crate> --target wasm32-wasip2 --release` (the crate has
//! `crate-type = ["cdylib", "rlib"]`: the cdylib is the component, the rlib
//! is for its tests).
//!
//! The same crate built natively (`cargo build -p <crate> --release`) is a
//! shared library the host loads as a trusted native plugin (a
//! `file://…/lib<crate>.so` module): no sandbox, deadline or memory limit,
//! the same permissions. The macro generates its C ABI ([`native`]); the
//! controller's code does not change.
//!
//! # Testing
//!
//! On native targets, [`testing::FakeCluster`] is an in-memory cluster with
//! the API server's semantics that controllers depend on (resourceVersions,
//! generateName, the status subresource, selectors, patches); tests add
//! objects, [`run`](testing::FakeCluster::run) a reconcile and look at the
//! objects, calls, events and logs:
//!
//! ```
//! # use wharf_sdk::prelude::*;
//! # use wharf_sdk::testing::FakeCluster;
//! # #[derive(Default)] struct Mirror;
//! # impl Controller for Mirror {
//! #     fn registration(_: &serde_json::Value) -> Result<Registration, Error> { unimplemented!() }
//! #     fn reconcile(&self, _: &Context, _: Option<&str>, _: &str) -> Result<Action, Error> { Ok(Action::Done) }
//! # }
//! let fake = FakeCluster::new();
//! // fake.add(…the objects of the case…);
//! assert_eq!(fake.run_with(&Mirror, "default/settings").unwrap(), Action::Done);
//! assert!(fake.writes().is_empty());
//! ```
//!
//! # Layers
//!
//! - [`Controller`], [`Registration`], [`Action`]: what a plugin implements.
//! - [`Context`]: typed reads and writes, events, logs, clock, state.
//! - [`Backend`]: the same, untyped (JSON text and a [`GroupVersionKind`]),
//!   one method per WIT import. On wasm32 the SDK implements it over the
//!   imports; anything else can implement it too.
//! - Helpers every controller needs: [`owner_reference`], [`controller_of`],
//!   [`Selector`] (label selectors, matching and text).

mod backend;
mod context;
mod controller;
mod error;
mod kind;
mod owner;
pub mod prelude;
mod runtime;
mod selector;
// Native only (documented everywhere): components never carry it.
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
#[cfg(any(not(target_arch = "wasm32"), doc))]
pub mod testing;
#[cfg(target_arch = "wasm32")]
mod wit;

pub use backend::{Backend, Event, EventType, ListParams, LogLevel, PatchType};
pub use context::{Context, Patch, time_from_millis};
pub use controller::{Action, Controller, Registration};
pub use error::{Error, Result};
pub use kind::{GroupVersionKind, ObjectRef};
pub use owner::{controller_of, is_controlled_by, owner_reference};
pub use selector::{Operator, Requirement, Selector};

pub use k8s_openapi;
pub use serde;
pub use serde_json;
pub use wit_bindgen;

/// Exports a [`Controller`] as the component's `reconciler`: one instance is
/// built on `init` (with `Default`, then
/// [`configure`](Controller::configure)) and kept for every `reconcile` of
/// the component instance.
///
/// On other targets than wasm32 it generates the native C ABI exports
/// instead (see [`native`]): the crate's `cdylib` is then a shared library
/// the host can load as a trusted plugin, and its `rlib` serves its unit
/// tests as before.
///
/// ```
/// # use wharf_sdk::prelude::*;
/// # #[derive(Default)] struct MyController;
/// # impl Controller for MyController {
/// #     fn registration(_: &serde_json::Value) -> Result<Registration, Error> { unimplemented!() }
/// #     fn reconcile(&self, _: &Context, _: Option<&str>, _: &str) -> Result<Action, Error> { unimplemented!() }
/// # }
/// wharf_sdk::export_controller!(MyController);
/// ```
#[macro_export]
macro_rules! export_controller {
    ($controller:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            struct WharfReconcilerExport;

            impl $crate::__private::ReconcilerGuest for WharfReconcilerExport {
                fn init(
                    config: ::std::string::String,
                ) -> ::std::result::Result<$crate::__private::WitRegistration, ::std::string::String> {
                    $crate::__private::init::<$controller>(&config)
                }

                fn reconcile(
                    namespace: ::std::option::Option<::std::string::String>,
                    name: ::std::string::String,
                ) -> ::std::result::Result<$crate::__private::WitOutcome, ::std::string::String> {
                    $crate::__private::reconcile(namespace.as_deref(), &name)
                }
            }

            $crate::__private::bindings::export_reconciler!(
                WharfReconcilerExport with_types_in $crate::__private::bindings
            );
        };

        // The native C ABI; each export forwards to `wharf_sdk::native`,
        // which documents the contract the host upholds.
        #[cfg(not(target_arch = "wasm32"))]
        #[allow(unsafe_code)]
        const _: () = {
            use $crate::native::{WharfBuf, WharfHostVtable, WharfStr};
            use ::std::ffi::c_void;

            #[unsafe(no_mangle)]
            pub extern "C" fn wharf_plugin_abi_version() -> u32 {
                $crate::native::ABI_VERSION
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn wharf_controller_new(
                vtable: *const WharfHostVtable,
                host_ctx: *mut c_void,
                config: WharfStr,
                out_instance: *mut *mut c_void,
                out_buf: *mut WharfBuf,
            ) -> u32 {
                // SAFETY: the host upholds the ABI of `wharf_sdk::native`.
                unsafe {
                    $crate::native::controller_new::<$controller>(
                        vtable,
                        host_ctx,
                        config,
                        out_instance,
                        out_buf,
                    )
                }
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn wharf_controller_reconcile(
                instance: *mut c_void,
                namespace: WharfStr,
                name: WharfStr,
                out_requeue_millis: *mut u32,
                out_buf: *mut WharfBuf,
            ) -> u32 {
                // SAFETY: the host upholds the ABI of `wharf_sdk::native`.
                unsafe {
                    $crate::native::controller_reconcile(
                        instance,
                        namespace,
                        name,
                        out_requeue_millis,
                        out_buf,
                    )
                }
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn wharf_controller_drop(instance: *mut c_void) {
                // SAFETY: the host upholds the ABI of `wharf_sdk::native`.
                unsafe { $crate::native::controller_drop(instance) }
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn wharf_plugin_free_buf(buf: WharfBuf) {
                // SAFETY: the host upholds the ABI of `wharf_sdk::native`.
                unsafe { $crate::native::free_plugin_buf(buf) }
            }
        };
    };
}

/// What [`export_controller!`] expands to; not an API.
#[doc(hidden)]
#[cfg(target_arch = "wasm32")]
pub mod __private {
    pub use crate::wit::bindings;
    pub use crate::wit::bindings::exports::wharf::plugin::reconciler::{
        Guest as ReconcilerGuest, Outcome as WitOutcome, Registration as WitRegistration,
    };
    pub use crate::wit::{init, reconcile};
}
