//! Wharf's node agent.
//!
//! Today it holds the hollow nodes (`hollow.rs`): simulated kubelets that
//! register nodes, heartbeat their Leases and report the pods bound to them
//! Running, so that clusters of thousands of nodes run inside `wharf up` and
//! the benchmarks. The real kubelet will live beside them.

mod hollow;

pub use hollow::{HollowConfig, HollowError, HollowNodes};
