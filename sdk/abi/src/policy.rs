//! Scheduling policies: the records of the WIT `policy` interface as plain
//! Rust types, and the compact binary form in which they cross the native
//! (cdylib) boundary.
//!
//! The host's scheduler keeps its snapshot in these types; the SDK hands
//! them to policy code. For WebAssembly they are converted to and from the
//! WIT bindings; for native policies they are encoded with [`Encode`] and
//! decoded with [`Decode`] (the codec of [`crate::codec`], re-exported
//! here). The native entry points a policy library exports are listed in
//! [`symbols`].

pub use crate::codec::{Decode, DecodeError, Encode, Reader};

/// CPU in millicores, memory in bytes, pods as a count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: u64,
    pub memory_bytes: u64,
    pub pods: u32,
}

impl Resources {
    /// The field-wise sum.
    pub fn plus(self, other: Resources) -> Resources {
        Resources {
            milli_cpu: self.milli_cpu.saturating_add(other.milli_cpu),
            memory_bytes: self.memory_bytes.saturating_add(other.memory_bytes),
            pods: self.pods.saturating_add(other.pods),
        }
    }

    /// The field-wise difference, floored at zero.
    pub fn minus(self, other: Resources) -> Resources {
        Resources {
            milli_cpu: self.milli_cpu.saturating_sub(other.milli_cpu),
            memory_bytes: self.memory_bytes.saturating_sub(other.memory_bytes),
            pods: self.pods.saturating_sub(other.pods),
        }
    }
}

/// A node taint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Taint {
    pub key: String,
    pub value: String,
    /// NoSchedule, PreferNoSchedule or NoExecute.
    pub effect: String,
}

/// A host port a container asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostPort {
    /// `0.0.0.0` (any) when the pod left it empty.
    pub ip: String,
    /// TCP, UDP or SCTP.
    pub protocol: String,
    pub port: u16,
}

/// What the pods placed on a node take from it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub requested: Resources,
    /// Requests with kube-scheduler's non-zero defaults (100m, 200 MiB).
    pub non_zero_requested: Resources,
    pub host_ports: Vec<HostPort>,
}

/// A node as policies see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// The node's slot; stable until the node is removed.
    pub index: u32,
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub taints: Vec<Taint>,
    pub allocatable: Resources,
    pub unschedulable: bool,
    pub usage: Usage,
}

impl Node {
    /// The value of a label.
    pub fn label(&self, key: &str) -> Option<&str> {
        label(&self.labels, key)
    }
}

/// A pod placed on a node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlacedPod {
    pub node: u32,
    pub namespace: String,
    pub name: String,
    pub labels: Vec<(String, String)>,
}

/// One change to a policy's snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    UpsertNode(Node),
    RemoveNode(u32),
    NodeUsage(u32, Usage),
    PodAdded(PlacedPod),
    PodRemoved(PlacedPod),
}

/// The pod being scheduled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pod {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub requests: Resources,
    pub non_zero_requests: Resources,
    pub host_ports: Vec<HostPort>,
    /// The scheduling part of the pod's `spec` (nodeName, nodeSelector,
    /// affinity, tolerations, topologySpreadConstraints) as JSON.
    pub spec: String,
    /// The whole Pod object as JSON, for policies that want it; else empty.
    pub json: String,
}

impl Pod {
    /// The value of a label.
    pub fn label(&self, key: &str) -> Option<&str> {
        label(&self.labels, key)
    }
}

/// The fields of a pod's `spec` the host sends as [`Pod::spec`]; a policy
/// that needs more registers `wants_pod_json`.
pub const SCHEDULING_SPEC_FIELDS: &[&str] = &[
    "nodeName",
    "nodeSelector",
    "affinity",
    "tolerations",
    "topologySpreadConstraints",
];

/// A candidate a filter turned down, by its position among the candidates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rejection {
    pub position: u32,
    pub reasons: Vec<String>,
}

/// What a policy implements and needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registration {
    pub name: String,
    pub filters: bool,
    pub scores: bool,
    pub wants_pods: bool,
    pub wants_usage: bool,
    pub wants_pod_json: bool,
}

/// What a filter call answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filtered {
    pub rejections: Vec<Rejection>,
    /// No preference among nodes for this pod: do not call `score`.
    pub skip_score: bool,
}

impl Registration {
    /// A filter-only policy (that reads nodes' usage).
    pub fn filter(name: &str) -> Self {
        Registration {
            name: name.into(),
            filters: true,
            wants_usage: true,
            ..Registration::default()
        }
    }

