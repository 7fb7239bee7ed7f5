//! The controller against the SDK's in-memory cluster, case by case:
//! registration, config and namespaces here, then each of the two
//! controllers.

mod builders;
mod root_ca;
mod service_accounts;

use std::time::Duration;

use builders::{PEM, cluster, controller, namespace, publishing, writes};
use wharf_sdk::k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use wharf_sdk::prelude::*;
use wharf_sdk::testing::Verb;
use wharf_sdk::{GroupVersionKind, LogLevel, serde_json::json};

use crate::names::{DEFAULT_SERVICE_ACCOUNT, ROOT_CA_CONFIG_MAP};
use crate::namespace::refused_by_namespace;
use crate::{Config, ServiceAccountController};

#[test]
fn registration_watches_namespaces_reads_the_two_kinds_it_writes_and_resyncs_every_second() {
    let registration = ServiceAccountController::registration(&json!({})).unwrap();
    assert_eq!(
        registration.primary,
        GroupVersionKind::new("", "v1", "Namespace")
    );
    assert!(registration.owns.is_empty());
    assert_eq!(
        registration.reads,
        [
            GroupVersionKind::new("", "v1", "ServiceAccount"),
            GroupVersionKind::new("", "v1", "ConfigMap")
        ]
    );
    assert_eq!(registration.resync, Duration::from_secs(10));
}

#[test]
fn the_config_takes_a_pem_bundle_and_a_resync_and_refuses_the_wrong_types() {
    // (config, Some((rootCACert published, resync seconds)) or refused)
    let cases = [
        (json!({}), Some((None, 10))),
        (json!({"rootCACert": ""}), Some((None, 10))),
        (json!({"rootCACert": " \n"}), Some((None, 10))),
        (json!({"rootCACert": null}), Some((None, 10))),
        (json!({"rootCACert": PEM}), Some((Some(PEM), 10))),
        (
            json!({"rootCACert": PEM, "resyncSeconds": 30}),
            Some((Some(PEM), 30)),
        ),
        (json!({"unrelated": true}), Some((None, 10))),
        (json!({"rootCACert": 42}), None),
        (json!({"rootCACert": true}), None),
        (json!({"rootCACert": [PEM]}), None),
        (json!({"rootCACert": {"pem": PEM}}), None),
        (json!({"rootCACert": "/etc/wharf/pki/ca.crt"}), None),
        (json!({"resyncSeconds": 0}), None),
        (json!({"resyncSeconds": "1s"}), None),
    ];
    for (config, expected) in cases {
        let parsed = Config::from_json(&config)
            .ok()
            .map(|c| (c.root_ca_cert, c.resync.as_secs()));
        let expected = expected.map(|(pem, resync)| (pem.map(str::to_owned), resync));
        assert_eq!(parsed, expected, "{config}");
        assert_eq!(
            ServiceAccountController::registration(&config).is_ok(),
            expected.is_some(),
            "{config}"
        );
        assert_eq!(
            ServiceAccountController::default()
                .configure(&config)
                .is_ok(),
            expected.is_some(),
            "{config}"
        );
    }
}

#[test]
fn a_root_ca_of_the_wrong_type_is_refused_with_an_error_that_names_the_field() {
    let error = Config::from_json(&json!({"rootCACert": 42})).unwrap_err();
    assert!(matches!(error, Error::Invalid(_)), "{error}");
    assert_eq!(
        error.to_string(),
        "invalid: rootCACert must be a string holding the cluster's CA bundle (PEM), not 42"
    );
    let error = Config::from_json(&json!({"rootCACert": "not a certificate"})).unwrap_err();
    assert!(error.to_string().contains("rootCACert"), "{error}");
}

#[test]
fn a_new_namespace_gets_its_default_service_account_and_its_root_ca() {
    let fake = cluster(vec![namespace("team-a")]);
    assert_eq!(
        fake.run_with(&publishing(), "team-a").unwrap(),
        Action::Done
    );
    assert_eq!(
        writes(&fake),
        [
            "Create ServiceAccount team-a/default",
            "Create ConfigMap team-a/kube-root-ca.crt"
        ]
    );
}

#[test]
fn a_gone_namespace_and_a_namespaced_key_write_nothing() {
    let fake = cluster(vec![namespace("team-a")]);
    for key in ["gone", "team-a/team-a"] {
        assert_eq!(fake.run_with(&publishing(), key).unwrap(), Action::Done);
        assert_eq!(writes(&fake), Vec::<String>::new(), "{key}");
    }
}

#[test]
fn namespaces_being_deleted_get_nothing_and_the_others_get_both() {
    // (case, namespace, whether objects are created in it)
    let cases = [
        ("terminating", namespace("ns").terminating(), false),
        (
            "a deletionTimestamp only",
            namespace("ns").deletion_timestamp(),
            false,
        ),
        (
            "the phase Terminating only",
            namespace("ns").phase("Terminating"),
            false,
        ),
        ("active", namespace("ns"), true),
        ("no phase yet", namespace("ns").no_status(), true),
    ];
    for (case, namespace, created) in cases {
        let fake = cluster(vec![namespace]);
        assert_eq!(
            fake.run_with(&publishing(), "ns").unwrap(),
            Action::Done,
            "{case}"
        );
        let service_account = fake.get::<ServiceAccount>(Some("ns"), DEFAULT_SERVICE_ACCOUNT);
        let config_map = fake.get::<ConfigMap>(Some("ns"), ROOT_CA_CONFIG_MAP);
        assert_eq!(service_account.is_some(), created, "{case}");
        assert_eq!(config_map.is_some(), created, "{case}");
        if !created {
            assert!(fake.writes().is_empty(), "{case}: {:?}", writes(&fake));
        }
    }
}

