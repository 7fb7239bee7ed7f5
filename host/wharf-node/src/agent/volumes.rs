//! A pod's volumes, as the kubelet sets them up before its containers
//! start: emptyDir, configMap, secret, downwardAPI, projected (secrets,
//! ConfigMaps, the downward API and ServiceAccount tokens) and hostPath.
//!
//! Each volume is a directory of the node (`hostPath` is its own path; the
//! others live under `<data_dir>/pods/<uid>/volumes/<plugin>/<name>`, and go
//! with the pod's record). ConfigMap and Secret volumes are written from
//! the objects each time a container starts, one file per key (or per
//! `items` entry) with `defaultMode` / `mode`. A container's `volumeMounts`
//! then become [`Mount`]s, which the drivers make: the process driver bind
//! mounts them in a private mount namespace per container process, the
//! docker driver hands them to the engine as binds.
//!
//! Not done: `emptyDir.medium: Memory` (a plain directory, not tmpfs),
//! `sizeLimit`, live updates of mounted ConfigMaps and Secrets (they are
//! rewritten only when a container starts or a token is refreshed),
//! `resourceFieldRef` in downward API files, `mountPropagation`.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use base64::Engine;
use serde_json::Value;
use wharf_client::ApiError;

use super::Shared;
use super::checkpoint::pods_dir;
use super::env::list_at;
use super::env::str_at;

/// One mount of a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Mount {
    pub host_path: PathBuf,
    pub container_path: String,
    pub read_only: bool,
}

/// Why a pod's volumes cannot be set up (as the kubelet's FailedMount).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct VolumeError(pub String);

/// The directory under which a pod's volumes (all but hostPath) live.
pub(super) fn pod_volumes_dir(data_dir: &Path, uid: &str) -> PathBuf {
    pods_dir(data_dir).join(uid).join("volumes")
}

/// Sets up every volume the pod declares (again: each call refreshes what
/// they hold, in place).
pub(super) async fn prepare(
    shared: &Shared,
    pod: &Value,
    uid: &str,
) -> Result<Prepared, VolumeError> {
    let namespace = str_at(pod, "/metadata/namespace").unwrap_or("default");
    let base = pod_volumes_dir(&shared.config.data_dir, uid);
    let mut prepared = Prepared::default();
    let (fs_group, user) = super::security::volume_owner(pod);
    for volume in list_at(pod, "/spec/volumes") {
        let name = str_at(volume, "/name").unwrap_or_default();
        if !super::checkpoint::safe_name(name) {
            return Err(VolumeError(format!(
                "volume name {name:?} is not a Kubernetes name"
            )));
        }
        let failed = |message: String| {
            VolumeError(format!(
                "MountVolume.SetUp failed for volume \"{name}\" : {message}"
            ))
        };
        let path = if let Some(host) = volume.get("hostPath") {
            host_path(host).map_err(failed)?
        } else if volume.get("emptyDir").is_some() {
            let dir = base.join("empty-dir").join(name);
            std::fs::create_dir_all(&dir).map_err(|e| failed(e.to_string()))?;
            // As the kubelet's: writable by any user of the pod.
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777));
            dir
        } else if let Some(source) = volume.get("configMap") {
            let dir = base.join("configmap").join(name);
            let data = fetch(shared, namespace, source, false)
                .await
                .map_err(failed)?;
            write_keys(&dir, source, data).map_err(failed)?;
            dir
        } else if let Some(source) = volume.get("secret") {
            let dir = base.join("secret").join(name);
            let data = fetch(shared, namespace, source, true)
                .await
                .map_err(failed)?;
            write_keys(&dir, source, data).map_err(failed)?;
            dir
        } else if let Some(source) = volume.get("projected") {
            let dir = base.join("projected").join(name);
            let (files, refresh) = projected_files(shared, pod, source).await.map_err(failed)?;
            write_files(&dir, &files).map_err(failed)?;
            if let Some(at) = refresh {
                prepared.refresh_at = Some(prepared.refresh_at.map_or(at, |r| r.min(at)));
            }
            dir
        } else if let Some(source) = volume.get("downwardAPI") {
            let dir = base.join("downward-api").join(name);
            let files = downward_files(pod, source, mode_of(source, "defaultMode", 0o644))
                .map_err(failed)?;
            write_files(&dir, &files).map_err(failed)?;
            dir
        } else {
            return Err(failed(
                "this volume type is not supported (emptyDir, configMap, secret, projected, downwardAPI and hostPath are)"
                    .into(),
            ));
        };
        if volume.get("hostPath").is_none() && (fs_group.is_some() || user.is_some()) {
            let tokens: Vec<&str> = list_at(volume, "/projected/sources")
                .filter_map(|source| source.get("serviceAccountToken"))
                .map(|token| str_at(token, "/path").unwrap_or("token"))
                .collect();
            super::security::own_volume(&path, fs_group, user, &tokens)
                .map_err(|e| failed(format!("cannot give the volume to the pod's user: {e}")))?;
        }
        prepared.paths.insert(name.to_string(), path);
    }
    Ok(prepared)
}

