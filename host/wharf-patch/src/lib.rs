//! Kubernetes strategic merge patch (`application/strategic-merge-patch+json`),
//! applied the way the Kubernetes API server applies it
//! (`k8s.io/apimachinery/pkg/util/strategicpatch`, `StrategicMergeMapPatch`).
//!
//! kubectl's client-side `apply`, `edit`, `label`, `annotate` and `scale` send
//! these patches. [`strategic_merge`] applies one to a live object:
//!
//! - maps merge key by key; `null` deletes a key;
//! - a list merges according to its field's [`ListStrategy`]: replaced whole
//!   ([`ListStrategy::Atomic`]), merged item by item on a merge key
//!   ([`ListStrategy::MergeByKey`]), or merged as a set of scalars
//!   ([`ListStrategy::MergeSet`]);
//! - merged lists take the order the API server gives them: the patch's
//!   `$setElementOrder/<field>` list when it has one (kubectl's `apply` and
//!   `edit` always send it), else the patch's order, with items only the live
//!   object has kept in place and items new to the list first;
//! - the directives `$patch`, `$setElementOrder/<field>`,
//!   `$deleteFromPrimitiveList/<field>` and `$retainKeys` steer the merge and
//!   never appear in the result.
//!
//! Where the API server's behaviour is surprising, we follow it all the same:
//! `"$patch": "delete"` on a map leaves an empty map, `"$patch": "merge"` on a
//! map is an error, and a map carrying a `$patch` directive for a field the
//! object lacks adds nothing.
//!
//! Where a list merges comes from a [`PatchSchema`]; [`BuiltinSchema`] knows
//! the `patchStrategy`/`patchMergeKey` tags of the built-in Kubernetes types.
//!
//! The crate works on `serde_json::Value` only: it knows nothing of HTTP,
//! storage or typed Kubernetes objects. Deciding which resources accept a
//! strategic merge patch at all (custom resources do not) belongs to the API
//! server.

mod directives;
mod error;
mod merge;
mod order;
mod schema;

pub use error::{PatchError, Result};
pub use merge::strategic_merge;
pub use schema::{BuiltinSchema, ListStrategy, PatchSchema};
