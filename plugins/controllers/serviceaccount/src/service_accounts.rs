//! The ServiceAccounts controller (`serviceaccounts_controller.go`,
//! `syncNamespace`): every namespace has a ServiceAccount `default`.
//! Only its existence matters: one that exists is never changed.

use wharf_sdk::k8s_openapi::api::core::v1::ServiceAccount;
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wharf_sdk::prelude::*;

use crate::names::DEFAULT_SERVICE_ACCOUNT;
use crate::namespace;

/// Creates the ServiceAccount `default` in `namespace` (an active one)
/// unless it exists.
pub fn sync(ctx: &Context, namespace: &str) -> Result<(), Error> {
    if ctx
        .get::<ServiceAccount>(Some(namespace), DEFAULT_SERVICE_ACCOUNT)?
        .is_some()
    {
        ctx.trace(format!(
            "ServiceAccount {namespace}/{DEFAULT_SERVICE_ACCOUNT}: exists"
        ));
        return Ok(());
    }
    let created = namespace::create_in(ctx, namespace, &default_service_account(namespace))?;
    ctx.info(format!(
        "ServiceAccount {namespace}/{DEFAULT_SERVICE_ACCOUNT}: {}",
        created.describe()
    ));
    Ok(())
}

/// The ServiceAccount `default` of `namespace`, as Kubernetes creates it:
/// a name and nothing else.
pub fn default_service_account(namespace: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: ObjectMeta {
            name: Some(DEFAULT_SERVICE_ACCOUNT.to_owned()),
            namespace: Some(namespace.to_owned()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    }
}
