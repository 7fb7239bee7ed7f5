//! Container runtime drivers: the records the node agent exchanges with a
//! driver, and the C ABI of a driver built as a native shared library
//! (cdylib), loaded by the agent with `dlopen` (`wharf-native-runtime`).
//! Drivers written in Rust implement `wharf_sdk::runtime_driver::RuntimeDriver`
//! and let `export_runtime_driver!` generate the exports.
//!
//! # The C ABI, version [`RUNTIME_ABI_VERSION`]
//!
//! Records cross encoded with the [`crate::codec`]; strings as
//! [`WharfStr`](crate::WharfStr) (UTF-8, borrowed for the call only);
//! answers in a [`WharfBuf`](crate::WharfBuf) that the driver allocated and
//! only the driver frees: the host copies it, then hands it back to
//! `wharf_runtime_free_buf`. Every export that takes an `out` buffer leaves
//! it null or fills it exactly once. The exports ([`symbols`]), all
//! `extern "C"`:
//!
//! - `wharf_runtime_abi_version() -> u32`: [`RUNTIME_ABI_VERSION`]; the host
//!   refuses a library that answers anything else.
//! - `wharf_runtime_new(config: WharfStr, out_instance: *mut *mut c_void,
//!   out: *mut WharfBuf) -> u32`: `OK` with a driver instance in
//!   `*out_instance` and the driver's name (UTF-8, the scheme of its
//!   container IDs: `<name>://<id>`) in `*out`; else `*out_instance` is left
//!   alone and `*out` holds the message. `config` is the text the node agent
//!   was configured with for this driver (may be empty).
//! - `wharf_runtime_start(instance, spec: WharfStr, out) -> u32`: `spec` is
//!   an encoded [`StartSpec`]; `OK` with the new container's ID (UTF-8, unique
//!   for this driver) in `*out`.
//! - `wharf_runtime_state(instance, id: WharfStr, out) -> u32`: `OK` with an
//!   encoded [`ContainerState`] in `*out`.
//! - `wharf_runtime_signal(instance, id: WharfStr, signal: u32, out) -> u32`:
//!   `signal` is a [`Signal`] code ([`Signal::code`]); `OK` with a null `*out`.
//! - `wharf_runtime_remove(instance, id: WharfStr, out) -> u32`: forgets the
//!   container and frees what the driver keeps for it; `OK` with a null `*out`.
//! - `wharf_runtime_drop(instance)`: frees the instance; called once, after
//!   every other call on it has returned.
//! - `wharf_runtime_free_buf(buf)`: frees a buffer the driver returned; null
//!   is a no-op.
//!
//! `new`, `start`, `state`, `signal` and `remove` return
//! [`status::OK`](crate::status::OK), [`status::FAILED`](crate::status::FAILED) or
//! [`status::PANICKED`](crate::status::PANICKED), the last two with the
//! message in `*out`. No panic unwinds across the boundary.
//!
//! **Threads**: an instance may be called from several threads at once (a
//! slow `start` must not hold up `state`), so a driver is thread-safe. The
//! host never calls an instance after `drop`.
//!
//! **Trust**: a driver runs in the node agent's process with its
//! privileges; an abort or a segfault takes the agent down with it.

use crate::codec::{Decode, DecodeError, Encode, Reader};

/// The runtime driver ABI's version; a driver and a host must agree on it.
pub const RUNTIME_ABI_VERSION: u32 = 1;

/// The symbols a runtime driver library exports (see the module docs).
pub mod symbols {
    pub const ABI_VERSION: &[u8] = b"wharf_runtime_abi_version";
    pub const NEW: &[u8] = b"wharf_runtime_new";
    pub const START: &[u8] = b"wharf_runtime_start";
    pub const STATE: &[u8] = b"wharf_runtime_state";
    pub const SIGNAL: &[u8] = b"wharf_runtime_signal";
    pub const REMOVE: &[u8] = b"wharf_runtime_remove";
    pub const DROP: &[u8] = b"wharf_runtime_drop";
    pub const FREE_BUF: &[u8] = b"wharf_runtime_free_buf";
}

/// A host path made visible inside the container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mount {
    pub host_path: String,
    pub container_path: String,
    pub read_only: bool,
}

/// Everything a driver needs to start one container of a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StartSpec {
    pub pod_uid: String,
    pub pod_namespace: String,
    pub pod_name: String,
    /// The container's name in the pod.
    pub container: String,
    pub image: String,
    /// The program and its arguments, already merged (command + args) and
    /// expanded by the agent; empty when the driver supplies its own default
    /// (the image's entrypoint).
    pub argv: Vec<String>,
    /// The whole environment of the process, nothing inherited.
    pub env: Vec<(String, String)>,
    /// `None`: the driver's (or image's) default.
    pub working_dir: Option<String>,
    /// The driver appends the container's stdout and stderr to this file,
    /// creating it.
    pub log_path: String,
    /// The `ip netns` name (under `/var/run/netns`) to run in; `None`: the
    /// host's network.
    pub netns: Option<String>,
    pub memory_limit_bytes: Option<u64>,
    pub cpu_limit_millis: Option<u64>,
    pub mounts: Vec<Mount>,
}

/// What a driver knows of a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerState {
    /// Started and not yet exited; `pid` when the driver knows it (in the
    /// host's PID namespace).
    Running { pid: Option<u32> },
    /// Exited with `code` (128 + the signal number when a signal ended it).
    Exited { code: i32, oom_killed: bool },
    /// The driver does not know this ID: never started by it, removed, or
    /// lost when the driver restarted.
    Unknown,
}

