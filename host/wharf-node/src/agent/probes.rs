//! Probes: the startup, liveness and readiness probes of a running
//! container, run as the kubelet runs them.
//!
//! One task per container process ([`run`]) probes it and reports to the
//! pod's worker only what changes ([`Finding`]); the worker stays the one
//! writer of the pod's records and status, and it is the worker that kills
//! an unhealthy container. The task ends when the worker aborts it (the
//! process ended, the pod stops) or after a liveness or startup failure.
//!
//! - The startup probe runs first, alone: until it succeeds the container
//!   is neither started nor ready and the other probes wait; when it fails
//!   `failureThreshold` times in a row the container is unhealthy.
//! - Then the liveness and readiness probes run side by side. Liveness
//!   failing `failureThreshold` times in a row: unhealthy. Readiness: not
//!   ready until `successThreshold` successes in a row, not ready again
//!   after `failureThreshold` failures in a row.
//! - Each probe's first run is `initialDelaySeconds` after the process
//!   started, then one every `periodSeconds`; a run that takes longer than
//!   `timeoutSeconds` fails.
//!
//! The handlers: `exec` runs the command with the container's environment,
//! working directory and network namespace (exit 0: success); `httpGet` is
//! one HTTP/1.1 GET to the pod's IP (or `host`), success on 200–399;
//! `tcpSocket` succeeds when the connection does. HTTPS and gRPC probes are
//! not supported: every run of one fails with a message saying so.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::Gate;
use super::process::{self, Signal};

/// The API's defaults.
const DEFAULT_PERIOD_SECONDS: u64 = 10;
const DEFAULT_TIMEOUT_SECONDS: u64 = 1;
const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
/// How much of an exec probe's output its failure message keeps (as the
/// kubelet's 10 KiB).
const MAX_OUTPUT: usize = 10 * 1024;
/// The longest HTTP status line read.
const MAX_STATUS_LINE: usize = 4096;
/// The kubelet's probe user agent.
const USER_AGENT: &str = "kube-probe/1.37";

/// The three probes a container may declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeKind {
    /// As the kubelet's messages name it (`Liveness probe failed: …`).
    pub(super) fn name(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }

    fn field(self) -> &'static str {
        match self {
            ProbeKind::Startup => "startupProbe",
            ProbeKind::Liveness => "livenessProbe",
            ProbeKind::Readiness => "readinessProbe",
        }
    }
}

