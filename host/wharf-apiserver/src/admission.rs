//! Admission: the door every write passes before it is stored.
//!
//! The API server knows only this interface: an [`AdmissionChain`] set once
//! on [`crate::ApiState`] (by `wharf up`, from the admission plugins) is
//! asked to mutate each create and update after defaulting, and to validate
//! each create, update and delete after the built-in validation, dry runs
//! included. Who asks, and the warnings admission gives back, travel with
//! the request ([`RequestContext`]) so that the HTTP edge can send them as
//! `Warning` headers.

use std::sync::Mutex;

use serde_json::Value;

use crate::error::ApiResult;
use crate::resources::ResourceDef;

/// CREATE, UPDATE or DELETE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
        }
    }
}

/// Who asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    pub username: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    /// A client without credentials (`system:anonymous`).
    pub fn anonymous() -> Self {
        Self {
            username: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        }
    }

    /// The components inside `wharf up`, which call the API in-process.
    pub fn in_process() -> Self {
        Self {
            username: "system:wharf".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        }
    }
}

/// One write as admission sees it.
pub struct Attributes<'a> {
    pub operation: Operation,
    pub resource: &'a ResourceDef,
    /// `status` or `binding` for a write to a subresource.
    pub subresource: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub name: &'a str,
    /// The stored object (updates and deletes).
    pub old_object: Option<&'a Value>,
    pub dry_run: bool,
    pub user: &'a UserInfo,
}

/// A status a validating plugin asks to store with the write it admitted
/// (a quota's new usage): the object's `status` replaced, guarded by the
/// resourceVersion the plugin read. Both are stored, or neither is: a
/// newer version of the object makes the API server run validation again
/// on fresh reads.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusUpdate {
    /// The plugin that asked (errors name it).
    pub plugin: String,
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub resource_version: i64,
    pub status: Value,
}

/// The admission plugins, as the API server calls them. Both phases may
/// block the calling thread for as long as their plugins' deadlines allow;
/// the API server calls them where blocking is allowed.
pub trait AdmissionChain: Send + Sync + 'static {
    /// Whether any plugin reviews writes of `resource` (the fast path:
    /// nothing else is done for a kind no plugin reviews).
    fn reviews(&self, resource: &ResourceDef) -> bool;

    /// The mutating plugins, in order; each may change `object`. An error
    /// refuses the write.
    fn mutate(&self, attributes: &Attributes<'_>, object: &mut Value) -> ApiResult<()>;

    /// The validating plugins; `object` is none for a delete. Returns the
    /// status updates to store with the write (none for a dry run).
    fn validate(
        &self,
        attributes: &Attributes<'_>,
        object: Option<&Value>,
    ) -> ApiResult<Vec<StatusUpdate>>;

    /// The store holds a version of `update`'s object at `revision`: the
    /// plugins that read its kind must see at least that version from now
    /// on. `object` is that version when it is the update itself (stored
    /// by this server), none when the update lost to another writer's.
    fn stored(&self, update: &StatusUpdate, revision: i64, object: Option<&Value>);

    /// `update` is queued to the store behind other writes and not stored
    /// yet: until this is called again with none, the plugins that read
    /// its kind see `object` (the queued version, with a resourceVersion
    /// no stored version has) in place of the one stored, so that the next
    /// write's charge adds to it. Called in the write's turn, before the
    /// next write of its namespace is admitted.
    fn pending(&self, update: &StatusUpdate, object: Option<&Value>);
}

/// What travels with one API request: who asks, and the warnings its
/// handling collected for the client.
pub struct RequestContext {
    pub user: UserInfo,
    warnings: Mutex<Vec<String>>,
}

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// Runs `handle` as a request of `user`; returns its output and the
/// warnings collected meanwhile.
pub async fn in_request<F: std::future::Future>(
    user: UserInfo,
    handle: F,
) -> (F::Output, Vec<String>) {
    let context = RequestContext {
        user,
        warnings: Mutex::default(),
    };
    REQUEST
        .scope(context, async move {
            let output = handle.await;
            let warnings = REQUEST
                .try_with(|context| {
                    std::mem::take(&mut *context.warnings.lock().expect("warnings"))
                })
                .unwrap_or_default();
            (output, warnings)
        })
        .await
}

/// The user of the current request (in-process callers have no request).
pub fn current_user() -> UserInfo {
    REQUEST
        .try_with(|context| context.user.clone())
        .unwrap_or_else(|_| UserInfo::in_process())
}

/// Adds a warning for the current request's client (none: logged).
pub fn warn(message: String) {
    if REQUEST
        .try_with(|context| {
            context
                .warnings
                .lock()
                .expect("warnings")
                .push(message.clone())
        })
        .is_err()
    {
        tracing::debug!(%message, "admission warning for an in-process write");
    }
}

thread_local! {
    /// How many admission calls this thread is inside (a plugin's own
    /// writes run on the thread that called it).
    static CALLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Runs a blocking admission call from async code: on a multi-threaded
/// runtime the worker hands its other tasks away first.
pub(crate) fn blocking<T>(call: impl FnOnce() -> T) -> T {
    let counted = || {
        CALLS.with(|calls| calls.set(calls.get() + 1));
        let result = call();
        CALLS.with(|calls| calls.set(calls.get() - 1));
        result
    };
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(counted),
        _ => counted(),
    }
}

/// Whether this is a write an admission plugin makes while it reviews
/// another (which must not wait for anything the reviewed write holds).
pub(crate) fn nested() -> bool {
    CALLS.with(|calls| calls.get() > 0)
}
