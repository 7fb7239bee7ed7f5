//! Objects over the store: keys, server-managed metadata, resourceVersion,
//! optimistic concurrency, finalizers. Knows JSON objects, not HTTP.
//!
//! Objects are stored as JSON without `metadata.resourceVersion`; reads set
//! it from the key's modify revision, so it is always the store's truth.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use wharf_store::{ContinueToken, KeyValue, Store, Write};

use crate::admission::{self, AdmissionChain, Attributes, Operation, StatusUpdate};
use crate::error::{ApiError, ApiResult, Cause};
use crate::meta::{DeleteParams, name_of, now, now_rfc3339};
use crate::resources::{Registry, ResourceDef};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::validation;

/// How many times a write retries after losing a race it did not ask to lose.
const MAX_RETRIES: usize = 16;

/// Status updates lost to a newer version (or chained on a write that
/// failed) are admitted again this many times more than [`MAX_RETRIES`]:
/// each loss means another write went ahead.
const MAX_STALE_RETRIES: usize = 64;

/// A write's attempts: [`MAX_RETRIES`], and [`MAX_STALE_RETRIES`] more
/// for stale status updates.
#[derive(Default)]
struct Retries {
    tries: usize,
    stale: usize,
}

impl Retries {
    /// Whether another attempt may be made (counting it).
    fn next(&mut self) -> bool {
        self.tries += 1;
        self.tries <= MAX_RETRIES
    }

    /// The last attempt's status update was stale: it is not counted.
    fn stale(&mut self) {
        if self.stale < MAX_STALE_RETRIES {
            self.stale += 1;
            self.tries -= 1;
        }
    }
}

/// The most unknown or duplicate fields a strict decoding error names;
/// the rest it counts.
const MAX_NAMED_FIELDS: usize = 100;

/// The namespaces every cluster has, which cannot be deleted.
pub(crate) const IMMORTAL_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// A check of an object about to be written (the escalation rule's on a
/// patched RBAC object or Plugin).
pub type WriteCheck<'a> = dyn Fn(&Value) -> ApiResult<()> + Sync + 'a;

/// The objects of every kind, over one store.
#[derive(Clone)]
pub struct Objects {
    pub store: Arc<dyn Store>,
    pub registry: Arc<Registry>,
    /// Service ClusterIPs and NodePorts.
    pub allocator: crate::allocator::Allocator,
    /// The admission plugins, once `wharf up` has set them.
    pub admission: Arc<std::sync::OnceLock<Arc<dyn AdmissionChain>>>,
    /// By namespace: the turns of the writes there once a status update
    /// was stored in it ([`Objects::contended`]).
    contended: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// Status updates queued to the store and not yet answered, by key
    /// ([`Objects::store_admitted`]).
    charges: Arc<std::sync::Mutex<Charges>>,
    /// What admission added to each write it reviewed that was stored:
    /// its plugins, its turn in the namespace, its charges (the store's
    /// wait aside).
    pub admission_time: Arc<crate::histogram::Histogram>,
}

/// One object read from the store.
pub struct Stored {
    pub object: Value,
    pub revision: i64,
}

/// What to list.
#[derive(Default)]
pub struct ListParams {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

/// A page of a list, each item as JSON bytes ([`Objects::list_raw`]).
pub struct RawList {
    pub items: Vec<Vec<u8>>,
    pub revision: i64,
    pub continue_token: Option<String>,
}

/// A stored object as a list item, copied as stored (so in the stored
/// order: Go's for built-in kinds, sorted for custom ones) but for its
/// resourceVersion, put into its metadata where that order has it. A
/// built-in kind's item is without `apiVersion` and `kind`, as a typed
/// list's items are written; a custom kind's keeps them, as kube writes an
/// unstructured list, with the served `apiVersion`.
pub fn raw_item(resource: &ResourceDef, value: &[u8], revision: i64) -> ApiResult<Vec<u8>> {
    let broken =
        |e: serde_json::Error| ApiError::Internal(format!("stored object is not JSON: {e}"));
    let custom = resource.custom.is_some();
    let top: Members<'_> = serde_json::from_slice(value).map_err(broken)?;
    let mut out = Vec::with_capacity(value.len() + 48);
    out.push(b'{');
    let mut written = 0;
    for (key, raw) in &top.0 {
        match key.as_str() {
            "apiVersion" if custom => {
                member(&mut out, &mut written, key, |out| {
                    serde_json::to_writer(out, &resource.api_version())
                        .expect("a string serializes")
                });
            }
            "apiVersion" | "kind" if !custom => {}
            "metadata" => {
                let metadata: Members<'_> = serde_json::from_str(raw.get()).map_err(broken)?;
                member(&mut out, &mut written, key, |out| {
                    out.push(b'{');
                    let mut inner = 0;
                    let version = format!("\"{revision}\"");
                    let mut pending = Some(version.as_bytes());
                    for (key, raw) in &metadata.0 {
                        let after = if custom {
                            key.as_str() > "resourceVersion"
                        } else {
                            METADATA_AFTER_RESOURCE_VERSION.contains(&key.as_str())
                        };
                        if after && let Some(version) = pending.take() {
                            member(out, &mut inner, "resourceVersion", |out| {
                                out.extend_from_slice(version)
                            });
                        }
                        member(out, &mut inner, key, |out| {
                            out.extend_from_slice(raw.get().as_bytes())
                        });
                    }
                    if let Some(version) = pending {
                        member(out, &mut inner, "resourceVersion", |out| {
                            out.extend_from_slice(version)
                        });
                    }
                    out.push(b'}');
                });
            }
            other => {
                member(&mut out, &mut written, other, |out| {
                    out.extend_from_slice(raw.get().as_bytes())
                });
            }
        }
    }
    out.push(b'}');
    Ok(out)
}

/// The fields of `ObjectMeta` that Go writes after `resourceVersion`.
const METADATA_AFTER_RESOURCE_VERSION: [&str; 9] = [
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Writes `"key":` and the value, after a comma unless it is the first.
fn member(out: &mut Vec<u8>, written: &mut usize, key: &str, value: impl FnOnce(&mut Vec<u8>)) {
    if *written > 0 {
        out.push(b',');
    }
    *written += 1;
    serde_json::to_writer(&mut *out, key).expect("a string serializes");
    out.push(b':');
    value(out);
}

/// A JSON object's members in their written order, values unparsed.
struct Members<'a>(Vec<(String, &'a serde_json::value::RawValue)>);

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// A page of a list.
pub struct ListResult {
    pub items: Vec<Value>,
    pub revision: i64,
    pub continue_token: Option<String>,
}

/// How a write was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The object without its status (for kinds with a status subresource).
    Main,
    /// Only the status.
    Status,
    /// Both, in one write (the server's own writes, such as a binding).
    Whole,
    /// Only a Pod's `spec.ephemeralContainers` (`pods/ephemeralcontainers`).
    EphemeralContainers,
    /// Only a Namespace's `spec.finalizers` (`namespaces/finalize`).
    Finalize,
}

impl Part {
    /// The part a write through `subresource` of `resource` changes.
    pub fn of(resource: &ResourceDef, subresource: Option<&str>) -> ApiResult<Part> {
        match subresource {
            None => Ok(Part::Main),
            Some("status") if resource.status => Ok(Part::Status),
            Some("ephemeralcontainers") if resource.has_subresource("ephemeralcontainers") => {
                Ok(Part::EphemeralContainers)
            }
            Some("finalize") if resource.has_subresource("finalize") => Ok(Part::Finalize),
            Some(other) => Err(ApiError::NoSuchPath(format!(
                "{} has no {other} subresource",
                resource.group_resource()
            ))),
        }
    }

