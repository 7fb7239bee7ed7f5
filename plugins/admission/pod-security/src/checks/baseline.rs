//! The baseline checks: known privilege escalations.

use std::collections::BTreeSet;

use wharf_sdk::k8s_openapi::api::core::v1::{
    Lifecycle, LifecycleHandler, PodSpec, Probe, SELinuxOptions,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{
    Forbidden, annotations, container_seccomp_type, containers, containers_phrase,
    in_user_namespace, join_quote, pluralize, pod_seccomp_type, valid_seccomp, volumes,
};
use crate::policy::go_quote;

const APP_ARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// appArmorProfile (v1.0+): the AppArmor profile, by field or by the
/// deprecated annotation, may only be the runtime's default or a localhost
/// profile.
pub(super) fn app_armor_profile(metadata: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let allowed_type = |profile_type: &str| matches!(profile_type, "RuntimeDefault" | "Localhost");
    let mut bad_setters = Vec::new();
    let mut bad_values = BTreeSet::new();
    if let Some(profile) = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.app_armor_profile.as_ref())
        && !allowed_type(&profile.type_)
    {
        bad_setters.push("pod".to_owned());
        bad_values.insert(profile.type_.clone());
    }
    let bad_containers: Vec<&str> = containers(spec)
        .filter(|c| {
            let Some(profile) = c
                .security_context
                .and_then(|sc| sc.app_armor_profile.as_ref())
            else {
                return false;
            };
            let bad = !allowed_type(&profile.type_);
            if bad {
                bad_values.insert(profile.type_.clone());
            }
            bad
        })
        .map(|c| c.name)
        .collect();
    if !bad_containers.is_empty() {
        bad_setters.push(containers_phrase(&bad_containers));
    }

    let allowed_annotation = |value: &str| {
        value.is_empty() || value == "runtime/default" || value.starts_with("localhost/")
    };
    let mut forbidden_annotations: Vec<String> = annotations(metadata)
        .filter(|(key, value)| {
            key.starts_with(APP_ARMOR_ANNOTATION_PREFIX) && !allowed_annotation(value)
        })
        .map(|(key, value)| format!("{key}={}", go_quote(value)))
        .collect();
    let mut bad_values: Vec<String> = bad_values.into_iter().collect();
    if !forbidden_annotations.is_empty() {
        forbidden_annotations.sort();
        bad_setters
            .push(pluralize("annotation", "annotations", forbidden_annotations.len()).to_owned());
        bad_values.append(&mut forbidden_annotations);
    }

    (!bad_setters.is_empty()).then(|| Forbidden {
        reason: pluralize(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            bad_values.len(),
        )
        .to_owned(),
        detail: format!(
            "{} must not set AppArmor profile type to {}",
            bad_setters.join(" and "),
            join_quote(&bad_values)
        ),
    })
}

/// The capabilities a baseline container may add: the container runtime's
/// default set, without NET_RAW.
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// capabilities_baseline (v1.0+): containers may add only default capabilities.
pub(super) fn capabilities_baseline(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut non_default = BTreeSet::new();
    let bad_containers: Vec<&str> = containers(spec)
        .filter(|c| {
            let Some(capabilities) = c.security_context.and_then(|sc| sc.capabilities.as_ref())
            else {
                return false;
            };
            let mut bad = false;
            for capability in capabilities.add.iter().flatten() {
                if !BASELINE_CAPABILITIES.contains(&capability.as_str()) {
                    bad = true;
                    non_default.insert(capability.as_str());
                }
            }
            bad
        })
        .map(|c| c.name)
        .collect();
    (!bad_containers.is_empty()).then(|| Forbidden {
        reason: "non-default capabilities".to_owned(),
        detail: format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&bad_containers),
            join_quote(&non_default)
        ),
    })
}

/// hostNamespaces (v1.0+): no host network, PID or IPC namespace.
pub(super) fn host_namespaces(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let shared: Vec<&str> = [
        (spec.host_network, "hostNetwork=true"),
        (spec.host_pid, "hostPID=true"),
        (spec.host_ipc, "hostIPC=true"),
    ]
    .into_iter()
    .filter(|(set, _)| *set == Some(true))
    .map(|(_, what)| what)
    .collect();
    (!shared.is_empty()).then(|| Forbidden {
        reason: "host namespaces".to_owned(),
        detail: shared.join(", "),
    })
}

