//! `wharf bench store`: the store's write throughput and latency, and watch
//! delivery, with 1 KiB values by default.
//!
//! Phases, each for `--seconds`:
//! 1. creates from 1 writer, then from 16 writers (throughput, p50/p99);
//! 2. compare-and-swap updates from 16 writers, each on its own key;
//! 3. 16 writers creating while 100 watchers watch the prefix: deliveries/s
//!    over all watchers and p99 lag from the write's start to its delivery;
//! 4. for etcd only, the bare `etcd-client` put rate with 16 writers against
//!    the same etcd, the ceiling the etcd backend is compared with.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use wharf_store::etcd_process::LocalEtcd;
use wharf_store::{EmbeddedConfig, EmbeddedStore, EtcdConfig, EtcdStore, Store};

use super::report::Latencies;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Backend {
    Embedded,
    Etcd,
}

#[derive(clap::Args)]
pub struct StoreBench {
    /// Which store to measure.
    #[arg(long, value_enum, default_value = "embedded")]
    backend: Backend,
    /// etcd client URL; without it a throwaway etcd is started from PATH.
    #[arg(long)]
    etcd: Option<String>,
    /// Directory for the embedded store; a temporary one by default.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Seconds each phase runs.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Bytes per value.
    #[arg(long, default_value_t = 1024)]
    value_size: usize,
    /// Watchers in the watch phase.
    #[arg(long, default_value_t = 100)]
    watchers: usize,
}

const WRITERS: usize = 16;

/// What one phase of writers achieved.
struct Phase {
    operations: u64,
    elapsed: Duration,
    latencies: Latencies,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.operations as f64 / self.elapsed.as_secs_f64()
    }

    fn line(&self, name: &str) -> String {
        format!(
            "{name:<28} {:>9.0} ops/s  {}  ({} ops)",
            self.rate(),
            self.latencies.summary(),
            self.operations
        )
    }
}

pub async fn run(options: StoreBench) -> Result<(), String> {
    let duration = Duration::from_secs(options.seconds.max(1));
    let value = Bytes::from(vec![b'x'; options.value_size.max(8)]);
    // Keep the temporary directory or etcd alive for the whole run.
    let mut _temp_dir = None;
    let mut _local_etcd = None;
    let (store, etcd_url): (Arc<dyn Store>, Option<String>) = match options.backend {
        Backend::Embedded => {
            let dir = match &options.data_dir {
                Some(dir) => dir.clone(),
                None => {
                    let temp =
                        tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
                    let path = temp.path().to_owned();
                    _temp_dir = Some(temp);
                    path
                }
            };
            let store =
                EmbeddedStore::open(EmbeddedConfig::new(&dir)).map_err(|e| e.to_string())?;
            println!("backend: embedded store in {}", dir.display());
            (Arc::new(store), None)
        }
        Backend::Etcd => {
            let url = match &options.etcd {
                Some(url) => url.clone(),
                None => {
                    let etcd = LocalEtcd::start()
                        .await
                        .map_err(|e| format!("starting etcd: {e}"))?;
                    let url = etcd.client_url().to_owned();
                    _local_etcd = Some(etcd);
                    url
                }
            };
            let store = EtcdStore::connect(EtcdConfig::new([url.clone()]))
                .await
                .map_err(|e| e.to_string())?;
            println!("backend: etcd at {url}");
            (Arc::new(store), Some(url))
        }
    };
    println!(
        "values: {} bytes, {} s per phase",
        value.len(),
        duration.as_secs()
    );

    let create_one = drive(1, duration, {
        let (store, value) = (store.clone(), value.clone());
        move |writer, i| {
            let (store, value) = (store.clone(), value.clone());
            async move {
                store
                    .create(&format!("/bench/c1/{writer}/{i}"), value)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        }
    })
    .await?;
    println!("{}", create_one.line("create, 1 writer"));

    let create_many = drive(WRITERS, duration, {
        let (store, value) = (store.clone(), value.clone());
        move |writer, i| {
            let (store, value) = (store.clone(), value.clone());
            async move {
                store
                    .create(&format!("/bench/c16/{writer}/{i}"), value)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        }
    })
    .await?;
    println!("{}", create_many.line("create, 16 writers"));

    let update = update_phase(&store, &value, duration).await?;
    println!("{}", update.line("update (CAS), 16 writers"));

    let watch = watch_phase(&store, &value, duration, options.watchers).await?;
    println!(
        "{:<28} {:>9.0} events/s delivered to {} watchers, lag p50 {:.2} ms, p99 {:.2} ms ({} writes)",
        "watch delivery",
        watch.deliveries as f64 / watch.elapsed.as_secs_f64(),
        options.watchers,
        watch.lag.quantile_ms(0.5),
        watch.lag.quantile_ms(0.99),
        watch.writes,
    );

    if let Some(url) = etcd_url {
        compare_with_bare_etcd(&store, &url, &value, duration).await?;
    }

    println!(
        "store bench ({:?}): create p99 {:.2} ms at 16 writers, update {:.0}/s, watch {:.0} events/s p99 lag {:.2} ms; 16 writers: {:.0} writes/s",
        options.backend,
        create_many.latencies.quantile_ms(0.99),
        update.rate(),
        watch.deliveries as f64 / watch.elapsed.as_secs_f64(),
        watch.lag.quantile_ms(0.99),
        create_many.rate(),
    );
    Ok(())
}

/// Runs `operation(writer, i)` from `writers` tasks until `duration` passes.
async fn drive<F, Fut>(writers: usize, duration: Duration, operation: F) -> Result<Phase, String>
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let operation = operation.clone();
            tokio::spawn(async move {
                let mut latencies = Latencies::new();
                let mut i = 0;
                while Instant::now() < deadline {
                    let begun = Instant::now();
                    operation(writer, i).await?;
                    latencies.record(begun.elapsed());
                    i += 1;
                }
                Ok::<_, String>(latencies)
            })
        })
        .collect();
    let mut latencies = Latencies::new();
    for task in tasks {
        latencies.merge(&task.await.map_err(|e| e.to_string())??);
    }
    Ok(Phase {
        operations: latencies.count(),
        elapsed: started.elapsed(),
        latencies,
    })
}

