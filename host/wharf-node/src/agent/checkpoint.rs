//! What the agent must remember of a pod across its own restarts, in
//! `<data_dir>/pods/<uid>/checkpoint.json`: each container's process (pid
//! and start time, to adopt it rather than start it twice), restart count,
//! last termination and back-off, and whether the init containers are done.
//!
//! Written whole to a temporary file then renamed, so a reader sees the old
//! record or the new one, never half of one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::process::Identity;
use super::status::Termination;

const FILE_NAME: &str = "checkpoint.json";

/// One pod's record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct PodRecord {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    /// To stop the pod's processes if it is deleted while no agent runs.
    pub grace_period_seconds: i64,
    /// `status.startTime`: when an agent first took the pod on.
    #[serde(default)]
    pub start_time: Option<String>,
    /// Every init container completed once.
    #[serde(default)]
    pub initialized: bool,
    /// The pod finished (no container starts again) and was torn down.
    #[serde(default)]
    pub finished: bool,
    /// The pod's own address, when it has a network namespace (CNI).
    #[serde(default)]
    pub pod_ip: Option<String>,
    /// The pod's network namespace, when it took a warm one (else it is
    /// named after the pod's UID).
    #[serde(default)]
    pub netns: Option<String>,
    /// The CNI container id its network was wired as (else the pod's UID).
    #[serde(default)]
    pub cni_id: Option<String>,
    /// Its host ports, mapped by the portmap plugin.
    #[serde(default)]
    pub host_ports: Vec<wharf_cni::PortMapping>,
    /// The docker driver's pause container, holding the pod's network.
    #[serde(default)]
    pub sandbox_id: Option<String>,
    /// Mount points the process driver made on the node for the pod's
    /// volumes (the topmost directory or file each created), removed with
    /// the pod if empty.
    #[serde(default)]
    pub mount_points: Vec<std::path::PathBuf>,
    /// By container name (init and app containers' names are distinct).
    #[serde(default)]
    pub containers: BTreeMap<String, ContainerRecord>,
}

/// One container's record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct ContainerRecord {
    /// Starts after the first.
    pub restart_count: u32,
    /// Started (or tried to start) at least once.
    pub started_once: bool,
    /// Its process, while it runs.
    #[serde(default)]
    pub running: Option<RunningProcess>,
    /// How its last process ended, while it does not run.
    #[serde(default)]
    pub terminated: Option<Termination>,
    /// When it ended, in milliseconds since the epoch (for the back-off).
    #[serde(default)]
    pub finished_ms: u64,
    /// How the process before the current (or last) one ended.
    #[serde(default)]
    pub last_termination: Option<Termination>,
    /// The delay before the next restart; none: restart at once.
    #[serde(default)]
    pub back_off_ms: Option<u64>,
}

/// A container's running process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct RunningProcess {
    pub pid: u32,
    pub start_ticks: u64,
    /// RFC 3339, for `state.running.startedAt`.
    pub started_at: String,
    pub started_ms: u64,
    /// The runtime's id for it (`docker://<id>`); none: `process://<pid>`.
    #[serde(default)]
    pub container_id: Option<String>,
}

impl RunningProcess {
    /// `docker://<id>`, or `process://<pid>`.
    pub(super) fn container_id(&self) -> String {
        (self.container_id.clone()).unwrap_or_else(|| format!("process://{}", self.pid))
    }

    /// The Docker Engine's id of the container, if the docker driver ran it.
    pub(super) fn docker_id(&self) -> Option<&str> {
        self.container_id.as_deref()?.strip_prefix("docker://")
    }

    /// The runtime's own id of the container (after `<runtime>://`), if a
    /// driver other than `process` ran it.
    pub(super) fn runtime_id(&self) -> Option<&str> {
        Some(self.container_id.as_deref()?.split_once("://")?.1)
    }

    pub(super) fn identity(&self) -> Identity {
        Identity {
            pid: self.pid,
            start_ticks: self.start_ticks,
        }
    }
}

