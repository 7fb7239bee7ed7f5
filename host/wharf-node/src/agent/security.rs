//! Who a container runs as, from its pod's and its own `securityContext`
//! as the kubelet reads them: `runAsUser`, `runAsGroup` (the container's
//! over the pod's), `fsGroup` and `supplementalGroups` (the pod's), and
//! `runAsNonRoot`, which refuses to start a container that would run as
//! root. The process driver has no image to name a user: a container with
//! no `runAsUser` runs as the agent's user (root).
//!
//! Volumes follow kube's ownership rules: with an `fsGroup`, a volume's
//! files belong to that group and are group-readable (the token 0640);
//! when every container runs as one `runAsUser`, the projected token
//! belongs to that user (it stays 0600).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

/// The identity a container's process takes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct RunAs {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// `fsGroup` and `supplementalGroups`.
    pub groups: Vec<u32>,
}

impl RunAs {
    /// Whether the process keeps the agent's identity.
    pub fn is_agent(&self) -> bool {
        self.uid.is_none() && self.gid.is_none() && self.groups.is_empty()
    }

    /// The `setpriv` arguments that take this identity before the program
    /// runs (none when it keeps the agent's).
    pub fn setpriv_args(&self) -> Vec<String> {
        if self.is_agent() {
            return Vec::new();
        }
        let mut args = Vec::new();
        if let Some(uid) = self.uid {
            args.push(format!("--reuid={uid}"));
        }
        // A user without a group of its own gets group 0 as the kubelet's
        // runtimes give it (the image's passwd entry aside).
        args.push(format!("--regid={}", self.gid.unwrap_or(0)));
        if self.groups.is_empty() {
            args.push("--clear-groups".into());
        } else {
            let groups: Vec<String> = self.groups.iter().map(u32::to_string).collect();
            args.push(format!("--groups={}", groups.join(",")));
        }
        args.push("--".into());
        args
    }
}

fn id_at(value: Option<&Value>, field: &str) -> Result<Option<u32>, String> {
    match value.and_then(|context| context.get(field)) {
        None | Some(Value::Null) => Ok(None),
        Some(id) => id
            .as_u64()
            .and_then(|id| u32::try_from(id).ok())
            .map(Some)
            .ok_or_else(|| format!("securityContext.{field} must be a user or group id, not {id}")),
    }
}

