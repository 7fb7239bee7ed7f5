//! The kinds the API server serves: names, scope, subresources, how each is
//! decoded and validated. Adding a built-in kind is one line in
//! [`Registry::builtin`].

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::{
    admissionregistration, apps, authentication, authorization, autoscaling, batch, certificates,
    coordination, core, discovery, events, networking, policy, rbac, scheduling, storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Decodes JSON through a kind's typed form and back.
type Decode = fn(&Value) -> Result<Value, serde_json::Error>;

/// Adds a kind's OpenAPI schema (and those it refers to) to a generator;
/// returns the reference to it.
pub type SchemaOf = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

/// One served kind.
#[derive(Debug)]
pub struct ResourceDef {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The URL segment, e.g. `pods`.
    pub plural: &'static str,
    pub singular: String,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub namespaced: bool,
    /// Has a `/status` subresource: the main resource ignores status changes.
    pub status: bool,
    /// Has a `/scale` subresource over `spec.replicas`.
    pub scale: bool,
    /// Field selector labels beyond `metadata.name` and `metadata.namespace`.
    pub field_labels: &'static [&'static str],
    /// A review (`SelfSubjectReview`, `SubjectAccessReview`…): only
    /// created, answered at once and never stored.
    pub review: bool,
    /// Subresources beyond `status` and `scale` (a Pod's `binding`,
    /// `eviction` and `log`, a ServiceAccount's `token`…).
    pub subresources: &'static [Subresource],
    /// Served from the objects of another kind (group, version, kind),
    /// converted both ways: `events.k8s.io/v1` Events are core Events.
    pub converted_from: Option<(&'static str, &'static str, &'static str)>,
    /// Decodes into the typed form and back: the canonical JSON, or why not.
    decode: Option<Decode>,
    /// Its OpenAPI schema, for kinds with a typed form.
    pub schema: Option<SchemaOf>,
    /// What its CustomResourceDefinition says, for a kind defined at run time.
    pub custom: Option<Arc<CustomKind>>,
}

/// A subresource as discovery lists it: the kind it takes or answers, and
/// its verbs.
#[derive(Debug, Clone, Copy)]
pub struct Subresource {
    pub name: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

const POD_SUBRESOURCES: &[Subresource] = &[
    Subresource {
        name: "binding",
        group: "",
        version: "v1",
        kind: "Binding",
        verbs: &["create"],
    },
    Subresource {
        name: "eviction",
        group: "policy",
        version: "v1",
        kind: "Eviction",
        verbs: &["create"],
    },
    Subresource {
        name: "ephemeralcontainers",
        group: "",
        version: "v1",
        kind: "Pod",
        verbs: &["get", "patch", "update"],
    },
    Subresource {
        name: "log",
        group: "",
        version: "v1",
        kind: "Pod",
        verbs: &["get"],
    },
    Subresource {
        name: "exec",
        group: "",
        version: "v1",
        kind: "PodExecOptions",
        verbs: &["create", "get"],
    },
    Subresource {
        name: "attach",
        group: "",
        version: "v1",
        kind: "PodAttachOptions",
        verbs: &["create", "get"],
    },
    Subresource {
        name: "portforward",
        group: "",
        version: "v1",
        kind: "PodPortForwardOptions",
        verbs: &["create", "get"],
    },
];

const NODE_SUBRESOURCES: &[Subresource] = &[Subresource {
    name: "proxy",
    group: "",
    version: "v1",
    kind: "NodeProxyOptions",
    verbs: &["create", "delete", "get", "patch", "update"],
}];

const NAMESPACE_SUBRESOURCES: &[Subresource] = &[Subresource {
    name: "finalize",
    group: "",
    version: "v1",
    kind: "Namespace",
    verbs: &["update"],
}];

const SERVICE_ACCOUNT_SUBRESOURCES: &[Subresource] = &[Subresource {
    name: "token",
    group: "authentication.k8s.io",
    version: "v1",
    kind: "TokenRequest",
    verbs: &["create"],
}];

const CSR_SUBRESOURCES: &[Subresource] = &[Subresource {
    name: "approval",
    group: "certificates.k8s.io",
    version: "v1",
    kind: "CertificateSigningRequest",
    verbs: &["get", "patch", "update"],
}];

/// A column of `kubectl get` (kube's `TableColumnDefinition`): name, type,
/// priority (0 always shown, 1 with `-o wide`), description.
pub type Column = (&'static str, &'static str, u8, &'static str);

/// What a CustomResourceDefinition says of one version it serves.
#[derive(Debug, Default)]
pub struct CustomKind {
    /// The CustomResourceDefinition's name (`plural.group`).
    pub crd: String,
    /// Objects are stored in this version.
    pub storage: bool,
    /// The version's structural schema (`openAPIV3Schema`), if it has one.
    pub schema: Option<Value>,
    /// `additionalPrinterColumns`: each column and its JSONPath and format.
    pub columns: Vec<Column>,
    pub column_paths: Vec<(String, String)>,
    /// The `scale` subresource's paths, if it has one.
    pub scale: Option<ScalePaths>,
    /// The definition is being deleted: nothing new is created.
    pub terminating: bool,
}

/// Where a kind's replicas and selector are (the `scale` subresource).
#[derive(Debug, Clone)]
pub struct ScalePaths {
    /// JSONPaths such as `.spec.replicas`.
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

impl Default for ScalePaths {
    /// The built-in workloads'.
    fn default() -> Self {
        ScalePaths {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: None,
        }
    }
}

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The group/resource as errors name it, e.g. `deployments.apps`.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The group/kind as validation errors name it, e.g. `Deployment.apps`.
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// The store prefix of every object of this kind (ending in `/`): a
    /// converted kind's objects are its stored kind's.
    pub fn key_prefix(&self) -> String {
        let group = self
            .converted_from
            .map_or(self.group, |(group, _, _)| group);
        let group = if group.is_empty() { "core" } else { group };
        format!("/registry/{group}/{}/", self.plural)
    }

    /// The store key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(namespace) if self.namespaced => {
                format!("{}{namespace}/{name}", self.key_prefix())
            }
            _ => format!("{}{name}", self.key_prefix()),
        }
    }

    /// The prefix that lists one namespace, or every object.
    pub fn list_prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(namespace) if self.namespaced => format!("{}{namespace}/", self.key_prefix()),
            _ => self.key_prefix(),
        }
    }

    pub fn verbs(&self) -> &'static [&'static str] {
        if self.review {
            &["create"]
        } else if self.kind == "Namespace" {
            &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ]
        } else {
            &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        }
    }

    /// The canonical JSON through the typed form, for kinds that have one.
    pub fn decode(&self, value: &Value) -> Result<Value, serde_json::Error> {
        match self.decode {
            Some(decode) => decode(value),
            None => Ok(value.clone()),
        }
    }

    /// A kind without a k8s-openapi type (Wharf's own, later CRDs): its JSON
    /// is stored as given, checked by `validation` rules only.
    pub fn untyped(
        group: &'static str,
        version: &'static str,
        kind: &'static str,
        plural: &'static str,
        namespaced: bool,
    ) -> Self {
        ResourceDef {
            group,
            version,
            kind,
            plural,
            singular: kind.to_ascii_lowercase(),
            short_names: &[],
            categories: &[],
            namespaced,
            status: true,
            scale: false,
            field_labels: &[],
            review: false,
            subresources: &[],
            converted_from: None,
            decode: None,
            schema: None,
            custom: None,
        }
    }

    /// A kind a CustomResourceDefinition defines (its names interned).
    #[allow(clippy::too_many_arguments)]
    pub fn custom(
        group: &str,
        version: &str,
        names: &CustomNames,
        namespaced: bool,
        status: bool,
        custom: CustomKind,
    ) -> Self {
        ResourceDef {
            group: intern(group),
            version: intern(version),
            kind: intern(&names.kind),
            plural: intern(&names.plural),
            singular: names.singular.clone(),
            short_names: intern_list(&names.short_names),
            categories: intern_list(&names.categories),
            namespaced,
            status,
            scale: custom.scale.is_some(),
            field_labels: &[],
            review: false,
            subresources: &[],
            converted_from: None,
            decode: None,
            schema: None,
            custom: Some(Arc::new(custom)),
        }
    }

    /// Where the `scale` subresource reads and writes.
    pub fn scale_paths(&self) -> ScalePaths {
        self.custom
            .as_ref()
            .and_then(|custom| custom.scale.clone())
            .unwrap_or_default()
    }

    /// Whether the kind has the subresource `name` (beyond status and scale).
    pub fn has_subresource(&self, name: &str) -> bool {
        self.subresources.iter().any(|s| s.name == name)
    }

    pub fn supports_field_label(&self, label: &str) -> bool {
        matches!(label, "metadata.name" | "metadata.namespace")
            || self.field_labels.contains(&label)
    }
}

