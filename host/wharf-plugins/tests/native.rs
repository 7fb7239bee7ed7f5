//! A native plugin runs like a component: the real ReplicaSet controller,
//! built as a shared library (`cargo build --release -p
//! wharf-controller-replicaset`, which `scripts/build-plugins.sh` runs),
//! loaded with `dlopen`, registers, reads and writes through the host, and
//! its errors come back with their API error variant.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::json;
use wharf_plugins::controller::{
    ApiError, ControllerHost, Event, Kind, Level, ListOptions, Outcome, PatchType,
};
use wharf_plugins::native::NativeControllerModule;
use wharf_plugins::{Limits, PluginError, Runtime, RuntimeConfig};

/// The ReplicaSet controller's shared library, as the build script builds it.
fn library() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let file = if cfg!(target_os = "macos") {
        "libwharf_controller_replicaset.dylib"
    } else {
        "libwharf_controller_replicaset.so"
    };
    let path = target.join("release").join(file);
    assert!(
        path.exists(),
        "{} is missing; build it with `cargo build --release -p wharf-controller-replicaset` (scripts/build-plugins.sh does)",
        path.display()
    );
    path
}

/// A host with at most one ReplicaSet and no pods, that records calls.
#[derive(Default)]
struct RecordingHost {
    replica_set: Option<serde_json::Value>,
    forbid_creates: bool,
    calls: Mutex<Vec<String>>,
}

impl RecordingHost {
    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl ControllerHost for RecordingHost {
    fn get(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<String>, ApiError> {
        self.record(format!(
            "get {} {}/{name}",
            kind.kind,
            namespace.unwrap_or("")
        ));
        Ok(match kind.kind.as_str() {
            "ReplicaSet" => self.replica_set.as_ref().map(|rs| rs.to_string()),
            _ => None,
        })
    }
    fn list(&self, kind: &Kind, _: &ListOptions) -> Result<Vec<String>, ApiError> {
        self.record(format!("list {}", kind.kind));
        Ok(vec![])
    }
    fn create(&self, kind: &Kind, _: Option<&str>, object: &str) -> Result<String, ApiError> {
        self.record(format!("create {}", kind.kind));
        if self.forbid_creates {
            return Err(ApiError::Forbidden(format!(
                "{} is not in the plugin's permissions",
                kind.kind
            )));
        }
        let mut object: serde_json::Value = serde_json::from_str(object).unwrap();
        object["metadata"]["name"] = json!("web-abcde");
        object["metadata"]["resourceVersion"] = json!("2");
        Ok(object.to_string())
    }
    fn update(
        &self,
        kind: &Kind,
        _: Option<&str>,
        object: &str,
        status: bool,
    ) -> Result<String, ApiError> {
        self.record(format!(
            "update {}{}",
            kind.kind,
            if status { " status" } else { "" }
        ));
        Ok(object.to_owned())
    }
    fn patch(
        &self,
        kind: &Kind,
        _: Option<&str>,
        name: &str,
        _: PatchType,
        _: &str,
        _: bool,
    ) -> Result<String, ApiError> {
        self.record(format!("patch {} {name}", kind.kind));
        Err(ApiError::Other("not in this test".into()))
    }
    fn delete(&self, kind: &Kind, _: Option<&str>, name: &str) -> Result<(), ApiError> {
        self.record(format!("delete {} {name}", kind.kind));
        Ok(())
    }
    fn log(&self, _: Level, _: &str) {}
    fn state_get(&self, _: &str) -> Option<Vec<u8>> {
        None
    }
    fn state_set(&self, _: &str, _: &[u8]) {}
    fn state_delete(&self, _: &str) {}
    fn emit(&self, event: Event) {
        self.record(format!("event {}", event.reason));
    }
}

fn replica_set(replicas: u32) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web", "namespace": "default", "uid": "u-1",
                     "resourceVersion": "1", "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]}
            }
        }
    })
}

