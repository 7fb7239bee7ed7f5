//! Claiming pods and ControllerRevisions (as `PodControllerRefManager` and
//! `ControllerRevisionControllerRefManager`): the DaemonSet adopts orphans
//! its selector matches and releases what it controls that its selector no
//! longer matches, through [`wharf_sdk::claim`].

use wharf_sdk::k8s_openapi::api::apps::v1::DaemonSet;
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wharf_sdk::k8s_openapi::{Metadata, Resource};
use wharf_sdk::prelude::*;
use wharf_sdk::serde::de::DeserializeOwned;

/// The objects (every one of the namespace, of one kind) the DaemonSet
/// controls once orphans are adopted and strays released. Objects being
/// deleted are not adopted. Every object is tried; the first error, if
/// any, is returned after.
pub fn claim<K>(
    ctx: &Context,
    daemon_set: &DaemonSet,
    selector: &Selector,
    objects: Vec<K>,
) -> Result<Vec<K>, Error>
where
    K: Resource + Metadata<Ty = ObjectMeta> + DeserializeOwned,
{
    wharf_sdk::claim::claim(ctx, daemon_set, objects, |object: &K| {
        selector.matches_labels(object.metadata().labels.as_ref())
    })
}
