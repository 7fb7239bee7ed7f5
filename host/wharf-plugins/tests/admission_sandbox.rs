//! The admission world in its sandbox, with the real test admission
//! component (`plugins/testing/test-admission`, built by the test command):
//! its decisions come back typed, and a loop, a panic or a memory hog fails
//! only its own call, classified from wasmtime's typed errors, after which
//! a fresh instance reviews again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wharf_plugins::admission::{AdmissionModule, Decision, Request, UserInfo};
use wharf_plugins::controller::Kind;
use wharf_plugins::{Limits, NoClusterHost, PluginError, Runtime, RuntimeConfig};

fn component() -> Vec<u8> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("wasm32-wasip2/plugin/wharf_test_admission.wasm");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build it with `cargo build -p wharf-test-admission --target wasm32-wasip2 --profile plugin`",
            path.display()
        )
    })
}

fn request(asked: &str) -> Request {
    let object = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default",
                     "annotations": {"test.wharf.dev/admission": asked}},
    });
    Request {
        uid: "1".into(),
        operation: "CREATE".into(),
        kind: Kind {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
        },
        sub_resource: None,
        namespace: Some("default".into()),
        name: "c".into(),
        object: Some(object.to_string()),
        old_object: None,
        user: UserInfo {
            username: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        },
        dry_run: false,
    }
}

#[test]
fn decisions_come_back_typed_and_a_misbehaving_call_fails_alone() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let module = AdmissionModule::load(&runtime, &component()).unwrap();
    let limits = Limits {
        memory_bytes: 16 << 20,
        call_deadline: Duration::from_millis(100),
    };
    let config = r#"{"name": "labeller", "mutating": true}"#;
    let (mut instance, registration) = module
        .start(Arc::new(NoClusterHost::new("test")), &limits, config)
        .unwrap();
    assert!(registration.mutating);
    assert_eq!(registration.kinds[0].kind, "ConfigMap");

    let allowed = instance.review(&request("nothing")).unwrap();
    assert!(matches!(allowed.decision, Decision::Allow));
    let denied = instance.review(&request("deny")).unwrap();
    assert!(matches!(&denied.decision, Decision::Deny(m) if m == "denied on request"));
    let warned = instance.review(&request("warn")).unwrap();
    assert_eq!(warned.warnings, ["warned on request"]);
    let Decision::Patch(patch) = instance.review(&request("label")).unwrap().decision else {
        panic!("a mutation is a patch");
    };
    assert!(
        patch.contains("admitted-by") && patch.contains("labeller"),
        "{patch}"
    );

    type Expected = fn(&PluginError) -> bool;
    let cases: [(&str, Expected); 3] = [
        ("loop", |e| matches!(e, PluginError::Timeout(_))),
        ("panic", |e| matches!(e, PluginError::Trap(_))),
        ("oom", |e| matches!(e, PluginError::OutOfMemory(_))),
    ];
    for (asked, expected) in cases {
        let (mut instance, _) = module
            .start(Arc::new(NoClusterHost::new("test")), &limits, config)
            .unwrap();
        let error = instance.review(&request(asked)).unwrap_err();
        assert!(expected(&error), "{asked}: {error:?}");
        assert!(error.poisons_instance(), "{asked}: {error:?}");
        // A fresh instance of the same module reviews on.
        let (mut fresh, _) = module
            .start(Arc::new(NoClusterHost::new("test")), &limits, config)
            .unwrap();
        let decision = fresh.review(&request("deny")).unwrap().decision;
        assert!(matches!(&decision, Decision::Deny(m) if m == "denied on request"));
    }
}