/// A custom kind's names (a CustomResourceDefinition's `spec.names`).
#[derive(Debug, Clone, Default)]
pub struct CustomNames {
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
}

/// Every served kind, looked up by group, version and plural: the built-in
/// ones, and those CustomResourceDefinitions add while the server runs
/// ([`Registry::set_custom`]). Lookups return the kind as it is now; a
/// request keeps the one it found.
#[derive(Debug, Default)]
pub struct Registry {
    kinds: std::sync::RwLock<Arc<Kinds>>,
    /// The generation, for those who follow what is served.
    changes: Changes,
}

/// A watch channel of the registry's generation.
#[derive(Debug)]
struct Changes(tokio::sync::watch::Sender<u64>);

impl Default for Changes {
    fn default() -> Self {
        Changes(tokio::sync::watch::Sender::new(0))
    }
}

/// The kinds served at one moment.
#[derive(Debug, Default, Clone)]
struct Kinds {
    resources: Vec<Arc<ResourceDef>>,
    by_path: HashMap<(String, String, String), Arc<ResourceDef>>,
    /// Bumped by every change (discovery is rebuilt when it moved).
    generation: u64,
}

/// A string that lives as long as the process, the same text stored once:
/// the names of kinds defined at run time (bounded by how many different
/// names the cluster ever defines, not by how often they change).
pub fn intern(text: &str) -> &'static str {
    static INTERNED: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashSet<&'static str>>,
    > = std::sync::OnceLock::new();
    let mut interned = INTERNED
        .get_or_init(Default::default)
        .lock()
        .expect("interned strings");
    if let Some(found) = interned.get(text) {
        return found;
    }
    let leaked: &'static str = Box::leak(text.to_owned().into_boxed_str());
    interned.insert(leaked);
    leaked
}