    /// The subresource a write of this part goes through, as admission
    /// names it (the server's whole-object writes are bindings).
    fn subresource(self) -> Option<&'static str> {
        match self {
            Part::Main => None,
            Part::Status => Some("status"),
            Part::Whole => Some("binding"),
            Part::EphemeralContainers => Some("ephemeralcontainers"),
            Part::Finalize => Some("finalize"),
        }
    }

    /// The subresource `managedFields` records a write of this part under.
    fn managed_subresource(self) -> Option<&'static str> {
        self.subresource().filter(|_| self != Part::Whole)
    }
}

/// Adds `apiVersion`, `kind` and `metadata.resourceVersion` to stored JSON.
pub fn decode_stored(resource: &ResourceDef, value: &[u8], revision: i64) -> ApiResult<Value> {
    let mut object: Value = serde_json::from_slice(value)
        .map_err(|e| ApiError::Internal(format!("stored object is not JSON: {e}")))?;
    set_resource_version(&mut object, revision);
    if let Some(map) = object.as_object_mut() {
        if resource.custom.is_some() {
            // Stored in one version, served in any (conversion `None`).
            map.insert("apiVersion".into(), json!(resource.api_version()));
        }
        map.entry("apiVersion")
            .or_insert_with(|| json!(resource.api_version()));
        map.entry("kind").or_insert_with(|| json!(resource.kind));
    }
    Ok(object)
}

/// An object's `metadata.resourceVersion` as a revision (0 when it has none).
pub fn revision_of(object: &Value) -> i64 {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

pub fn set_resource_version(object: &mut Value, revision: i64) {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.insert("resourceVersion".into(), json!(revision.to_string()));
    }
}

fn encode(object: &Value) -> Bytes {
    let mut object = object.clone();
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("resourceVersion");
    }
    // In Go's field order, so that lists spliced from stored bytes keep it.
    Bytes::from(wharf_protobuf::to_json(&object))
}

/// What became of an admitted write ([`Objects::store_admitted`]).
enum Admitted {
    Stored(KeyValue),
    /// The store refused the write itself.
    Failed(wharf_store::Error),
    /// A status update was of an older version of its object.
    Stale,
}

/// What a status update was computed from ([`Objects::store_admitted`]).
enum Read {
    /// A version queued to the store and shown to the plugins ahead of
    /// it: the chain it belongs to, and its value (the write's guard).
    Queued(u64, Bytes),
    /// A stored version, at its revision.
    Stored(i64),
}

/// Status updates queued to the store and not yet answered, by key: each
/// key's chain of queued versions, one on top of the other
/// ([`Objects::store_admitted`]).
#[derive(Default)]
struct Charges {
    by_key: HashMap<String, Charge>,
    /// The last chain's number.
    generations: u64,
}

struct Charge {
    generation: u64,
    /// The last version queued.
    value: Bytes,
    /// How many of the chain's writes wait for their answer.
    queued: usize,
}

/// Past this many keys, chains that wait for nothing are forgotten.
const MAX_CHARGED_KEYS: usize = 4096;

impl Charges {
    /// The resourceVersion a queued version shows with: no stored version
    /// has it, so an update computed from it names its chain.
    fn shown_version(generation: u64) -> i64 {
        -i64::try_from(generation).unwrap_or(i64::MAX)
    }

    fn generation_of(resource_version: i64) -> Option<u64> {
        (resource_version < 0).then(|| resource_version.unsigned_abs())
    }

    /// The last version queued in `generation`'s chain, while it stands.
    fn read(&self, key: &str, generation: u64) -> Option<Bytes> {
        self.by_key
            .get(key)
            .filter(|charge| charge.generation == generation)
            .map(|charge| charge.value.clone())
    }

    /// `value` was queued on top of what `read` says: its chain (a new one
    /// on a stored version), or `None` when the chain it was computed on
    /// failed meanwhile (its guard then fails too).
    fn queued(&mut self, key: &str, read: &Read, value: Bytes) -> Option<u64> {
        match read {
            Read::Queued(generation, _) => {
                let charge = self
                    .by_key
                    .get_mut(key)
                    .filter(|charge| charge.generation == *generation)?;
                charge.value = value;
                charge.queued += 1;
                Some(charge.generation)
            }
            Read::Stored(_) => {
                if self.by_key.len() >= MAX_CHARGED_KEYS {
                    self.by_key.retain(|_, charge| charge.queued > 0);
                }
                self.generations += 1;
                self.by_key.insert(
                    key.to_owned(),
                    Charge {
                        generation: self.generations,
                        value,
                        queued: 1,
                    },
                );
                Some(self.generations)
            }
        }
    }

    /// One of `generation`'s writes was answered. Whether its queued
    /// version stops showing: the chain failed (all on top of it fail
    /// too), or this was its last write waiting. A chain that was stored
    /// whole stays readable, for a plugin that read its last version just
    /// before.
    fn answered(&mut self, key: &str, generation: u64, stored: bool) -> bool {
        let Some(charge) = self
            .by_key
            .get_mut(key)
            .filter(|charge| charge.generation == generation)
        else {
            return false;
        };
        if !stored {
            self.by_key.remove(key);
            return true;
        }
        charge.queued -= 1;
        charge.queued == 0
    }
}

fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.get("metadata").is_some_and(Value::is_object) {
        object["metadata"] = json!({});
    }
    object["metadata"]
        .as_object_mut()
        .expect("metadata is an object")
}

fn not_found(resource: &ResourceDef, name: &str) -> ApiError {
    ApiError::NotFound {
        group: resource.group.into(),
        kind: resource.group_resource(),
        name: name.into(),
    }
}

fn conflict(resource: &ResourceDef, name: &str) -> ApiError {
    ApiError::Conflict {
        group: resource.group.into(),
        kind: resource.group_resource(),
        name: name.into(),
        message: "the object has been modified; please apply your changes to the latest version and try again".into(),
    }
}

/// The parts of an object that are not metadata or status: a change there
/// bumps `metadata.generation`.
fn spec_of(object: &Value) -> Value {
    let mut spec = object.clone();
    if let Some(map) = spec.as_object_mut() {
        for key in ["metadata", "status", "apiVersion", "kind"] {
            map.remove(key);
        }
    }
    spec
}

/// The continue token's wire form, as the Kubernetes API server writes it.
fn encode_continue(token: &ContinueToken, prefix: &str) -> String {
    let start = token
        .start_key
        .strip_prefix(prefix)
        .unwrap_or(&token.start_key);
    let json = json!({"v": "meta.k8s.io/v1", "rv": token.revision, "start": start});
    base64::engine::general_purpose::STANDARD.encode(json.to_string())
}

fn decode_continue(text: &str, prefix: &str) -> ApiResult<ContinueToken> {
    let invalid = || {
        ApiError::BadRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)".into())
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| invalid())?;
    let json: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let revision = json
        .get("rv")
        .and_then(Value::as_i64)
        .filter(|r| *r > 0)
        .ok_or_else(invalid)?;
    let start = json
        .get("start")
        .and_then(Value::as_str)
        .ok_or_else(invalid)?;
    if start.contains("..") || start.starts_with('/') {
        return Err(invalid());
    }
    Ok(ContinueToken {
        revision,
        start_key: format!("{prefix}{start}"),
    })
}