/// Each writer updates its own key, guarded by the revision it last wrote.
async fn update_phase(
    store: &Arc<dyn Store>,
    value: &Bytes,
    duration: Duration,
) -> Result<Phase, String> {
    let mut revisions = Vec::new();
    for writer in 0..WRITERS {
        let kv = store
            .create(&format!("/bench/u/{writer}"), value.clone())
            .await
            .map_err(|e| e.to_string())?;
        revisions.push(Arc::new(std::sync::atomic::AtomicI64::new(kv.mod_revision)));
    }
    let revisions = Arc::new(revisions);
    let (store, value) = (store.clone(), value.clone());
    drive(WRITERS, duration, move |writer, _| {
        let (store, value, revisions) = (store.clone(), value.clone(), revisions.clone());
        async move {
            let expected = revisions[writer].load(std::sync::atomic::Ordering::Relaxed);
            let kv = store
                .update(&format!("/bench/u/{writer}"), value, expected)
                .await
                .map_err(|e| e.to_string())?;
            revisions[writer].store(kv.mod_revision, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
    })
    .await
}

struct WatchResult {
    writes: u64,
    deliveries: u64,
    elapsed: Duration,
    lag: Latencies,
}

/// 16 writers create keys whose values start with their write's start time;
/// `watchers` watchers receive every event and measure the lag.
async fn watch_phase(
    store: &Arc<dyn Store>,
    value: &Bytes,
    duration: Duration,
    watchers: usize,
) -> Result<WatchResult, String> {
    const PREFIX: &str = "/bench/w/";
    const END: &str = "/bench/w/~end";
    let origin = Instant::now();
    let start = store.current_revision().await.map_err(|e| e.to_string())?;
    let mut watcher_tasks = Vec::new();
    for _ in 0..watchers {
        let mut stream = store
            .watch(PREFIX, start)
            .await
            .map_err(|e| e.to_string())?;
        watcher_tasks.push(tokio::spawn(async move {
            let mut lag = Latencies::new();
            while let Some(event) = stream.next().await {
                let event = event.map_err(|e| e.to_string())?;
                if event.kv.key == END {
                    return Ok(lag);
                }
                let stamp = u64::from_le_bytes(event.kv.value[..8].try_into().expect("8 bytes"));
                lag.record(origin.elapsed().saturating_sub(Duration::from_nanos(stamp)));
            }
            Err::<Latencies, String>("the watch ended early".into())
        }));
    }
    let started = Instant::now();
    let writes = drive(WRITERS, duration, {
        let (store, value) = (store.clone(), value.clone());
        move |writer, i| {
            let store = store.clone();
            let mut stamped = value.to_vec();
            stamped[..8].copy_from_slice(&(origin.elapsed().as_nanos() as u64).to_le_bytes());
            async move {
                store
                    .create(&format!("{PREFIX}{writer}/{i}"), Bytes::from(stamped))
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        }
    })
    .await?;
    store
        .create(END, Bytes::from_static(b"end"))
        .await
        .map_err(|e| e.to_string())?;
    let mut lag = Latencies::new();
    for task in watcher_tasks {
        let received = tokio::time::timeout(Duration::from_secs(120), task)
            .await
            .map_err(|_| "watchers did not receive every event within 120 s".to_string())?
            .map_err(|e| e.to_string())??;
        if received.count() != writes.operations {
            return Err(format!(
                "a watcher received {} of {} events",
                received.count(),
                writes.operations
            ));
        }
        lag.merge(&received);
    }
    Ok(WatchResult {
        writes: writes.operations,
        deliveries: lag.count(),
        elapsed: started.elapsed(),
        lag,
    })
}

/// Rounds of the etcd comparison; each runs the three contenders back to
/// back, so that etcd's growth and the machine's noise fall on all of them.
const COMPARISON_ROUNDS: usize = 3;

/// Creates through the etcd backend against the bare `etcd-client` crate on
/// the same etcd, 16 writers each, interleaved; prints the medians.
async fn compare_with_bare_etcd(
    store: &Arc<dyn Store>,
    url: &str,
    value: &Bytes,
    duration: Duration,
) -> Result<(), String> {
    let (mut backend, mut puts, mut txns) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..COMPARISON_ROUNDS {
        // Rotate the order so that no contender always runs first.
        for contender in 0..3 {
            match (round + contender) % 3 {
                0 => {
                    let phase = drive(WRITERS, duration, {
                        let (store, value) = (store.clone(), value.clone());
                        move |writer, i| {
                            let (store, value) = (store.clone(), value.clone());
                            async move {
                                let key = format!("/bench/cmp/{round}/{writer}/{i}");
                                store
                                    .create(&key, value)
                                    .await
                                    .map(drop)
                                    .map_err(|e| e.to_string())
                            }
                        }
                    })
                    .await?;
                    backend.push(phase.rate());
                }
                1 => puts.push(
                    bare_etcd_phase(url, value, duration, BareOperation::Put, round)
                        .await?
                        .rate(),
                ),
                _ => txns.push(
                    bare_etcd_phase(url, value, duration, BareOperation::CreateTxn, round)
                        .await?
                        .rate(),
                ),
            }
        }
    }
    let median = |rates: &mut Vec<f64>| {
        rates.sort_by(f64::total_cmp);
        rates[rates.len() / 2]
    };
    let (backend, puts, txns) = (median(&mut backend), median(&mut puts), median(&mut txns));
    println!("etcd comparison, 16 writers, median of {COMPARISON_ROUNDS} interleaved rounds:");
    println!("  {:<26} {backend:>9.0} ops/s", "wharf etcd backend create");
    println!("  {:<26} {puts:>9.0} ops/s", "bare etcd-client put");
    println!("  {:<26} {txns:>9.0} ops/s", "bare etcd-client txn");
    println!(
        "  the backend reaches {:.0}% of bare puts and {:.0}% of bare create-if-absent txns",
        100.0 * backend / puts,
        100.0 * backend / txns
    );
    Ok(())
}

/// What the bare `etcd-client` baseline sends.
#[derive(Clone, Copy)]
enum BareOperation {
    /// A plain put: etcd's ceiling.
    Put,
    /// The same guarded transaction the etcd backend's create sends.
    CreateTxn,
}

/// Writes through `etcd-client` directly: the ceiling for the etcd backend.
async fn bare_etcd_phase(
    url: &str,
    value: &Bytes,
    duration: Duration,
    operation: BareOperation,
    round: usize,
) -> Result<Phase, String> {
    use etcd_client::{Compare, CompareOp, Txn, TxnOp};
    let client = etcd_client::Client::connect([url], None)
        .await
        .map_err(|e| e.to_string())?;
    let value = value.to_vec();
    drive(WRITERS, duration, move |writer, i| {
        let (mut kv, value) = (client.kv_client(), value.clone());
        async move {
            let result = match operation {
                BareOperation::Put => kv
                    .put(format!("/bench/raw-put/{round}/{writer}/{i}"), value, None)
                    .await
                    .map(drop),
                BareOperation::CreateTxn => {
                    let key = format!("/bench/raw-txn/{round}/{writer}/{i}");
                    let txn = Txn::new()
                        .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                        .and_then([TxnOp::put(key.clone(), value, None)])
                        .or_else([TxnOp::get(key, None)]);
                    kv.txn(txn).await.map(drop)
                }
            };
            result.map_err(|e| e.to_string())
        }
    })
    .await
}
