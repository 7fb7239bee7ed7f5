//! What the controllers read off a Namespace, and how a create in one ends.

use wharf_sdk::k8s_openapi::api::core::v1::Namespace;
use wharf_sdk::prelude::*;
use wharf_sdk::serde::Serialize;
use wharf_sdk::serde::de::DeserializeOwned;

use crate::names::PHASE_TERMINATING;

/// Whether new objects may go in the namespace: it is not being deleted (no
/// `deletionTimestamp`, `status.phase` not Terminating). A namespace
/// without a phase counts as active.
pub fn accepts_content(namespace: &Namespace) -> bool {
    let terminating = namespace
        .status
        .as_ref()
        .and_then(|status| status.phase.as_deref())
        == Some(PHASE_TERMINATING);
    namespace.metadata.deletion_timestamp.is_none() && !terminating
}

/// How a create in a namespace ended, when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    /// The object was created.
    Created,
    /// An object of that name was already there (409): as good.
    AlreadyExisted,
    /// The namespace refused it because it is gone or being deleted:
    /// nothing to do there any more.
    NamespaceGone,
}

impl Created {
    /// What happened, for the log: `ConfigMap ns/name: <this>`.
    pub fn describe(self) -> &'static str {
        match self {
            Created::Created => "created",
            Created::AlreadyExisted => "already created",
            Created::NamespaceGone => "not created: the namespace is going away",
        }
    }
}

/// Creates `object` in `namespace`. An object of that name already there
/// is a success ([`Created::AlreadyExisted`]); so is a refusal by a
/// namespace that is going away ([`Created::NamespaceGone`], see
/// [`refused_by_namespace`]), which retrying could not change. Any other
/// error is returned, to be retried.
pub fn create_in<K>(ctx: &Context, namespace: &str, object: &K) -> Result<Created, Error>
where
    K: wharf_sdk::k8s_openapi::Resource + Serialize + DeserializeOwned,
{
    let error = match ctx.create(Some(namespace), object) {
        Ok(_) => return Ok(Created::Created),
        Err(error) if error.is_already_exists() => return Ok(Created::AlreadyExisted),
        Err(error) => error,
    };
    if is_refusal(&error) {
        let now = ctx.get::<Namespace>(None, namespace)?;
        if refused_by_namespace(&error, now.as_ref()) {
            return Ok(Created::NamespaceGone);
        }
    }
    Err(error)
}

/// Whether `error`, from a create in a namespace that reads as
/// `namespace_now` after it, means the namespace refused the object because
/// it is gone (NotFound) or being deleted (Forbidden).
///
/// Kubernetes' controllers tell the second by the error's
/// `NamespaceTerminating` cause; the SDK's error carries no cause (and its
/// message is no contract), so the namespace itself decides: gone or being
/// deleted, the create is over; still active, the error stands (a
/// Forbidden is then the plugin's permissions) and is retried, until the
/// cache shows the namespace going.
pub fn refused_by_namespace(error: &Error, namespace_now: Option<&Namespace>) -> bool {
    is_refusal(error) && !namespace_now.is_some_and(accepts_content)
}

/// The errors a namespace refuses an object with: NotFound (gone) and
/// Forbidden (being deleted, or the plugin's permissions).
fn is_refusal(error: &Error) -> bool {
    error.is_not_found() || matches!(error, Error::Forbidden(_))
}
