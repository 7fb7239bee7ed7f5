//! Hollow nodes: simulated kubelets, as kwok plays them, so that a cluster of
//! thousands of nodes runs in one process without a container.
//!
//! [`HollowNodes::start`] registers the configured nodes, then plays kubelet
//! for every Node labelled `wharf.dev/hollow=true`: those it registered, and
//! any created later (e.g. by `kubectl apply`). Playing kubelet means:
//!
//! - registration: labels, pod CIDR, capacity, conditions, addresses and
//!   node info as a kubelet reports them. A node that exists already is
//!   adopted and only what is missing from its status is filled in, once;
//! - heartbeat: a Lease per node in `kube-node-lease`, renewed every
//!   `heartbeat`, the renewals of all nodes spread evenly over the interval;
//!   a deleted node is no longer heartbeated and its Lease is deleted; a
//!   node labelled `wharf.dev/hollow-heartbeat=stopped` plays a dead
//!   kubelet (no renewals, its pods left as they are) until the label goes;
//! - pods: a pod bound to a hollow node is reported Running at once, with an
//!   IP from the node's pod CIDR (free again when the pod goes away). A pod
//!   annotated `wharf.dev/hollow-exit-code` has its containers exit with
//!   that code `wharf.dev/hollow-exit-after` (`1s`, `500ms`; default at
//!   once) after they started, and the pod then finishes or restarts them
//!   as its `restartPolicy` says (so Jobs complete on hollow nodes).
//!
//! Everything goes through the API client (in process: the API server's
//! `LocalClient`). Odd objects are
//! logged and skipped; nothing here panics on input.
//!
//! Addresses: node `i` gets the `i`th pod CIDR of 10.0.0.0/8, a /24 (room
//! for 65,536 nodes) or, for nodes of more than 253 pods, the smallest block
//! that holds them (a /23 for 300: room for 32,768 nodes); and InternalIP
//! `100.64.0.0 + i + 1` (in 100.64.0.0/10). A pod that finds no free
//! address is reported waiting (`ContainerCreating`, with why) and retried
//! when an address frees.
//! The API server deletes pods at once unless finalizers hold them, so there
//! are no containers to stop: pods being deleted are left alone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use wharf_client::Selectors;
use wharf_client::watcher::{Seen, Watcher};
use wharf_client::{
    ApiClient, ApiError, ApiResult, DeleteParams, Patch, ResourceDef, WatchType, now_rfc3339,
};

/// The label that makes a Node hollow.
const HOLLOW_LABEL: &str = "wharf.dev/hollow";
/// A pod's containers exit with this code…
const EXIT_CODE: &str = "wharf.dev/hollow-exit-code";
/// …this long after they started.
const EXIT_AFTER: &str = "wharf.dev/hollow-exit-after";
/// A hollow Node labelled `wharf.dev/hollow-heartbeat=stopped` plays a dead
/// kubelet: no Lease renewals, no pod status updates, until the label goes.
const HEARTBEAT_LABEL: &str = "wharf.dev/hollow-heartbeat";
const LEASE_NAMESPACE: &str = "kube-node-lease";
const LEASE_DURATION_SECONDS: u64 = 40;
/// Nodes created at the same time while registering.
const REGISTER_CONCURRENCY: usize = 64;
/// Pod status writes in flight at once.
const POD_WORKERS: usize = 64;
/// The most pods a hollow node takes: its pod CIDR is at most a /16.
const MAX_PODS: u32 = (1 << 16) - 3;
const TAINT_EFFECTS: [&str; 3] = ["NoSchedule", "PreferNoSchedule", "NoExecute"];
/// The conditions a kubelet sets on a running pod, in its order.
const POD_CONDITIONS: [&str; 4] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
];

/// What the hollow nodes look like.
#[derive(Clone, Debug)]
pub struct HollowConfig {
    /// Nodes to register at start: `<prefix><i>`, i = 0..count.
    pub count: usize,
    /// Default `sim-`.
    pub name_prefix: String,
    /// CPU capacity, a Kubernetes quantity; default `4`.
    pub cpu: String,
    /// Memory capacity; default `16Gi`.
    pub memory: String,
    /// Pod capacity; default 110.
    pub pods: u32,
    /// If not empty, node i gets `topology.kubernetes.io/zone = zones[i % len]`.
    pub zones: Vec<String>,
    /// Extra labels on every registered node.
    pub labels: BTreeMap<String, String>,
    /// Taint objects (`{key, value?, effect}`) on every registered node.
    pub taints: Vec<Value>,
    /// Lease renew interval; default 10 s.
    pub heartbeat: Duration,
}

impl Default for HollowConfig {
    fn default() -> Self {
        Self {
            count: 0,
            name_prefix: "sim-".into(),
            cpu: "4".into(),
            memory: "16Gi".into(),
            pods: 110,
            zones: Vec::new(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            heartbeat: Duration::from_secs(10),
        }
    }
}

impl HollowConfig {
    /// Parses `key=value:Effect` or `key:Effect` (kubectl taint syntax) into
    /// Taint JSON.
    pub fn parse_taint(text: &str) -> Result<Value, String> {
        let (key_value, effect) = text.trim().rsplit_once(':').ok_or_else(|| {
            format!("invalid taint {text:?}: expected key=value:Effect or key:Effect")
        })?;
        if !TAINT_EFFECTS.contains(&effect) {
            return Err(format!(
                "invalid taint {text:?}: the effect must be one of {}",
                TAINT_EFFECTS.join(", ")
            ));
        }
        let (key, value) = match key_value.split_once('=') {
            Some((key, value)) => (key, value),
            None => (key_value, ""),
        };
        if !valid_label_key(key) {
            return Err(format!(
                "invalid taint {text:?}: {key:?} is not a valid key"
            ));
        }
        if !valid_label_value(value) {
            return Err(format!(
                "invalid taint {text:?}: {value:?} is not a valid value"
            ));
        }
        let mut taint = json!({"key": key, "effect": effect});
        if !value.is_empty() {
            taint["value"] = json!(value);
        }
        Ok(taint)
    }

