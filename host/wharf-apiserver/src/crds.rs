//! CustomResourceDefinitions (`apiextensions.k8s.io/v1`): the kinds each
//! defines, served from the moment the watch cache sees it; and the
//! `customresourcecleanup` finalizer, which deletes a definition's objects
//! before the definition goes.
//!
//! The watch cache follows definitions ([`follow`]): a definition's event
//! comes before any event of its objects in the store's one history, so
//! every object event finds its kind, and a create answered after the
//! cache has seen it ([`crate::ApiState::wait_served`]) is served at once.
//! Every API server over the same store does the same.

use std::sync::Arc;

use serde_json::Value;
use wharf_client::{Column, CustomKind, CustomNames, Registry, ResourceDef, ScalePaths};
use wharf_store::{EventKind, Store, WatchEvent};

use crate::ApiState;
use crate::error::ApiResult;

pub const GROUP: &str = "apiextensions.k8s.io";
pub const FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";
const PREFIX: &str = "/registry/apiextensions.k8s.io/customresourcedefinitions/";

/// Whether `resource` is CustomResourceDefinitions.
pub fn defines_kinds(resource: &ResourceDef) -> bool {
    resource.group == GROUP && resource.kind == "CustomResourceDefinition"
}

/// Serves what the stored definitions define (at the server's start).
pub async fn register_stored(
    store: &dyn Store,
    registry: &Registry,
    revision: i64,
) -> ApiResult<()> {
    let mut token = None;
    loop {
        let page = store
            .list(
                PREFIX,
                wharf_store::ListOptions {
                    revision: Some(revision),
                    limit: Some(500),
                    continue_token: token.take(),
                },
            )
            .await?;
        for kv in &page.items {
            if let Ok(crd) = serde_json::from_slice::<Value>(&kv.value) {
                registry.set_custom(name_of_key(&kv.key), kinds_of(&crd));
            }
        }
        token = page.continue_token;
        if token.is_none() {
            return Ok(());
        }
    }
}

fn name_of_key(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// Serves what a definition's event says it defines now.
pub fn follow(registry: &Registry, event: &WatchEvent) {
    let name = name_of_key(&event.kv.key);
    match event.kind {
        EventKind::Delete => registry.set_custom(name, Vec::new()),
        EventKind::Put => match serde_json::from_slice::<Value>(&event.kv.value) {
            Ok(crd) => registry.set_custom(name, kinds_of(&crd)),
            Err(error) => tracing::warn!(%error, name, "an undecodable CustomResourceDefinition"),
        },
    }
}

fn condition_true(crd: &Value, kind: &str) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c["type"] == kind && c["status"] == "True")
        })
}

/// The names a definition asks for.
pub fn names_of(crd: &Value) -> CustomNames {
    let names = &crd["spec"]["names"];
    let text = |key: &str| names[key].as_str().unwrap_or_default().to_string();
    let list = |key: &str| {
        names[key]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let kind = text("kind");
    let singular = match text("singular") {
        singular if singular.is_empty() => kind.to_ascii_lowercase(),
        singular => singular,
    };
    CustomNames {
        plural: text("plural"),
        singular,
        short_names: list("shortNames"),
        categories: list("categories"),
        kind,
    }
}

/// The kinds a definition defines: one per served version, once its
/// names are accepted.
pub fn kinds_of(crd: &Value) -> Vec<ResourceDef> {
    if !condition_true(crd, "NamesAccepted") {
        return Vec::new();
    }
    let name = crate::meta::name_of(crd).to_string();
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let namespaced = spec["scope"] != "Cluster";
    let names = names_of(crd);
    let terminating = crd
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null());
    let Some(versions) = spec["versions"].as_array() else {
        return Vec::new();
    };
    versions
        .iter()
        .filter(|version| version["served"].as_bool().unwrap_or(false))
        .filter_map(|version| {
            let version_name = version["name"].as_str()?;
            let subresources = &version["subresources"];
            let scale = subresources
                .get("scale")
                .filter(|s| s.is_object())
                .map(|scale| ScalePaths {
                    spec_replicas: scale["specReplicasPath"]
                        .as_str()
                        .unwrap_or(".spec.replicas")
                        .to_string(),
                    status_replicas: scale["statusReplicasPath"]
                        .as_str()
                        .unwrap_or(".status.replicas")
                        .to_string(),
                    label_selector: scale["labelSelectorPath"].as_str().map(str::to_string),
                });
            let (columns, column_paths) = printer_columns(version);
            let custom = CustomKind {
                crd: name.clone(),
                storage: version["storage"].as_bool().unwrap_or(false),
                schema: version
                    .pointer("/schema/openAPIV3Schema")
                    .filter(|s| s.is_object())
                    .cloned(),
                columns,
                column_paths,
                scale,
                terminating,
            };
            let status = subresources.get("status").is_some_and(Value::is_object);
            Some(ResourceDef::custom(
                group,
                version_name,
                &names,
                namespaced,
                status,
                custom,
            ))
        })
        .collect()
}

