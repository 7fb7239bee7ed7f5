//! certificates.k8s.io and bootstrap tokens: how a node joins, as with
//! kubeadm.
//!
//! - A bootstrap token (`ID.SECRET`, a `bootstrap.kubernetes.io/token`
//!   Secret `bootstrap-token-ID` in `kube-system`) authenticates as
//!   `system:bootstrap:ID` in `system:bootstrappers` and the token's extra
//!   groups ([`BootstrapTokens`]).
//! - A CertificateSigningRequest records who made it (`spec.username`,
//!   `groups`, `uid`: set by the server, never by the client) and keeps
//!   its spec once made; approval (`Approved`/`Denied` conditions) is its
//!   `approval` subresource (`kubectl certificate approve`).
//! - The signer ([`spawn_signer`], kube-controller-manager's csrapproving
//!   and csrsigning controllers in one loop, holding the cluster CA):
//!   approves a node's client certificate request when its requester may
//!   (`create` on `certificatesigningrequests/nodeclient` for a bootstrap
//!   token, `…/selfnodeclient` for a node renewing its own), and a node's
//!   serving certificate request made by that node itself; then signs what
//!   is approved for the signers it serves.

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::ApiState;
use crate::admission::UserInfo;
use crate::authn::TokenAuthenticator;
use crate::error::{ApiError, ApiResult};
use crate::objects::Part;

pub use wharf_client::certificates::{
    CLIENT_SIGNER, KUBELET_CLIENT_SIGNER, KUBELET_SERVING_SIGNER,
};
/// Where bootstrap token Secrets live.
pub const BOOTSTRAP_NAMESPACE: &str = "kube-system";
/// The type of a bootstrap token Secret.
pub const BOOTSTRAP_TOKEN_TYPE: &str = "bootstrap.kubernetes.io/token";
/// The group of every bootstrap token's user.
pub const BOOTSTRAPPERS: &str = "system:bootstrappers";
/// The extra group `wharf token create` (and kubeadm) give a token.
pub const DEFAULT_NODE_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";
/// The longest certificate the signer issues (kube's
/// `--cluster-signing-duration`).
const MAX_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// On create: the request's user is the requestor, whatever the body says.
pub(crate) fn set_requestor(object: &mut Value, user: &UserInfo) {
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    spec.insert("username".into(), json!(user.username));
    spec.insert("groups".into(), json!(user.groups));
    spec.remove("uid");
    spec.remove("extra");
}

/// `PUT …/certificatesigningrequests/NAME/approval`: only the conditions
/// change, and a request is approved or denied, never both.
pub(crate) async fn approve(
    state: &ApiState,
    resource: &wharf_client::ResourceDef,
    name: &str,
    body: &Value,
    dry_run: bool,
) -> ApiResult<Response> {
    let mut conditions = body
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let now = wharf_client::now_rfc3339();
    let mut causes = Vec::new();
    for (i, condition) in conditions.iter_mut().enumerate() {
        let kind = condition["type"].as_str().unwrap_or_default().to_string();
        if kind.is_empty() {
            causes.push(wharf_client::Cause::required(format!(
                "status.conditions[{i}].type"
            )));
        }
        if let Some(map) = condition.as_object_mut() {
            map.entry("status").or_insert_with(|| json!("True"));
            map.entry("lastUpdateTime")
                .or_insert_with(|| json!(now.clone()));
            map.entry("lastTransitionTime")
                .or_insert_with(|| json!(now.clone()));
        }
    }
    let has = |kind: &str| {
        conditions
            .iter()
            .any(|c| c["type"] == kind && c["status"] == "True")
    };
    if has("Approved") && has("Denied") {
        causes.push(wharf_client::Cause::invalid(
            "status.conditions",
            "Approved and Denied conditions are mutually exclusive",
        ));
    }
    if !causes.is_empty() {
        return Err(ApiError::Invalid {
            group: resource.group.to_string(),
            kind: resource.group_kind(),
            name: name.to_string(),
            causes,
        });
    }
    let updated = state
        .objects
        .update_with(resource, None, name, Part::Status, dry_run, |current| {
            // A decision once made stays (kube: approval conditions are
            // never removed).
            for kind in ["Approved", "Denied"] {
                if has_condition(current, kind) && !has(kind) {
                    return Err(ApiError::Invalid {
                        group: resource.group.to_string(),
                        kind: resource.group_kind(),
                        name: name.to_string(),
                        causes: vec![wharf_client::Cause::invalid(
                            "status.conditions",
                            format!("updates may not remove a condition of type \"{kind}\""),
                        )],
                    });
                }
            }
            let mut next = current.clone();
            if let Some(rv) = body.pointer("/metadata/resourceVersion") {
                next["metadata"]["resourceVersion"] = rv.clone();
            }
            next["status"]["conditions"] = json!(conditions);
            Ok(next)
        })
        .await?;
    Ok(crate::handlers::json_response(
        StatusCode::OK,
        "application/json",
        &updated,
        &[],
    ))
}