/// Why one run of a probe failed: the message the kubelet would report.
#[derive(Debug, thiserror::Error)]
pub(super) enum ProbeError {
    /// The probe cannot run here (HTTPS, gRPC, an unknown named port, no
    /// handler): every run fails with this message.
    #[error("{0}")]
    Unusable(String),
    /// The agent is stopping: nothing is started.
    #[error("the node agent is stopping")]
    AgentStopping,
    /// The exec probe's command could not be started.
    #[error("cannot run the probe's command {program:?}: {source}")]
    ExecStart {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// The exec probe's command could not be waited for.
    #[error("cannot wait for the probe's command: {0}")]
    ExecWait(#[source] std::io::Error),
    /// The exec probe's command exited with a non-zero code.
    #[error("command exited with {code}{}", output_suffix(.output))]
    ExecFailed { code: i32, output: String },
    /// The run took longer than `timeoutSeconds`.
    #[error("probe timed out after {}s", .0.as_secs())]
    TimedOut(Duration),
    /// The HTTP request could not be made or answered.
    #[error("Get {url:?}: {source}")]
    HttpRequest {
        url: String,
        #[source]
        source: std::io::Error,
    },
    /// The answer is not HTTP.
    #[error("Get {url:?}: malformed HTTP response {line:?}")]
    HttpMalformed { url: String, line: String },
    /// The answer's status is not 200–399.
    #[error("HTTP probe failed with statuscode: {0}")]
    HttpStatus(u16),
    /// The TCP connection could not be made.
    #[error("dial tcp {address}: {source}")]
    Dial {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

fn output_suffix(output: &str) -> String {
    if output.is_empty() {
        String::new()
    } else {
        format!(": {output}")
    }
}

/// One probe, as the container's spec declares it (with the defaults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Probe {
    pub kind: ProbeKind,
    pub action: Action,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    /// Always 1 for liveness and startup probes.
    pub success_threshold: u32,
    pub failure_threshold: u32,
    /// The probe's own `terminationGracePeriodSeconds`: the grace of the
    /// kill its failure causes, instead of the pod's.
    pub termination_grace_seconds: Option<u64>,
}

/// What a probe does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Action {
    Exec {
        command: Vec<String>,
    },
    HttpGet {
        /// `None`: the pod's IP.
        host: Option<String>,
        port: u16,
        path: String,
        headers: Vec<(String, String)>,
    },
    TcpSocket {
        host: Option<String>,
        port: u16,
    },
    /// Cannot run here; every run fails with this message.
    Unusable(String),
}

/// A container's probes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ContainerProbes {
    pub startup: Option<Probe>,
    pub liveness: Option<Probe>,
    pub readiness: Option<Probe>,
}

impl ContainerProbes {
    /// The probes `container` (its spec) declares.
    pub(super) fn of(container: &Value) -> Self {
        let probe = |kind: ProbeKind| {
            let spec = container.get(kind.field()).filter(|p| p.is_object())?;
            Some(Probe::parse(kind, spec, container))
        };
        Self {
            startup: probe(ProbeKind::Startup),
            liveness: probe(ProbeKind::Liveness),
            readiness: probe(ProbeKind::Readiness),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.all().next().is_none()
    }

    /// True when one of them runs a command (and so needs the container's
    /// environment).
    pub(super) fn execs(&self) -> bool {
        self.all().any(|p| matches!(p.action, Action::Exec { .. }))
    }

    fn all(&self) -> impl Iterator<Item = &Probe> {
        [&self.startup, &self.liveness, &self.readiness]
            .into_iter()
            .flatten()
    }
}

/// True when `container` declares a probe of `kind`.
pub(super) fn declares(container: &Value, kind: ProbeKind) -> bool {
    container.get(kind.field()).is_some_and(Value::is_object)
}

impl Probe {
    fn parse(kind: ProbeKind, spec: &Value, container: &Value) -> Self {
        let seconds = |field: &str, default: u64| {
            match spec.get(field).and_then(Value::as_i64) {
                // Zero is "unset" in the API.
                Some(value) if value > 0 => value as u64,
                _ => default,
            }
        };
        let threshold = |field: &str, default: u32| {
            u32::try_from(seconds(field, u64::from(default))).unwrap_or(u32::MAX)
        };
        let success_threshold = match kind {
            ProbeKind::Readiness => threshold("successThreshold", 1),
            // The API refuses anything else.
            ProbeKind::Liveness | ProbeKind::Startup => 1,
        };
        let initial_delay = spec
            .get("initialDelaySeconds")
            .and_then(Value::as_i64)
            .map_or(0, |s| s.max(0) as u64);
        let termination_grace_seconds = match kind {
            ProbeKind::Readiness => None,
            _ => spec
                .get("terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
                .map(|s| s.max(0) as u64),
        };
        Self {
            kind,
            action: Action::parse(spec, container),
            initial_delay: Duration::from_secs(initial_delay),
            period: Duration::from_secs(seconds("periodSeconds", DEFAULT_PERIOD_SECONDS)),
            timeout: Duration::from_secs(seconds("timeoutSeconds", DEFAULT_TIMEOUT_SECONDS)),
            success_threshold,
            failure_threshold: threshold("failureThreshold", DEFAULT_FAILURE_THRESHOLD),
            termination_grace_seconds,
        }
    }
}

impl Action {
    fn parse(spec: &Value, container: &Value) -> Self {
        let handler = |field: &str| spec.get(field).filter(|h| h.is_object());
        if let Some(exec) = handler("exec") {
            let command: Vec<String> = (exec.get("command").and_then(Value::as_array))
                .into_iter()
                .flatten()
                .map(|arg| arg.as_str().unwrap_or_default().to_string())
                .collect();
            if command.first().is_none_or(String::is_empty) {
                return Action::Unusable("the exec probe has no command".into());
            }
            return Action::Exec { command };
        }
        if let Some(http) = handler("httpGet") {
            let scheme = http.get("scheme").and_then(Value::as_str).unwrap_or("HTTP");
            if !scheme.eq_ignore_ascii_case("HTTP") {
                return Action::Unusable(format!(
                    "{scheme} probes are not supported by the process runtime: httpGet probes speak plain HTTP only"
                ));
            }
            let port = match resolve_port(http.get("port"), container) {
                Ok(port) => port,
                Err(message) => return Action::Unusable(message),
            };
            let path = http.get("path").and_then(Value::as_str).unwrap_or("/");
            let headers = (http.get("httpHeaders").and_then(Value::as_array))
                .into_iter()
                .flatten()
                .filter_map(|header| {
                    let name = header.get("name")?.as_str()?;
                    let value = header.get("value").and_then(Value::as_str).unwrap_or("");
                    Some((name.to_string(), value.to_string()))
                })
                .collect();
            return Action::HttpGet {
                host: host_of(http),
                port,
                path: request_path(path),
                headers,
            };
        }
        if let Some(tcp) = handler("tcpSocket") {
            return match resolve_port(tcp.get("port"), container) {
                Ok(port) => Action::TcpSocket {
                    host: host_of(tcp),
                    port,
                },
                Err(message) => Action::Unusable(message),
            };
        }
        if handler("grpc").is_some() {
            return Action::Unusable("gRPC probes are not supported by the process runtime".into());
        }
        Action::Unusable("the probe has no handler (exec, httpGet, tcpSocket or grpc)".into())
    }
}

fn host_of(handler: &Value) -> Option<String> {
    (handler.get("host").and_then(Value::as_str))
        .filter(|host| !host.is_empty())
        .map(str::to_string)
}

/// A probe's port: a number, or the name of one of the container's ports
/// (or, as the kubelet's last resort, a number written as a string).
fn resolve_port(port: Option<&Value>, container: &Value) -> Result<u16, String> {
    let valid = |number: i64| u16::try_from(number).ok().filter(|p| *p > 0);
    match port {
        Some(Value::Number(number)) => number
            .as_i64()
            .and_then(valid)
            .ok_or_else(|| format!("invalid port number {number}")),
        Some(Value::String(name)) => {
            let declared = (container.get("ports").and_then(Value::as_array))
                .into_iter()
                .flatten()
                .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
                .and_then(|p| p.get("containerPort")?.as_i64());
            declared
                .or_else(|| name.parse().ok())
                .and_then(valid)
                .ok_or_else(|| format!("the container has no port named {name:?}"))
        }
        _ => Err("the probe names no port".into()),
    }
}

/// The path as it goes on the request line: absolute, with whitespace and
/// control characters percent-encoded.
fn request_path(path: &str) -> String {
    let mut encoded = String::with_capacity(path.len() + 1);
    if !path.starts_with('/') {
        encoded.push('/');
    }
    for c in path.chars() {
        if c.is_whitespace() || c.is_control() {
            let mut bytes = [0; 4];
            for byte in c.encode_utf8(&mut bytes).bytes() {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        } else {
            encoded.push(c);
        }
    }
    encoded
}

/// Where a container's probes run, and with what.
pub(super) struct Target {
    pub container: String,
    /// The process probed (reports name it, so a report about an earlier
    /// process of the container is not taken for the current one).
    pub pid: u32,
    /// When the process started: initial delays count from it.
    pub started_at: Instant,
    /// Where httpGet and tcpSocket probes connect when they name no host.
    pub pod_ip: String,
    /// The container's environment, for exec probes.
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    /// The pod's network namespace, if it has one.
    pub netns: Option<String>,
    /// The runtime and container, for exec probes the runtime runs itself
    /// (docker's); none, or a runtime without its own exec: on the node.
    pub runtime: Option<(
        std::sync::Arc<dyn super::runtime::ContainerRuntime>,
        super::checkpoint::RunningProcess,
    )>,
}

/// What is already known of the process (an adopted one keeps what was
/// reported before the agent restarted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Known {
    pub started: bool,
    pub ready: bool,
}

/// What the probes tell the pod's worker: changes only.
#[derive(Debug)]
pub(super) struct Report {
    pub container: String,
    pub pid: u32,
    pub finding: Finding,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Finding {
    /// The startup probe succeeded: the container has started, and the
    /// liveness and readiness probes run from now.
    Started,
    /// The readiness probe's verdict changed.
    Ready(bool),
    /// The liveness or startup probe failed `failureThreshold` times in a
    /// row: the container is to be killed. Probing has ended.
    Unhealthy {
        kind: ProbeKind,
        message: String,
        termination_grace_seconds: Option<u64>,
    },
}

/// Probes one container process until aborted, or until it is found
/// unhealthy.
pub(super) async fn run(
    target: Target,
    probes: ContainerProbes,
    known: Known,
    gate: Gate,
    reports: mpsc::UnboundedSender<Report>,
) {
    let report = |finding: Finding| {
        // The worker is gone: nothing is left to tell.
        let _ = reports.send(Report {
            container: target.container.clone(),
            pid: target.pid,
            finding,
        });
    };
    let prober = Prober {
        target: &target,
        gate: &gate,
    };
    if let Some(startup) = probes.startup.as_ref().filter(|_| !known.started) {
        let mut verdict = Verdict::new(startup, None);
        let (started, message) = prober.until_changed(startup, &mut verdict).await;
        if !started {
            report(prober.unhealthy(startup, message));
            return;
        }
        report(Finding::Started);
    }
    let liveness = async {
        let Some(liveness) = &probes.liveness else {
            return std::future::pending().await;
        };
        let mut verdict = Verdict::new(liveness, Some(true));
        // Liveness starts as success: the first change is a failure.
        let (_, message) = prober.until_changed(liveness, &mut verdict).await;
        report(prober.unhealthy(liveness, message));
    };
    let readiness = async {
        let Some(readiness) = &probes.readiness else {
            return std::future::pending().await;
        };
        let mut verdict = Verdict::new(readiness, Some(known.ready));
        loop {
            let (ready, message) = prober.until_changed(readiness, &mut verdict).await;
            if ready {
                tracing::info!(
                    container = target.container,
                    pid = target.pid,
                    "readiness probe succeeded: the container is ready"
                );
            } else {
                tracing::info!(
                    container = target.container,
                    pid = target.pid,
                    reason = "Unhealthy",
                    "Readiness probe failed: {message}"
                );
            }
            report(Finding::Ready(ready));
        }
    };
    // Liveness ends only on failure, and then so does everything.
    tokio::select! {
        () = liveness => {}
        () = readiness => {}
    }
}

/// A probe's settled result: the kubelet's worker, which changes its
/// result only after `successThreshold` successes or `failureThreshold`
/// failures in a row.
#[derive(Debug)]
struct Verdict {
    current: Option<bool>,
    last: Option<bool>,
    run: u32,
    success_threshold: u32,
    failure_threshold: u32,
}

impl Verdict {
    fn new(probe: &Probe, initial: Option<bool>) -> Self {
        Self {
            current: initial,
            last: None,
            run: 0,
            success_threshold: probe.success_threshold.max(1),
            failure_threshold: probe.failure_threshold.max(1),
        }
    }

