//! Wharf's node agent.
//!
//! - `agent/`: the kubelet. [`NodeAgent`] registers this machine as a Node,
//!   heartbeats it, and runs the pods bound to it as host processes (the
//!   `process` runtime driver) or Docker containers (`docker`), reporting
//!   their status as a kubelet does.
//! - `hollow.rs`: simulated kubelets that register nodes, heartbeat their
//!   Leases and report the pods bound to them Running without running
//!   anything, so that clusters of thousands of nodes run inside `wharf up`
//!   and the benchmarks.

mod agent;
mod hollow;
pub mod server;
pub mod streaming;

pub use agent::{
    AgentConfig, AgentError, BackOffConfig, KubeletTls, NodeAgent, RuntimeConfig,
    container_log_path, running_as_root,
};
pub use hollow::{HollowConfig, HollowError, HollowNodes};
