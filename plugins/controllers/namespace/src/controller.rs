//! The reconcile of one Namespace: empty it once it is deleted, then let it go.

use std::time::Duration;

use wharf_sdk::k8s_openapi::api::core::v1::Namespace;
use wharf_sdk::prelude::*;
use wharf_sdk::serde_json::Value;
use wharf_sdk::{ListParams, ServedKind};

use crate::conditions::{Pass, apply};

/// The finalizer this controller owns in a Namespace's `spec.finalizers`.
pub const FINALIZER: &str = "kubernetes";

/// How soon to look again while content is still going away (kube
/// estimates from pods' grace periods; objects held by finalizers give no
/// estimate).
pub const RECHECK: Duration = Duration::from_secs(1);

/// Empties deleted Namespaces.
#[derive(Debug, Default)]
pub struct NamespaceController;

impl Controller for NamespaceController {
    fn registration(_config: &serde_json::Value) -> Result<Registration, Error> {
        Ok(Registration::new::<Namespace>())
    }

    fn reconcile(
        &self,
        ctx: &Context,
        _namespace: Option<&str>,
        name: &str,
    ) -> Result<Action, Error> {
        let Some(namespace) = ctx.get::<Namespace>(None, name)? else {
            return Ok(Action::Done);
        };
        let held = namespace
            .spec
            .as_ref()
            .and_then(|spec| spec.finalizers.as_ref())
            .is_some_and(|finalizers| finalizers.iter().any(|f| f == FINALIZER));
        if namespace.metadata.deletion_timestamp.is_none() || !held {
            return Ok(Action::Done);
        }
        let pass = delete_content(ctx, name);
        let mut next = namespace.clone();
        next.status.get_or_insert_with(Default::default).phase = Some("Terminating".into());
        let mut namespace = namespace;
        if apply(&mut next, &pass, &ctx.now()) || next.status != namespace.status {
            namespace = ctx.update_status(&next)?;
        }
        if !pass.finished() {
            ctx.debug(format!(
                "namespace {name} is not empty yet: {:?}",
                pass.remaining
            ));
            return Ok(Action::RequeueAfter(RECHECK));
        }
        let mut finalized = namespace;
        if let Some(finalizers) = finalized
            .spec
            .as_mut()
            .and_then(|spec| spec.finalizers.as_mut())
        {
            finalizers.retain(|finalizer| finalizer != FINALIZER);
        }
        match ctx.update_subresource(&finalized, "finalize") {
            Ok(_) => Ok(Action::Done),
            Err(error) if error.is_not_found() => Ok(Action::Done),
            Err(error) => Err(error),
        }
    }
}

/// `deleteAllContent`: one pass over every namespaced kind that can be
/// listed and deleted.
pub fn delete_content(ctx: &Context, namespace: &str) -> Pass {
    let mut pass = Pass::default();
    let kinds = match ctx.served_kinds() {
        Ok(kinds) => kinds,
        Err(error) => {
            pass.discovery_error = Some(error.to_string());
            return pass;
        }
    };
    for served in kinds
        .iter()
        .filter(|served| served.namespaced && served.supports("list") && served.supports("delete"))
    {
        if let Err(error) = delete_kind(ctx, namespace, served, &mut pass) {
            pass.errors
                .push(format!("{}: {error}", group_resource(served)));
        }
    }
    pass
}

/// `pods`, or `deployments.apps`: how kube names a group-resource.
fn group_resource(served: &ServedKind) -> String {
    if served.kind.group.is_empty() {
        served.plural.clone()
    } else {
        format!("{}.{}", served.plural, served.kind.group)
    }
}

/// Deletes the Namespace's objects of one kind and counts what is left.
fn delete_kind(
    ctx: &Context,
    namespace: &str,
    served: &ServedKind,
    pass: &mut Pass,
) -> Result<(), Error> {
    let backend = ctx.backend();
    let listed = backend.list(&served.kind, Some(namespace), &ListParams::default())?;
    let mut first_error = None;
    for text in &listed {
        let object: Value = serde_json::from_str(text)?;
        let metadata = &object["metadata"];
        let name = metadata["name"].as_str().unwrap_or_default();
        *pass.remaining.entry(group_resource(served)).or_default() += 1;
        for finalizer in metadata["finalizers"].as_array().into_iter().flatten() {
            if let Some(finalizer) = finalizer.as_str() {
                *pass.finalizers.entry(finalizer.to_owned()).or_default() += 1;
            }
        }
        if !metadata["deletionTimestamp"].is_null() {
            continue;
        }
        match backend.delete(&served.kind, Some(namespace), name) {
            Ok(()) => {}
            Err(error) if error.is_not_found() => {}
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}
