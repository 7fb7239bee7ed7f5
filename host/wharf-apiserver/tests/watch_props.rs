//! Watches under random interleavings of writes, reads, bookmarks and
//! resumes, against the real API server on a real embedded store: every
//! watcher sees every change it selects exactly once, in resourceVersion
//! order, and resuming from the last event or bookmark it read loses
//! nothing.
//!
//! The model is the list of writes the test made, as their responses told
//! it; what a watcher from revision R with a label selector must see is
//! every write after R that touches its selection, typed as Kubernetes
//! does (and as `transition` in `src/watch_cache.rs`): an object entering
//! the selection is ADDED, leaving it DELETED, staying in it MODIFIED.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};
use serde_json::{Value, json};
use tower::ServiceExt;
use wharf_apiserver::ApiState;
use wharf_store::{EmbeddedConfig, EmbeddedStore};

mod common;

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";
const NAMES: [&str; 3] = ["cm-0", "cm-1", "cm-2"];
/// The most watchers open at once in one case.
const MAX_WATCHERS: usize = 4;
/// How long a line the test is owed may take: past it the case fails
/// (an assertion, not a hang).
const OWED_LINE_WAIT: Duration = Duration::from_secs(5);
/// How long a resume waits for lines that may or may not come (bookmarks,
/// events not yet read) before it drops the watch.
const OPPORTUNISTIC_WAIT: Duration = Duration::from_millis(3);

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        max_shrink_iters: 256,
        // A failing case may wait out OWED_LINE_WAIT: shrinking stops in time.
        max_shrink_time: 60_000,
        failure_persistence: Some(Box::new(
            FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_watcher_sees_each_change_it_selects_once_in_order_and_resuming_loses_nothing(
        bookmark_millis in 1..8u64,
        operations in vec(operation(), 1..60),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run(Duration::from_millis(bookmark_millis), operations))?;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Group {
    A,
    B,
}

impl Group {
    fn label(self) -> &'static str {
        match self {
            Group::A => "a",
            Group::B => "b",
        }
    }
}

/// Where a new watch starts.
#[derive(Clone, Copy, Debug)]
enum Start {
    /// At the revision the case began at.
    Beginning,
    /// At the latest write.
    Now,
    /// At the revision of an earlier write (its index, modulo the writes made).
    AfterWrite(usize),
}

/// One step of a case. Indices into names and watchers are taken modulo
/// what there is, so that every generated sequence means something.
#[derive(Clone, Debug)]
enum Operation {
    Create {
        name: usize,
        group: Group,
        value: u8,
    },
    /// A merge patch of the `group` label and the data.
    Update {
        name: usize,
        group: Group,
        value: u8,
    },
    Delete {
        name: usize,
    },
    /// Opens a watch; `only_a` adds `labelSelector=group=a`.
    Watch {
        start: Start,
        only_a: bool,
    },
    /// Reads up to this many of the events a watcher is owed.
    Read {
        watcher: usize,
        events: usize,
    },
    /// Waits `settle_millis` (bookmarks come), reads what has arrived,
    /// drops the watch, and opens it again from the last event or bookmark
    /// read.
    Resume {
        watcher: usize,
        settle_millis: u64,
    },
    /// Lets time pass (so that bookmarks come).
    Pause {
        millis: u64,
    },
}

fn group() -> impl Strategy<Value = Group> {
    prop_oneof![Just(Group::A), Just(Group::B)]
}

fn operation() -> impl Strategy<Value = Operation> {
    let start = prop_oneof![
        Just(Start::Beginning),
        Just(Start::Now),
        any::<usize>().prop_map(Start::AfterWrite),
    ];
    prop_oneof![
        3 => (0..NAMES.len(), group(), 0..3u8)
            .prop_map(|(name, group, value)| Operation::Create { name, group, value }),
        4 => (0..NAMES.len(), group(), 0..3u8)
            .prop_map(|(name, group, value)| Operation::Update { name, group, value }),
        2 => (0..NAMES.len()).prop_map(|name| Operation::Delete { name }),
        2 => (start, any::<bool>()).prop_map(|(start, only_a)| Operation::Watch { start, only_a }),
        2 => (any::<usize>(), 1..4usize)
            .prop_map(|(watcher, events)| Operation::Read { watcher, events }),
        3 => (any::<usize>(), 0..10u64)
            .prop_map(|(watcher, settle_millis)| Operation::Resume { watcher, settle_millis }),
        1 => (1..8u64).prop_map(|millis| Operation::Pause { millis }),
    ]
}

/// One write the store made, as its response told it.
#[derive(Debug)]
struct Write {
    revision: i64,
    name: &'static str,
    /// The object's group before the write (`None`: it did not exist).
    before: Option<Group>,
    /// After it (`None`: deleted).
    after: Option<Group>,
}

/// An event as a watcher sees it: its type, the object's name, revision
/// and `group` label.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Event {
    kind: String,
    name: String,
    revision: i64,
    group: Option<String>,
}