    /// Records one run; returns the new result if it changed.
    fn record(&mut self, success: bool) -> Option<bool> {
        if self.last == Some(success) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(success);
            self.run = 1;
        }
        let threshold = if success {
            self.success_threshold
        } else {
            self.failure_threshold
        };
        if self.run < threshold || self.current == Some(success) {
            return None;
        }
        self.current = Some(success);
        Some(success)
    }
}

struct Prober<'a> {
    target: &'a Target,
    gate: &'a Gate,
}

impl Prober<'_> {
    /// Runs `probe` on its schedule until its verdict changes; returns the
    /// new verdict and the last failure's message.
    async fn until_changed(&self, probe: &Probe, verdict: &mut Verdict) -> (bool, String) {
        let mut ticks = schedule(probe, self.target.started_at);
        let mut message = String::new();
        loop {
            ticks.tick().await;
            let result = self.attempt(probe).await;
            if let Err(error) = &result {
                message = error.to_string();
                tracing::debug!(
                    container = self.target.container,
                    pid = self.target.pid,
                    probe = probe.kind.name(),
                    %error,
                    "a probe failed"
                );
            }
            if let Some(changed) = verdict.record(result.is_ok()) {
                return (changed, message);
            }
        }
    }

    fn unhealthy(&self, probe: &Probe, message: String) -> Finding {
        tracing::warn!(
            container = self.target.container,
            pid = self.target.pid,
            reason = "Unhealthy",
            "{} probe failed: {message}",
            probe.kind.name()
        );
        Finding::Unhealthy {
            kind: probe.kind,
            message,
            termination_grace_seconds: probe.termination_grace_seconds,
        }
    }