/// A signal the agent sends to a container's processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: the graceful stop.
    Term,
    /// SIGKILL: after the grace period.
    Kill,
}

impl Signal {
    /// Its code across the ABI: 0 Term, 1 Kill.
    pub fn code(self) -> u32 {
        match self {
            Signal::Term => 0,
            Signal::Kill => 1,
        }
    }

    /// The signal of a code; `None` for a code this ABI version does not know.
    pub fn from_code(code: u32) -> Option<Signal> {
        match code {
            0 => Some(Signal::Term),
            1 => Some(Signal::Kill),
            _ => None,
        }
    }
}

impl Encode for Mount {
    fn encode(&self, out: &mut Vec<u8>) {
        self.host_path.encode(out);
        self.container_path.encode(out);
        self.read_only.encode(out);
    }
}

impl Decode for Mount {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Mount {
            host_path: reader.string()?,
            container_path: reader.string()?,
            read_only: bool::decode(reader)?,
        })
    }
}

impl Encode for StartSpec {
    fn encode(&self, out: &mut Vec<u8>) {
        self.pod_uid.encode(out);
        self.pod_namespace.encode(out);
        self.pod_name.encode(out);
        self.container.encode(out);
        self.image.encode(out);
        self.argv.encode(out);
        self.env.encode(out);
        self.working_dir.encode(out);
        self.log_path.encode(out);
        self.netns.encode(out);
        self.memory_limit_bytes.encode(out);
        self.cpu_limit_millis.encode(out);
        self.mounts.encode(out);
    }
}

impl Decode for StartSpec {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(StartSpec {
            pod_uid: reader.string()?,
            pod_namespace: reader.string()?,
            pod_name: reader.string()?,
            container: reader.string()?,
            image: reader.string()?,
            argv: Vec::decode(reader)?,
            env: Vec::decode(reader)?,
            working_dir: Option::decode(reader)?,
            log_path: reader.string()?,
            netns: Option::decode(reader)?,
            memory_limit_bytes: Option::decode(reader)?,
            cpu_limit_millis: Option::decode(reader)?,
            mounts: Vec::decode(reader)?,
        })
    }
}

impl Encode for ContainerState {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            ContainerState::Running { pid } => {
                out.push(0);
                pid.encode(out);
            }
            ContainerState::Exited { code, oom_killed } => {
                out.push(1);
                code.encode(out);
                oom_killed.encode(out);
            }
            ContainerState::Unknown => out.push(2),
        }
    }
}

impl Decode for ContainerState {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match reader.u8()? {
            0 => ContainerState::Running {
                pid: Option::decode(reader)?,
            },
            1 => ContainerState::Exited {
                code: i32::decode(reader)?,
                oom_killed: bool::decode(reader)?,
            },
            2 => ContainerState::Unknown,
            _ => return Err(DecodeError),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_spec() -> StartSpec {
        StartSpec {
            pod_uid: "0b6c-uid".into(),
            pod_namespace: "default".into(),
            pod_name: "web-1".into(),
            container: "nginx".into(),
            image: "nginx:1.27".into(),
            argv: vec!["sh".into(), "-c".into(), "echo héllo; exit 3".into()],
            env: vec![
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("EMPTY".into(), String::new()),
            ],
            working_dir: Some("/srv".into()),
            log_path: "/var/log/pods/default_web-1/nginx/0.log".into(),
            netns: Some("wharf-0b6c".into()),
            memory_limit_bytes: Some(128 << 20),
            cpu_limit_millis: Some(250),
            mounts: vec![
                Mount {
                    host_path: "/var/lib/wharf/volumes/a".into(),
                    container_path: "/data".into(),
                    read_only: false,
                },
                Mount {
                    host_path: "/etc/hosts".into(),
                    container_path: "/etc/hosts".into(),
                    read_only: true,
                },
            ],
        }
    }

    #[test]
    fn start_specs_round_trip_full_and_empty() {
        for spec in [full_spec(), StartSpec::default()] {
            assert_eq!(StartSpec::from_bytes(&spec.to_bytes()), Ok(spec));
        }
    }

    #[test]
    fn every_container_state_round_trips() {
        let states = [
            ContainerState::Running { pid: Some(4242) },
            ContainerState::Running { pid: None },
            ContainerState::Exited {
                code: 143,
                oom_killed: false,
            },
            ContainerState::Exited {
                code: -1,
                oom_killed: true,
            },
            ContainerState::Unknown,
        ];
        for state in states {
            assert_eq!(ContainerState::from_bytes(&state.to_bytes()), Ok(state));
        }
    }

    #[test]
    fn signals_round_trip_through_their_codes_and_unknown_codes_are_none() {
        for signal in [Signal::Term, Signal::Kill] {
            assert_eq!(Signal::from_code(signal.code()), Some(signal));
        }
        assert_eq!(Signal::from_code(9), None);
    }

    #[test]
    fn truncated_padded_or_mistagged_records_are_refused() {
        let bytes = full_spec().to_bytes();
        for cut in 0..bytes.len() {
            assert_eq!(
                StartSpec::from_bytes(&bytes[..cut]),
                Err(DecodeError),
                "cut at {cut}"
            );
        }
        let mut padded = bytes;
        padded.push(0);
        assert_eq!(StartSpec::from_bytes(&padded), Err(DecodeError));
        assert_eq!(ContainerState::from_bytes(&[3]), Err(DecodeError));
        // An option's tag is a bool: 0 or 1.
        assert_eq!(ContainerState::from_bytes(&[0, 2]), Err(DecodeError));
    }
}