    /// Parses `k=v,k2=v2` into labels (an empty text is no labels).
    pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
        let mut labels = BTreeMap::new();
        if text.trim().is_empty() {
            return Ok(labels);
        }
        for item in text.split(',').map(str::trim) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("invalid label {item:?}: expected key=value"))?;
            if !valid_label_key(key) {
                return Err(format!(
                    "invalid label {item:?}: {key:?} is not a valid key"
                ));
            }
            if !valid_label_value(value) {
                return Err(format!(
                    "invalid label {item:?}: {value:?} is not a valid value"
                ));
            }
            if labels.insert(key.to_string(), value.to_string()).is_some() {
                return Err(format!("label {key:?} is given twice"));
            }
        }
        Ok(labels)
    }

    /// The prefix of each node's pod CIDR: a /24, or the smallest block
    /// with an address for every pod besides the network, the gateway and
    /// the broadcast address.
    pub fn pod_prefix(&self) -> u32 {
        let addresses = self.pods.clamp(253, MAX_PODS) + 3;
        32 - (addresses - 1).ilog2() - 1
    }

    /// How many nodes the pod CIDRs (of 10.0.0.0/8) have room for.
    pub fn max_nodes(&self) -> u32 {
        1 << (self.pod_prefix() - 8)
    }

    fn check(&self) -> Result<(), HollowError> {
        let invalid = |message: String| Err(HollowError::InvalidConfig(message));
        if self.heartbeat.is_zero() {
            return invalid("the heartbeat interval must be more than zero".into());
        }
        if self.pods > MAX_PODS {
            return invalid(format!(
                "at most {MAX_PODS} pods fit a hollow node's pod CIDR (a /16), not {}",
                self.pods
            ));
        }
        if self.count > self.max_nodes() as usize {
            return invalid(format!(
                "at most {} hollow nodes of {} pods fit the pod CIDRs (10.0.0.0/8 in /{}s)",
                self.max_nodes(),
                self.pods,
                self.pod_prefix()
            ));
        }
        for (what, quantity) in [("cpu", &self.cpu), ("memory", &self.memory)] {
            if !valid_quantity(quantity) {
                return invalid(format!("{what} {quantity:?} is not a Kubernetes quantity"));
            }
        }
        Ok(())
    }
}

/// Why the hollow nodes could not start.
#[derive(Debug, thiserror::Error)]
pub enum HollowError {
    /// The configuration cannot be played (zero heartbeat, bad quantity…).
    #[error("invalid hollow node configuration: {0}")]
    InvalidConfig(String),
    /// The API server does not serve a kind a kubelet needs.
    #[error("the API server does not serve {kind}: {source}")]
    KindMissing {
        kind: &'static str,
        #[source]
        source: Box<ApiError>,
    },
    /// A configured node could be neither created nor adopted.
    #[error("cannot register node {name}: {source}")]
    RegisterFailed {
        name: String,
        #[source]
        source: Box<ApiError>,
    },
}

/// The running hollow kubelets; dropping it stops them.
pub struct HollowNodes {
    kubelet: Arc<Kubelet>,
    tasks: Vec<JoinHandle<()>>,
}

impl HollowNodes {
    /// Registers the configured nodes and starts playing kubelet for them and
    /// for every Node labelled `wharf.dev/hollow=true` (also ones created
    /// later). Returns after the configured nodes are registered.
    pub async fn start(
        client: impl Into<ApiClient>,
        config: HollowConfig,
    ) -> Result<Self, HollowError> {
        config.check()?;
        let client: ApiClient = client.into();
        let kind = |kind: &'static str, group: &str| {
            client
                .resource(group, "v1", kind)
                .map_err(|source| HollowError::KindMissing {
                    kind,
                    source: Box::new(source),
                })
        };
        let (pod_queue, queued_pods) = mpsc::unbounded_channel();
        let kubelet = Arc::new(Kubelet {
            nodes: kind("Node", "")?,
            pods: kind("Pod", "")?,
            leases: kind("Lease", "coordination.k8s.io")?,
            boot_seed: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            heartbeat: tokio::sync::watch::Sender::new(config.heartbeat),
            client,
            config,
            table: Mutex::default(),
            pod_queue,
            queued: Mutex::default(),
            exits: Mutex::default(),
        });
        // Built first so that a failed registration stops what did start.
        let mut hollow = Self {
            kubelet: kubelet.clone(),
            tasks: Vec::new(),
        };
        kubelet.register_all().await?;
        let queued_pods = Arc::new(tokio::sync::Mutex::new(queued_pods));
        for _ in 0..POD_WORKERS {
            let worker = kubelet.clone().pod_worker(queued_pods.clone());
            hollow.tasks.push(tokio::spawn(worker));
        }
        hollow
            .tasks
            .push(tokio::spawn(kubelet.clone().watch_pods()));
        hollow.tasks.push(tokio::spawn(kubelet.watch_nodes()));
        Ok(hollow)
    }

    /// Stops every task it started (as dropping it does).
    pub fn stop(self) {}

    /// Changes every node's heartbeat interval from its next renewal on
    /// (a bench runs its phases at kubelet's 10 s and its node-failure
    /// phase at a shorter one).
    pub fn set_heartbeat(&self, every: Duration) {
        if !every.is_zero() {
            self.kubelet.heartbeat.send_replace(every);
        }
    }
}

impl Drop for HollowNodes {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        (self
            .kubelet
            .exits
            .lock()
            .unwrap_or_else(PoisonError::into_inner))
        .tasks
        .abort_all();
        let mut table = self.kubelet.table();
        table.closed = true;
        for (_, node) in table.nodes.drain() {
            node.agent.abort();
        }
    }
}

/// The kubelet of every hollow node: one shared state, a task per node
/// (status, then heartbeat), a node watcher, a pod watcher and pod workers.
struct Kubelet {
    client: ApiClient,
    config: HollowConfig,
    nodes: Arc<ResourceDef>,
    pods: Arc<ResourceDef>,
    leases: Arc<ResourceDef>,
    /// Makes each start's boot IDs new, as a reboot would.
    boot_seed: u64,
    table: Mutex<Table>,
    pod_queue: mpsc::UnboundedSender<PodKey>,
    /// UIDs of the pods in `pod_queue` (each queued once).
    queued: Mutex<HashSet<String>>,
    /// The containers' exits to come ([`EXIT_CODE`]).
    exits: Mutex<Exits>,
    /// The heartbeat interval now (the configured one until changed).
    heartbeat: tokio::sync::watch::Sender<Duration>,
}

/// The timers of pods whose containers will exit, each once per restart.
#[derive(Default)]
struct Exits {
    /// `(uid, restart count)` of each timer.
    pending: HashSet<(String, i64)>,
    tasks: JoinSet<()>,
}

/// The nodes being played.
#[derive(Default)]
struct Table {
    /// Set on stop: no node is tracked any more.
    closed: bool,
    nodes: HashMap<String, Tracked>,
    /// Node indices in use (pod CIDR and address).
    indices: HashSet<u32>,
}

struct Tracked {
    uid: String,
    index: u32,
    host_ip: Ipv4Addr,
    pod_range: PodRange,
    /// Pod UID → its IP.
    pod_ips: HashMap<String, Ipv4Addr>,
    /// Pods that found no free address, by UID: queued again when one frees.
    starved: HashMap<String, PodKey>,
    agent: JoinHandle<()>,
}

#[derive(Clone)]
struct PodKey {
    namespace: String,
    name: String,
    uid: String,
}

