//! The first ReplicaSet, ownership, hash collisions, bad specs, and
//! idempotence.

use wharf_sdk::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference,
};
use wharf_sdk::prelude::*;
use wharf_sdk::testing::Verb;

use super::*;
use crate::hash::compute_hash;

#[test]
fn a_new_deployment_creates_a_replica_set_named_by_its_template_hash_at_revision_1() {
    let cluster = Cluster::new(deployment("web").build());
    assert!(
        matches!(cluster.reconcile(), Action::RequeueAfter(_)),
        "a rollout in progress has a deadline to watch"
    );

    let deployment = cluster.deployment();
    let hash = compute_hash(&deployment.spec.template, None);
    let [replica_set] = cluster.replica_sets().try_into().expect("one ReplicaSet");
    assert_eq!(rs::name(&replica_set), format!("web-{hash}"));
    let labels = replica_set.metadata.labels.clone().unwrap();
    assert_eq!(
        (
            labels["app"].as_str(),
            labels[POD_TEMPLATE_HASH_LABEL].as_str()
        ),
        ("web", hash.as_str())
    );
    let selector = replica_set.spec.selector.match_labels.clone().unwrap();
    assert_eq!(selector, labels, "the selector has the hash label too");
    let template_labels = rs::template(&replica_set).metadata.unwrap().labels.unwrap();
    assert_eq!(template_labels, labels);
    let owner = controller_of(&replica_set).expect("a controller reference");
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Deployment", deployment.metadata.uid.as_deref().unwrap())
    );
    assert_eq!(owner.block_owner_deletion, Some(true));
    assert_eq!(rs::replicas(&replica_set), 3);
    let annotations = replica_set.metadata.annotations.clone().unwrap();
    assert_eq!(annotations[annotation::REVISION], "1");
    assert_eq!(annotations[annotation::DESIRED_REPLICAS], "3");
    assert_eq!(
        annotations[annotation::MAX_REPLICAS],
        "4",
        "3 replicas + 25% surge rounded up"
    );

    assert_eq!(
        deployment.metadata.annotations.unwrap()[annotation::REVISION],
        "1"
    );
    let progressing =
        conditions::get(deployment.status.as_ref().unwrap(), condition::PROGRESSING).unwrap();
    assert_eq!(
        progressing.reason.as_deref(),
        Some(reason::NEW_REPLICA_SET_CREATED)
    );
    assert_eq!(
        progressing.message,
        Some(format!("Created new replica set \"web-{hash}\""))
    );
    assert_eq!(
        cluster.events(),
        [format!(
            "ScalingReplicaSet Scaled up replica set web-{hash} to 3"
        )]
    );
}

/// A ReplicaSet in the namespace, as another client made it.
fn replica_set(name: &str, app: &str, image: &str, owner: Option<OwnerReference>) -> ReplicaSet {
    let template = deployment(app).image(image).build().spec.template;
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(NAMESPACE.to_owned()),
            labels: Some([("app".to_owned(), app.to_owned())].into()),
            owner_references: owner.map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(3),
            selector: LabelSelector {
                match_labels: Some([("app".to_owned(), app.to_owned())].into()),
                match_expressions: None,
            },
            template: Some(template),
            min_ready_seconds: None,
        },
        status: None,
    }
}

#[test]
fn matching_orphans_are_adopted_and_owned_replica_sets_that_no_longer_match_are_released() {
    let cluster = Cluster::new(deployment("web").build());
    let ours = owner_reference(&cluster.deployment());
    let theirs = OwnerReference {
        uid: "someone-else".to_owned(),
        name: "other".to_owned(),
        ..ours.clone()
    };
    cluster
        .fake
        .add(replica_set("orphan-same-template", "web", "nginx:1", None));
    cluster
        .fake
        .add(replica_set("orphan-old-template", "web", "nginx:0", None));
    cluster.fake.add(replica_set(
        "ours-relabelled",
        "api",
        "nginx:1",
        Some(ours.clone()),
    ));
    cluster
        .fake
        .add(replica_set("someone-elses", "web", "nginx:1", Some(theirs)));
    cluster
        .fake
        .add(replica_set("orphan-other-app", "api", "nginx:1", None));

    cluster.reconcile();

    let owner_uid = |name: &str| {
        let replica_set = cluster
            .fake
            .get::<ReplicaSet>(Some(NAMESPACE), name)
            .unwrap();
        controller_of(&replica_set).map(|r| r.uid.clone())
    };
    let uid = cluster.deployment().metadata.uid;
    let cases = [
        ("orphan-same-template", uid.clone()),
        ("orphan-old-template", uid.clone()),
        ("ours-relabelled", None),
        ("someone-elses", Some("someone-else".to_owned())),
        ("orphan-other-app", None),
    ];
    for (name, expected) in cases {
        assert_eq!(owner_uid(name), expected, "{name}");
    }
    // The adopted ReplicaSet with the current template is the new one: no other is created.
    cluster.settle();
    let names: Vec<String> = cluster
        .replica_sets()
        .iter()
        .map(|r| rs::name(r).to_owned())
        .collect();
    assert_eq!(names, ["orphan-old-template", "orphan-same-template"]);
    assert_eq!(cluster.sizes(), [0, 3]);
    assert_eq!(
        cluster.deployment().metadata.annotations.unwrap()[annotation::REVISION],
        "1"
    );
    let adopted = cluster
        .fake
        .get::<ReplicaSet>(Some(NAMESPACE), "orphan-same-template")
        .unwrap();
    assert_eq!(rs::annotation_of(&adopted, annotation::REVISION), Some("1"));
}