    /// One run of `probe`, within its timeout.
    async fn attempt(&self, probe: &Probe) -> Result<(), ProbeError> {
        let host =
            |host: &Option<String>| host.clone().unwrap_or_else(|| self.target.pod_ip.clone());
        let run = async {
            match &probe.action {
                Action::Exec { command } => self.exec(command).await,
                Action::HttpGet {
                    host: named,
                    port,
                    path,
                    headers,
                } => http_get(&host(named), *port, path, headers).await,
                Action::TcpSocket { host: named, port } => tcp_connect(&host(named), *port).await,
                Action::Unusable(message) => Err(ProbeError::Unusable(message.clone())),
            }
        };
        tokio::time::timeout(probe.timeout, run)
            .await
            .unwrap_or(Err(ProbeError::TimedOut(probe.timeout)))
    }

    /// Runs the command as the container would (its environment, working
    /// directory and network namespace), in a process group of its own,
    /// killed whole if the probe times out (dropped).
    async fn exec(&self, command: &[String]) -> Result<(), ProbeError> {
        let target = self.target;
        let program = &command[0];
        let in_container = match &target.runtime {
            Some((runtime, process)) => (self.gate.run(|| runtime.exec(process, command)))
                .ok_or(ProbeError::AgentStopping)?,
            None => None,
        };
        if let Some(exec) = in_container {
            let (code, mut text) = exec.await.map_err(|message| ProbeError::ExecStart {
                program: program.clone(),
                source: std::io::Error::other(message),
            })?;
            if code == 0 {
                return Ok(());
            }
            text.truncate(MAX_OUTPUT);
            return Err(ProbeError::ExecFailed {
                code,
                output: String::from_utf8_lossy(&text).trim().to_string(),
            });
        }
        let mut exec = match &target.netns {
            Some(netns) => {
                let mut exec = Command::new(process::ip_binary());
                exec.args(["netns", "exec", netns, program]);
                exec
            }
            None => Command::new(program),
        };
        exec.args(&command[1..])
            .env_clear()
            .envs(target.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = target.working_dir.as_deref().filter(|dir| !dir.is_empty()) {
            exec.current_dir(dir);
        }
        let child = (self.gate.run(|| exec.spawn()))
            .ok_or(ProbeError::AgentStopping)?
            .map_err(|source| ProbeError::ExecStart {
                program: program.clone(),
                source,
            })?;
        let group = GroupGuard {
            pgid: child.id(),
            gate: self.gate,
        };
        let output = child
            .wait_with_output()
            .await
            .map_err(ProbeError::ExecWait)?;
        drop(group);
        if output.status.success() {
            return Ok(());
        }
        let mut text = output.stdout;
        text.extend_from_slice(&output.stderr);
        text.truncate(MAX_OUTPUT);
        Err(ProbeError::ExecFailed {
            code: process::exit_code(output.status),
            output: String::from_utf8_lossy(&text).trim().to_string(),
        })
    }
}

/// Kills what is left of an exec probe's process group when dropped (the
/// command ended, or the probe timed out).
struct GroupGuard<'a> {
    pgid: Option<u32>,
    gate: &'a Gate,
}

impl Drop for GroupGuard<'_> {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid
            && !process::group_members(pgid).is_empty()
        {
            self.gate.run(|| process::signal_group(pgid, Signal::Kill));
        }
    }
}

