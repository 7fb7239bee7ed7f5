//! A cgroup per container, `wharf/<pod-uid>/<container>`, with the
//! container's `resources.limits` (memory, cpu).
//!
//! The hierarchy is found once: cgroup v2 (`cgroup.controllers` at the
//! root: one directory per container, `+memory +cpu` enabled in its
//! parents) or v1 (the `memory` and `cpu` hierarchies: a directory in
//! each). Without a writable one (no root) containers run without cgroups,
//! as before.
//!
//! A process enters its cgroup before its program runs: the driver starts
//! it through `sh`, which writes its own pid to the `cgroup.procs` files
//! and then execs the program (see `process.rs`). The cgroup then lists
//! every process of the container, even those that left its process group
//! (`setsid`), so stopping a container kills them all.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use serde_json::Value;

/// Where cgroup hierarchies are mounted.
const ROOT: &str = "/sys/fs/cgroup";
/// The directory of Wharf's cgroups in each hierarchy.
const WHARF: &str = "wharf";
/// `cpu.cfs_period_us`, and the period of v2's `cpu.max`.
const CPU_PERIOD_US: u64 = 100_000;

/// The cgroup hierarchy in use.
#[derive(Debug)]
enum Hierarchy {
    /// Unified: `<root>/wharf/...`.
    V2 { root: PathBuf },
    /// Legacy: `<memory>/wharf/...` and `<cpu>/wharf/...`.
    V1 { memory: PathBuf, cpu: PathBuf },
}

/// The hierarchy, found (and logged) once; `None`: no cgroups.
fn hierarchy() -> Option<&'static Hierarchy> {
    static FOUND: OnceLock<Option<Hierarchy>> = OnceLock::new();
    FOUND.get_or_init(detect).as_ref()
}

fn detect() -> Option<Hierarchy> {
    let root = Path::new(ROOT);
    let found = if root.join("cgroup.controllers").exists() {
        let wharf = root.join(WHARF);
        std::fs::create_dir_all(&wharf)
            .and_then(|()| enable_controllers(root))
            .and_then(|()| enable_controllers(&wharf))
            .map(|()| Hierarchy::V2 {
                root: root.to_path_buf(),
            })
    } else {
        let (memory, cpu) = (root.join("memory"), root.join("cpu"));
        if memory.join("cgroup.procs").exists() && cpu.join("cgroup.procs").exists() {
            std::fs::create_dir_all(memory.join(WHARF))
                .and_then(|()| std::fs::create_dir_all(cpu.join(WHARF)))
                .map(|()| Hierarchy::V1 { memory, cpu })
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                "neither cgroup v2 nor the v1 memory and cpu hierarchies are mounted",
            ))
        }
    };
    match found {
        Ok(hierarchy) => {
            tracing::info!(?hierarchy, "containers run in cgroups");
            Some(hierarchy)
        }
        Err(error) => {
            tracing::warn!(%error, "no writable cgroups: containers run without resource limits");
            None
        }
    }
}

/// v2: lets the children of `dir` have memory and cpu limits.
fn enable_controllers(dir: &Path) -> io::Result<()> {
    std::fs::write(dir.join("cgroup.subtree_control"), "+memory +cpu")
}

/// A container's limits, from its `resources.limits`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Limits {
    pub memory_bytes: Option<u64>,
    pub cpu_millis: Option<u64>,
}

impl Limits {
    pub(super) fn of(container: &Value) -> Self {
        let limit = |name: &str, scale| {
            let value = container.pointer(&format!("/resources/limits/{name}"))?;
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                _ => return None,
            };
            parse_quantity(&text, scale).filter(|v| *v > 0)
        };
        Limits {
            memory_bytes: limit("memory", 1),
            cpu_millis: limit("cpu", 1000),
        }
    }
}