/// A list of strings as [`intern`] keeps them.
pub fn intern_list(items: &[String]) -> &'static [&'static str] {
    static INTERNED: std::sync::OnceLock<
        std::sync::Mutex<HashMap<Vec<String>, &'static [&'static str]>>,
    > = std::sync::OnceLock::new();
    if items.is_empty() {
        return &[];
    }
    let mut interned = INTERNED
        .get_or_init(Default::default)
        .lock()
        .expect("interned lists");
    if let Some(found) = interned.get(items) {
        return found;
    }
    let leaked: &'static [&'static str] = Box::leak(
        items
            .iter()
            .map(|item| intern(item))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    interned.insert(items.to_vec(), leaked);
    leaked
}

/// Whether a k8s-openapi scope type is namespaced.
trait Scope {
    const NAMESPACED: bool;
}
impl Scope for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl Scope for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

fn roundtrip<T: DeserializeOwned + Serialize>(value: &Value) -> Result<Value, serde_json::Error> {
    let typed: T = T::deserialize(value)?;
    serde_json::to_value(&typed)
}

/// Optional parts of a kind's definition.
#[derive(Default)]
struct Extras {
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    scale: bool,
    field_labels: &'static [&'static str],
    review: bool,
    subresources: &'static [Subresource],
    converted_from: Option<(&'static str, &'static str, &'static str)>,
}

fn typed<T>(extras: Extras) -> ResourceDef
where
    T: k8s_openapi::Resource + DeserializeOwned + Serialize + schemars::JsonSchema,
    T::Scope: Scope,
{
    ResourceDef {
        group: T::GROUP,
        version: T::VERSION,
        kind: T::KIND,
        plural: T::URL_PATH_SEGMENT,
        singular: T::KIND.to_ascii_lowercase(),
        short_names: extras.short_names,
        categories: extras.categories,
        namespaced: <T::Scope as Scope>::NAMESPACED,
        status: extras.status,
        scale: extras.scale,
        field_labels: extras.field_labels,
        review: extras.review,
        subresources: extras.subresources,
        converted_from: extras.converted_from,
        decode: Some(roundtrip::<T>),
        schema: Some(|generator| generator.subschema_for::<T>()),
        custom: None,
    }
}

const ALL: &[&str] = &["all"];

