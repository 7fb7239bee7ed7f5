//! The audit log, as kube-apiserver's log backend writes it: one JSON line
//! per request in the `audit.k8s.io/v1` `Event` format (who, from where,
//! what verb on which object, the answer's code, when, and the
//! authorizer's decision), at the `Metadata` level by default.
//!
//! An optional policy file (kube's `audit.k8s.io/v1` `Policy`) picks each
//! request's level by its first matching rule (`users`, `userGroups`,
//! `verbs`, `namespaces`, `resources`, `nonResourceURLs`); `None` leaves a
//! request out. Bodies are never logged: the `Request` and
//! `RequestResponse` levels are recorded as `Metadata`.
//!
//! Lines are written by a thread of their own through a bounded queue, so
//! a slow disk never holds a request; when the queue is full the event is
//! dropped and counted (said in the server's log). The file is 0600 and
//! rotated once past its size limit (`PATH.1` keeps the previous one).
//! A request that fails authentication is recorded with an empty user at
//! `ResponseStarted`, as kube records it. Not recorded: the
//! `RequestReceived` stage and a watch's end (a watch is one
//! `ResponseStarted` event).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};

use crate::ApiState;
use crate::admission::UserInfo;
use crate::authz::rbac::strings;
use crate::authz::{Target, request_info};

/// The address a request's connection came from (set by the server).
#[derive(Clone, Copy, Debug)]
pub struct RemoteAddr(pub Option<SocketAddr>);

/// How much of a request is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    None,
    Metadata,
}

/// One rule of a policy: the level for the requests it matches (an empty
/// list matches everything).
#[derive(Debug, Default)]
struct Rule {
    level: Option<Level>,
    users: Vec<String>,
    groups: Vec<String>,
    verbs: Vec<String>,
    namespaces: Vec<String>,
    /// (group, resources) pairs; an empty resources list is every resource
    /// of the group.
    resources: Vec<(String, Vec<String>)>,
    non_resource_urls: Vec<String>,
}

/// kube's audit `Policy`: the first matching rule decides; no match is
/// `None`. Without a policy every request is logged at `Metadata`.
#[derive(Debug, Default)]
pub struct Policy {
    rules: Vec<Rule>,
}

impl Policy {
    /// Everything at `Metadata`.
    pub fn metadata() -> Self {
        Self {
            rules: vec![Rule {
                level: Some(Level::Metadata),
                ..Default::default()
            }],
        }
    }

    /// A policy from its YAML (or JSON) text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let document: Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        if document["kind"] != "Policy" {
            return Err("the audit policy must be of kind Policy (audit.k8s.io/v1)".into());
        }
        let mut rules = Vec::new();
        for (i, rule) in document["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let level = match rule["level"].as_str() {
                Some("None") => Level::None,
                Some("Metadata" | "Request" | "RequestResponse") => Level::Metadata,
                other => {
                    return Err(format!(
                        "rules[{i}].level: Unsupported value: {other:?}: supported values: \"None\", \"Metadata\", \"Request\", \"RequestResponse\""
                    ));
                }
            };
            let resources = rule["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    (
                        r["group"].as_str().unwrap_or_default().to_string(),
                        strings(&r["resources"]),
                    )
                })
                .collect();
            rules.push(Rule {
                level: Some(level),
                users: strings(&rule["users"]),
                groups: strings(&rule["userGroups"]),
                verbs: strings(&rule["verbs"]),
                namespaces: strings(&rule["namespaces"]),
                resources,
                non_resource_urls: strings(&rule["nonResourceURLs"]),
            });
        }
        Ok(Self { rules })
    }

    /// The level of a request by `user` doing `verb` on `target`.
    pub fn level(&self, user: &UserInfo, verb: &str, target: &Target) -> Level {
        self.rules
            .iter()
            .find(|rule| rule.matches(user, verb, target))
            .and_then(|rule| rule.level)
            .unwrap_or(Level::None)
    }
}

impl Rule {
    fn matches(&self, user: &UserInfo, verb: &str, target: &Target) -> bool {
        let any = |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        if !any(&self.users, &user.username) || !any(&self.verbs, verb) {
            return false;
        }
        if !self.groups.is_empty() && !user.groups.iter().any(|g| self.groups.contains(g)) {
            return false;
        }
        match target {
            Target::Resource {
                group,
                resource,
                subresource,
                namespace,
                ..
            } => {
                if !self.non_resource_urls.is_empty() {
                    return false;
                }
                if !self.namespaces.is_empty()
                    && !self
                        .namespaces
                        .iter()
                        .any(|n| Some(n) == namespace.as_ref())
                {
                    return false;
                }
                let full = match subresource {
                    Some(sub) => format!("{resource}/{sub}"),
                    None => resource.clone(),
                };
                self.resources.is_empty()
                    || self.resources.iter().any(|(g, names)| {
                        g == group
                            && (names.is_empty()
                                || names.iter().any(|n| {
                                    n == &full
                                        || n == resource
                                        || n == "*"
                                        || n == &format!("{resource}/*")
                                }))
                    })
            }
            Target::Path(path) => {
                self.resources.is_empty()
                    && self.namespaces.is_empty()
                    && (self.non_resource_urls.is_empty()
                        || self
                            .non_resource_urls
                            .iter()
                            .any(|url| match url.strip_suffix('*') {
                                Some(prefix) => path.starts_with(prefix),
                                None => url == path,
                            }))
            }
        }
    }
}

