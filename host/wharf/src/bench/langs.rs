//! `wharf bench plugins --langs`: the same controller — the ConfigMap
//! mirror — in each SDK's language, built from its example with `wharf
//! plugin build`, and what it costs the host: component size, first
//! compile, a load from the compile cache, instantiation, the memory an
//! idle instance holds, a reconcile of a missing object (one cached read,
//! nothing to do) and a reconcile with two cached reads and one write.
//!
//! Rust is the test guest's `mirror` mode (the raw bindings; the same
//! calls). The host is a fixed one in memory, so that the figures are the
//! guest's and the boundary's, not the API server's.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wharf_plugins::controller::{
    ApiError, ControllerHost, ControllerModule, Event, Kind, Level, ListOptions, PatchType,
};
use wharf_plugins::{Limits, Runtime, RuntimeConfig};

use super::report::Latencies;
use crate::plugin::build::{self, Folder};

/// A labelled source ConfigMap and a stale mirror of it: every reconcile
/// of `default/source` reads both and updates the mirror.
const SOURCE: &str = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"source","namespace":"default","uid":"7d3b3a6e-0c1e-4c5e-9b0a-1f2e3d4c5b6a","resourceVersion":"10","labels":{"mirror":"true"}},"data":{"color":"blue","size":"large"}}"#;
const MIRROR: &str = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"source-mirror","namespace":"default","uid":"1a2b3c4d-0000-4000-8000-000000000001","resourceVersion":"11","labels":{"generation":"old"},"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"source","uid":"7d3b3a6e-0c1e-4c5e-9b0a-1f2e3d4c5b6a","controller":true}]},"data":{"color":"red"}}"#;

/// Serves the two objects; a write succeeds and returns what was sent.
struct FixedHost;

impl ControllerHost for FixedHost {
    fn get(&self, _: &Kind, _: Option<&str>, name: &str) -> Result<Option<String>, ApiError> {
        Ok(match name {
            "source" => Some(SOURCE.to_string()),
            "source-mirror" => Some(MIRROR.to_string()),
            _ => None,
        })
    }
    fn list(&self, _: &Kind, _: &ListOptions) -> Result<Vec<String>, ApiError> {
        Ok(Vec::new())
    }
    fn create(&self, _: &Kind, _: Option<&str>, object: &str) -> Result<String, ApiError> {
        Ok(object.to_string())
    }
    fn update(&self, _: &Kind, _: Option<&str>, object: &str, _: bool) -> Result<String, ApiError> {
        Ok(object.to_string())
    }
    fn patch(
        &self,
        _: &Kind,
        _: Option<&str>,
        _: &str,
        _: PatchType,
        patch: &str,
        _: bool,
    ) -> Result<String, ApiError> {
        Ok(patch.to_string())
    }
    fn delete(&self, _: &Kind, _: Option<&str>, _: &str) -> Result<(), ApiError> {
        Ok(())
    }
    fn log(&self, _: Level, _: &str) {}
    fn state_get(&self, _: &str) -> Option<Vec<u8>> {
        None
    }
    fn state_set(&self, _: &str, _: &[u8]) {}
    fn state_delete(&self, _: &str) {}
    fn emit(&self, _: Event) {}
}

/// One language's mirror: where its component comes from and its config.
struct Guest {
    lang: &'static str,
    component: PathBuf,
    config: &'static str,
}

/// What was measured of one language.
struct Figures {
    lang: &'static str,
    size: usize,
    compile: Duration,
    cached_load: Duration,
    instantiate: Duration,
    idle_bytes: f64,
    empty: Latencies,
    busy: Latencies,
}

/// Builds the examples and finds the Rust reference.
fn guests(plugin_dir: &Path, scratch: &Path) -> Result<Vec<Guest>, String> {
    let root = build::source_root()?;
    let mut guests = vec![Guest {
        lang: "rust",
        component: plugin_dir.join("wharf_test_guest.wasm"),
        config: r#"{"mode": "mirror", "generation": "new"}"#,
    }];
    let examples = [
        ("c", "sdk/c/examples/mirror"),
        ("python", "sdk/python/examples/mirror"),
        ("js", "sdk/js/examples/configmap-mirror"),
    ];
    for (lang, example) in examples {
        let folder = Folder::open(&root.join(example))?;
        let started = Instant::now();
        let component = build::build(&folder, Some(&scratch.join(format!("{lang}.wasm"))))?;
        println!(
            "built the {lang} mirror ({example}) in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        guests.push(Guest {
            lang,
            component,
            config: "{}",
        });
    }
    Ok(guests)
}

