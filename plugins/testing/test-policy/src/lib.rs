//! A scheduling policy for tests: `spec.config.mode` says how its filter
//! misbehaves — `loop` (never returns), `panic`, `hog` (allocates until the
//! memory limit stops it), `fail` (returns an error) — and `none` filters
//! nothing. Only meant to run as a component: natively, `loop` and `hog`
//! would take the process with them.

use wharf_sdk::Error;
use wharf_sdk::scheduling::{PodInfo, Policy, Registration, Rejections, Snapshot};
use wharf_sdk::serde_json::Value;

pub struct TestPolicy {
    mode: String,
}

impl Policy for TestPolicy {
    fn new(config: &Value) -> Result<Self, Error> {
        let mode = config
            .get("mode")
            .and_then(Value::as_str)
            .unwrap_or("none")
            .to_string();
        match mode.as_str() {
            "none" | "loop" | "panic" | "hog" | "fail" => Ok(TestPolicy { mode }),
            other => Err(Error::Invalid(format!(
                "mode {other:?}: none, loop, panic, hog or fail"
            ))),
        }
    }

    fn registration(&self) -> Registration {
        Registration::filter("TestPolicy").without_usage()
    }

    fn filter(
        &mut self,
        _snapshot: &Snapshot,
        _pod: &PodInfo,
        _candidates: &[u32],
        _out: &mut Rejections,
    ) -> Result<(), Error> {
        match self.mode.as_str() {
            "loop" => {
                let mut spins = 0u64;
                loop {
                    spins = std::hint::black_box(spins.wrapping_add(1));
                }
            }
            "panic" => panic!("the test policy panics on request"),
            "hog" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "fail" => Err(Error::other("the test policy fails on request")),
            _ => Ok(()),
        }
    }
}

wharf_sdk::export_policy!(TestPolicy);
