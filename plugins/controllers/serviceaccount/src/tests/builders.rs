//! Small builders for the objects of a case: `namespace("team-a")
//! .terminating()`, and the controller as a Plugin config makes it.

use std::collections::BTreeMap;

use wharf_sdk::k8s_openapi::api::core::v1::{Namespace, NamespaceSpec, NamespaceStatus};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wharf_sdk::prelude::*;
use wharf_sdk::testing::{FakeCluster, START_MILLIS};
use wharf_sdk::time_from_millis;

use crate::ServiceAccountController;

/// A root CA bundle, as `wharf up` would put in the config.
pub const PEM: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBejCCASCgAwIBAgIUQ2xvdWQgY2EgZm9yIHdoYXJmIHRlc3RzMAoGCCqGSM49\n\
-----END CERTIFICATE-----\n";

/// Another bundle: the CA after a rotation.
pub const OTHER_PEM: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBfDCCASKgAwIBAgIURm9yIHRoZSByb3RhdGVkIGNhIG9mIHdoYXJmIHRlc3Rz\n\
-----END CERTIFICATE-----\n";

pub fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

pub struct NamespaceBuilder(Namespace);

/// An Active namespace, with the `kubernetes` finalizer as the API server
/// gives it.
pub fn namespace(name: &str) -> NamespaceBuilder {
    NamespaceBuilder(Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        spec: Some(NamespaceSpec {
            finalizers: Some(vec!["kubernetes".to_owned()]),
        }),
        status: Some(NamespaceStatus {
            phase: Some("Active".to_owned()),
            ..NamespaceStatus::default()
        }),
    })
}

impl NamespaceBuilder {
    /// Deleted: a `deletionTimestamp` and the phase Terminating, as the API
    /// server marks it.
    pub fn terminating(self) -> Self {
        self.deletion_timestamp().phase("Terminating")
    }

    /// Only a `deletionTimestamp` (the phase not written yet).
    pub fn deletion_timestamp(mut self) -> Self {
        self.0.metadata.deletion_timestamp = Some(time_from_millis(START_MILLIS - 1000));
        self
    }

    pub fn phase(mut self, phase: &str) -> Self {
        self.0.status = Some(NamespaceStatus {
            phase: Some(phase.to_owned()),
            ..NamespaceStatus::default()
        });
        self
    }

    /// No status at all (nothing defaulted the phase).
    pub fn no_status(mut self) -> Self {
        self.0.status = None;
        self
    }

    pub fn build(self) -> Namespace {
        self.0
    }
}

/// A cluster holding `namespaces`.
pub fn cluster(namespaces: Vec<NamespaceBuilder>) -> FakeCluster {
    let fake = FakeCluster::new();
    for namespace in namespaces {
        fake.add(namespace.build());
    }
    fake
}

/// The controller as the host builds it from the Plugin's `config`.
pub fn controller(config: serde_json::Value) -> ServiceAccountController {
    let mut controller = ServiceAccountController::default();
    controller.configure(&config).expect("the config is valid");
    controller
}

/// The controller with [`PEM`] as its root CA.
pub fn publishing() -> ServiceAccountController {
    controller(serde_json::json!({ "rootCACert": PEM }))
}

/// The successful writes, as `Verb Kind namespace/name`.
pub fn writes(fake: &FakeCluster) -> Vec<String> {
    fake.writes()
        .into_iter()
        .map(|call| {
            format!(
                "{:?} {} {}/{}",
                call.verb,
                call.kind.kind,
                call.namespace.unwrap_or_default(),
                call.name.unwrap_or_default()
            )
        })
        .collect()
}