/// hostPathVolumes (v1.0+): no hostPath volumes.
pub(super) fn host_path_volumes(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let host_volumes: Vec<&str> = volumes(spec)
        .filter(|volume| volume.host_path.is_some())
        .map(|volume| volume.name.as_str())
        .collect();
    (!host_volumes.is_empty()).then(|| Forbidden {
        reason: "hostPath volumes".to_owned(),
        detail: format!(
            "{} {}",
            pluralize("volume", "volumes", host_volumes.len()),
            join_quote(&host_volumes)
        ),
    })
}

/// hostPorts (v1.0+): no container port bound on the host.
pub(super) fn host_ports(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    // kube keeps the ports in a string set: sorted as text ("10000" < "80").
    let mut forbidden_ports = BTreeSet::new();
    let bad_containers: Vec<&str> = containers(spec)
        .filter(|c| {
            let mut bad = false;
            for port in c
                .ports
                .iter()
                .filter_map(|port| port.host_port)
                .filter(|port| *port != 0)
            {
                bad = true;
                forbidden_ports.insert(port.to_string());
            }
            bad
        })
        .map(|c| c.name)
        .collect();
    (!bad_containers.is_empty()).then(|| Forbidden {
        reason: "hostPort".to_owned(),
        detail: format!(
            "{} {} {} {}",
            containers_phrase(&bad_containers),
            pluralize("uses", "use", bad_containers.len()),
            pluralize("hostPort", "hostPorts", forbidden_ports.len()),
            forbidden_ports.into_iter().collect::<Vec<_>>().join(", ")
        ),
    })
}

/// hostProbesAndHostLifecycle (v1.34+): probes and lifecycle handlers may
/// not name a host (they would reach it from the node).
pub(super) fn host_probes_and_host_lifecycle(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad_containers = BTreeSet::new();
    let mut forbidden_hosts = BTreeSet::new();
    for c in containers(spec) {
        let probes = [c.liveness_probe, c.readiness_probe, c.startup_probe]
            .into_iter()
            .flatten();
        let probe_hosts = probes.flat_map(|probe: &Probe| {
            let http = probe
                .http_get
                .as_ref()
                .and_then(|action| action.host.as_deref());
            let tcp = probe
                .tcp_socket
                .as_ref()
                .and_then(|action| action.host.as_deref());
            [http, tcp]
        });
        let handlers = c
            .lifecycle
            .into_iter()
            .flat_map(|l: &Lifecycle| [l.post_start.as_ref(), l.pre_stop.as_ref()]);
        let handler_hosts = handlers.flatten().flat_map(|handler: &LifecycleHandler| {
            let http = handler
                .http_get
                .as_ref()
                .and_then(|action| action.host.as_deref());
            let tcp = handler
                .tcp_socket
                .as_ref()
                .and_then(|action| action.host.as_deref());
            [http, tcp]
        });
        for host in probe_hosts
            .chain(handler_hosts)
            .flatten()
            .filter(|host| !host.is_empty())
        {
            bad_containers.insert(c.name);
            forbidden_hosts.insert(host);
        }
    }
    (!bad_containers.is_empty()).then(|| Forbidden {
        reason: "probe or lifecycle host".to_owned(),
        detail: format!(
            "{} {} {} {} {}",
            pluralize("container", "containers", bad_containers.len()),
            join_quote(&bad_containers),
            pluralize("uses", "use", bad_containers.len()),
            pluralize(
                "probe or lifecycle host",
                "probe or lifecycle hosts",
                forbidden_hosts.len()
            ),
            join_quote(&forbidden_hosts)
        ),
    })
}

/// privileged (v1.0+): no privileged container.
pub(super) fn privileged(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let bad_containers: Vec<&str> = containers(spec)
        .filter(|c| c.security_context.and_then(|sc| sc.privileged) == Some(true))
        .map(|c| c.name)
        .collect();
    (!bad_containers.is_empty()).then(|| Forbidden {
        reason: "privileged".to_owned(),
        detail: format!(
            "{} must not set securityContext.privileged=true",
            containers_phrase(&bad_containers)
        ),
    })
}

/// procMount (v1.0+; restricted's procMount_restricted from v1.35): the
/// default /proc masks stay: procMount unset or `Default`.
pub(super) fn proc_mount(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut forbidden_types = BTreeSet::new();
    let bad_containers: Vec<&str> = containers(spec)
        .filter(
            |c| match c.security_context.and_then(|sc| sc.proc_mount.as_deref()) {
                Some(proc_mount) if proc_mount != "Default" => {
                    forbidden_types.insert(proc_mount);
                    true
                }
                _ => false,
            },
        )
        .map(|c| c.name)
        .collect();
    (!bad_containers.is_empty()).then(|| Forbidden {
        reason: "procMount".to_owned(),
        detail: format!(
            "{} must not set securityContext.procMount to {}",
            containers_phrase(&bad_containers),
            join_quote(&forbidden_types)
        ),
    })
}

