//! A plugin cannot hurt the host: with the real test guest component
//! (`plugins/testing/test-guest`, built for wasm32-wasip2 by the test
//! command), an infinite loop is stopped at its deadline, a memory hog is
//! refused, a panic is contained, and the host and other instances run on.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wharf_plugins::controller::{
    ApiError, ControllerHost, ControllerModule, Event, Kind, Level, ListOptions, Outcome, PatchType,
};
use wharf_plugins::{Limits, PluginError, Runtime, RuntimeConfig};

/// The test guest's component, as `scripts/test.sh` builds it.
fn guest_bytes() -> Vec<u8> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("wasm32-wasip2/plugin/wharf_test_guest.wasm");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build it with `cargo build -p wharf-test-guest --target wasm32-wasip2 --profile plugin`",
            path.display()
        )
    })
}

/// A host that records what the plugin asked for; ConfigMaps only.
#[derive(Default)]
struct RecordingHost {
    calls: Mutex<Vec<String>>,
    logs: Mutex<Vec<(Level, String)>>,
    stopped: std::sync::atomic::AtomicBool,
}

impl ControllerHost for RecordingHost {
    fn stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::Relaxed)
    }
    fn get(&self, kind: &Kind, _: Option<&str>, name: &str) -> Result<Option<String>, ApiError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("get {} {name}", kind.kind));
        Ok(None)
    }
    fn list(&self, _: &Kind, _: &ListOptions) -> Result<Vec<String>, ApiError> {
        Ok(vec![])
    }
    fn create(&self, kind: &Kind, _: Option<&str>, _: &str) -> Result<String, ApiError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("create {}", kind.kind));
        Err(ApiError::Forbidden(format!(
            "{} is not in the plugin's permissions",
            kind.kind
        )))
    }
    fn update(&self, _: &Kind, _: Option<&str>, _: &str, _: bool) -> Result<String, ApiError> {
        Err(ApiError::Other("not in this test".into()))
    }
    fn patch(
        &self,
        _: &Kind,
        _: Option<&str>,
        _: &str,
        _: PatchType,
        _: &str,
        _: bool,
    ) -> Result<String, ApiError> {
        Err(ApiError::Other("not in this test".into()))
    }
    fn delete(&self, _: &Kind, _: Option<&str>, _: &str) -> Result<(), ApiError> {
        Ok(())
    }
    fn log(&self, level: Level, message: &str) {
        self.logs.lock().unwrap().push((level, message.to_string()));
    }
    fn state_get(&self, _: &str) -> Option<Vec<u8>> {
        None
    }
    fn state_set(&self, _: &str, _: &[u8]) {}
    fn state_delete(&self, _: &str) {}
    fn emit(&self, _: Event) {}
}

fn setup(limits: &Limits) -> (Arc<Runtime>, ControllerModule, Arc<RecordingHost>) {
    let _ = limits;
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let module = ControllerModule::load(&runtime, &guest_bytes()).unwrap();
    (runtime, module, Arc::new(RecordingHost::default()))
}

fn config(mode: &str) -> String {
    format!(r#"{{"mode": "{mode}"}}"#)
}

#[test]
fn an_infinite_loop_is_stopped_at_its_deadline_and_the_host_runs_on() {
    let limits = Limits {
        call_deadline: Duration::from_millis(200),
        ..Limits::default()
    };
    let (_runtime, module, host) = setup(&limits);
    let mut looping = module.instantiate(host.clone(), &limits).unwrap();
    let registration = looping.init(&config("loop")).unwrap();
    assert_eq!(registration.primary.kind, "ConfigMap");
    let started = Instant::now();
    let (result, _) = looping.reconcile(Some("default"), "x");
    let error = result.unwrap_err();
    assert!(matches!(error, PluginError::Timeout(_)), "{error:?}");
    assert!(error.poisons_instance());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "interrupted, not left to run"
    );
    // Another instance of the same module serves on.
    let mut healthy = module.instantiate(host, &limits).unwrap();
    healthy.init(&config("noop")).unwrap();
    assert!(matches!(
        healthy.reconcile(Some("default"), "x").0,
        Ok(Outcome::Done)
    ));
}

#[test]
fn a_stopped_plugin_s_call_is_interrupted_before_its_deadline() {
    let limits = Limits {
        call_deadline: Duration::from_secs(10),
        ..Limits::default()
    };
    let (_runtime, module, host) = setup(&limits);
    let mut looping = module.instantiate(host.clone(), &limits).unwrap();
    looping.init(&config("loop")).unwrap();
    let stopper = host.clone();
    let stop = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        stopper
            .stopped
            .store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let (result, _) = looping.reconcile(Some("default"), "x");
    stop.join().unwrap();
    let error = result.unwrap_err();
    // Stopped, not timed out: the 10 s deadline was never reached.
    assert!(matches!(error, PluginError::Stopped), "{error:?}");
    assert_eq!(error.reason(), "Stopped");
}