/// The directories of a container's cgroup (one per hierarchy).
fn container_dirs(uid: &str, container: &str) -> Vec<PathBuf> {
    pod_dirs(uid)
        .into_iter()
        .map(|dir| dir.join(container))
        .collect()
}

fn pod_dirs(uid: &str) -> Vec<PathBuf> {
    match hierarchy() {
        None => Vec::new(),
        Some(Hierarchy::V2 { root }) => vec![root.join(WHARF).join(uid)],
        Some(Hierarchy::V1 { memory, cpu }) => {
            vec![memory.join(WHARF).join(uid), cpu.join(WHARF).join(uid)]
        }
    }
}

/// Makes the container's cgroup (afresh when the last one is empty, so that
/// its OOM counter starts over) with `limits`. Returns the `cgroup.procs`
/// files its process must join; none without cgroups.
pub(super) fn create(uid: &str, container: &str, limits: Limits) -> io::Result<Vec<PathBuf>> {
    let Some(hierarchy) = hierarchy() else {
        return Ok(Vec::new());
    };
    let dirs = container_dirs(uid, container);
    for dir in &dirs {
        // Fails while it still holds a process; it is reused then.
        let _ = std::fs::remove_dir(dir);
        std::fs::create_dir_all(dir)?;
    }
    match hierarchy {
        Hierarchy::V2 { .. } => {
            if let Some(parent) = dirs[0].parent() {
                enable_controllers(parent)?;
            }
            let dir = &dirs[0];
            if let Some(bytes) = limits.memory_bytes {
                std::fs::write(dir.join("memory.max"), bytes.to_string())?;
            }
            if let Some(millis) = limits.cpu_millis {
                let quota = cpu_quota(millis);
                std::fs::write(dir.join("cpu.max"), format!("{quota} {CPU_PERIOD_US}"))?;
            }
        }
        Hierarchy::V1 { .. } => {
            let (memory, cpu) = (&dirs[0], &dirs[1]);
            if let Some(bytes) = limits.memory_bytes {
                std::fs::write(memory.join("memory.limit_in_bytes"), bytes.to_string())?;
            }
            if let Some(millis) = limits.cpu_millis {
                std::fs::write(cpu.join("cpu.cfs_period_us"), CPU_PERIOD_US.to_string())?;
                std::fs::write(cpu.join("cpu.cfs_quota_us"), cpu_quota(millis).to_string())?;
            }
        }
    }
    Ok(dirs.iter().map(|dir| dir.join("cgroup.procs")).collect())
}

/// The CFS quota (µs per period) for `millis` millicores; at least the
/// kernel's minimum of 1 ms.
fn cpu_quota(millis: u64) -> u64 {
    (millis.saturating_mul(CPU_PERIOD_US) / 1000).max(1000)
}

/// The pids listed in the container's cgroup.
pub(super) fn members(uid: &str, container: &str) -> Vec<u32> {
    let mut pids: Vec<u32> = container_dirs(uid, container)
        .iter()
        .filter_map(|dir| std::fs::read_to_string(dir.join("cgroup.procs")).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|line| line.trim().parse().ok())
                .collect::<Vec<u32>>()
        })
        .filter(|pid| *pid > 1)
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// SIGKILL to every process in the container's cgroup (also those that
/// left its process group); false if there were none.
pub(super) fn kill_all(uid: &str, container: &str) -> bool {
    let pids = members(uid, container);
    if pids.is_empty() {
        return false;
    }
    tracing::info!(
        uid,
        container,
        ?pids,
        "SIGKILL to what remains in a container's cgroup"
    );
    let sent = std::process::Command::new("kill")
        .args(["-s", "KILL", "--"])
        .args(pids.iter().map(u32::to_string))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if let Err(error) = sent {
        tracing::error!(uid, container, %error, "cannot run kill to empty a cgroup");
    }
    true
}