/// The events a watcher from `after` (exclusive) must see, in order.
fn expected(writes: &[Write], after: i64, only_a: bool) -> Vec<Event> {
    let selects = |group: Option<Group>| group.is_some_and(|g| !only_a || g == Group::A);
    writes
        .iter()
        .filter(|write| write.revision > after)
        .filter_map(|write| {
            let (was, is) = (selects(write.before), selects(write.after));
            let (kind, shown) = match (write.after, was, is) {
                // A delete shows the object as it was.
                (None, true, _) => ("DELETED", write.before),
                (Some(_), false, true) => ("ADDED", write.after),
                (Some(_), true, true) => ("MODIFIED", write.after),
                // Leaving the selection shows the object as it is now.
                (Some(_), true, false) => ("DELETED", write.after),
                _ => return None,
            };
            Some(Event {
                kind: kind.into(),
                name: write.name.into(),
                revision: write.revision,
                group: shown.map(|g| g.label().into()),
            })
        })
        .collect()
}

/// What the test knows: the writes made, and the objects that exist.
struct Model {
    /// The store's revision when the case began.
    beginning: i64,
    writes: Vec<Write>,
    /// Name → (group, data value, resourceVersion).
    live: BTreeMap<&'static str, (Group, u8, i64)>,
}

impl Model {
    /// The store's current revision: only the test writes.
    fn latest(&self) -> i64 {
        self.writes
            .last()
            .map_or(self.beginning, |write| write.revision)
    }
}

struct Server {
    app: Router,
    _state: Arc<ApiState>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(bookmark_interval: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
        let state = ApiState::new(Arc::new(store)).await.unwrap();
        state.set_bookmark_interval(bookmark_interval);
        Self {
            app: common::admin_app(state.clone()),
            _state: state,
            _dir: dir,
        }
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        content_type: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        common::call(&self.app, method, uri, content_type, &body).await
    }

    /// The store's current revision, as a list reports it.
    async fn current_revision(&self) -> i64 {
        let (_, list) = self
            .call(Method::GET, CONFIGMAPS, "application/json", Value::Null)
            .await;
        revision_of(&list)
    }

    async fn open_watch(&self, from: i64, only_a: bool) -> Result<Lines, TestCaseError> {
        let selector = if only_a {
            "&labelSelector=group%3Da"
        } else {
            ""
        };
        let uri = format!(
            "{CONFIGMAPS}?watch=true&resourceVersion={from}&allowWatchBookmarks=true{selector}"
        );
        let request = Request::builder().uri(&uri).body(Body::empty()).unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        prop_assert_eq!(response.status(), StatusCode::OK, "GET {}", uri);
        Ok(Lines {
            body: response.into_body(),
            buffer: Vec::new(),
        })
    }
}

fn revision_of(object: &Value) -> i64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or_else(|| panic!("no resourceVersion in {object}"))
}

/// A watch's body read a JSON line at a time.
struct Lines {
    body: Body,
    buffer: Vec<u8>,
}

impl Lines {
    /// The next line, parsed, if one comes within `wait`.
    async fn next_within(&mut self, wait: Duration) -> Result<Option<Value>, TestCaseError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let parsed = serde_json::from_slice(&line).map_err(|e| {
                    TestCaseError::fail(format!(
                        "a watch line that is not JSON ({e}): {}",
                        String::from_utf8_lossy(&line)
                    ))
                })?;
                return Ok(Some(parsed));
            }
            let Ok(frame) = tokio::time::timeout_at(deadline, self.body.frame()).await else {
                return Ok(None);
            };
            let frame = frame
                .ok_or_else(|| TestCaseError::fail("the watch ended"))?
                .map_err(|e| TestCaseError::fail(format!("the watch failed: {e}")))?;
            if let Ok(data) = frame.into_data() {
                self.buffer.extend_from_slice(&data);
            }
        }
    }
}