impl Kubelet {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates (or adopts) the configured nodes, `REGISTER_CONCURRENCY` at a time.
    async fn register_all(self: &Arc<Self>) -> Result<(), HollowError> {
        let next = Arc::new(AtomicUsize::new(0));
        let mut workers = JoinSet::new();
        for _ in 0..REGISTER_CONCURRENCY.min(self.config.count) {
            let (kubelet, next) = (self.clone(), next.clone());
            workers.spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= kubelet.config.count {
                        return Ok(());
                    }
                    kubelet.register(index as u32).await?;
                }
            });
        }
        while let Some(finished) = workers.join_next().await {
            match finished {
                Ok(result) => result?,
                Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                Err(_) => {}
            }
        }
        Ok(())
    }

    async fn register(self: &Arc<Self>, index: u32) -> Result<(), HollowError> {
        let name = format!("{}{index}", self.config.name_prefix);
        let failed = |source| HollowError::RegisterFailed {
            name: name.clone(),
            source: Box::new(source),
        };
        let node = self.new_node(&name, index);
        match self.client.create(&self.nodes, None, &node).await {
            Ok(created) => self.track(&created, false, false),
            Err(ApiError::AlreadyExists { .. }) => {
                let mut existing = self.client.get(&self.nodes, None, &name).await;
                if existing.as_ref().is_ok_and(|node| !is_hollow(node)) {
                    let label = json!({"metadata": {"labels": {HOLLOW_LABEL: "true"}}});
                    existing = self
                        .client
                        .patch(&self.nodes, None, &name, &Patch::Merge(label), false)
                        .await;
                }
                self.track(&existing.map_err(failed)?, true, false);
            }
            Err(source) => return Err(failed(source)),
        }
        Ok(())
    }

    /// The Node a kubelet registers as node `index`.
    fn new_node(&self, name: &str, index: u32) -> Value {
        let mut labels = self.config.labels.clone();
        for (key, value) in [
            (HOLLOW_LABEL, "true"),
            ("kubernetes.io/hostname", name),
            ("kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
        ] {
            labels.insert(key.into(), value.into());
        }
        if !self.config.zones.is_empty() {
            let zone = &self.config.zones[index as usize % self.config.zones.len()];
            labels.insert("topology.kubernetes.io/zone".into(), zone.clone());
        }
        let cidr = PodRange::of_index(index, self.config.pod_prefix()).to_string();
        let mut node = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
            "status": self.reported_status(name, node_ip(index), &json!({})),
        });
        if !self.config.taints.is_empty() {
            node["spec"]["taints"] = json!(self.config.taints);
        }
        node
    }

    /// The node status a kubelet reports; capacity and allocatable already
    /// in `current` win over the configured ones.
    fn reported_status(&self, name: &str, host_ip: Ipv4Addr, current: &Value) -> Value {
        let now = now_rfc3339();
        let condition = |kind, status, reason, message| {
            json!({"type": kind, "status": status, "reason": reason, "message": message,
                   "lastHeartbeatTime": now, "lastTransitionTime": now})
        };
        let configured = json!({
            "cpu": self.config.cpu, "memory": self.config.memory,
            "pods": self.config.pods.to_string(), "ephemeral-storage": "100Gi",
        });
        let mut capacity = (current.get("capacity").filter(|c| c.is_object()).cloned())
            .unwrap_or_else(|| json!({}));
        fill_missing(&mut capacity, Some(&configured));
        let machine = hex_id(name, 0);
        json!({
            "capacity": capacity,
            // Reserving nothing: everything the node has is allocatable.
            "allocatable": capacity,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": host_ip.to_string()},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "kubeletVersion": "v1.37.0", "containerRuntimeVersion": "hollow://1.0",
                "operatingSystem": "linux", "architecture": "amd64",
                "osImage": "Wharf hollow node", "kernelVersion": "6.8.0-hollow",
                "machineID": machine,
                "systemUUID": format!("{}-{}-{}-{}-{}", &machine[..8], &machine[8..12], &machine[12..16], &machine[16..20], &machine[20..]),
                "bootID": hex_id(name, self.boot_seed),
            },
        })
    }

    /// Starts playing kubelet for `node` unless it is played already.
    /// `complete`: fill in what is missing from its spec and status;
    /// `resync_pods`: look for pods bound to it before it was tracked.
    fn track(self: &Arc<Self>, node: &Value, complete: bool, resync_pods: bool) {
        let (Some(name), Some(uid)) = (
            str_at(node, "/metadata/name"),
            str_at(node, "/metadata/uid"),
        ) else {
            return;
        };
        let mut table = self.table();
        if table.closed || table.nodes.contains_key(name) {
            return;
        }
        let declared = str_at(node, "/spec/podCIDR").and_then(PodRange::parse);
        let index = declared
            .and_then(|range| range.index(self.config.pod_prefix()))
            .filter(|i| !table.indices.contains(i))
            .or_else(|| {
                let configured = self.config.count as u32;
                (configured..self.config.max_nodes())
                    .chain(0..configured)
                    .find(|i| !table.indices.contains(i))
            });
        let Some(index) = index else {
            tracing::warn!(
                node = name,
                "no node index left for a hollow node; not playing it"
            );
            return;
        };
        let host_ip = node
            .pointer("/status/addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|address| address["type"] == "InternalIP")
            .and_then(|address| address["address"].as_str()?.parse().ok())
            .unwrap_or_else(|| node_ip(index));
        table.indices.insert(index);
        let agent = self
            .clone()
            .run_node(name.to_string(), index, complete, resync_pods);
        let tracked = Tracked {
            uid: uid.to_string(),
            index,
            host_ip,
            pod_range: declared
                .unwrap_or_else(|| PodRange::of_index(index, self.config.pod_prefix())),
            pod_ips: HashMap::new(),
            starved: HashMap::new(),
            agent: tokio::spawn(agent),
        };
        table.nodes.insert(name.to_string(), tracked);
    }

    /// Stops playing `name` (if `uid` is still the node played); true if it was.
    fn untrack(&self, name: &str, uid: &str) -> bool {
        let mut table = self.table();
        if table.nodes.get(name).is_none_or(|node| node.uid != uid) {
            return false;
        }
        if let Some(node) = table.nodes.remove(name) {
            table.indices.remove(&node.index);
            node.agent.abort();
        }
        true
    }

    /// One node's kubelet: complete its status once, then heartbeat forever.
    async fn run_node(self: Arc<Self>, name: String, index: u32, complete: bool, resync: bool) {
        if complete && let Err(error) = self.complete_node(&name).await {
            tracing::warn!(node = name, %error, "cannot fill in the hollow node's status");
        }
        if resync {
            let on_node = format!("spec.nodeName={name}");
            match self
                .client
                .list(&self.pods, None, &Selectors::fields(on_node.as_str()))
                .await
            {
                Ok(listed) => listed.items.iter().for_each(|pod| self.saw_pod(pod)),
                Err(error) => tracing::warn!(node = name, %error, "cannot list the node's pods"),
            }
        }
        let mut heartbeat = self.heartbeat.subscribe();
        // Golden-ratio offsets spread any number of nodes evenly.
        let spread = (f64::from(index) * 0.618_033_988_749_895).fract();
        loop {
            let period = *heartbeat.borrow_and_update();
            tokio::time::sleep(period.mul_f64(spread)).await;
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    changed = heartbeat.changed() => match changed {
                        Ok(()) => break,
                        Err(_) => return,
                    },
                }
                if let Err(error) = self.renew_lease(&name).await {
                    tracing::warn!(node = name, %error, "cannot renew the hollow node's lease");
                }
            }
        }
    }

    /// A live kubelet corrects a Ready condition it did not post (the node
    /// lifecycle controller's `Unknown` after a heartbeat came late), as
    /// kubelet's status updates do.
    fn repost_if_unhealthy(self: Arc<Self>, node: &Value) {
        let ready = (node.pointer("/status/conditions").and_then(Value::as_array))
            .into_iter()
            .flatten()
            .find(|condition| condition["type"] == "Ready")
            .and_then(|condition| condition["status"].as_str());
        if ready == Some("True") {
            return;
        }
        let name = name_of(node).to_string();
        tokio::spawn(async move {
            if let Err(error) = self.complete_node(&name).await {
                tracing::warn!(node = name, %error, "cannot post the hollow node's status");
            }
        });
    }

    /// Gives a node someone else created a pod CIDR and the status a
    /// kubelet would report, keeping what is there.
    async fn complete_node(&self, name: &str) -> ApiResult<()> {
        let Some((pod_range, host_ip)) =
            (self.table().nodes.get(name)).map(|node| (node.pod_range, node.host_ip))
        else {
            return Ok(());
        };
        self.read_modify_write(&self.nodes, None, name, false, |node| {
            if str_at(node, "/spec/podCIDR").is_some_and(|cidr| !cidr.is_empty()) {
                return false;
            }
            let cidr = pod_range.to_string();
            node["spec"]["podCIDR"] = json!(cidr);
            node["spec"]["podCIDRs"] = json!([cidr]);
            true
        })
        .await?;
        self.read_modify_write(&self.nodes, None, name, true, |node| {
            let current = node.get("status").filter(|s| s.is_object());
            let mut status = current.cloned().unwrap_or_else(|| json!({}));
            let reported = self.reported_status(name, host_ip, &status);
            let before = status.clone();
            fill_missing(&mut status, Some(&reported));
            // A kubelet posts its own view of its conditions: one that comes
            // back (its heartbeat stopped, and the node lifecycle controller
            // set them Unknown) reports them healthy again.
            let mut conditions = status["conditions"].as_array().cloned().unwrap_or_default();
            for condition in reported["conditions"].as_array().into_iter().flatten() {
                match conditions
                    .iter_mut()
                    .find(|c| c["type"] == condition["type"])
                {
                    Some(current) if current["status"] != condition["status"] => {
                        *current = condition.clone();
                    }
                    Some(_) => {}
                    None => conditions.push(condition.clone()),
                }
            }
            status["conditions"] = json!(conditions);
            node["status"] = status;
            node["status"] != before
        })
        .await
    }

    async fn renew_lease(&self, name: &str) -> ApiResult<()> {
        let spec = json!({
            "holderIdentity": name,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": wharf_client::now_micro_time(),
        });
        let renew = Patch::Merge(json!({"spec": spec}));
        let namespace = Some(LEASE_NAMESPACE);
        match self
            .client
            .patch(&self.leases, namespace, name, &renew, false)
            .await
        {
            Err(ApiError::NotFound { .. }) => {}
            other => return other.map(drop),
        }
        let Some(uid) = self.table().nodes.get(name).map(|node| node.uid.clone()) else {
            return Ok(());
        };
        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": name, "namespace": LEASE_NAMESPACE,
                "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": uid}],
            },
            "spec": spec,
        });
        match self.client.create(&self.leases, namespace, &lease).await {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Plays kubelet for every hollow Node, as they come and go.
    async fn watch_nodes(self: Arc<Self>) {
        let mut watcher = Watcher::new(self.client.clone(), self.nodes.clone(), Selectors::all());
        loop {
            match watcher.next().await {
                Seen::Listed(nodes) => {
                    let hollow: HashMap<&str, &str> = (nodes.iter())
                        .filter(|node| is_played(node))
                        .filter_map(|node| {
                            Some((
                                str_at(node, "/metadata/name")?,
                                str_at(node, "/metadata/uid")?,
                            ))
                        })
                        .collect();
                    let gone: Vec<(String, String)> = (self.table().nodes.iter())
                        .filter(|(name, node)| {
                            hollow.get(name.as_str()) != Some(&node.uid.as_str())
                        })
                        .map(|(name, node)| (name.clone(), node.uid.clone()))
                        .collect();
                    for (name, uid) in gone {
                        self.forget_node(&name, &uid, nodes.iter().all(|n| name_of(n) != name))
                            .await;
                    }
                    for node in nodes.iter().filter(|node| is_played(node)) {
                        self.track(node, true, true);
                    }
                }
                Seen::Changed(kind, node) => {
                    let uid = str_at(&node, "/metadata/uid").unwrap_or_default();
                    if kind == WatchType::Deleted {
                        self.forget_node(name_of(&node), uid, true).await;
                    } else if is_played(&node) {
                        self.track(&node, true, true);
                        self.clone().repost_if_unhealthy(&node);
                    } else {
                        self.forget_node(name_of(&node), uid, false).await;
                    }
                }
            }
        }
    }

    /// Stops playing a node; if it was deleted, deletes its Lease too (as the
    /// garbage collector would, through the Lease's owner reference).
    async fn forget_node(&self, name: &str, uid: &str, deleted: bool) {
        if !self.untrack(name, uid) || !deleted {
            return;
        }
        match self
            .client
            .delete(&self.leases, Some(LEASE_NAMESPACE), name)
            .await
        {
            Ok(_) | Err(ApiError::NotFound { .. }) => {}
            Err(error) => {
                tracing::warn!(node = name, %error, "cannot delete a deleted node's lease")
            }
        }
    }

    /// Queues every pod that a hollow node should report Running, and frees
    /// the IPs of pods that are gone.
    async fn watch_pods(self: Arc<Self>) {
        let mut watcher = Watcher::new(self.client.clone(), self.pods.clone(), Selectors::all());
        loop {
            match watcher.next().await {
                Seen::Listed(pods) => {
                    let live: HashSet<&str> = (pods.iter())
                        .filter_map(|pod| str_at(pod, "/metadata/uid"))
                        .collect();
                    let mut starved = Vec::new();
                    for node in self.table().nodes.values_mut() {
                        let before = node.pod_ips.len();
                        node.pod_ips.retain(|uid, _| live.contains(uid.as_str()));
                        node.starved.retain(|uid, _| live.contains(uid.as_str()));
                        if node.pod_ips.len() < before {
                            starved.extend(node.starved.drain().map(|(_, key)| key));
                        }
                    }
                    starved.into_iter().for_each(|key| self.queue_pod(key));
                    pods.iter().for_each(|pod| self.saw_pod(pod));
                }
                Seen::Changed(WatchType::Deleted, pod) => self.release_ip(&pod),
                Seen::Changed(_, pod) => self.saw_pod(&pod),
            }
        }
    }

    /// Frees the address of a pod that is gone or finished (its sandbox
    /// torn down, as a kubelet does); the pods that found none try again.
    fn release_ip(&self, pod: &Value) {
        let (Some(node), Some(uid)) = (str_at(pod, "/spec/nodeName"), str_at(pod, "/metadata/uid"))
        else {
            return;
        };
        let starved = match self.table().nodes.get_mut(node) {
            Some(node) => {
                node.starved.remove(uid);
                if node.pod_ips.remove(uid).is_some() {
                    node.starved.drain().map(|(_, key)| key).collect()
                } else {
                    Vec::new()
                }
            }
            None => Vec::new(),
        };
        starved.into_iter().for_each(|key| self.queue_pod(key));
    }

    /// Notes the IP of a running pod on a hollow node, or queues a pod that
    /// should be running there.
    fn saw_pod(self: &Arc<Self>, pod: &Value) {
        let (Some(node), Some(uid)) = (str_at(pod, "/spec/nodeName"), str_at(pod, "/metadata/uid"))
        else {
            return;
        };
        {
            let mut table = self.table();
            let Some(node) = table.nodes.get_mut(node) else {
                return;
            };
            if pod
                .pointer("/metadata/deletionTimestamp")
                .is_some_and(|t| !t.is_null())
            {
                // Nothing runs: a hollow kubelet stops a pod at once.
                let (client, pods) = (self.client.clone(), self.pods.clone());
                let (namespace, name, uid) = (
                    str_at(pod, "/metadata/namespace").map(str::to_string),
                    name_of(pod).to_string(),
                    uid.to_string(),
                );
                tokio::spawn(async move {
                    let deleted = client
                        .delete_with(
                            &pods,
                            namespace.as_deref(),
                            &name,
                            &DeleteParams::of_uid(&uid).at_once(),
                        )
                        .await;
                    if let Err(error) = deleted
                        && !matches!(error, ApiError::NotFound { .. } | ApiError::Conflict { .. })
                    {
                        tracing::warn!(pod = name, %error, "cannot delete a stopped pod");
                    }
                });
                return;
            }
            if str_at(pod, "/status/phase") == Some("Running") {
                // Known after a restart: keep the IP from being given again.
                let ip = str_at(pod, "/status/podIP").and_then(|ip| ip.parse().ok());
                if let Some(ip) = ip.filter(|ip| node.pod_range.contains(*ip)) {
                    node.pod_ips.entry(uid.to_string()).or_insert(ip);
                }
            }
        }
        if str_at(pod, "/status/phase") == Some("Running") {
            self.exit_later(pod);
            return;
        }
        if needs_running(pod) {
            self.queue_pod(PodKey {
                namespace: str_at(pod, "/metadata/namespace")
                    .unwrap_or_default()
                    .into(),
                name: name_of(pod).into(),
                uid: uid.into(),
            });
        }
    }

    /// Starts the timer of a running pod's containers' exit, if the pod
    /// asks for one ([`EXIT_CODE`]) and it is not started yet.
    fn exit_later(self: &Arc<Self>, pod: &Value) {
        let Some(code) = (pod.pointer("/metadata/annotations"))
            .and_then(|a| a.get(EXIT_CODE))
            .and_then(Value::as_str)
            .and_then(|code| code.trim().parse::<i32>().ok())
        else {
            return;
        };
        let after = (pod.pointer("/metadata/annotations"))
            .and_then(|a| a.get(EXIT_AFTER))
            .and_then(Value::as_str)
            .and_then(parse_duration)
            .unwrap_or_default();
        let uid = str_at(pod, "/metadata/uid").unwrap_or_default().to_string();
        let restarts = restart_count(pod);
        let mut exits = self.exits.lock().unwrap_or_else(PoisonError::into_inner);
        if !exits.pending.insert((uid.clone(), restarts)) {
            return;
        }
        while exits.tasks.try_join_next().is_some() {}
        let started = (pod.pointer("/status/containerStatuses/0/state/running/startedAt"))
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok());
        let now_millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        // `startedAt` is in whole seconds: a start seen within two seconds
        // counts as now (the containers run their full time); an older one
        // (seen again after a restart) has run about that long already.
        let elapsed = started
            .map(|t| now_millis.saturating_sub(t.as_millisecond()).max(0))
            .map_or(Duration::ZERO, |millis| {
                Duration::from_millis(millis.unsigned_abs())
            })
            .saturating_sub(Duration::from_secs(2));
        let wait = after.saturating_sub(elapsed);
        let (namespace, name) = (
            str_at(pod, "/metadata/namespace")
                .unwrap_or_default()
                .to_string(),
            name_of(pod).to_string(),
        );
        let kubelet = self.clone();
        exits.tasks.spawn(async move {
            tokio::time::sleep(wait).await;
            let mut finished = None;
            let written = kubelet
                .read_modify_write(&kubelet.pods, Some(&namespace), &name, true, |pod| {
                    let changed = str_at(pod, "/metadata/uid") == Some(uid.as_str())
                        && str_at(pod, "/status/phase") == Some("Running")
                        && restart_count(pod) == restarts
                        && exited(pod, code, &now_rfc3339());
                    if changed && matches!(str_at(pod, "/status/phase"), Some("Succeeded" | "Failed")) {
                        finished = Some(pod.clone());
                    }
                    changed
                })
                .await;
            match written {
                Ok(()) => {
                    if let Some(pod) = finished {
                        kubelet.release_ip(&pod);
                    }
                }
                Err(ApiError::NotFound { .. }) => {}
                Err(error) => {
                    tracing::warn!(namespace, pod = name, %error, "cannot report the containers exited");
                }
            }
            (kubelet.exits.lock().unwrap_or_else(PoisonError::into_inner))
                .pending
                .remove(&(uid, restarts));
        });
    }

    /// Queues a pod for a worker, unless it is queued already.
    fn queue_pod(&self, key: PodKey) {
        if (self.queued.lock().unwrap_or_else(PoisonError::into_inner)).insert(key.uid.clone()) {
            // Fails only once the workers are gone (stopped).
            let _ = self.pod_queue.send(key);
        }
    }

    async fn pod_worker(
        self: Arc<Self>,
        queue: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<PodKey>>>,
    ) {
        loop {
            let Some(key) = queue.lock().await.recv().await else {
                return;
            };
            (self.queued.lock().unwrap_or_else(PoisonError::into_inner)).remove(&key.uid);
            if let Err(error) = self.run_pod(&key).await {
                tracing::warn!(namespace = key.namespace, pod = key.name, %error, "cannot report the pod running");
            }
        }
    }

    /// Writes a Running status for a pod on a hollow node, re-reading on conflict.
    async fn run_pod(&self, key: &PodKey) -> ApiResult<()> {
        let written =
            self.read_modify_write(&self.pods, Some(&key.namespace), &key.name, true, |pod| {
                if str_at(pod, "/metadata/uid") != Some(key.uid.as_str()) || !needs_running(pod) {
                    return false;
                }
                let Some(node) = str_at(pod, "/spec/nodeName") else {
                    return false;
                };
                let mut table = self.table();
                let Some(node) = table.nodes.get_mut(node) else {
                    return false;
                };
                let pod_ip = if pod.pointer("/spec/hostNetwork") == Some(&json!(true)) {
                    node.host_ip
                } else if let Some(ip) = node.allocate(&key.uid) {
                    node.starved.remove(&key.uid);
                    ip
                } else {
                    // Reported once, and tried again when an address frees.
                    node.starved.insert(key.uid.clone(), key.clone());
                    let message = format!(
                        "failed to set up the pod's network: no free address in the node's pod CIDR {}",
                        node.pod_range
                    );
                    if !waiting_for_network(pod, &message) {
                        return false;
                    }
                    tracing::warn!(namespace = key.namespace, pod = key.name, "{message}");
                    pod["status"] = waiting_status(pod, &message);
                    return true;
                };
                pod["status"] = running_status(pod, node.host_ip, pod_ip, &now_rfc3339());
                true
            });
        match written.await {
            Err(ApiError::NotFound { .. }) => Ok(()),
            other => other,
        }
    }

    /// Reads an object, lets `change` edit it (false: nothing to write), and
    /// writes it back, re-reading on conflict ([`ApiClient::read_modify_write`]).
    async fn read_modify_write(
        &self,
        resource: &ResourceDef,
        namespace: Option<&str>,
        name: &str,
        status: bool,
        change: impl FnMut(&mut Value) -> bool,
    ) -> ApiResult<()> {
        (self.client)
            .read_modify_write(resource, namespace, name, status, change)
            .await
            .map(drop)
    }
}