    /// A score-only policy (that reads nodes' usage).
    pub fn score(name: &str) -> Self {
        Registration {
            name: name.into(),
            scores: true,
            wants_usage: true,
            ..Registration::default()
        }
    }

    /// A policy with both extension points (that reads nodes' usage).
    pub fn filter_and_score(name: &str) -> Self {
        Registration {
            name: name.into(),
            filters: true,
            scores: true,
            wants_usage: true,
            ..Registration::default()
        }
    }

    /// Does not read nodes' usage: spares it a call per scheduled pod.
    pub fn without_usage(mut self) -> Self {
        self.wants_usage = false;
        self
    }

    /// Also receive pod-added / pod-removed changes.
    pub fn wanting_pods(mut self) -> Self {
        self.wants_pods = true;
        self
    }

    /// Also receive the whole pod as JSON (`Pod::json`).
    pub fn wanting_pod_json(mut self) -> Self {
        self.wants_pod_json = true;
        self
    }
}

fn label<'a>(labels: &'a [(String, String)], key: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Parses a Kubernetes quantity (`100m`, `1.5`, `2Gi`, `1e3`) and returns it
/// multiplied by `scale` (1000 for millicores, 1 for bytes), rounded up as
/// Kubernetes does; `None` when it is not a quantity or is negative.
pub fn parse_quantity(text: &str, scale: u64) -> Option<u64> {
    let text = text.trim();
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_end);
    let number = number.strip_prefix('+').unwrap_or(number);
    if number.is_empty() || number == "." {
        return None;
    }
    // The value is digits × 10^exp10 × 2^exp2.
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if !whole
        .chars()
        .chain(fraction.chars())
        .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let digits: u128 = format!("{whole}{fraction}").parse().ok()?;
    let mut exp10: i32 = -(fraction.len() as i32);
    let mut exp2: u32 = 0;
    match suffix {
        "" => {}
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        "Ki" => exp2 = 10,
        "Mi" => exp2 = 20,
        "Gi" => exp2 = 30,
        "Ti" => exp2 = 40,
        "Pi" => exp2 = 50,
        "Ei" => exp2 = 60,
        exponent if exponent.starts_with(['e', 'E']) => {
            exp10 += exponent[1..].parse::<i32>().ok()?;
        }
        _ => return None,
    }
    let mut value = digits.checked_mul(u128::from(scale))?.checked_shl(exp2)?;
    if value >> 127 != 0 || !(-38..=38).contains(&exp10) {
        return None;
    }
    if exp10 >= 0 {
        value = value.checked_mul(10u128.checked_pow(exp10 as u32)?)?;
    } else {
        let divisor = 10u128.pow((-exp10) as u32);
        value = value.div_ceil(divisor);
    }
    u64::try_from(value).ok()
}

/// The symbols a native policy library exports (all `extern "C"`, see
/// `wharf_sdk::scheduling` for the contract):
///
/// - `wharf_policy_abi_version() -> u32`;
/// - `wharf_policy_new(config: WharfStr, out: *mut WharfBuf) -> *mut c_void`:
///   an instance, `out` holding the encoded [`Registration`]; null on
///   failure with the message in `out`;
/// - `wharf_policy_update(instance, changes: WharfStr, out: *mut WharfBuf)
///   -> u32`: applies an encoded `Vec<Change>`;
/// - `wharf_policy_filter(instance, pod: WharfStr, candidates: *const u32,
///   count: usize, out: *mut WharfBuf) -> u32`: `OK` with the encoded
///   [`Filtered`], or `FAILED`/`PANICKED` with a message;
/// - `wharf_policy_score(instance, pod: WharfStr, candidates: *const u32,
///   count: usize, scores: *mut i64, out: *mut WharfBuf) -> u32`: fills
///   `count` scores, or a message in `out`;
/// - `wharf_policy_free(instance)` and `wharf_policy_free_buf(buf)`.
pub mod symbols {
    pub const ABI_VERSION: &[u8] = b"wharf_policy_abi_version";
    pub const NEW: &[u8] = b"wharf_policy_new";
    pub const UPDATE: &[u8] = b"wharf_policy_update";
    pub const FILTER: &[u8] = b"wharf_policy_filter";
    pub const SCORE: &[u8] = b"wharf_policy_score";
    pub const FREE: &[u8] = b"wharf_policy_free";
    pub const FREE_BUF: &[u8] = b"wharf_policy_free_buf";
}

impl Encode for Resources {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.milli_cpu.to_le_bytes());
        out.extend_from_slice(&self.memory_bytes.to_le_bytes());
        self.pods.encode(out);
    }
}