/// A pod's prepared volumes: their host directories by name, and when the
/// earliest of their tokens needs refreshing.
#[derive(Default)]
pub(super) struct Prepared {
    pub paths: HashMap<String, PathBuf>,
    pub refresh_at: Option<Instant>,
}

/// The container's mounts, from its `volumeMounts` over the prepared
/// volumes.
pub(super) fn mounts(
    container: &Value,
    prepared: &HashMap<String, PathBuf>,
) -> Result<Vec<Mount>, VolumeError> {
    let mut mounts = Vec::new();
    for mount in list_at(container, "/volumeMounts") {
        let name = str_at(mount, "/name").unwrap_or_default();
        let Some(source) = prepared.get(name) else {
            return Err(VolumeError(format!(
                "volumeMount {name:?} names no volume of the pod"
            )));
        };
        let container_path = str_at(mount, "/mountPath").unwrap_or_default();
        if !container_path.starts_with('/') {
            return Err(VolumeError(format!(
                "the mountPath of volume {name:?} must be absolute"
            )));
        }
        let mut host_path = source.clone();
        if let Some(sub_path) = str_at(mount, "/subPath").filter(|p| !p.is_empty()) {
            let relative = Path::new(sub_path);
            if relative.is_absolute()
                || relative
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(VolumeError(format!(
                    "subPath {sub_path:?} must be a relative path inside the volume"
                )));
            }
            host_path = host_path.join(relative);
            if !host_path.exists() {
                std::fs::create_dir_all(&host_path)
                    .map_err(|e| VolumeError(format!("cannot create subPath {sub_path:?}: {e}")))?;
            }
        }
        mounts.push(Mount {
            host_path,
            container_path: container_path.to_string(),
            read_only: mount.get("readOnly").and_then(Value::as_bool) == Some(true),
        });
    }
    Ok(mounts)
}

/// The `sh` commands that make `mounts` in the current (private) mount
/// namespace, creating missing targets first; each is recorded in
/// `created` (the topmost path made), for the pod's teardown.
pub(super) fn mount_script(
    mounts: &[Mount],
    created: &mut Vec<PathBuf>,
) -> Result<String, VolumeError> {
    let mut script = String::new();
    for mount in mounts {
        let target = Path::new(&mount.container_path);
        let is_file = mount.host_path.is_file();
        if !target.exists() {
            let mut top = target.to_path_buf();
            while let Some(parent) = top.parent() {
                if parent.exists() {
                    break;
                }
                top = parent.to_path_buf();
            }
            let made = if is_file {
                target
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| std::fs::File::create(target).map(drop))
            } else {
                std::fs::create_dir_all(target)
            };
            made.map_err(|e| {
                VolumeError(format!(
                    "cannot create the mount point {}: {e}",
                    target.display()
                ))
            })?;
            created.push(top);
        }
        let (source, target) = (quote(&mount.host_path)?, quote(target)?);
        let mount_command = super::process::binary("mount");
        script.push_str(&format!("{mount_command} --bind {source} {target} && "));
        if mount.read_only {
            script.push_str(&format!("{mount_command} -o remount,bind,ro {target} && "));
        }
    }
    Ok(script)
}

/// Removes the mount points made for a pod's containers, if empty (what
/// the pod wrote into a volume stays in the volume, not there).
pub(super) fn remove_created(created: &[PathBuf]) {
    for top in created {
        remove_empty(top);
    }
}

fn remove_empty(path: &Path) {
    if path.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                remove_empty(&entry.path());
            }
        }
        let _ = std::fs::remove_dir(path);
    } else if path.metadata().is_ok_and(|m| m.len() == 0) {
        let _ = std::fs::remove_file(path);
    }
}

