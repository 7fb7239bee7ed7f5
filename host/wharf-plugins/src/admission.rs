//! The `admission` world on the host side: admission plugins that review
//! each write before it is stored (see `wit/plugins.wit`, interface
//! `review`). Their `cluster` calls go to a [`ControllerHost`] with the
//! plugin's permissions, as a controller's do.

use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::{HasSelf, InstancePre, Linker};

use crate::controller::ControllerHost;
use crate::error::PluginError;
use crate::limits::Limits;
use crate::world::{Instance, Module, Sandbox, World};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "admission",
        with: {
            "wharf:plugin/types": crate::controller::bindings::wharf::plugin::types,
            "wharf:plugin/cluster": crate::controller::bindings::wharf::plugin::cluster,
            "wharf:plugin/log": crate::controller::bindings::wharf::plugin::log,
            "wharf:plugin/clock": crate::controller::bindings::wharf::plugin::clock,
        },
    });
}

pub use bindings::exports::wharf::plugin::review::{
    Decision, Registration, Request, Response, StatusUpdate, UserInfo,
};

/// The `admission` world.
pub struct AdmissionWorld;

impl World for AdmissionWorld {
    const NAME: &'static str = "admission";
    type Pre = bindings::AdmissionPre<Sandbox>;
    type Bindings = bindings::Admission;

    /// Admission is in the write path: 100 ms per call, 32 MiB.
    fn default_limits() -> Limits {
        Limits {
            memory_bytes: 32 << 20,
            call_deadline: std::time::Duration::from_millis(100),
        }
    }

    fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
        bindings::Admission::add_to_linker::<_, HasSelf<Sandbox>>(linker, |sandbox| sandbox)
    }

    fn prepare(pre: InstancePre<Sandbox>) -> wasmtime::Result<Self::Pre> {
        bindings::AdmissionPre::new(pre)
    }

    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<Self::Bindings> {
        pre.instantiate(store)
    }
}

/// A compiled admission plugin.
pub type AdmissionModule = Module<AdmissionWorld>;

/// One live admission instance.
pub type AdmissionInstance = Instance<AdmissionWorld>;

impl Module<AdmissionWorld> {
    /// A fresh instance, initialized with `config` (JSON); returns its
    /// registration.
    pub fn start(
        &self,
        host: Arc<dyn ControllerHost>,
        limits: &Limits,
        config: &str,
    ) -> Result<(AdmissionInstance, Registration), PluginError> {
        let mut instance = self.instantiate(host, limits)?;
        let registration = instance
            .call(|bindings, store| bindings.wharf_plugin_review().call_init(store, config))?
            .map_err(PluginError::Failed)?;
        Ok((instance, registration))
    }
}

impl Instance<AdmissionWorld> {
    /// Reviews one write.
    pub fn review(&mut self, request: &Request) -> Result<Response, PluginError> {
        self.call(|bindings, store| bindings.wharf_plugin_review().call_review(store, request))
    }
}
