//! The example runtime driver, built as a shared library (`cargo build
//! --release -p wharf-runtime-example`, which `scripts/build-plugins.sh`
//! runs) and loaded through the runtime ABI, runs real host processes:
//! exit codes, logs, environment, working directory, signals and removal
//! reach the node agent's side as the ABI says; files that are not drivers
//! are refused with an error.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wharf_native_runtime::{ContainerState, NativeRuntime, NativeRuntimeError, Signal, StartSpec};

/// The example driver's shared library, as the build script builds it.
fn library() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let file = if cfg!(target_os = "macos") {
        "libwharf_runtime_example.dylib"
    } else {
        "libwharf_runtime_example.so"
    };
    let path = target.join("release").join(file);
    assert!(
        path.exists(),
        "{} is missing; build it with `cargo build --release -p wharf-runtime-example` (scripts/build-plugins.sh does)",
        path.display()
    );
    path
}

fn example_driver() -> NativeRuntime {
    NativeRuntime::load(&library(), "").expect("the example driver loads")
}

/// A spec running `argv` with a minimal PATH, logging to `log`.
fn spec(argv: &[&str], log: &Path) -> StartSpec {
    StartSpec {
        pod_uid: "uid-1".into(),
        pod_namespace: "default".into(),
        pod_name: "web".into(),
        container: "main".into(),
        image: "ignored".into(),
        argv: argv.iter().map(|arg| (*arg).to_owned()).collect(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        log_path: log.display().to_string(),
        ..StartSpec::default()
    }
}

/// Polls until the container is no longer running (10 s at most).
fn wait_for_exit(driver: &NativeRuntime, id: &str) -> ContainerState {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = driver.state(id).expect("state");
        if !matches!(state, ContainerState::Running { .. }) || Instant::now() > deadline {
            return state;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_container_exits_with_its_code_and_its_output_is_appended_to_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("main.log");
    std::fs::write(&log, "earlier\n").unwrap();
    let driver = example_driver();
    assert_eq!(driver.name(), "example");

    let id = driver
        .start(&spec(
            &["sh", "-c", "echo hello; echo oops >&2; exit 3"],
            &log,
        ))
        .unwrap();

    assert_eq!(
        wait_for_exit(&driver, &id),
        ContainerState::Exited {
            code: 3,
            oom_killed: false
        }
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "earlier\nhello\noops\n"
    );
}

#[test]
fn a_running_container_has_a_pid_and_term_ends_it_with_143() {
    let dir = tempfile::tempdir().unwrap();
    let driver = example_driver();
    let id = driver
        .start(&spec(&["sleep", "30"], &dir.path().join("sleep.log")))
        .unwrap();

    let ContainerState::Running { pid: Some(pid) } = driver.state(&id).unwrap() else {
        panic!("not running with a pid: {:?}", driver.state(&id));
    };
    assert!(pid > 1);
    driver.signal(&id, Signal::Term).unwrap();

    assert_eq!(
        wait_for_exit(&driver, &id),
        ContainerState::Exited {
            code: 143,
            oom_killed: false
        }
    );
    // Signalling an exited container is not an error (the agent repeats).
    driver.signal(&id, Signal::Kill).unwrap();
}

#[test]
fn kill_ends_every_process_of_the_container_with_137() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stubborn.log");
    let driver = example_driver();
    // A shell that ignores TERM and a child of it, whose PID it logs.
    let id = driver
        .start(&spec(
            &["sh", "-c", "trap '' TERM; sleep 30 & echo $!; wait"],
            &log,
        ))
        .unwrap();
    let child_pid = poll(|| {
        std::fs::read_to_string(&log)
            .ok()?
            .trim()
            .parse::<u32>()
            .ok()
    });

    driver.signal(&id, Signal::Kill).unwrap();

    assert_eq!(
        wait_for_exit(&driver, &id),
        ContainerState::Exited {
            code: 137,
            oom_killed: false
        }
    );
    // The child was in the container's process group: gone too (or a
    // zombie waiting for its new parent to reap it).
    poll(|| {
        let stat = std::fs::read_to_string(format!("/proc/{child_pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").map(|(_, rest)| &rest[..1]);
        matches!(state, None | Some("Z")).then_some(())
    });
}

/// Polls `check` until it answers (10 s at most).
fn poll<T>(check: impl Fn() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(answer) = check() {
            return answer;
        }
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_environment_is_exactly_the_specs_and_the_working_dir_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let log = dir.path().join("env.log");
    let mut spec = spec(
        &[
            "sh",
            "-c",
            "echo \"$GREETING from $(pwd), HOME=${HOME-unset}\"",
        ],
        &log,
    );
    spec.env.push(("GREETING".into(), "hi there".into()));
    spec.working_dir = Some(work.display().to_string());
    let driver = example_driver();

    let id = driver.start(&spec).unwrap();

    assert_eq!(
        wait_for_exit(&driver, &id),
        ContainerState::Exited {
            code: 0,
            oom_killed: false
        }
    );
    let work = work.canonicalize().unwrap();
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("hi there from {}, HOME=unset\n", work.display())
    );
}

#[test]
fn a_removed_container_and_an_id_never_started_are_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let driver = example_driver();
    let id = driver
        .start(&spec(&["true"], &dir.path().join("true.log")))
        .unwrap();
    assert!(matches!(
        wait_for_exit(&driver, &id),
        ContainerState::Exited { code: 0, .. }
    ));

    driver.remove(&id).unwrap();

    assert_eq!(driver.state(&id).unwrap(), ContainerState::Unknown);
    assert_eq!(
        driver.state("never-started").unwrap(),
        ContainerState::Unknown
    );
    // Removing again is not an error; signalling what the driver does not
    // know is.
    driver.remove(&id).unwrap();
    let error = driver.signal("never-started", Signal::Term).unwrap_err();
    assert!(
        matches!(&error, NativeRuntimeError::Failed(message) if message == "no container never-started"),
        "{error:?}"
    );
}