fn quote(path: &Path) -> Result<String, VolumeError> {
    let text = path
        .to_str()
        .filter(|text| !text.contains('\''))
        .ok_or_else(|| VolumeError(format!("{} is a path sh cannot quote", path.display())))?;
    Ok(format!("'{text}'"))
}

fn host_path(source: &Value) -> Result<PathBuf, String> {
    let path = str_at(source, "/path").unwrap_or_default();
    if !path.starts_with('/') {
        return Err(format!("hostPath {path:?} must be absolute"));
    }
    let path = PathBuf::from(path);
    let kind = str_at(source, "/type").unwrap_or_default();
    let found = |ok: bool, what: &str| {
        if ok {
            Ok(path.clone())
        } else {
            Err(format!(
                "hostPath type check failed: {} is not a {what}",
                path.display()
            ))
        }
    };
    match kind {
        "" => Ok(path),
        "DirectoryOrCreate" => {
            std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
            Ok(path)
        }
        "FileOrCreate" => {
            if !path.exists() {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                std::fs::File::create(&path).map_err(|e| e.to_string())?;
            }
            Ok(path)
        }
        "Directory" => found(path.is_dir(), "directory"),
        "File" => found(path.is_file(), "file"),
        "Socket" | "CharDevice" | "BlockDevice" => found(path.exists(), kind),
        other => Err(format!("hostPath type {other:?} is not supported")),
    }
}

/// The ConfigMap's or Secret's data as bytes by key; `None` for an
/// optional one that does not exist.
async fn fetch(
    shared: &Shared,
    namespace: &str,
    source: &Value,
    secret: bool,
) -> Result<Option<Vec<(String, Vec<u8>)>>, String> {
    let (name_field, kind, resource) = if secret {
        ("/secretName", "secret", &shared.resources.secrets)
    } else {
        ("/name", "configmap", &shared.resources.config_maps)
    };
    let name = str_at(source, name_field).unwrap_or_default();
    let optional = source.get("optional").and_then(Value::as_bool) == Some(true);
    let object = match shared.client.get(resource, Some(namespace), name).await {
        Ok(object) => object,
        Err(ApiError::NotFound { .. }) if optional => return Ok(None),
        Err(ApiError::NotFound { .. }) => return Err(format!("{kind} \"{name}\" not found")),
        Err(error) => return Err(format!("cannot read {kind} \"{name}\": {error}")),
    };
    let mut data = Vec::new();
    if let Some(map) = object.get("data").and_then(Value::as_object) {
        for (key, value) in map {
            let text = value.as_str().unwrap_or_default();
            let bytes = if secret {
                base64::engine::general_purpose::STANDARD
                    .decode(text.as_bytes())
                    .map_err(|_| format!("key {key:?} of {kind} \"{name}\" is not base64"))?
            } else {
                text.as_bytes().to_vec()
            };
            data.push((key.clone(), bytes));
        }
    }
    if !secret && let Some(map) = object.get("binaryData").and_then(Value::as_object) {
        for (key, value) in map {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value.as_str().unwrap_or_default().as_bytes())
                .map_err(|_| {
                    format!("binaryData key {key:?} of configmap \"{name}\" is not base64")
                })?;
            data.push((key.clone(), bytes));
        }
    }
    Ok(Some(data))
}

/// One file of a volume: its path inside the volume, contents and mode.
type VolumeFile = (String, Vec<u8>, u32);

/// The files the keys make (all, or the `items` chosen, with their paths
/// and modes).
fn select_keys(
    source: &Value,
    data: Option<Vec<(String, Vec<u8>)>>,
    default_mode: u32,
) -> Result<Vec<VolumeFile>, String> {
    let mut data: HashMap<String, Vec<u8>> = data.unwrap_or_default().into_iter().collect();
    match source.get("items").and_then(Value::as_array) {
        Some(items) => {
            let mut chosen = Vec::new();
            for item in items {
                let key = str_at(item, "/key").unwrap_or_default().to_string();
                let Some(bytes) = data.get(&key) else {
                    return Err(format!("key {key:?} is not in the object"));
                };
                let path = str_at(item, "/path").unwrap_or(&key).to_string();
                chosen.push((path, bytes.clone(), mode_of(item, "mode", default_mode)));
            }
            Ok(chosen)
        }
        None => {
            let mut all: Vec<VolumeFile> = data
                .drain()
                .map(|(key, bytes)| (key, bytes, default_mode))
                .collect();
            all.sort();
            Ok(all)
        }
    }
}