#[test]
fn limits_over_the_host_s_maxima_are_refused() {
    let runtime = Runtime::new(RuntimeConfig {
        max_memory_bytes: 64 << 20,
        max_call_deadline: Duration::from_secs(2),
        max_workers: 4,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let module = ControllerModule::load(&runtime, &guest_bytes()).unwrap();
    let host = Arc::new(RecordingHost::default());
    let slow = Limits {
        call_deadline: Duration::from_secs(60),
        ..Limits::default()
    };
    let error = module.instantiate(host.clone(), &slow).err().unwrap();
    assert!(
        matches!(&error, PluginError::Refused(m) if m.contains("callTimeout")),
        "{error:?}"
    );
    let big = Limits {
        memory_bytes: 128 << 20,
        ..Limits::default()
    };
    let error = module.instantiate(host.clone(), &big).err().unwrap();
    assert!(
        matches!(&error, PluginError::Refused(m) if m.contains("memory")),
        "{error:?}"
    );
    assert!(matches!(
        runtime.check_workers(5),
        Err(PluginError::Refused(_))
    ));
    assert!(runtime.check_workers(4).is_ok());
    assert!(module.instantiate(host, &Limits::default()).is_ok());
}

#[test]
fn a_memory_hog_is_refused_at_its_limit() {
    let limits = Limits {
        memory_bytes: 16 << 20,
        call_deadline: Duration::from_secs(5),
    };
    let (_runtime, module, host) = setup(&limits);
    let mut hog = module.instantiate(host.clone(), &limits).unwrap();
    hog.init(&config("hog")).unwrap();
    let error = hog.reconcile(None, "x").0.unwrap_err();
    assert!(
        matches!(error, PluginError::OutOfMemory(_) | PluginError::Trap(_)),
        "{error:?}"
    );
    assert!(error.poisons_instance());
    let mut healthy = module.instantiate(host, &limits).unwrap();
    healthy.init(&config("noop")).unwrap();
    assert!(healthy.reconcile(None, "x").0.is_ok());
}

#[test]
fn a_panic_is_contained_as_a_trap() {
    let limits = Limits::default();
    let (_runtime, module, host) = setup(&limits);
    let mut panicking = module.instantiate(host.clone(), &limits).unwrap();
    panicking.init(&config("panic")).unwrap();
    let error = panicking.reconcile(None, "x").0.unwrap_err();
    // The panic message the guest wrote to stderr is in the error (what
    // the Plugin's status shows) and in the plugin's log.
    assert!(
        matches!(&error, PluginError::Trap(message)
            if message.contains("stderr ends with") && message.contains("the test guest panics on purpose")),
        "{error:?}"
    );
    assert!(
        host.logs
            .lock()
            .unwrap()
            .iter()
            .any(|(level, line)| *level == Level::Warn && line.contains("panics on purpose")),
        "{:?}",
        host.logs.lock().unwrap()
    );
    let mut healthy = module.instantiate(host, &limits).unwrap();
    healthy.init(&config("noop")).unwrap();
    assert!(healthy.reconcile(None, "x").0.is_ok());
}

#[test]
fn host_calls_reach_the_host_and_errors_come_back_to_the_plugin() {
    let limits = Limits::default();
    let (_runtime, module, host) = setup(&limits);
    let mut reader = module.instantiate(host.clone(), &limits).unwrap();
    reader.init(&config("read")).unwrap();
    assert!(reader.reconcile(Some("default"), "cm1").0.is_ok());
    let mut thief = module.instantiate(host.clone(), &limits).unwrap();
    thief.init(&config("forbidden")).unwrap();
    let error = thief.reconcile(Some("default"), "cm1").0.unwrap_err();
    assert!(
        matches!(&error, PluginError::Failed(message) if message.starts_with("Forbidden")),
        "{error:?}"
    );
    assert!(
        !error.poisons_instance(),
        "a plugin's own error leaves the instance usable"
    );
    assert_eq!(
        *host.calls.lock().unwrap(),
        ["get ConfigMap cm1", "create Secret"]
    );
}

#[test]
fn a_second_load_comes_from_the_compile_cache_and_garbage_is_rejected() {
    let cache = tempfile::tempdir().unwrap();
    let config = RuntimeConfig {
        cache_dir: Some(cache.path().to_owned()),
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::new(config).unwrap();
    let bytes = guest_bytes();
    let first = ControllerModule::load(&runtime, &bytes).unwrap();
    let cached: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
    assert_eq!(cached.len(), 1, "one compiled artifact in the cache");
    let second = ControllerModule::load(&runtime, &bytes).unwrap();
    assert!(!first.times().from_cache && second.times().from_cache);
    assert_eq!(first.digest(), second.digest());
    assert!(first.digest().starts_with("sha256:"));
    let error = ControllerModule::load(&runtime, b"\0asm not really")
        .err()
        .expect("garbage does not load");
    assert!(matches!(error, PluginError::Compile(_)), "{error:?}");
}

#[test]
fn an_instance_past_three_quarters_of_its_memory_limit_is_worn_out() {
    let roomy = Limits::default();
    let (_runtime, module, host) = setup(&roomy);
    let mut instance = module.instantiate(host.clone(), &roomy).unwrap();
    instance.init(&config("noop")).unwrap();
    assert!(!instance.worn_out());
    // The guest's initial memory (about 1.1 MiB) is past three quarters
    // of a 1.4 MiB limit, yet within it: it runs, and is to be replaced.
    let tight = Limits {
        memory_bytes: 1_400_000,
        ..Limits::default()
    };
    let mut instance = module.instantiate(host, &tight).unwrap();
    instance.init(&config("noop")).unwrap();
    assert!(instance.reconcile(None, "x").0.is_ok());
    assert!(instance.worn_out());
}

#[test]
fn a_component_that_does_not_link_is_not_cached() {
    let cache = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache.path().to_owned()),
        ..RuntimeConfig::default()
    })
    .unwrap();
    // A controller is not an admission plugin: it compiles, but does not
    // fit the admission world.
    let error = wharf_plugins::admission::AdmissionModule::load(&runtime, &guest_bytes())
        .err()
        .expect("a controller does not link as an admission plugin");
    assert!(matches!(error, PluginError::Link { .. }), "{error:?}");
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
}
