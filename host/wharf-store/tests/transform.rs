//! `TransformingStore` over the embedded store: covered values are sealed in
//! the backend and plain everywhere a caller looks — gets, lists, watch
//! events and their previous values, what writes return — and value-guarded
//! replaces still guard.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use wharf_store::{
    EmbeddedConfig, EmbeddedStore, Error, ListOptions, Result, Store, Transformer,
    TransformingStore, Write,
};

/// Seals by reversing the bytes behind a tag that names the key (a test
/// double of AES-GCM: what matters is that the backend never holds the
/// plain value and that a sealed value opens only under its own key).
struct Reverse;

impl Transformer for Reverse {
    fn covers(&self, key: &str) -> bool {
        key.starts_with("/s/")
    }

    fn seal(&self, key: &str, plain: &[u8]) -> Result<Bytes> {
        let mut out = format!("sealed[{key}]:").into_bytes();
        out.extend(plain.iter().rev());
        Ok(Bytes::from(out))
    }

    fn open(&self, key: &str, stored: &Bytes) -> Result<Bytes> {
        let tag = format!("sealed[{key}]:");
        match stored.strip_prefix(tag.as_bytes()) {
            Some(body) => Ok(body.iter().rev().copied().collect::<Vec<u8>>().into()),
            None if stored.starts_with(b"sealed[") => Err(Error::Transform {
                key: key.into(),
                action: "opened",
                reason: "sealed under another key".into(),
            }),
            None => Ok(stored.clone()),
        }
    }
}

fn stores() -> (tempfile::TempDir, Arc<dyn Store>, TransformingStore) {
    let dir = tempfile::tempdir().unwrap();
    let raw: Arc<dyn Store> =
        Arc::new(EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap());
    let sealed = TransformingStore::new(raw.clone(), Arc::new(Reverse));
    (dir, raw, sealed)
}

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

#[tokio::test]
async fn covered_values_are_sealed_in_the_backend_and_plain_to_callers() {
    let (_dir, raw, store) = stores();
    let mut watch = store.watch("/", 0).await.unwrap();

    let created = store.create("/s/a", b("secret-1")).await.unwrap();
    assert_eq!(created.value, b("secret-1"));
    store.create("/p/a", b("public")).await.unwrap();
    let raw_a = raw.get("/s/a").await.unwrap().unwrap();
    assert!(
        !raw_a.value.windows(8).any(|w| w == b"secret-1"),
        "{:?}",
        raw_a.value
    );
    assert_eq!(raw.get("/p/a").await.unwrap().unwrap().value, b("public"));

    let updated = store
        .update("/s/a", b("secret-2"), created.mod_revision)
        .await
        .unwrap();
    assert_eq!(updated.value, b("secret-2"));
    assert_eq!(
        store.get("/s/a").await.unwrap().unwrap().value,
        b("secret-2")
    );
    let page = store.list("/", ListOptions::default()).await.unwrap();
    let values: Vec<Bytes> = page.items.iter().map(|kv| kv.value.clone()).collect();
    assert_eq!(values, vec![b("public"), b("secret-2")]);

    // Watch events and their previous values are plain.
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push((
            event.kv.key.clone(),
            event.kv.value.clone(),
            event.previous.as_ref().map(|p| p.value.clone()),
        ));
    }
    assert_eq!(
        seen,
        vec![
            ("/s/a".into(), b("secret-1"), None),
            ("/p/a".into(), b("public"), None),
            ("/s/a".into(), b("secret-2"), Some(b("secret-1"))),
        ]
    );

    // A value-guarded replace compares plain values.
    let stale = store.replace("/s/a", b("secret-3"), b("secret-1")).await;
    assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");
    let replaced = store
        .replace("/s/a", b("secret-3"), b("secret-2"))
        .await
        .unwrap();
    assert_eq!(replaced.value, b("secret-3"));
    // Batches and queued batches seal too.
    let written = store
        .write_all(vec![
            Write::Create {
                key: "/s/b".into(),
                value: b("batch"),
            },
            Write::Replace {
                key: "/s/a".into(),
                value: b("secret-4"),
                expected_value: b("secret-3"),
            },
        ])
        .await
        .unwrap();
    assert_eq!(written[1].value, b("secret-4"));
    let queued = store
        .queue_all(vec![Write::Create {
            key: "/s/c".into(),
            value: b("queued"),
        }])
        .map_err(|_| "not queued")
        .unwrap()
        .await
        .unwrap();
    assert_eq!(queued[0].value, b("queued"));
    for (key, plain) in [("/s/b", "batch"), ("/s/c", "queued")] {
        let raw_value = raw.get(key).await.unwrap().unwrap().value;
        assert!(raw_value.starts_with(b"sealed["), "{key}: {raw_value:?}");
        assert_eq!(store.get(key).await.unwrap().unwrap().value, b(plain));
    }
    let deleted = store.delete("/s/b", None).await.unwrap();
    assert_eq!(deleted.previous.value, b("batch"));

    // A covered value written before sealing reads as it is; one moved to
    // another key does not open.
    raw.create("/s/old", b("plain-from-before")).await.unwrap();
    assert_eq!(
        store.get("/s/old").await.unwrap().unwrap().value,
        b("plain-from-before")
    );
    let moved = raw.get("/s/a").await.unwrap().unwrap().value;
    raw.create("/s/moved", moved).await.unwrap();
    assert!(matches!(
        store.get("/s/moved").await,
        Err(Error::Transform { .. })
    ));
}