/// True if the kernel OOM-killed a process of the container's cgroup (since
/// it was made).
pub(super) fn oom_killed(uid: &str, container: &str) -> bool {
    let file = match hierarchy() {
        None => return false,
        Some(Hierarchy::V2 { .. }) => "memory.events",
        Some(Hierarchy::V1 { .. }) => "memory.oom_control",
    };
    let Some(dir) = container_dirs(uid, container).into_iter().next() else {
        return false;
    };
    std::fs::read_to_string(dir.join(file)).is_ok_and(|text| oom_kills(&text) > 0)
}

/// The `oom_kill` counter of `memory.events` (v2) or `memory.oom_control`
/// (v1): both are `key value` lines.
fn oom_kills(text: &str) -> u64 {
    text.lines()
        .filter_map(|line| line.split_once(' '))
        .find(|(key, _)| *key == "oom_kill")
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0)
}

/// Removes the cgroups of a pod's `containers`, then the pod's. True when
/// none is left; a cgroup still busy (its processes not yet gone) is
/// logged and left when `last_try`.
pub(super) fn remove_pod<'a>(
    uid: &str,
    containers: impl IntoIterator<Item = &'a str>,
    last_try: bool,
) -> bool {
    let mut removed = true;
    let mut remove = |dir: &Path| match std::fs::remove_dir(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => {
            removed = false;
            if last_try {
                tracing::warn!(path = %dir.display(), %error, "cannot remove a cgroup");
            }
        }
    };
    for container in containers {
        for dir in container_dirs(uid, container) {
            remove(&dir);
        }
    }
    for dir in pod_dirs(uid) {
        remove(&dir);
    }
    removed
}

/// Parses a Kubernetes quantity (`500m`, `1.5`, `64Mi`, `1G`, `1e3`) and
/// returns it times `scale` (1000 for millicores, 1 for bytes), rounded up.
fn parse_quantity(text: &str, scale: u64) -> Option<u64> {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(end);
    let number: f64 = number.strip_prefix('+').unwrap_or(number).parse().ok()?;
    let factor: f64 = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent => {
            let exponent: i32 = exponent.strip_prefix(['e', 'E'])?.parse().ok()?;
            10f64.powi(exponent)
        }
    };
    let value = (number * factor * scale as f64).ceil();
    (value.is_finite() && value >= 0.0 && value < u64::MAX as f64).then_some(value as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_as_kubernetes_writes_them() {
        let cases = [
            ("64Mi", 1, Some(64 << 20)),
            ("1G", 1, Some(1_000_000_000)),
            ("1e3", 1, Some(1000)),
            ("500m", 1000, Some(500)),
            ("1.5", 1000, Some(1500)),
            ("2", 1000, Some(2000)),
            ("0.1m", 1000, Some(1)),
            ("", 1, None),
            ("x", 1, None),
            ("-1", 1, None),
            ("1Zi", 1, None),
        ];
        for (text, scale, expected) in cases {
            assert_eq!(parse_quantity(text, scale), expected, "{text}");
        }
    }

    #[test]
    fn limits_come_from_the_container_resources() {
        let container = serde_json::json!({
            "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}, "requests": {"cpu": 1}}
        });
        assert_eq!(
            Limits::of(&container),
            Limits {
                memory_bytes: Some(64 << 20),
                cpu_millis: Some(500)
            }
        );
        let numeric = serde_json::json!({"resources": {"limits": {"cpu": 2}}});
        assert_eq!(Limits::of(&numeric).cpu_millis, Some(2000));
        assert_eq!(Limits::of(&serde_json::json!({})), Limits::default());
        assert_eq!(cpu_quota(500), 50_000);
        assert_eq!(cpu_quota(1), 1000);
    }

    #[test]
    fn oom_kill_counters_are_read_from_both_formats() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        let v2 = "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!((oom_kills(v1), oom_kills(v2)), (2, 1));
        assert_eq!(oom_kills("oom_kill_disable 0\nunder_oom 0\n"), 0);
    }
}
