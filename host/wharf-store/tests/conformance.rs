//! One conformance suite for every `Store` backend.
//!
//! Each case is a function of a store; `conformance!` runs each against the
//! embedded store (in a temporary directory) and against a real etcd started
//! on loopback for the case. Without the `etcd` binary the etcd cases say so
//! and return, unless `WHARF_REQUIRE_ETCD` is set (as CI sets it), when they fail.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use wharf_store::etcd_process::LocalEtcd;
use wharf_store::{
    EmbeddedConfig, EmbeddedStore, Error, EtcdConfig, EtcdStore, EventKind, ListOptions,
    MAX_VALUE_BYTES, Store, WatchEvent, WatchStream, Write,
};

/// A store under test and whatever keeps it alive.
struct Harness {
    store: Arc<dyn Store>,
    _guard: Box<dyn std::any::Any + Send>,
}

fn embedded() -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).expect("open embedded store");
    Harness {
        store: Arc::new(store),
        _guard: Box::new(dir),
    }
}

async fn etcd() -> Option<Harness> {
    if LocalEtcd::binary().is_none() {
        assert!(
            std::env::var_os("WHARF_REQUIRE_ETCD").is_none(),
            "WHARF_REQUIRE_ETCD is set but the etcd binary is not on PATH"
        );
        eprintln!(
            "skipping etcd case: the etcd binary is not on PATH (Debian package etcd-server)"
        );
        return None;
    }
    let etcd = LocalEtcd::start().await.expect("start etcd");
    let store = EtcdStore::connect(EtcdConfig::new([etcd.client_url()]))
        .await
        .expect("connect to etcd");
    Some(Harness {
        store: Arc::new(store),
        _guard: Box::new(etcd),
    })
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod embedded_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let harness = super::embedded();
                    super::$case(harness.store.clone()).await;
                }
            )*
        }
        mod etcd_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(harness) = super::etcd().await else { return };
                    super::$case(harness.store.clone()).await;
                }
            )*
        }
    };
}

conformance!(
    create_then_get_returns_the_value_and_its_revisions,
    create_of_an_existing_key_fails_with_already_exists,
    update_is_guarded_by_the_modify_revision,
    replace_is_guarded_by_the_value,
    delete_is_guarded_and_returns_the_previous_value,
    revisions_increase_across_all_keys,
    list_returns_the_keys_under_a_prefix_in_order,
    list_pages_share_the_first_page_revision,
    list_at_a_past_revision_shows_the_values_then,
    watch_delivers_later_events_in_order_with_previous_values,
    watch_replays_history_from_a_past_revision,
    watch_only_sees_its_prefix,
    concurrent_writers_lose_no_event_and_repeat_none,
    compacted_history_is_gone_for_lists_and_watches,
    values_over_the_size_limit_are_refused,
    invalid_keys_are_refused,
    write_all_stores_each_write_with_its_own_revision_in_order,
);

/// A conflict's expected and current revisions (anything else fails).
fn conflict(error: Error) -> (i64, i64) {
    match error {
        Error::Conflict {
            expected, current, ..
        } => (expected, current),
        other => panic!("expected Conflict, got {other:?}"),
    }
}

