//! The ServiceAccounts controller: a `default` ServiceAccount in every
//! active namespace, created again when deleted, never changed.

use wharf_sdk::k8s_openapi::api::core::v1::ServiceAccount;
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::builders::{cluster, map, namespace, publishing, writes};
use crate::names::DEFAULT_SERVICE_ACCOUNT;
use crate::service_accounts::default_service_account;

fn default_of(fake: &wharf_sdk::testing::FakeCluster, ns: &str) -> Option<ServiceAccount> {
    fake.get::<ServiceAccount>(Some(ns), DEFAULT_SERVICE_ACCOUNT)
}

#[test]
fn a_new_namespace_gets_a_default_service_account_with_only_a_name() {
    let fake = cluster(vec![namespace("team-a"), namespace("team-b")]);
    fake.run_with(&publishing(), "team-a").unwrap();
    let created = default_of(&fake, "team-a").expect("the default ServiceAccount exists");
    assert_eq!(created.metadata.name.as_deref(), Some("default"));
    assert_eq!(created.metadata.namespace.as_deref(), Some("team-a"));
    assert_eq!(created.metadata.labels, None);
    assert_eq!(created.metadata.owner_references, None);
    assert_eq!(created.automount_service_account_token, None);
    assert!(
        default_of(&fake, "team-b").is_none(),
        "only the key's namespace"
    );
    assert_eq!(
        default_service_account("team-a"),
        ServiceAccount {
            metadata: ObjectMeta {
                name: Some("default".to_owned()),
                namespace: Some("team-a".to_owned()),
                ..ObjectMeta::default()
            },
            ..ServiceAccount::default()
        }
    );
}

#[test]
fn a_deleted_default_service_account_is_created_again() {
    let fake = cluster(vec![namespace("team-a")]);
    let controller = publishing();
    fake.run_with(&controller, "team-a").unwrap();
    let first = default_of(&fake, "team-a").unwrap();

    fake.remove::<ServiceAccount>(Some("team-a"), DEFAULT_SERVICE_ACCOUNT);
    fake.clear_calls();
    fake.run_with(&controller, "team-a").unwrap();
    assert_eq!(writes(&fake), ["Create ServiceAccount team-a/default"]);
    let again = default_of(&fake, "team-a").expect("created again");
    assert_ne!(again.metadata.uid, first.metadata.uid);
}

#[test]
fn an_existing_default_service_account_is_left_as_it_is() {
    let fake = cluster(vec![namespace("team-a")]);
    fake.add(ServiceAccount {
        metadata: ObjectMeta {
            name: Some("default".to_owned()),
            namespace: Some("team-a".to_owned()),
            labels: Some(map(&[("team", "a")])),
            ..ObjectMeta::default()
        },
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    });
    let revision = fake.revision();
    fake.run_with(&publishing(), "team-a").unwrap();
    assert_eq!(writes(&fake), ["Create ConfigMap team-a/kube-root-ca.crt"]);
    let kept = default_of(&fake, "team-a").unwrap();
    assert_eq!(kept.automount_service_account_token, Some(false));
    assert_eq!(
        kept.metadata.resource_version,
        Some(revision.to_string()),
        "not written"
    );
}

#[test]
fn other_service_accounts_do_not_stand_for_the_default_one() {
    let fake = cluster(vec![namespace("team-a"), namespace("team-b")]);
    fake.add(ServiceAccount {
        metadata: ObjectMeta {
            name: Some("builder".to_owned()),
            namespace: Some("team-a".to_owned()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    });
    // The default account of another namespace does not count either.
    fake.add(default_service_account("team-b"));
    fake.run_with(&publishing(), "team-a").unwrap();
    assert!(default_of(&fake, "team-a").is_some());
}
