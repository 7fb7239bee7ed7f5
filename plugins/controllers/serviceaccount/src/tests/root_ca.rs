//! The root CA publisher: `kube-root-ca.crt` in every active namespace,
//! holding exactly the configured bundle, put back when edited or deleted.

use wharf_sdk::k8s_openapi::ByteString;
use wharf_sdk::k8s_openapi::api::core::v1::ConfigMap;
use wharf_sdk::serde_json::json;
use wharf_sdk::testing::FakeCluster;

use super::builders::{OTHER_PEM, PEM, cluster, controller, map, namespace, publishing, writes};
use crate::names::{CA_CERT_KEY, DESCRIPTION, DESCRIPTION_ANNOTATION, ROOT_CA_CONFIG_MAP};
use crate::root_ca::{desired, is_up_to_date};

fn config_map(fake: &FakeCluster, ns: &str) -> Option<ConfigMap> {
    fake.get::<ConfigMap>(Some(ns), ROOT_CA_CONFIG_MAP)
}

/// The published ConfigMap, then `change` made to it by hand.
fn published_then(change: impl FnOnce(&mut ConfigMap)) -> FakeCluster {
    let fake = cluster(vec![namespace("team-a")]);
    fake.run_with(&publishing(), "team-a").unwrap();
    fake.modify::<ConfigMap>(Some("team-a"), ROOT_CA_CONFIG_MAP, change);
    fake.clear_calls();
    fake
}

#[test]
fn a_new_namespace_gets_the_root_ca_with_its_description() {
    let fake = cluster(vec![namespace("team-a")]);
    fake.run_with(&publishing(), "team-a").unwrap();
    let published = config_map(&fake, "team-a").expect("kube-root-ca.crt exists");
    assert_eq!(published.data, Some(map(&[(CA_CERT_KEY, PEM)])));
    assert_eq!(
        published.metadata.annotations,
        Some(map(&[(
            "kubernetes.io/description",
            "Contains a CA bundle that can be used to verify the kube-apiserver when using \
             internal endpoints such as the internal service IP or kubernetes.default.svc. \
             No other usage is guaranteed across distributions of Kubernetes clusters."
        )]))
    );
    assert_eq!(published.binary_data, None);
    assert_eq!(published.metadata.owner_references, None);
}

#[test]
fn an_edited_root_ca_is_put_back_and_what_users_added_to_its_metadata_stays() {
    /// A change made by hand.
    type Edit = fn(&mut ConfigMap);
    let cases: [(&str, Edit); 6] = [
        ("another bundle", |cm| {
            cm.data = Some(map(&[(CA_CERT_KEY, OTHER_PEM)]))
        }),
        ("a key added", |cm| {
            cm.data
                .get_or_insert_default()
                .insert("extra".to_owned(), "x".to_owned());
        }),
        ("the data emptied", |cm| cm.data = None),
        ("the bundle under another key", |cm| {
            cm.data = Some(map(&[("ca.pem", PEM)]))
        }),
        ("the description removed", |cm| {
            cm.metadata.annotations = Some(map(&[]))
        }),
        ("the description emptied", |cm| {
            cm.metadata.annotations = Some(map(&[(DESCRIPTION_ANNOTATION, "")]));
        }),
    ];
    for (case, edit) in cases {
        let fake = published_then(|cm| {
            edit(cm);
            cm.metadata.labels = Some(map(&[("team", "a")]));
            cm.metadata
                .annotations
                .get_or_insert_default()
                .insert("note".to_owned(), "mine".to_owned());
        });
        fake.run_with(&publishing(), "team-a").unwrap();
        assert_eq!(
            writes(&fake),
            ["Update ConfigMap team-a/kube-root-ca.crt"],
            "{case}"
        );
        let repaired = config_map(&fake, "team-a").unwrap();
        assert_eq!(repaired.data, Some(map(&[(CA_CERT_KEY, PEM)])), "{case}");
        let annotations = repaired.metadata.annotations.unwrap();
        assert_eq!(annotations[DESCRIPTION_ANNOTATION], DESCRIPTION, "{case}");
        assert_eq!(annotations["note"], "mine", "{case}");
        assert_eq!(
            repaired.metadata.labels,
            Some(map(&[("team", "a")])),
            "{case}"
        );
    }
}

#[test]
fn a_root_ca_that_matches_is_not_written_whatever_else_users_added() {
    // Kubernetes compares the data and only that the description is set.
    let fake = published_then(|cm| {
        cm.metadata.labels = Some(map(&[("team", "a")]));
        cm.metadata.annotations = Some(map(&[
            (DESCRIPTION_ANNOTATION, "our own words"),
            ("note", "mine"),
        ]));
        cm.binary_data = Some([("blob".to_owned(), ByteString(vec![1, 2, 3]))].into());
    });
    let revision = fake.revision();
    fake.run_with(&publishing(), "team-a").unwrap();
    assert_eq!(writes(&fake), Vec::<String>::new());
    assert_eq!(fake.revision(), revision);
}

#[test]
fn a_deleted_root_ca_is_created_again() {
    let fake = published_then(|_| {});
    fake.remove::<ConfigMap>(Some("team-a"), ROOT_CA_CONFIG_MAP);
    fake.run_with(&publishing(), "team-a").unwrap();
    assert_eq!(writes(&fake), ["Create ConfigMap team-a/kube-root-ca.crt"]);
    let created = config_map(&fake, "team-a").expect("created again");
    let expected = desired("team-a", PEM);
    assert_eq!(created.data, expected.data);
    assert_eq!(created.metadata.annotations, expected.metadata.annotations);
}

#[test]
fn a_rotated_root_ca_replaces_the_published_one() {
    let fake = published_then(|_| {});
    let rotated = controller(json!({ "rootCACert": OTHER_PEM }));
    fake.run_with(&rotated, "team-a").unwrap();
    assert_eq!(writes(&fake), ["Update ConfigMap team-a/kube-root-ca.crt"]);
    assert_eq!(
        config_map(&fake, "team-a").unwrap().data,
        Some(map(&[(CA_CERT_KEY, OTHER_PEM)]))
    );
}

#[test]
fn without_a_root_ca_an_existing_config_map_is_left_alone() {
    let fake = published_then(|cm| cm.data = Some(map(&[(CA_CERT_KEY, OTHER_PEM)])));
    fake.run_with(&controller(json!({})), "team-a").unwrap();
    assert_eq!(writes(&fake), Vec::<String>::new());
    assert!(config_map(&fake, "team-a").is_some());
}

#[test]
fn up_to_date_means_the_exact_data_and_a_description() {
    let published = desired("ns", PEM);
    assert!(is_up_to_date(&published, PEM));
    assert!(!is_up_to_date(&published, OTHER_PEM));
    let mut undescribed = published.clone();
    undescribed.metadata.annotations = None;
    assert!(!is_up_to_date(&undescribed, PEM));
}