impl Registry {
    /// The built-in kinds.
    pub fn builtin() -> Self {
        let registry = Registry::default();
        let review = || Extras {
            review: true,
            ..Default::default()
        };
        let status = || Extras {
            status: true,
            ..Default::default()
        };
        for def in [
            typed::<core::v1::Namespace>(Extras {
                short_names: &["ns"],
                field_labels: &["status.phase"],
                subresources: NAMESPACE_SUBRESOURCES,
                ..status()
            }),
            typed::<core::v1::Pod>(Extras {
                short_names: &["po"],
                categories: ALL,
                field_labels: &[
                    "spec.nodeName",
                    "spec.restartPolicy",
                    "spec.schedulerName",
                    "spec.serviceAccountName",
                    "spec.hostNetwork",
                    "status.phase",
                    "status.podIP",
                    "status.nominatedNodeName",
                ],
                subresources: POD_SUBRESOURCES,
                ..status()
            }),
            typed::<core::v1::Node>(Extras {
                short_names: &["no"],
                field_labels: &["spec.unschedulable"],
                subresources: NODE_SUBRESOURCES,
                ..status()
            }),
            typed::<core::v1::Service>(Extras {
                short_names: &["svc"],
                categories: ALL,
                ..status()
            }),
            typed::<core::v1::Endpoints>(Extras {
                short_names: &["ep"],
                ..Default::default()
            }),
            typed::<core::v1::ConfigMap>(Extras {
                short_names: &["cm"],
                ..Default::default()
            }),
            typed::<core::v1::Secret>(Extras {
                field_labels: &["type"],
                ..Default::default()
            }),
            typed::<core::v1::ServiceAccount>(Extras {
                short_names: &["sa"],
                subresources: SERVICE_ACCOUNT_SUBRESOURCES,
                ..Default::default()
            }),
            typed::<core::v1::LimitRange>(Extras {
                short_names: &["limits"],
                ..Default::default()
            }),
            typed::<core::v1::ResourceQuota>(Extras {
                short_names: &["quota"],
                ..status()
            }),
            typed::<core::v1::Event>(Extras {
                short_names: &["ev"],
                field_labels: &[
                    "involvedObject.kind",
                    "involvedObject.namespace",
                    "involvedObject.name",
                    "involvedObject.uid",
                    "involvedObject.apiVersion",
                    "involvedObject.resourceVersion",
                    "involvedObject.fieldPath",
                    "reason",
                    "reportingComponent",
                    "source",
                    "type",
                ],
                ..Default::default()
            }),
            typed::<apps::v1::Deployment>(Extras {
                short_names: &["deploy"],
                categories: ALL,
                scale: true,
                ..status()
            }),
            typed::<apps::v1::ReplicaSet>(Extras {
                short_names: &["rs"],
                categories: ALL,
                scale: true,
                ..status()
            }),
            typed::<apps::v1::StatefulSet>(Extras {
                short_names: &["sts"],
                categories: ALL,
                scale: true,
                ..status()
            }),
            typed::<apps::v1::DaemonSet>(Extras {
                short_names: &["ds"],
                categories: ALL,
                ..status()
            }),
            typed::<networking::v1::Ingress>(Extras {
                short_names: &["ing"],
                ..status()
            }),
            typed::<core::v1::PersistentVolume>(Extras {
                short_names: &["pv"],
                ..status()
            }),
            typed::<core::v1::PersistentVolumeClaim>(Extras {
                short_names: &["pvc"],
                ..status()
            }),
            typed::<core::v1::ReplicationController>(Extras {
                short_names: &["rc"],
                categories: ALL,
                scale: true,
                ..status()
            }),
            typed::<core::v1::PodTemplate>(Extras::default()),
            typed::<apps::v1::ControllerRevision>(Extras::default()),
            typed::<batch::v1::Job>(Extras {
                categories: ALL,
                ..status()
            }),
            typed::<batch::v1::CronJob>(Extras {
                short_names: &["cj"],
                categories: ALL,
                ..status()
            }),
            typed::<autoscaling::v2::HorizontalPodAutoscaler>(Extras {
                short_names: &["hpa"],
                categories: ALL,
                ..status()
            }),
            typed::<autoscaling::v1::HorizontalPodAutoscaler>(Extras {
                short_names: &["hpa"],
                categories: ALL,
                converted_from: Some(("autoscaling", "v2", "HorizontalPodAutoscaler")),
                ..status()
            }),
            typed::<events::v1::Event>(Extras {
                short_names: &["ev"],
                converted_from: Some(("", "v1", "Event")),
                ..Default::default()
            }),
            typed::<policy::v1::PodDisruptionBudget>(Extras {
                short_names: &["pdb"],
                ..status()
            }),
            typed::<storage::v1::StorageClass>(Extras {
                short_names: &["sc"],
                ..Default::default()
            }),
            typed::<storage::v1::CSIDriver>(Extras::default()),
            typed::<storage::v1::VolumeAttachment>(status()),
            typed::<scheduling::v1::PriorityClass>(Extras {
                short_names: &["pc"],
                ..Default::default()
            }),
            typed::<networking::v1::NetworkPolicy>(Extras {
                short_names: &["netpol"],
                ..Default::default()
            }),
            typed::<networking::v1::IngressClass>(Extras::default()),
            typed::<discovery::v1::EndpointSlice>(Extras::default()),
            typed::<coordination::v1::Lease>(Extras::default()),
            typed::<rbac::v1::Role>(Extras::default()),
            typed::<rbac::v1::RoleBinding>(Extras::default()),
            typed::<rbac::v1::ClusterRole>(Extras::default()),
            typed::<rbac::v1::ClusterRoleBinding>(Extras::default()),
            typed::<certificates::v1::CertificateSigningRequest>(Extras {
                short_names: &["csr"],
                field_labels: &["spec.signerName"],
                subresources: CSR_SUBRESOURCES,
                ..status()
            }),
            typed::<apiextensions::CustomResourceDefinition>(Extras {
                short_names: &["crd", "crds"],
                categories: &["api-extensions"],
                ..status()
            }),
            // Served so that clients find them, refused on create: Wharf's
            // admission is Plugins (the strategy says so).
            typed::<admissionregistration::v1::ValidatingWebhookConfiguration>(Extras::default()),
            typed::<admissionregistration::v1::MutatingWebhookConfiguration>(Extras::default()),
            typed::<admissionregistration::v1::ValidatingAdmissionPolicy>(status()),
            typed::<admissionregistration::v1::ValidatingAdmissionPolicyBinding>(Extras::default()),
            typed::<authentication::v1::SelfSubjectReview>(review()),
            typed::<authorization::v1::SelfSubjectAccessReview>(review()),
            typed::<authorization::v1::SubjectAccessReview>(review()),
            typed::<authorization::v1::LocalSubjectAccessReview>(review()),
        ] {
            registry.add(def);
        }
        // Wharf's own kinds.
        registry.add(ResourceDef {
            short_names: &["pl"],
            ..ResourceDef::untyped("wharf.dev", "v1alpha1", "Plugin", "plugins", false)
        });
        registry
    }