fn value(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

async fn next_event(stream: &mut WatchStream) -> Arc<WatchEvent> {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a watch event within 10 s")
        .expect("the stream is open")
        .expect("an event, not an error")
}

async fn create_then_get_returns_the_value_and_its_revisions(store: Arc<dyn Store>) {
    let created = store.create("/t/a", value("one")).await.unwrap();
    assert_eq!(created.create_revision, created.mod_revision);
    assert_eq!(created.version, 1);
    let got = store.get("/t/a").await.unwrap().expect("the key exists");
    assert_eq!(got, created);
    assert_eq!(got.value, value("one"));
    assert!(store.get("/t/missing").await.unwrap().is_none());
    assert!(store.current_revision().await.unwrap() >= created.mod_revision);
}

async fn create_of_an_existing_key_fails_with_already_exists(store: Arc<dyn Store>) {
    store.create("/t/a", value("one")).await.unwrap();
    let error = store.create("/t/a", value("two")).await.unwrap_err();
    assert!(
        matches!(error, Error::AlreadyExists { ref key } if key == "/t/a"),
        "{error:?}"
    );
    assert_eq!(
        store.get("/t/a").await.unwrap().unwrap().value,
        value("one")
    );
}

async fn update_is_guarded_by_the_modify_revision(store: Arc<dyn Store>) {
    let created = store.create("/t/a", value("one")).await.unwrap();
    let updated = store
        .update("/t/a", value("two"), created.mod_revision)
        .await
        .unwrap();
    assert!(updated.mod_revision > created.mod_revision);
    assert_eq!(updated.create_revision, created.create_revision);
    assert_eq!(updated.version, 2);

    let error = store
        .update("/t/a", value("stale"), created.mod_revision)
        .await
        .unwrap_err();
    assert_eq!(
        conflict(error),
        (created.mod_revision, updated.mod_revision)
    );
    assert_eq!(
        store.get("/t/a").await.unwrap().unwrap().value,
        value("two")
    );

    let error = store.update("/t/missing", value("x"), 1).await.unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
}

async fn replace_is_guarded_by_the_value(store: Arc<dyn Store>) {
    let created = store.create("/t/r", value("one")).await.unwrap();
    let replaced = store
        .replace("/t/r", value("two"), value("one"))
        .await
        .unwrap();
    assert!(replaced.mod_revision > created.mod_revision);
    assert_eq!(replaced.create_revision, created.create_revision);
    assert_eq!(replaced.version, 2);
    // Written again with the same value: the guard holds whatever revision
    // wrote it.
    let same = store
        .update("/t/r", value("two"), replaced.mod_revision)
        .await
        .unwrap();
    let third = store
        .replace("/t/r", value("three"), value("two"))
        .await
        .unwrap();
    assert!(third.mod_revision > same.mod_revision);
    let error = store
        .replace("/t/r", value("stale"), value("two"))
        .await
        .unwrap_err();
    assert_eq!(conflict(error), (0, third.mod_revision));
    assert_eq!(
        store.get("/t/r").await.unwrap().unwrap().value,
        value("three")
    );
    let error = store
        .replace("/t/missing", value("x"), value("y"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    let error = store
        .write_all(vec![Write::Replace {
            key: "/t/r".into(),
            value: value("four"),
            expected_value: value("one"),
        }])
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Conflict { .. }), "{error:?}");
}

async fn delete_is_guarded_and_returns_the_previous_value(store: Arc<dyn Store>) {
    let created = store.create("/t/a", value("one")).await.unwrap();
    let error = store
        .delete("/t/a", Some(created.mod_revision - 1))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Conflict { .. }), "{error:?}");

    let deleted = store
        .delete("/t/a", Some(created.mod_revision))
        .await
        .unwrap();
    assert_eq!(deleted.previous, created);
    assert!(deleted.revision > created.mod_revision);
    assert!(store.get("/t/a").await.unwrap().is_none());

    let error = store.delete("/t/a", None).await.unwrap_err();
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");

    let recreated = store.create("/t/a", value("again")).await.unwrap();
    assert_eq!(recreated.version, 1);
    assert!(recreated.create_revision > deleted.revision);
    let unguarded = store.delete("/t/a", None).await.unwrap();
    assert_eq!(unguarded.previous.value, value("again"));
}

async fn revisions_increase_across_all_keys(store: Arc<dyn Store>) {
    let mut last = store.current_revision().await.unwrap();
    for i in 0..10 {
        let kv = store.create(&format!("/t/{i}"), value("v")).await.unwrap();
        assert!(
            kv.mod_revision > last,
            "revision {} after {last}",
            kv.mod_revision
        );
        last = kv.mod_revision;
    }
    assert_eq!(store.current_revision().await.unwrap(), last);
}

