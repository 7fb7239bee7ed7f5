//! Where container logs go: one file per container start, laid out as the
//! kubelet lays out `/var/log/pods`.
//!
//! A file holds the process's stdout and stderr as written (both opened in
//! append mode), not the CRI log format with a timestamp and stream per
//! line: the process writes to the file itself, with no agent copying
//! between, so its output is kept while the agent restarts.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// The log file of a container's `restart`-th start (0 is the first) in
/// pod `namespace/pod` with UID `uid`:
/// `<data_dir>/logs/<namespace>_<pod>_<uid>/<container>/<restart>.log`.
///
/// The names are Kubernetes names (DNS labels and subdomains, UIDs), which
/// hold no `/`; the agent runs no pod whose names would leave the directory.
pub fn container_log_path(
    data_dir: &Path,
    namespace: &str,
    pod: &str,
    uid: &str,
    container: &str,
    restart: u32,
) -> PathBuf {
    pod_logs_dir(data_dir, namespace, pod, uid)
        .join(container)
        .join(format!("{restart}.log"))
}

/// Every pod's log directory is under this one.
pub(crate) fn logs_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

/// The directory of one pod's logs, removed with the pod.
pub(super) fn pod_logs_dir(data_dir: &Path, namespace: &str, pod: &str, uid: &str) -> PathBuf {
    logs_dir(data_dir).join(format!("{namespace}_{pod}_{uid}"))
}

/// Opens (creating it and its directory) a log file for appending.
pub(super) fn open_log(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_paths_follow_the_kubelet_layout() {
        let path = container_log_path(Path::new("/data"), "default", "web", "u-1", "app", 2);
        assert_eq!(path, Path::new("/data/logs/default_web_u-1/app/2.log"));
    }
}