fn has_condition(csr: &Value, kind: &str) -> bool {
    csr.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == kind && c["status"] != "False")
}

/// kubeadm's `cluster-info` ConfigMap in `kube-public`: a kubeconfig
/// naming `server` and the cluster CA, which joining nodes read
/// anonymously (and check against the CA hash they were given), with the
/// Role and RoleBinding that let `system:anonymous` get it and nothing
/// else. Made or brought up to date at start.
pub async fn publish_cluster_info(state: &ApiState, server: &str, ca_pem: &str) -> ApiResult<()> {
    const NAMESPACE: &str = "kube-public";
    const NAME: &str = "cluster-info";
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: \"\"\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\ncontexts: []\ncurrent-context: \"\"\nusers: []\n",
        STANDARD.encode(ca_pem)
    );
    let kind = |group: &str, version: &str, kind: &str| {
        state
            .registry
            .by_kind(group, version, kind)
            .ok_or_else(|| ApiError::Internal(format!("{kind} is not served")))
    };
    let config_maps = kind("", "v1", "ConfigMap")?;
    let config_map = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "data": {"kubeconfig": kubeconfig},
    });
    match state
        .objects
        .create(&config_maps, Some(NAMESPACE), config_map, false)
        .await
    {
        Ok(_) => {}
        Err(ApiError::AlreadyExists { .. }) => {
            state
                .objects
                .update_with(
                    &config_maps,
                    Some(NAMESPACE),
                    NAME,
                    Part::Main,
                    false,
                    |current| {
                        let mut next = current.clone();
                        next["data"]["kubeconfig"] = json!(kubeconfig);
                        Ok(next)
                    },
                )
                .await?;
        }
        Err(error) => return Err(error),
    }
    let role_name = "kubeadm:bootstrap-signer-clusterinfo";
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": role_name, "namespace": NAMESPACE},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"],
                   "resourceNames": [NAME], "verbs": ["get"]}],
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": role_name, "namespace": NAMESPACE},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:anonymous"}],
    });
    for (resource, object) in [
        (kind("rbac.authorization.k8s.io", "v1", "Role")?, role),
        (
            kind("rbac.authorization.k8s.io", "v1", "RoleBinding")?,
            binding,
        ),
    ] {
        match state
            .objects
            .create(&resource, Some(NAMESPACE), object, false)
            .await
        {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Bootstrap tokens as kube-apiserver's `--enable-bootstrap-token-auth`
/// checks them.
pub struct BootstrapTokens {
    state: Weak<ApiState>,
}

#[async_trait]
impl TokenAuthenticator for BootstrapTokens {
    async fn authenticate(&self, token: &str) -> Option<UserInfo> {
        let (id, secret) = wharf_pki::parse_bootstrap_token(token)?;
        let state = self.state.upgrade()?;
        let secrets = state.registry.by_kind("", "v1", "Secret")?.clone();
        let stored = state
            .objects
            .get(
                &secrets,
                Some(BOOTSTRAP_NAMESPACE),
                &format!("bootstrap-token-{id}"),
            )
            .await
            .ok()?;
        match check_bootstrap_token(&stored.object, id, secret, wharf_client::now()) {
            Ok(user) => Some(user),
            Err(reason) => {
                tracing::debug!(%reason, id, "a bootstrap token was refused");
                None
            }
        }
    }
}

impl ApiState {
    /// Accepts bootstrap tokens (kube-apiserver's
    /// `--enable-bootstrap-token-auth`).
    pub fn enable_bootstrap_tokens(self: &Arc<Self>) {
        self.authentication
            .add_token_authenticator(Arc::new(BootstrapTokens {
                state: Arc::downgrade(self),
            }));
    }
}

/// The user a bootstrap token Secret makes of the token `id.secret`.
pub fn check_bootstrap_token(
    object: &Value,
    id: &str,
    secret: &str,
    now: k8s_openapi::jiff::Timestamp,
) -> Result<UserInfo, String> {
    if object["type"] != BOOTSTRAP_TOKEN_TYPE {
        return Err("the Secret is not a bootstrap token".into());
    }
    if object.pointer("/metadata/deletionTimestamp").is_some() {
        return Err("the token is being deleted".into());
    }
    let field = |key: &str| {
        object["data"][key]
            .as_str()
            .and_then(|b| STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
    };
    if field("token-id").as_deref() != Some(id) {
        return Err("the Secret's token-id does not match".into());
    }
    let stored = field("token-secret").unwrap_or_default();
    if !same(stored.as_bytes(), secret.as_bytes()) {
        return Err("wrong secret".into());
    }
    if field("usage-bootstrap-authentication").as_deref() != Some("true") {
        return Err("the token may not be used for authentication".into());
    }
    if let Some(expiration) = field("expiration") {
        let expires: k8s_openapi::jiff::Timestamp = expiration
            .parse()
            .map_err(|_| format!("an unreadable expiration {expiration:?}"))?;
        if now >= expires {
            return Err("expired".into());
        }
    }
    let mut groups = vec![BOOTSTRAPPERS.to_string()];
    for group in field("auth-extra-groups")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
    {
        if !group.starts_with("system:bootstrappers:") {
            return Err(format!(
                "the extra group {group:?} is not under system:bootstrappers:"
            ));
        }
        groups.push(group.to_string());
    }
    Ok(UserInfo {
        username: format!("system:bootstrap:{id}"),
        groups,
    })
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Approves and signs CertificateSigningRequests with `ca` until the state
/// goes.
pub fn spawn_signer(state: &Arc<ApiState>, ca: Arc<wharf_pki::Ca>) {
    let Some(resource) =
        state
            .registry
            .by_kind("certificates.k8s.io", "v1", "CertificateSigningRequest")
    else {
        return;
    };
    let requests = resource.clone();
    crate::client::spawn_follower(state, resource, move |state, request| {
        let (requests, ca) = (requests.clone(), ca.clone());
        async move {
            if let Err(error) = handle(&state, &requests, &ca, &request).await {
                tracing::warn!(
                    %error,
                    name = crate::meta::name_of(&request),
                    "a certificate signing request could not be handled"
                );
            }
        }
    });
}

/// What the signer does with one request, as it is now.
async fn handle(
    state: &Arc<ApiState>,
    resource: &wharf_client::ResourceDef,
    ca: &wharf_pki::Ca,
    csr: &Value,
) -> ApiResult<()> {
    let issued = csr
        .pointer("/status/certificate")
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty());
    if issued || has_condition(csr, "Denied") || has_condition(csr, "Failed") {
        return Ok(());
    }
    let name = crate::meta::name_of(csr).to_string();
    let signer = csr
        .pointer("/spec/signerName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if ![KUBELET_CLIENT_SIGNER, CLIENT_SIGNER, KUBELET_SERVING_SIGNER].contains(&signer) {
        return Ok(());
    }
    let pem = csr
        .pointer("/spec/request")
        .and_then(Value::as_str)
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let requested = wharf_pki::inspect_request(&pem);
    let shape = requested
        .as_ref()
        .map_err(|e| e.to_string())
        .and_then(|r| fits_signer(signer, r, &usages(csr)));
    let now = wharf_client::now_rfc3339();
    let condition = |kind: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": "True", "reason": reason, "message": message,
               "lastUpdateTime": now, "lastTransitionTime": now})
    };
    if !has_condition(csr, "Approved") {
        let (Ok(()), Ok(requested)) = (&shape, &requested) else {
            return Ok(());
        };
        let Some(message) = auto_approval(state, csr, signer, requested).await else {
            return Ok(());
        };
        let approved = condition("Approved", "AutoApproved", message);
        return add_condition(state, resource, &name, approved).await;
    }
    // Approved: sign, or say why not.
    if let Err(reason) = shape {
        let failed = condition("Failed", "SignerValidationFailure", &reason);
        return add_condition(state, resource, &name, failed).await;
    }
    let lifetime = csr
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_u64)
        .map(Duration::from_secs)
        .unwrap_or(MAX_LIFETIME)
        .min(MAX_LIFETIME);
    let purpose = if signer == KUBELET_SERVING_SIGNER {
        wharf_pki::Purpose::ServerAuth
    } else {
        wharf_pki::Purpose::ClientAuth
    };
    let certificate = ca
        .sign_request(&pem, purpose, lifetime)
        .map_err(|e| ApiError::Internal(format!("signing: {e}")))?;
    // With the CA after the certificate, as kube's signer writes it.
    let chain = format!("{}{}", certificate, ca.cert_pem());
    state
        .objects
        .update_with(resource, None, &name, Part::Status, false, |current| {
            let mut next = current.clone();
            next["status"]["certificate"] = json!(STANDARD.encode(&chain));
            Ok(next)
        })
        .await
        .map(|_| ())
}

