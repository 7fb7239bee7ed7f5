//! The `process` runtime driver: a container is one host process, started
//! directly in a process group of its own, so that it and whatever it
//! starts are signalled together. (In a cgroup, a `sh` that joins it and
//! then executes the program runs first, as the same process.)
//!
//! A process is known by its pid and its start time (field 22 of
//! `/proc/<pid>/stat`, in clock ticks since boot): a pid whose start time
//! differs is another process, so a record of a pid is never mistaken for
//! a process that reused it. Signals go through the `kill` command (no
//! unsafe code here), to the whole group.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::Gate;
use super::cgroups::{self, Limits};
use super::checkpoint::RunningProcess;
use super::logs;
use super::runtime::{
    Adoption, ContainerRuntime, ContainerSpec, CreateError, Created, Ended, PodRef, StartFailed,
    Started,
};
use super::volumes::{self, Mount, VolumeError};

/// How often an adopted process (not the agent's child) is looked for.
const ADOPTED_POLL: Duration = Duration::from_millis(250);
/// How long the processes left in a stopped pod's cgroups may take to go.
const CGROUP_WAIT: Duration = Duration::from_secs(10);

/// The process driver: each container a process of the node, in a cgroup
/// of its own (`cgroups.rs`), its volumes bind-mounted in a private mount
/// namespace, in the pod's network namespace if it has one.
pub(super) struct ProcessRuntime;

impl ContainerRuntime for ProcessRuntime {
    fn version(&self) -> String {
        "process://1.0".into()
    }

    fn stream_exec(
        &self,
        process: &RunningProcess,
        request: &super::enter::ExecRequest<'_>,
    ) -> Result<crate::streaming::Session, String> {
        // Only into the recorded process, never a pid reused since.
        if identity_of(process.pid).map(|identity| identity.start_ticks)
            != Some(process.start_ticks)
        {
            return Err("the container is not running".into());
        }
        super::enter::exec(process.pid, request).map_err(|error| error.to_string())
    }

    fn create<'a>(
        &'a self,
        spec: ContainerSpec<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn Created>, CreateError>> {
        Box::pin(async move {
            if !spec.mounts.is_empty() && !super::running_as_root() {
                return Err(CreateError::Blocked {
                    reason: "CreateContainerError".into(),
                    message: "volumes need root: the process runtime bind-mounts them in a private mount namespace".into(),
                });
            }
            let mut argv = spec.command;
            argv.extend(spec.args);
            Ok(Box::new(ProcessCreated {
                uid: spec.pod.uid.to_string(),
                container: spec.container.to_string(),
                argv,
                env: spec.env,
                working_dir: spec.working_dir,
                limits: spec.limits,
                mounts: spec.mounts,
                run_as: spec.run_as.setpriv_args(),
                log: spec.log,
                netns: spec.netns,
            }) as Box<dyn Created>)
        })
    }

    fn adopt(
        &self,
        pod: PodRef<'_>,
        container: &str,
        process: &RunningProcess,
        _log: &Path,
    ) -> Adoption {
        adopt_process(pod, container, process)
    }

    fn signal(&self, pod: PodRef<'_>, container: &str, process: &RunningProcess, signal: Signal) {
        signal_process(pod, container, process, signal);
    }

    fn remove_exited(&self, pod: PodRef<'_>, container: &str, process: &RunningProcess) -> bool {
        if !group_members(process.pid).is_empty() {
            signal_group(process.pid, Signal::Kill);
        }
        // Also what left the group (setsid) but not the cgroup.
        cgroups::kill_all(pod.uid, container);
        cgroups::oom_killed(pod.uid, container)
    }