impl Tracked {
    /// The pod's IP, given now if it has none: the lowest free one.
    fn allocate(&mut self, uid: &str) -> Option<Ipv4Addr> {
        if let Some(ip) = self.pod_ips.get(uid) {
            return Some(*ip);
        }
        let used: HashSet<Ipv4Addr> = self.pod_ips.values().copied().collect();
        // .0 is the network, .1 the gateway, the last the broadcast address.
        let ip = (2..self.pod_range.size().saturating_sub(1))
            .map(|host| Ipv4Addr::from(self.pod_range.base + host))
            .find(|ip| !used.contains(ip))?;
        self.pod_ips.insert(uid.to_string(), ip);
        Some(ip)
    }
}

/// An IPv4 pod CIDR; pods get addresses from its first 65,536.
#[derive(Clone, Copy, Debug, PartialEq)]
struct PodRange {
    base: u32,
    prefix: u32,
}

impl PodRange {
    /// The `index`th block of 10.0.0.0/8 of this prefix (8 to 32).
    fn of_index(index: u32, prefix: u32) -> Self {
        Self {
            base: (10 << 24) | (index << (32 - prefix)),
            prefix,
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = text.split_once('/')?;
        let address: Ipv4Addr = address.parse().ok()?;
        let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 32)?;
        let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
        Some(Self {
            base: u32::from(address) & mask,
            prefix,
        })
    }

