//! The example container runtime driver: each container is a process on the
//! host, started from the spec's `argv`. It is the sample to copy when
//! writing a driver: one [`RuntimeDriver`] impl and one
//! [`export_runtime_driver!`](wharf_sdk::export_runtime_driver) line.
//!
//! Build it with `cargo build --release -p wharf-runtime-example`; the node
//! agent loads `target/release/libwharf_runtime_example.so`.
//!
//! What it does with a [`StartSpec`]:
//! - runs `argv` (through `ip netns exec <netns>` when `netns` is set), with
//!   the environment cleared and then set to `env`, in `working_dir`;
//! - appends stdout and stderr to `log_path`, creating it;
//! - puts the process in its own process group, so a signal reaches
//!   everything the container started.
//!
//! What it ignores: there is **no isolation**. `image` is not pulled or
//! unpacked (`argv` must name a program on the host, an empty `argv` is an
//! error), `mounts` are not mounted, and `memory_limit_bytes` and
//! `cpu_limit_millis` are not enforced, so `oom_killed` is always false. Its
//! config text is ignored too.
//!
//! Its containers are children of the node agent's process. A new instance
//! (after a restart of the agent or a reload of the library) does not know
//! the previous instance's containers: their IDs are [`ContainerState::Unknown`].

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use wharf_sdk::runtime_driver::{ContainerState, Error, Result, RuntimeDriver, Signal, StartSpec};

/// Where `ip` (iproute2) is looked for, to enter a network namespace.
const IP_PATHS: &[&str] = &["/usr/sbin/ip", "/sbin/ip"];

/// Runs containers as host processes.
pub struct ExampleRuntime {
    /// Prefixes this instance's container IDs, so they never repeat an
    /// earlier instance's.
    instance: String,
    next_container: AtomicU64,
    /// The containers started and not yet removed, by ID.
    children: Mutex<HashMap<String, Child>>,
}

wharf_sdk::export_runtime_driver!(ExampleRuntime);

impl RuntimeDriver for ExampleRuntime {
    fn new(_config: &str) -> Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        Ok(ExampleRuntime {
            instance: format!("{nanos:x}"),
            next_container: AtomicU64::new(0),
            children: Mutex::new(HashMap::new()),
        })
    }

    fn name(&self) -> &str {
        "example"
    }

    fn start(&self, spec: &StartSpec) -> Result<String> {
        let mut command = command(spec)?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log_path)
            .map_err(|e| Error::Other(format!("cannot open the log {}: {e}", spec.log_path)))?;
        command
            .env_clear()
            .envs(spec.env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        if let Some(dir) = &spec.working_dir {
            command.current_dir(dir);
        }
        let child = command
            .spawn()
            .map_err(|e| Error::Other(format!("cannot run {:?}: {e}", spec.argv)))?;
        let number = self.next_container.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{number}", self.instance);
        self.children().insert(id.clone(), child);
        Ok(id)
    }

    fn state(&self, id: &str) -> Result<ContainerState> {
        let mut children = self.children();
        let Some(child) = children.get_mut(id) else {
            return Ok(ContainerState::Unknown);
        };
        Ok(match child.try_wait()? {
            None => ContainerState::Running {
                pid: Some(child.id()),
            },
            Some(status) => ContainerState::Exited {
                code: exit_code(status),
                oom_killed: false,
            },
        })
    }

    fn signal(&self, id: &str, signal: Signal) -> Result<()> {
        let mut children = self.children();
        let child = children
            .get_mut(id)
            .ok_or_else(|| Error::UnknownContainer(id.to_owned()))?;
        // Signal only a child not yet reaped: until it is, its PID (the
        // group's ID) cannot be reused by an unrelated process.
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        kill_group(child.id(), signal)
    }

    fn remove(&self, id: &str) -> Result<()> {
        let Some(mut child) = self.children().remove(id) else {
            return Ok(());
        };
        if child.try_wait()?.is_none() {
            kill_group(child.id(), Signal::Kill)?;
            child.wait()?;
        }
        Ok(())
    }
}

impl ExampleRuntime {
    fn children(&self) -> MutexGuard<'_, HashMap<String, Child>> {
        // A panic while the lock was held leaves the map itself consistent.
        self.children
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The command for `argv`, inside `netns` when the spec names one.
fn command(spec: &StartSpec) -> Result<Command> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(Error::Spec(
            "the example runtime has no images: argv must name a program on the host".to_owned(),
        ));
    };
    let Some(netns) = &spec.netns else {
        let mut command = Command::new(program);
        command.args(args);
        return Ok(command);
    };
    let ip = IP_PATHS
        .iter()
        .map(Path::new)
        .find(|path| path.exists())
        .ok_or_else(|| {
            Error::Other(format!("netns {netns} needs ip, not found at {IP_PATHS:?}"))
        })?;
    let mut command = Command::new(ip);
    command.args(["netns", "exec", netns]).args(&spec.argv);
    Ok(command)
}

/// The exit code as a shell reports it: 128 + the signal for a signalled process.
fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(-1)
}

/// `kill -s TERM|KILL -- -<pgid>`: the signal to every process of the group.
fn kill_group(pgid: u32, signal: Signal) -> Result<()> {
    let name = match signal {
        Signal::Term => "TERM",
        Signal::Kill => "KILL",
    };
    let output = Command::new("kill")
        .args(["-s", name, "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::Other(format!(
        "kill -s {name} -- -{pgid}: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_read_as_a_shell_reports_them() {
        // Raw wait statuses: an exit code in the high byte, a signal in the low.
        let cases = [(3 << 8, 3), (0, 0), (15, 143), (9, 137)];
        for (raw, code) in cases {
            assert_eq!(exit_code(ExitStatus::from_raw(raw)), code, "raw {raw}");
        }
    }

    #[test]
    fn a_container_without_argv_is_refused() {
        let driver = ExampleRuntime::new("").unwrap();
        let error = driver.start(&StartSpec::default()).unwrap_err();
        assert!(
            error.to_string().contains("argv must name a program"),
            "{error}"
        );
    }
}