impl Decode for Resources {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Resources {
            milli_cpu: reader.u64()?,
            memory_bytes: reader.u64()?,
            pods: reader.u32()?,
        })
    }
}

impl Encode for Taint {
    fn encode(&self, out: &mut Vec<u8>) {
        self.key.encode(out);
        self.value.encode(out);
        self.effect.encode(out);
    }
}

impl Decode for Taint {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Taint {
            key: reader.string()?,
            value: reader.string()?,
            effect: reader.string()?,
        })
    }
}

impl Encode for HostPort {
    fn encode(&self, out: &mut Vec<u8>) {
        self.ip.encode(out);
        self.protocol.encode(out);
        out.extend_from_slice(&self.port.to_le_bytes());
    }
}

impl Decode for HostPort {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(HostPort {
            ip: reader.string()?,
            protocol: reader.string()?,
            port: reader.u16()?,
        })
    }
}

impl Encode for Usage {
    fn encode(&self, out: &mut Vec<u8>) {
        self.requested.encode(out);
        self.non_zero_requested.encode(out);
        self.host_ports.encode(out);
    }
}

impl Decode for Usage {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Usage {
            requested: Resources::decode(reader)?,
            non_zero_requested: Resources::decode(reader)?,
            host_ports: Vec::decode(reader)?,
        })
    }
}

impl Encode for Node {
    fn encode(&self, out: &mut Vec<u8>) {
        self.index.encode(out);
        self.name.encode(out);
        self.labels.encode(out);
        self.taints.encode(out);
        self.allocatable.encode(out);
        self.unschedulable.encode(out);
        self.usage.encode(out);
    }
}

impl Decode for Node {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Node {
            index: reader.u32()?,
            name: reader.string()?,
            labels: Vec::decode(reader)?,
            taints: Vec::decode(reader)?,
            allocatable: Resources::decode(reader)?,
            unschedulable: bool::decode(reader)?,
            usage: Usage::decode(reader)?,
        })
    }
}

impl Encode for PlacedPod {
    fn encode(&self, out: &mut Vec<u8>) {
        self.node.encode(out);
        self.namespace.encode(out);
        self.name.encode(out);
        self.labels.encode(out);
    }
}

impl Decode for PlacedPod {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PlacedPod {
            node: reader.u32()?,
            namespace: reader.string()?,
            name: reader.string()?,
            labels: Vec::decode(reader)?,
        })
    }
}

impl Encode for Change {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Change::UpsertNode(node) => {
                out.push(0);
                node.encode(out);
            }
            Change::RemoveNode(index) => {
                out.push(1);
                index.encode(out);
            }
            Change::NodeUsage(index, usage) => {
                out.push(2);
                index.encode(out);
                usage.encode(out);
            }
            Change::PodAdded(pod) => {
                out.push(3);
                pod.encode(out);
            }
            Change::PodRemoved(pod) => {
                out.push(4);
                pod.encode(out);
            }
        }
    }
}

impl Decode for Change {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match reader.u8()? {
            0 => Change::UpsertNode(Node::decode(reader)?),
            1 => Change::RemoveNode(reader.u32()?),
            2 => Change::NodeUsage(reader.u32()?, Usage::decode(reader)?),
            3 => Change::PodAdded(PlacedPod::decode(reader)?),
            4 => Change::PodRemoved(PlacedPod::decode(reader)?),
            _ => return Err(DecodeError),
        })
    }
}

impl Encode for Pod {
    fn encode(&self, out: &mut Vec<u8>) {
        self.uid.encode(out);
        self.namespace.encode(out);
        self.name.encode(out);
        self.labels.encode(out);
        self.requests.encode(out);
        self.non_zero_requests.encode(out);
        self.host_ports.encode(out);
        self.spec.encode(out);
        self.json.encode(out);
    }
}

impl Decode for Pod {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Pod {
            uid: reader.string()?,
            namespace: reader.string()?,
            name: reader.string()?,
            labels: Vec::decode(reader)?,
            requests: Resources::decode(reader)?,
            non_zero_requests: Resources::decode(reader)?,
            host_ports: Vec::decode(reader)?,
            spec: reader.string()?,
            json: reader.string()?,
        })
    }
}

impl Encode for Rejection {
    fn encode(&self, out: &mut Vec<u8>) {
        self.position.encode(out);
        self.reasons.encode(out);
    }
}

impl Decode for Rejection {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Rejection {
            position: reader.u32()?,
            reasons: Vec::decode(reader)?,
        })
    }
}

impl Encode for Filtered {
    fn encode(&self, out: &mut Vec<u8>) {
        self.rejections.encode(out);
        self.skip_score.encode(out);
    }
}