/// procMount (v1.35+): as [`proc_mount`], but a pod in its own user
/// namespace (`hostUsers: false`) may unmask /proc.
pub(super) fn proc_mount_unless_user_namespace(
    metadata: &ObjectMeta,
    spec: &PodSpec,
) -> Option<Forbidden> {
    if in_user_namespace(spec) {
        None
    } else {
        proc_mount(metadata, spec)
    }
}

const SE_LINUX_TYPES_1_0: &[&str] = &["", "container_t", "container_init_t", "container_kvm_t"];
const SE_LINUX_TYPES_1_31: &[&str] = &[
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// seLinuxOptions (v1.0+): only the container types, and no user or role.
pub(super) fn se_linux_options_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    se_linux_options(spec, SE_LINUX_TYPES_1_0)
}

/// seLinuxOptions (v1.31+): container_engine_t joins the allowed types.
pub(super) fn se_linux_options_1_31(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    se_linux_options(spec, SE_LINUX_TYPES_1_31)
}

fn se_linux_options(spec: &PodSpec, allowed_types: &[&str]) -> Option<Forbidden> {
    let mut bad_types = BTreeSet::new();
    let (mut set_user, mut set_role) = (false, false);
    let mut valid = |options: &SELinuxOptions| {
        let mut valid = true;
        let selinux_type = options.type_.as_deref().unwrap_or("");
        if !allowed_types.contains(&selinux_type) {
            valid = false;
            bad_types.insert(selinux_type.to_owned());
        }
        if options.user.as_deref().is_some_and(|user| !user.is_empty()) {
            valid = false;
            set_user = true;
        }
        if options.role.as_deref().is_some_and(|role| !role.is_empty()) {
            valid = false;
            set_role = true;
        }
        valid
    };
    let mut bad_setters = Vec::new();
    if let Some(options) = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.se_linux_options.as_ref())
        && !valid(options)
    {
        bad_setters.push("pod".to_owned());
    }
    let bad_containers: Vec<&str> = containers(spec)
        .filter(|c| {
            c.security_context
                .and_then(|sc| sc.se_linux_options.as_ref())
                .is_some_and(|o| !valid(o))
        })
        .map(|c| c.name)
        .collect();
    if !bad_containers.is_empty() {
        bad_setters.push(containers_phrase(&bad_containers));
    }
    if bad_setters.is_empty() {
        return None;
    }
    let mut bad_data = Vec::new();
    if !bad_types.is_empty() {
        bad_data.push(format!(
            "{} {}",
            pluralize("type", "types", bad_types.len()),
            join_quote(&bad_types)
        ));
    }
    if set_user {
        bad_data.push("user may not be set".to_owned());
    }
    if set_role {
        bad_data.push("role may not be set".to_owned());
    }
    Some(Forbidden {
        reason: "seLinuxOptions".to_owned(),
        detail: format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            bad_setters.join(" and "),
            bad_data.join("; ")
        ),
    })
}

const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const SECCOMP_CONTAINER_ANNOTATION_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

/// seccompProfile_baseline (v1.0–v1.18): the alpha annotations may only
/// name the runtime's default or a localhost profile.
pub(super) fn seccomp_profile_baseline_annotations(
    metadata: &ObjectMeta,
    spec: &PodSpec,
) -> Option<Forbidden> {
    let valid = |value: &str| {
        value == "runtime/default" || value == "docker/default" || value.starts_with("localhost/")
    };
    let value_of = |key: &str| {
        metadata
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(key))
    };
    let mut forbidden = BTreeSet::new();
    if let Some(value) = value_of(SECCOMP_POD_ANNOTATION)
        && !valid(value)
    {
        forbidden.insert(format!("{SECCOMP_POD_ANNOTATION}={}", go_quote(value)));
    }
    for c in containers(spec) {
        let key = format!("{SECCOMP_CONTAINER_ANNOTATION_PREFIX}{}", c.name);
        if let Some(value) = value_of(&key)
            && !valid(value)
        {
            forbidden.insert(format!("{key}={}", go_quote(value)));
        }
    }
    (!forbidden.is_empty()).then(|| Forbidden {
        reason: "seccompProfile".to_owned(),
        detail: format!(
            "forbidden {} {}",
            pluralize("annotation", "annotations", forbidden.len()),
            forbidden.into_iter().collect::<Vec<_>>().join(", ")
        ),
    })
}

