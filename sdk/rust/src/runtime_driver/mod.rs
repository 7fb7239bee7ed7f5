//! Container runtime drivers: how the node agent starts, watches, signals
//! and removes a pod's containers, as a native shared library a third party
//! builds without rebuilding Wharf. Native targets only, with the SDK's
//! `runtime` feature.
//!
//! A driver is one crate (`crate-type = ["cdylib", "rlib"]`) that implements
//! [`RuntimeDriver`] and exports it with
//! [`export_runtime_driver!`](crate::export_runtime_driver); the node agent
//! loads the built `lib<crate>.so` with `wharf-native-runtime`. The C ABI the
//! macro generates is documented in `wharf_plugin_abi::runtime`; [`native`]
//! implements it.
//!
//! ```
//! use std::sync::Mutex;
//! use wharf_sdk::runtime_driver::{ContainerState, Error, Result, RuntimeDriver, Signal, StartSpec};
//!
//! /// Pretends: every container exits at once with code 0.
//! struct Instant {
//!     started: Mutex<Vec<String>>,
//! }
//!
//! impl RuntimeDriver for Instant {
//!     fn new(_config: &str) -> Result<Self> {
//!         Ok(Instant { started: Mutex::new(Vec::new()) })
//!     }
//!
//!     fn name(&self) -> &str {
//!         "instant"
//!     }
//!
//!     fn start(&self, spec: &StartSpec) -> Result<String> {
//!         let id = format!("{}-{}", spec.pod_uid, spec.container);
//!         self.started.lock().unwrap().push(id.clone());
//!         Ok(id)
//!     }
//!
//!     fn state(&self, id: &str) -> Result<ContainerState> {
//!         Ok(if self.started.lock().unwrap().iter().any(|known| known == id) {
//!             ContainerState::Exited { code: 0, oom_killed: false }
//!         } else {
//!             ContainerState::Unknown
//!         })
//!     }
//!
//!     fn signal(&self, id: &str, _signal: Signal) -> Result<()> {
//!         match self.state(id)? {
//!             ContainerState::Unknown => Err(Error::UnknownContainer(id.to_owned())),
//!             _ => Ok(()),
//!         }
//!     }
//!
//!     fn remove(&self, id: &str) -> Result<()> {
//!         self.started.lock().unwrap().retain(|known| known != id);
//!         Ok(())
//!     }
//! }
//!
//! wharf_sdk::export_runtime_driver!(Instant);
//! ```
//!
//! `plugins/runtimes/example-runtime` is a complete driver that runs each
//! container as a host process.

pub mod native;

pub use wharf_plugin_abi::runtime::{ContainerState, Mount, Signal, StartSpec};

/// Why a driver call failed; the node agent sees the message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The driver's config is not valid.
    #[error("invalid config: {0}")]
    Config(String),
    /// The spec asks for something this driver cannot do.
    #[error("invalid spec: {0}")]
    Spec(String),
    /// No container has this ID (for calls where that is an error).
    #[error("no container {0}")]
    UnknownContainer(String),
    /// An operating-system call failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// The result of a driver call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A container runtime driver: what a third party implements.
///
/// One value serves the node agent for the life of the loaded library; it is
/// called from several threads at once (hence `Send + Sync`). The agent is
/// level-triggered: it polls [`state`](RuntimeDriver::state), and may repeat
/// `signal` and `remove`, so both should succeed on an exited container.
pub trait RuntimeDriver: Sized + Send + Sync + 'static {
    /// Builds the driver from the agent's config text for it (may be empty).
    fn new(config: &str) -> Result<Self>;

    /// The driver's name: the scheme of its container IDs (`<name>://<id>`).
    fn name(&self) -> &str;

    /// Starts a container; returns its ID, unique for this driver.
    fn start(&self, spec: &StartSpec) -> Result<String>;

    /// What the driver knows of the container; [`ContainerState::Unknown`]
    /// for an ID it does not know.
    fn state(&self, id: &str) -> Result<ContainerState>;

    /// Sends `signal` to the container's processes.
    fn signal(&self, id: &str, signal: Signal) -> Result<()>;

    /// Forgets an exited container and frees what the driver keeps for it.
    fn remove(&self, id: &str) -> Result<()>;
}

/// Exports a [`RuntimeDriver`](crate::runtime_driver::RuntimeDriver) as the C ABI
/// of `wharf_plugin_abi::runtime`, so the crate's `cdylib` is a runtime
/// driver the node agent can load. Native targets, `runtime` feature.
///
/// ```text
/// wharf_sdk::export_runtime_driver!(MyDriver);
/// ```
#[macro_export]
macro_rules! export_runtime_driver {
    ($driver:ty) => {
        // Each export forwards to `wharf_sdk::runtime_driver::native`, which
        // relies on the contract of `wharf_plugin_abi::runtime`.
        #[allow(unsafe_code)]
        const _: () = {
            use ::std::ffi::c_void;
            use $crate::runtime_driver::native::{WharfBuf, WharfStr};

            #[unsafe(no_mangle)]
            pub extern "C" fn wharf_runtime_abi_version() -> u32 {
                $crate::runtime_driver::native::RUNTIME_ABI_VERSION
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn wharf_runtime_new(
                config: WharfStr,
                out_instance: *mut *mut c_void,
                out: *mut WharfBuf,
            ) -> u32 {
                // SAFETY: the host upholds the runtime ABI.
                unsafe {
                    $crate::runtime_driver::native::driver_new::<$driver>(config, out_instance, out)
                }
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn wharf_runtime_start(
                instance: *mut c_void,
                spec: WharfStr,
                out: *mut WharfBuf,
            ) -> u32 {
                // SAFETY: the host upholds the runtime ABI.
                unsafe {
                    $crate::runtime_driver::native::driver_start::<$driver>(instance, spec, out)
                }
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn wharf_runtime_state(
                instance: *mut c_void,
                id: WharfStr,
                out: *mut WharfBuf,
            ) -> u32 {
                // SAFETY: the host upholds the runtime ABI.
                unsafe {
                    $crate::runtime_driver::native::driver_state::<$driver>(instance, id, out)
                }
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn wharf_runtime_signal(
                instance: *mut c_void,
                id: WharfStr,
                signal: u32,
                out: *mut WharfBuf,
            ) -> u32 {
                // SAFETY: the host upholds the runtime ABI.
                unsafe {
                    $crate::runtime_driver::native::driver_signal::<$driver>(
                        instance, id, signal, out,
                    )
                }
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn wharf_runtime_remove(
                instance: *mut c_void,
                id: WharfStr,
                out: *mut WharfBuf,
            ) -> u32 {
                // SAFETY: the host upholds the runtime ABI.
                unsafe {
                    $crate::runtime_driver::native::driver_remove::<$driver>(instance, id, out)
                }
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn wharf_runtime_drop(instance: *mut c_void) {
                // SAFETY: the host upholds the runtime ABI.
                unsafe { $crate::runtime_driver::native::driver_drop::<$driver>(instance) }
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn wharf_runtime_free_buf(buf: WharfBuf) {
                // SAFETY: the host upholds the runtime ABI.
                unsafe { $crate::runtime_driver::native::free_buf(buf) }
            }
        };
    };
}
