//! Warm pod networks: network namespaces wired by the CNI plugins before
//! any pod asks, so that a pod of the process (or a native) driver starts
//! without waiting for them.
//!
//! Wiring a namespace (a new namespace, a veth pair moved into it, an
//! address, routes: three plugin runs) costs the kernel and the plugins
//! about 20 ms of mostly serialized work, which is what a burst of pods
//! waits on. The agent keeps `warm_networks` of them ready, each a CNI
//! container of its own (`warm-<id>`, with its own address from the node's
//! CIDR); a pod takes one (its record keeps the namespace and CNI id, so its
//! teardown releases exactly that), and one task wires the next, one at a
//! time, so that refilling never competes with a burst for more than one
//! core. The ready ones are listed in `<data_dir>/warm-networks.json`: a
//! restarted agent takes them back, and tears down those of another CIDR.
//!
//! The docker driver does not use them: its pause container must own the
//! pod's namespace.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::Shared;

/// One ready network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Warm {
    pub netns: String,
    pub cni_id: String,
    pub ip: String,
    /// The node CIDR it was wired for.
    pub cidr: String,
}

/// The ready networks of one agent.
pub(super) struct WarmNetworks {
    ready: Mutex<Vec<Warm>>,
    wake: Notify,
    target: usize,
    file: PathBuf,
    data_dir: PathBuf,
    plugin_dir: PathBuf,
    /// Set by [`WarmNetworks::drain`]: nothing is added any more.
    closed: std::sync::atomic::AtomicBool,
    /// Networks being wired (by blocking jobs that outlive an aborted task).
    wiring: std::sync::atomic::AtomicUsize,
}

