//! The `docker` runtime driver: a pod is a pause container that holds its
//! network namespace (wired by the CNI plugins, as dockershim did) and one
//! container per Kubernetes container joined to it, all through the Docker
//! Engine API (bollard).
//!
//! - Images must be present in the engine, or pullable: `imagePullPolicy`
//!   is honoured (`Never` refuses a missing image with
//!   `ErrImageNeverPull`; `Always` pulls; `IfNotPresent` pulls only a
//!   missing one), and a failed pull is `ErrImagePull`.
//! - The pause image (`wharf.dev/pause:1`) is built by the agent from the
//!   node's static busybox (Debian `busybox-static`) when the engine lacks
//!   it: no registry is needed.
//! - A container's stdout and stderr are followed from the engine into the
//!   same per-start log files the process driver writes, so `kubectl logs`
//!   (with `--previous`, `-f`, `--tail`) reads one format for both.
//! - Exit codes and `OOMKilled` come from the engine, also for containers a
//!   restarted agent adopts.
//! - Every container carries the label `wharf.dev/pod-uid`, so a pod's
//!   teardown removes all of its containers, whatever the records say.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    KillContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::process::Signal;

/// The label every container of a pod carries.
pub(super) const POD_UID_LABEL: &str = "wharf.dev/pod-uid";
/// The image of pause containers, built from the node's busybox if absent.
pub(super) const PAUSE_IMAGE: &str = "wharf.dev/pause:1";
/// Where the node's static busybox is (Debian `busybox-static`).
const BUSYBOX: &str = "/bin/busybox";

/// A connection to a Docker Engine.
#[derive(Clone)]
pub(super) struct DockerRuntime {
    client: Docker,
    /// The engine's version, for the Node's `containerRuntimeVersion`.
    pub version: String,
}

/// One container to start.
pub(super) struct DockerStart<'a> {
    pub uid: &'a str,
    pub namespace: &'a str,
    pub pod: &'a str,
    pub container: &'a str,
    pub restart_count: u32,
    pub image: &'a str,
    /// `command` (the image's ENTRYPOINT if empty) and `args` (its CMD if
    /// both are empty), already expanded.
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub env: &'a [(String, String)],
    pub working_dir: Option<&'a str>,
    /// `container:<pause id>`, or `host`.
    pub network_mode: String,
    pub memory_bytes: Option<u64>,
    pub cpu_millis: Option<u64>,
    /// `host:container[:ro]`.
    pub binds: Vec<String>,
    /// `runAsUser[:runAsGroup]`, if the pod names one (else the image's).
    pub user: Option<String>,
    /// `fsGroup` and `supplementalGroups`.
    pub groups: Vec<String>,
}

/// A started container.
pub(super) struct Started {
    pub id: String,
    pub pid: u32,
}

/// How a container ended, as the engine tells it.
pub(super) struct Ended {
    /// `None`: the engine no longer knows the container.
    pub code: Option<i32>,
    pub oom_killed: bool,
}

impl DockerRuntime {
    /// Connects to `host` (`unix:///path`; `None`: `DOCKER_HOST` or the
    /// default socket) and agrees on an API version with the engine.
    pub(super) async fn connect(host: Option<&str>) -> Result<Self, String> {
        let client = match host {
            Some(host) => Docker::connect_with_unix(host, 120, bollard::API_DEFAULT_VERSION),
            None => Docker::connect_with_local_defaults(),
        }
        .map_err(|error| format!("cannot connect to the Docker Engine: {error}"))?;
        let client = client
            .negotiate_version()
            .await
            .map_err(|error| format!("the Docker Engine does not answer: {error}"))?;
        let version = client
            .version()
            .await
            .map_err(|error| format!("the Docker Engine does not answer: {error}"))?
            .version
            .unwrap_or_else(|| "unknown".into());
        Ok(Self { client, version })
    }

    /// Makes sure `image` is present, as `policy` (`imagePullPolicy`) says.
    /// The error is the waiting reason and message.
    pub(super) async fn ensure_image(
        &self,
        image: &str,
        policy: &str,
    ) -> Result<(), (String, String)> {
        let present = self.client.inspect_image(image).await.is_ok();
        match policy {
            "Never" if !present => {
                return Err((
                    "ErrImageNeverPull".into(),
                    format!("Container image \"{image}\" is not present with pull policy of Never"),
                ));
            }
            "Never" => return Ok(()),
            "Always" => {}
            _ if present => return Ok(()),
            _ => {}
        }
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let mut pull = self.client.create_image(Some(options), None, None);
        while let Some(step) = pull.next().await {
            if let Err(error) = step {
                return Err((
                    "ErrImagePull".into(),
                    format!("failed to pull image \"{image}\": {error}"),
                ));
            }
        }
        Ok(())
    }