fn mode_of(value: &Value, field: &str, default: u32) -> u32 {
    value
        .get(field)
        .and_then(Value::as_u64)
        .map_or(default, |m| m as u32 & 0o777)
}

/// Writes the keys (all, or the `items` chosen) into `dir`.
fn write_keys(
    dir: &Path,
    source: &Value,
    data: Option<Vec<(String, Vec<u8>)>>,
) -> Result<(), String> {
    let files = select_keys(source, data, mode_of(source, "defaultMode", 0o644))?;
    write_files(dir, &files)
}

/// Makes `dir` hold exactly `files`. Each file is replaced by a rename
/// and the directory itself stays, so containers that bind-mounted it
/// see the new contents (a refreshed token, another container's start)
/// and never a half-written file.
fn write_files(dir: &Path, files: &[VolumeFile]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut wanted = std::collections::HashSet::new();
    for (path, bytes, mode) in files {
        let relative = Path::new(path);
        if path.is_empty()
            || relative.is_absolute()
            || relative
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(format!(
                "path {path:?} must be relative and stay inside the volume"
            ));
        }
        let file = dir.join(relative);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let temporary = file.with_file_name(format!("..{name}.tmp"));
        std::fs::write(&temporary, bytes).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(*mode))
            .map_err(|e| e.to_string())?;
        std::fs::rename(&temporary, &file).map_err(|e| e.to_string())?;
        wanted.insert(file);
    }
    remove_unwanted(dir, &wanted);
    Ok(())
}

/// Removes what is under `dir` and not `wanted` (nor a parent of it).
fn remove_unwanted(dir: &Path, wanted: &std::collections::HashSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if wanted.contains(&path) {
            continue;
        }
        if path.is_dir() && !path.is_symlink() {
            if wanted.iter().any(|w| w.starts_with(&path)) {
                remove_unwanted(&path, wanted);
            } else {
                let _ = std::fs::remove_dir_all(&path);
            }
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// A downward API file's contents: the pod's name, namespace, UID, labels
/// or annotations (`key="value"` lines, sorted, as the kubelet writes
/// them), or one label or annotation.
fn downward_field(pod: &Value, path: &str) -> Result<String, String> {
    let pairs = |map: Option<&Value>| {
        let mut lines: Vec<String> = map
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap_or_default()))
            .collect();
        lines.sort();
        lines.join("\n")
    };
    let one = |map: &str, key: &str| {
        pod.pointer(&format!("/metadata/{map}"))
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(match path {
        "metadata.name" | "metadata.namespace" | "metadata.uid" => {
            let field = &path["metadata.".len()..];
            str_at(pod, &format!("/metadata/{field}"))
                .unwrap_or_default()
                .to_string()
        }
        "metadata.labels" => pairs(pod.pointer("/metadata/labels")),
        "metadata.annotations" => pairs(pod.pointer("/metadata/annotations")),
        other => {
            let keyed = |prefix: &str| {
                other
                    .strip_prefix(prefix)
                    .and_then(|rest| rest.strip_prefix("['"))
                    .and_then(|rest| rest.strip_suffix("']"))
            };
            if let Some(key) = keyed("metadata.labels") {
                one("labels", key)
            } else if let Some(key) = keyed("metadata.annotations") {
                one("annotations", key)
            } else {
                return Err(format!(
                    "fieldPath {other:?} is not supported in a downward API volume"
                ));
            }
        }
    })
}

/// The files of a downwardAPI volume or projection.
fn downward_files(
    pod: &Value,
    source: &Value,
    default_mode: u32,
) -> Result<Vec<VolumeFile>, String> {
    let mut files = Vec::new();
    for item in list_at(source, "/items") {
        let path = str_at(item, "/path").unwrap_or_default().to_string();
        let Some(field) = str_at(item, "/fieldRef/fieldPath") else {
            return Err(format!(
                "item {path:?}: only fieldRef is supported in a downward API volume"
            ));
        };
        let value = downward_field(pod, field)?;
        files.push((
            path,
            value.into_bytes(),
            mode_of(item, "mode", default_mode),
        ));
    }
    Ok(files)
}

/// How much of a projected token's life passes before the agent asks for
/// a new one (the kubelet's: 80%).
const TOKEN_REFRESH_FRACTION: f64 = 0.8;

/// A token for the pod's ServiceAccount, bound to the pod, as the
/// projection asks (audience, lifetime); with when to refresh it.
async fn projected_token(
    shared: &Shared,
    pod: &Value,
    source: &Value,
) -> Result<(Vec<u8>, Instant), String> {
    let namespace = str_at(pod, "/metadata/namespace").unwrap_or("default");
    let account = str_at(pod, "/spec/serviceAccountName")
        .filter(|a| !a.is_empty())
        .unwrap_or("default");
    let expiration = source
        .get("expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    let mut spec = serde_json::json!({
        "expirationSeconds": expiration,
        "boundObjectRef": {
            "kind": "Pod",
            "apiVersion": "v1",
            "name": str_at(pod, "/metadata/name").unwrap_or_default(),
            "uid": str_at(pod, "/metadata/uid").unwrap_or_default(),
        },
    });
    if let Some(audience) = str_at(source, "/audience").filter(|a| !a.is_empty()) {
        spec["audiences"] = serde_json::json!([audience]);
    }
    let request = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": spec,
    });
    let answer = shared
        .client
        .create_token(namespace, account, &request)
        .await
        .map_err(|e| format!("failed to fetch token: {e}"))?;
    let token = str_at(&answer, "/status/token")
        .filter(|t| !t.is_empty())
        .ok_or("failed to fetch token: the answer holds none")?;
    let lifetime = answer
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(expiration)
        .max(60) as f64;
    let refresh = Instant::now() + Duration::from_secs_f64(lifetime * TOKEN_REFRESH_FRACTION);
    Ok((token.as_bytes().to_vec(), refresh))
}