    /// The node index this CIDR was given for, if it is one of ours (a
    /// block of 10.0.0.0/8 of `prefix`).
    fn index(self, prefix: u32) -> Option<u32> {
        (self.prefix == prefix && self.base >> 24 == 10)
            .then_some((self.base & 0x00ff_ffff) >> (32 - prefix))
    }

    fn size(self) -> u32 {
        1u32.checked_shl(32 - self.prefix)
            .unwrap_or(u32::MAX)
            .min(1 << 16)
    }

    fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip).wrapping_sub(self.base) < self.size()
    }
}

impl std::fmt::Display for PodRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

/// The InternalIP of node `index`.
fn node_ip(index: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + index + 1)
}

/// True when the pod does not yet say it waits for its network with
/// `message` (so the status is written once, not on every retry).
fn waiting_for_network(pod: &Value, message: &str) -> bool {
    pod.pointer("/status/containerStatuses/0/state/waiting/message")
        .and_then(Value::as_str)
        != Some(message)
}

/// The status of a pod whose network could not be set up: Pending, its
/// containers waiting in `ContainerCreating` with why, as a kubelet reports
/// a sandbox that failed.
fn waiting_status(pod: &Value, message: &str) -> Value {
    let mut status = pod
        .get("status")
        .filter(|s| s.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    let waiting = |container: &Value| {
        let image = str_at(container, "/image").unwrap_or_default();
        json!({
            "name": str_at(container, "/name").unwrap_or_default(),
            "image": image, "imageID": "", "ready": false, "started": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ContainerCreating", "message": message}},
        })
    };
    let statuses: Vec<Value> = (pod.pointer("/spec/containers").and_then(Value::as_array))
        .into_iter()
        .flatten()
        .map(waiting)
        .collect();
    let fields = status.as_object_mut().expect("status is an object");
    fields.insert("phase".into(), json!("Pending"));
    fields.insert("containerStatuses".into(), json!(statuses));
    status
}

/// The status a kubelet writes for a pod whose containers all started.
fn running_status(pod: &Value, host_ip: Ipv4Addr, pod_ip: Ipv4Addr, now: &str) -> Value {
    let uid = str_at(pod, "/metadata/uid").unwrap_or_default();
    let mut status = pod
        .get("status")
        .filter(|s| s.is_object())
        .cloned()
        .unwrap_or_else(|| json!({}));
    let condition = |kind| json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
    let mut conditions: Vec<Value> = (status["conditions"].as_array().into_iter().flatten())
        .filter(|c| !POD_CONDITIONS.iter().any(|kind| c["type"] == *kind))
        .cloned()
        .collect();
    if !conditions.iter().any(|c| c["type"] == "PodScheduled") {
        conditions.insert(0, condition("PodScheduled"));
    }
    conditions.extend(POD_CONDITIONS.map(condition));
    let container = |container: &Value, state: Value, ready: bool, started: bool| {
        let name = str_at(container, "/name").unwrap_or_default();
        let image = str_at(container, "/image").unwrap_or_default();
        json!({
            "name": name, "image": image, "imageID": image,
            "containerID": format!("hollow://{uid}-{name}"),
            "ready": ready, "started": started, "restartCount": 0, "state": state,
        })
    };
    let running = json!({"running": {"startedAt": now}});
    let completed = json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}});
    let containers = |list: &str| {
        pod.pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
    };
    let statuses: Vec<Value> = (containers("containers").into_iter().flatten())
        .map(|c| container(c, running.clone(), true, true))
        .collect();
    // Init containers ran to completion, except sidecars, which keep running.
    let init_statuses: Vec<Value> = (containers("initContainers").into_iter().flatten())
        .map(|c| match c.get("restartPolicy").and_then(Value::as_str) {
            Some("Always") => container(c, running.clone(), true, true),
            _ => container(c, completed.clone(), true, false),
        })
        .collect();
    let start_time = status.get("startTime").filter(|t| t.is_string()).cloned();
    let fields = status.as_object_mut().expect("status is an object");
    fields.insert("phase".into(), json!("Running"));
    fields.insert("conditions".into(), json!(conditions));
    fields.insert("hostIP".into(), json!(host_ip.to_string()));
    fields.insert("hostIPs".into(), json!([{"ip": host_ip.to_string()}]));
    fields.insert("podIP".into(), json!(pod_ip.to_string()));
    fields.insert("podIPs".into(), json!([{"ip": pod_ip.to_string()}]));
    fields.insert("startTime".into(), start_time.unwrap_or_else(|| json!(now)));
    fields.insert("containerStatuses".into(), json!(statuses));
    if !init_statuses.is_empty() {
        fields.insert("initContainerStatuses".into(), json!(init_statuses));
    }
    status
}

