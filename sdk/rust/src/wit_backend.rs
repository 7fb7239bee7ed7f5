//! The part of the WIT [`Backend`](crate::Backend) every world with
//! cluster access shares (`cluster`, `log`, `clock`), written once for the
//! bindings of whichever world a component carries: each world's module
//! calls [`wit_backend!`] with its own generated interfaces and adds the
//! methods of the interfaces only it imports.

/// Implements [`Backend`](crate::Backend) for `$backend` over the
/// generated modules `$cluster`, `$types`, `$log` and `$clock` (in scope), plus the
/// methods given in the braces (`emit_event`, `state_*`), and the
/// conversions between the SDK's and the bindings' types.
macro_rules! wit_backend {
    ($backend:ident, $cluster:ident, $types:ident, $log:ident, $clock:ident, { $($rest:tt)* }) => {
        impl $crate::backend::Backend for $backend {
            fn get(
                &self,
                kind: &$crate::kind::GroupVersionKind,
                namespace: Option<&str>,
                name: &str,
            ) -> $crate::error::Result<Option<String>> {
                Ok($cluster::get(&to_wit_kind(kind), namespace, name)?)
            }

            fn list(
                &self,
                kind: &$crate::kind::GroupVersionKind,
                namespace: Option<&str>,
                params: &$crate::backend::ListParams,
            ) -> $crate::error::Result<Vec<String>> {
                let options = $cluster::ListOptions {
                    namespace: namespace.map(str::to_owned),
                    label_selector: params.label_selector.clone(),
                    field_selector: params.field_selector.clone(),
                };
                Ok($cluster::list(&to_wit_kind(kind), &options)?)
            }

            fn create(
                &self,
                kind: &$crate::kind::GroupVersionKind,
                namespace: Option<&str>,
                object: &str,
            ) -> $crate::error::Result<String> {
                Ok($cluster::create(&to_wit_kind(kind), namespace, object)?)
            }

            fn create_all(
                &self,
                kind: &$crate::kind::GroupVersionKind,
                namespace: Option<&str>,
                objects: &[String],
            ) -> Vec<$crate::error::Result<String>> {
                $cluster::create_all(&to_wit_kind(kind), namespace, objects)
                    .into_iter()
                    .map(|result| result.map_err(Into::into))
                    .collect()
            }

            fn update(
                &self,
                kind: &$crate::kind::GroupVersionKind,
                namespace: Option<&str>,
                object: &str,
            ) -> $crate::error::Result<String> {
                Ok($cluster::update(&to_wit_kind(kind), namespace, object)?)
            }

            fn update_status(
                &self,
                kind: &$crate::kind::GroupVersionKind,
                namespace: Option<&str>,
                object: &str,
            ) -> $crate::error::Result<String> {
                Ok($cluster::update_status(&to_wit_kind(kind), namespace, object)?)
            }

            fn patch(
                &self,
                kind: &$crate::kind::GroupVersionKind,
                namespace: Option<&str>,
                name: &str,
                patch_type: $crate::backend::PatchType,
                patch: &str,
                status: bool,
            ) -> $crate::error::Result<String> {
                let patch_type = match patch_type {
                    $crate::backend::PatchType::Merge => $cluster::PatchType::Merge,
                    $crate::backend::PatchType::Json => $cluster::PatchType::Json,
                    $crate::backend::PatchType::Strategic => $cluster::PatchType::Strategic,
                };
                Ok($cluster::patch(
                    &to_wit_kind(kind),
                    namespace,
                    name,
                    patch_type,
                    patch,
                    status,
                )?)
            }

            fn delete(
                &self,
                kind: &$crate::kind::GroupVersionKind,
                namespace: Option<&str>,
                name: &str,
            ) -> $crate::error::Result<()> {
                Ok($cluster::delete(&to_wit_kind(kind), namespace, name)?)
            }

            fn log(&self, level: $crate::backend::LogLevel, message: &str) {
                let level = match level {
                    $crate::backend::LogLevel::Trace => $log::Level::Trace,
                    $crate::backend::LogLevel::Debug => $log::Level::Debug,
                    $crate::backend::LogLevel::Info => $log::Level::Info,
                    $crate::backend::LogLevel::Warn => $log::Level::Warn,
                    $crate::backend::LogLevel::Error => $log::Level::Error,
                };
                $log::log(level, message);
            }

            fn now_millis(&self) -> u64 {
                $clock::now_millis()
            }

            $($rest)*
        }

        fn to_wit_kind(kind: &$crate::kind::GroupVersionKind) -> $types::Kind {
            $types::Kind {
                group: kind.group.clone(),
                version: kind.version.clone(),
                kind: kind.kind.clone(),
            }
        }

        impl From<$types::ApiError> for $crate::error::Error {
            fn from(error: $types::ApiError) -> Self {
                use $crate::error::Error;
                match error {
                    $types::ApiError::NotFound(message) => Error::NotFound(message),
                    $types::ApiError::AlreadyExists(message) => Error::AlreadyExists(message),
                    $types::ApiError::Conflict(message) => Error::Conflict(message),
                    $types::ApiError::Forbidden(message) => Error::Forbidden(message),
                    $types::ApiError::Invalid(message) => Error::Invalid(message),
                    $types::ApiError::Other(message) => Error::Other(message),
                }
            }
        }
    };
}

pub(crate) use wit_backend;