/// Where audit events go.
pub struct AuditLog {
    policy: Policy,
    sender: std::sync::mpsc::SyncSender<Vec<u8>>,
    dropped: AtomicU64,
}

/// Events waiting for the writer at most.
const QUEUE: usize = 16_384;

impl AuditLog {
    /// Appends to `path` (made 0600), rotating past `max_bytes`.
    pub fn open(path: &Path, max_bytes: u64, policy: Policy) -> std::io::Result<Arc<Self>> {
        let file = open_private(path)?;
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<u8>>(QUEUE);
        let path = path.to_path_buf();
        std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || write_lines(path, file, max_bytes, receiver))?;
        Ok(Arc::new(Self {
            policy,
            sender,
            dropped: AtomicU64::new(0),
        }))
    }

    fn record(&self, event: &Value) {
        let mut line = event.to_string().into_bytes();
        line.push(b'\n');
        if self.sender.try_send(line).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(
                    dropped,
                    "the audit log's queue is full; events were dropped"
                );
            }
        }
    }
}

fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// The writer thread: lines in order, flushed whenever the queue is empty.
fn write_lines(
    path: PathBuf,
    file: std::fs::File,
    max_bytes: u64,
    receiver: std::sync::mpsc::Receiver<Vec<u8>>,
) {
    let mut size = file.metadata().map_or(0, |m| m.len());
    let mut out = std::io::BufWriter::new(file);
    while let Ok(line) = receiver.recv() {
        let mut batch = vec![line];
        batch.extend(receiver.try_iter().take(1024));
        for line in batch {
            if size + line.len() as u64 > max_bytes && size > 0 {
                let _ = out.flush();
                let mut rotated = path.clone().into_os_string();
                rotated.push(".1");
                if let Err(error) = std::fs::rename(&path, &rotated) {
                    tracing::warn!(%error, "cannot rotate the audit log");
                }
                match open_private(&path) {
                    Ok(file) => {
                        out = std::io::BufWriter::new(file);
                        size = 0;
                    }
                    Err(error) => {
                        tracing::error!(%error, "cannot reopen the audit log; auditing stops");
                        return;
                    }
                }
            }
            if let Err(error) = out.write_all(&line) {
                tracing::warn!(%error, "cannot write the audit log");
            }
            size += line.len() as u64;
        }
        if let Err(error) = out.flush() {
            tracing::warn!(%error, "cannot write the audit log");
        }
    }
}

/// What an event says of its request, read before the request goes on.
struct Facts {
    received: std::time::SystemTime,
    verb: String,
    target: Target,
    uri: String,
    source: Option<String>,
    agent: Option<String>,
}

impl Facts {
    fn of(request: &Request) -> Self {
        let (verb, target) = request_info(
            request.method(),
            request.uri().path(),
            request.uri().query(),
        );
        Self {
            received: std::time::SystemTime::now(),
            verb,
            target,
            // HTTP/2 requests carry the scheme and authority too: kube
            // records the path and query.
            uri: request
                .uri()
                .path_and_query()
                .map_or_else(|| request.uri().path().to_string(), |p| p.to_string()),
            source: request
                .extensions()
                .get::<RemoteAddr>()
                .and_then(|r| r.0)
                .map(|a| a.ip().to_string()),
            agent: request
                .headers()
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        }
    }

    /// The event: `user` is `None` for a request that failed
    /// authentication (kube records it with an empty user, at
    /// `ResponseStarted`).
    fn event(self, user: Option<&UserInfo>, code: u16) -> Value {
        let stage = if self.verb == "watch" || user.is_none() {
            "ResponseStarted"
        } else {
            "ResponseComplete"
        };
        let mut event = json!({
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": uuid::Uuid::new_v4().to_string(),
            "stage": stage,
            "requestURI": self.uri,
            "verb": self.verb,
            "user": user.map_or_else(|| json!({}), |u| json!({"username": u.username, "groups": u.groups})),
            "sourceIPs": self.source.into_iter().collect::<Vec<_>>(),
            "responseStatus": {"metadata": {}, "code": code},
            "requestReceivedTimestamp": wharf_client::meta::micro_time(self.received),
            "stageTimestamp": wharf_client::meta::now_micro_time(),
        });
        if user.is_some() {
            event["annotations"] = json!({
                "authorization.k8s.io/decision": if code == 403 { "forbid" } else { "allow" },
            });
        }
        if let Some(agent) = self.agent {
            event["userAgent"] = json!(agent);
        }
        if let Target::Resource {
            group,
            resource,
            subresource,
            namespace,
            name,
        } = &self.target
        {
            let mut reference = json!({"resource": resource, "apiGroup": group});
            if let Some(version) = api_version(&self.uri) {
                reference["apiVersion"] = json!(version);
            }
            for (key, value) in [
                ("subresource", subresource),
                ("namespace", namespace),
                ("name", name),
            ] {
                if let Some(value) = value {
                    reference[key] = json!(value);
                }
            }
            event["objectRef"] = reference;
        }
        event
    }
}

