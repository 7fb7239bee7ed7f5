//! The two implementations of `wharf_client::Client` — the in-process
//! `LocalClient` and the `RemoteClient` over a real socket — give the same
//! answers: lists and watches with label and field selectors, an object
//! leaving the selection seen as DELETED, and errors as `ApiError`s.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use wharf_apiserver::{ApiState, LocalClient};

mod common;
use wharf_client::{
    ApiClient, ApiError, Delivery, RemoteClient, ResourceDef, Selectors, WatchType,
};
use wharf_store::{EmbeddedConfig, EmbeddedStore};

fn config_map(name: &str, team: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "labels": {"team": team}},
        "data": {"k": "v"},
    })
}

/// The next event of a watch, skipping progress reports.
async fn next_event(events: &mut tokio::sync::mpsc::Receiver<Delivery>) -> (WatchType, Value) {
    loop {
        let delivery = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("an event within 10 s")
            .expect("the watch goes on");
        match delivery {
            Delivery::Event(watch_type, event) => return (watch_type, (*event.object).clone()),
            Delivery::Progress(_) => continue,
            Delivery::Error(error) => panic!("the watch failed: {error}"),
        }
    }
}

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

/// Lists, watches and writes through `client`; every name starts with `prefix`.
async fn selections_hold(client: ApiClient, prefix: &str) {
    let maps: Arc<ResourceDef> = client.resource("", "v1", "ConfigMap").unwrap();
    let blue = Selectors::labels("team=blue");
    let listed = client.list(&maps, Some("default"), &blue).await.unwrap();
    let before = listed.items.len();
    let mut events = client.watch(&maps, Some("default"), &blue, listed.revision);

    let (a, b) = (format!("{prefix}-a"), format!("{prefix}-b"));
    client
        .create(&maps, Some("default"), &config_map(&a, "red"))
        .await
        .unwrap();
    client
        .create(&maps, Some("default"), &config_map(&b, "blue"))
        .await
        .unwrap();
    // Only the blue one is in the selection.
    let (watch_type, object) = next_event(&mut events).await;
    assert_eq!((watch_type, name(&object)), (WatchType::Added, b.as_str()));

    // Relabelled out of the selection: DELETED; the red one relabelled in: ADDED.
    let patch =
        |team: &str| wharf_client::Patch::Merge(json!({"metadata": {"labels": {"team": team}}}));
    client
        .patch(&maps, Some("default"), &b, &patch("green"), false)
        .await
        .unwrap();
    let (watch_type, object) = next_event(&mut events).await;
    assert_eq!(
        (watch_type, name(&object)),
        (WatchType::Deleted, b.as_str())
    );
    client
        .patch(&maps, Some("default"), &a, &patch("blue"), false)
        .await
        .unwrap();
    let (watch_type, object) = next_event(&mut events).await;
    assert_eq!((watch_type, name(&object)), (WatchType::Added, a.as_str()));

    // A field selector on the list.
    let by_name = Selectors::fields(format!("metadata.name={a}"));
    let listed = client.list(&maps, Some("default"), &by_name).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(name(&listed.items[0]), a);
    let listed = client.list(&maps, Some("default"), &blue).await.unwrap();
    assert_eq!(listed.items.len(), before + 1);

    // Errors come back as the same variants.
    let missing = client
        .get(&maps, Some("default"), &format!("{prefix}-x"))
        .await;
    assert!(
        matches!(missing, Err(ApiError::NotFound { .. })),
        "{missing:?}"
    );
    let twice = client
        .create(&maps, Some("default"), &config_map(&a, "red"))
        .await;
    assert!(
        matches!(twice, Err(ApiError::AlreadyExists { .. })),
        "{twice:?}"
    );
    let bad = client
        .list(&maps, Some("default"), &Selectors::labels("team in (blue"))
        .await;
    assert!(matches!(bad, Err(ApiError::BadRequest(_))), "{bad:?}");
    client.delete(&maps, Some("default"), &a).await.unwrap();
    let (watch_type, object) = next_event(&mut events).await;
    assert_eq!(
        (watch_type, name(&object)),
        (WatchType::Deleted, a.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_and_remote_clients_select_alike() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    let state = ApiState::new(Arc::new(store)).await.unwrap();
    let server = common::TlsServer::start(state.clone(), Duration::from_secs(30)).await;

    selections_hold(LocalClient::new(state.clone()).into(), "local").await;
    let remote = RemoteClient::new(&server.admin()).unwrap();
    selections_hold(remote.into(), "remote").await;
    server.stop().await;
}
