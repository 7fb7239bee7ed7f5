//! ServiceAccount tokens, as kube-apiserver issues and checks them: the
//! TokenRequest subresource (`POST …/serviceaccounts/NAME/token`, what
//! `kubectl create token` and the node agent's projected volumes call)
//! signs a JWT with the cluster's token key; the token authenticator
//! accepts such a JWT as the ServiceAccount's user while the ServiceAccount
//! (and the Pod, Secret or Node it is bound to) still exists with the UID
//! the token names.
//!
//! The claims are kube's: `iss`, `sub` (`system:serviceaccount:NS:NAME`),
//! `aud`, `exp`, `iat`, `nbf`, `jti`, and `kubernetes.io` with the
//! namespace, the ServiceAccount and the bound object. Not done: legacy
//! Secret-based tokens, tokens' `extra` user fields
//! (`authentication.kubernetes.io/pod-name`…), the one-year extension
//! kube gives projected tokens.

use std::sync::{Arc, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use wharf_pki::TokenKey;

use crate::ApiState;
use crate::admission::UserInfo;
use crate::authn::TokenAuthenticator;
use crate::error::{ApiError, ApiResult, Cause};

/// kubeadm's issuer, which is also the API server's audience.
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// A TokenRequest's lifetime when it names none (kube's: an hour).
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest lifetime a TokenRequest may ask for (kube's: ten minutes).
const MIN_EXPIRATION_SECONDS: i64 = 600;
/// The longest (kube's: 2^32 seconds).
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;
/// Clock skew tolerated on `nbf` and `exp` (kube's: a minute).
const LEEWAY_SECONDS: i64 = 60;

/// Who signs tokens and which tokens the API server accepts.
pub struct TokenIssuer {
    key: TokenKey,
    issuer: String,
    /// The audiences the API server accepts (and a TokenRequest gets
    /// when it names none).
    audiences: Vec<String>,
}

impl TokenIssuer {
    pub fn new(key: TokenKey) -> Self {
        Self {
            key,
            issuer: DEFAULT_ISSUER.into(),
            audiences: vec![DEFAULT_ISSUER.into()],
        }
    }
}

/// The objects a token may be bound to, by the kind a TokenRequest names.
const BINDABLE: [&str; 3] = ["Pod", "Secret", "Node"];

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn invalid(name: &str, field: &str, message: String) -> ApiError {
    ApiError::Invalid {
        group: "authentication.k8s.io".into(),
        kind: "TokenRequest".into(),
        name: name.into(),
        causes: vec![Cause::invalid(field, message)],
    }
}

/// The stored object `kind`/`name` in `namespace`, by the registry's kind.
async fn object_of(
    state: &ApiState,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> ApiResult<Value> {
    let resource = state
        .registry
        .by_kind("", "v1", kind)
        .ok_or_else(|| ApiError::Internal(format!("no {kind} kind is registered")))?;
    let namespace = if resource.namespaced { namespace } else { None };
    Ok(state.objects.get(&resource, namespace, name).await?.object)
}

fn uid_of(object: &Value) -> &str {
    object
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `POST /api/v1/namespaces/NS/serviceaccounts/NAME/token`: a signed token
/// for the ServiceAccount, in the TokenRequest answered (201).
pub async fn token_request(
    state: &ApiState,
    namespace: &str,
    name: &str,
    request: &Value,
) -> ApiResult<Response> {
    let answer = issue_token(state, namespace, name, request).await?;
    Ok(crate::handlers::json_response(
        StatusCode::CREATED,
        "application/json",
        &answer,
        &[],
    ))
}

/// The TokenRequest `request` for the ServiceAccount, answered with a
/// signed token.
pub async fn issue_token(
    state: &ApiState,
    namespace: &str,
    name: &str,
    request: &Value,
) -> ApiResult<Value> {
    let issuer = state.token_issuer().ok_or_else(|| {
        ApiError::NoSuchPath("this API server issues no ServiceAccount tokens".into())
    })?;
    if request
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|kind| kind != "TokenRequest")
    {
        return Err(ApiError::BadRequest(
            "the body is not a TokenRequest".into(),
        ));
    }
    let account = object_of(state, "ServiceAccount", Some(namespace), name).await?;
    let spec = request.get("spec").cloned().unwrap_or_else(|| json!({}));

    let expiration = match spec.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION_SECONDS,
        Some(value) => value.as_i64().ok_or_else(|| {
            ApiError::BadRequest("spec.expirationSeconds must be an integer".into())
        })?,
    };
    if expiration < MIN_EXPIRATION_SECONDS {
        return Err(invalid(
            name,
            "spec.expirationSeconds",
            format!("Invalid value: {expiration}: may not specify a duration less than 10 minutes"),
        ));
    }
    if expiration > MAX_EXPIRATION_SECONDS {
        return Err(invalid(
            name,
            "spec.expirationSeconds",
            format!(
                "Invalid value: {expiration}: may not specify a duration larger than 2^32 seconds"
            ),
        ));
    }
    let mut audiences: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().filter(|a| !a.is_empty()).map(str::to_string))
        .collect();
    if audiences.is_empty() {
        audiences = issuer.audiences.clone();
    }

    let mut private = json!({
        "namespace": namespace,
        "serviceaccount": {"name": name, "uid": uid_of(&account)},
    });
    if let Some(reference) = spec.get("boundObjectRef").filter(|r| !r.is_null()) {
        let kind = reference["kind"].as_str().unwrap_or_default();
        if !BINDABLE.contains(&kind) {
            return Err(invalid(
                name,
                "spec.boundObjectRef.kind",
                format!(
                    "Unsupported value: {kind:?}: supported values: \"Pod\", \"Secret\", \"Node\""
                ),
            ));
        }
        let bound_name = reference["name"].as_str().unwrap_or_default();
        let bound = object_of(state, kind, Some(namespace), bound_name)
            .await
            .map_err(|error| match error {
                ApiError::NotFound { .. } => ApiError::BadRequest(format!(
                    "cannot bind a token to {} {bound_name:?}: {error}",
                    kind.to_lowercase()
                )),
                other => other,
            })?;
        let uid = uid_of(&bound);
        if let Some(asked) = reference["uid"].as_str().filter(|u| !u.is_empty())
            && asked != uid
        {
            return Err(ApiError::Conflict {
                group: String::new(),
                kind: format!("{}s", kind.to_lowercase()),
                name: bound_name.into(),
                message: format!(
                    "the UID in the bound object reference ({asked}) does not match the UID in record. The object might have been deleted and then recreated"
                ),
            });
        }
        private[kind.to_lowercase()] = json!({"name": bound_name, "uid": uid});
        if kind == "Pod"
            && let Some(node) = bound.pointer("/spec/nodeName").and_then(Value::as_str)
        {
            private["node"] = json!({"name": node});
        }
    }

    let now = now_seconds();
    let expires = now + expiration;
    let claims = json!({
        "aud": audiences,
        "exp": expires,
        "iat": now,
        "nbf": now,
        "iss": issuer.issuer,
        "jti": uuid::Uuid::new_v4().to_string(),
        "kubernetes.io": private,
        "sub": format!("system:serviceaccount:{namespace}:{name}"),
    });
    let token = issuer
        .key
        .sign(&claims)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut answered_spec = spec;
    answered_spec["audiences"] = json!(audiences);
    answered_spec["expirationSeconds"] = json!(expiration);
    if answered_spec.get("boundObjectRef").is_none() {
        answered_spec["boundObjectRef"] = Value::Null;
    }
    let answer = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": wharf_client::meta::rfc3339_at(now),
        },
        "spec": answered_spec,
        "status": {"token": token, "expirationTimestamp": wharf_client::meta::rfc3339_at(expires)},
    });
    Ok(answer)
}