impl Objects {
    pub fn new(store: Arc<dyn Store>, registry: Arc<Registry>) -> Self {
        let allocator = crate::allocator::Allocator::new(store.clone(), Default::default());
        Self {
            store,
            registry,
            allocator,
            contended: Default::default(),
            charges: Default::default(),
            admission_time: Arc::default(),
            admission: Arc::default(),
        }
    }

    /// The admission chain, if any plugin reviews writes of `resource`.
    fn admission_for(&self, resource: &ResourceDef) -> Option<Arc<dyn AdmissionChain>> {
        self.admission
            .get()
            .filter(|chain| chain.reviews(resource))
            .cloned()
    }

    /// Runs the mutating plugins on `object`; what they changed is decoded,
    /// defaulted and, later, validated again like the client's own input.
    fn mutate(
        &self,
        chain: &dyn AdmissionChain,
        attributes: &Attributes<'_>,
        object: &mut Value,
    ) -> ApiResult<()> {
        let before = object.clone();
        admission::blocking(|| chain.mutate(attributes, object))?;
        if *object != before {
            let (decoded, _) = self.admit(attributes.resource, object, true)?;
            *object = decoded;
            validation::apply_defaults(attributes.resource, object);
        }
        Ok(())
    }

    pub async fn get(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
    ) -> ApiResult<Stored> {
        let kv = self
            .store
            .get(&resource.key(namespace, name))
            .await?
            .ok_or_else(|| not_found(resource, name))?;
        Ok(Stored {
            object: decode_stored(resource, &kv.value, kv.mod_revision)?,
            revision: kv.mod_revision,
        })
    }

    pub async fn list(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> ApiResult<ListResult> {
        let filtered = !params.labels.is_empty() || !params.fields.is_empty();
        let mut items = Vec::new();
        let (revision, continue_token) = self
            .scan(resource, namespace, params, &mut |kv| {
                let object = decode_stored(resource, &kv.value, kv.mod_revision)?;
                if !filtered || (params.labels.matches(&object) && params.fields.matches(&object)) {
                    items.push(object);
                    return Ok(true);
                }
                Ok(false)
            })
            .await?;
        Ok(ListResult {
            items,
            revision,
            continue_token,
        })
    }

    /// A list without selectors, each item the stored JSON with its
    /// resourceVersion put in and without `apiVersion` and `kind` (as a
    /// list's items are written), never parsed into a tree: what lists of
    /// large objects cost is then mostly copying bytes.
    pub async fn list_raw(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        params: &ListParams,
    ) -> ApiResult<RawList> {
        let mut items = Vec::new();
        let (revision, continue_token) = self
            .scan(resource, namespace, params, &mut |kv| {
                items.push(raw_item(resource, &kv.value, kv.mod_revision)?);
                Ok(true)
            })
            .await?;
        Ok(RawList {
            items,
            revision,
            continue_token,
        })
    }

    /// Reads the objects a list selects, page by page at one revision,
    /// giving each to `keep` (which says whether it counts against the
    /// limit); the list's revision and continue token.
    async fn scan(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        params: &ListParams,
        keep: &mut (dyn FnMut(wharf_store::KeyValue) -> ApiResult<bool> + Send),
    ) -> ApiResult<(i64, Option<String>)> {
        let prefix = resource.list_prefix(namespace);
        let mut token = params
            .continue_token
            .as_deref()
            .map(|t| decode_continue(t, &prefix))
            .transpose()?;
        let exact_revision = match (
            params.resource_version.as_deref(),
            params.resource_version_match.as_deref(),
        ) {
            (_, _) if token.is_some() => None,
            (Some(rv), Some("Exact")) => Some(parse_revision(rv)?),
            (Some(rv), _) if rv != "0" && !rv.is_empty() => {
                // NotOlderThan: the latest will do, if the store has reached it.
                let wanted = parse_revision(rv)?;
                let current = self.store.current_revision().await?;
                if wanted > current {
                    return Err(ApiError::Timeout(format!(
                        "Too large resource version: {wanted}, current: {current}"
                    )));
                }
                None
            }
            _ => None,
        };
        let limit = params.limit.filter(|l| *l > 0);
        let mut kept = 0;
        let mut revision;
        loop {
            let page = self
                .store
                .list(
                    &prefix,
                    wharf_store::ListOptions {
                        revision: exact_revision,
                        limit: limit.map(|l| l - kept),
                        continue_token: token.take(),
                    },
                )
                .await?;
            revision = page.revision;
            for kv in page.items {
                if keep(kv)? {
                    kept += 1;
                }
            }
            token = page.continue_token;
            let full = limit.is_some_and(|l| kept >= l);
            if token.is_none() || full {
                break;
            }
        }
        Ok((revision, token.map(|t| encode_continue(&t, &prefix))))
    }

    /// Checks that a namespaced object's namespace exists and is not terminating.
    async fn check_namespace(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
    ) -> ApiResult<()> {
        let Some(namespace) = namespace.filter(|_| resource.namespaced) else {
            return Ok(());
        };
        let namespaces = self.registry.namespace();
        let Some(kv) = self.store.get(&namespaces.key(None, namespace)).await? else {
            return Err(ApiError::NotFound {
                group: String::new(),
                kind: "namespaces".into(),
                name: namespace.into(),
            });
        };
        let object: Value =
            serde_json::from_slice(&kv.value).map_err(|e| ApiError::Internal(e.to_string()))?;
        if object
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|t| !t.is_null())
        {
            return Err(ApiError::Forbidden(format!(
                "{} \"{}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                resource.plural,
                name_of(&object)
            )));
        }
        Ok(())
    }

    /// Decodes, defaults and validates an object for `resource`; with
    /// `strict`, unknown fields are an error, else they come back as warnings.
    pub fn admit(
        &self,
        resource: &ResourceDef,
        object: &Value,
        strict: bool,
    ) -> ApiResult<(Value, Vec<String>)> {
        self.admit_body(resource, object, strict, &[])
    }

    /// [`admit`](Self::admit) for a request body that gave `duplicates`
    /// ([`crate::body::duplicate_fields`]): with `strict` they are an
    /// error too, else warnings.
    pub fn admit_body(
        &self,
        resource: &ResourceDef,
        object: &Value,
        strict: bool,
        duplicates: &[String],
    ) -> ApiResult<(Value, Vec<String>)> {
        let decoded = match resource.custom.as_ref().and_then(|c| c.schema.as_ref()) {
            // What the schema does not name is pruned (and reported below).
            Some(schema) => {
                let mut pruned = object.clone();
                crate::schema::prune_root(schema, &mut pruned);
                Ok(pruned)
            }
            None => resource.decode(object),
        }
        .map_err(|e| {
            ApiError::BadRequest(format!(
                "{} in version \"{}\" cannot be handled as a {}: {e}",
                resource.kind, resource.version, resource.kind
            ))
        })?;
        let unknown = validation::unknown_fields(object, &decoded);
        let mut problems = unknown
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .chain(
                duplicates
                    .iter()
                    .map(|f| format!("duplicate field \"{f}\"")),
            );
        if strict && !(unknown.is_empty() && duplicates.is_empty()) {
            // Named up to a bound, counted past it: the message stays small
            // whatever the body.
            let mut named: Vec<String> = problems.by_ref().take(MAX_NAMED_FIELDS).collect();
            let more = problems.count();
            if more > 0 {
                named.push(format!("and {more} more"));
            }
            let fields = named.join(", ");
            return Err(ApiError::BadRequest(format!(
                "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {fields}",
                resource.kind, resource.version, resource.kind
            )));
        }
        let warnings = problems.collect();
        Ok((decoded, warnings))
    }