impl Decode for Filtered {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Filtered {
            rejections: Vec::decode(reader)?,
            skip_score: bool::decode(reader)?,
        })
    }
}

impl Encode for Registration {
    fn encode(&self, out: &mut Vec<u8>) {
        self.name.encode(out);
        self.filters.encode(out);
        self.scores.encode(out);
        self.wants_pods.encode(out);
        self.wants_usage.encode(out);
        self.wants_pod_json.encode(out);
    }
}

impl Decode for Registration {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Registration {
            name: reader.string()?,
            filters: bool::decode(reader)?,
            scores: bool::decode(reader)?,
            wants_pods: bool::decode(reader)?,
            wants_usage: bool::decode(reader)?,
            wants_pod_json: bool::decode(reader)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Node {
        Node {
            index: 7,
            name: "node-7".into(),
            labels: vec![("zone".into(), "a".into())],
            taints: vec![Taint {
                key: "gpu".into(),
                value: "true".into(),
                effect: "NoSchedule".into(),
            }],
            allocatable: Resources {
                milli_cpu: 4000,
                memory_bytes: 1 << 34,
                pods: 110,
            },
            unschedulable: true,
            usage: Usage {
                requested: Resources {
                    milli_cpu: 100,
                    memory_bytes: 1 << 20,
                    pods: 1,
                },
                non_zero_requested: Resources::default(),
                host_ports: vec![HostPort {
                    ip: "0.0.0.0".into(),
                    protocol: "TCP".into(),
                    port: 8080,
                }],
            },
        }
    }

    #[test]
    fn every_message_round_trips() {
        let placed = PlacedPod {
            node: 7,
            namespace: "default".into(),
            name: "web-1".into(),
            labels: vec![("app".into(), "web".into())],
        };
        let changes = vec![
            Change::UpsertNode(node()),
            Change::RemoveNode(3),
            Change::NodeUsage(7, node().usage),
            Change::PodAdded(placed.clone()),
            Change::PodRemoved(placed),
        ];
        assert_eq!(Vec::<Change>::from_bytes(&changes.to_bytes()), Ok(changes));
        let pod = Pod {
            uid: "u".into(),
            namespace: "default".into(),
            name: "p".into(),
            labels: vec![("a".into(), "b".into())],
            requests: node().allocatable,
            non_zero_requests: node().allocatable,
            host_ports: node().usage.host_ports,
            spec: "{}".into(),
            json: "{\"kind\":\"Pod\"}".into(),
        };
        assert_eq!(Pod::from_bytes(&pod.to_bytes()), Ok(pod));
        let filtered = Filtered {
            rejections: vec![Rejection {
                position: 2,
                reasons: vec!["Insufficient cpu".into(), "Insufficient memory".into()],
            }],
            skip_score: true,
        };
        assert_eq!(Filtered::from_bytes(&filtered.to_bytes()), Ok(filtered));
        let registration = Registration {
            name: "NodeResourcesFit".into(),
            filters: true,
            scores: true,
            wants_pods: false,
            wants_usage: true,
            wants_pod_json: true,
        };
        assert_eq!(
            Registration::from_bytes(&registration.to_bytes()),
            Ok(registration)
        );
    }

    #[test]
    fn quantities_parse_as_kubernetes_reads_them() {
        let cases: &[(&str, u64, Option<u64>)] = &[
            ("100m", 1000, Some(100)),
            ("1", 1000, Some(1000)),
            ("1.5", 1000, Some(1500)),
            ("0.0001", 1000, Some(1)),
            ("2Gi", 1, Some(2 << 30)),
            ("128Mi", 1, Some(128 << 20)),
            ("1k", 1, Some(1000)),
            ("1e3", 1, Some(1000)),
            ("1.5G", 1, Some(1_500_000_000)),
            ("", 1, None),
            ("-1", 1, None),
            ("10Qi", 1, None),
            ("abc", 1, None),
        ];
        for (text, scale, expected) in cases {
            assert_eq!(parse_quantity(text, *scale), *expected, "{text}");
        }
    }

    #[test]
    fn truncated_or_padded_messages_are_refused() {
        let bytes = vec![Change::UpsertNode(node())].to_bytes();
        for cut in 0..bytes.len() {
            assert_eq!(Vec::<Change>::from_bytes(&bytes[..cut]), Err(DecodeError));
        }
        let mut padded = bytes.clone();
        padded.push(0);
        assert_eq!(Vec::<Change>::from_bytes(&padded), Err(DecodeError));
        assert_eq!(
            Vec::<Change>::from_bytes(&[1, 0, 0, 0, 9]),
            Err(DecodeError)
        );
    }
}
