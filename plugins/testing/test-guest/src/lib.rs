//! A controller plugin for the plugin runtime's tests, written against the
//! raw WIT bindings. Its `init` config chooses what `reconcile` does:
//! `{"mode": "noop" | "loop" | "hog" | "panic" | "mirror" | "forbidden" | "read"}`.
//! `mirror` copies each ConfigMap's data to `<name>-mirror` with a label
//! `generation: <config "generation">`, so tests can see which version of
//! the plugin wrote it.

// A component only: on other targets the crate is empty (its exports would
// not link as a native library).
#![cfg(target_arch = "wasm32")]
// The canonical-ABI glue that wit-bindgen generates is `unsafe` by nature;
// this crate's own code uses none.
#![allow(unsafe_code)]

use std::cell::RefCell;

wit_bindgen::generate!({ path: "../../../wit", world: "controller" });

use exports::wharf::plugin::reconciler::{Guest, Outcome, Registration};
use wharf::plugin::cluster;
use wharf::plugin::types::{ApiError, Kind};

thread_local! {
    static CONFIG: RefCell<serde_json::Value> = RefCell::new(serde_json::Value::Null);
}

fn config(key: &str) -> String {
    CONFIG.with(|c| c.borrow()[key].as_str().unwrap_or_default().to_string())
}

fn kind(group: &str, version: &str, kind: &str) -> Kind {
    Kind {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
    }
}

fn configmaps() -> Kind {
    kind("", "v1", "ConfigMap")
}

fn describe(error: ApiError) -> String {
    match error {
        ApiError::NotFound(m) => format!("NotFound: {m}"),
        ApiError::AlreadyExists(m) => format!("AlreadyExists: {m}"),
        ApiError::Conflict(m) => format!("Conflict: {m}"),
        ApiError::Forbidden(m) => format!("Forbidden: {m}"),
        ApiError::Invalid(m) => format!("Invalid: {m}"),
        ApiError::Other(m) => format!("Other: {m}"),
    }
}

struct TestGuest;

impl Guest for TestGuest {
    fn init(config: String) -> Result<Registration, String> {
        let parsed: serde_json::Value = serde_json::from_str(&config).map_err(|e| e.to_string())?;
        CONFIG.with(|c| *c.borrow_mut() = parsed);
        Ok(Registration {
            primary: configmaps(),
            owns: vec![],
            reads: vec![],
            resync_seconds: 0,
        })
    }

    fn reconcile(namespace: Option<String>, name: String) -> Result<Outcome, String> {
        match config("mode").as_str() {
            "loop" => {
                let mut spins: u64 = 0;
                loop {
                    spins = std::hint::black_box(spins.wrapping_add(1));
                }
            }
            "hog" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![7u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("the test guest panics on purpose"),
            "forbidden" => {
                let secret =
                    r#"{"apiVersion":"v1","kind":"Secret","metadata":{"generateName":"stolen-"}}"#;
                cluster::create(&kind("", "v1", "Secret"), namespace.as_deref(), secret)
                    .map_err(describe)?;
                Ok(Outcome::Done)
            }
            "read" => {
                cluster::get(&configmaps(), namespace.as_deref(), &name).map_err(describe)?;
                Ok(Outcome::Done)
            }
            "mirror" => mirror(namespace, name),
            _ => Ok(Outcome::Done),
        }
    }
}

fn mirror(namespace: Option<String>, name: String) -> Result<Outcome, String> {
    if name.ends_with("-mirror") {
        return Ok(Outcome::Done);
    }
    let Some(source) =
        cluster::get(&configmaps(), namespace.as_deref(), &name).map_err(describe)?
    else {
        return Ok(Outcome::Done);
    };
    let source: serde_json::Value = serde_json::from_str(&source).map_err(|e| e.to_string())?;
    let mirror_name = format!("{name}-mirror");
    let generation = config("generation");
    let existing =
        cluster::get(&configmaps(), namespace.as_deref(), &mirror_name).map_err(describe)?;
    let mut mirror = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": mirror_name, "labels": {"generation": generation}},
        "data": source["data"],
    });
    match existing {
        None => {
            cluster::create(&configmaps(), namespace.as_deref(), &mirror.to_string())
                .map_err(describe)?;
        }
        Some(existing) => {
            let existing: serde_json::Value =
                serde_json::from_str(&existing).map_err(|e| e.to_string())?;
            if existing["data"] == source["data"]
                && existing["metadata"]["labels"]["generation"] == generation.as_str()
            {
                return Ok(Outcome::Done);
            }
            mirror["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"].clone();
            cluster::update(&configmaps(), namespace.as_deref(), &mirror.to_string())
                .map_err(describe)?;
        }
    }
    Ok(Outcome::Done)
}

export!(TestGuest);
