//! `exec` for the process driver: a command run inside a running
//! container, everything taken from the container's process as the kernel
//! shows it (`/proc/PID`): its cgroups (joined first), its mount, network,
//! UTS and IPC namespaces (`nsenter`), its working directory, user and
//! groups (`setpriv`), and its environment (`env -i`). Nothing of the
//! agent's own leaks in, and nothing but the container is reachable: the
//! command is always a child of `nsenter --target PID`.
//!
//! With a TTY the command gets a pseudo-terminal of its own as its
//! controlling terminal (`setsid --ctty`), which the client can resize;
//! without one, pipes.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use tokio::process::Command;

use super::process::{binary, join_cgroup_script};
use crate::streaming::Session;

/// What the client asked for.
pub struct ExecRequest<'a> {
    pub command: &'a [String],
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// Starts `request.command` in the container whose process is `pid`.
pub fn exec(pid: u32, request: &ExecRequest<'_>) -> io::Result<Session> {
    if request.command.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "you must specify at least one command for the container",
        ));
    }
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let argv = argv(&proc_dir, pid, request.command, request.tty)?;
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .env_clear()
        .kill_on_drop(true)
        .current_dir("/");
    if request.tty {
        with_terminal(command, request)
    } else {
        with_pipes(command, request)
    }
}

/// `sh` (joining the cgroups), then `setsid` (with a TTY), `nsenter`,
/// `setpriv`, `env`.
fn argv(proc_dir: &Path, pid: u32, command: &[String], tty: bool) -> io::Result<Vec<String>> {
    let mut argv: Vec<String> = Vec::new();
    let procs = cgroup_procs(&std::fs::read_to_string(proc_dir.join("cgroup"))?);
    if !procs.is_empty() {
        let script = join_cgroup_script(&procs)?;
        argv.extend(["/bin/sh".into(), "-c".into(), script, "sh".into()]);
    }
    if tty {
        // Its terminal (stdin) becomes the session's controlling one.
        argv.push(binary("setsid").into());
        argv.push("--ctty".into());
    }
    let cwd = std::fs::read_link(proc_dir.join("cwd"))?;
    argv.extend([
        binary("nsenter").to_owned(),
        format!("--target={pid}"),
        "--mount".into(),
        "--net".into(),
        "--uts".into(),
        "--ipc".into(),
        format!("--wd={}", cwd.display()),
        "--".into(),
    ]);
    let status = std::fs::read_to_string(proc_dir.join("status"))?;
    let user = user_of(&status)?;
    // A root container's command runs as the (root) agent does.
    if user.uid != 0 || user.gid != 0 || !user.groups.is_empty() {
        argv.push(binary("setpriv").into());
        argv.push(format!("--reuid={}", user.uid));
        argv.push(format!("--regid={}", user.gid));
        if user.groups.is_empty() {
            argv.push("--clear-groups".into());
        } else {
            argv.push(format!(
                "--groups={}",
                user.groups
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        argv.push("--".into());
    }
    argv.push("/usr/bin/env".into());
    argv.push("-i".into());
    argv.extend(environment(&std::fs::read(proc_dir.join("environ"))?));
    argv.extend(command.iter().cloned());
    Ok(argv)
}

/// The `cgroup.procs` files of the cgroups `/proc/PID/cgroup` names: the
/// unified hierarchy's (`0::/path`) or each v1 controller's.
fn cgroup_procs(cgroups: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    cgroups
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            let path = path.trim_start_matches('/');
            let base = match controllers {
                "" => root.to_path_buf(),
                // `name=systemd` and the like are not joined.
                named if named.starts_with("name=") => return None,
                controllers => root.join(controllers),
            };
            let file = base.join(path).join("cgroup.procs");
            file.exists().then_some(file)
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq)]
struct User {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

/// The effective user, group and supplementary groups in `/proc/PID/status`.
fn user_of(status: &str) -> io::Result<User> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|rest| {
                rest.split_whitespace()
                    .filter_map(|n| n.parse::<u32>().ok())
                    .collect::<Vec<_>>()
            })
    };
    let ids = |name: &str| {
        field(name)
            .and_then(|ids| ids.get(1).copied())
            .ok_or_else(|| io::Error::other(format!("no {name} line in the process's status")))
    };
    Ok(User {
        uid: ids("Uid:")?,
        gid: ids("Gid:")?,
        groups: field("Groups:").unwrap_or_default(),
    })
}

/// `KEY=value` arguments from `/proc/PID/environ` (NUL-separated).
fn environment(environ: &[u8]) -> Vec<String> {
    environ
        .split(|byte| *byte == 0)
        .filter(|entry| !entry.is_empty())
        .map(|entry| String::from_utf8_lossy(entry).into_owned())
        .filter(|entry| entry.contains('='))
        .collect()
}