/// One logical watch: the streams it was served on, one after another.
struct Watcher {
    only_a: bool,
    /// Where it first started; what it must see follows from here.
    start: i64,
    lines: Lines,
    seen: Vec<Event>,
    /// The revision of the last event or bookmark read: where a resume starts.
    position: i64,
    resumes: usize,
    bookmarks: usize,
}

impl Watcher {
    /// Reads lines until `events` more events came (each owed, so each
    /// waited for) or, with `events` zero, until none comes for a moment.
    async fn read(
        &mut self,
        server: &Server,
        model: &Model,
        events: usize,
    ) -> Result<(), TestCaseError> {
        let owed = expected(&model.writes, self.start, self.only_a);
        let target = self.seen.len() + events;
        loop {
            let wait = if self.seen.len() < target {
                OWED_LINE_WAIT
            } else {
                OPPORTUNISTIC_WAIT
            };
            let Some(line) = self.lines.next_within(wait).await? else {
                prop_assert!(
                    self.seen.len() >= target,
                    "no event within {:?}; seen {:?}, owed {:?}",
                    OWED_LINE_WAIT,
                    self.seen,
                    owed
                );
                return Ok(());
            };
            let kind = line["type"].as_str().unwrap_or_default().to_string();
            let object = &line["object"];
            prop_assert!(kind != "ERROR", "the watch failed: {}", line);
            let revision = revision_of(object);
            if kind == "BOOKMARK" {
                self.bookmarks += 1;
                prop_assert!(
                    revision >= self.position,
                    "a bookmark at {} after a line at {}",
                    revision,
                    self.position
                );
                if revision > model.latest() {
                    let current = server.current_revision().await;
                    prop_assert!(
                        revision <= current,
                        "a bookmark at {} past the store's revision {}",
                        revision,
                        current
                    );
                }
                self.position = revision;
                continue;
            }
            prop_assert!(
                revision > self.position,
                "{} at {} after a line at {}",
                kind,
                revision,
                self.position
            );
            let event = Event {
                kind,
                name: object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
                revision,
                group: object["metadata"]["labels"]["group"]
                    .as_str()
                    .map(String::from),
            };
            let index = self.seen.len();
            prop_assert!(
                index < owed.len(),
                "an event no write made: {:?}; seen {:?}, owed {:?}",
                event,
                self.seen,
                owed
            );
            prop_assert_eq!(
                &event,
                &owed[index],
                "event {}; seen {:?}",
                index,
                self.seen
            );
            self.position = revision;
            self.seen.push(event);
        }
    }

    /// How many events it is owed and has not read.
    fn unread(&self, model: &Model) -> usize {
        expected(&model.writes, self.start, self.only_a).len() - self.seen.len()
    }
}

async fn run(bookmark_interval: Duration, operations: Vec<Operation>) -> Result<(), TestCaseError> {
    let server = Server::start(bookmark_interval).await;
    let mut model = Model {
        beginning: server.current_revision().await,
        writes: Vec::new(),
        live: BTreeMap::new(),
    };
    let mut watchers: Vec<Watcher> = Vec::new();
    for operation in operations {
        match operation {
            Operation::Create { name, group, value } => {
                create(&server, &mut model, NAMES[name], group, value).await?;
            }
            Operation::Update { name, group, value } => {
                update(&server, &mut model, NAMES[name], group, value).await?;
            }
            Operation::Delete { name } => delete(&server, &mut model, NAMES[name]).await?,
            Operation::Watch { start, only_a } => {
                if watchers.len() >= MAX_WATCHERS {
                    continue;
                }
                let from = match start {
                    Start::Beginning => model.beginning,
                    Start::Now => model.latest(),
                    Start::AfterWrite(index) if !model.writes.is_empty() => {
                        model.writes[index % model.writes.len()].revision
                    }
                    Start::AfterWrite(_) => model.beginning,
                };
                watchers.push(Watcher {
                    only_a,
                    start: from,
                    lines: server.open_watch(from, only_a).await?,
                    seen: Vec::new(),
                    position: from,
                    resumes: 0,
                    bookmarks: 0,
                });
            }
            Operation::Read { watcher, events } => {
                if watchers.is_empty() {
                    continue;
                }
                let count = watchers.len();
                let watcher = &mut watchers[watcher % count];
                let events = events.min(watcher.unread(&model));
                watcher.read(&server, &model, events).await?;
            }
            Operation::Resume {
                watcher,
                settle_millis,
            } => {
                if watchers.is_empty() {
                    continue;
                }
                let count = watchers.len();
                let watcher = &mut watchers[watcher % count];
                tokio::time::sleep(Duration::from_millis(settle_millis)).await;
                watcher.read(&server, &model, 0).await?;
                // Dropping the old stream closes it, as a client that goes away.
                watcher.lines = server.open_watch(watcher.position, watcher.only_a).await?;
                watcher.resumes += 1;
            }
            Operation::Pause { millis } => {
                tokio::time::sleep(Duration::from_millis(millis)).await;
            }
        }
    }
    // A last write every watcher selects, so that each is owed one more
    // event: reading up to it reads everything the watch was sent before
    // it, duplicates and strays included.
    let free = NAMES.iter().find(|name| !model.live.contains_key(*name));
    let last = match free {
        Some(name) => name,
        None => {
            delete(&server, &mut model, NAMES[0]).await?;
            NAMES[0]
        }
    };
    create(&server, &mut model, last, Group::A, 0).await?;
    for watcher in &mut watchers {
        let unread = watcher.unread(&model);
        watcher.read(&server, &model, unread).await?;
        let owed = expected(&model.writes, watcher.start, watcher.only_a);
        prop_assert_eq!(
            &watcher.seen,
            &owed,
            "a watcher from {} (only group a: {}, {} resumes, {} bookmarks)",
            watcher.start,
            watcher.only_a,
            watcher.resumes,
            watcher.bookmarks
        );
    }
    Ok(())
}