/// The process's resident memory, in bytes.
fn rss_bytes() -> f64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0);
    pages * 4096.0
}

fn measure(guest: &Guest, calls: u32, cache: &Path) -> Result<Figures, String> {
    let bytes = std::fs::read(&guest.component)
        .map_err(|e| format!("{}: {e}", guest.component.display()))?;
    // First compile: a runtime whose cache is empty.
    let cold = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache.join(guest.lang)),
        ..RuntimeConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let module = ControllerModule::load(&cold, &bytes).map_err(|e| e.to_string())?;
    let compile = module.times().compile;
    drop(module);
    // A load from the cache, as a restart does.
    let module = ControllerModule::load(&cold, &bytes).map_err(|e| e.to_string())?;
    let cached_load = module.times().compile;
    let host: Arc<dyn ControllerHost> = Arc::new(FixedHost);
    let limits = Limits {
        memory_bytes: 128 << 20,
        call_deadline: Duration::from_secs(5),
    };
    // Instantiation, and what an idle instance holds after init and a call.
    let mut instantiate = Vec::new();
    let before = rss_bytes();
    let mut idle = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let mut instance = module
            .instantiate(host.clone(), &limits)
            .map_err(|e| e.to_string())?;
        instantiate.push(started.elapsed());
        instance.init(guest.config).map_err(|e| e.to_string())?;
        instance
            .reconcile(Some("default"), "missing")
            .0
            .map_err(|e| e.to_string())?;
        idle.push(instance);
    }
    let idle_bytes = (rss_bytes() - before) / idle.len() as f64;
    instantiate.sort();
    let mut instance = idle.pop().expect("ten instances");
    drop(idle);
    let mut empty = Latencies::new();
    let mut busy = Latencies::new();
    for i in 0..calls.saturating_mul(2) {
        let name = if i % 2 == 0 { "missing" } else { "source" };
        let (outcome, elapsed) = instance.reconcile(Some("default"), name);
        outcome.map_err(|e| format!("{} reconcile of {name}: {e}", guest.lang))?;
        if i % 2 == 0 {
            empty.record(elapsed);
        } else {
            busy.record(elapsed);
        }
    }
    Ok(Figures {
        lang: guest.lang,
        size: bytes.len(),
        compile,
        cached_load,
        instantiate: instantiate[instantiate.len() / 2],
        idle_bytes,
        empty,
        busy,
    })
}

pub fn run(plugin_dir: &Path, calls: u32) -> Result<(), String> {
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let guests = guests(plugin_dir, scratch.path())?;
    let mut all = Vec::new();
    for guest in &guests {
        let figures = measure(guest, calls, &scratch.path().join("cache"))?;
        all.push(figures);
    }
    println!(
        "{:<7} {:>9} {:>13} {:>12} {:>12} {:>10} {:>22} {:>22}",
        "lang",
        "size",
        "first compile",
        "cached load",
        "instantiate",
        "idle RSS",
        "missing p50/p99 µs",
        "2 reads+write p50/p99"
    );
    for f in &all {
        println!(
            "{:<7} {:>7}KB {:>11.0}ms {:>10.1}ms {:>10.0}µs {:>8.1}MiB {:>11.1} / {:>8.1} {:>11.1} / {:>8.1}",
            f.lang,
            f.size / 1024,
            f.compile.as_secs_f64() * 1e3,
            f.cached_load.as_secs_f64() * 1e3,
            f.instantiate.as_secs_f64() * 1e6,
            f.idle_bytes / (1 << 20) as f64,
            f.empty.quantile_us(0.5),
            f.empty.quantile_us(0.99),
            f.busy.quantile_us(0.5),
            f.busy.quantile_us(0.99),
        );
    }
    let p50 = |lang: &str| {
        all.iter()
            .find(|f| f.lang == lang)
            .map_or(f64::NAN, |f| f.empty.quantile_us(0.5))
    };
    println!(
        "plugins by language, reconcile of a missing object p50: rust {:.1} µs, c {:.1} µs, js {:.1} µs, python {:.1} µs",
        p50("rust"),
        p50("c"),
        p50("js"),
        p50("python")
    );
    Ok(())
}