/// The identity of `container` in `pod`, or why it may not start (the
/// message of its `CreateContainerConfigError`).
pub(super) fn run_as(pod: &Value, container: &Value) -> Result<RunAs, String> {
    let pod_context = pod.pointer("/spec/securityContext");
    let own = container.get("securityContext");
    let pick = |field: &str| -> Result<Option<u32>, String> {
        Ok(id_at(own, field)?.or(id_at(pod_context, field)?))
    };
    let uid = pick("runAsUser")?;
    let gid = pick("runAsGroup")?;
    let mut groups = Vec::new();
    if let Some(fs_group) = id_at(pod_context, "fsGroup")? {
        groups.push(fs_group);
    }
    for group in pod_context
        .and_then(|c| c.get("supplementalGroups"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let group = group
            .as_u64()
            .and_then(|g| u32::try_from(g).ok())
            .ok_or("securityContext.supplementalGroups must hold group ids")?;
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    let non_root = own
        .and_then(|c| c.get("runAsNonRoot"))
        .or_else(|| pod_context.and_then(|c| c.get("runAsNonRoot")))
        .and_then(Value::as_bool)
        == Some(true);
    if non_root && uid.unwrap_or(0) == 0 {
        return Err(match uid {
            Some(_) => "container's runAsUser breaks non-root policy".to_string(),
            None => "container has runAsNonRoot and image will run as root (set runAsUser: the process runtime has no image user)".to_string(),
        });
    }
    Ok(RunAs { uid, gid, groups })
}

/// The pod's `fsGroup`, and the one `runAsUser` all its containers run as
/// (if they agree on one).
pub(super) fn volume_owner(pod: &Value) -> (Option<u32>, Option<u32>) {
    let fs_group = id_at(pod.pointer("/spec/securityContext"), "fsGroup")
        .ok()
        .flatten();
    let mut users = ["initContainers", "containers"]
        .iter()
        .flat_map(|list| {
            pod.pointer(&format!("/spec/{list}"))
                .and_then(Value::as_array)
        })
        .flatten()
        .map(|container| run_as(pod, container).ok().and_then(|r| r.uid));
    let first = users.next().flatten();
    let single = if users.all(|uid| uid == first) {
        first
    } else {
        None
    };
    (fs_group, single)
}

/// Gives a written volume directory its owners: with an `fsGroup` every
/// file and directory belongs to it and is group-readable (directories
/// group-searchable, setgid); a token (`token_files`) goes to the pod's one
/// user, if it has one.
pub(super) fn own_volume(
    dir: &Path,
    fs_group: Option<u32>,
    user: Option<u32>,
    token_files: &[&str],
) -> std::io::Result<()> {
    if let Some(group) = fs_group {
        chgrp_tree(dir, group)?;
    }
    if let Some(uid) = user {
        for file in token_files {
            let path = dir.join(file);
            if path.exists() {
                std::os::unix::fs::chown(&path, Some(uid), None)?;
            }
        }
    }
    Ok(())
}

fn chgrp_tree(path: &Path, group: u32) -> std::io::Result<()> {
    let metadata = std::fs::symlink_metadata(path)?;
    if metadata.file_type().is_symlink() {
        return Ok(());
    }
    std::os::unix::fs::chown(path, None, Some(group))?;
    let mode = metadata.permissions().mode() & 0o7777;
    if metadata.is_dir() {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o2050))?;
        for entry in std::fs::read_dir(path)? {
            chgrp_tree(&entry?.path(), group)?;
        }
    } else {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o040))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_containers_context_wins_and_groups_come_from_the_pod() {
        let pod = json!({"spec": {"securityContext": {"runAsUser": 1000, "runAsGroup": 3000,
            "fsGroup": 2000, "supplementalGroups": [4000, 2000]}}});
        let own = json!({"securityContext": {"runAsUser": 1001}});
        assert_eq!(
            run_as(&pod, &own).unwrap(),
            RunAs {
                uid: Some(1001),
                gid: Some(3000),
                groups: vec![2000, 4000]
            }
        );
        assert_eq!(
            run_as(&pod, &own).unwrap().setpriv_args(),
            ["--reuid=1001", "--regid=3000", "--groups=2000,4000", "--"]
        );
        let plain = run_as(&json!({"spec": {}}), &json!({})).unwrap();
        assert!(plain.is_agent());
        assert!(plain.setpriv_args().is_empty());
        let user_only = run_as(&json!({"spec": {}}), &own).unwrap();
        assert_eq!(
            user_only.setpriv_args(),
            ["--reuid=1001", "--regid=0", "--clear-groups", "--"]
        );
    }

    #[test]
    fn run_as_non_root_refuses_root_and_an_unset_user() {
        let pod = json!({"spec": {"securityContext": {"runAsNonRoot": true}}});
        assert!(
            run_as(&pod, &json!({}))
                .unwrap_err()
                .contains("runAsNonRoot")
        );
        let root = json!({"securityContext": {"runAsUser": 0}});
        assert_eq!(
            run_as(&pod, &root).unwrap_err(),
            "container's runAsUser breaks non-root policy"
        );
        let user = json!({"securityContext": {"runAsUser": 1000}});
        assert_eq!(run_as(&pod, &user).unwrap().uid, Some(1000));
        let opted_out = json!({"securityContext": {"runAsNonRoot": false}});
        assert!(run_as(&pod, &opted_out).is_ok());
        assert!(
            run_as(
                &json!({"spec": {}}),
                &json!({"securityContext": {"runAsUser": -1}})
            )
            .is_err()
        );
    }

    #[test]
    fn a_volume_owner_is_the_pods_one_user_and_its_fs_group() {
        let pod = |containers: Value| json!({"spec": {"securityContext": {"fsGroup": 2000}, "containers": containers}});
        let same = pod(
            json!([{"securityContext": {"runAsUser": 5}}, {"securityContext": {"runAsUser": 5}}]),
        );
        assert_eq!(volume_owner(&same), (Some(2000), Some(5)));
        let mixed = pod(json!([{"securityContext": {"runAsUser": 5}}, {}]));
        assert_eq!(volume_owner(&mixed), (Some(2000), None));
    }

    #[test]
    fn an_fs_group_owns_the_volume_and_may_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let volume = dir.path().join("v");
        std::fs::create_dir_all(volume.join("sub")).unwrap();
        std::fs::write(volume.join("sub/key"), "x").unwrap();
        std::fs::set_permissions(
            volume.join("sub/key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        std::fs::write(volume.join("token"), "t").unwrap();
        own_volume(&volume, Some(2000), Some(1000), &["token"]).unwrap();
        use std::os::unix::fs::MetadataExt;
        let key = std::fs::metadata(volume.join("sub/key")).unwrap();
        assert_eq!((key.gid(), key.mode() & 0o777), (2000, 0o640));
        let sub = std::fs::metadata(volume.join("sub")).unwrap();
        assert_eq!(sub.mode() & 0o2050, 0o2050);
        assert_eq!(std::fs::metadata(volume.join("token")).unwrap().uid(), 1000);
    }
}