impl ContainerRecord {
    /// The container ID of its current or last process.
    pub(super) fn container_id(&self) -> Option<String> {
        match (&self.running, &self.terminated, &self.last_termination) {
            (Some(process), _, _) => Some(process.container_id()),
            (None, Some(t), _) | (None, None, Some(t)) if !t.container_id.is_empty() => {
                Some(t.container_id.clone())
            }
            _ => None,
        }
    }
}

/// Every pod's record directory is under this one.
pub(super) fn pods_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("pods")
}

fn pod_dir(data_dir: &Path, uid: &str) -> PathBuf {
    pods_dir(data_dir).join(uid)
}

/// The UIDs that have a record.
pub(super) fn recorded_uids(data_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(pods_dir(data_dir)) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|uid| safe_name(uid))
        .collect()
}

/// A pod's record; `None` if it has none (or an unreadable one, logged).
pub(super) fn load(data_dir: &Path, uid: &str) -> Option<PodRecord> {
    let path = pod_dir(data_dir, uid).join(FILE_NAME);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read a pod's checkpoint");
            return None;
        }
    };
    match serde_json::from_slice::<PodRecord>(&bytes) {
        Ok(record) if record.uid == uid => Some(record),
        Ok(_) => {
            tracing::warn!(path = %path.display(), "a pod checkpoint names another pod; ignored");
            None
        }
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "a pod checkpoint is corrupt; ignored");
            None
        }
    }
}

/// Writes a pod's record (whole, then renamed into place).
pub(super) fn save(data_dir: &Path, record: &PodRecord) -> std::io::Result<()> {
    let dir = pod_dir(data_dir, &record.uid);
    std::fs::create_dir_all(&dir)?;
    let temporary = dir.join(format!("{FILE_NAME}.tmp"));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(&serde_json::to_vec(record).map_err(std::io::Error::other)?)?;
    file.sync_all()?;
    std::fs::rename(&temporary, dir.join(FILE_NAME))
}

/// Forgets a pod.
pub(super) fn remove(data_dir: &Path, uid: &str) -> std::io::Result<()> {
    match std::fs::remove_dir_all(pod_dir(data_dir, uid)) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// A name that is safe as one path component: what Kubernetes names and
/// UIDs are made of, and not `.` or `..`.
pub(super) fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        && name != "."
        && name != ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_record_loads_back_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let mut record = PodRecord {
            uid: "u-1".into(),
            namespace: "default".into(),
            name: "web".into(),
            grace_period_seconds: 30,
            ..PodRecord::default()
        };
        record.containers.insert(
            "app".into(),
            ContainerRecord {
                restart_count: 2,
                started_once: true,
                running: Some(RunningProcess {
                    pid: 42,
                    start_ticks: 7,
                    started_at: "t".into(),
                    started_ms: 1,
                    container_id: None,
                }),
                ..ContainerRecord::default()
            },
        );
        save(dir.path(), &record).unwrap();
        assert_eq!(load(dir.path(), "u-1"), Some(record.clone()));
        assert_eq!(recorded_uids(dir.path()), ["u-1"]);
        assert_eq!(
            record.containers["app"].container_id().as_deref(),
            Some("process://42")
        );
        remove(dir.path(), "u-1").unwrap();
        assert_eq!(load(dir.path(), "u-1"), None);
        remove(dir.path(), "u-1").unwrap();
    }

    #[test]
    fn a_corrupt_or_foreign_record_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let pod = pod_dir(dir.path(), "u-2");
        std::fs::create_dir_all(&pod).unwrap();
        std::fs::write(pod.join(FILE_NAME), b"{not json").unwrap();
        assert_eq!(load(dir.path(), "u-2"), None);
        std::fs::write(
            pod.join(FILE_NAME),
            br#"{"uid":"other","namespace":"","name":"","grace_period_seconds":1}"#,
        )
        .unwrap();
        assert_eq!(load(dir.path(), "u-2"), None);
    }

    #[test]
    fn only_plain_names_are_safe_path_components() {
        for good in ["u-1", "web.v2", "a_b"] {
            assert!(safe_name(good), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "x\0"] {
            assert!(!safe_name(bad), "{bad:?}");
        }
    }
}
