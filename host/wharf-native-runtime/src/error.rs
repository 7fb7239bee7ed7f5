use std::path::PathBuf;

/// Why loading a runtime driver, or a call into it, failed.
#[derive(Debug, thiserror::Error)]
pub enum NativeRuntimeError {
    /// The file could not be opened as a shared library (missing, not a
    /// library, built for another platform).
    #[error("cannot load runtime driver {path}: {reason}")]
    Load { path: PathBuf, reason: String },
    /// The library lacks an export of the runtime ABI: it is not a runtime
    /// driver.
    #[error("{path} is not a Wharf runtime driver: {reason}")]
    NotADriver { path: PathBuf, reason: String },
    /// The driver was built for another version of the runtime ABI.
    #[error("runtime driver {path} speaks runtime ABI {driver}, this host {host}")]
    AbiMismatch {
        path: PathBuf,
        driver: u32,
        host: u32,
    },
    /// The driver refused to start (its config, its environment).
    #[error("runtime driver {path} failed to start: {message}")]
    Init { path: PathBuf, message: String },
    /// A call failed; the driver's message.
    #[error("the runtime driver failed: {0}")]
    Failed(String),
    /// A call panicked inside the driver (caught there); the driver may be
    /// left in an inconsistent state.
    #[error("the runtime driver panicked: {0}")]
    Panicked(String),
    /// The driver answered something this host cannot read.
    #[error("the runtime driver answered malformed data: {0}")]
    Malformed(String),
}
