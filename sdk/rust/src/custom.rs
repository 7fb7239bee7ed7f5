//! Kinds defined at run time (CustomResourceDefinitions): a typed one from
//! a struct of your own with [`custom_resource!`](crate::custom_resource),
//! or any object of any kind as a [`DynamicObject`].

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Makes a struct with a `metadata: ObjectMeta` field a kind the SDK can
/// get, list, create, update and own, as k8s-openapi's types are:
///
/// ```
/// use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
/// use wharf_sdk::serde::{Deserialize, Serialize};
///
/// #[derive(Clone, Debug, Default, Serialize, Deserialize)]
/// #[serde(crate = "wharf_sdk::serde", rename_all = "camelCase")]
/// pub struct CronTab {
///     #[serde(default)]
///     pub metadata: ObjectMeta,
///     #[serde(default)]
///     pub spec: CronTabSpec,
/// }
///
/// #[derive(Clone, Debug, Default, Serialize, Deserialize)]
/// #[serde(crate = "wharf_sdk::serde", rename_all = "camelCase")]
/// pub struct CronTabSpec {
///     pub cron_spec: String,
/// }
///
/// wharf_sdk::custom_resource!(CronTab, "stable.example.com", "v1", "CronTab", "crontabs", namespaced);
///
/// assert_eq!(<CronTab as wharf_sdk::k8s_openapi::Resource>::API_VERSION, "stable.example.com/v1");
/// ```
///
/// The last argument is `namespaced` or `cluster`. `apiVersion` and `kind`
/// need no fields: the host sets them from the kind.
#[macro_export]
macro_rules! custom_resource {
    ($ty:ty, $group:literal, $version:literal, $kind:literal, $plural:literal, namespaced) => {
        $crate::custom_resource!(@impl $ty, $group, $version, $kind, $plural, NamespaceResourceScope);
    };
    ($ty:ty, $group:literal, $version:literal, $kind:literal, $plural:literal, cluster) => {
        $crate::custom_resource!(@impl $ty, $group, $version, $kind, $plural, ClusterResourceScope);
    };
    (@impl $ty:ty, $group:literal, $version:literal, $kind:literal, $plural:literal, $scope:ident) => {
        impl $crate::k8s_openapi::Resource for $ty {
            const API_VERSION: &'static str = concat!($group, "/", $version);
            const GROUP: &'static str = $group;
            const KIND: &'static str = $kind;
            const VERSION: &'static str = $version;
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = $crate::k8s_openapi::$scope;
        }
        impl $crate::k8s_openapi::Metadata for $ty {
            type Ty = $crate::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
            fn metadata(&self) -> &Self::Ty {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut Self::Ty {
                &mut self.metadata
            }
        }
    };
}

/// An object of any kind: its metadata typed, everything else as JSON
/// (`spec`, `status`, `data`…). Read and written through
/// [`Context::backend`](crate::Context::backend) with its
/// [`GroupVersionKind`](crate::GroupVersionKind), for kinds a controller
/// learns of at run time.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DynamicObject {
    #[serde(
        rename = "apiVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Every other field.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl DynamicObject {
    /// Parses an object as the backend returns it (JSON text).
    pub fn from_json(json: &str) -> crate::Result<Self> {
        Ok(serde_json::from_str(json)?)
    }

    /// The object as JSON text, for the backend.
    pub fn to_json(&self) -> crate::Result<String> {
        Ok(serde_json::to_string(self)?)
    }

    /// A field by JSON pointer (`/spec/replicas`).
    pub fn pointer(&self, pointer: &str) -> Option<&serde_json::Value> {
        let mut parts = pointer.strip_prefix('/')?.splitn(2, '/');
        let first = parts.next()?;
        let value = self.fields.get(first)?;
        match parts.next() {
            Some(rest) => value.pointer(&format!("/{rest}")),
            None => Some(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_object_keeps_every_field() {
        let json = r#"{"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"a"},"spec":{"replicas":2}}"#;
        let object = DynamicObject::from_json(json).unwrap();
        assert_eq!(object.metadata.name.as_deref(), Some("a"));
        assert_eq!(
            object.pointer("/spec/replicas"),
            Some(&serde_json::json!(2))
        );
        let back: serde_json::Value = serde_json::from_str(&object.to_json().unwrap()).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
    }
}