    fn now(&self) -> Arc<Kinds> {
        self.kinds.read().expect("registry").clone()
    }

    fn change(&self, change: impl FnOnce(&mut Kinds)) {
        let mut kinds = self.kinds.write().expect("registry");
        let mut next = Kinds::clone(&kinds);
        change(&mut next);
        next.by_path = next
            .resources
            .iter()
            .map(|def| {
                let key = (
                    def.group.to_string(),
                    def.version.to_string(),
                    def.plural.to_string(),
                );
                (key, def.clone())
            })
            .collect();
        next.generation += 1;
        let generation = next.generation;
        *kinds = Arc::new(next);
        drop(kinds);
        self.changes.0.send_replace(generation);
    }

    /// Sees every change of what is served (its generation).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.0.subscribe()
    }

    /// The kind with this group, version and kind name.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceDef>> {
        self.now()
            .resources
            .iter()
            .find(|def| def.group == group && def.version == version && def.kind == kind)
            .cloned()
    }

    pub fn add(&self, def: ResourceDef) {
        self.change(|kinds| kinds.resources.push(Arc::new(def)));
    }

    /// Serves the kinds of one CustomResourceDefinition (one per served
    /// version) in place of what it served before; none stops serving it.
    pub fn set_custom(&self, crd: &str, defs: Vec<ResourceDef>) {
        self.change(|kinds| {
            kinds
                .resources
                .retain(|def| def.custom.as_ref().is_none_or(|custom| custom.crd != crd));
            kinds.resources.extend(defs.into_iter().map(Arc::new));
        });
    }

    /// What serves `group`'s `plural` now, if anything but the
    /// CustomResourceDefinition `crd` does (a conflict of names).
    pub fn served_by_other(&self, crd: &str, group: &str, plural: &str) -> bool {
        self.now().resources.iter().any(|def| {
            def.group == group
                && def.plural == plural
                && def.custom.as_ref().is_none_or(|custom| custom.crd != crd)
        })
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.now()
            .by_path
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// The kind whose objects are stored under `group`'s `plural`, in the
    /// version they are stored in.
    pub fn stored_as(&self, group: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        let kinds = self.now();
        let mut matching = kinds
            .resources
            .iter()
            .filter(|def| def.group == group && def.plural == plural);
        let first = matching.next()?;
        if first.custom.as_ref().is_none_or(|custom| custom.storage) {
            return Some(first.clone());
        }
        matching
            .find(|def| def.custom.as_ref().is_some_and(|custom| custom.storage))
            .or(Some(first))
            .cloned()
    }

    /// Every kind served now.
    pub fn all(&self) -> Vec<Arc<ResourceDef>> {
        self.now().resources.clone()
    }

    /// How many times the served kinds changed.
    pub fn generation(&self) -> u64 {
        self.now().generation
    }

    /// The kinds whose objects are stored (all but the reviews and the
    /// converted forms of other kinds).
    pub fn stored(&self) -> Vec<Arc<ResourceDef>> {
        self.now()
            .resources
            .iter()
            .filter(|def| !def.review && def.converted_from.is_none())
            .cloned()
            .collect()
    }

    /// The groups in the order discovery lists them, each with its versions.
    pub fn groups(&self) -> Vec<(&'static str, Vec<&'static str>)> {
        let mut groups: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
        for def in &self.now().resources {
            match groups.iter_mut().find(|(group, _)| *group == def.group) {
                Some((_, versions)) if !versions.contains(&def.version) => {
                    versions.push(def.version)
                }
                Some(_) => {}
                None => groups.push((def.group, vec![def.version])),
            }
        }
        groups
    }

    /// The kinds of one group version.
    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceDef>> {
        self.now()
            .resources
            .iter()
            .filter(|def| def.group == group && def.version == version)
            .cloned()
            .collect()
    }

    /// Namespaces.
    pub fn namespace(&self) -> Arc<ResourceDef> {
        self.get("", "v1", "namespaces")
            .expect("namespaces are built in")
    }

    /// Nodes.
    pub fn node(&self) -> Arc<ResourceDef> {
        self.get("", "v1", "nodes").expect("nodes are built in")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_kinds_take_names_and_scope_from_their_types() {
        let registry = Registry::builtin();
        let pods = registry.get("", "v1", "pods").unwrap();
        assert_eq!(
            (pods.kind, pods.namespaced, pods.singular.as_str()),
            ("Pod", true, "pod")
        );
        assert_eq!(
            pods.key(Some("default"), "x"),
            "/registry/core/pods/default/x"
        );
        let deployments = registry.get("apps", "v1", "deployments").unwrap();
        assert_eq!(deployments.group_resource(), "deployments.apps");
        assert!(deployments.scale);
        let nodes = registry.get("", "v1", "nodes").unwrap();
        assert!(!nodes.namespaced);
        assert_eq!(nodes.key(None, "n1"), "/registry/core/nodes/n1");
        let roles = registry
            .get("rbac.authorization.k8s.io", "v1", "clusterroles")
            .unwrap();
        assert!(!roles.namespaced);
    }

    #[test]
    fn limit_ranges_and_resource_quotas_are_namespaced_core_kinds() {
        let registry = Registry::builtin();
        let limits = registry.get("", "v1", "limitranges").unwrap();
        assert_eq!(
            (
                limits.kind,
                limits.namespaced,
                limits.status,
                limits.short_names
            ),
            ("LimitRange", true, false, &["limits"][..])
        );
        let quotas = registry.get("", "v1", "resourcequotas").unwrap();
        assert_eq!(
            (
                quotas.kind,
                quotas.namespaced,
                quotas.status,
                quotas.short_names
            ),
            ("ResourceQuota", true, true, &["quota"][..])
        );
        assert_eq!(
            quotas.key(Some("team-a"), "compute"),
            "/registry/core/resourcequotas/team-a/compute"
        );
    }

    #[test]
    fn decoding_drops_unknown_fields_and_rejects_wrong_types() {
        let registry = Registry::builtin();
        let deployments = registry.get("apps", "v1", "deployments").unwrap();
        let decoded = deployments
            .decode(&serde_json::json!({"metadata": {"name": "x"}, "spec": {"replicas": 2, "bogus": 1, "selector": {}, "template": {}}}))
            .unwrap();
        assert_eq!(decoded["spec"]["replicas"], 2);
        assert!(decoded["spec"].get("bogus").is_none());
        assert!(
            deployments
                .decode(&serde_json::json!({"spec": {"replicas": "two"}}))
                .is_err()
        );
    }
}