/// The files of a projected volume, from each of its sources in order;
/// with when its tokens need refreshing.
async fn projected_files(
    shared: &Shared,
    pod: &Value,
    source: &Value,
) -> Result<(Vec<VolumeFile>, Option<Instant>), String> {
    let namespace = str_at(pod, "/metadata/namespace").unwrap_or("default");
    let default_mode = mode_of(source, "defaultMode", 0o644);
    let mut files = Vec::new();
    let mut refresh = None;
    for projection in list_at(source, "/sources") {
        if let Some(secret) = projection.get("secret") {
            let mut secret = secret.clone();
            // A projection names its Secret by `name`.
            secret["secretName"] = secret.get("name").cloned().unwrap_or_default();
            let data = fetch(shared, namespace, &secret, true).await?;
            files.extend(select_keys(&secret, data, default_mode)?);
        } else if let Some(config_map) = projection.get("configMap") {
            let data = fetch(shared, namespace, config_map, false).await?;
            files.extend(select_keys(config_map, data, default_mode)?);
        } else if let Some(downward) = projection.get("downwardAPI") {
            files.extend(downward_files(pod, downward, default_mode)?);
        } else if let Some(token) = projection.get("serviceAccountToken") {
            let path = str_at(token, "/path").unwrap_or("token").to_string();
            let (bytes, at) = projected_token(shared, pod, token).await?;
            // Only the pod's user reads its token (the kubelet's 0600
            // unless the pod sets an fsGroup).
            files.push((path, bytes, 0o600));
            refresh = Some(refresh.map_or(at, |r: Instant| r.min(at)));
        } else {
            return Err("a projected volume source must be a secret, configMap, downwardAPI or serviceAccountToken".into());
        }
    }
    Ok((files, refresh))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn files_are_replaced_in_place_and_stale_ones_removed() {
        let dir = tempfile::tempdir().unwrap();
        let volume = dir.path().join("v");
        let file = |path: &str, text: &str| (path.to_string(), text.as_bytes().to_vec(), 0o600);
        write_files(&volume, &[file("token", "one"), file("sub/ca.crt", "ca")]).unwrap();
        // A container's bind mount holds the directory itself: it must stay.
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&volume).unwrap());
        write_files(&volume, &[file("token", "two")]).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&volume).unwrap()),
            inode
        );
        assert_eq!(
            std::fs::read_to_string(volume.join("token")).unwrap(),
            "two"
        );
        assert!(!volume.join("sub").exists());
        let names: Vec<_> = std::fs::read_dir(&volume)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["token"]);
        let mode = std::fs::metadata(volume.join("token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(write_files(&volume, &[file("../escape", "x")]).is_err());
    }

    #[test]
    fn the_downward_api_writes_the_pods_metadata_as_the_kubelet_does() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u-1",
            "labels": {"b": "2", "a": "1"}, "annotations": {"note": "hi"}}});
        let source = json!({"items": [
            {"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}},
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}, "mode": 0o400},
            {"path": "note", "fieldRef": {"fieldPath": "metadata.annotations['note']"}},
        ]});
        let files = downward_files(&pod, &source, 0o644).unwrap();
        assert_eq!(files[0], ("namespace".into(), b"ns".to_vec(), 0o644));
        assert_eq!(
            files[1],
            ("labels".into(), b"a=\"1\"\nb=\"2\"".to_vec(), 0o400)
        );
        assert_eq!(files[2].1, b"hi");
        let unsupported =
            json!({"items": [{"path": "x", "fieldRef": {"fieldPath": "status.podIP"}}]});
        assert!(downward_files(&pod, &unsupported, 0o644).is_err());
    }

    #[test]
    fn keys_are_written_with_their_modes_and_items_choose_and_rename() {
        let dir = tempfile::tempdir().unwrap();
        let data = Some(vec![
            ("a".to_string(), b"1".to_vec()),
            ("b".to_string(), b"2".to_vec()),
        ]);
        write_keys(dir.path(), &json!({"defaultMode": 0o600}), data.clone()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"1");
        let mode = std::fs::metadata(dir.path().join("b"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let source = json!({"items": [{"key": "b", "path": "sub/renamed", "mode": 0o400}]});
        write_keys(dir.path(), &source, data.clone()).unwrap();
        assert!(!dir.path().join("a").exists());
        assert_eq!(std::fs::read(dir.path().join("sub/renamed")).unwrap(), b"2");
        let escape = json!({"items": [{"key": "a", "path": "../x"}]});
        assert!(write_keys(dir.path(), &escape, data.clone()).is_err());
        let missing = json!({"items": [{"key": "zz"}]});
        assert!(write_keys(dir.path(), &missing, data).is_err());
    }

    #[test]
    fn volume_mounts_name_prepared_volumes_and_sub_paths_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let prepared = HashMap::from([("data".to_string(), dir.path().to_path_buf())]);
        let container = json!({"volumeMounts": [
            {"name": "data", "mountPath": "/data", "readOnly": true},
            {"name": "data", "mountPath": "/logs", "subPath": "logs"},
        ]});
        let made = mounts(&container, &prepared).unwrap();
        assert_eq!(
            made[0],
            Mount {
                host_path: dir.path().into(),
                container_path: "/data".into(),
                read_only: true
            }
        );
        assert_eq!(made[1].host_path, dir.path().join("logs"));
        assert!(dir.path().join("logs").is_dir());
        for bad in [
            json!({"volumeMounts": [{"name": "other", "mountPath": "/x"}]}),
            json!({"volumeMounts": [{"name": "data", "mountPath": "relative"}]}),
            json!({"volumeMounts": [{"name": "data", "mountPath": "/x", "subPath": "../up"}]}),
        ] {
            assert!(mounts(&bad, &prepared).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_paths_are_checked_by_type() {
        let dir = tempfile::tempdir().unwrap();
        let made = dir.path().join("made");
        let source = json!({"path": made.to_str().unwrap(), "type": "DirectoryOrCreate"});
        assert_eq!(host_path(&source).unwrap(), made);
        assert!(made.is_dir());
        assert!(host_path(&json!({"path": made.to_str().unwrap(), "type": "File"})).is_err());
        assert!(host_path(&json!({"path": "relative"})).is_err());
    }

    #[test]
    fn mount_points_made_for_a_container_are_removed_when_empty() {
        let dir = tempfile::tempdir().unwrap();
        let volume = dir.path().join("volume");
        std::fs::create_dir(&volume).unwrap();
        let target = dir.path().join("new/deeper/mount");
        let mut created = Vec::new();
        let script = mount_script(
            &[Mount {
                host_path: volume.clone(),
                container_path: target.to_str().unwrap().into(),
                read_only: true,
            }],
            &mut created,
        )
        .unwrap();
        assert!(target.is_dir());
        assert_eq!(created, [dir.path().join("new")]);
        assert!(
            script.contains("mount --bind") && script.contains("-o remount,bind,ro"),
            "{script}"
        );
        remove_created(&created);
        assert!(!dir.path().join("new").exists());
    }
}
