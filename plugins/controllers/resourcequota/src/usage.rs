//! Counting what a quota's namespace uses (`CalculateUsage`): the objects
//! of each kind that a resource of the quota counts, listed once per kind,
//! filtered by the quota's scopes, each charged as the admission rule
//! charges it.

use std::collections::BTreeMap;

use wharf_sdk::GroupVersionKind;
use wharf_sdk::k8s_openapi::api::core::v1::ResourceQuota;
use wharf_sdk::prelude::*;
use wharf_sdk::quantity::{Quantity, ResourceList};
use wharf_sdk::quota::{QuotaKind, add, mask, matches_scopes, usage_at};
use wharf_sdk::serde_json::Value;

/// What one count found.
#[derive(Debug, Default)]
pub struct Counted {
    /// The usage of every resource of `hard` that could be counted (zero
    /// when nothing uses it).
    pub used: ResourceList,
    /// Resources of `hard` that no kind Wharf knows counts (an extended
    /// `count/<resource>.<group>`): their usage is left as it was.
    pub uncountable: Vec<String>,
    /// Kinds that could not be listed, and why: the usage of their
    /// resources is left as it was.
    pub failures: Vec<(GroupVersionKind, Error)>,
}

/// Counts the usage in `namespace` of each resource of `hard`, for `quota`
/// (whose scopes choose the objects), at the context's clock (pods stuck
/// terminating past their grace period no longer count).
pub fn count_usage(
    ctx: &Context,
    namespace: &str,
    quota: &ResourceQuota,
    hard: &ResourceList,
) -> Counted {
    let mut counted = Counted::default();
    let mut by_kind: BTreeMap<GroupVersionKind, Vec<&str>> = BTreeMap::new();
    for resource in hard.keys() {
        match QuotaKind::counting(resource) {
            Some(kind) => by_kind.entry(kind.kind).or_default().push(resource),
            None => counted.uncountable.push(resource.clone()),
        }
    }
    let now = ctx.now_millis();
    for (kind, resources) in by_kind {
        let objects = match ctx
            .backend()
            .list(&kind, Some(namespace), &ListParams::default())
        {
            Ok(objects) => objects,
            // A kind the API server does not serve has no objects.
            Err(error) if error.is_not_found() => Vec::new(),
            Err(error) => {
                counted.failures.push((kind, error));
                continue;
            }
        };
        let mut used: ResourceList = resources
            .iter()
            .map(|resource| ((*resource).to_owned(), Quantity::zero()))
            .collect();
        for json in objects {
            let Ok(mut object) = serde_json::from_str::<Value>(&json) else {
                continue;
            };
            if object.get("apiVersion").is_none() {
                object["apiVersion"] = Value::from(kind.api_version());
            }
            if matches_scopes(quota, &kind.kind, &object) {
                used = add(&used, &usage_at(&kind.kind, &object, now));
            }
        }
        counted
            .used
            .extend(mask(&used, |resource| resources.contains(&resource)));
    }
    counted
}
