//! The plugin runtime's errors.

/// Why loading or calling a plugin failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The engine could not be set up.
    #[error("plugin engine: {0}")]
    Engine(String),
    /// The module is not a valid component for this engine.
    #[error("the module does not compile: {0}")]
    Compile(String),
    /// The component does not fit the plugin kind's world (missing exports,
    /// unknown imports).
    #[error("the component does not fit the {world} world: {reason}")]
    Link { world: &'static str, reason: String },
    /// The call ran past its deadline and was interrupted.
    #[error("the call ran past its deadline of {0:?}")]
    Timeout(std::time::Duration),
    /// The plugin needed more memory than its limit.
    #[error("the plugin exceeded its memory limit: {0}")]
    OutOfMemory(String),
    /// The plugin trapped (a panic, an unreachable, a bad memory access).
    #[error("the plugin trapped: {0}")]
    Trap(String),
    /// The plugin returned an error of its own.
    #[error("{0}")]
    Failed(String),
    /// The Plugin asks for more than the host allows (memory, call
    /// deadline, workers).
    #[error("refused: {0}")]
    Refused(String),
    /// The Plugin was deleted or replaced during the call, which was
    /// interrupted.
    #[error("the plugin was stopped during the call")]
    Stopped,
}

impl PluginError {
    /// A short CamelCase reason for the plugin's status condition.
    pub fn reason(&self) -> &'static str {
        match self {
            PluginError::Engine(_) => "EngineError",
            PluginError::Compile(_) => "CompileFailed",
            PluginError::Link { .. } => "LinkFailed",
            PluginError::Timeout(_) => "DeadlineExceeded",
            PluginError::OutOfMemory(_) => "OutOfMemory",
            PluginError::Trap(_) => "Trapped",
            PluginError::Failed(_) => "ReconcileFailed",
            PluginError::Refused(_) => "LimitsRefused",
            PluginError::Stopped => "Stopped",
        }
    }

    /// Whether the instance is unusable afterwards (it must be replaced).
    pub fn poisons_instance(&self) -> bool {
        matches!(
            self,
            PluginError::Timeout(_)
                | PluginError::OutOfMemory(_)
                | PluginError::Trap(_)
                | PluginError::Stopped
        )
    }
}