#[test]
fn a_second_reconcile_writes_nothing() {
    let fake = cluster(vec![namespace("team-a")]);
    let controller = publishing();
    fake.run_with(&controller, "team-a").unwrap();
    fake.clear_calls();
    let revision = fake.revision();
    assert_eq!(fake.run_with(&controller, "team-a").unwrap(), Action::Done);
    assert_eq!(writes(&fake), Vec::<String>::new());
    assert_eq!(fake.revision(), revision);
}

#[test]
fn without_a_root_ca_only_the_service_account_is_made_and_the_warning_comes_once() {
    for config in [
        json!({}),
        json!({"rootCACert": ""}),
        json!({"rootCACert": null}),
    ] {
        let fake = cluster(vec![namespace("team-a"), namespace("team-b")]);
        let controller = controller(config.clone());
        fake.run_with(&controller, "team-a").unwrap();
        fake.run_with(&controller, "team-b").unwrap();
        assert_eq!(
            writes(&fake),
            [
                "Create ServiceAccount team-a/default",
                "Create ServiceAccount team-b/default"
            ],
            "{config}"
        );
        let warnings: Vec<String> = fake
            .logs()
            .into_iter()
            .filter(|(level, _)| *level == LogLevel::Warn)
            .map(|(_, message)| message)
            .collect();
        assert_eq!(warnings.len(), 1, "{config}: {warnings:?}");
        assert!(warnings[0].contains("rootCACert"), "{config}");
    }
}

#[test]
fn with_a_root_ca_nothing_is_warned() {
    let fake = cluster(vec![namespace("team-a")]);
    fake.run_with(&publishing(), "team-a").unwrap();
    assert!(
        fake.logs().iter().all(|(level, _)| *level < LogLevel::Warn),
        "{:?}",
        fake.logs()
    );
}

#[test]
fn creates_that_find_the_object_already_there_succeed() {
    let fake = cluster(vec![namespace("team-a")]);
    fake.fail_when(|request| {
        (request.verb == Verb::Create).then(|| Error::AlreadyExists("it is there".to_owned()))
    });
    assert_eq!(
        fake.run_with(&publishing(), "team-a").unwrap(),
        Action::Done
    );
    let failed_creates = fake
        .calls()
        .into_iter()
        .filter(|call| call.verb == Verb::Create && !call.succeeded())
        .count();
    assert_eq!(failed_creates, 2);
}

#[test]
fn a_create_refused_in_an_active_namespace_is_retried_until_the_namespace_goes() {
    let fake = cluster(vec![namespace("team-a")]);
    fake.fail_when(|request| {
        (request.verb == Verb::Create).then(|| {
            Error::Forbidden(
                "unable to create new content in namespace team-a because it is being terminated"
                    .to_owned(),
            )
        })
    });
    let controller = publishing();
    // The cache still shows the namespace active: the error stands, and
    // neither controller stopped the other.
    let error = fake.run_with(&controller, "team-a").unwrap_err();
    assert!(matches!(error, Error::Forbidden(_)), "{error}");
    let attempted: Vec<String> = fake
        .calls()
        .into_iter()
        .filter(|call| call.verb == Verb::Create)
        .map(|call| call.kind.kind)
        .collect();
    assert_eq!(attempted, ["ServiceAccount", "ConfigMap"]);

    // The retry sees the namespace going: done, nothing attempted.
    fake.modify::<Namespace>(None, "team-a", |namespace| {
        *namespace = builders::namespace("team-a").terminating().build();
    });
    fake.clear_calls();
    assert_eq!(fake.run_with(&controller, "team-a").unwrap(), Action::Done);
    assert!(
        fake.calls().iter().all(|call| call.verb != Verb::Create),
        "{:?}",
        fake.calls()
    );
}

#[test]
fn a_create_error_ends_the_key_only_when_the_namespace_is_going_away() {
    let active = namespace("ns").build();
    let terminating = namespace("ns").terminating().build();
    let forbidden = || Error::Forbidden("forbidden".to_owned());
    let not_found = || Error::NotFound("namespaces \"ns\" not found".to_owned());
    // (case, error, namespace as read after the create, the key is over)
    let cases = [
        (
            "forbidden, terminating",
            forbidden(),
            Some(&terminating),
            true,
        ),
        ("forbidden, gone", forbidden(), None, true),
        ("forbidden, active", forbidden(), Some(&active), false),
        ("not found, gone", not_found(), None, true),
        (
            "not found, terminating",
            not_found(),
            Some(&terminating),
            true,
        ),
        ("not found, active", not_found(), Some(&active), false),
        (
            "invalid, gone",
            Error::Invalid("bad".to_owned()),
            None,
            false,
        ),
        (
            "conflict, terminating",
            Error::Conflict("stale".to_owned()),
            Some(&terminating),
            false,
        ),
        (
            "other, gone",
            Error::Other("timeout".to_owned()),
            None,
            false,
        ),
    ];
    for (case, error, namespace_now, over) in cases {
        assert_eq!(refused_by_namespace(&error, namespace_now), over, "{case}");
    }
}
