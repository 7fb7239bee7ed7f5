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
//!
//! # Container runtime drivers
//!
//! With the `runtime` feature, on native targets, `runtime_driver` is the
//! other kind of native plugin: a `RuntimeDriver` the node agent loads from a
//! shared library to run pods' containers (see `export_runtime_driver!`).

pub mod admission;
mod backend;
pub mod claim;
mod context;
mod controller;
mod custom;
mod error;
pub mod expectations;
pub mod history;
mod kind;
mod owner;
pub mod pod_control;
pub mod pods;
pub mod prelude;
pub mod quantity;
pub mod quota;
mod runtime;
pub mod scheduling;
mod selector;
pub mod taints;
// Native only (documented everywhere): components never carry it.
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
#[cfg(all(feature = "runtime", not(target_arch = "wasm32")))]
pub mod runtime_driver;
#[cfg(any(not(target_arch = "wasm32"), doc))]
pub mod testing;
#[cfg(all(target_arch = "wasm32", feature = "controller"))]
mod wit;
#[cfg(all(
    target_arch = "wasm32",
    any(feature = "controller", feature = "admission")
))]
mod wit_backend;

pub use backend::{Backend, Event, EventType, ListParams, LogLevel, PatchType};
pub use context::{Context, Patch, time_from_millis};
pub use controller::{Action, Controller, Registration, Wakes, resync_from_config};
pub use custom::DynamicObject;
pub use error::{Error, Result};
pub use kind::{GroupVersionKind, ObjectRef, ServedKind};
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

/// Exports an [`admission::Admission`] as the component's `review` (world
/// `admission`). The crate enables the SDK's `admission` feature (and not
/// the default `controller` one). Nothing is generated on native targets:
/// test the plugin with [`admission::testing::Harness`].
#[macro_export]
macro_rules! export_admission {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            struct WharfReviewExport;

            impl $crate::admission::wit::Guest for WharfReviewExport {
                fn init(
                    config: ::std::string::String,
                ) -> ::std::result::Result<
                    $crate::admission::wit::bindings::exports::wharf::plugin::review::Registration,
                    ::std::string::String,
                > {
                    $crate::admission::wit::init::<$plugin>(&config)
                }

                fn review(
                    request: $crate::admission::wit::bindings::exports::wharf::plugin::review::Request,
                ) -> $crate::admission::wit::bindings::exports::wharf::plugin::review::Response {
                    $crate::admission::wit::review(request)
                }
            }

            $crate::admission::wit::bindings::export_admission_world!(
                WharfReviewExport with_types_in $crate::admission::wit::bindings
            );
        };
    };
}

/// What [`export_controller!`] expands to; not an API.
#[doc(hidden)]
#[cfg(all(target_arch = "wasm32", feature = "controller"))]
pub mod __private {
    pub use crate::wit::bindings;
    pub use crate::wit::bindings::exports::wharf::plugin::reconciler::{
        Guest as ReconcilerGuest, Outcome as WitOutcome, Registration as WitRegistration,
    };
    pub use crate::wit::{init, reconcile};
}

/// Exports a [`scheduling::Policy`] as the component's `policy` (world
/// `scheduler`): the instance is built on `init` from the Plugin's config.
/// The crate must enable the SDK's `scheduler` feature.
///
/// On other targets than wasm32 it generates the native policy ABI instead
/// (see [`scheduling::native`]), so the same crate builds as a shared
/// library the host loads with `dlopen`.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        const _: () = {
            struct WharfPolicyExport;

            impl $crate::scheduling::__private::PolicyGuest for WharfPolicyExport {
                fn init(
                    config: ::std::string::String,
                ) -> ::std::result::Result<
                    $crate::scheduling::__private::WitRegistration,
                    ::std::string::String,
                > {
                    $crate::scheduling::__private::init::<$policy>(&config)
                }
                fn update(changes: ::std::vec::Vec<$crate::scheduling::__private::WitChange>) {
                    $crate::scheduling::__private::update(changes)
                }
                fn filter(
                    pod: $crate::scheduling::__private::WitPod,
                    candidates: ::std::vec::Vec<u32>,
                ) -> ::std::result::Result<
                    $crate::scheduling::__private::WitFiltered,
                    ::std::string::String,
                > {
                    $crate::scheduling::__private::filter(pod, candidates)
                }
                fn score(
                    pod: $crate::scheduling::__private::WitPod,
                    candidates: ::std::vec::Vec<u32>,
                ) -> ::std::result::Result<::std::vec::Vec<i64>, ::std::string::String> {
                    $crate::scheduling::__private::score(pod, candidates)
                }
            }

            $crate::scheduling::__private::bindings::export_policy_world!(
                WharfPolicyExport with_types_in $crate::scheduling::__private::bindings
            );
        };

        // The native policy ABI; each export forwards to
        // `wharf_sdk::scheduling::native`.
        #[cfg(not(target_arch = "wasm32"))]
        #[allow(unsafe_code)]
        const _: () = {
            use ::std::ffi::c_void;
            use $crate::scheduling::native::{WharfBuf, WharfStr};

            #[unsafe(no_mangle)]
            pub extern "C" fn wharf_policy_abi_version() -> u32 {
                $crate::scheduling::native::POLICY_ABI_VERSION
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn wharf_policy_new(
                config: WharfStr,
                out: *mut WharfBuf,
            ) -> *mut c_void {
                // SAFETY: the host upholds the policy ABI.
                unsafe { $crate::scheduling::native::policy_new::<$policy>(config, out) }
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn wharf_policy_update(
                instance: *mut c_void,
                changes: WharfStr,
                out: *mut WharfBuf,
            ) -> u32 {
                // SAFETY: the host upholds the policy ABI.
                unsafe {
                    $crate::scheduling::native::policy_update::<$policy>(instance, changes, out)
                }
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn wharf_policy_filter(
                instance: *mut c_void,
                pod: WharfStr,
                candidates: *const u32,
                count: usize,
                out: *mut WharfBuf,
            ) -> u32 {
                // SAFETY: the host upholds the policy ABI.
                unsafe {
                    $crate::scheduling::native::policy_filter::<$policy>(
                        instance, pod, candidates, count, out,
                    )
                }
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn wharf_policy_score(
                instance: *mut c_void,
                pod: WharfStr,
                candidates: *const u32,
                count: usize,
                scores: *mut i64,
                out: *mut WharfBuf,
            ) -> u32 {
                // SAFETY: the host upholds the policy ABI.
                unsafe {
                    $crate::scheduling::native::policy_score::<$policy>(
                        instance, pod, candidates, count, scores, out,
                    )
                }
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn wharf_policy_free(instance: *mut c_void) {
                // SAFETY: the host upholds the policy ABI.
                unsafe { $crate::scheduling::native::policy_free::<$policy>(instance) }
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn wharf_policy_free_buf(buf: WharfBuf) {
                // SAFETY: the host upholds the policy ABI.
                unsafe { $crate::scheduling::native::policy_free_buf(buf) }
            }
        };
    };
}