    fn invalid(resource: &ResourceDef, name: &str, causes: Vec<Cause>) -> ApiError {
        ApiError::Invalid {
            group: resource.group.into(),
            kind: resource.group_kind(),
            name: name.into(),
            causes,
        }
    }

    /// Creates an object (already admitted); fills the server-managed metadata.
    pub async fn create(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        mut object: Value,
        dry_run: bool,
    ) -> ApiResult<Value> {
        let metadata = metadata_mut(&mut object);
        let body_namespace = metadata
            .get("namespace")
            .and_then(Value::as_str)
            .map(str::to_string);
        match (resource.namespaced, namespace, body_namespace.as_deref()) {
            (true, Some(url), Some(body)) if url != body => {
                return Err(ApiError::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request".into(),
                ));
            }
            (true, Some(url), _) => {
                metadata.insert("namespace".into(), json!(url));
            }
            (true, None, _) => {
                return Err(ApiError::BadRequest(
                    "the namespace of the object must be set in the URL".into(),
                ));
            }
            (false, _, _) => {
                metadata.remove("namespace");
            }
        }
        let generate_name = metadata
            .get("generateName")
            .and_then(Value::as_str)
            .map(str::to_string);
        let given_name = metadata
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        if given_name.is_none() && generate_name.is_none() {
            return Err(Self::invalid(
                resource,
                "",
                vec![Cause::required("metadata.name")],
            ));
        }
        for key in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            metadata.remove(key);
        }
        metadata.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        metadata.insert("creationTimestamp".into(), json!(now_rfc3339()));
        if !spec_of(&object).as_object().is_none_or(|m| m.is_empty()) || resource.status {
            metadata_mut(&mut object).insert("generation".into(), json!(1));
        }
        validation::apply_defaults(resource, &mut object);
        self.check_namespace(resource, namespace).await?;
        let chain = self.admission_for(resource);
        let user = admission::current_user();
        crate::kinds::strategy(resource)
            .prepare_for_create(self, namespace, &user, &mut object)
            .await?;
        crate::authz::node::restrict_create(&user, resource, given_name.as_deref())?;
        // What admission adds to this write (the store's own wait aside).
        let mut admitting = Duration::ZERO;
        if let Some(chain) = &chain {
            let started = Instant::now();
            let server_set = metadata_mut(&mut object).clone();
            let attributes = Attributes {
                operation: Operation::Create,
                resource,
                subresource: None,
                namespace,
                name: given_name.as_deref().unwrap_or_default(),
                old_object: None,
                dry_run,
                user: &user,
            };
            self.mutate(chain.as_ref(), &attributes, &mut object)?;
            let metadata = metadata_mut(&mut object);
            for key in ["uid", "creationTimestamp", "namespace", "generation"] {
                match server_set.get(key) {
                    Some(value) => metadata.insert(key.into(), value.clone()),
                    None => metadata.remove(key),
                };
            }
            admitting += started.elapsed();
        }

        let manager = crate::managed::current();
        if !manager.applying {
            crate::managed::record_update(resource, &manager.name, None, None, &mut object);
        }
        // Taken in a namespace where charges were stored (or once one lost
        // a race): writes there are admitted one after another.
        let mut turn = None;
        let mut retries = Retries::default();
        while retries.next() {
            let name = match (&given_name, &generate_name) {
                (Some(name), _) => name.clone(),
                (None, Some(base)) => format!("{base}{}", random_suffix()),
                (None, None) => unreachable!("checked above"),
            };
            metadata_mut(&mut object).insert("name".into(), json!(name));
            let mut causes: Vec<Cause> = validation::check_name(resource, &name)
                .err()
                .into_iter()
                .collect();
            causes.extend(validation::validate(resource, &object));
            crate::kinds::strategy(resource).validate_change(
                None,
                &object,
                Part::Main,
                &mut causes,
            );
            if !causes.is_empty() {
                return Err(Self::invalid(resource, &name, causes));
            }
            let mut updates = Vec::new();
            if let Some(chain) = &chain {
                let started = Instant::now();
                if turn.is_none() && !admission::nested() && self.contended(namespace) {
                    turn = Some(self.turn_on(namespace).await);
                }
                let attributes = Attributes {
                    operation: Operation::Create,
                    resource,
                    subresource: None,
                    namespace,
                    name: &name,
                    old_object: None,
                    dry_run,
                    user: &user,
                };
                updates = admission::blocking(|| chain.validate(&attributes, Some(&object)))?;
                admitting += started.elapsed();
            }
            if dry_run {
                return Ok(object);
            }
            let mut claimed = crate::allocator::Claimed::default();
            if let Err(error) = crate::kinds::strategy(resource)
                .allocate(self, None, &mut object, &mut claimed)
                .await
            {
                self.allocator.release(claimed).await;
                return Err(error);
            }
            let key = resource.key(namespace, &name);
            if given_name.is_some()
                && turn.is_some()
                && !updates.is_empty()
                && self.store.get(&key).await?.is_some()
            {
                // Refused before its charge is queued: charges queued on
                // top of it would fail with it.
                self.allocator.release(claimed).await;
                return Err(ApiError::AlreadyExists {
                    group: resource.group.into(),
                    kind: resource.group_resource(),
                    name,
                });
            }
            let created = self
                .store_admitted(
                    namespace,
                    chain.as_ref(),
                    &updates,
                    Write::Create {
                        key,
                        value: encode(&object),
                    },
                    &mut turn,
                    &mut admitting,
                )
                .await?;
            if !matches!(created, Admitted::Stored(_)) {
                self.allocator.release(claimed).await;
            }
            let created = match created {
                Admitted::Stored(kv) => Ok(kv),
                Admitted::Failed(error) => Err(error),
                Admitted::Stale => {
                    retries.stale();
                    if turn.is_none() && !admission::nested() {
                        turn = Some(self.turn_on(namespace).await);
                    }
                    continue;
                }
            };
            match created {
                Ok(kv) => {
                    set_resource_version(&mut object, kv.mod_revision);
                    if chain.is_some() {
                        self.admission_time.record(admitting);
                    }
                    return Ok(object);
                }
                Err(wharf_store::Error::AlreadyExists { .. }) if given_name.is_none() => continue,
                Err(wharf_store::Error::AlreadyExists { .. }) => {
                    return Err(ApiError::AlreadyExists {
                        group: resource.group.into(),
                        kind: resource.group_resource(),
                        name,
                    });
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(ApiError::Timeout(
            "could not generate a unique name; try again".into(),
        ))
    }

    /// Whether writes in `namespace` take turns to be admitted: once a
    /// status update was stored there (a quota charged), each write's
    /// validating phase runs one at a time, so that no two charge the same
    /// usage and lose races to each other (kube-apiserver's quota
    /// admission queues a namespace's writes too). A turn ends when the
    /// write is queued to the store ([`Objects::store_admitted`]), or at
    /// once when nothing was charged.
    fn contended(&self, namespace: Option<&str>) -> bool {
        self.contended
            .lock()
            .expect("contended")
            .contains_key(namespace.unwrap_or_default())
    }

    /// Waits for this write's turn in `namespace`.
    async fn turn_on(&self, namespace: Option<&str>) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .contended
            .lock()
            .expect("contended")
            .entry(namespace.unwrap_or_default().to_owned())
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    /// Stores an admitted write with the status updates admission asked
    /// for, together or not at all. [`Admitted::Stale`]: an updated object
    /// changed since its plugin read it; the caller admits the write again
    /// (the plugin then reads the newer version).
    ///
    /// `turn` is the write's turn in its namespace, if it took one; it is
    /// given up as soon as the next write may be admitted: at once when
    /// nothing is charged, else once the write is queued to the store
    /// (when the store keeps queued writes in order). A queued charge
    /// shows to the plugins at once ([`AdmissionChain::pending`]), so the
    /// next write's charge adds to it, guarded by its value
    /// ([`Write::Replace`]): the writes of a namespace admitted one after
    /// another share the store's transactions instead of waiting in turn
    /// for each other's fsync, and when one fails, what was charged on top
    /// of it fails too and is admitted again.
    async fn store_admitted(
        &self,
        namespace: Option<&str>,
        chain: Option<&Arc<dyn AdmissionChain>>,
        updates: &[StatusUpdate],
        main: Write,
        turn: &mut Option<tokio::sync::OwnedMutexGuard<()>>,
        admitting: &mut Duration,
    ) -> ApiResult<Admitted> {
        let Some(chain) = chain.filter(|_| !updates.is_empty()) else {
            // Nothing charged: the next write need not wait for this one.
            turn.take();
            let written = match main {
                Write::Create { key, value } => self.store.create(&key, value).await,
                Write::Update {
                    key,
                    value,
                    expected,
                } => self.store.update(&key, value, expected).await,
                Write::Delete { .. } | Write::Replace { .. } => {
                    unreachable!("admission stores creates and updates")
                }
            };
            return Ok(match written {
                Ok(kv) => Admitted::Stored(kv),
                Err(error) => Admitted::Failed(error),
            });
        };
        let started = Instant::now();
        // Chained on queued charges only in turn: the turn orders them.
        let in_turn = turn.is_some();
        let mut writes = Vec::with_capacity(updates.len() + 1);
        let mut objects = Vec::with_capacity(updates.len());
        let mut keys = Vec::with_capacity(updates.len());
        for update in updates {
            let failed = |message: String| ApiError::AdmissionFailed {
                plugin: update.plugin.clone(),
                message,
            };
            let resource = self
                .registry
                .by_kind(&update.group, &update.version, &update.kind)
                .ok_or_else(|| {
                    failed(format!(
                        "a status update of {}/{} {}: no such kind is served",
                        update.group, update.version, update.kind
                    ))
                })?;
            if !resource.status {
                return Err(failed(format!(
                    "a status update of {}: {} has no status subresource",
                    update.name, resource.kind
                )));
            }
            let key = resource.key(update.namespace.as_deref(), &update.name);
            if key == main.key() {
                return Err(failed(
                    "a status update of the object under review (patch it instead)".into(),
                ));
            }
            // What the plugin read: a queued version (by its generation),
            // or a stored one (by its revision).
            let (mut object, read) = match Charges::generation_of(update.resource_version) {
                Some(generation) => {
                    let queued = self
                        .charges
                        .lock()
                        .expect("charges")
                        .read(&key, generation)
                        .filter(|_| in_turn);
                    let Some(value) = queued else {
                        // Its chain failed since: admitted again on what is stored.
                        return Ok(Admitted::Stale);
                    };
                    (
                        decode_stored(&resource, &value, 0)?,
                        Read::Queued(generation, value),
                    )
                }
                None => {
                    let Some(stored) = self.store.get(&key).await? else {
                        // Gone since the plugin read it: its next read must say so.
                        chain.stored(update, self.store.current_revision().await?, None);
                        return Ok(Admitted::Stale);
                    };
                    if stored.mod_revision != update.resource_version {
                        chain.stored(update, stored.mod_revision, None);
                        return Ok(Admitted::Stale);
                    }
                    (
                        decode_stored(&resource, &stored.value, stored.mod_revision)?,
                        Read::Stored(stored.mod_revision),
                    )
                }
            };
            object["status"] = update.status.clone();
            let causes = validation::validate(&resource, &object);
            if !causes.is_empty() {
                return Err(failed(format!(
                    "its status update of {} {} is invalid: {}",
                    resource.kind,
                    update.name,
                    causes
                        .iter()
                        .map(|cause| cause.message.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                )));
            }
            let value = encode(&object);
            writes.push(match &read {
                Read::Queued(_, queued) => Write::Replace {
                    key: key.clone(),
                    value: value.clone(),
                    expected_value: queued.clone(),
                },
                Read::Stored(revision) => Write::Update {
                    key: key.clone(),
                    value: value.clone(),
                    expected: *revision,
                },
            });
            objects.push((object, read, value));
            keys.push(key);
        }
        let main_key = main.key().to_owned();
        writes.push(main);
        let queued = match in_turn {
            true => self.store.queue_all(writes),
            false => Err(writes),
        };
        let (answer, shown) = match queued {
            Ok(queued) => {
                let mut shown = Vec::with_capacity(updates.len());
                {
                    let mut charges = self.charges.lock().expect("charges");
                    for ((update, key), (object, read, value)) in
                        updates.iter().zip(&keys).zip(&objects)
                    {
                        let Some(generation) = charges.queued(key, read, value.clone()) else {
                            continue;
                        };
                        let mut object = object.clone();
                        set_resource_version(&mut object, Charges::shown_version(generation));
                        chain.pending(update, Some(&object));
                        shown.push((update, key, generation));
                    }
                }
                turn.take();
                *admitting += started.elapsed();
                (queued.await, shown)
            }
            Err(writes) => {
                *admitting += started.elapsed();
                (self.store.write_all(writes).await, Vec::new())
            }
        };
        let started = Instant::now();
        if let Ok(written) = &answer {
            self.contended
                .lock()
                .expect("contended")
                .entry(namespace.unwrap_or_default().to_owned())
                .or_default();
            for ((update, kv), (object, _, _)) in updates.iter().zip(written).zip(&objects) {
                let mut object = object.clone();
                set_resource_version(&mut object, kv.mod_revision);
                chain.stored(update, kv.mod_revision, Some(&object));
            }
        }
        // Once written through (or failed), a queued version stops showing
        // when it was the last of its chain.
        {
            let mut charges = self.charges.lock().expect("charges");
            for (update, key, generation) in shown {
                if charges.answered(key, generation, answer.is_ok()) {
                    chain.pending(update, None);
                }
            }
        }
        *admitting += started.elapsed();
        match answer {
            Ok(mut written) => Ok(Admitted::Stored(written.pop().expect("the main write"))),
            Err(wharf_store::Error::Conflict {
                key,
                expected,
                current,
            }) if key != main_key => {
                if expected != 0 {
                    let lost = updates
                        .iter()
                        .zip(&keys)
                        .find_map(|(update, updated)| (*updated == key).then_some(update))
                        .expect("the conflict is one of the writes");
                    chain.stored(lost, current, None);
                }
                // A value guard lost: what it was chained on failed, and
                // the caches show what is stored (nothing newer to wait for).
                Ok(Admitted::Stale)
            }
            Err(wharf_store::Error::NotFound { key }) if key != main_key => Ok(Admitted::Stale),
            Err(error) => Ok(Admitted::Failed(error)),
        }
    }

    /// Assigns a pending pod to a node and marks it PodScheduled, in one
    /// write, as the `pods/binding` subresource does. A pod that is already
    /// assigned or being deleted is a 409 Conflict.
    pub async fn bind(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        node: &str,
        dry_run: bool,
    ) -> ApiResult<Value> {
        let conflict = |message: String| ApiError::Conflict {
            group: String::new(),
            kind: "pods/binding".into(),
            name: name.into(),
            message,
        };
        self.update_with(resource, namespace, name, Part::Whole, dry_run, |current| {
            if let Some(existing) = current
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            {
                return Err(conflict(format!(
                    "pod {name} is already assigned to node \"{existing}\""
                )));
            }
            if current.pointer("/metadata/deletionTimestamp").is_some() {
                return Err(conflict(format!(
                    "pod {name} is being deleted, cannot be assigned to a host"
                )));
            }
            let mut next = current.clone();
            if let Some(metadata) = next["metadata"].as_object_mut() {
                metadata.remove("resourceVersion");
            }
            next["spec"]["nodeName"] = Value::String(node.to_string());
            let status = next
                .as_object_mut()
                .expect("an object")
                .entry("status")
                .or_insert_with(|| serde_json::json!({}));
            if !status.is_object() {
                *status = serde_json::json!({});
            }
            let conditions = status
                .as_object_mut()
                .expect("an object")
                .entry("conditions")
                .or_insert_with(|| serde_json::json!([]));
            if let Some(list) = conditions.as_array_mut() {
                list.retain(|c| c["type"] != "PodScheduled");
                list.push(serde_json::json!({
                    "type": "PodScheduled",
                    "status": "True",
                    "lastProbeTime": null,
                    "lastTransitionTime": now_rfc3339(),
                }));
            }
            Ok(next)
        })
        .await
    }

    /// Reads, changes with `change`, and writes back, retrying when another
    /// writer got there first, unless the caller pinned a resourceVersion
    /// (then a stale one is a 409 Conflict). `change` returns the new object
    /// (as the client sent or patched it).
    pub async fn update_with<F>(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        part: Part,
        dry_run: bool,
        mut change: F,
    ) -> ApiResult<Value>
    where
        F: FnMut(&Value) -> ApiResult<Value>,
    {
        let chain = self.admission_for(resource);
        let user = admission::current_user();
        let subresource = part.subresource();
        // Taken in a namespace where charges were stored (or once one lost
        // a race): writes there are admitted one after another.
        let mut turn = None;
        let mut retries = Retries::default();
        // What admission adds to this write (the store's own wait aside).
        let mut admitting = Duration::ZERO;
        while retries.next() {
            let current = self.get(resource, namespace, name).await?;
            let requested = change(&current.object)?;
            check_identity(resource, namespace, name, &current.object, &requested)?;
            let pinned = requested
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .filter(|rv| !rv.is_empty())
                .map(parse_revision)
                .transpose()?;
            if pinned.is_some_and(|rv| rv != current.revision) {
                return Err(conflict(resource, name));
            }
            let mut next = merge_server_fields(resource, &current.object, requested, part);
            // Kubernetes defaults on every decode, not only on create: an
            // update must not leave a template without its defaulted fields.
            validation::apply_defaults(resource, &mut next);
            if next.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
                return Err(ApiError::BadRequest(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    name_of(&next)
                )));
            }
            let attributes = Attributes {
                operation: Operation::Update,
                resource,
                subresource,
                namespace,
                name,
                old_object: Some(&current.object),
                dry_run,
                user: &user,
            };
            if let Some(chain) = &chain {
                let started = Instant::now();
                self.mutate(chain.as_ref(), &attributes, &mut next)?;
                next = merge_server_fields(resource, &current.object, next, part);
                admitting += started.elapsed();
            }
            let mut causes = validation::validate(resource, &next);
            crate::kinds::strategy(resource).validate_change(
                Some(&current.object),
                &next,
                part,
                &mut causes,
            );
            if !causes.is_empty() {
                return Err(Self::invalid(resource, name, causes));
            }
            let mut updates = Vec::new();
            if let Some(chain) = &chain {
                let started = Instant::now();
                if turn.is_none() && !admission::nested() && self.contended(namespace) {
                    turn = Some(self.turn_on(namespace).await);
                }
                updates = admission::blocking(|| chain.validate(&attributes, Some(&next)))?;
                admitting += started.elapsed();
            }
            let manager = crate::managed::current();
            if !manager.applying || part == Part::Whole {
                let subresource = part.managed_subresource();
                crate::managed::record_update(
                    resource,
                    &manager.name,
                    subresource,
                    Some(&current.object),
                    &mut next,
                );
            }
            if spec_of(&next) != spec_of(&current.object) {
                let generation = current
                    .object
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                metadata_mut(&mut next).insert("generation".into(), json!(generation + 1));
            }
            if dry_run {
                return Ok(next);
            }
            let unchanged = {
                let mut before = current.object.clone();
                set_resource_version(&mut before, current.revision);
                let mut after = next.clone();
                set_resource_version(&mut after, current.revision);
                before == after
            };
            if unchanged {
                // Kubernetes does not write (nor bump the resourceVersion) for a no-op.
                return Ok(current.object);
            }
            // The last finalizer gone from an object being deleted deletes
            // it, unless a pod's grace period still runs (its kubelet
            // deletes it) or its kind holds it (a Namespace's spec.finalizers).
            let strategy = crate::kinds::strategy(resource);
            let finished = !strategy.holds_deletion(&next)
                && next
                    .pointer("/metadata/deletionTimestamp")
                    .is_some_and(|t| !t.is_null())
                && next
                    .pointer("/metadata/finalizers")
                    .and_then(Value::as_array)
                    .is_none_or(|f| f.is_empty())
                && next
                    .pointer("/metadata/deletionGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .is_none_or(|grace| grace == 0);
            let key = resource.key(namespace, name);
            let mut claimed = crate::allocator::Claimed::default();
            if !finished
                && let Err(error) = strategy
                    .allocate(self, Some(&current.object), &mut next, &mut claimed)
                    .await
            {
                self.allocator.release(claimed).await;
                return Err(error);
            }
            let written = if finished {
                self.store
                    .delete(&key, Some(current.revision))
                    .await
                    .map(|outcome| outcome.revision)
            } else {
                let write = Write::Update {
                    key,
                    value: encode(&next),
                    expected: current.revision,
                };
                match self
                    .store_admitted(
                        namespace,
                        chain.as_ref(),
                        &updates,
                        write,
                        &mut turn,
                        &mut admitting,
                    )
                    .await?
                {
                    Admitted::Stored(kv) => Ok(kv.mod_revision),
                    Admitted::Failed(error) => Err(error),
                    Admitted::Stale => {
                        retries.stale();
                        self.allocator.release(claimed).await;
                        if turn.is_none() && !admission::nested() {
                            turn = Some(self.turn_on(namespace).await);
                        }
                        continue;
                    }
                }
            };
            if written.is_err() {
                self.allocator.release(claimed).await;
            } else {
                let kept = (!finished).then_some(&next);
                strategy.written(self, &current.object, kept).await;
            }
            match written {
                Ok(revision) => {
                    set_resource_version(&mut next, revision);
                    if chain.is_some() {
                        self.admission_time.record(admitting);
                    }
                    return Ok(next);
                }
                Err(wharf_store::Error::Conflict { .. }) if pinned.is_none() => continue,
                Err(wharf_store::Error::Conflict { .. }) => return Err(conflict(resource, name)),
                Err(wharf_store::Error::NotFound { .. }) => return Err(not_found(resource, name)),
                Err(error) => return Err(error.into()),
            }
        }
        Err(conflict(resource, name))
    }

    /// Applies a patch to the current object and writes the result (with
    /// retries); returns it with any unknown-field warnings.
    /// `check`, if given, runs on the patched object before it is written
    /// (each time it is computed).
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        part: Part,
        patch: &crate::patch::Patch,
        (strict, dry_run): (bool, bool),
        check: Option<&WriteCheck<'_>>,
    ) -> ApiResult<(Value, Vec<String>)> {
        let mut warnings = Vec::new();
        let updated = self
            .update_with(resource, namespace, name, part, dry_run, |current| {
                // A resourceVersion in the result pins the write only if the patch set it.
                let mut base = current.clone();
                if let Some(metadata) = base.get_mut("metadata").and_then(Value::as_object_mut) {
                    metadata.remove("resourceVersion");
                }
                let patched = patch.apply_to(&base)?;
                let (mut decoded, found) = self.admit(resource, &patched, strict)?;
                if let crate::patch::Patch::Apply(config) = patch {
                    let manager = crate::managed::current();
                    let subresource = part.managed_subresource();
                    let mut config = config.clone();
                    if let Some(metadata) =
                        config.get_mut("metadata").and_then(Value::as_object_mut)
                    {
                        metadata.remove("managedFields");
                    }
                    crate::managed::apply(
                        resource,
                        &manager.name,
                        manager.force,
                        subresource,
                        current,
                        &config,
                        &mut decoded,
                    )?;
                }
                if let Some(check) = check {
                    check(&decoded)?;
                }
                warnings = found;
                Ok(decoded)
            })
            .await?;
        Ok((updated, warnings))
    }

    /// Deletes an object: at once, or by marking it when finalizers remain.
    pub async fn delete(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        params: &DeleteParams,
    ) -> ApiResult<Value> {
        let strategy = crate::kinds::strategy(resource);
        strategy.check_delete(name)?;
        for _ in 0..MAX_RETRIES {
            let current = self.get(resource, namespace, name).await?;
            let metadata = &current.object["metadata"];
            if let Some(uid) = &params.precondition_uid
                && metadata["uid"].as_str() != Some(uid)
            {
                return Err(ApiError::Conflict {
                    group: resource.group.into(),
                    kind: resource.group_resource(),
                    name: name.into(),
                    message: format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        metadata["uid"].as_str().unwrap_or_default()
                    ),
                });
            }
            if let Some(rv) = &params.precondition_resource_version
                && parse_revision(rv)? != current.revision
            {
                return Err(ApiError::Conflict {
                    group: resource.group.into(),
                    kind: resource.group_resource(),
                    name: name.into(),
                    message: format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        current.revision
                    ),
                });
            }
            if let Some(chain) = self.admission_for(resource) {
                let user = admission::current_user();
                let attributes = Attributes {
                    operation: Operation::Delete,
                    resource,
                    subresource: None,
                    namespace,
                    name,
                    old_object: Some(&current.object),
                    dry_run: params.dry_run,
                    user: &user,
                };
                let updates = admission::blocking(|| chain.validate(&attributes, None))?;
                if let Some(update) = updates.first() {
                    return Err(ApiError::AdmissionFailed {
                        plugin: update.plugin.clone(),
                        message:
                            "a status update may come with a create or an update, not a delete"
                                .into(),
                    });
                }
            }
            let metadata = &current.object["metadata"];
            let mut finalizers: Vec<Value> = metadata["finalizers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let propagation_finalizer = match params.propagation.as_deref() {
                Some("Foreground") => Some("foregroundDeletion"),
                Some("Orphan") => Some("orphan"),
                _ => None,
            };
            if let Some(finalizer) = propagation_finalizer
                && !finalizers.iter().any(|f| f == finalizer)
            {
                finalizers.push(json!(finalizer));
            }
            let held = strategy.holds_deletion(&current.object);
            let grace = strategy.grace_seconds(&current.object, params.grace_period_seconds);
            let marked_grace = metadata
                .get("deletionGracePeriodSeconds")
                .and_then(Value::as_i64);
            if grace > 0 && marked_grace.is_some_and(|marked| marked <= grace) {
                // Already terminating, as soon or sooner: nothing changes.
                return Ok(current.object);
            }
            if finalizers.is_empty() && !held && grace == 0 {
                if params.dry_run {
                    return Ok(current.object);
                }
                match self
                    .store
                    .delete(&resource.key(namespace, name), Some(current.revision))
                    .await
                {
                    Ok(outcome) => {
                        strategy.written(self, &current.object, None).await;
                        let mut object = current.object;
                        set_resource_version(&mut object, outcome.revision);
                        return Ok(object);
                    }
                    Err(wharf_store::Error::Conflict { .. }) => continue,
                    Err(wharf_store::Error::NotFound { .. }) => {
                        return Err(not_found(resource, name));
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            // Graceful: mark, and let whoever owns the finalizers finish.
            let mut marked = current.object.clone();
            let metadata = metadata_mut(&mut marked);
            let unmarked = metadata.get("deletionTimestamp").is_none_or(Value::is_null);
            // Marked anew, or sooner (a shorter grace period, down to 0).
            if unmarked || marked_grace.is_some_and(|marked| grace < marked) {
                // A pod's kubelet stops it within `grace`, then deletes it.
                let at = now()
                    .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(grace))
                    .unwrap_or_else(|_| now());
                metadata.insert(
                    "deletionTimestamp".into(),
                    json!(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
                );
                metadata.insert("deletionGracePeriodSeconds".into(), json!(grace));
            }
            if !finalizers.is_empty() {
                metadata.insert("finalizers".into(), Value::Array(finalizers));
            }
            strategy.mark_deleting(&mut marked);
            if params.dry_run {
                return Ok(marked);
            }
            match self
                .store
                .update(
                    &resource.key(namespace, name),
                    encode(&marked),
                    current.revision,
                )
                .await
            {
                Ok(kv) => {
                    set_resource_version(&mut marked, kv.mod_revision);
                    return Ok(marked);
                }
                Err(wharf_store::Error::Conflict { .. }) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(conflict(resource, name))
    }
}

/// The object to store for an update: what the client asked for, with the
/// fields only the server sets kept from `current`, and, for kinds with a
/// status subresource, status (main) or everything but status (status) kept.
fn merge_server_fields(
    resource: &ResourceDef,
    current: &Value,
    requested: Value,
    part: Part,
) -> Value {
    let mut next = match part {
        Part::Status => {
            let mut next = current.clone();
            next["status"] = requested.get("status").cloned().unwrap_or(Value::Null);
            if next["status"].is_null() {
                next.as_object_mut().expect("object").remove("status");
            }
            crate::kinds::strategy(resource).prepare_for_status_update(current, &mut next);
            next
        }
        Part::Whole => requested,
        Part::EphemeralContainers => {
            // kube's ephemeral containers strategy: the stored pod but for
            // its ephemeral containers.
            let mut next = current.clone();
            match requested.pointer("/spec/ephemeralContainers") {
                Some(containers) => next["spec"]["ephemeralContainers"] = containers.clone(),
                None => {
                    if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.remove("ephemeralContainers");
                    }
                }
            }
            next
        }
        Part::Finalize => {
            // kube's namespace finalize strategy: the stored namespace but
            // for its spec.finalizers.
            let mut next = current.clone();
            next["spec"]["finalizers"] = requested
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or_else(|| json!([]));
            next
        }
        Part::Main => {
            let mut next = requested;
            crate::kinds::strategy(resource).prepare_for_update(current, &mut next);
            if resource.status {
                match current.get("status") {
                    Some(status) => next["status"] = status.clone(),
                    None => {
                        if let Some(map) = next.as_object_mut() {
                            map.remove("status");
                        }
                    }
                }
            }
            next
        }
    };
    let current_metadata = current
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let metadata = metadata_mut(&mut next);
    for key in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "namespace",
        "name",
    ] {
        match current_metadata.get(key) {
            Some(value) => {
                metadata.insert(key.into(), value.clone());
            }
            None => {
                metadata.remove(key);
            }
        }
    }
    metadata.remove("resourceVersion");
    if let Some(map) = next.as_object_mut() {
        map.insert("apiVersion".into(), json!(resource.api_version()));
        map.insert("kind".into(), json!(resource.kind));
    }
    next
}

/// What an update may not change, as kube-apiserver answers it: the name
/// and namespace the URL names (a body or patch may leave them out: the
/// server fills them in) and the uid.
fn check_identity(
    resource: &ResourceDef,
    namespace: Option<&str>,
    name: &str,
    current: &Value,
    requested: &Value,
) -> ApiResult<()> {
    let text = |object: &Value, field: &str| -> Option<String> {
        object
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    if let Some(requested_name) = text(requested, "name")
        && requested_name != name
    {
        return Err(ApiError::BadRequest(format!(
            "the name of the object ({requested_name}) does not match the name on the URL ({name})"
        )));
    }
    if resource.namespaced
        && let Some(requested_namespace) = text(requested, "namespace")
        && Some(requested_namespace.as_str()) != namespace
    {
        return Err(ApiError::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
                .into(),
        ));
    }
    if let Some(uid) = text(requested, "uid")
        && text(current, "uid").is_some_and(|current| current != uid)
    {
        return Err(ApiError::Invalid {
            group: resource.group.into(),
            kind: resource.kind.into(),
            name: name.into(),
            causes: vec![Cause::invalid(
                "metadata.uid",
                format!("Invalid value: \"{uid}\": field is immutable"),
            )],
        });
    }
    Ok(())
}

pub fn parse_revision(text: &str) -> ApiResult<i64> {
    text.parse::<i64>()
        .ok()
        .filter(|r| *r >= 0)
        .ok_or_else(|| ApiError::BadRequest(format!("invalid resource version \"{text}\"")))
}

/// Five characters from Kubernetes' `generateName` alphabet.
pub(crate) fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let random = uuid::Uuid::new_v4().as_u128();
    (0..5)
        .map(|i| ALPHABET[((random >> (i * 8)) % ALPHABET.len() as u128) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let token = ContinueToken {
            revision: 42,
            start_key: "/registry/core/pods/default/x".into(),
        };
        let text = encode_continue(&token, "/registry/core/pods/default/");
        assert_eq!(
            decode_continue(&text, "/registry/core/pods/default/").unwrap(),
            token
        );
        assert!(decode_continue("not-base64!", "/p/").is_err());
        let escape = base64::engine::general_purpose::STANDARD
            .encode(r#"{"v":"meta.k8s.io/v1","rv":1,"start":"../x"}"#);
        assert!(decode_continue(&escape, "/p/").is_err());
    }

    #[test]
    fn generated_suffixes_use_the_kubernetes_alphabet() {
        let suffix = random_suffix();
        assert_eq!(suffix.len(), 5);
        assert!(
            suffix
                .bytes()
                .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
        );
    }

    #[test]
    fn main_updates_keep_status_and_server_metadata() {
        let registry = Registry::builtin();
        let deployments = registry.get("apps", "v1", "deployments").unwrap();
        let current = json!({"metadata": {"name": "x", "uid": "u1", "generation": 3, "creationTimestamp": "t"}, "spec": {"replicas": 1}, "status": {"replicas": 1}});
        let requested = json!({"metadata": {"name": "x", "uid": "forged"}, "spec": {"replicas": 2}, "status": {"replicas": 9}});
        let next = merge_server_fields(&deployments, &current, requested.clone(), Part::Main);
        assert_eq!(next["metadata"]["uid"], "u1");
        assert_eq!(next["status"]["replicas"], 1);
        assert_eq!(next["spec"]["replicas"], 2);
        let status = merge_server_fields(&deployments, &current, requested, Part::Status);
        assert_eq!(status["spec"]["replicas"], 1);
        assert_eq!(status["status"]["replicas"], 9);
    }

    #[test]
    fn a_raw_list_item_is_the_decoded_object_without_its_type() {
        let registry = Registry::builtin();
        let configmaps = registry.get("", "v1", "configmaps").unwrap();
        let object = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"x": "\"quoted\""}, "managedFields": [{"manager": "m", "fieldsV1": {"f:data": {}}}]},
            "data": {"k": "v\u{e9}"},
        });
        let stored = encode(&object);
        let raw: Value =
            serde_json::from_slice(&raw_item(&configmaps, &stored, 42).unwrap()).unwrap();
        let mut decoded = decode_stored(&configmaps, &stored, 42).unwrap();
        decoded.as_object_mut().unwrap().remove("apiVersion");
        decoded.as_object_mut().unwrap().remove("kind");
        assert_eq!(raw, decoded);
        assert_eq!(raw["metadata"]["resourceVersion"], "42");
        // In Go's order, resourceVersion where ObjectMeta has it.
        let text = String::from_utf8(raw_item(&configmaps, &stored, 42).unwrap()).unwrap();
        assert!(
            text.starts_with(r#"{"metadata":{"name":"a","resourceVersion":"42","labels":"#),
            "{text}"
        );
        assert!(text.ends_with("\"data\":{\"k\":\"v\u{e9}\"}}"), "{text}");
    }

    #[test]
    fn a_custom_raw_list_item_keeps_its_type_and_sorted_keys() {
        let names = wharf_client::resources::CustomNames {
            kind: "PodSet".into(),
            plural: "podsets".into(),
            ..Default::default()
        };
        let podsets =
            ResourceDef::custom("wharf.dev", "v1", &names, true, true, Default::default());
        let stored = serde_json::to_vec(&json!({
            "apiVersion": "wharf.dev/v1alpha1", "kind": "PodSet",
            "metadata": {"name": "a", "uid": "u", "creationTimestamp": "t"}, "spec": {"replicas": 1},
        }))
        .unwrap();
        let text = String::from_utf8(raw_item(&podsets, &stored, 7).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"apiVersion":"wharf.dev/v1","kind":"PodSet","metadata":{"creationTimestamp":"t","name":"a","resourceVersion":"7","uid":"u"},"spec":{"replicas":1}}"#
        );
    }
}
