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
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    KillContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;

use super::checkpoint::RunningProcess;
use super::process::{self, Identity, Signal};
use super::runtime::{
    Adoption, ContainerRuntime, ContainerSpec, CreateError, Created, Ended, ExecRun, PodRef,
    StartFailed, Started,
};

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

/// A container the engine started.
pub(super) struct Launched {
    pub id: String,
    pub pid: u32,
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
    ) -> Result<Launched, String> {
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
    pub(super) async fn start(&self, start: DockerStart<'_>) -> Result<Launched, String> {
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
    ) -> Result<Launched, String> {
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
        Ok(Launched {
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

impl ContainerRuntime for DockerRuntime {
    fn version(&self) -> String {
        format!("docker://{}", self.version)
    }

    fn pulls_images(&self) -> bool {
        true
    }

    fn sandbox_owns_network(&self) -> bool {
        true
    }

    /// The pause container, whose network namespace is named as the
    /// process driver's (`ip netns attach`), so the CNI plugins wire it the
    /// same way.
    fn prepare_sandbox<'a>(
        &'a self,
        pod: PodRef<'a>,
        sandbox_id: &'a mut Option<String>,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let netns = wharf_cni::netns_name(pod.uid);
            let named = Path::new("/var/run/netns").join(&netns).exists();
            if sandbox_id.is_some() && named {
                return Ok(());
            }
            if let Some(stale) = sandbox_id.take() {
                self.remove(&stale).await;
            }
            let started = self
                .run_sandbox(pod.uid, pod.namespace, pod.name)
                .await
                .map_err(|message| format!("failed to create the pod sandbox: {message}"))?;
            *sandbox_id = Some(started.id.clone());
            if named {
                // A namespace of an earlier sandbox: this one's replaces it.
                let _ = tokio::process::Command::new(process::ip_binary())
                    .args(["netns", "delete", &netns])
                    .status()
                    .await;
            }
            let attached = tokio::process::Command::new(process::ip_binary())
                .args(["netns", "attach", &netns, &started.pid.to_string()])
                .output()
                .await;
            match attached {
                Ok(output) if output.status.success() => Ok(()),
                Ok(output) => Err(format!(
                    "cannot name the sandbox's network namespace: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                )),
                Err(error) => Err(format!("cannot run ip: {error}")),
            }
        })
    }

    /// Pulls the image as `imagePullPolicy` says, then creates and starts
    /// the container in the pod's sandbox (or the host's network).
    fn create<'a>(
        &'a self,
        spec: ContainerSpec<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn Created>, CreateError>> {
        Box::pin(async move {
            let mut env = spec.env;
            // The image's PATH, unless the container sets one.
            if !spec.declares_path {
                env.retain(|(key, _)| key != "PATH");
            }
            if let Err((reason, message)) =
                self.ensure_image(spec.image, spec.image_pull_policy).await
            {
                return Err(CreateError::Blocked { reason, message });
            }
            let network_mode = match spec.sandbox_id {
                Some(sandbox) => format!("container:{sandbox}"),
                None => "host".into(),
            };
            let run_as = &spec.run_as;
            let launched = self
                .start(DockerStart {
                    uid: spec.pod.uid,
                    namespace: spec.pod.namespace,
                    pod: spec.pod.name,
                    container: spec.container,
                    restart_count: spec.restart_count,
                    image: spec.image,
                    command: spec.command,
                    args: spec.args,
                    env: &env,
                    working_dir: spec.working_dir.as_deref(),
                    network_mode,
                    memory_bytes: spec.limits.memory_bytes,
                    cpu_millis: spec.limits.cpu_millis,
                    binds: (spec.mounts.iter())
                        .map(|m| {
                            let mode = if m.read_only { ":ro" } else { "" };
                            format!("{}:{}{mode}", m.host_path.display(), m.container_path)
                        })
                        .collect(),
                    user: run_as.uid.map(|uid| match run_as.gid {
                        Some(gid) => format!("{uid}:{gid}"),
                        None => uid.to_string(),
                    }),
                    groups: run_as.groups.iter().map(u32::to_string).collect(),
                })
                .await
                .map_err(|message| {
                    CreateError::Failed(StartFailed {
                        what: spec.image.to_string(),
                        message,
                    })
                })?;
            let identity = process::identity_of(launched.pid).unwrap_or(Identity {
                pid: launched.pid,
                start_ticks: 0,
            });
            let (docker, id, log) = (self.clone(), launched.id.clone(), spec.log);
            let started = Started {
                identity,
                container_id: Some(format!("docker://{}", launched.id)),
                exit: Box::pin(async move { docker.wait(&id, &log, 0).await }),
            };
            Ok(Box::new(DockerCreated {
                docker: self.clone(),
                id: launched.id,
                started,
            }) as Box<dyn Created>)
        })
    }

    /// The engine knows how the container ends, even if it already has.
    fn adopt(
        &self,
        pod: PodRef<'_>,
        container: &str,
        process: &RunningProcess,
        log: &Path,
    ) -> Adoption {
        let Some(id) = process.docker_id() else {
            return process::adopt_process(pod, container, process);
        };
        tracing::info!(
            namespace = pod.namespace,
            pod = pod.name,
            container,
            id,
            "adopting a container"
        );
        let since = std::fs::metadata(log)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| i32::try_from(d.as_secs()).unwrap_or(0));
        let (docker, id, log) = (self.clone(), id.to_string(), log.to_path_buf());
        Adoption::Running(Box::pin(async move { docker.wait(&id, &log, since).await }))
    }

    fn signal(&self, pod: PodRef<'_>, container: &str, process: &RunningProcess, signal: Signal) {
        let Some(id) = process.docker_id() else {
            return process::signal_process(pod, container, process, signal);
        };
        let (docker, id) = (self.clone(), id.to_string());
        tokio::spawn(async move { docker.kill(&id, signal).await });
    }

    fn remove_exited(&self, _pod: PodRef<'_>, _container: &str, process: &RunningProcess) -> bool {
        if let Some(id) = process.docker_id() {
            let (docker, id) = (self.clone(), id.to_string());
            tokio::spawn(async move { docker.remove(&id).await });
        }
        false
    }

    fn remove_pod_sandbox<'a>(&'a self, pod_uid: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(self.remove_pod(pod_uid))
    }

    fn exec(&self, process: &RunningProcess, command: &[String]) -> Option<ExecRun> {
        let (docker, id) = (self.clone(), process.docker_id()?.to_string());
        let command = command.to_vec();
        Some(Box::pin(async move { docker.exec(&id, &command).await }))
    }
}

/// A container the engine runs already (it is created and started in one
/// step, outside the gate).
struct DockerCreated {
    docker: DockerRuntime,
    id: String,
    started: Started,
}

impl Created for DockerCreated {
    fn start(self: Box<Self>, _mount_points: &mut Vec<PathBuf>) -> Result<Started, StartFailed> {
        Ok(self.started)
    }

    /// Nothing records the container: it goes.
    fn abandon(self: Box<Self>) {
        let (docker, id) = (self.docker, self.id);
        tokio::spawn(async move { docker.remove(&id).await });
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