    /// Kills whatever is left in the containers' cgroups (processes that
    /// left their group), and removes the cgroups once they are empty.
    fn release_containers<'a>(
        &'a self,
        pod_uid: &'a str,
        containers: Vec<String>,
        gate: &'a Gate,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let deadline = Instant::now() + CGROUP_WAIT;
            loop {
                let last_try = Instant::now() >= deadline;
                let removed = gate.run(|| {
                    for name in &containers {
                        cgroups::kill_all(pod_uid, name);
                    }
                    cgroups::remove_pod(pod_uid, containers.iter().map(String::as_str), last_try)
                });
                if removed != Some(false) || last_try {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    }
}

/// A process to spawn.
struct ProcessCreated {
    uid: String,
    container: String,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    working_dir: Option<String>,
    limits: Limits,
    mounts: Vec<Mount>,
    /// `setpriv` arguments (empty: the agent's user).
    run_as: Vec<String>,
    log: PathBuf,
    netns: Option<String>,
}

impl Created for ProcessCreated {
    fn start(self: Box<Self>, mount_points: &mut Vec<PathBuf>) -> Result<Started, StartFailed> {
        let what = self.argv[0].clone();
        let mount_script = if self.mounts.is_empty() {
            None
        } else {
            match volumes::mount_script(&self.mounts, mount_points) {
                Ok(script) => Some(script),
                Err(VolumeError(message)) => return Err(StartFailed { what, message }),
            }
        };
        let spawned = logs::open_log(&self.log).and_then(|log| {
            let cgroup_procs = cgroups::create(&self.uid, &self.container, self.limits)?;
            spawn(Launch {
                program: &self.argv[0],
                args: &self.argv[1..],
                env: &self.env,
                working_dir: self.working_dir.as_deref(),
                log,
                netns: self.netns.as_deref(),
                cgroup_procs: &cgroup_procs,
                mount_script: mount_script.as_deref(),
                run_as: &self.run_as,
            })
        });
        match spawned {
            Ok((child, identity)) => Ok(Started {
                identity,
                container_id: None,
                exit: Box::pin(wait_child(self.container.clone(), identity.pid, child)),
            }),
            Err(error) => Err(StartFailed {
                message: format!("failed to start {what:?}: {error}"),
                what,
            }),
        }
    }

    fn abandon(self: Box<Self>) {}
}

/// Takes on a process a previous agent started: watched through `/proc`
/// while it runs (its exit code is then unknown).
pub(super) fn adopt_process(
    pod: PodRef<'_>,
    container: &str,
    process: &RunningProcess,
) -> Adoption {
    if is_running(process.identity()) {
        tracing::info!(
            namespace = pod.namespace,
            pod = pod.name,
            container,
            pid = process.pid,
            "adopting a running process"
        );
        Adoption::Running(Box::pin(watch_adopted(process.identity())))
    } else {
        Adoption::Gone {
            oom_killed: cgroups::oom_killed(pod.uid, container),
        }
    }
}

/// Signals a container's process group, unless its pid is now another
/// process's; SIGKILL also reaches what left the group but not the cgroup.
pub(super) fn signal_process(
    pod: PodRef<'_>,
    container: &str,
    process: &RunningProcess,
    signal: Signal,
) {
    let identity = process.identity();
    if is_running(identity) {
        signal_group(identity.pid, signal);
        if signal == Signal::Kill {
            cgroups::kill_all(pod.uid, container);
        }
    }
}

/// Waits for a child process of this agent.
async fn wait_child(container: String, pid: u32, mut child: Child) -> Ended {
    let code = match child.wait().await {
        Ok(status) => Some(exit_code(status)),
        Err(error) => {
            tracing::warn!(container, pid, %error, "cannot wait for a container's process");
            None
        }
    };
    Ended {
        code,
        oom_killed: false,
    }
}

/// Watches an adopted process (not this agent's child) until it is gone.
async fn watch_adopted(identity: Identity) -> Ended {
    while is_running(identity) {
        tokio::time::sleep(ADOPTED_POLL).await;
    }
    Ended::default()
}

/// The directories a container's program is looked up in when its
/// environment sets no `PATH` (as container runtimes default it).
pub(super) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to start.
pub(super) struct Launch<'a> {
    pub program: &'a str,
    pub args: &'a [String],
    /// The whole environment: nothing is inherited from the agent.
    pub env: &'a [(String, String)],
    pub working_dir: Option<&'a str>,
    /// Receives stdout and stderr.
    pub log: File,
    /// The pod's network namespace (`ip netns` name), if it has one.
    pub netns: Option<&'a str>,
    /// The `cgroup.procs` files the process joins before its program runs
    /// (the container's cgroup, one per hierarchy); empty: none.
    pub cgroup_procs: &'a [PathBuf],
    /// `sh` commands that mount the container's volumes, run in a private
    /// mount namespace of its own (`unshare`); none: the node's mounts.
    pub mount_script: Option<&'a str>,
    /// `setpriv` arguments that take the container's user and groups
    /// last, in the pod's namespaces (empty: the agent's).
    pub run_as: &'a [String],
}