/// `additionalPrinterColumns` as table columns (Name first, as kube
/// prints them; Age when none are given).
fn printer_columns(version: &Value) -> (Vec<Column>, Vec<(String, String)>) {
    let intern = wharf_client::resources::intern;
    let mut columns = vec![crate::kinds::NAME];
    let mut paths = vec![(".metadata.name".to_string(), String::new())];
    let given = version["additionalPrinterColumns"]
        .as_array()
        .filter(|given| !given.is_empty());
    let Some(given) = given else {
        columns.push(crate::kinds::AGE);
        paths.push((".metadata.creationTimestamp".into(), "date".into()));
        return (columns, paths);
    };
    for column in given {
        let kind = column["type"].as_str().unwrap_or("string");
        columns.push((
            intern(column["name"].as_str().unwrap_or_default()),
            intern(kind),
            u8::try_from(column["priority"].as_i64().unwrap_or(0).clamp(0, 255)).unwrap_or(0),
            intern(column["description"].as_str().unwrap_or_default()),
        ));
        paths.push((
            column["jsonPath"].as_str().unwrap_or_default().to_string(),
            column["format"].as_str().unwrap_or_default().to_string(),
        ));
    }
    (columns, paths)
}

/// Deletes the objects of definitions being deleted, then lets the
/// definition go (kube's `customresourcecleanup` finalizer).
pub fn spawn_cleanup(state: &Arc<ApiState>) {
    let Some(crds) = state
        .registry
        .by_kind(GROUP, "v1", "CustomResourceDefinition")
    else {
        return;
    };
    let definitions = crds.clone();
    crate::client::spawn_follower(state, crds, move |state, crd| {
        let crds = definitions.clone();
        async move {
            let deleting = crd
                .pointer("/metadata/deletionTimestamp")
                .is_some_and(|t| !t.is_null());
            let finalized = crd
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| f.iter().any(|f| f == FINALIZER));
            if !(deleting && finalized) {
                return;
            }
            // On a task of its own: a definition's objects may take long
            // to go (their own finalizers), others' cleanups need not wait.
            tokio::spawn(async move {
                if let Err(error) = clean_up(&state, &crds, &crd).await {
                    tracing::warn!(%error, name = crate::meta::name_of(&crd), "cleaning up a CustomResourceDefinition's objects failed");
                }
            });
        }
    });
}

/// kube's naming controller, for what changes after a create: whenever
/// what is served changes (a definition went, or its names did), each
/// definition whose names were refused is examined again, and accepted
/// (its kinds served) if nothing takes them any more.
pub fn spawn_naming(state: &Arc<ApiState>) {
    let Some(crds) = state
        .registry
        .by_kind(GROUP, "v1", "CustomResourceDefinition")
    else {
        return;
    };
    let weak = Arc::downgrade(state);
    let mut changes = state.registry.subscribe();
    let mut closing = state.closing.subscribe();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = closing.wait_for(|c| *c) => return,
            }
            let Some(state) = weak.upgrade() else { return };
            if let Err(error) = accept_refused(&state, &crds).await {
                tracing::warn!(%error, "examining refused CustomResourceDefinition names failed");
            }
        }
    });
}

async fn accept_refused(state: &ApiState, crds: &ResourceDef) -> ApiResult<()> {
    use crate::kinds::custom_resource_definition::{accepted, set_status};
    let listed = state
        .objects
        .list(crds, None, &crate::objects::ListParams::default())
        .await?;
    for crd in &listed.items {
        let deleting = crd
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|t| !t.is_null());
        if condition_true(crd, "NamesAccepted")
            || deleting
            || accepted(&state.objects, crd).await.is_err()
        {
            continue;
        }
        let name = crate::meta::name_of(crd);
        let written = state
            .objects
            .update_with(
                crds,
                None,
                name,
                crate::objects::Part::Status,
                false,
                |current| {
                    let mut next = current.clone();
                    set_status(&mut next, Ok(()));
                    Ok(next)
                },
            )
            .await?;
        // Served before the next one is examined, which may want the same names.
        state
            .wait_served(crate::objects::revision_of(&written))
            .await;
    }
    Ok(())
}

/// Deletes every object of `crd`; once none is left (objects with
/// finalizers of their own go when their controllers let them), removes
/// the definition's finalizer.
async fn clean_up(state: &ApiState, crds: &ResourceDef, crd: &Value) -> ApiResult<()> {
    let name = crate::meta::name_of(crd).to_string();
    let group = crd["spec"]["group"].as_str().unwrap_or_default();
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
    while let Some(resource) = state.registry.stored_as(group, plural) {
        let listed = state
            .objects
            .list(&resource, None, &crate::objects::ListParams::default())
            .await?;
        if listed.items.is_empty() {
            break;
        }
        for object in &listed.items {
            let namespace = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str);
            let params = crate::meta::DeleteParams::default();
            match state
                .objects
                .delete(&resource, namespace, crate::meta::name_of(object), &params)
                .await
            {
                Ok(_) | Err(crate::error::ApiError::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        let left = state
            .objects
            .list(&resource, None, &crate::objects::ListParams::default())
            .await?;
        if left.items.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        // Gone meanwhile (or recreated): nothing more to do here.
        match state.objects.get(crds, None, &name).await {
            Ok(now) if now.object["metadata"]["uid"] == crd["metadata"]["uid"] => {}
            _ => return Ok(()),
        }
    }
    state
        .objects
        .update_with(
            crds,
            None,
            &name,
            crate::objects::Part::Main,
            false,
            |current| {
                let mut next = current.clone();
                if let Some(finalizers) = next
                    .pointer_mut("/metadata/finalizers")
                    .and_then(Value::as_array_mut)
                {
                    finalizers.retain(|f| f != FINALIZER);
                }
                Ok(next)
            },
        )
        .await
        .map(|_| ())
        .or_else(|error| match error {
            crate::error::ApiError::NotFound { .. } => Ok(()),
            error => Err(error),
        })
}
