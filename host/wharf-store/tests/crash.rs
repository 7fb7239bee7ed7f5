//! Every acknowledged write of the embedded store survives `kill -9`.
//!
//! The test re-runs this test binary as a child that writes through the
//! store from 16 tasks and prints each acknowledged write; the parent kills
//! it with SIGKILL mid-stream, reopens the store and finds every
//! acknowledged write, with its revision, in the data and in the history.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use wharf_store::{EmbeddedConfig, EmbeddedStore, ListOptions, Store};

const CHILD_DIR_VAR: &str = "WHARF_CRASH_CHILD_DIR";
const ACKS_BEFORE_KILL: usize = 3000;

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_writes_until_killed",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_VAR, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    // key -> (revision, version) of its last acknowledged write.
    let mut acked: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut count = 0;
    let mut record = |line: &str| {
        let mut parts = line.strip_prefix("ack ")?.split(' ');
        let (key, revision, version) = (
            parts.next()?,
            parts.next()?.parse().ok()?,
            parts.next()?.parse().ok()?,
        );
        let entry = acked.entry(key.to_owned()).or_insert((0, 0));
        *entry = (*entry).max((revision, version));
        Some(())
    };
    for line in lines.by_ref() {
        let line = line.unwrap();
        if record(&line).is_some() {
            count += 1;
            if count == ACKS_BEFORE_KILL {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    // Acknowledgements already written to the pipe count too.
    for line in lines {
        if record(&line.unwrap()).is_some() {
            count += 1;
        }
    }
    child.wait().unwrap();
    assert!(
        count >= ACKS_BEFORE_KILL,
        "the child acknowledged only {count} writes"
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
        let current = store.current_revision().await.unwrap();
        for (key, (revision, version)) in &acked {
            let kv = store
                .get(key)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("acknowledged {key} is lost"));
            // A write may reach the disk without its acknowledgement reaching us.
            assert!(
                kv.mod_revision >= *revision,
                "{key}: revision {} < acknowledged {revision}",
                kv.mod_revision
            );
            assert!(
                kv.version >= *version,
                "{key}: version {} < acknowledged {version}",
                kv.version
            );
            assert!(kv.mod_revision <= current);
        }

        let page = store.list("/crash/", ListOptions::default()).await.unwrap();
        assert!(page.items.len() >= acked.len());

        // The history replays every write in strictly increasing revisions.
        let mut stream = store.watch("/crash/", 0).await.unwrap();
        let mut last = 0;
        let mut replayed: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        while last < current {
            let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert!(
                event.revision() > last,
                "revision {} after {last}",
                event.revision()
            );
            last = event.revision();
            replayed.insert(event.kv.key.clone(), (event.revision(), event.kv.version));
        }
        for (key, (revision, _)) in &acked {
            assert!(
                replayed[key].0 >= *revision,
                "{key} missing from the history"
            );
        }
    });
}

/// The child: writes until killed (or for at most 60 s). Run only by the test above.
#[test]
#[ignore = "run as a child process by acknowledged_writes_survive_sigkill"]
fn crash_child_writes_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_DIR_VAR) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = Arc::new(EmbeddedStore::open(EmbeddedConfig::new(dir)).unwrap());
        let stdout = Arc::new(std::sync::Mutex::new(std::io::stdout()));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut tasks = Vec::new();
        for writer in 0..16 {
            let (store, stdout) = (store.clone(), stdout.clone());
            tasks.push(tokio::spawn(async move {
                let value = Bytes::from(vec![b'v'; 1024]);
                let ack = |key: &str, revision: i64, version: i64| {
                    let mut out = stdout.lock().unwrap();
                    writeln!(out, "ack {key} {revision} {version}").unwrap();
                    out.flush().unwrap();
                };
                let mut i = 0;
                while tokio::time::Instant::now() < deadline {
                    let key = format!("/crash/{writer:02}/{i:08}");
                    let kv = store.create(&key, value.clone()).await.unwrap();
                    ack(&key, kv.mod_revision, kv.version);
                    let kv = store
                        .update(&key, value.clone(), kv.mod_revision)
                        .await
                        .unwrap();
                    ack(&key, kv.mod_revision, kv.version);
                    i += 1;
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
}
