//! Authorization: what the authenticated user may do, decided before a
//! request is handled, as kube-apiserver decides it. Members of
//! `system:masters` may do anything (kube's privileged group); node
//! agents are decided first by the Node authorizer ([`node`]); everyone
//! else by RBAC ([`rbac`]), with kube's default roles and bindings
//! ([`policy`]); no one grants what they do not hold ([`escalation`]).
//! A denial is kube's 403 `Status`:
//! `pods is forbidden: User "x" cannot list resource "pods" in API group ""
//! in the namespace "y"`.

pub mod escalation;
pub mod node;
pub mod policy;
pub mod rbac;

use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiState;
use crate::admission::UserInfo;
use crate::error::{ApiError, ApiResult};

/// What a request is on.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// An API resource (`resource` is the plural, e.g. `pods`).
    Resource {
        group: String,
        resource: String,
        subresource: Option<String>,
        namespace: Option<String>,
        name: Option<String>,
    },
    /// Any other path (`/version`, `/apis`, `/healthz`…).
    Path(String),
}

/// Who asks to do what.
pub struct Attributes<'a> {
    pub user: &'a UserInfo,
    pub verb: &'a str,
    pub target: Target,
}

/// The verb and target of a request, as kube's `RequestInfoFactory` reads
/// them from its method, path and query.
pub fn request_info(method: &Method, path: &str, query: Option<&str>) -> (String, Target) {
    let http_verb = method.as_str().to_ascii_lowercase();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version_at) = match segments.as_slice() {
        ["api", _version, _, ..] => (String::new(), 1),
        ["apis", group, _version, _, ..] => (group.to_string(), 2),
        _ => return (http_verb, Target::Path(path.to_string())),
    };
    let mut rest = &segments[version_at + 1..];
    let mut namespace = None;
    // `namespaces/NS/…` names a namespace, unless what follows is one of
    // the namespace's own subresources.
    if rest.first() == Some(&"namespaces")
        && rest.len() >= 3
        && !matches!(rest[2], "status" | "finalize")
    {
        namespace = Some(rest[1].to_string());
        rest = &rest[2..];
    }
    let resource = rest[0].to_string();
    let name = rest.get(1).map(|n| n.to_string());
    // `nodes/N/proxy/PATH` is the subresource `proxy` (the path is not
    // part of what is authorized, as kube's RequestInfo).
    let subresource = rest.get(2).map(|sub| sub.to_string());
    // `/api/v1/namespaces/NAME` is the namespace NAME, in itself.
    if resource == "namespaces" && namespace.is_none() {
        namespace = name.clone();
    }
    let watch = query.is_some_and(|q| {
        q.split('&')
            .any(|pair| matches!(pair, "watch=true" | "watch=1" | "watch"))
    });
    // A WebSocket upgrade of exec, attach or port-forward is a GET that
    // kube authorizes as `create`, as the SPDY POST is.
    let streams = resource == "pods"
        && subresource
            .as_deref()
            .is_some_and(|sub| crate::kubelet_proxy::POD_STREAMS.contains(&sub));
    let verb = match *method {
        Method::GET if streams => "create",
        Method::GET | Method::HEAD if name.is_some() => "get",
        Method::GET | Method::HEAD if watch => "watch",
        Method::GET | Method::HEAD => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if name.is_some() => "delete",
        Method::DELETE => "deletecollection",
        _ => return (http_verb, Target::Path(path.to_string())),
    };
    (
        verb.to_string(),
        Target::Resource {
            group,
            resource,
            subresource,
            namespace,
            name,
        },
    )
}

/// `resource/subresource`, as rules and messages name it.
pub fn resource_path(resource: &str, subresource: Option<&str>) -> String {
    match subresource {
        Some(sub) => format!("{resource}/{sub}"),
        None => resource.to_string(),
    }
}

/// kube's message for a denied request.
pub fn forbidden(attributes: &Attributes) -> ApiError {
    let user = &attributes.user.username;
    let verb = attributes.verb;
    ApiError::Forbidden(match &attributes.target {
        Target::Resource {
            group,
            resource,
            subresource,
            namespace,
            name,
        } => {
            let full = resource_path(resource, subresource.as_deref());
            // The object is named by its group and resource only (kube's
            // `NewForbidden` of the GroupResource); the subresource is in
            // the reason.
            let qualified = if group.is_empty() {
                resource.clone()
            } else {
                format!("{resource}.{group}")
            };
            let object = match name {
                Some(name) => format!("{qualified} \"{name}\" is forbidden"),
                None => format!("{qualified} is forbidden"),
            };
            let scope = match namespace {
                Some(namespace) => format!("in the namespace \"{namespace}\""),
                None => "at the cluster scope".to_string(),
            };
            format!(
                "{object}: User \"{user}\" cannot {verb} resource \"{full}\" in API group \"{group}\" {scope}"
            )
        }
        Target::Path(path) => format!("forbidden: User \"{user}\" cannot {verb} path \"{path}\""),
    })
}