    /// Builds the pause image from the node's busybox, unless present.
    async fn ensure_pause_image(&self) -> Result<(), String> {
        if self.client.inspect_image(PAUSE_IMAGE).await.is_ok() {
            return Ok(());
        }
        let busybox = std::fs::read(BUSYBOX).map_err(|error| {
            format!("the pause image {PAUSE_IMAGE} is missing and cannot be built from {BUSYBOX} (install busybox-static): {error}")
        })?;
        let dockerfile = "FROM scratch\nCOPY busybox /busybox\nENTRYPOINT [\"/busybox\", \"sleep\", \"2147483647\"]\n";
        let mut context = tar::Builder::new(Vec::new());
        for (name, bytes, mode) in [
            ("Dockerfile", dockerfile.as_bytes(), 0o644),
            ("busybox", busybox.as_slice(), 0o755),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(mode);
            header.set_cksum();
            context
                .append_data(&mut header, name, bytes)
                .map_err(|error| format!("cannot pack the pause image's context: {error}"))?;
        }
        let context = context
            .into_inner()
            .map_err(|error| format!("cannot pack the pause image's context: {error}"))?;
        let options = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(PAUSE_IMAGE)
            .rm(true)
            .build();
        let mut build =
            self.client
                .build_image(options, None, Some(bollard::body_full(context.into())));
        while let Some(step) = build.next().await {
            match step {
                Ok(info) if info.error_detail.is_some() => {
                    let detail = info.error_detail.and_then(|d| d.message);
                    return Err(format!(
                        "cannot build the pause image: {}",
                        detail.unwrap_or_default()
                    ));
                }
                Ok(_) => {}
                Err(error) => return Err(format!("cannot build the pause image: {error}")),
            }
        }
        tracing::info!(
            image = PAUSE_IMAGE,
            "built the pause image from the node's busybox"
        );
        Ok(())
    }