#[test]
fn a_hash_collision_bumps_the_collision_count_and_the_next_sync_picks_another_name() {
    let cluster = Cluster::new(deployment("web").build());
    let deployment = cluster.deployment();
    let taken = format!("web-{}", compute_hash(&deployment.spec.template, None));
    // The name is taken by a ReplicaSet of the Deployment with another template.
    cluster.fake.add(replica_set(
        &taken,
        "web",
        "nginx:0",
        Some(owner_reference(&deployment)),
    ));

    let error = cluster.reconcile_err();
    assert!(error.is_already_exists(), "{error}");
    assert_eq!(cluster.status().collision_count, Some(1));

    cluster.reconcile();
    let expected = format!("web-{}", compute_hash(&deployment.spec.template, Some(1)));
    let new = cluster
        .fake
        .get::<ReplicaSet>(Some(NAMESPACE), &expected)
        .expect("created under the salted name");
    assert_eq!(image_of(&new), "nginx:1");
    assert_eq!(cluster.status().collision_count, Some(1));
}

#[test]
fn a_stale_cache_never_creates_a_second_replica_set() {
    let cluster = Cluster::new(deployment("web").build());
    cluster.fake.freeze_cache();
    cluster.reconcile();
    // The cache has seen neither the ReplicaSet nor the status: the create
    // runs into the existing name and the read-back misses it too.
    let error = cluster.reconcile_err();
    assert!(error.is_already_exists() || error.is_not_found(), "{error}");
    cluster.fake.thaw_cache();
    cluster.settle();
    assert_eq!(cluster.replica_sets().len(), 1);
    assert_eq!(
        cluster.status().collision_count,
        None,
        "not a collision: the same template"
    );
}

#[test]
fn a_deployment_selecting_every_pod_gets_a_warning_and_nothing_else() {
    let mut selecting_all = deployment("web").build();
    selecting_all.spec.selector = LabelSelector::default();
    let cluster = Cluster::new(selecting_all);
    cluster.reconcile();
    assert!(cluster.replica_sets().is_empty());
    assert_eq!(
        cluster.events(),
        ["SelectingAll This deployment is selecting all pods. A non-empty selector is required."]
    );
    assert_eq!(cluster.status().observed_generation, Some(1));
}

#[test]
fn specs_the_api_server_would_refuse_are_reported_and_not_acted_on() {
    let cases = [
        (
            "no surge and no unavailability",
            deployment("web").rolling_update("0", "0%").build(),
            "InvalidSpec spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0",
        ),
        (
            "a surge that is not a percentage",
            deployment("web").rolling_update("x%", "1").build(),
            "InvalidSpec spec.strategy.rollingUpdate.maxSurge: Invalid value: \"x%\": a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
        ),
        (
            "an unknown strategy",
            {
                let mut d = deployment("web").recreate().build();
                d.spec.strategy.as_mut().unwrap().type_ = Some("BlueGreen".to_owned());
                d
            },
            "InvalidSpec spec.strategy.type: Unsupported value: \"BlueGreen\": supported values: \"Recreate\", \"RollingUpdate\"",
        ),
    ];
    for (name, deployment, expected) in cases {
        let cluster = Cluster::new(deployment);
        assert_eq!(cluster.reconcile(), Action::Done, "{name}");
        assert!(cluster.replica_sets().is_empty(), "{name}");
        assert!(cluster.fake.writes().is_empty(), "{name}");
        assert_eq!(cluster.events(), [expected], "{name}");
    }
}