/// The group whose members may do anything.
pub const PRIVILEGED_GROUP: &str = "system:masters";
/// The group of every plugin's user.
pub const PLUGINS_GROUP: &str = "system:plugins";

/// The user a plugin's calls are made as: `system:plugin:NAME`, whose
/// rules are the Plugin's `spec.permissions` (indexed with RBAC's, so the
/// one authorizer decides for people, ServiceAccounts, nodes and plugins;
/// a rule with `namespaces` holds only there).
pub fn plugin_user(plugin: &str) -> UserInfo {
    UserInfo {
        username: format!("system:plugin:{plugin}"),
        groups: vec![PLUGINS_GROUP.into(), "system:authenticated".into()],
    }
}

/// The authorizer of one API server: RBAC over an index of the RBAC
/// objects, rebuilt when the watch cache has seen one change.
#[derive(Default)]
pub struct Authorizer {
    index: RwLock<(u64, Arc<rbac::Index>)>,
    rebuilding: tokio::sync::Mutex<()>,
    built: std::sync::atomic::AtomicBool,
}

impl Authorizer {
    /// Whether `attributes` are allowed; `Err` is the 403 to send.
    pub async fn authorize(&self, state: &ApiState, attributes: &Attributes<'_>) -> ApiResult<()> {
        if attributes.user.groups.iter().any(|g| g == PRIVILEGED_GROUP) {
            return Ok(());
        }
        if let Some(node) = node::node_of(attributes.user) {
            match node::decide(state, node, attributes).await? {
                node::Decision::Allow => return Ok(()),
                node::Decision::Deny(reason) => {
                    return Err(match forbidden(attributes) {
                        ApiError::Forbidden(message) => {
                            ApiError::Forbidden(format!("{message}: {reason}"))
                        }
                        other => other,
                    });
                }
                node::Decision::NoOpinion => {}
            }
        }
        let index = self.current(state).await?;
        match index.allows(attributes) {
            Some(_) => Ok(()),
            None => Err(forbidden(attributes)),
        }
    }

    /// The decision at once, from the index as it is, when that index is
    /// current: how plugin hosts ask from their worker threads without a
    /// trip through the async runtime. `None` when the index must be
    /// rebuilt first, or the user is a node (whose decisions may read the
    /// store): then [`Authorizer::authorize`].
    pub fn authorize_now(
        &self,
        state: &ApiState,
        attributes: &Attributes<'_>,
    ) -> Option<ApiResult<()>> {
        if attributes.user.groups.iter().any(|g| g == PRIVILEGED_GROUP) {
            return Some(Ok(()));
        }
        if node::node_of(attributes.user).is_some()
            || !self.built.load(std::sync::atomic::Ordering::Acquire)
        {
            return None;
        }
        let (built_at, index) = &*self.index.read().expect("rbac index");
        if *built_at != state.watch_cache.rbac_generation() {
            return None;
        }
        Some(match index.allows(attributes) {
            Some(_) => Ok(()),
            None => Err(forbidden(attributes)),
        })
    }

    /// The RBAC index as it is now (for the escalation rule).
    pub async fn snapshot(&self, state: &ApiState) -> ApiResult<Arc<rbac::Index>> {
        self.current(state).await
    }

    /// The index, rebuilt first if an RBAC object changed since it was.
    async fn current(&self, state: &ApiState) -> ApiResult<Arc<rbac::Index>> {
        let generation = state.watch_cache.rbac_generation();
        {
            let (built_at, index) = &*self.index.read().expect("rbac index");
            if *built_at == generation && self.built.load(std::sync::atomic::Ordering::Acquire) {
                return Ok(index.clone());
            }
        }
        let _rebuilding = self.rebuilding.lock().await;
        // Another request may have rebuilt it meanwhile.
        let generation = state.watch_cache.rbac_generation();
        {
            let (built_at, index) = &*self.index.read().expect("rbac index");
            if *built_at == generation && self.built.load(std::sync::atomic::Ordering::Acquire) {
                return Ok(index.clone());
            }
        }
        let objects = policy::list_rbac(state).await?;
        let index = Arc::new(rbac::Index::build(&objects));
        *self.index.write().expect("rbac index") = (generation, index.clone());
        self.built.store(true, std::sync::atomic::Ordering::Release);
        Ok(index)
    }
}

/// The middleware, after authentication: kube's 403 for a request its
/// user may not make.
pub async fn layer(State(state): State<Arc<ApiState>>, request: Request, next: Next) -> Response {
    let user = request
        .extensions()
        .get::<UserInfo>()
        .cloned()
        .unwrap_or_else(UserInfo::anonymous);
    let (verb, target) = request_info(
        request.method(),
        request.uri().path(),
        request.uri().query(),
    );
    let attributes = Attributes {
        user: &user,
        verb: &verb,
        target,
    };
    match state.authorizer.authorize(&state, &attributes).await {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests;