#[test]
fn the_native_replicaset_controller_registers_and_a_missing_replicaset_is_done() {
    let module = NativeControllerModule::load(&runtime(), &library()).unwrap();
    assert!(module.digest().starts_with("sha256:"));
    let host = Arc::new(RecordingHost::default());
    let mut instance = module
        .instantiate(host.clone(), &Limits::default())
        .unwrap();
    let registration = instance.init("{}").unwrap();
    assert_eq!(
        (
            registration.primary.group.as_str(),
            registration.primary.version.as_str(),
            registration.primary.kind.as_str()
        ),
        ("apps", "v1", "ReplicaSet")
    );
    let owns: Vec<&str> = registration.owns.iter().map(|k| k.kind.as_str()).collect();
    assert_eq!(owns, ["Pod"]);
    assert_eq!(registration.resync_seconds, 0);

    let (outcome, _) = instance.reconcile(Some("default"), "gone");
    assert!(matches!(outcome, Ok(Outcome::Done)), "{outcome:?}");
    assert_eq!(host.calls(), ["get ReplicaSet default/gone"]);
}

#[test]
fn the_native_controller_creates_pods_through_the_host() {
    let module = NativeControllerModule::load(&runtime(), &library()).unwrap();
    let host = Arc::new(RecordingHost {
        replica_set: Some(replica_set(2)),
        ..RecordingHost::default()
    });
    let mut instance = module
        .instantiate(host.clone(), &Limits::default())
        .unwrap();
    instance.init("").unwrap();
    let (outcome, _) = instance.reconcile(Some("default"), "web");
    assert!(outcome.is_ok(), "{outcome:?}");
    let calls = host.calls();
    let creates = calls.iter().filter(|c| *c == "create Pod").count();
    assert_eq!(creates, 2, "{calls:?}");
    assert!(calls.contains(&"list Pod".to_owned()), "{calls:?}");
    assert!(
        calls.contains(&"event SuccessfulCreate".to_owned()),
        "{calls:?}"
    );
}

#[test]
fn an_api_error_of_the_host_reaches_the_plugin_as_its_variant() {
    let module = NativeControllerModule::load(&runtime(), &library()).unwrap();
    let host = Arc::new(RecordingHost {
        replica_set: Some(replica_set(1)),
        forbid_creates: true,
        ..RecordingHost::default()
    });
    let mut instance = module.instantiate(host, &Limits::default()).unwrap();
    instance.init("{}").unwrap();
    let (outcome, _) = instance.reconcile(Some("default"), "web");
    match outcome {
        Err(PluginError::Failed(message)) => {
            assert!(message.contains("forbidden"), "{message}")
        }
        other => panic!("expected a failed reconcile, got {other:?}"),
    }
}

#[test]
fn reconcile_before_init_fails_and_a_file_that_is_no_plugin_does_not_load() {
    let module = NativeControllerModule::load(&runtime(), &library()).unwrap();
    let mut instance = module
        .instantiate(Arc::new(RecordingHost::default()), &Limits::default())
        .unwrap();
    assert!(matches!(
        instance.reconcile(None, "x").0,
        Err(PluginError::Failed(_))
    ));
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("libbogus.so");
    std::fs::write(&bogus, b"not an ELF file").unwrap();
    let in_dir = Runtime::new(RuntimeConfig {
        native_plugin_dir: Some(dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let error = NativeControllerModule::load(&in_dir, &bogus).err().unwrap();
    assert!(matches!(error, PluginError::Link { .. }), "{error}");
}

#[test]
fn native_plugins_load_only_from_the_native_plugin_directory() {
    // Off unless a directory is named.
    let off = Runtime::new(RuntimeConfig::default()).unwrap();
    let error = NativeControllerModule::load(&off, &library())
        .err()
        .unwrap();
    assert!(
        matches!(&error, PluginError::Refused(m) if m.contains("--native-plugin-dir")),
        "{error}"
    );
    // A copy of the library elsewhere, or a path that leaves the directory
    // through `..`, is refused.
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("libwharf_controller_replicaset.so");
    std::fs::copy(library(), &copy).unwrap();
    let error = NativeControllerModule::load(&runtime(), &copy)
        .err()
        .unwrap();
    assert!(
        matches!(&error, PluginError::Refused(m) if m.contains("outside the native plugin directory")),
        "{error}"
    );
    let dir = library().parent().unwrap().to_path_buf();
    let sneaky = dir.join("..").join(copy.strip_prefix("/").unwrap());
    let error = NativeControllerModule::load(&runtime(), &sneaky)
        .err()
        .unwrap();
    assert!(matches!(error, PluginError::Refused(_)), "{error}");
}

/// A runtime whose native plugin directory holds the test library.
fn runtime() -> Arc<Runtime> {
    Runtime::new(RuntimeConfig {
        native_plugin_dir: library().parent().map(PathBuf::from),
        ..RuntimeConfig::default()
    })
    .unwrap()
}
