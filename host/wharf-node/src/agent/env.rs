//! A container's environment, as the kubelet makes it: `envFrom` sources,
//! then `env` entries in order (a later name replaces an earlier one), with
//! values from ConfigMaps, Secrets (base64-decoded) and the downward API,
//! and `$(VAR)` references expanded against what is defined so far.
//!
//! The process gets this environment and nothing of the agent's, plus
//! `PATH` (unless set) and `HOSTNAME`, as a container runtime gives them.
//! Service links come first, so that the container's own variables
//! replace them: for the `kubernetes` Service always, and for every Service
//! of the pod's namespace unless `enableServiceLinks` is false, the
//! docker-links variables the kubelet sets (`NAME_SERVICE_HOST`,
//! `NAME_SERVICE_PORT`, `NAME_PORT_443_TCP_ADDR`…). Not yet:
//! `resourceFieldRef`.

use std::collections::HashMap;

use base64::Engine;
use serde_json::Value;
use wharf_client::ApiError;

use super::Shared;
use super::process::DEFAULT_PATH;

/// Why a container's environment cannot be made: the message of its
/// `CreateContainerConfigError`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct EnvError(pub String);

/// The pod-level values the downward API gives.
pub(super) struct PodAddresses<'a> {
    pub pod_ip: &'a str,
    pub host_ip: &'a str,
}