async fn list_returns_the_keys_under_a_prefix_in_order(store: Arc<dyn Store>) {
    for key in ["/a/2", "/ab/x", "/a/1", "/b/1", "/a/3"] {
        store.create(key, value(key)).await.unwrap();
    }
    store.delete("/a/3", None).await.unwrap();
    let page = store.list("/a/", ListOptions::default()).await.unwrap();
    let keys: Vec<_> = page.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/a/1", "/a/2"]);
    assert_eq!(page.items[0].value, value("/a/1"));
    assert!(page.continue_token.is_none());
    assert_eq!(page.revision, store.current_revision().await.unwrap());
}

async fn list_pages_share_the_first_page_revision(store: Arc<dyn Store>) {
    for i in 0..10 {
        store
            .create(&format!("/p/{i:02}"), value("v1"))
            .await
            .unwrap();
    }
    let first = store
        .list(
            "/p/",
            ListOptions {
                limit: Some(4),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(first.items.len(), 4);
    let token = first.continue_token.clone().expect("more pages");
    assert_eq!(token.revision, first.revision);

    // Changes after the first page must not show in later pages.
    store.delete("/p/05", None).await.unwrap();
    store.create("/p/99", value("late")).await.unwrap();
    let current = store.get("/p/06").await.unwrap().unwrap();
    store
        .update("/p/06", value("v2"), current.mod_revision)
        .await
        .unwrap();

    let mut keys: Vec<String> = first.items.iter().map(|kv| kv.key.clone()).collect();
    let mut token = Some(token);
    while let Some(next) = token {
        let page = store
            .list(
                "/p/",
                ListOptions {
                    limit: Some(4),
                    continue_token: Some(next),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.revision, first.revision);
        for kv in &page.items {
            assert_eq!(kv.value, value("v1"), "{} shows a later write", kv.key);
        }
        keys.extend(page.items.iter().map(|kv| kv.key.clone()));
        token = page.continue_token;
    }
    let expected: Vec<String> = (0..10).map(|i| format!("/p/{i:02}")).collect();
    assert_eq!(keys, expected);
}

async fn list_at_a_past_revision_shows_the_values_then(store: Arc<dyn Store>) {
    let created = store.create("/h/a", value("old")).await.unwrap();
    store
        .update("/h/a", value("new"), created.mod_revision)
        .await
        .unwrap();
    store.create("/h/b", value("later")).await.unwrap();
    let then = ListOptions {
        revision: Some(created.mod_revision),
        ..Default::default()
    };
    let page = store.list("/h/", then).await.unwrap();
    assert_eq!(page.revision, created.mod_revision);
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].value, value("old"));

    let future = ListOptions {
        revision: Some(created.mod_revision + 1000),
        ..Default::default()
    };
    let error = store.list("/h/", future).await.unwrap_err();
    assert!(matches!(error, Error::FutureRevision { .. }), "{error:?}");
}

async fn watch_delivers_later_events_in_order_with_previous_values(store: Arc<dyn Store>) {
    let start = store.current_revision().await.unwrap();
    let mut stream = store.watch("/w/", start).await.unwrap();
    let created = store.create("/w/a", value("one")).await.unwrap();
    let updated = store
        .update("/w/a", value("two"), created.mod_revision)
        .await
        .unwrap();
    let deleted = store.delete("/w/a", None).await.unwrap();

    let event = next_event(&mut stream).await;
    assert_eq!(event.kind, EventKind::Put);
    assert!(event.is_create());
    assert_eq!(event.kv, created);
    assert!(event.previous.is_none());

    let event = next_event(&mut stream).await;
    assert_eq!(event.kind, EventKind::Put);
    assert!(!event.is_create());
    assert_eq!(event.kv, updated);
    assert_eq!(event.previous.as_ref(), Some(&created));

    let event = next_event(&mut stream).await;
    assert_eq!(event.kind, EventKind::Delete);
    assert_eq!(event.kv.key, "/w/a");
    assert_eq!(event.revision(), deleted.revision);
    assert_eq!(event.previous.as_ref(), Some(&updated));
}

async fn watch_replays_history_from_a_past_revision(store: Arc<dyn Store>) {
    let first = store.create("/r/a", value("1")).await.unwrap();
    store.create("/r/b", value("2")).await.unwrap();
    store.create("/r/c", value("3")).await.unwrap();
    let mut stream = store.watch("/r/", first.mod_revision).await.unwrap();
    assert_eq!(next_event(&mut stream).await.kv.key, "/r/b");
    assert_eq!(next_event(&mut stream).await.kv.key, "/r/c");
    store.create("/r/d", value("4")).await.unwrap();
    assert_eq!(next_event(&mut stream).await.kv.key, "/r/d");
}

async fn watch_only_sees_its_prefix(store: Arc<dyn Store>) {
    let start = store.current_revision().await.unwrap();
    let mut stream = store.watch("/x/", start).await.unwrap();
    store.create("/xy/not-mine", value("no")).await.unwrap();
    store.create("/y/not-mine", value("no")).await.unwrap();
    store.create("/x/mine", value("yes")).await.unwrap();
    assert_eq!(next_event(&mut stream).await.kv.key, "/x/mine");
    let quiet = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
    assert!(quiet.is_err(), "no other event may arrive: {quiet:?}");
}

async fn concurrent_writers_lose_no_event_and_repeat_none(store: Arc<dyn Store>) {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 50;
    let start = store.current_revision().await.unwrap();
    let mut stream = store.watch("/c/", start).await.unwrap();
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                let key = format!("/c/{writer}/{i}");
                let kv = store.create(&key, value("v")).await.unwrap();
                store
                    .update(&key, value("v2"), kv.mod_revision)
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut last = start;
    let mut seen = BTreeSet::new();
    for _ in 0..WRITERS * PER_WRITER * 2 {
        let event = next_event(&mut stream).await;
        assert!(
            event.revision() > last,
            "revision {} after {last}",
            event.revision()
        );
        last = event.revision();
        assert!(
            seen.insert((event.kv.key.clone(), event.kv.version)),
            "duplicate {event:?}"
        );
    }
    assert_eq!(seen.len(), WRITERS * PER_WRITER * 2);
    let quiet = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
    assert!(quiet.is_err(), "no extra event may arrive: {quiet:?}");
}

async fn compacted_history_is_gone_for_lists_and_watches(store: Arc<dyn Store>) {
    let first = store.create("/k/a", value("0")).await.unwrap();
    let mut kv = first.clone();
    for i in 1..20 {
        kv = store
            .update("/k/a", value(&i.to_string()), kv.mod_revision)
            .await
            .unwrap();
    }
    let compact_at = kv.mod_revision - 5;
    store.compact(compact_at).await.unwrap();

    let old = ListOptions {
        revision: Some(first.mod_revision),
        ..Default::default()
    };
    let error = store.list("/k/", old).await.unwrap_err();
    assert!(matches!(error, Error::Compacted { .. }), "{error:?}");
    let error = match store.watch("/k/", first.mod_revision).await {
        Err(error) => error,
        Ok(mut stream) => stream.next().await.expect("an error").unwrap_err(),
    };
    assert!(matches!(error, Error::Compacted { .. }), "{error:?}");

    let at = ListOptions {
        revision: Some(compact_at),
        ..Default::default()
    };
    assert_eq!(
        store.list("/k/", at).await.unwrap().items[0].value,
        value("14")
    );
    let mut stream = store.watch("/k/", compact_at).await.unwrap();
    assert_eq!(next_event(&mut stream).await.kv.value, value("15"));
    assert_eq!(store.get("/k/a").await.unwrap().unwrap().value, value("19"));
    // Compacting again at or below the compacted revision is harmless.
    store.compact(compact_at).await.unwrap();
}

async fn values_over_the_size_limit_are_refused(store: Arc<dyn Store>) {
    let big = Bytes::from(vec![b'x'; MAX_VALUE_BYTES + 1]);
    let error = store.create("/big", big.clone()).await.unwrap_err();
    assert!(
        matches!(error, Error::ValueTooLarge { size, .. } if size == MAX_VALUE_BYTES + 1),
        "{error:?}"
    );
    let fine = Bytes::from(vec![b'y'; 1024 * 1024]);
    let kv = store.create("/big", fine.clone()).await.unwrap();
    let error = store
        .update("/big", big, kv.mod_revision)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::ValueTooLarge { .. }), "{error:?}");
    assert_eq!(store.get("/big").await.unwrap().unwrap().value, fine);
}