#[test]
fn removing_a_running_container_kills_it() {
    let dir = tempfile::tempdir().unwrap();
    let driver = example_driver();
    let id = driver
        .start(&spec(&["sleep", "30"], &dir.path().join("sleep.log")))
        .unwrap();

    driver.remove(&id).unwrap();

    assert_eq!(driver.state(&id).unwrap(), ContainerState::Unknown);
}

#[test]
fn the_drivers_errors_come_back_as_failed_calls() {
    let dir = tempfile::tempdir().unwrap();
    let driver = example_driver();
    let cases: &[(StartSpec, &str)] = &[
        (
            spec(&[], &dir.path().join("a.log")),
            "argv must name a program",
        ),
        (
            spec(&["/nonexistent/program"], &dir.path().join("b.log")),
            "cannot run",
        ),
        (
            spec(&["true"], &dir.path().join("missing-dir/c.log")),
            "cannot open the log",
        ),
    ];
    for (spec, expected) in cases {
        match driver.start(spec) {
            Err(NativeRuntimeError::Failed(message)) => {
                assert!(message.contains(expected), "{message:?} lacks {expected:?}")
            }
            other => panic!("{:?}: expected a failure, got {other:?}", spec.argv),
        }
    }
}

#[test]
fn a_driver_can_be_shared_between_threads() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<NativeRuntime>();

    let dir = tempfile::tempdir().unwrap();
    let driver = example_driver();
    std::thread::scope(|scope| {
        for n in 0..4 {
            let (driver, log) = (&driver, dir.path().join(format!("{n}.log")));
            scope.spawn(move || {
                let id = driver
                    .start(&spec(&["sh", "-c", &format!("exit {n}")], &log))
                    .unwrap();
                assert_eq!(
                    wait_for_exit(driver, &id),
                    ContainerState::Exited {
                        code: n,
                        oom_killed: false
                    }
                );
            });
        }
    });
}

#[test]
fn files_that_are_not_runtime_drivers_are_refused_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("driver.so");
    std::fs::write(&text, "not a shared library\n").unwrap();

    let error = NativeRuntime::load(&text, "").unwrap_err();
    assert!(
        matches!(&error, NativeRuntimeError::Load { path, .. } if path == &text),
        "{error:?}"
    );
    assert!(error.to_string().contains("driver.so"), "{error}");

    let missing = dir.path().join("missing.so");
    assert!(matches!(
        NativeRuntime::load(&missing, ""),
        Err(NativeRuntimeError::Load { .. })
    ));

    // A real shared library without the runtime ABI's symbols.
    if cfg!(target_os = "linux") {
        let error = NativeRuntime::load(Path::new("libc.so.6"), "").unwrap_err();
        assert!(
            matches!(&error, NativeRuntimeError::NotADriver { reason, .. } if reason.contains("wharf_runtime_abi_version")),
            "{error:?}"
        );
    }
}