    /// Starts the pod's pause container, with no network (the CNI plugins
    /// wire its namespace): its id and pid.
    pub(super) async fn run_sandbox(
        &self,
        uid: &str,
        namespace: &str,
        pod: &str,
    ) -> Result<Started, String> {
        self.ensure_pause_image().await?;
        let body = ContainerCreateBody {
            image: Some(PAUSE_IMAGE.into()),
            labels: Some(labels(uid, "POD")),
            hostname: Some(truncate(pod, 63).into()),
            host_config: Some(HostConfig {
                network_mode: Some("none".into()),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        };
        let name = container_name("POD", pod, namespace, uid, 0);
        self.create_and_start(&name, body).await
    }

    /// Creates and starts one container of a pod.
    pub(super) async fn start(&self, start: DockerStart<'_>) -> Result<Started, String> {
        let env: Vec<String> = start.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let body = ContainerCreateBody {
            image: Some(start.image.into()),
            entrypoint: (!start.command.is_empty()).then_some(start.command),
            cmd: (!start.args.is_empty()).then_some(start.args),
            env: Some(env),
            working_dir: start.working_dir.filter(|d| !d.is_empty()).map(Into::into),
            user: start.user,
            labels: Some(labels(start.uid, start.container)),
            host_config: Some(HostConfig {
                network_mode: Some(start.network_mode),
                memory: start.memory_bytes.map(|m| m.min(i64::MAX as u64) as i64),
                nano_cpus: start
                    .cpu_millis
                    .map(|m| (m as i64).saturating_mul(1_000_000)),
                binds: (!start.binds.is_empty()).then_some(start.binds),
                group_add: (!start.groups.is_empty()).then_some(start.groups),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        };
        let name = container_name(
            start.container,
            start.pod,
            start.namespace,
            start.uid,
            start.restart_count,
        );
        self.create_and_start(&name, body).await
    }

    async fn create_and_start(
        &self,
        name: &str,
        body: ContainerCreateBody,
    ) -> Result<Started, String> {
        let options = || Some(CreateContainerOptionsBuilder::default().name(name).build());
        let created = match self.client.create_container(options(), body.clone()).await {
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => {
                // Left by an earlier agent that did not record it.
                self.remove(name).await;
                self.client.create_container(options(), body).await
            }
            created => created,
        }
        .map_err(|error| format!("cannot create the container: {error}"))?;
        if let Err(error) = self.client.start_container(&created.id, None).await {
            self.remove(&created.id).await;
            return Err(format!("cannot start the container: {error}"));
        }
        let pid = self
            .client
            .inspect_container(&created.id, None)
            .await
            .ok()
            .and_then(|c| c.state?.pid)
            .unwrap_or(0);
        Ok(Started {
            id: created.id,
            pid: u32::try_from(pid).unwrap_or(0),
        })
    }

    /// Follows the container's output into `log` and waits for its end.
    /// `since`: seconds since the epoch to resume the log from (an adopted
    /// container), 0 for all of it.
    pub(super) async fn wait(&self, id: &str, log: &Path, since: i32) -> Ended {
        let follower = tokio::spawn(follow_logs(
            self.client.clone(),
            id.to_string(),
            log.to_path_buf(),
            since,
        ));
        loop {
            let mut wait = self.client.wait_container(id, None);
            match wait.next().await {
                Some(Err(bollard::errors::Error::RequestTimeoutError)) => continue,
                Some(Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404,
                    ..
                })) => {
                    break;
                }
                Some(Err(error))
                    if !matches!(
                        error,
                        bollard::errors::Error::DockerContainerWaitError { .. }
                    ) =>
                {
                    // The engine restarts, or the connection broke: ask again.
                    tracing::debug!(id, %error, "waiting for a container failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if self.running(id).await == Some(true) {
                        continue;
                    }
                    break;
                }
                _ => break,
            }
        }
        // The rest of its output, then its end.
        let _ = tokio::time::timeout(Duration::from_secs(2), follower).await;
        match self
            .client
            .inspect_container(id, None)
            .await
            .ok()
            .and_then(|c| c.state)
        {
            Some(state) => Ended {
                code: state.exit_code.map(|code| code as i32),
                oom_killed: state.oom_killed.unwrap_or(false),
            },
            None => Ended {
                code: None,
                oom_killed: false,
            },
        }
    }

    async fn running(&self, id: &str) -> Option<bool> {
        let state = self.client.inspect_container(id, None).await.ok()?.state?;
        state.running
    }

    /// Sends `signal` to the container's main process.
    pub(super) async fn kill(&self, id: &str, signal: Signal) {
        let name = match signal {
            Signal::Term => "SIGTERM",
            Signal::Kill => "SIGKILL",
        };
        let options = KillContainerOptionsBuilder::default().signal(name).build();
        match self.client.kill_container(id, Some(options)).await {
            Ok(()) => {}
            // Not running any more (409) or gone (404): nothing to signal.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            }) => {}
            Err(error) => tracing::warn!(id, signal = name, %error, "cannot signal a container"),
        }
    }

    /// Removes a container (killed first if it runs).
    pub(super) async fn remove(&self, id: &str) {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        match self.client.remove_container(id, Some(options)).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(error) => tracing::warn!(id, %error, "cannot remove a container"),
        }
    }

    /// Removes every container of the pod `uid`, pause container included.
    pub(super) async fn remove_pod(&self, uid: &str) {
        for id in self.pod_containers(uid).await {
            self.remove(&id).await;
        }
    }

    /// The ids of the containers labelled with the pod's UID, running or not.
    async fn pod_containers(&self, uid: &str) -> Vec<String> {
        let filters = HashMap::from([("label", vec![format!("{POD_UID_LABEL}={uid}")])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        match self.client.list_containers(Some(options)).await {
            Ok(list) => list.into_iter().filter_map(|c| c.id).collect(),
            Err(error) => {
                tracing::warn!(uid, %error, "cannot list a pod's containers");
                Vec::new()
            }
        }
    }

    /// Runs `command` in the container (an exec probe): its exit code and
    /// output.
    pub(super) async fn exec(
        &self,
        id: &str,
        command: &[String],
    ) -> Result<(i32, Vec<u8>), String> {
        let options = bollard::exec::CreateExecOptions {
            cmd: Some(command.to_vec()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let exec = self
            .client
            .create_exec(id, options)
            .await
            .map_err(|error| error.to_string())?;
        let mut output = Vec::new();
        match self.client.start_exec(&exec.id, None).await {
            Ok(bollard::exec::StartExecResults::Attached {
                output: mut stream, ..
            }) => {
                while let Some(Ok(chunk)) = stream.next().await {
                    output.extend_from_slice(&chunk.into_bytes());
                }
            }
            Ok(bollard::exec::StartExecResults::Detached) => {}
            Err(error) => return Err(error.to_string()),
        }
        let code = self
            .client
            .inspect_exec(&exec.id)
            .await
            .map_err(|error| error.to_string())?
            .exit_code
            .unwrap_or(126);
        Ok((code as i32, output))
    }
}

/// Copies the container's output, as the engine streams it, into `log`.
async fn follow_logs(client: Docker, id: String, log: std::path::PathBuf, since: i32) {
    let mut file = match super::logs::open_log(&log) {
        Ok(file) => file,
        Err(error) => {
            tracing::warn!(path = %log.display(), %error, "cannot open a container's log");
            return;
        }
    };
    let options = LogsOptionsBuilder::default()
        .follow(true)
        .stdout(true)
        .stderr(true)
        .since(since)
        .build();
    let mut stream = client.logs(&id, Some(options));
    while let Some(Ok(chunk)) = stream.next().await {
        if let Err(error) = file.write_all(&chunk.into_bytes()) {
            tracing::warn!(path = %log.display(), %error, "cannot write a container's log");
            return;
        }
    }
}

fn labels(uid: &str, container: &str) -> HashMap<String, String> {
    HashMap::from([
        (POD_UID_LABEL.to_string(), uid.to_string()),
        ("wharf.dev/container".to_string(), container.to_string()),
    ])
}

/// As dockershim named them: `k8s_<container>_<pod>_<namespace>_<uid>_<n>`.
fn container_name(container: &str, pod: &str, namespace: &str, uid: &str, attempt: u32) -> String {
    format!("k8s_{container}_{pod}_{namespace}_{uid}_{attempt}")
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_named_as_dockershim_named_them() {
        assert_eq!(
            container_name("web", "app-1", "default", "u-1", 2),
            "k8s_web_app-1_default_u-1_2"
        );
        assert_eq!(truncate("abcdef", 3), "abc");
        assert_eq!(truncate("ab", 3), "ab");
    }
}