async fn invalid_keys_are_refused(store: Arc<dyn Store>) {
    let error = store.create("", value("v")).await.unwrap_err();
    assert!(matches!(error, Error::InvalidKey { .. }), "{error:?}");
    let error = store.create("/a\0b", value("v")).await.unwrap_err();
    assert!(matches!(error, Error::InvalidKey { .. }), "{error:?}");
}

async fn write_all_stores_each_write_with_its_own_revision_in_order(store: Arc<dyn Store>) {
    let quota = store.create("/w/quota", value("used 0")).await.unwrap();
    let gone = store.create("/w/gone", value("x")).await.unwrap();
    let mut events = store.watch("/w/", gone.mod_revision).await.unwrap();
    let written = store
        .write_all(vec![
            Write::Update {
                key: "/w/quota".into(),
                value: value("used 1"),
                expected: quota.mod_revision,
            },
            Write::Create {
                key: "/w/pod".into(),
                value: value("pod"),
            },
            Write::Delete {
                key: "/w/gone".into(),
                expected: Some(gone.mod_revision),
            },
        ])
        .await
        .unwrap();
    let revisions: Vec<i64> = written.iter().map(|kv| kv.mod_revision).collect();
    assert_eq!(
        revisions,
        [1, 2, 3].map(|n| gone.mod_revision + n),
        "{written:?}"
    );
    assert_eq!(written[1].create_revision, written[1].mod_revision);
    for (key, revision) in ["/w/quota", "/w/pod", "/w/gone"].iter().zip(revisions) {
        let event = next_event(&mut events).await;
        assert_eq!((event.kv.key.as_str(), event.revision()), (*key, revision));
    }
    assert_eq!(
        store.get("/w/quota").await.unwrap().unwrap().value,
        value("used 1")
    );
    assert!(store.get("/w/gone").await.unwrap().is_none());
    // The same key twice is refused before anything is written.
    let error = store
        .write_all(vec![
            Write::Create {
                key: "/w/twice".into(),
                value: value("a"),
            },
            Write::Create {
                key: "/w/twice".into(),
                value: value("b"),
            },
        ])
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidKey { .. }), "{error:?}");
    assert!(store.get("/w/twice").await.unwrap().is_none());
}

