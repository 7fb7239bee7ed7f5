//! The subresources the API server serves by forwarding to a node's agent
//! (the kubelet API), as kube-apiserver's `UpgradeAwareHandler` does:
//! `pods/exec`, `pods/attach` and `pods/portforward` (the client asks to
//! switch protocols — WebSocket `v5.channel.k8s.io`… or SPDY/3.1 — and once
//! the agent agrees, the two connections are joined byte for byte), and
//! `nodes/proxy` (any request, its path after `proxy/` sent to the agent:
//! `kubectl get --raw /api/v1/nodes/N/proxy/stats/summary`).
//!
//! The agent is reached over HTTPS at the node's InternalIP and
//! `status.daemonEndpoints.kubeletEndpoint.Port`, with the API server's
//! client certificate for kubelets ([`crate::logs::KubeletClient`]); the
//! client's own credentials are not passed on (it was authenticated and
//! authorized here).

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::request::Target;

/// The pods' subresources that stream through the agent.
pub const POD_STREAMS: [&str; 3] = ["exec", "attach", "portforward"];

/// How long the agent has to answer before the client hears 504.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// Headers that belong to one hop, never forwarded (RFC 9110 §7.6.1) —
/// except `Connection: Upgrade` and `Upgrade` on a protocol switch.
const HOP_BY_HOP: [&str; 7] = [
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
];

/// Whether this request is one the agent serves.
pub fn handles(target: &Target) -> bool {
    let resource = &target.resource;
    match target.subresource.as_deref() {
        Some(sub) if resource.group.is_empty() && resource.kind == "Pod" => {
            POD_STREAMS.contains(&sub)
        }
        Some(sub) if resource.group.is_empty() && resource.kind == "Node" => {
            sub == "proxy" || sub.starts_with("proxy/")
        }
        _ => false,
    }
}

/// Where a node's agent serves the kubelet API.
pub(crate) async fn agent_address(
    state: &ApiState,
    node_name: &str,
    pod: Option<&str>,
) -> ApiResult<SocketAddr> {
    let of = pod.map(|pod| format!(" of pod {pod}")).unwrap_or_default();
    let nodes = state.registry.node();
    let node = state.objects.get(&nodes, None, node_name).await?.object;
    if node.pointer("/metadata/labels/wharf.dev~1hollow") == Some(&Value::from("true")) {
        return Err(ApiError::BadRequest(format!(
            "the node {node_name}{of} is simulated (wharf.dev/hollow): its containers are \
             played, not run, so there is no log, shell or port to reach"
        )));
    }
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "the node {node_name}{of} has no agent serving the kubelet API (a simulated node?)"
            ))
        })?;
    let address = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|a| a["type"] == "InternalIP")
        .and_then(|a| a["address"].as_str())
        .ok_or_else(|| {
            ApiError::BadRequest(format!("the node {node_name} has no InternalIP address"))
        })?;
    let ip = address.parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "the node {node_name} has no valid InternalIP address ({address})"
        ))
    })?;
    Ok(SocketAddr::new(ip, port))
}

/// A pod and the node it is bound to (kube's 400 if none yet).
pub(crate) async fn pod_and_node(
    state: &ApiState,
    target: &Target,
    name: &str,
) -> ApiResult<(Value, String)> {
    let namespace = target.namespace.as_deref().unwrap_or("default");
    let pod = state
        .objects
        .get(&target.resource, Some(namespace), name)
        .await?
        .object;
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::BadRequest(format!("pod {name} does not have a host assigned")))?
        .to_owned();
    Ok((pod, node))
}

/// The path and query on the agent for this request, and the node.
async fn upstream(state: &ApiState, target: &Target, query: &str) -> ApiResult<(String, String)> {
    let name = target.name.as_deref().unwrap_or_default();
    let with_query = |path: String| {
        if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        }
    };
    let sub = target.subresource.as_deref().unwrap_or_default();
    if target.resource.kind == "Node" {
        let rest = sub.strip_prefix("proxy").unwrap_or_default();
        let path = if rest.is_empty() {
            "/".to_owned()
        } else {
            rest.to_owned()
        };
        return Ok((name.to_owned(), with_query(path)));
    }
    let namespace = target.namespace.as_deref().unwrap_or("default");
    let (pod, node) = pod_and_node(state, target, name).await?;
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if sub != "portforward" && matches!(phase, "Succeeded" | "Failed") {
        return Err(ApiError::BadRequest(format!(
            "cannot {sub} into a container in a completed pod; current phase is {phase}"
        )));
    }
    let path = match sub {
        "portforward" => format!("/portForward/{namespace}/{name}"),
        _ => {
            let asked = crate::request::Query::parse(Some(query));
            let container = crate::logs::container_of(&pod, name, asked.get("container"))?;
            let verb = if sub == "exec" { "exec" } else { "attach" };
            format!("/{verb}/{namespace}/{name}/{container}")
        }
    };
    Ok((node.to_owned(), with_query(path)))
}