#[test]
fn a_settled_deployment_reconciles_to_no_writes_and_no_events() {
    type Steps = fn(&Cluster);
    let cases: [(&str, Deployment, Steps); 6] = [
        (
            "a new rolling Deployment",
            deployment("web").build(),
            |_| {},
        ),
        (
            "a new Recreate Deployment",
            deployment("web").recreate().build(),
            |_| {},
        ),
        (
            "a paused Deployment",
            deployment("web").paused().build(),
            |_| {},
        ),
        ("after a new image", deployment("web").build(), |c| {
            c.settle();
            c.set_image("nginx:2");
        }),
        ("after scaling", deployment("web").build(), |c| {
            c.settle();
            c.scale(7);
        }),
        ("after a rollout undo", deployment("web").build(), |c| {
            c.settle();
            c.set_image("nginx:2");
            c.settle();
            rollout_undo(c, 0).unwrap();
        }),
    ];
    for (name, deployment, steps) in cases {
        let cluster = Cluster::new(deployment);
        steps(&cluster);
        cluster.settle();
        cluster.fake.clear_calls();
        let revision = cluster.fake.revision();
        let action = cluster.reconcile();
        assert_eq!(
            cluster.fake.revision(),
            revision,
            "{name}: the store changed"
        );
        assert_eq!(cluster.fake.writes(), [], "{name}");
        assert_eq!(cluster.events(), Vec::<String>::new(), "{name}");
        assert_eq!(
            action,
            Action::Done,
            "{name}: a settled Deployment has nothing to wait for"
        );
        let reads = cluster
            .fake
            .calls()
            .iter()
            .filter(|c| !c.verb.is_write())
            .count();
        assert!(reads <= 3, "{name}: {reads} reads");
        assert!(cluster.fake.calls().iter().all(|c| c.verb != Verb::Create));
    }
}

#[test]
fn a_replica_set_that_cannot_be_created_is_reported_in_progressing_and_an_event() {
    let cluster = Cluster::new(deployment("web").build());
    cluster.fake.fail_when(|request| {
        (request.verb == Verb::Create && request.kind.kind == "ReplicaSet")
            .then(|| Error::Forbidden("exceeded quota".to_owned()))
    });
    let error = cluster.reconcile_err();
    assert!(matches!(error, Error::Forbidden(_)), "{error}");
    let status = cluster.status();
    let progressing = conditions::get(&status, condition::PROGRESSING).unwrap();
    assert_eq!(progressing.status.as_deref(), Some("False"));
    assert_eq!(
        progressing.reason.as_deref(),
        Some(reason::FAILED_REPLICA_SET_CREATE)
    );
    let hash = compute_hash(&cluster.deployment().spec.template, None);
    let message =
        format!("Failed to create new replica set \"web-{hash}\": forbidden: exceeded quota");
    assert_eq!(progressing.message.as_deref(), Some(message.as_str()));
    assert_eq!(
        cluster.events(),
        [format!("ReplicaSetCreateError {message}")]
    );

    cluster.fake.clear_failures();
    cluster.settle();
    assert_eq!(
        cluster.progressing_reason().as_deref(),
        Some(reason::NEW_REPLICA_SET_AVAILABLE)
    );
}

#[test]
fn a_deployment_being_deleted_only_gets_its_status() {
    let cluster = Cluster::new(deployment("web").build());
    cluster.settle();
    cluster.edit(|d| d.metadata.finalizers = Some(vec!["example.com/hold".to_owned()]));
    cluster
        .fake
        .context()
        .delete::<Deployment>(Some(NAMESPACE), "web")
        .unwrap();
    cluster.set_image("nginx:2");
    cluster.scale(5);
    cluster.fake.clear_calls();
    cluster.reconcile();
    assert_eq!(cluster.sizes(), [3], "neither rolled nor scaled");
    let writes: Vec<Verb> = cluster.fake.writes().iter().map(|c| c.verb).collect();
    assert_eq!(writes, [Verb::UpdateStatus], "the status only: {writes:?}");
    assert_eq!(
        cluster.status().observed_generation,
        cluster.deployment().metadata.generation
    );
}

#[test]
fn min_ready_seconds_follows_the_deployment_to_its_new_replica_set() {
    let cluster = Cluster::new(deployment("web").build());
    cluster.edit(|d| d.spec.min_ready_seconds = Some(10));
    cluster.settle();
    assert_eq!(cluster.revision(1).spec.min_ready_seconds, Some(10));
    cluster.edit(|d| d.spec.min_ready_seconds = Some(0));
    cluster.settle();
    let [only] = cluster
        .replica_sets()
        .try_into()
        .expect("no new ReplicaSet: the template is the same");
    assert_eq!(only.spec.min_ready_seconds, None);
}