// Backend-specific behaviour.

/// Secrets are stored in there: the store's directory and file are the
/// owner's alone, even in a directory that was made readable before.
#[test]
fn the_embedded_store_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let store = EmbeddedStore::open(EmbeddedConfig::new(&data)).unwrap();
    drop(store);
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("store.redb")), 0o600);
}

/// On the embedded store a failed check stores none of the writes: a quota
/// charged with a stale revision takes the pod it charged for down with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_write_all_stores_nothing_when_one_write_fails() {
    let harness = embedded();
    let store = harness.store.clone();
    let quota = store.create("/w/quota", value("used 0")).await.unwrap();
    store
        .update("/w/quota", value("used 1"), quota.mod_revision)
        .await
        .unwrap();
    let before = store.current_revision().await.unwrap();
    let error = store
        .write_all(vec![
            Write::Create {
                key: "/w/pod".into(),
                value: value("pod"),
            },
            Write::Update {
                key: "/w/quota".into(),
                value: value("used 1"),
                expected: quota.mod_revision,
            },
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Conflict { key, .. } if key == "/w/quota"),
        "{error:?}"
    );
    assert!(store.get("/w/pod").await.unwrap().is_none());
    assert_eq!(store.current_revision().await.unwrap(), before);
    // Writes of other callers batched with a failed one are not affected.
    let (failed, stored) = tokio::join!(
        store.write_all(vec![Write::Update {
            key: "/w/quota".into(),
            value: value("stale"),
            expected: quota.mod_revision,
        }]),
        store.create("/w/other", value("fine")),
    );
    assert!(failed.is_err());
    assert_eq!(stored.unwrap().value, value("fine"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_queued_writes_apply_in_the_order_queued_and_chain_on_values() {
    let harness = embedded();
    let store = harness.store.clone();
    store.create("/q/quota", value("used 0")).await.unwrap();
    store.create("/q/taken", value("pod")).await.unwrap();
    let charge = |pod: &str, from: &str, to: &str| {
        vec![
            Write::Create {
                key: format!("/q/{pod}"),
                value: value("pod"),
            },
            Write::Replace {
                key: "/q/quota".into(),
                value: value(to),
                expected_value: value(from),
            },
        ]
    };
    // Each is queued before the one before it is answered: the second is
    // computed from what the first writes.
    let first = store
        .queue_all(charge("a", "used 0", "used 1"))
        .ok()
        .unwrap();
    let second = store
        .queue_all(charge("b", "used 1", "used 2"))
        .ok()
        .unwrap();
    let (second, first) = tokio::join!(second, first);
    let (first, second) = (first.unwrap(), second.unwrap());
    assert!(second[0].mod_revision > first[1].mod_revision);
    assert_eq!(
        store.get("/q/quota").await.unwrap().unwrap().value,
        value("used 2")
    );
    // When one fails, what was computed from it fails too.
    let failed = store
        .queue_all(charge("taken", "used 2", "used 3"))
        .ok()
        .unwrap();
    let after = store
        .queue_all(charge("c", "used 3", "used 4"))
        .ok()
        .unwrap();
    let (failed, after) = tokio::join!(failed, after);
    assert!(
        matches!(failed, Err(Error::AlreadyExists { .. })),
        "{failed:?}"
    );
    assert!(
        matches!(&after, Err(Error::Conflict { key, expected: 0, .. }) if key == "/q/quota"),
        "{after:?}"
    );
    assert!(store.get("/q/c").await.unwrap().is_none());
    assert_eq!(
        store.get("/q/quota").await.unwrap().unwrap().value,
        value("used 2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_keeps_data_and_watch_history_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (created, last) = {
        let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
        let created = store.create("/d/a", value("one")).await.unwrap();
        let last = store
            .update("/d/a", value("two"), created.mod_revision)
            .await
            .unwrap();
        store.delete("/d/a", None).await.unwrap();
        store.create("/d/b", value("b")).await.unwrap();
        (created, last)
    };
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    assert!(store.get("/d/a").await.unwrap().is_none());
    assert_eq!(store.get("/d/b").await.unwrap().unwrap().value, value("b"));
    let mut stream = store.watch("/d/", created.mod_revision).await.unwrap();
    let update = next_event(&mut stream).await;
    assert_eq!(update.kv, last);
    assert_eq!(update.previous.as_ref(), Some(&created));
    let delete = next_event(&mut stream).await;
    assert_eq!(delete.kind, EventKind::Delete);
    assert_eq!(delete.previous.as_ref(), Some(&last));
    assert_eq!(next_event(&mut stream).await.kv.key, "/d/b");
    let next = store.create("/d/c", value("c")).await.unwrap();
    assert_eq!(next.mod_revision, store.current_revision().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_compacts_old_history_automatically() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        history_revisions: 100,
        ..EmbeddedConfig::new(dir.path())
    };
    let store = EmbeddedStore::open(config).unwrap();
    let first = store.create("/auto/a", value("0")).await.unwrap();
    let mut kv = first.clone();
    for i in 0..300 {
        kv = store
            .update("/auto/a", value(&i.to_string()), kv.mod_revision)
            .await
            .unwrap();
    }
    let error = store.watch("/auto/", first.mod_revision).await.unwrap_err();
    assert!(matches!(error, Error::Compacted { .. }), "{error:?}");
    let mut recent = store.watch("/auto/", kv.mod_revision - 50).await.unwrap();
    assert_eq!(
        next_event(&mut recent).await.revision(),
        kv.mod_revision - 49
    );
    assert_eq!(
        store.get("/auto/a").await.unwrap().unwrap().value,
        value("299")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_compacts_history_past_its_bytes_and_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        history_bytes: 4 << 20,
        ..EmbeddedConfig::new(dir.path())
    };
    let store = EmbeddedStore::open(config.clone()).unwrap();
    let big = |round: usize| Bytes::from(format!("{round:04}{}", "x".repeat(512 << 10)));
    let first = store.create("/big/a", big(0)).await.unwrap();
    let mut kv = first.clone();
    // 40 updates of 512 KiB (each event holds two values: 40 MiB of
    // history) against a 4 MiB bound.
    for round in 1..=40 {
        kv = store
            .update("/big/a", big(round), kv.mod_revision)
            .await
            .unwrap();
    }
    let error = store.watch("/big/", first.mod_revision).await.unwrap_err();
    assert!(matches!(error, Error::Compacted { .. }), "{error:?}");
    let mut recent = store.watch("/big/", kv.mod_revision - 1).await.unwrap();
    assert_eq!(next_event(&mut recent).await.revision(), kv.mod_revision);
    drop(recent);
    drop(store);
    // Reopened with a smaller bound, it compacts before it serves.
    let store = EmbeddedStore::open(EmbeddedConfig {
        history_bytes: 1 << 20,
        ..config
    })
    .unwrap();
    let error = store.watch("/big/", kv.mod_revision - 4).await.unwrap_err();
    assert!(matches!(error, Error::Compacted { .. }), "{error:?}");
    assert_eq!(store.get("/big/a").await.unwrap().unwrap().value, big(40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_etcd_stores_on_one_etcd_see_each_others_writes_and_events() {
    let Some(harness) = etcd().await else { return };
    let etcd: &LocalEtcd = harness
        ._guard
        .downcast_ref()
        .expect("the guard is the etcd");
    let other = EtcdStore::connect(EtcdConfig::new([etcd.client_url()]))
        .await
        .unwrap();
    let start = other.current_revision().await.unwrap();
    let mut stream = other.watch("/shared/", start).await.unwrap();
    let created = harness
        .store
        .create("/shared/a", value("from the first"))
        .await
        .unwrap();
    assert_eq!(other.get("/shared/a").await.unwrap().unwrap(), created);
    assert_eq!(next_event(&mut stream).await.kv, created);
    let error = other.create("/shared/a", value("again")).await.unwrap_err();
    assert!(matches!(error, Error::AlreadyExists { .. }), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_store_compacts_old_history_periodically() {
    let Some(harness) = etcd().await else { return };
    let etcd: &LocalEtcd = harness
        ._guard
        .downcast_ref()
        .expect("the guard is the etcd");
    let config = EtcdConfig {
        compaction_interval: Some(Duration::from_millis(200)),
        ..EtcdConfig::new([etcd.client_url()])
    };
    let store = EtcdStore::connect(config).await.unwrap();
    let first = store.create("/auto/a", value("0")).await.unwrap();
    store
        .update("/auto/a", value("1"), first.mod_revision)
        .await
        .unwrap();
    let old = || ListOptions {
        revision: Some(first.mod_revision),
        ..Default::default()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match store.list("/auto/", old()).await {
            Err(Error::Compacted { .. }) => break,
            Ok(_) if tokio::time::Instant::now() < deadline => {
                // Keep the revision moving so that each interval has a newer one.
                store
                    .create(
                        &format!("/auto/tick-{}", store.current_revision().await.unwrap()),
                        value("t"),
                    )
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!(
                "history at {} was not compacted: {other:?}",
                first.mod_revision
            ),
        }
    }
    assert_eq!(
        store.get("/auto/a").await.unwrap().unwrap().value,
        value("1")
    );
}