impl WarmNetworks {
    pub(super) fn new(target: usize, data_dir: &std::path::Path, plugin_dir: PathBuf) -> Self {
        Self {
            ready: Mutex::new(Vec::new()),
            wake: Notify::new(),
            target,
            file: data_dir.join("warm-networks.json"),
            data_dir: data_dir.to_path_buf(),
            plugin_dir,
            closed: std::sync::atomic::AtomicBool::new(false),
            wiring: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Tears down every ready network (the agent stops: they are a cache,
    /// and their addresses go back to the node's pool).
    pub(super) async fn drain(&self) {
        use std::sync::atomic::Ordering;
        self.closed.store(true, Ordering::SeqCst);
        // A network being wired is added (or torn down) by its job first.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.wiring.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let drained = {
            let mut ready = self.ready.lock().unwrap_or_else(PoisonError::into_inner);
            let drained = std::mem::take(&mut *ready);
            self.persist(&ready);
            drained
        };
        let (data_dir, plugin_dir) = (self.data_dir.clone(), self.plugin_dir.clone());
        let _ = tokio::task::spawn_blocking(move || {
            for warm in drained {
                let mut config = wharf_cni::CniConfig::new(&warm.cidr, &data_dir);
                config.plugin_dir = plugin_dir.clone();
                if let Err(error) = wharf_cni::teardown_named(&config, &warm.netns, &warm.cni_id, &[]) {
                    tracing::warn!(netns = warm.netns, %error, "cannot tear down a warm pod network");
                }
            }
        })
        .await;
    }

    /// A ready network of `cidr`, if there is one (the next is wired).
    pub(super) fn take(&self, cidr: &str) -> Option<Warm> {
        let taken = {
            let mut ready = self.ready.lock().unwrap_or_else(PoisonError::into_inner);
            let at = ready.iter().position(|warm| warm.cidr == cidr)?;
            let taken = ready.swap_remove(at);
            self.persist(&ready);
            taken
        };
        self.wake.notify_one();
        Some(taken)
    }

    pub(super) fn ready_count(&self) -> usize {
        self.ready
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn add(&self, warm: Warm) {
        let mut ready = self.ready.lock().unwrap_or_else(PoisonError::into_inner);
        ready.push(warm);
        self.persist(&ready);
    }

    fn persist(&self, ready: &[Warm]) {
        let written = serde_json::to_vec(ready)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                let temporary = self.file.with_extension("tmp");
                std::fs::write(&temporary, bytes)
                    .and_then(|()| std::fs::rename(&temporary, &self.file))
            });
        if let Err(error) = written {
            tracing::warn!(path = %self.file.display(), %error, "cannot record the warm pod networks");
        }
    }

    fn recorded(&self) -> Vec<Warm> {
        std::fs::read(&self.file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }
}

/// Keeps `target` networks ready for the node's CIDR, wiring one at a time.
pub(super) async fn fill(shared: Arc<Shared>, warm: Arc<WarmNetworks>) {
    let plugin_dir = warm.plugin_dir.clone();
    let cidr = loop {
        if let Some(cidr) = super::pods::node_pod_cidr(&shared).await {
            break cidr;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let config = {
        let mut config = wharf_cni::CniConfig::new(&cidr, &shared.config.data_dir);
        config.plugin_dir = plugin_dir;
        config
    };
    let stopped = |shared: &Shared| shared.gate.run(|| ()).is_none();
    // Those of an earlier agent: kept if still there and of this CIDR.
    for earlier in warm.recorded() {
        let exists = std::path::Path::new("/var/run/netns")
            .join(&earlier.netns)
            .exists();
        if exists && earlier.cidr == cidr {
            warm.ready
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(earlier);
            continue;
        }
        let config = wharf_cni::CniConfig {
            pod_cidr: earlier.cidr.clone(),
            ..config.clone()
        };
        let _ = tokio::task::spawn_blocking(move || {
            wharf_cni::teardown_named(&config, &earlier.netns, &earlier.cni_id, &[])
        })
        .await;
    }
    warm.persist(&warm.ready.lock().unwrap_or_else(PoisonError::into_inner));
    let mut failures = 0u32;
    loop {
        if warm.ready_count() >= warm.target {
            warm.wake.notified().await;
            continue;
        }
        if stopped(&shared) {
            return;
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (netns, cni_id) = (format!("wharf-w{}", &id[..12]), format!("warm-{id}"));
        let (job_config, job_warm, job_cidr) = (config.clone(), warm.clone(), cidr.clone());
        warm.wiring
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // The job adds what it wired itself, so a stop mid-way leaks nothing.
        let wired = tokio::task::spawn_blocking(move || {
            let wired = wharf_cni::setup_named(&job_config, &netns, &cni_id, &[]).map(|network| {
                let ready = Warm {
                    netns,
                    cni_id,
                    ip: network.ip,
                    cidr: job_cidr,
                };
                if job_warm.closed.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ =
                        wharf_cni::teardown_named(&job_config, &ready.netns, &ready.cni_id, &[]);
                } else {
                    job_warm.add(ready);
                }
            });
            job_warm
                .wiring
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            wired
        })
        .await;
        match wired {
            Ok(Ok(())) => failures = 0,
            Ok(Err(error)) => {
                failures += 1;
                tracing::warn!(%error, "cannot wire a warm pod network; retrying");
                tokio::time::sleep(Duration::from_secs(u64::from(failures.min(30)))).await;
            }
            Err(join) => {
                tracing::error!(%join, "wiring a warm pod network panicked");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_network_is_of_the_asked_cidr_and_leaves_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let warm = WarmNetworks::new(2, dir.path(), PathBuf::from("/usr/lib/cni"));
        let one = |netns: &str, cidr: &str| Warm {
            netns: netns.into(),
            cni_id: format!("warm-{netns}"),
            ip: "10.0.0.2".into(),
            cidr: cidr.into(),
        };
        warm.add(one("a", "10.0.0.0/24"));
        warm.add(one("b", "10.0.1.0/24"));
        assert_eq!(warm.recorded().len(), 2);
        assert_eq!(warm.take("10.0.1.0/24").unwrap().netns, "b");
        assert!(warm.take("10.0.1.0/24").is_none());
        assert_eq!(warm.recorded(), [one("a", "10.0.0.0/24")]);
    }
}
