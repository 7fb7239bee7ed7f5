//! `wharf bench …`: benchmarks of Wharf's parts. Each prints its figures and
//! ends with a one-line summary holding the headline figure.

mod admission;
mod api;
mod langs;
mod plugins;
mod pods;
mod report;
mod scheduler;
mod soak;
mod store;

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
}

pub async fn run(target: Target) -> Result<(), String> {
    match target {
        Target::Store(options) => store::run(options).await,
        Target::Admission(options) => admission::run(options).await,
        Target::Api(options) => api::run(options).await,
        Target::Plugins(options) => plugins::run(options).await,
        Target::Scheduler(options) => scheduler::run(options).await,
        Target::Pods(options) => pods::run(options).await,
        Target::Soak(options) => soak::run(options).await,
    }
}
