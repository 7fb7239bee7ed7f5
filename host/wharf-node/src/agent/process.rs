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

use tokio::process::{Child, Command};

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
fn join_cgroup_script(procs_files: &[PathBuf]) -> io::Result<String> {
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