/// Forwards the request to the agent; joins the connections when the
/// agent switches protocols.
pub async fn serve(state: &ApiState, target: &Target, mut request: Request) -> ApiResult<Response> {
    let upgrading = wants_upgrade(request.headers());
    let client_upgrade = upgrading.then(|| hyper::upgrade::on(&mut request));
    let (parts, body) = request.into_parts();
    let query = parts.uri.query().unwrap_or_default();
    let (node, path) = upstream(state, target, query).await?;
    let pod = (target.resource.kind == "Pod").then_some(target.name.as_deref().unwrap_or_default());
    let address = agent_address(state, &node, pod).await?;
    let client = state.kubelet_client().ok_or_else(|| {
        ApiError::BadRequest("this API server has no client certificate for node agents".into())
    })?;
    let mut forwarded = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(format!("https://{address}{path}"));
    for (name, value) in &parts.headers {
        if forwards(name, upgrading) {
            forwarded = forwarded.header(name, value);
        }
    }
    let body = if upgrading || parts.method == Method::GET {
        Body::empty()
    } else {
        body
    };
    let forwarded = forwarded
        .body(body)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut answer = tokio::time::timeout(ANSWER_WITHIN, client.http.request(forwarded))
        .await
        .map_err(|_| ApiError::Timeout(format!("the agent of node {node} did not answer")))?
        .map_err(|e| {
            ApiError::ServiceUnavailable(format!("reaching the agent of node {node}: {e}"))
        })?;
    if answer.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_upgrade) = client_upgrade
    {
        let agent_upgrade = hyper::upgrade::on(&mut answer);
        tokio::spawn(async move {
            let (Ok(client_side), Ok(agent_side)) = (client_upgrade.await, agent_upgrade.await)
            else {
                return;
            };
            let (mut client_side, mut agent_side) =
                (TokioIo::new(client_side), TokioIo::new(agent_side));
            let _ = tokio::io::copy_bidirectional(&mut client_side, &mut agent_side).await;
        });
    }
    let (parts, body) = answer.into_parts();
    let mut response = Response::builder().status(parts.status);
    for (name, value) in &parts.headers {
        if forwards(name, parts.status == StatusCode::SWITCHING_PROTOCOLS) {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::new(body))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
        && headers.contains_key(header::UPGRADE)
}

/// Whether a header goes on to the other side: not the client's
/// credentials, not one hop's own, `Connection`/`Upgrade` only on a
/// protocol switch.
fn forwards(name: &HeaderName, upgrading: bool) -> bool {
    if name == header::AUTHORIZATION
        || name == header::HOST
        || (name == header::CONTENT_LENGTH && upgrading)
    {
        return false;
    }
    if name == header::CONNECTION || name == header::UPGRADE {
        return upgrading;
    }
    !HOP_BY_HOP.contains(&name.as_str()) && !name.as_str().starts_with("impersonate-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn an_upgrade_is_connection_upgrade_with_an_upgrade_header() {
        assert!(wants_upgrade(&headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
        ])));
        assert!(wants_upgrade(&headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "SPDY/3.1")
        ])));
        assert!(!wants_upgrade(&headers(&[("connection", "Upgrade")])));
        assert!(!wants_upgrade(&headers(&[("upgrade", "websocket")])));
    }

    #[test]
    fn credentials_and_hop_headers_stay_behind() {
        for name in [
            "authorization",
            "impersonate-user",
            "transfer-encoding",
            "host",
        ] {
            assert!(!forwards(&HeaderName::from_static(name), true), "{name}");
        }
        assert!(forwards(&header::UPGRADE, true));
        assert!(!forwards(&header::UPGRADE, false));
        assert!(forwards(
            &HeaderName::from_static("sec-websocket-protocol"),
            true
        ));
        assert!(forwards(
            &HeaderName::from_static("x-stream-protocol-version"),
            true
        ));
        assert!(forwards(&header::CONTENT_TYPE, false));
    }
}
