//! The root CA publisher (`rootcacertpublisher/publisher.go`,
//! `syncNamespace`): every namespace has a ConfigMap `kube-root-ca.crt`
//! whose data is exactly `{"ca.crt": <the bundle>}`, with an annotation
//! that says what it is for.

use std::collections::BTreeMap;

use wharf_sdk::k8s_openapi::api::core::v1::ConfigMap;
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wharf_sdk::prelude::*;

use crate::names::{CA_CERT_KEY, DESCRIPTION, DESCRIPTION_ANNOTATION, ROOT_CA_CONFIG_MAP};
use crate::namespace;

/// Brings `kube-root-ca.crt` of `namespace` (an active one) in line with
/// `root_ca`: creates it when missing, updates it when it is not
/// [up to date](is_up_to_date), and writes nothing otherwise.
pub fn sync(ctx: &Context, namespace: &str, root_ca: &str) -> Result<(), Error> {
    let Some(current) = ctx.get::<ConfigMap>(Some(namespace), ROOT_CA_CONFIG_MAP)? else {
        let created = namespace::create_in(ctx, namespace, &desired(namespace, root_ca))?;
        ctx.info(format!(
            "ConfigMap {namespace}/{ROOT_CA_CONFIG_MAP}: {}",
            created.describe()
        ));
        return Ok(());
    };
    if is_up_to_date(&current, root_ca) {
        ctx.trace(format!(
            "ConfigMap {namespace}/{ROOT_CA_CONFIG_MAP}: up to date"
        ));
        return Ok(());
    }
    // A stale resourceVersion is a Conflict, retried with a fresh read.
    ctx.update(&repaired(current, root_ca))?;
    ctx.info(format!(
        "ConfigMap {namespace}/{ROOT_CA_CONFIG_MAP}: put back to the root CA"
    ));
    Ok(())
}

/// The ConfigMap as the publisher creates it in `namespace`.
pub fn desired(namespace: &str, root_ca: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(ROOT_CA_CONFIG_MAP.to_owned()),
            namespace: Some(namespace.to_owned()),
            annotations: Some(BTreeMap::from([(
                DESCRIPTION_ANNOTATION.to_owned(),
                DESCRIPTION.to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        data: Some(data(root_ca)),
        ..ConfigMap::default()
    }
}

/// Whether `current` needs no write: its data is exactly the bundle, and
/// the description annotation is set. As in Kubernetes, the annotation's
/// value, other annotations, labels and `binaryData` are left to users.
pub fn is_up_to_date(current: &ConfigMap, root_ca: &str) -> bool {
    let described = current
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(DESCRIPTION_ANNOTATION))
        .is_some_and(|description| !description.is_empty());
    current.data.as_ref() == Some(&data(root_ca)) && described
}

/// `current` with its data replaced by the bundle and the description
/// annotation set; everything else as it was (its resourceVersion guards
/// the update).
pub fn repaired(mut current: ConfigMap, root_ca: &str) -> ConfigMap {
    current.data = Some(data(root_ca));
    current
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(DESCRIPTION_ANNOTATION.to_owned(), DESCRIPTION.to_owned());
    current
}

fn data(root_ca: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(CA_CERT_KEY.to_owned(), root_ca.to_owned())])
}