/// The ServiceAccount token authenticator.
pub(crate) struct ServiceAccountTokens {
    pub(crate) state: Weak<ApiState>,
}

#[async_trait]
impl TokenAuthenticator for ServiceAccountTokens {
    async fn authenticate(&self, token: &str) -> Option<UserInfo> {
        let state = self.state.upgrade()?;
        let issuer = state.token_issuer()?;
        let claims = issuer.key.verify(token).ok()?;
        match check(&state, &issuer, &claims).await {
            Ok(user) => Some(user),
            Err(reason) => {
                tracing::debug!(%reason, "a ServiceAccount token was refused");
                None
            }
        }
    }
}

/// The user a verified token stands for, if its claims still hold.
async fn check(state: &ApiState, issuer: &TokenIssuer, claims: &Value) -> Result<UserInfo, String> {
    if claims["iss"].as_str() != Some(issuer.issuer.as_str()) {
        return Err("another issuer".into());
    }
    let audiences: Vec<&str> = match &claims["aud"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences
        .iter()
        .any(|a| issuer.audiences.iter().any(|accepted| accepted == a))
    {
        return Err("not meant for this API server (audience)".into());
    }
    let now = now_seconds();
    let exp = claims["exp"].as_i64().ok_or("no expiry")?;
    if now > exp + LEEWAY_SECONDS {
        return Err("expired".into());
    }
    if claims["nbf"]
        .as_i64()
        .is_some_and(|nbf| now + LEEWAY_SECONDS < nbf)
    {
        return Err("not valid yet".into());
    }
    let private = &claims["kubernetes.io"];
    let namespace = private["namespace"].as_str().ok_or("no namespace")?;
    let account = &private["serviceaccount"];
    let name = account["name"].as_str().ok_or("no ServiceAccount")?;
    if claims["sub"].as_str() != Some(&format!("system:serviceaccount:{namespace}:{name}")) {
        return Err("the subject does not match the ServiceAccount".into());
    }
    let still = |kind: &'static str, reference: &Value| {
        let name = reference["name"].as_str().unwrap_or_default().to_string();
        let uid = reference["uid"].as_str().unwrap_or_default().to_string();
        async move {
            match object_of(state, kind, Some(namespace), &name).await {
                Ok(object) if uid.is_empty() || uid_of(&object) == uid => {
                    if object.pointer("/metadata/deletionTimestamp").is_some()
                        && kind != "ServiceAccount"
                    {
                        Err(format!("{kind} {name:?} is being deleted"))
                    } else {
                        Ok(())
                    }
                }
                Ok(_) => Err(format!("{kind} {name:?} was replaced (another UID)")),
                Err(error) => Err(format!("{kind} {name:?}: {error}")),
            }
        }
    };
    still("ServiceAccount", account).await?;
    for (claim, kind) in [("pod", "Pod"), ("secret", "Secret")] {
        if let Some(reference) = private.get(claim).filter(|r| r.is_object()) {
            still(kind, reference).await?;
        }
    }
    if let Some(reference) = private
        .get("node")
        .filter(|r| r.is_object() && !private["pod"].is_object())
    {
        still("Node", reference).await?;
    }
    Ok(UserInfo {
        username: format!("system:serviceaccount:{namespace}:{name}"),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{namespace}"),
        ],
    })
}

