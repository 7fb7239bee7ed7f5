//! `GET pods/{name}/log`: the API server finds the pod's container and
//! node, and streams the log from that node's agent (kubelet API
//! `/containerLogs/{namespace}/{pod}/{container}`), passing `follow`,
//! `tailLines`, `previous`, `timestamps`, `sinceSeconds` and `limitBytes`
//! on. The agent's address is the node's InternalIP and
//! `status.daemonEndpoints.kubeletEndpoint.Port`, over HTTPS: the agent's
//! certificate checked against the cluster CA, and the API server's own
//! client certificate for kubelets presented ([`KubeletClient`]), which is
//! the only one agents answer.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::ApiState;
use crate::error::{ApiError, ApiResult};
use crate::request::{Query, Target};

/// The log options a client may pass, forwarded as they are.
const FORWARDED: &[&str] = &[
    "follow",
    "tailLines",
    "previous",
    "timestamps",
    "sinceSeconds",
    "limitBytes",
];

fn names(pod: &Value, field: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

/// The container whose log is asked for, as kube-apiserver picks it.
pub(crate) fn container_of(pod: &Value, name: &str, asked: Option<&str>) -> ApiResult<String> {
    let containers = names(pod, "containers");
    let init = names(pod, "initContainers");
    let ephemeral = names(pod, "ephemeralContainers");
    match asked.filter(|c| !c.is_empty()) {
        Some(container) => {
            if containers
                .iter()
                .chain(&init)
                .chain(&ephemeral)
                .any(|c| c == container)
            {
                Ok(container.to_string())
            } else {
                Err(ApiError::BadRequest(format!(
                    "container {container} is not valid for pod {name}"
                )))
            }
        }
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None => {
            let mut message = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                message.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            Err(ApiError::BadRequest(message))
        }
    }
}

/// Streams a container's log from its node's agent.
pub async fn serve(
    state: &ApiState,
    target: &Target,
    name: &str,
    query: &Query,
) -> ApiResult<Response> {
    let namespace = target.namespace.as_deref().unwrap_or("default");
    let (pod, node_name) = crate::kubelet_proxy::pod_and_node(state, target, name).await?;
    let node_name = node_name.as_str();
    let container = container_of(&pod, name, query.get("container"))?;
    let address = crate::kubelet_proxy::agent_address(state, node_name, Some(name)).await?;
    let mut options: Vec<String> = Vec::new();
    for key in FORWARDED {
        if let Some(value) = query.get(key) {
            options.push(format!("{key}={}", encode(value)));
        }
    }
    let uri = format!(
        "https://{address}/containerLogs/{namespace}/{name}/{container}?{}",
        options.join("&")
    );
    let client = state.kubelet_client().ok_or_else(|| {
        ApiError::BadRequest("this API server has no client certificate for node agents".into())
    })?;
    let request = Request::get(&uri)
        .body(Body::empty())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let response = tokio::time::timeout(Duration::from_secs(10), client.http.request(request))
        .await
        .map_err(|_| ApiError::Timeout(format!("the agent of node {node_name} did not answer")))?
        .map_err(|e| ApiError::Internal(format!("reaching the agent of node {node_name}: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_string())
            .unwrap_or_default();
        return Err(match status {
            StatusCode::NOT_FOUND => ApiError::NotFound {
                group: String::new(),
                kind: "pods/log".into(),
                name: name.into(),
            },
            _ => ApiError::BadRequest(body),
        });
    }
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::new(response.into_body()))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// How the API server reaches node agents (kube-apiserver's
/// `--kubelet-client-certificate` and `--kubelet-certificate-authority`):
/// HTTPS, the agent's certificate checked against the cluster CA, the API
/// server's client certificate for kubelets presented.
pub struct KubeletClient {
    pub(crate) http: Client<HttpsConnector<HttpConnector>, Body>,
}

impl KubeletClient {
    pub fn new(ca_pem: &str, client: &wharf_pki::Issued) -> Result<Self, String> {
        let tls = wharf_client::transport::tls_config(&wharf_client::ClusterAccess {
            ca_pem: Some(ca_pem.as_bytes().to_vec()),
            client_cert_pem: Some(client.cert_pem.as_bytes().to_vec()),
            client_key_pem: Some(client.key_pem.as_bytes().to_vec()),
            ..wharf_client::ClusterAccess::default()
        })?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        connector.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(connector);
        Ok(Self {
            http: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector),
        })
    }
}

impl ApiState {
    /// Lets `pods/log` reach node agents with `client`.
    pub fn enable_kubelet_client(&self, client: KubeletClient) -> Result<(), String> {
        self.kubelet_client
            .set(Arc::new(client))
            .map_err(|_| "the kubelet client is already set".to_string())
    }

    pub(crate) fn kubelet_client(&self) -> Option<Arc<KubeletClient>> {
        self.kubelet_client.get().cloned()
    }
}

/// Query values are simple (numbers, booleans, RFC 3339 times): escape the
/// few characters that would change the query's meaning.
fn encode(value: &str) -> String {
    value
        .chars()
        .flat_map(|c| match c {
            '&' | '=' | '#' | '%' | '+' | ' ' | '?' => {
                format!("%{:02X}", c as u32).chars().collect()
            }
            c => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_container_is_picked_as_kube_apiserver_does() {
        let pod = json!({"spec": {"containers": [{"name": "app"}, {"name": "sidecar"}],
                                  "initContainers": [{"name": "init"}]}});
        assert_eq!(
            container_of(&pod, "web", Some("sidecar")).unwrap(),
            "sidecar"
        );
        assert_eq!(container_of(&pod, "web", Some("init")).unwrap(), "init");
        let missing = container_of(&pod, "web", None).unwrap_err().to_string();
        assert_eq!(
            missing,
            "a container name must be specified for pod web, choose one of: [app sidecar] or one of the init containers: [init]"
        );
        let wrong = container_of(&pod, "web", Some("db"))
            .unwrap_err()
            .to_string();
        assert_eq!(wrong, "container db is not valid for pod web");
        let single = json!({"spec": {"containers": [{"name": "app"}]}});
        assert_eq!(container_of(&single, "web", None).unwrap(), "app");
    }
}