/// Creates `name`: 201 and a write, or 409 if it exists.
async fn create(
    server: &Server,
    model: &mut Model,
    name: &'static str,
    group: Group,
    value: u8,
) -> Result<(), TestCaseError> {
    let object = json!({
        "metadata": {"name": name, "labels": {"group": group.label()}},
        "data": {"v": value.to_string()},
    });
    let (status, body) = server
        .call(Method::POST, CONFIGMAPS, "application/json", object)
        .await;
    if model.live.contains_key(name) {
        prop_assert_eq!(status, StatusCode::CONFLICT, "{}", body);
        return Ok(());
    }
    prop_assert_eq!(status, StatusCode::CREATED, "{}", body);
    let revision = revision_of(&body);
    prop_assert!(revision > model.latest());
    model.writes.push(Write {
        revision,
        name,
        before: None,
        after: Some(group),
    });
    model.live.insert(name, (group, value, revision));
    Ok(())
}

/// Merge-patches `name`'s group and value: a write unless nothing
/// changes (then the resourceVersion stays, as Kubernetes), 404 if absent.
async fn update(
    server: &Server,
    model: &mut Model,
    name: &'static str,
    group: Group,
    value: u8,
) -> Result<(), TestCaseError> {
    let patch = json!({
        "metadata": {"labels": {"group": group.label()}},
        "data": {"v": value.to_string()},
    });
    let (status, body) = server
        .call(
            Method::PATCH,
            &format!("{CONFIGMAPS}/{name}"),
            "application/merge-patch+json",
            patch,
        )
        .await;
    let Some(&(before, old_value, old_revision)) = model.live.get(name) else {
        prop_assert_eq!(status, StatusCode::NOT_FOUND, "{}", body);
        return Ok(());
    };
    prop_assert_eq!(status, StatusCode::OK, "{}", body);
    let revision = revision_of(&body);
    let no_op = before == group && old_value == value;
    prop_assert_eq!(
        revision == old_revision,
        no_op,
        "a patch from {:?} to {:?} went from revision {} to {}",
        (before, old_value),
        (group, value),
        old_revision,
        revision
    );
    if !no_op {
        prop_assert!(revision > model.latest());
        model.writes.push(Write {
            revision,
            name,
            before: Some(before),
            after: Some(group),
        });
        model.live.insert(name, (group, value, revision));
    }
    Ok(())
}

/// Deletes `name`: a write (the response carries the deletion's
/// revision), or 404 if absent.
async fn delete(
    server: &Server,
    model: &mut Model,
    name: &'static str,
) -> Result<(), TestCaseError> {
    let (status, body) = server
        .call(
            Method::DELETE,
            &format!("{CONFIGMAPS}/{name}"),
            "application/json",
            Value::Null,
        )
        .await;
    let Some((before, _, _)) = model.live.remove(name) else {
        prop_assert_eq!(status, StatusCode::NOT_FOUND, "{}", body);
        return Ok(());
    };
    prop_assert_eq!(status, StatusCode::OK, "{}", body);
    let revision = revision_of(&body);
    prop_assert!(revision > model.latest());
    model.writes.push(Write {
        revision,
        name,
        before: Some(before),
        after: None,
    });
    Ok(())
}