/// How many times the pod's first container restarted.
fn restart_count(pod: &Value) -> i64 {
    (pod.pointer("/status/containerStatuses/0/restartCount"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// A duration as `1s`, `500ms` or `2m`.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let number: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(number)),
        "s" => Some(Duration::from_secs(number)),
        "m" => Some(Duration::from_secs(number.checked_mul(60)?)),
        _ => None,
    }
}

/// The status after every container of a running pod exited with `code`,
/// as a kubelet writes it: the pod finished (`Never`; `OnFailure` with 0)
/// or its containers restarted. False when there is nothing to change.
fn exited(pod: &mut Value, code: i32, now: &str) -> bool {
    let policy = str_at(pod, "/spec/restartPolicy").unwrap_or("Always");
    let finished = policy == "Never" || (policy == "OnFailure" && code == 0);
    let reason = if code == 0 { "Completed" } else { "Error" };
    let Some(statuses) = pod
        .pointer_mut("/status/containerStatuses")
        .and_then(Value::as_array_mut)
    else {
        return false;
    };
    for status in statuses.iter_mut() {
        let started = status
            .pointer("/state/running/startedAt")
            .cloned()
            .unwrap_or(json!(now));
        let terminated = json!({"terminated": {
            "exitCode": code, "reason": reason, "startedAt": started, "finishedAt": now,
            "containerID": status["containerID"].clone(),
        }});
        if finished {
            status["state"] = terminated;
            status["ready"] = json!(false);
            status["started"] = json!(false);
        } else {
            status["lastState"] = terminated;
            status["state"] = json!({"running": {"startedAt": now}});
            status["restartCount"] = json!(status["restartCount"].as_i64().unwrap_or(0) + 1);
        }
    }
    if finished {
        let status = &mut pod["status"];
        status["phase"] = json!(if code == 0 { "Succeeded" } else { "Failed" });
        for condition in (status["conditions"].as_array_mut().into_iter()).flatten() {
            if condition["type"] == "Ready" || condition["type"] == "ContainersReady" {
                condition["status"] = json!("False");
                condition["reason"] = json!("PodCompleted");
                condition["lastTransitionTime"] = json!(now);
            }
        }
    }
    true
}

fn needs_running(pod: &Value) -> bool {
    let phase = str_at(pod, "/status/phase").unwrap_or("Pending");
    pod.pointer("/metadata/deletionTimestamp")
        .is_none_or(Value::is_null)
        && !matches!(phase, "Running" | "Succeeded" | "Failed")
}

/// Adds to `target` what `defaults` has and it lacks: missing or empty
/// fields, and missing keys of objects, one level deep.
fn fill_missing(target: &mut Value, defaults: Option<&Value>) {
    let (Some(target), Some(Value::Object(defaults))) = (target.as_object_mut(), defaults) else {
        return;
    };
    for (key, default) in defaults {
        match (target.get_mut(key), default) {
            (Some(Value::Object(have)), Value::Object(want)) => {
                for (field, value) in want {
                    have.entry(field.clone()).or_insert_with(|| value.clone());
                }
            }
            (Some(have), _) if !is_empty(have) => {}
            _ => {
                target.insert(key.clone(), default.clone());
            }
        }
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(list) => list.is_empty(),
        Value::String(text) => text.is_empty(),
        _ => false,
    }
}

/// Whether a node is hollow and its kubelet alive: not labelled
/// [`HEARTBEAT_LABEL`]` = stopped`.
fn is_played(node: &Value) -> bool {
    is_hollow(node)
        && node
            .pointer("/metadata/labels")
            .and_then(|labels| labels.get(HEARTBEAT_LABEL))
            .and_then(Value::as_str)
            != Some("stopped")
}

fn is_hollow(node: &Value) -> bool {
    node.pointer("/metadata/labels")
        .and_then(|labels| labels.get(HOLLOW_LABEL))
        .and_then(Value::as_str)
        == Some("true")
}

fn str_at<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    object.pointer(pointer).and_then(Value::as_str)
}

