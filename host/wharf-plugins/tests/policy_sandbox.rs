//! A scheduling policy cannot hurt the host either: with the real test
//! policy component (`plugins/testing/test-policy`, built by the test
//! command), a filter that loops is stopped at its deadline, one that eats
//! memory is refused, a panic is contained, an error is an error — and a
//! sound instance of the same module keeps answering.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use wharf_plugin_abi::policy::{Change, Node, Pod};
use wharf_plugins::policy::{PolicyModule, PreparedChanges, PreparedPod};
use wharf_plugins::{Limits, PluginError, Runtime, RuntimeConfig};

fn policy_bytes() -> Vec<u8> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("wasm32-wasip2/plugin/wharf_test_policy.wasm");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build it with `cargo build -p wharf-test-policy --target wasm32-wasip2 --profile plugin`",
            path.display()
        )
    })
}

fn limits() -> Limits {
    Limits {
        memory_bytes: 16 << 20,
        call_deadline: Duration::from_millis(100),
    }
}

fn filter(module: &PolicyModule, mode: &str) -> Result<usize, PluginError> {
    let config = json!({ "mode": mode }).to_string();
    let (mut instance, registration) = module.instantiate("test-policy", &config, &limits())?;
    assert_eq!(registration.name, "TestPolicy");
    let nodes: Vec<Change> = (0..3)
        .map(|i| {
            Change::UpsertNode(Node {
                index: i,
                name: format!("node-{i}"),
                ..Node::default()
            })
        })
        .collect();
    instance.update(&PreparedChanges::new(&nodes))?;
    let pod = Pod {
        uid: "u".into(),
        namespace: "default".into(),
        name: "p".into(),
        spec: "{}".into(),
        ..Pod::default()
    };
    let object = json!({"metadata": {"name": "p"}});
    let filtered = instance.filter(&PreparedPod::new(&pod, &object), &[0, 1, 2])?;
    Ok(filtered.rejections.len())
}

#[test]
fn a_misbehaving_filter_fails_its_call_and_a_sound_instance_answers_on() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let module = PolicyModule::load_wasm(&runtime, &policy_bytes()).unwrap();

    let started = Instant::now();
    let looped = filter(&module, "loop").unwrap_err();
    assert!(matches!(looped, PluginError::Timeout(_)), "{looped}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped near its deadline"
    );

    let hog = filter(&module, "hog").unwrap_err();
    assert!(
        matches!(hog, PluginError::OutOfMemory(_) | PluginError::Trap(_)),
        "{hog}"
    );

    let panicked = filter(&module, "panic").unwrap_err();
    assert!(matches!(panicked, PluginError::Trap(_)), "{panicked}");
    assert!(panicked.poisons_instance());

    let failed = filter(&module, "fail").unwrap_err();
    assert!(
        matches!(failed, PluginError::Failed(ref m) if m.contains("fails on request")),
        "{failed}"
    );
    assert!(!failed.poisons_instance());

    assert_eq!(filter(&module, "none").unwrap(), 0);
}

#[test]
fn a_config_the_policy_refuses_fails_instantiation_with_its_message() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let module = PolicyModule::load_wasm(&runtime, &policy_bytes()).unwrap();
    let error = module
        .instantiate("test-policy", r#"{"mode": "dance"}"#, &limits())
        .err()
        .expect("refused");
    assert!(error.to_string().contains("mode \"dance\""), "{error}");
}

#[test]
fn a_component_of_another_world_does_not_link_as_a_policy() {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let controller =
        std::fs::read(target.join("wasm32-wasip2/plugin/wharf_test_guest.wasm")).unwrap();
    let error = PolicyModule::load_wasm(&runtime, &controller)
        .err()
        .expect("refused");
    assert!(
        matches!(
            error,
            PluginError::Link {
                world: "scheduler",
                ..
            }
        ),
        "{error}"
    );
}