/// seccompProfile_baseline (v1.19+): a seccomp profile, where set, is the
/// runtime's default or a localhost profile (never `Unconfined`).
pub(super) fn seccomp_profile_baseline(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad_values = BTreeSet::new();
    let mut bad_setters = Vec::new();
    if let Some(profile_type) = pod_seccomp_type(spec)
        && !valid_seccomp(profile_type)
    {
        bad_setters.push("pod".to_owned());
        bad_values.insert(profile_type);
    }
    let bad_containers: Vec<&str> = containers(spec)
        .filter(|c| match container_seccomp_type(c) {
            Some(profile_type) if !valid_seccomp(profile_type) => {
                bad_values.insert(profile_type);
                true
            }
            _ => false,
        })
        .map(|c| c.name)
        .collect();
    if !bad_containers.is_empty() {
        bad_setters.push(containers_phrase(&bad_containers));
    }
    (!bad_setters.is_empty()).then(|| Forbidden {
        reason: "seccompProfile".to_owned(),
        detail: format!(
            "{} must not set securityContext.seccompProfile.type to {}",
            bad_setters.join(" and "),
            join_quote(&bad_values)
        ),
    })
}

/// The sysctls a baseline pod may set: those namespaced and isolated per
/// pod, by the policy version that first allowed them.
const SYSCTLS_1_0: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
];
const SYSCTLS_ADDED_1_27: &[&str] = &["net.ipv4.ip_local_reserved_ports"];
const SYSCTLS_ADDED_1_29: &[&str] = &[
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];
const SYSCTLS_ADDED_1_32: &[&str] = &["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"];
const SYSCTLS_ADDED_1_37: &[&str] = &[
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_notsent_lowat",
];

/// sysctls (v1.0+): only the safe sysctls.
pub(super) fn sysctls_1_0(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    sysctls(spec, &[SYSCTLS_1_0])
}

/// sysctls (v1.27+): net.ipv4.ip_local_reserved_ports is safe.
pub(super) fn sysctls_1_27(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    sysctls(spec, &[SYSCTLS_1_0, SYSCTLS_ADDED_1_27])
}

/// sysctls (v1.29+): the TCP keepalive and FIN timeout sysctls are safe.
pub(super) fn sysctls_1_29(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    sysctls(spec, &[SYSCTLS_1_0, SYSCTLS_ADDED_1_27, SYSCTLS_ADDED_1_29])
}

/// sysctls (v1.32+): the TCP buffer sizes are safe.
pub(super) fn sysctls_1_32(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    sysctls(
        spec,
        &[
            SYSCTLS_1_0,
            SYSCTLS_ADDED_1_27,
            SYSCTLS_ADDED_1_29,
            SYSCTLS_ADDED_1_32,
        ],
    )
}

/// sysctls (v1.37+): tcp_slow_start_after_idle and tcp_notsent_lowat are safe.
pub(super) fn sysctls_1_37(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    sysctls(
        spec,
        &[
            SYSCTLS_1_0,
            SYSCTLS_ADDED_1_27,
            SYSCTLS_ADDED_1_29,
            SYSCTLS_ADDED_1_32,
            SYSCTLS_ADDED_1_37,
        ],
    )
}

pub(super) fn sysctls(spec: &PodSpec, allowed: &[&[&str]]) -> Option<Forbidden> {
    let forbidden: Vec<&str> = spec
        .security_context
        .iter()
        .flat_map(|sc| sc.sysctls.iter().flatten())
        .map(|sysctl| sysctl.name.as_str())
        .filter(|name| !allowed.iter().any(|set| set.contains(name)))
        .collect();
    (!forbidden.is_empty()).then(|| Forbidden {
        reason: "forbidden sysctls".to_owned(),
        detail: forbidden.join(", "),
    })
}

/// windowsHostProcess (v1.0+): no Windows HostProcess pod or container.
pub(super) fn windows_host_process(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let pod_sets = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.windows_options.as_ref())
        .and_then(|options| options.host_process)
        == Some(true);
    let bad_containers: Vec<&str> = containers(spec)
        .filter(|c| {
            c.security_context
                .and_then(|sc| sc.windows_options.as_ref())
                .and_then(|options| options.host_process)
                == Some(true)
        })
        .map(|c| c.name)
        .collect();
    let mut setters = Vec::new();
    if pod_sets {
        setters.push("pod".to_owned());
    }
    if !bad_containers.is_empty() {
        setters.push(containers_phrase(&bad_containers));
    }
    (!setters.is_empty()).then(|| Forbidden {
        reason: "hostProcess".to_owned(),
        detail: format!(
            "{} must not set securityContext.windowsOptions.hostProcess=true",
            setters.join(" and ")
        ),
    })
}