/// The audit layer: inside authentication (it knows the user), outside
/// authorization (it records refusals too).
pub async fn layer(State(state): State<Arc<ApiState>>, request: Request, next: Next) -> Response {
    let Some(log) = state.audit.get().cloned() else {
        return next.run(request).await;
    };
    let user = request
        .extensions()
        .get::<UserInfo>()
        .cloned()
        .unwrap_or_else(UserInfo::anonymous);
    let facts = Facts::of(&request);
    if log.policy.level(&user, &facts.verb, &facts.target) == Level::None {
        return next.run(request).await;
    }
    let response = next.run(request).await;
    log.record(&facts.event(Some(&user), response.status().as_u16()));
    response
}

/// Records a request that failed authentication (the policy sees an
/// empty user).
pub(crate) fn record_unauthenticated(state: &ApiState, request: &Request, code: u16) {
    let Some(log) = state.audit.get() else {
        return;
    };
    let facts = Facts::of(request);
    let nobody = UserInfo {
        username: String::new(),
        groups: Vec::new(),
    };
    if log.policy.level(&nobody, &facts.verb, &facts.target) != Level::None {
        log.record(&facts.event(None, code));
    }
}

/// The version segment of an API path.
fn api_version(uri: &str) -> Option<&str> {
    let path = uri.split('?').next()?;
    let mut segments = path.trim_start_matches('/').split('/');
    match segments.next()? {
        "api" => segments.next(),
        "apis" => segments.nth(1),
        _ => None,
    }
}

impl ApiState {
    /// Records every request in `log` from now on (once).
    pub fn enable_audit(&self, log: Arc<AuditLog>) -> Result<(), String> {
        self.audit
            .set(log)
            .map_err(|_| "the audit log is already set".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            username: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn the_first_matching_rule_decides_and_no_match_is_none() {
        let policy = Policy::parse(
            r#"
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  users: ["system:kube-proxy"]
- level: None
  nonResourceURLs: ["/healthz*", "/version"]
- level: Metadata
  resources:
  - group: ""
    resources: ["secrets", "pods/log"]
- level: None
  verbs: ["get", "list", "watch"]
- level: RequestResponse
"#,
        )
        .unwrap();
        let alice = user("alice", &["dev"]);
        let pods = |sub: Option<&str>| Target::Resource {
            group: String::new(),
            resource: "pods".into(),
            subresource: sub.map(str::to_string),
            namespace: Some("ns".into()),
            name: Some("p".into()),
        };
        let secrets = Target::Resource {
            group: String::new(),
            resource: "secrets".into(),
            subresource: None,
            namespace: Some("ns".into()),
            name: None,
        };
        assert_eq!(policy.level(&alice, "list", &secrets), Level::Metadata);
        assert_eq!(
            policy.level(&alice, "get", &pods(Some("log"))),
            Level::Metadata
        );
        assert_eq!(policy.level(&alice, "get", &pods(None)), Level::None);
        assert_eq!(policy.level(&alice, "create", &pods(None)), Level::Metadata);
        assert_eq!(
            policy.level(&user("system:kube-proxy", &[]), "create", &secrets),
            Level::None
        );
        assert_eq!(
            policy.level(&alice, "get", &Target::Path("/healthz/etcd".into())),
            Level::None
        );
        assert_eq!(
            policy.level(&alice, "post", &Target::Path("/metrics".into())),
            Level::Metadata
        );
        assert_eq!(
            Policy::default().level(&alice, "get", &secrets),
            Level::None
        );
        assert!(Policy::parse("kind: Policy\nrules: [{level: Loud}]").is_err());
        assert!(Policy::parse("kind: Pod").is_err());
    }

    #[test]
    fn versions_come_from_the_path() {
        assert_eq!(api_version("/api/v1/pods?watch=1"), Some("v1"));
        assert_eq!(
            api_version("/apis/apps/v1/namespaces/a/deployments"),
            Some("v1")
        );
        assert_eq!(api_version("/version"), None);
    }

    #[test]
    fn lines_are_written_private_and_rotated() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path, 300, Policy::metadata()).unwrap();
        for i in 0..10 {
            log.record(&json!({"n": i, "pad": "x".repeat(40)}));
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let rotated = dir.path().join("audit.log.1");
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.contains("\"n\":9") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the last line was not written"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(rotated.exists());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            serde_json::from_str::<Value>(line).unwrap();
        }
    }
}
