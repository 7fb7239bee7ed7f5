use super::*;
use crate::Patch;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodStatus};

fn config_map(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some("ns".to_owned()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

fn pod(name: &str, labels: &[(&str, &str)]) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some("ns".to_owned()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
        ..Pod::default()
    }
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

#[test]
fn create_fills_in_server_metadata_and_generates_names() {
    let fake = FakeCluster::new();
    let ctx = fake.context();
    let mut object = config_map("");
    object.metadata.name = None;
    object.metadata.generate_name = Some("web-".to_owned());
    let first: ConfigMap = ctx.create(Some("ns"), &object).unwrap();
    let second: ConfigMap = ctx.create(Some("ns"), &object).unwrap();
    let name = first.metadata.name.clone().unwrap();
    assert!(name.starts_with("web-") && name.len() == 9, "{name}");
    assert_ne!(first.metadata.name, second.metadata.name);
    assert_ne!(first.metadata.uid, second.metadata.uid);
    assert_eq!(first.metadata.namespace.as_deref(), Some("ns"));
    assert_eq!(first.metadata.generation, Some(1));
    assert_eq!(
        first
            .metadata
            .creation_timestamp
            .unwrap()
            .0
            .as_millisecond() as u64,
        START_MILLIS
    );
    assert_eq!(first.metadata.resource_version.as_deref(), Some("1"));
    assert_eq!(second.metadata.resource_version.as_deref(), Some("2"));
    let again = FakeCluster::new();
    let same: ConfigMap = again.context().create(Some("ns"), &object).unwrap();
    assert_eq!(
        same.metadata.name, first.metadata.name,
        "generated names are deterministic"
    );
}

#[test]
fn create_refuses_duplicates_nameless_objects_and_namespace_mismatches() {
    let fake = FakeCluster::new();
    let ctx = fake.context();
    ctx.create(Some("ns"), &config_map("a")).unwrap();
    assert!(
        ctx.create(Some("ns"), &config_map("a"))
            .unwrap_err()
            .is_already_exists()
    );
    let mut nameless = config_map("a");
    nameless.metadata.name = None;
    assert!(matches!(
        ctx.create(Some("ns"), &nameless),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        ctx.create(Some("other"), &config_map("b")),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        fake.create(
            &GroupVersionKind::of::<Pod>(),
            Some("ns"),
            r#"{"kind":"ConfigMap"}"#
        ),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn create_drops_the_status() {
    let fake = FakeCluster::new();
    let mut object = pod("a", &[]);
    object.status = Some(PodStatus {
        phase: Some("Running".to_owned()),
        ..PodStatus::default()
    });
    let created = fake.context().create(Some("ns"), &object).unwrap();
    assert!(created.status.is_none());
}

#[test]
fn a_stale_resource_version_is_a_conflict_and_none_is_unconditional() {
    let fake = FakeCluster::new();
    let ctx = fake.context();
    let stored = fake.add(config_map("a"));
    let mut first = stored.clone();
    first.data = Some([("k".to_owned(), "1".to_owned())].into());
    ctx.update(&first).unwrap();
    let mut stale = stored.clone();
    stale.data = Some([("k".to_owned(), "2".to_owned())].into());
    assert!(ctx.update(&stale).unwrap_err().is_conflict());
    stale.metadata.resource_version = None;
    let forced = ctx.update(&stale).unwrap();
    assert_eq!(forced.data.unwrap()["k"], "2");
    let mut other_uid = fake.get::<ConfigMap>(Some("ns"), "a").unwrap();
    other_uid.metadata.uid = Some("someone-else".to_owned());
    assert!(ctx.update(&other_uid).unwrap_err().is_conflict());
}

#[test]
fn updating_a_missing_object_is_not_found() {
    let fake = FakeCluster::new();
    assert!(
        fake.context()
            .update(&config_map("a"))
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        fake.context()
            .delete::<ConfigMap>(Some("ns"), "a")
            .unwrap_err()
            .is_not_found()
    );
}

#[test]
fn update_keeps_the_status_and_status_update_changes_only_the_status() {
    let fake = FakeCluster::new();
    let ctx = fake.context();
    let mut seeded = pod("a", &[("app", "web")]);
    seeded.status = Some(PodStatus {
        phase: Some("Pending".to_owned()),
        ..PodStatus::default()
    });
    let stored = fake.add(seeded);

    let mut update = stored.clone();
    update.metadata.labels = Some([("app".to_owned(), "db".to_owned())].into());
    update.status.as_mut().unwrap().phase = Some("Running".to_owned());
    let updated = ctx.update(&update).unwrap();
    assert_eq!(phase(&updated), Some("Pending"));
    assert_eq!(updated.metadata.labels.as_ref().unwrap()["app"], "db");

    let mut status_update = updated.clone();
    status_update.metadata.labels = None;
    status_update.status.as_mut().unwrap().phase = Some("Running".to_owned());
    let updated = ctx.update_status(&status_update).unwrap();
    assert_eq!(phase(&updated), Some("Running"));
    assert_eq!(updated.metadata.labels.as_ref().unwrap()["app"], "db");
}

#[test]
fn generation_moves_with_the_spec_only() {
    let fake = FakeCluster::new();
    let ctx = fake.context();
    let stored = fake.add(pod("a", &[]));
    assert_eq!(stored.metadata.generation, Some(1));
    let mut relabelled = stored.clone();
    relabelled.metadata.labels = Some([("x".to_owned(), "y".to_owned())].into());
    let relabelled = ctx.update(&relabelled).unwrap();
    assert_eq!(relabelled.metadata.generation, Some(1));
    let mut respecced = relabelled.clone();
    respecced.spec = Some(Default::default());
    respecced.spec.as_mut().unwrap().node_name = Some("n1".to_owned());
    assert_eq!(ctx.update(&respecced).unwrap().metadata.generation, Some(2));
}

#[test]
fn a_no_op_write_keeps_the_resource_version() {
    let fake = FakeCluster::new();
    let stored = fake.add(config_map("a"));
    let revision = fake.revision();
    let again = fake.context().update(&stored).unwrap();
    assert_eq!(
        again.metadata.resource_version,
        stored.metadata.resource_version
    );
    assert_eq!(fake.revision(), revision);
    assert_eq!(fake.writes().len(), 1, "the call is still recorded");
}

#[test]
fn lists_filter_by_namespace_labels_and_fields() {
    let fake = FakeCluster::new();
    let ctx = fake.context();
    fake.add(pod("a", &[("app", "web")]));
    fake.add(pod("b", &[("app", "db")]));
    let mut elsewhere = pod("c", &[("app", "web")]);
    elsewhere.metadata.namespace = Some("other".to_owned());
    fake.add(elsewhere);

    let names = |pods: Vec<Pod>| {
        pods.into_iter()
            .map(|p| p.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(ctx.list(Some("ns"), &ListParams::default()).unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        names(ctx.list(None, &ListParams::default()).unwrap()),
        ["a", "b", "c"]
    );
    assert_eq!(
        names(
            ctx.list(None, &ListParams::default().labels("app=web"))
                .unwrap()
        ),
        ["a", "c"]
    );
    assert_eq!(
        names(
            ctx.list(None, &ListParams::default().labels("app notin (web)"))
                .unwrap()
        ),
        ["b"]
    );
    let by_field = ListParams::default().fields("metadata.namespace=other");
    assert_eq!(names(ctx.list(None, &by_field).unwrap()), ["c"]);
    let by_name = ListParams::default()
        .fields("metadata.name!=a")
        .labels("app");
    assert_eq!(names(ctx.list(Some("ns"), &by_name).unwrap()), ["b"]);
    assert!(matches!(
        ctx.list::<Pod>(None, &ListParams::default().labels("app in")),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn merge_and_json_patches_apply_and_a_resource_version_in_them_is_a_precondition() {
    let fake = FakeCluster::new();
    let ctx = fake.context();
    let stored = fake.add(pod("a", &[("app", "web")]));
    let merged: Pod = ctx
        .patch(
            Some("ns"),
            "a",
            &Patch::Merge(json!({"metadata": {"labels": {"app": null, "tier": "x"}}})),
            false,
        )
        .unwrap();
    assert_eq!(
        merged.metadata.labels.unwrap(),
        [("tier".to_owned(), "x".to_owned())].into()
    );
    let json_patched: Pod = ctx
        .patch(
            Some("ns"),
            "a",
            &Patch::Json(json!([{"op": "add", "path": "/metadata/labels/b", "value": "1"}])),
            false,
        )
        .unwrap();
    assert_eq!(json_patched.metadata.labels.unwrap().len(), 2);
    let stale = Patch::Merge(
        json!({"metadata": {"resourceVersion": stored.metadata.resource_version, "labels": {"c": "1"}}}),
    );
    assert!(
        ctx.patch::<Pod>(Some("ns"), "a", &stale, false)
            .unwrap_err()
            .is_conflict()
    );
    assert!(
        ctx.patch::<Pod>(Some("ns"), "missing", &stale, false)
            .unwrap_err()
            .is_not_found()
    );
}

#[test]
fn status_patches_change_only_the_status_and_main_patches_leave_it() {
    let fake = FakeCluster::new();
    let ctx = fake.context();
    fake.add(pod("a", &[]));
    let patch =
        Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}, "status": {"phase": "Running"}}));
    let main: Pod = ctx.patch(Some("ns"), "a", &patch, false).unwrap();
    assert_eq!(phase(&main), None);
    assert!(main.metadata.labels.as_ref().unwrap().contains_key("x"));
    let patch = Patch::Strategic(
        json!({"metadata": {"labels": {"y": "1"}}, "status": {"phase": "Running"}}),
    );
    let status: Pod = ctx.patch(Some("ns"), "a", &patch, true).unwrap();
    assert_eq!(phase(&status), Some("Running"));
    assert!(!status.metadata.labels.as_ref().unwrap().contains_key("y"));
}

#[test]
fn delete_waits_for_finalizers() {
    let fake = FakeCluster::new();
    let ctx = fake.context();
    let mut guarded = config_map("a");
    guarded.metadata.finalizers = Some(vec!["example.com/guard".to_owned()]);
    fake.add(guarded);
    fake.add(config_map("b"));
    ctx.delete::<ConfigMap>(Some("ns"), "b").unwrap();
    assert!(fake.get::<ConfigMap>(Some("ns"), "b").is_none());
    ctx.delete::<ConfigMap>(Some("ns"), "a").unwrap();
    let mut terminating = fake.get::<ConfigMap>(Some("ns"), "a").unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());
    terminating.metadata.finalizers = None;
    ctx.update(&terminating).unwrap();
    assert!(fake.get::<ConfigMap>(Some("ns"), "a").is_none());
}

#[test]
fn injected_failures_fail_the_call_before_it_changes_anything() {
    let fake = FakeCluster::new();
    let ctx = fake.context();
    let mut creates = 0;
    fake.fail_when(move |request| {
        if request.verb != Verb::Create {
            return None;
        }
        creates += 1;
        (creates > 1).then(|| Error::Forbidden("quota".to_owned()))
    });
    ctx.create(Some("ns"), &config_map("a")).unwrap();
    assert!(matches!(
        ctx.create(Some("ns"), &config_map("b")),
        Err(Error::Forbidden(_))
    ));
    assert!(fake.get::<ConfigMap>(Some("ns"), "b").is_none());
    let calls = fake.calls();
    assert_eq!(calls.len(), 2);
    assert!(calls[0].succeeded());
    assert_eq!(calls[1].name.as_deref(), Some("b"));
    assert_eq!(calls[1].error.as_deref(), Some("forbidden: quota"));
    assert_eq!(fake.writes().len(), 1);
    fake.clear_failures();
    ctx.create(Some("ns"), &config_map("b")).unwrap();
}

#[test]
fn a_frozen_cache_serves_stale_reads_while_writes_reach_the_store() {
    let fake = FakeCluster::new();
    let ctx = fake.context();
    fake.add(config_map("a"));
    fake.freeze_cache();
    ctx.create(Some("ns"), &config_map("b")).unwrap();
    assert!(ctx.get::<ConfigMap>(Some("ns"), "b").unwrap().is_none());
    assert_eq!(
        ctx.list::<ConfigMap>(Some("ns"), &ListParams::default())
            .unwrap()
            .len(),
        1
    );
    assert!(
        ctx.create(Some("ns"), &config_map("b"))
            .unwrap_err()
            .is_already_exists()
    );
    fake.thaw_cache();
    assert_eq!(
        ctx.list::<ConfigMap>(Some("ns"), &ListParams::default())
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn events_logs_state_and_the_clock_are_recorded() {
    let fake = FakeCluster::new();
    let ctx = fake.context();
    let object = fake.add(config_map("a"));
    ctx.event(&object, crate::EventType::Warning, "Broken", "it broke");
    ctx.warn("careful");
    ctx.state_set("k", b"v");
    assert_eq!(ctx.state_get("k").as_deref(), Some(&b"v"[..]));
    ctx.state_delete("k");
    assert_eq!(ctx.state_get("k"), None);
    fake.advance(Duration::from_secs(90));
    assert_eq!(ctx.now_millis(), START_MILLIS + 90_000);
    assert_eq!(
        ctx.now().0.as_second() as u64,
        (START_MILLIS + 90_000) / 1000
    );
    let events = fake.take_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].regarding.to_string(), "ConfigMap ns/a");
    assert_eq!(events[0].reason, "Broken");
    assert!(fake.events().is_empty());
    assert_eq!(fake.logs(), [(LogLevel::Warn, "careful".to_owned())]);
}

#[test]
fn modify_changes_anything_and_bumps_the_resource_version() {
    let fake = FakeCluster::new();
    let stored = fake.add(pod("a", &[]));
    let modified = fake.modify::<Pod>(Some("ns"), "a", |pod| {
        pod.status = Some(PodStatus {
            phase: Some("Running".to_owned()),
            ..PodStatus::default()
        });
    });
    assert_eq!(phase(&modified), Some("Running"));
    assert_ne!(
        modified.metadata.resource_version,
        stored.metadata.resource_version
    );
    assert!(fake.calls().is_empty());
    assert!(fake.remove::<Pod>(Some("ns"), "a"));
    assert!(fake.list::<Pod>(None).is_empty());
}