fn name_of(object: &Value) -> &str {
    str_at(object, "/metadata/name").unwrap_or_default()
}

/// 32 hex digits from a name and a seed (machine and boot IDs).
fn hex_id(name: &str, seed: u64) -> String {
    use std::hash::{Hash, Hasher};
    let half = |salt: u64| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (name, seed, salt).hash(&mut hasher);
        hasher.finish()
    };
    format!("{:016x}{:016x}", half(1), half(2))
}

/// A label (or taint) key: an optional DNS-subdomain prefix and `/`, then a name.
fn valid_label_key(key: &str) -> bool {
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            let label_ok = |label: &str| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            };
            if prefix.len() > 253 || !prefix.split('.').all(label_ok) {
                return false;
            }
            name
        }
        None => key,
    };
    !name.is_empty() && valid_label_value(name)
}

/// A label value: empty, or up to 63 alphanumerics, `-`, `_`, `.`, starting
/// and ending alphanumeric.
fn valid_label_value(value: &str) -> bool {
    let bytes = value.as_bytes();
    value.is_empty()
        || (value.len() <= 63
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
}

/// A Kubernetes quantity: a decimal number and an optional suffix.
fn valid_quantity(text: &str) -> bool {
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_end);
    let suffixes = [
        "", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
    ];
    let exponent = suffix
        .strip_prefix(['e', 'E'])
        .is_some_and(|e| e.trim_start_matches(['+', '-']).parse::<u32>().is_ok());
    number.parse::<f64>().is_ok() && (suffixes.contains(&suffix) || exponent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_containers_exit_as_their_restart_policy_says() {
        assert_eq!(parse_duration("1s"), Some(Duration::from_secs(1)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("soon"), None);
        let running = |policy: &str| {
            let mut pod = json!({"spec": {"restartPolicy": policy, "containers": [{"name": "c"}]},
                                 "status": {"phase": "Pending"}});
            pod["status"] = running_status(&pod, Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, "t0");
            pod
        };
        let mut pod = running("Never");
        assert!(exited(&mut pod, 3, "t1"));
        assert_eq!(pod["status"]["phase"], "Failed");
        let state = &pod["status"]["containerStatuses"][0]["state"]["terminated"];
        assert_eq!(
            (state["exitCode"].as_i64(), state["reason"].as_str()),
            (Some(3), Some("Error"))
        );
        assert_eq!(
            (state["startedAt"].as_str(), state["finishedAt"].as_str()),
            (Some("t0"), Some("t1"))
        );
        let mut pod = running("OnFailure");
        assert!(exited(&mut pod, 0, "t1"));
        assert_eq!(pod["status"]["phase"], "Succeeded");
        let mut pod = running("OnFailure");
        assert!(exited(&mut pod, 1, "t1"));
        assert_eq!(pod["status"]["phase"], "Running");
        assert_eq!(restart_count(&pod), 1);
        assert_eq!(
            pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
            1
        );
    }

    #[test]
    fn taints_parse_from_the_kubectl_syntax() {
        let cases: [(&str, Result<Value, ()>); 7] = [
            (
                "dedicated=infra:NoSchedule",
                Ok(json!({"key": "dedicated", "value": "infra", "effect": "NoSchedule"})),
            ),
            (
                "example.com/gpu:NoExecute",
                Ok(json!({"key": "example.com/gpu", "effect": "NoExecute"})),
            ),
            (
                " spot=:PreferNoSchedule ",
                Ok(json!({"key": "spot", "effect": "PreferNoSchedule"})),
            ),
            ("dedicated=infra", Err(())),
            ("dedicated=infra:Sometimes", Err(())),
            ("=infra:NoSchedule", Err(())),
            ("bad key=x:NoSchedule", Err(())),
        ];
        for (text, expected) in cases {
            let parsed = HollowConfig::parse_taint(text);
            match expected {
                Ok(taint) => assert_eq!(parsed, Ok(taint), "{text}"),
                Err(()) => assert!(
                    parsed.as_ref().is_err_and(|e| e.contains(text.trim())),
                    "{text}: {parsed:?}"
                ),
            }
        }
    }

    #[test]
    fn labels_parse_from_comma_separated_pairs() {
        let labels = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let cases = [
            ("", Ok(labels(&[]))),
            ("team=infra", Ok(labels(&[("team", "infra")]))),
            (
                "a=1, example.com/b=two,c=",
                Ok(labels(&[("a", "1"), ("example.com/b", "two"), ("c", "")])),
            ),
            ("team", Err(())),
            ("a=1,,b=2", Err(())),
            ("a=1,a=2", Err(())),
            ("a=-x", Err(())),
            ("Bad.Prefix/a=1", Err(())),
        ];
        for (text, expected) in cases {
            let parsed = HollowConfig::parse_labels(text);
            match expected {
                Ok(labels) => assert_eq!(parsed, Ok(labels), "{text}"),
                Err(()) => assert!(parsed.is_err(), "{text}: {parsed:?}"),
            }
        }
    }

    #[test]
    fn quantities_are_checked_before_any_node_is_made() {
        for good in ["4", "500m", "16Gi", "1.5", "1e3", "100M"] {
            assert!(valid_quantity(good), "{good}");
        }
        for bad in ["", "four", "16GB", "1..5", "Gi"] {
            assert!(!valid_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn pod_ranges_give_distinct_cidrs_and_their_own_addresses() {
        let config = HollowConfig::default();
        assert_eq!((config.pod_prefix(), config.max_nodes()), (24, 1 << 16));
        let last = PodRange::of_index(config.max_nodes() - 1, 24);
        assert_eq!(last.to_string(), "10.255.255.0/24");
        assert_eq!(
            PodRange::parse("10.1.2.0/24"),
            Some(PodRange::of_index(258, 24))
        );
        assert_eq!(PodRange::of_index(258, 24).index(24), Some(258));
        // Nodes of more pods get bigger blocks.
        let big = HollowConfig {
            pods: 300,
            ..HollowConfig::default()
        };
        assert_eq!((big.pod_prefix(), big.max_nodes()), (23, 1 << 15));
        let range = PodRange::of_index(3, 23);
        assert_eq!(
            (range.to_string().as_str(), range.size()),
            ("10.0.6.0/23", 512)
        );
        assert_eq!(range.index(23), Some(3));
        assert_eq!(range.index(24), None);
        let at_most = HollowConfig {
            pods: 253,
            ..HollowConfig::default()
        };
        assert_eq!(at_most.pod_prefix(), 24);
        let huge = HollowConfig {
            pods: MAX_PODS,
            ..HollowConfig::default()
        };
        assert_eq!(huge.pod_prefix(), 16);
        let foreign = PodRange::parse("192.168.7.9/26").unwrap();
        assert_eq!(
            (
                foreign.to_string().as_str(),
                foreign.index(24),
                foreign.size()
            ),
            ("192.168.7.0/26", None, 64)
        );
        assert!(foreign.contains("192.168.7.63".parse().unwrap()));
        assert!(!foreign.contains("192.168.7.64".parse().unwrap()));
        assert_eq!(PodRange::parse("10.0.0.0/33"), None);
        assert_eq!(node_ip(0), Ipv4Addr::new(100, 64, 0, 1));
    }

    #[test]
    fn missing_status_fields_are_filled_and_present_ones_kept() {
        let mut status = json!({"capacity": {"cpu": "8"}, "addresses": [], "nodeInfo": null});
        let defaults = json!({"capacity": {"cpu": "4", "memory": "16Gi"}, "addresses": [{"type": "Hostname"}], "nodeInfo": {"osImage": "x"}});
        fill_missing(&mut status, Some(&defaults));
        assert_eq!(
            status,
            json!({"capacity": {"cpu": "8", "memory": "16Gi"}, "addresses": [{"type": "Hostname"}], "nodeInfo": {"osImage": "x"}})
        );
    }

    #[test]
    fn a_running_pod_keeps_its_scheduled_condition_and_reports_every_container() {
        let pod = json!({
            "metadata": {"uid": "u1"},
            "spec": {"initContainers": [{"name": "init", "image": "busybox"}], "containers": [{"name": "app", "image": "nginx"}]},
            "status": {"conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "then"}], "startTime": "then"},
        });
        let status = running_status(
            &pod,
            Ipv4Addr::new(100, 64, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            "now",
        );
        let types: Vec<&str> = status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "PodScheduled",
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady"
            ]
        );
        assert_eq!(status["conditions"][0]["lastTransitionTime"], "then");
        assert_eq!(
            (&status["phase"], &status["podIP"], &status["startTime"]),
            (&json!("Running"), &json!("10.0.0.2"), &json!("then"))
        );
        assert_eq!(
            status["containerStatuses"][0]["containerID"],
            "hollow://u1-app"
        );
        assert_eq!(
            status["containerStatuses"][0]["state"]["running"]["startedAt"],
            "now"
        );
        assert_eq!(
            status["initContainerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed"
        );
    }
}
