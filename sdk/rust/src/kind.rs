//! Naming kinds and objects across the boundary.

use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// A kind of object, as the WIT `kind` record names it: `group` is empty for
/// the core group (`""`, `"v1"`, `"Pod"`).
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl GroupVersionKind {
    pub fn new(
        group: impl Into<String>,
        version: impl Into<String>,
        kind: impl Into<String>,
    ) -> Self {
        GroupVersionKind {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
        }
    }

    /// The kind of a k8s-openapi type (or of any type implementing
    /// [`k8s_openapi::Resource`], such as a custom resource).
    pub fn of<K: k8s_openapi::Resource>() -> Self {
        GroupVersionKind::new(K::GROUP, K::VERSION, K::KIND)
    }

    /// The `apiVersion` field: `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

impl std::fmt::Display for GroupVersionKind {
    /// As apimachinery prints it: `apps/v1, Kind=ReplicaSet`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, Kind={}", self.api_version(), self.kind)
    }
}

/// One object, by kind, namespace (none for cluster-scoped kinds) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    pub kind: GroupVersionKind,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// The reference to a typed object (its namespace and name from its metadata).
    pub fn of<K>(object: &K) -> Self
    where
        K: k8s_openapi::Resource + Metadata<Ty = ObjectMeta>,
    {
        let metadata = object.metadata();
        ObjectRef {
            kind: GroupVersionKind::of::<K>(),
            namespace: metadata.namespace.clone(),
            name: metadata.name.clone().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    /// `Kind namespace/name`, or `Kind name` for cluster-scoped objects.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{} {namespace}/{}", self.kind.kind, self.name),
            None => write!(f, "{} {}", self.kind.kind, self.name),
        }
    }
}

/// A kind the API server serves, as discovery lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedKind {
    pub kind: GroupVersionKind,
    /// The resource's plural name (`deployments`).
    pub plural: String,
    pub namespaced: bool,
    /// The verbs it supports (`list`, `delete`, `deletecollection`…).
    pub verbs: Vec<String>,
}

impl ServedKind {
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|supported| supported == verb)
    }
}