/// The first run `initialDelaySeconds` after the start, then one every
/// period (a late run delays the next ones rather than bunching them).
fn schedule(probe: &Probe, started_at: Instant) -> Interval {
    let first = (started_at + probe.initial_delay).max(Instant::now());
    let mut ticks = tokio::time::interval_at(first, probe.period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks
}

/// `host:port`, with an IPv6 address in brackets.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// One plain HTTP/1.1 GET; success on a 200–399 status.
async fn http_get(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> Result<(), ProbeError> {
    let url = format!("http://{}{path}", authority(host, port));
    let failed = |source| ProbeError::HttpRequest {
        url: url.clone(),
        source,
    };
    let mut stream = TcpStream::connect((host, port)).await.map_err(failed)?;
    let request = http_request(host, port, path, headers);
    stream.write_all(request.as_bytes()).await.map_err(failed)?;
    let line = read_status_line(&mut stream).await.map_err(failed)?;
    let status = parse_status_line(&line).ok_or_else(|| ProbeError::HttpMalformed {
        url: url.clone(),
        line: line.clone(),
    })?;
    if (200..400).contains(&status) {
        Ok(())
    } else {
        Err(ProbeError::HttpStatus(status))
    }
}

/// The request's text: the kubelet's default headers (`Host`,
/// `User-Agent`, `Accept`), each replaced by a probe header of the same
/// name, then the probe's other headers. Headers holding a line break are
/// dropped.
fn http_request(host: &str, port: u16, path: &str, headers: &[(String, String)]) -> String {
    let clean = |text: &str| !text.contains(['\r', '\n']);
    let headers: Vec<&(String, String)> = (headers.iter())
        .filter(|(name, value)| {
            !name.is_empty() && clean(name) && clean(value) && !name.contains(':')
        })
        .collect();
    let own = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut request = format!("GET {path} HTTP/1.1\r\n");
    let defaults = [
        ("Host", authority(host, port)),
        ("User-Agent", USER_AGENT.to_string()),
        ("Accept", "*/*".to_string()),
    ];
    for (name, value) in defaults {
        if !own(name) {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case("Connection") {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    request.push_str("Connection: close\r\n\r\n");
    request
}

/// Reads up to the end of the first line (or of the stream).
async fn read_status_line(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut buffer = [0; 512];
    loop {
        let read = stream.read(&mut buffer).await?;
        line.extend_from_slice(&buffer[..read]);
        if let Some(end) = line.windows(2).position(|w| w == b"\r\n") {
            line.truncate(end);
            break;
        }
        if read == 0 || line.len() >= MAX_STATUS_LINE {
            line.truncate(MAX_STATUS_LINE);
            break;
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// The status code of `HTTP/1.x NNN reason`.
fn parse_status_line(line: &str) -> Option<u16> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    let code = parts.next()?;
    (version.starts_with("HTTP/1.") && code.len() == 3)
        .then(|| code.parse().ok())
        .flatten()
}

/// Success when a TCP connection opens.
async fn tcp_connect(host: &str, port: u16) -> Result<(), ProbeError> {
    TcpStream::connect((host, port))
        .await
        .map(drop)
        .map_err(|source| ProbeError::Dial {
            address: authority(host, port),
            source,
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn probe(kind: ProbeKind, spec: Value) -> Probe {
        let container = json!({"name": "app", "ports": [{"name": "http", "containerPort": 8080}]});
        Probe::parse(kind, &spec, &container)
    }

    #[test]
    fn probes_take_the_apis_defaults() {
        let parsed = probe(ProbeKind::Liveness, json!({"tcpSocket": {"port": 80}}));
        assert_eq!(
            parsed,
            Probe {
                kind: ProbeKind::Liveness,
                action: Action::TcpSocket {
                    host: None,
                    port: 80
                },
                initial_delay: Duration::ZERO,
                period: Duration::from_secs(10),
                timeout: Duration::from_secs(1),
                success_threshold: 1,
                failure_threshold: 3,
                termination_grace_seconds: None,
            }
        );
        let tuned = probe(
            ProbeKind::Readiness,
            json!({"exec": {"command": ["true"]}, "initialDelaySeconds": 2, "periodSeconds": 1,
                   "timeoutSeconds": 3, "successThreshold": 2, "failureThreshold": 1,
                   "terminationGracePeriodSeconds": 5}),
        );
        assert_eq!(
            (
                tuned.initial_delay,
                tuned.period,
                tuned.timeout,
                tuned.success_threshold,
                tuned.failure_threshold,
                tuned.termination_grace_seconds
            ),
            (
                Duration::from_secs(2),
                Duration::from_secs(1),
                Duration::from_secs(3),
                2,
                1,
                None
            ),
            "a readiness probe's failure kills nothing"
        );
        let liveness = probe(
            ProbeKind::Liveness,
            json!({"exec": {"command": ["true"]}, "successThreshold": 3, "terminationGracePeriodSeconds": 5}),
        );
        assert_eq!(
            (
                liveness.success_threshold,
                liveness.termination_grace_seconds
            ),
            (1, Some(5))
        );
    }

    #[test]
    fn handlers_parse_and_those_that_cannot_run_say_why() {
        let unusable = |spec: Value| match probe(ProbeKind::Readiness, spec).action {
            Action::Unusable(message) => message,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            probe(
                ProbeKind::Readiness,
                json!({"httpGet": {"port": "http", "path": "healthz", "host": "10.0.0.1",
                       "httpHeaders": [{"name": "X-Check", "value": "1"}]}})
            )
            .action,
            Action::HttpGet {
                host: Some("10.0.0.1".into()),
                port: 8080,
                path: "/healthz".into(),
                headers: vec![("X-Check".into(), "1".into())],
            }
        );
        assert_eq!(
            probe(ProbeKind::Readiness, json!({"tcpSocket": {"port": "9090"}})).action,
            Action::TcpSocket {
                host: None,
                port: 9090
            },
            "a number written as a string"
        );
        let cases = [
            (
                json!({"httpGet": {"port": 443, "scheme": "HTTPS"}}),
                "HTTPS probes are not supported",
            ),
            (
                json!({"grpc": {"port": 9000}}),
                "gRPC probes are not supported",
            ),
            (
                json!({"tcpSocket": {"port": "metrics"}}),
                "no port named \"metrics\"",
            ),
            (
                json!({"tcpSocket": {"port": 70000}}),
                "invalid port number 70000",
            ),
            (json!({"exec": {"command": []}}), "has no command"),
            (json!({"periodSeconds": 1}), "has no handler"),
        ];
        for (spec, expected) in cases {
            let message = unusable(spec.clone());
            assert!(message.contains(expected), "{spec}: {message}");
        }
    }

    #[test]
    fn a_verdict_changes_only_after_its_threshold_in_a_row() {
        let readiness = |success_threshold, failure_threshold| Probe {
            success_threshold,
            failure_threshold,
            ..probe(ProbeKind::Readiness, json!({"tcpSocket": {"port": 80}}))
        };
        /// (thresholds, initial verdict, runs, the changes they make)
        type Case = ((u32, u32), Option<bool>, Vec<bool>, Vec<Option<bool>>);
        let cases: Vec<Case> = vec![
            ((1, 3), Some(false), vec![true], vec![Some(true)]),
            (
                (1, 3),
                Some(false),
                vec![false, true, true],
                vec![None, Some(true), None],
            ),
            (
                (1, 3),
                Some(true),
                vec![false, false, true, false, false, false],
                vec![None, None, None, None, None, Some(false)],
            ),
            (
                (2, 1),
                Some(false),
                vec![true, false, true, true],
                vec![None, None, None, Some(true)],
            ),
            (
                (1, 1),
                Some(true),
                vec![false, true],
                vec![Some(false), Some(true)],
            ),
            // Startup: unknown until either threshold.
            ((1, 2), None, vec![false, false], vec![None, Some(false)]),
            ((1, 2), None, vec![false, true], vec![None, Some(true)]),
        ];
        for ((success, failure), initial, runs, expected) in cases {
            let mut verdict = Verdict::new(&readiness(success, failure), initial);
            let changes: Vec<Option<bool>> = runs.iter().map(|run| verdict.record(*run)).collect();
            assert_eq!(
                changes, expected,
                "{success}/{failure} from {initial:?}: {runs:?}"
            );
        }
    }

    #[test]
    fn the_request_carries_the_kubelets_headers_unless_the_probe_sets_its_own() {
        let request = http_request(
            "10.1.2.3",
            8080,
            "/healthz",
            &[("X-Check".into(), "yes".into())],
        );
        assert_eq!(
            request,
            "GET /healthz HTTP/1.1\r\nHost: 10.1.2.3:8080\r\nUser-Agent: kube-probe/1.37\r\n\
             Accept: */*\r\nX-Check: yes\r\nConnection: close\r\n\r\n"
        );
        let own = http_request(
            "::1",
            80,
            "/",
            &[
                ("host".into(), "example.com".into()),
                ("Evil".into(), "a\r\nInjected: 1".into()),
            ],
        );
        assert_eq!(
            own,
            "GET / HTTP/1.1\r\nUser-Agent: kube-probe/1.37\r\nAccept: */*\r\n\
             host: example.com\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(authority("::1", 80), "[::1]:80");
        assert_eq!(request_path("a b/é"), "/a%20b/é");
    }

    #[test]
    fn status_lines_parse() {
        let cases = [
            ("HTTP/1.1 200 OK", Some(200)),
            ("HTTP/1.0 302 Found", Some(302)),
            ("HTTP/1.1 503", Some(503)),
            ("SSH-2.0-OpenSSH", None),
            ("HTTP/1.1 20 OK", None),
            ("", None),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_status_line(line), expected, "{line:?}");
        }
    }

    /// A server on loopback that answers every connection with `answer`.
    async fn server(answer: &'static str) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0; 1024];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn http_probes_succeed_on_2xx_and_3xx_only() {
        let ok = server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
        let moved = server("HTTP/1.1 301 Moved Permanently\r\nLocation: /x\r\n\r\n").await;
        let broken = server("HTTP/1.1 500 Internal Server Error\r\n\r\n").await;
        let garbage = server("hello").await;
        assert!(http_get("127.0.0.1", ok, "/", &[]).await.is_ok());
        assert!(http_get("127.0.0.1", moved, "/", &[]).await.is_ok());
        let error = http_get("127.0.0.1", broken, "/", &[]).await.unwrap_err();
        assert_eq!(error.to_string(), "HTTP probe failed with statuscode: 500");
        let error = http_get("127.0.0.1", garbage, "/", &[]).await.unwrap_err();
        assert!(matches!(error, ProbeError::HttpMalformed { .. }), "{error}");

        // A port nothing listens on (one just freed).
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let error = http_get("127.0.0.1", closed, "/healthz", &[])
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("Get \"http://127.0.0.1:{closed}/healthz\": ")),
            "{message}"
        );
        assert!(tcp_connect("127.0.0.1", ok).await.is_ok());
        let error = tcp_connect("127.0.0.1", closed).await.unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with(&format!("dial tcp 127.0.0.1:{closed}: ")),
            "{error}"
        );
    }

    #[tokio::test]
    async fn exec_probes_run_in_the_containers_environment_and_time_out() {
        let dir = tempfile::tempdir().unwrap();
        let target = Target {
            container: "app".into(),
            pid: 1,
            started_at: Instant::now(),
            pod_ip: "127.0.0.1".into(),
            env: vec![
                ("PATH".into(), process::DEFAULT_PATH.into()),
                ("EXPECTED".into(), "yes".into()),
            ],
            working_dir: Some(dir.path().to_str().unwrap().into()),
            netns: None,
            runtime: None,
        };
        std::fs::write(dir.path().join("marker"), "").unwrap();
        let gate = Gate::default();
        let prober = Prober {
            target: &target,
            gate: &gate,
        };
        let exec = |script: &str| {
            probe(
                ProbeKind::Liveness,
                json!({"exec": {"command": ["sh", "-c", script]}, "timeoutSeconds": 1}),
            )
        };
        let passing = exec("test \"$EXPECTED\" = yes && test -f marker");
        assert!(prober.attempt(&passing).await.is_ok());
        let failing = prober
            .attempt(&exec("echo nope; exit 3"))
            .await
            .unwrap_err();
        assert_eq!(failing.to_string(), "command exited with 3: nope");
        let slow = prober.attempt(&exec("sleep 1030")).await.unwrap_err();
        assert!(matches!(slow, ProbeError::TimedOut(_)), "{slow}");
        let mut gone = false;
        for _ in 0..100 {
            let left = std::fs::read_dir("/proc").unwrap().any(|entry| {
                let path = entry.unwrap().path().join("cmdline");
                std::fs::read(path).is_ok_and(|c| c == b"sleep\x001030\x00")
            });
            if !left {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone, "a timed-out probe leaves nothing running");
        gate.close();
        let stopped = prober.attempt(&passing).await.unwrap_err();
        assert!(matches!(stopped, ProbeError::AgentStopping), "{stopped}");
    }
}