fn with_pipes(mut command: Command, request: &ExecRequest<'_>) -> io::Result<Session> {
    let piped = |wanted: bool| {
        if wanted {
            Stdio::piped()
        } else {
            Stdio::null()
        }
    };
    command
        .stdin(piped(request.stdin))
        .stdout(piped(request.stdout))
        .stderr(piped(request.stderr));
    let mut child = command.spawn()?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    Ok(Session {
        stdin: stdin.map(|pipe| Box::new(pipe) as _),
        stdout: stdout.map(|pipe| Box::new(pipe) as _),
        stderr: stderr.map(|pipe| Box::new(pipe) as _),
        resize: None,
        exit: Box::pin(async move { exit_code(child.wait().await) }),
    })
}

fn with_terminal(mut command: Command, request: &ExecRequest<'_>) -> io::Result<Session> {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname(&master, Vec::new())?;
    let slave: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_string_lossy().as_ref())?
        .into();
    command
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave));
    let mut child = command.spawn()?;
    let master = Arc::new(master);
    let file = |fd: &OwnedFd| -> io::Result<tokio::fs::File> {
        Ok(tokio::fs::File::from_std(std::fs::File::from(
            fd.try_clone()?,
        )))
    };
    let reader = file(&master)?;
    let writer = file(&master)?;
    let resized = master.clone();
    Ok(Session {
        stdin: request.stdin.then(|| Box::new(writer) as _),
        stdout: Some(Box::new(reader)),
        stderr: None,
        resize: Some(Box::new(move |width, height| {
            let size = rustix::termios::Winsize {
                ws_row: height,
                ws_col: width,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            let _ = rustix::termios::tcsetwinsize(&*resized, size);
        })),
        exit: Box::pin(async move {
            let ended = exit_code(child.wait().await);
            drop(master);
            ended
        }),
    })
}

fn exit_code(status: io::Result<std::process::ExitStatus>) -> Result<i32, String> {
    use std::os::unix::process::ExitStatusExt;
    let status = status.map_err(|error| error.to_string())?;
    Ok(status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroups_are_joined_in_each_hierarchy_the_process_is_in() {
        // Only files that exist are named; the unified root always does.
        assert_eq!(
            cgroup_procs("0::/\n1:name=systemd:/x\n"),
            [PathBuf::from("/sys/fs/cgroup/cgroup.procs")]
                .into_iter()
                .filter(|p| p.exists())
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_user_is_the_effective_one() {
        let status =
            "Name:\tsh\nUid:\t1000\t1001\t1001\t1001\nGid:\t50\t51\t51\t51\nGroups:\t4 24 \n";
        assert_eq!(
            user_of(status).unwrap(),
            User {
                uid: 1001,
                gid: 51,
                groups: vec![4, 24]
            }
        );
        assert!(user_of("Name:\tsh\n").is_err());
    }

    #[test]
    fn the_environment_is_the_processs() {
        assert_eq!(
            environment(b"PATH=/bin\0HOME=/\0\0junk\0"),
            ["PATH=/bin", "HOME=/"]
        );
    }

    #[tokio::test]
    async fn a_command_runs_with_the_targets_environment_and_exit_code() {
        use tokio::io::AsyncReadExt;
        let mut target = std::process::Command::new("/bin/sh")
            .args(["-c", "sleep 30"])
            .env_clear()
            .env("GREETING", "from-the-container")
            .spawn()
            .unwrap();
        let command: Vec<String> = ["/bin/sh", "-c", "echo $GREETING; exit 3"]
            .map(String::from)
            .to_vec();
        let request = ExecRequest {
            command: &command,
            stdin: false,
            stdout: true,
            stderr: true,
            tty: false,
        };
        let session = exec(target.id(), &request).unwrap();
        let mut out = String::new();
        session
            .stdout
            .unwrap()
            .read_to_string(&mut out)
            .await
            .unwrap();
        assert_eq!(out, "from-the-container\n");
        assert_eq!(session.exit.await, Ok(3));

        // With a terminal: the command's stdin is a TTY whose size the client sets.
        let command: Vec<String> = ["/bin/sh", "-c", "read size; stty size; test -t 0"]
            .map(String::from)
            .to_vec();
        let request = ExecRequest {
            command: &command,
            stdin: true,
            stdout: true,
            stderr: true,
            tty: true,
        };
        let session = exec(target.id(), &request).unwrap();
        (session.resize.as_ref().unwrap())(100, 30);
        let mut stdin = session.stdin.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stdin, b"go\n")
            .await
            .unwrap();
        assert_eq!(session.exit.await, Ok(0));
        let mut out = vec![0u8; 4096];
        let read = session.stdout.unwrap().read(&mut out).await.unwrap();
        let out = String::from_utf8_lossy(&out[..read]);
        assert!(out.contains("30 100"), "{out:?}");
        target.kill().unwrap();
        target.wait().unwrap();
    }
}