/// The `ip` command (the agent clears the environment, so no PATH lookup).
pub(super) fn ip_binary() -> &'static str {
    binary("ip")
}

/// A system command by its full path (the agent clears the environment, so
/// no PATH lookup); the bare name if none is found.
pub(super) fn binary(name: &'static str) -> &'static str {
    let found = match name {
        "ip" => ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"],
        "unshare" => [
            "/usr/bin/unshare",
            "/bin/unshare",
            "/usr/sbin/unshare",
            "/sbin/unshare",
        ],
        "setpriv" => [
            "/usr/bin/setpriv",
            "/bin/setpriv",
            "/usr/sbin/setpriv",
            "/sbin/setpriv",
        ],
        "mount" => [
            "/usr/bin/mount",
            "/bin/mount",
            "/usr/sbin/mount",
            "/sbin/mount",
        ],
        "nsenter" => [
            "/usr/bin/nsenter",
            "/bin/nsenter",
            "/usr/sbin/nsenter",
            "/sbin/nsenter",
        ],
        "setsid" => [
            "/usr/bin/setsid",
            "/bin/setsid",
            "/usr/sbin/setsid",
            "/sbin/setsid",
        ],
        _ => return name,
    };
    found
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
        .unwrap_or(name)
}

/// A process as it can be found again: pid and start time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Identity {
    pub pid: u32,
    pub start_ticks: u64,
}

/// Starts a container's process in a new process group (its pid is the
/// group's id), stdin from `/dev/null`, stdout and stderr to the log.
pub(super) fn spawn(launch: Launch<'_>) -> io::Result<(Child, Identity)> {
    // In a cgroup, `sh` writes its pid to the cgroup's `cgroup.procs` files
    // and then executes the rest: the same pid, now in its cgroup. In a pod
    // network, `ip netns exec` then enters the namespace and executes the
    // program itself: the pid is still the container's. The cgroup comes
    // first: `ip netns exec` mounts a fresh /sys, without the cgroup files.
    let mut argv: Vec<&str> = Vec::new();
    let script;
    if !launch.cgroup_procs.is_empty() {
        // A program that cannot be run fails the start, as without `sh`.
        find_program(launch.program, launch.env, launch.working_dir)?;
        script = join_cgroup_script(launch.cgroup_procs)?;
        argv.extend(["/bin/sh", "-c", &script, "sh"]);
    }
    // Then the volumes, in a mount namespace of the process's own (the
    // one `ip netns exec` makes next is a copy of it).
    let mount_script;
    if let Some(mounts) = launch.mount_script {
        mount_script = format!("{mounts}exec \"$@\"");
        argv.extend([
            binary("unshare"),
            "--mount",
            "--propagation",
            "private",
            "--",
            "/bin/sh",
            "-c",
            &mount_script,
            "sh",
        ]);
    }
    if let Some(netns) = launch.netns {
        argv.extend([ip_binary(), "netns", "exec", netns]);
    }
    if !launch.run_as.is_empty() {
        argv.push(binary("setpriv"));
        argv.extend(launch.run_as.iter().map(String::as_str));
    }
    argv.push(launch.program);
    let mut command = Command::new(argv[0]);
    command
        .args(&argv[1..])
        .args(launch.args)
        .env_clear()
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(launch.log.try_clone()?))
        .stderr(Stdio::from(launch.log))
        .process_group(0);
    if let Some(dir) = launch.working_dir.filter(|dir| !dir.is_empty()) {
        command.current_dir(dir);
    }
    let child = command.spawn()?;
    let pid = child
        .id()
        .ok_or_else(|| io::Error::other("the process has no pid"))?;
    // Not reaped before we wait for it, so /proc has it even if it ended.
    let start_ticks = stat(pid).map_or(0, |stat| stat.start_ticks);
    Ok((child, Identity { pid, start_ticks }))
}