impl ApiState {
    /// Issues and accepts ServiceAccount tokens signed with `key` from now
    /// on (once; a second key is refused).
    pub fn enable_service_account_tokens(self: &Arc<Self>, key: TokenKey) -> Result<(), String> {
        self.token_issuer
            .set(Arc::new(TokenIssuer::new(key)))
            .map_err(|_| "ServiceAccount tokens are already enabled".to_string())?;
        self.authentication
            .add_token_authenticator(Arc::new(ServiceAccountTokens {
                state: Arc::downgrade(self),
            }));
        Ok(())
    }

    pub(crate) fn token_issuer(&self) -> Option<Arc<TokenIssuer>> {
        self.token_issuer.get().cloned()
    }
}

/// Where a pod's containers find their token, CA and namespace.
pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The lifetime of a projected token kube's admission asks for.
const PROJECTED_EXPIRATION_SECONDS: i64 = 3607;

/// kube's ServiceAccount admission on a pod being created: the `default`
/// ServiceAccount unless it names one, and, unless the pod or its
/// ServiceAccount turns `automountServiceAccountToken` off, a projected
/// volume `kube-api-access-XXXXX` (a token, the cluster CA from the
/// `kube-root-ca.crt` ConfigMap, the namespace) mounted read-only at
/// [`TOKEN_MOUNT_PATH`] in every container that mounts nothing there.
/// A ServiceAccount that does not exist yet is not an error here: the node
/// agent's token request waits for it.
pub(crate) async fn admit_pod(objects: &crate::Objects, namespace: &str, pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let account = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .or_else(|| {
            spec.get("serviceAccount")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
        })
        .unwrap_or("default")
        .to_string();
    spec.insert("serviceAccountName".into(), json!(account));
    spec.insert("serviceAccount".into(), json!(account));
    let automount = match spec
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool)
    {
        Some(set) => set,
        None => {
            let stored = match objects.registry.by_kind("", "v1", "ServiceAccount") {
                Some(resource) => objects.get(&resource, Some(namespace), &account).await.ok(),
                None => None,
            };
            stored
                .and_then(|s| {
                    s.object
                        .get("automountServiceAccountToken")
                        .and_then(Value::as_bool)
                })
                .unwrap_or(true)
        }
    };
    if !automount {
        return;
    }
    let mounted_everywhere = ["containers", "initContainers"].iter().all(|list| {
        spec.get(*list)
            .and_then(Value::as_array)
            .is_none_or(|containers| {
                containers.iter().all(|c| {
                    c.get("volumeMounts")
                        .and_then(Value::as_array)
                        .is_some_and(|mounts| {
                            mounts.iter().any(|m| m["mountPath"] == TOKEN_MOUNT_PATH)
                        })
                })
            })
    });
    if mounted_everywhere {
        return;
    }
    let volume_name = format!("kube-api-access-{}", crate::objects::random_suffix());
    let volume = json!({
        "name": volume_name,
        "projected": {
            "defaultMode": 0o644,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": PROJECTED_EXPIRATION_SECONDS, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    });
    match spec.get_mut("volumes").and_then(Value::as_array_mut) {
        Some(volumes) => volumes.push(volume),
        None => {
            spec.insert("volumes".into(), json!([volume]));
        }
    }
    for list in ["containers", "initContainers"] {
        for container in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let Some(container) = container.as_object_mut() else {
                continue;
            };
            let mounts = container.entry("volumeMounts").or_insert_with(|| json!([]));
            let Some(mounts) = mounts.as_array_mut() else {
                continue;
            };
            if !mounts.iter().any(|m| m["mountPath"] == TOKEN_MOUNT_PATH) {
                mounts.push(json!({
                    "name": volume_name,
                    "readOnly": true,
                    "mountPath": TOKEN_MOUNT_PATH,
                }));
            }
        }
    }
}

/// What `wharf up` gives a cluster's pods through its token key and the
/// ServiceAccount controller plugin, for servers that run without them
/// (tests and benchmarks of the node agent): tokens signed with a new key,
/// and in `namespace` a `default` ServiceAccount and the `kube-root-ca.crt`
/// ConfigMap holding `root_ca_pem`.
pub async fn prepare_for_pods(
    state: &Arc<ApiState>,
    namespace: &str,
    root_ca_pem: &str,
) -> Result<(), String> {
    use wharf_client::Client;
    if state.token_issuer().is_none() {
        let key = TokenKey::generate().map_err(|e| e.to_string())?;
        state.enable_service_account_tokens(key)?;
    }
    let client = crate::LocalClient::new(state.clone());
    let objects = [
        (
            "ServiceAccount",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
        ),
        (
            "ConfigMap",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt"},
                   "data": {"ca.crt": root_ca_pem}}),
        ),
    ];
    for (kind, object) in objects {
        let resource = client.resource("", "v1", kind).map_err(|e| e.to_string())?;
        match client.create(&resource, Some(namespace), &object).await {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
            Err(error) => return Err(format!("{kind} in {namespace}: {error}")),
        }
    }
    Ok(())
}