/// An environment in definition order; a name defined again keeps its place.
#[derive(Default)]
struct Environment {
    entries: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl Environment {
    fn set(&mut self, name: String, value: String) {
        match self.index.get(&name) {
            Some(&i) => self.entries[i].1 = value,
            None => {
                self.index.insert(name.clone(), self.entries.len());
                self.entries.push((name, value));
            }
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.index.get(name).map(|&i| self.entries[i].1.as_str())
    }
}

/// Whether the container's `env` sets `name` itself.
pub(super) fn declares(container: &Value, name: &str) -> bool {
    list_at(container, "/env").any(|var| str_at(var, "/name") == Some(name))
}

/// The environment of `container` in `pod`.
pub(super) async fn container_env(
    shared: &Shared,
    pod: &Value,
    container: &Value,
    addresses: &PodAddresses<'_>,
) -> Result<Vec<(String, String)>, EnvError> {
    let namespace = str_at(pod, "/metadata/namespace").unwrap_or("default");
    let mut sources = Sources {
        shared,
        namespace,
        fetched: HashMap::new(),
    };
    let mut env = Environment::default();
    env.set("PATH".into(), DEFAULT_PATH.into());
    let hostname = str_at(pod, "/spec/hostname")
        .or_else(|| str_at(pod, "/metadata/name"))
        .unwrap_or_default();
    env.set("HOSTNAME".into(), hostname.into());
    for (name, value) in service_links(shared, pod).await {
        env.set(name, value);
    }

    for source in list_at(container, "/envFrom") {
        let prefix = str_at(source, "/prefix").unwrap_or_default();
        let (kind, reference) = match (source.get("configMapRef"), source.get("secretRef")) {
            (Some(reference), _) => (Kind::ConfigMap, reference),
            (None, Some(reference)) => (Kind::Secret, reference),
            (None, None) => continue,
        };
        let name = str_at(reference, "/name").unwrap_or_default();
        let optional = reference.get("optional") == Some(&Value::Bool(true));
        let Some(object) = sources.get(kind, name).await? else {
            if optional {
                continue;
            }
            return Err(EnvError(format!("{} \"{name}\" not found", kind.noun())));
        };
        for (key, value) in kind.entries(&object) {
            let name = format!("{prefix}{key}");
            if valid_env_name(&name) {
                env.set(name, value);
            } else {
                tracing::info!(
                    variable = name,
                    "skipping an invalid environment variable name from envFrom"
                );
            }
        }
    }

    for variable in list_at(container, "/env") {
        let Some(name) = str_at(variable, "/name").filter(|n| !n.is_empty()) else {
            continue;
        };
        let value = match variable.get("valueFrom").filter(|v| v.is_object()) {
            None => {
                let raw = str_at(variable, "/value").unwrap_or_default();
                expand(raw, |name| env.get(name))
            }
            Some(from) => match value_from(&mut sources, pod, from, addresses).await? {
                Some(value) => value,
                // An optional key or object that is missing: no variable.
                None => continue,
            },
        };
        env.set(name.into(), value);
    }
    Ok(env.entries)
}

/// A `valueFrom` source's value; `None` for a missing optional one.
async fn value_from(
    sources: &mut Sources<'_>,
    pod: &Value,
    from: &Value,
    addresses: &PodAddresses<'_>,
) -> Result<Option<String>, EnvError> {
    for (field, kind) in [
        ("configMapKeyRef", Kind::ConfigMap),
        ("secretKeyRef", Kind::Secret),
    ] {
        let Some(selector) = from.get(field) else {
            continue;
        };
        let name = str_at(selector, "/name").unwrap_or_default();
        let key = str_at(selector, "/key").unwrap_or_default();
        let optional = selector.get("optional") == Some(&Value::Bool(true));
        let Some(object) = sources.get(kind, name).await? else {
            if optional {
                return Ok(None);
            }
            return Err(EnvError(format!("{} \"{name}\" not found", kind.noun())));
        };
        return match kind.entries(&object).into_iter().find(|(k, _)| k == key) {
            Some((_, value)) => Ok(Some(value)),
            None if optional => Ok(None),
            None => Err(EnvError(format!(
                "couldn't find key {key} in {} {}/{name}",
                kind.name(),
                sources.namespace
            ))),
        };
    }
    if let Some(path) = from.pointer("/fieldRef/fieldPath").and_then(Value::as_str) {
        return field_value(pod, path, addresses).map(Some);
    }
    if from.get("resourceFieldRef").is_some() {
        return Err(EnvError(
            "resourceFieldRef is not supported by the process runtime yet".into(),
        ));
    }
    Err(EnvError("valueFrom names no source".into()))
}

/// The downward API: a pod field by its `fieldPath`.
fn field_value(pod: &Value, path: &str, addresses: &PodAddresses<'_>) -> Result<String, EnvError> {
    let text = |pointer: &str| str_at(pod, pointer).unwrap_or_default().to_string();
    let subscript = |prefix: &str| {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        Some(key.to_string())
    };
    Ok(match path {
        "metadata.name" => text("/metadata/name"),
        "metadata.namespace" => text("/metadata/namespace"),
        "metadata.uid" => text("/metadata/uid"),
        "spec.nodeName" => text("/spec/nodeName"),
        "spec.serviceAccountName" => text("/spec/serviceAccountName"),
        "status.podIP" | "status.podIPs" => addresses.pod_ip.to_string(),
        "status.hostIP" | "status.hostIPs" => addresses.host_ip.to_string(),
        _ => {
            if let Some(key) = subscript("metadata.labels['") {
                let labels = pod.pointer("/metadata/labels");
                labels
                    .and_then(|l| l.get(&key))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into()
            } else if let Some(key) = subscript("metadata.annotations['") {
                let annotations = pod.pointer("/metadata/annotations");
                (annotations
                    .and_then(|a| a.get(&key))
                    .and_then(Value::as_str))
                .unwrap_or_default()
                .into()
            } else {
                return Err(EnvError(format!("unsupported fieldPath: {path}")));
            }
        }
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    ConfigMap,
    Secret,
}

impl Kind {
    /// As in the API server's "not found" message.
    fn noun(self) -> &'static str {
        match self {
            Kind::ConfigMap => "configmap",
            Kind::Secret => "secret",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
        }
    }

    /// Key and text of each entry: a ConfigMap's `data` then `binaryData`,
    /// a Secret's `data` decoded.
    fn entries(self, object: &Value) -> Vec<(String, String)> {
        let map = |field: &str| {
            (object
                .get(field)
                .and_then(Value::as_object)
                .into_iter()
                .flatten())
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect::<Vec<_>>()
        };
        let decode = |(key, encoded): (String, String)| {
            let bytes = base64::engine::general_purpose::STANDARD.decode(encoded.as_bytes());
            match bytes {
                Ok(bytes) => Some((key, String::from_utf8_lossy(&bytes).into_owned())),
                Err(_) => {
                    tracing::warn!(key, "skipping a data entry that is not base64");
                    None
                }
            }
        };
        match self {
            Kind::ConfigMap => {
                let mut entries = map("data");
                entries.extend(map("binaryData").into_iter().filter_map(decode));
                entries
            }
            Kind::Secret => map("data").into_iter().filter_map(decode).collect(),
        }
    }
}

/// ConfigMaps and Secrets of the pod's namespace, each read once.
struct Sources<'a> {
    shared: &'a Shared,
    namespace: &'a str,
    fetched: HashMap<(Kind, String), Option<Value>>,
}

impl Sources<'_> {
    async fn get(&mut self, kind: Kind, name: &str) -> Result<Option<Value>, EnvError> {
        if let Some(object) = self.fetched.get(&(kind, name.to_string())) {
            return Ok(object.clone());
        }
        let resources = &self.shared.resources;
        let resource = match kind {
            Kind::ConfigMap => &resources.config_maps,
            Kind::Secret => &resources.secrets,
        };
        let object = match self
            .shared
            .client
            .get(resource, Some(self.namespace), name)
            .await
        {
            Ok(object) => Some(object),
            Err(ApiError::NotFound { .. }) => None,
            Err(error) => {
                return Err(EnvError(format!(
                    "cannot read {} {}/{name}: {error}",
                    kind.name(),
                    self.namespace
                )));
            }
        };
        self.fetched
            .insert((kind, name.to_string()), object.clone());
        Ok(object)
    }
}

/// Expands `$(NAME)` with `lookup` as Kubernetes does: `$$` is a `$`, an
/// undefined or unclosed reference is left as written.
pub(super) fn expand<'a>(input: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(reference) = after.strip_prefix('(')
            && let Some(end) = reference.find(')')
        {
            let name = &reference[..end];
            match lookup(name) {
                Some(value) => out.push_str(value),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &reference[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A C identifier-like name, as `IsEnvVarName` allows (letters, digits,
/// `_`, `-`, `.`; not starting with a digit).
fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

pub(super) fn str_at<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    object.pointer(pointer).and_then(Value::as_str)
}

pub(super) fn list_at<'a>(object: &'a Value, pointer: &str) -> impl Iterator<Item = &'a Value> {
    object
        .pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The service-link variables of the pod: the `kubernetes` Service's in
/// every pod (how in-cluster clients find the API server), and unless
/// `enableServiceLinks` is false those of each Service in the pod's
/// namespace with a ClusterIP. A Service that cannot be listed is left
/// out (the kubelet's informer would only lag too).
async fn service_links(shared: &Shared, pod: &Value) -> Vec<(String, String)> {
    let namespace = str_at(pod, "/metadata/namespace").unwrap_or("default");
    let services = &shared.resources.services;
    let mut chosen: Vec<Value> = Vec::new();
    let links = pod
        .pointer("/spec/enableServiceLinks")
        .and_then(Value::as_bool)
        != Some(false);
    if links {
        match shared
            .client
            .list(services, Some(namespace), &wharf_client::Selectors::all())
            .await
        {
            Ok(listed) => chosen.extend(listed.items),
            Err(error) => tracing::debug!(%error, "listing Services for service links failed"),
        }
    }
    if namespace != "default" || !links {
        chosen.retain(|s| str_at(s, "/metadata/name") != Some("kubernetes"));
        if let Ok(master) = shared
            .client
            .get(services, Some("default"), "kubernetes")
            .await
        {
            chosen.push(master);
        }
    }
    let mut variables = Vec::new();
    for service in &chosen {
        variables.extend(link_variables(service));
    }
    variables
}

/// One Service's docker-links variables (none without a ClusterIP).
fn link_variables(service: &Value) -> Vec<(String, String)> {
    let Some(ip) = str_at(service, "/spec/clusterIP").filter(|ip| !ip.is_empty() && *ip != "None")
    else {
        return Vec::new();
    };
    let prefix = str_at(service, "/metadata/name")
        .unwrap_or_default()
        .to_uppercase()
        .replace('-', "_");
    let ports: Vec<&Value> = list_at(service, "/spec/ports").collect();
    let Some(first) = ports.first() else {
        return Vec::new();
    };
    let port_of = |p: &Value| p.get("port").and_then(Value::as_i64).unwrap_or(0);
    let protocol_of = |p: &Value| str_at(p, "/protocol").unwrap_or("TCP").to_string();
    let mut variables = vec![
        (format!("{prefix}_SERVICE_HOST"), ip.to_string()),
        (format!("{prefix}_SERVICE_PORT"), port_of(first).to_string()),
    ];
    for port in &ports {
        if let Some(name) = str_at(port, "/name").filter(|n| !n.is_empty()) {
            variables.push((
                format!(
                    "{prefix}_SERVICE_PORT_{}",
                    name.to_uppercase().replace('-', "_")
                ),
                port_of(port).to_string(),
            ));
        }
    }
    variables.push((
        format!("{prefix}_PORT"),
        format!(
            "{}://{ip}:{}",
            protocol_of(first).to_lowercase(),
            port_of(first)
        ),
    ));
    for port in &ports {
        let (number, protocol) = (port_of(port), protocol_of(port));
        let base = format!("{prefix}_PORT_{number}_{}", protocol.to_uppercase());
        variables.push((
            base.clone(),
            format!("{}://{ip}:{number}", protocol.to_lowercase()),
        ));
        variables.push((format!("{base}_PROTO"), protocol.to_lowercase()));
        variables.push((format!("{base}_PORT"), number.to_string()));
        variables.push((format!("{base}_ADDR"), ip.to_string()));
    }
    variables
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_services_links_are_the_docker_links_variables() {
        let service = serde_json::json!({
            "metadata": {"name": "my-db"},
            "spec": {"clusterIP": "10.96.3.4", "ports": [
                {"name": "sql", "port": 5432, "protocol": "TCP"},
                {"port": 53, "protocol": "UDP"},
            ]},
        });
        let variables: HashMap<String, String> = link_variables(&service).into_iter().collect();
        let expected = [
            ("MY_DB_SERVICE_HOST", "10.96.3.4"),
            ("MY_DB_SERVICE_PORT", "5432"),
            ("MY_DB_SERVICE_PORT_SQL", "5432"),
            ("MY_DB_PORT", "tcp://10.96.3.4:5432"),
            ("MY_DB_PORT_5432_TCP", "tcp://10.96.3.4:5432"),
            ("MY_DB_PORT_5432_TCP_PROTO", "tcp"),
            ("MY_DB_PORT_5432_TCP_PORT", "5432"),
            ("MY_DB_PORT_5432_TCP_ADDR", "10.96.3.4"),
            ("MY_DB_PORT_53_UDP", "udp://10.96.3.4:53"),
        ];
        for (name, value) in expected {
            assert_eq!(
                variables.get(name).map(String::as_str),
                Some(value),
                "{name}"
            );
        }
        assert_eq!(variables.len(), 12);
        let headless = serde_json::json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None", "ports": [{"port": 1}]}});
        assert!(link_variables(&headless).is_empty());
    }

    #[test]
    fn references_expand_as_kubernetes_expands_them() {
        let defined = HashMap::from([("A", "1"), ("B", "two")]);
        let lookup = |name: &str| defined.get(name).copied();
        let cases = [
            ("$(A)", "1"),
            ("x$(A)y$(B)z", "x1ytwoz"),
            ("$(C)", "$(C)"),
            ("$$(A)", "$(A)"),
            ("$$", "$"),
            ("$(A", "$(A"),
            ("a$b", "a$b"),
            ("$", "$"),
            ("plain", "plain"),
        ];
        for (input, expected) in cases {
            assert_eq!(expand(input, lookup), expected, "{input}");
        }
    }

    #[test]
    fn the_downward_api_gives_pod_fields() {
        let pod = json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "labels": {"app": "x"}},
            "spec": {"nodeName": "n1"},
        });
        let addresses = PodAddresses {
            pod_ip: "127.0.0.1",
            host_ip: "127.0.0.2",
        };
        let cases = [
            ("metadata.name", Ok("web")),
            ("metadata.namespace", Ok("ns")),
            ("metadata.uid", Ok("u1")),
            ("spec.nodeName", Ok("n1")),
            ("status.podIP", Ok("127.0.0.1")),
            ("status.hostIP", Ok("127.0.0.2")),
            ("metadata.labels['app']", Ok("x")),
            ("metadata.labels['none']", Ok("")),
            ("metadata.bogus", Err(())),
        ];
        for (path, expected) in cases {
            let got = field_value(&pod, path, &addresses);
            match expected {
                Ok(value) => assert_eq!(got, Ok(value.to_string()), "{path}"),
                Err(()) => assert!(got.is_err(), "{path}"),
            }
        }
    }

    #[test]
    fn config_map_and_secret_entries_are_read_as_text() {
        let config_map = json!({"data": {"a": "1"}, "binaryData": {"b": "aGk="}});
        assert_eq!(
            Kind::ConfigMap.entries(&config_map),
            [
                ("a".to_string(), "1".to_string()),
                ("b".into(), "hi".into())
            ]
        );
        let secret = json!({"data": {"p": "czNjcjN0", "bad": "%%%"}});
        assert_eq!(
            Kind::Secret.entries(&secret),
            [("p".to_string(), "s3cr3t".to_string())]
        );
    }
}
