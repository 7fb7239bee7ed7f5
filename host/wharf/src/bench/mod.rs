//! `wharf bench …`: benchmarks of Wharf's parts. Each prints its figures and
//! ends with a one-line summary holding the headline figure.

mod admission;
mod api;
mod join;
mod langs;
mod plugins;
mod pods;
mod report;
mod scheduler;
mod soak;
mod store;
mod workloads;

use clap::Subcommand;

/// What to measure.
#[derive(Subcommand)]
pub enum Target {
    /// The object store: creates, compare-and-swap updates and watch delivery.
    Store(store::StoreBench),
    /// Admission plugins: pod creates at a steady rate with and without the sample set.
    Admission(admission::AdmissionBench),
    /// The API server over HTTP: steady mixed load, watch delivery, max creates.
    Api(api::ApiBench),
    /// Joining nodes: a join with a bootstrap token, a serving certificate,
    /// and what the Node authorizer adds to a node's Secret read.
    Join(join::JoinBench),
    /// The plugin platform: instantiation, reconcile round trip, hot swap, 10,000 pods.
    Plugins(plugins::PluginsBench),
    /// The node: pod startup latency on the process driver, and the
    /// service proxy's throughput against a direct connection.
    Pods(pods::PodsBench),
    /// The scheduler: SchedulingBasic, pods/s at N nodes, WebAssembly vs native.
    Scheduler(scheduler::SchedulerBench),
    /// The API server for minutes under mixed and hostile load: its memory
    /// (peak RSS), 5xx, and every watcher consistent with a final list.
    Soak(soak::SoakBench),
    /// The workload controllers on simulated nodes: a Job's completions per second.
    Workloads(workloads::WorkloadsBench),
}

/// An API server on an embedded store in a new temporary directory (its
/// store in `store/`; the directory goes when the handle drops).
pub(crate) async fn embedded_state()
-> Result<(std::sync::Arc<wharf_apiserver::ApiState>, tempfile::TempDir), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = wharf_store::EmbeddedStore::open(wharf_store::EmbeddedConfig::new(
        dir.path().join("store"),
    ))
    .map_err(|e| e.to_string())?;
    let state = wharf_apiserver::ApiState::new(std::sync::Arc::new(store))
        .await
        .map_err(|e| e.to_string())?;
    Ok((state, dir))
}

pub async fn run(target: Target) -> Result<(), String> {
    match target {
        Target::Store(options) => store::run(options).await,
        Target::Admission(options) => admission::run(options).await,
        Target::Api(options) => api::run(options).await,
        Target::Join(options) => join::run(options).await,
        Target::Plugins(options) => plugins::run(options).await,
        Target::Scheduler(options) => scheduler::run(options).await,
        Target::Pods(options) => pods::run(options).await,
        Target::Soak(options) => soak::run(options).await,
        Target::Workloads(options) => workloads::run(options).await,
    }
}