/// The `sh` script that moves itself into the cgroups of `procs_files`
/// and then executes its arguments.
pub(super) fn join_cgroup_script(procs_files: &[PathBuf]) -> io::Result<String> {
    let mut script = String::new();
    for file in procs_files {
        let file = file
            .to_str()
            .filter(|file| !file.contains('\''))
            .ok_or_else(|| io::Error::other("a cgroup path that sh cannot quote"))?;
        script.push_str(&format!("echo $$ > '{file}' && "));
    }
    script.push_str("exec \"$@\"");
    Ok(script)
}

/// Checks that `program` can be run: a path (from `working_dir` if
/// relative), or a name found in the environment's `PATH`.
fn find_program(
    program: &str,
    env: &[(String, String)],
    working_dir: Option<&str>,
) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |path: &Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let found = if program.contains('/') {
        let base = Path::new(working_dir.filter(|dir| !dir.is_empty()).unwrap_or("."));
        runnable(&base.join(program))
    } else {
        let path = (env.iter().rev())
            .find(|(key, _)| key == "PATH")
            .map_or(DEFAULT_PATH, |(_, value)| value.as_str());
        !program.is_empty()
            && path
                .split(':')
                .filter(|dir| !dir.is_empty())
                .any(|dir| runnable(&Path::new(dir).join(program)))
    };
    if found {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no program {program:?} to run"),
        ))
    }
}

/// True while the process is this one and has not ended (a zombie has).
pub(super) fn is_running(identity: Identity) -> bool {
    stat(identity.pid).is_some_and(|stat| stat.start_ticks == identity.start_ticks && !stat.ended)
}

/// The identity of a live process, if it runs.
pub(super) fn identity_of(pid: u32) -> Option<Identity> {
    let stat = stat(pid).filter(|stat| !stat.ended)?;
    Some(Identity {
        pid,
        start_ticks: stat.start_ticks,
    })
}

/// Pids of the live (not zombie) processes in process group `pgid`.
pub(super) fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| stat(*pid).is_some_and(|stat| stat.group == pgid && !stat.ended))
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Signal {
    Term,
    Kill,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Term => "TERM",
            Signal::Kill => "KILL",
        }
    }
}

/// Sends `signal` to every process of group `pgid`; false if none got it.
pub(super) fn signal_group(pgid: u32, signal: Signal) -> bool {
    if pgid <= 1 {
        return false;
    }
    let sent = std::process::Command::new("kill")
        .args(["-s", signal.name(), "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match sent {
        Ok(status) => status.success(),
        Err(error) => {
            tracing::error!(pgid, %error, "cannot run kill to signal a process group");
            false
        }
    }
}

/// The exit code as Kubernetes reports it: a process ended by signal N
/// exited with 128 + N (137 for SIGKILL, 143 for SIGTERM).
pub(super) fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(128)
}

/// What `/proc/<pid>/stat` says about a process.
struct Stat {
    ended: bool,
    group: u32,
    start_ticks: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")).ok()?;
    parse_stat(&text)
}

/// Parses `/proc/<pid>/stat`: the command name (field 2) is in parentheses
/// and may hold anything, so fields are counted after the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state), so field N is fields[N - 3].
    let state = *fields.first()?;
    Some(Stat {
        ended: matches!(state, "Z" | "X" | "x"),
        group: fields.get(2)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_odd_command_names() {
        let line = "6355 (a) b) R) S 6349 6350 3378 0 -1 4194304 98 0 0 0 0 0 0 0 20 0 1 0 1285506 3133440";
        let stat = parse_stat(line).unwrap();
        assert_eq!(
            (stat.ended, stat.group, stat.start_ticks),
            (false, 6350, 1285506)
        );
        let zombie =
            "8916 (sleep) Z 1 8916 8916 0 -1 4228108 204 0 0 0 0 0 0 0 20 0 1 0 1295288 0 0";
        assert!(parse_stat(zombie).unwrap().ended);
        for bad in ["", "12 (x", "12 (x) S 1", "12 (x) S a b c"] {
            assert!(parse_stat(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn signals_become_exit_codes_as_kubernetes_reports_them() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(9)), 137);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
    }

    #[test]
    fn this_process_is_found_by_its_identity() {
        let me = identity_of(std::process::id()).unwrap();
        assert!(is_running(me));
        assert!(!is_running(Identity {
            start_ticks: me.start_ticks + 1,
            ..me
        }));
    }
}