async fn add_condition(
    state: &ApiState,
    resource: &wharf_client::ResourceDef,
    name: &str,
    condition: Value,
) -> ApiResult<()> {
    state
        .objects
        .update_with(resource, None, name, Part::Status, false, |current| {
            let mut next = current.clone();
            let mut conditions = current
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            conditions.push(condition.clone());
            next["status"]["conditions"] = json!(conditions);
            Ok(next)
        })
        .await
        .map(|_| ())
}

fn usages(csr: &Value) -> Vec<String> {
    csr.pointer("/spec/usages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|u| u.as_str().map(str::to_string))
        .collect()
}

/// Whether a request is what `signer` signs (kube's per-signer checks).
fn fits_signer(
    signer: &str,
    requested: &wharf_pki::Requested,
    usages: &[String],
) -> Result<(), String> {
    if requested.ca {
        return Err("the request asks to be a CA".into());
    }
    let node = requested.common_name.strip_prefix("system:node:");
    let (purpose, allowed) = match signer {
        KUBELET_CLIENT_SIGNER | CLIENT_SIGNER => (
            "client auth",
            ["digital signature", "key encipherment", "client auth"],
        ),
        _ => (
            "server auth",
            ["digital signature", "key encipherment", "server auth"],
        ),
    };
    if let Some(usage) = usages.iter().find(|u| !allowed.contains(&u.as_str())) {
        return Err(format!("usage {usage:?} is not allowed for {signer}"));
    }
    if !usages.iter().any(|u| u == purpose) {
        return Err(format!("{signer} needs the usage {purpose:?}"));
    }
    match signer {
        CLIENT_SIGNER => Ok(()),
        KUBELET_CLIENT_SIGNER => {
            if node.is_none_or(str::is_empty) || requested.organizations != ["system:nodes"] {
                return Err("the subject must be CN=system:node:NAME, O=system:nodes".into());
            }
            if !requested.dns_names.is_empty()
                || !requested.addresses.is_empty()
                || requested.other_names > 0
            {
                return Err("a kubelet client certificate names no hosts".into());
            }
            Ok(())
        }
        _ => {
            if node.is_none_or(str::is_empty) || requested.organizations != ["system:nodes"] {
                return Err("the subject must be CN=system:node:NAME, O=system:nodes".into());
            }
            if requested.other_names > 0
                || requested.dns_names.is_empty() && requested.addresses.is_empty()
            {
                return Err(
                    "a kubelet serving certificate names DNS names or IP addresses only".into(),
                );
            }
            Ok(())
        }
    }
}

/// Why the signer approves a request by itself, or `None`: a node's
/// client certificate asked by a bootstrap token or by the node itself
/// (kube's csrapproving), a node's serving certificate asked by the node
/// itself.
async fn auto_approval(
    state: &ApiState,
    csr: &Value,
    signer: &str,
    requested: &wharf_pki::Requested,
) -> Option<&'static str> {
    let requestor = UserInfo {
        username: csr
            .pointer("/spec/username")
            .and_then(Value::as_str)?
            .to_string(),
        groups: csr
            .pointer("/spec/groups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|g| g.as_str().map(str::to_string))
            .collect(),
    };
    let own = requestor.username == requested.common_name;
    let subresource = match signer {
        KUBELET_CLIENT_SIGNER if own => "selfnodeclient",
        KUBELET_CLIENT_SIGNER => "nodeclient",
        KUBELET_SERVING_SIGNER if own && requestor.groups.iter().any(|g| g == "system:nodes") => {
            return Some("Auto approving the kubelet serving certificate of the node that asked.");
        }
        _ => return None,
    };
    let attributes = crate::authz::Attributes {
        user: &requestor,
        verb: "create",
        target: crate::authz::Target::Resource {
            group: "certificates.k8s.io".into(),
            resource: "certificatesigningrequests".into(),
            subresource: Some(subresource.into()),
            namespace: None,
            name: None,
        },
    };
    state
        .authorizer
        .authorize(state, &attributes)
        .await
        .ok()
        .map(|()| "Auto approving kubelet client certificate after SubjectAccessReview.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(data: &[(&str, &str)]) -> Value {
        let data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| (k.to_string(), json!(STANDARD.encode(v))))
            .collect();
        json!({"type": BOOTSTRAP_TOKEN_TYPE, "metadata": {"name": "bootstrap-token-abcdef"}, "data": data})
    }

    #[test]
    fn a_bootstrap_token_is_its_secrets_user_until_it_expires() {
        let now: k8s_openapi::jiff::Timestamp = "2026-12-07T10:00:00Z".parse().unwrap();
        let good = secret(&[
            ("token-id", "abcdef"),
            ("token-secret", "0123456789abcdef"),
            ("usage-bootstrap-authentication", "true"),
            ("expiration", "2026-12-08T10:00:00Z"),
            ("auth-extra-groups", DEFAULT_NODE_TOKEN_GROUP),
        ]);
        let user = check_bootstrap_token(&good, "abcdef", "0123456789abcdef", now).unwrap();
        assert_eq!(user.username, "system:bootstrap:abcdef");
        assert_eq!(user.groups, [BOOTSTRAPPERS, DEFAULT_NODE_TOKEN_GROUP]);
        assert!(check_bootstrap_token(&good, "abcdef", "0123456789abcdee", now).is_err());
        let later: k8s_openapi::jiff::Timestamp = "2026-12-09T10:00:00Z".parse().unwrap();
        assert_eq!(
            check_bootstrap_token(&good, "abcdef", "0123456789abcdef", later).unwrap_err(),
            "expired"
        );
        let unusable = secret(&[("token-id", "abcdef"), ("token-secret", "0123456789abcdef")]);
        assert!(check_bootstrap_token(&unusable, "abcdef", "0123456789abcdef", now).is_err());
        let climbing = secret(&[
            ("token-id", "abcdef"),
            ("token-secret", "0123456789abcdef"),
            ("usage-bootstrap-authentication", "true"),
            ("auth-extra-groups", "system:masters"),
        ]);
        assert!(check_bootstrap_token(&climbing, "abcdef", "0123456789abcdef", now).is_err());
    }

    #[test]
    fn each_signer_signs_only_its_shape() {
        let node = wharf_pki::Requested {
            common_name: "system:node:a".into(),
            organizations: vec!["system:nodes".into()],
            ..Default::default()
        };
        let client = ["digital signature".to_string(), "client auth".to_string()];
        assert_eq!(fits_signer(KUBELET_CLIENT_SIGNER, &node, &client), Ok(()));
        let server = ["digital signature".to_string(), "server auth".to_string()];
        assert!(fits_signer(KUBELET_CLIENT_SIGNER, &node, &server).is_err());
        let admin = wharf_pki::Requested {
            common_name: "admin".into(),
            organizations: vec!["system:masters".into()],
            ..Default::default()
        };
        assert!(fits_signer(KUBELET_CLIENT_SIGNER, &admin, &client).is_err());
        assert_eq!(fits_signer(CLIENT_SIGNER, &admin, &client), Ok(()));
        assert!(fits_signer(KUBELET_SERVING_SIGNER, &node, &server).is_err());
        let serving = wharf_pki::Requested {
            addresses: vec!["10.0.0.2".parse().unwrap()],
            ..node.clone()
        };
        assert_eq!(
            fits_signer(KUBELET_SERVING_SIGNER, &serving, &server),
            Ok(())
        );
        let ca = wharf_pki::Requested { ca: true, ..node };
        assert!(fits_signer(CLIENT_SIGNER, &ca, &client).is_err());
    }
}
