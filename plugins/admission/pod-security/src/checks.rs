//! The Pod Security Standards as checks (kube's
//! `pod-security-admission/policy`: `check_*.go`, `registry.go`).
//!
//! Each check has kube's ID, a level, and one revision per policy version
//! that changed it; [`evaluate`] runs, for a pod, the revision of each check
//! that a [`Policy`]'s version selects. The reasons and details are kube's,
//! word for word, because clients (and people) match on them.
//!
//! How a level and version select the checks, as kube's registry does:
//! - `privileged` runs nothing.
//! - `baseline` runs the baseline checks.
//! - `restricted` runs the baseline checks, less those a restricted check
//!   *overrides* (replaces with a stricter one), then the restricted checks.
//! - Within each level, checks run in the order of their IDs (byte order),
//!   so messages list them in that order. Containers are visited as init
//!   containers, containers, ephemeral containers.
//! - A version selects, per check, the newest revision at or below it; a
//!   check with none (newer than the version) does not run. `latest`, and a
//!   version past the newest revision of any check, select the newest.

use std::collections::BTreeSet;
use std::fmt;

use wharf_sdk::k8s_openapi::api::core::v1::{
    Container, ContainerPort, EphemeralContainer, Lifecycle, PodSpec, Probe, SecurityContext,
    Volume,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::policy::{Level, Policy, Version};

mod baseline;
mod restricted;
#[cfg(test)]
pub(crate) mod test_pods;
#[cfg(test)]
mod tests;

/// A check the pod failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    /// kube's check ID: `privileged`, `capabilities_restricted`, …
    pub id: &'static str,
    /// What is wrong, in a few words: `privileged`, `unrestricted capabilities`.
    pub forbidden_reason: String,
    /// Which parts of the pod, and what they must (not) set:
    /// `container "app" must not set securityContext.privileged=true`.
    pub forbidden_detail: String,
}

impl fmt::Display for CheckResult {
    /// `reason (detail)`, or the reason alone when there is no detail.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.forbidden_detail.is_empty() {
            f.write_str(&self.forbidden_reason)
        } else {
            write!(f, "{} ({})", self.forbidden_reason, self.forbidden_detail)
        }
    }
}

/// Runs the checks `policy` selects on a pod (its metadata and spec, or a
/// pod template's), and returns those it fails, in kube's order. Empty:
/// the pod meets the policy.
pub fn evaluate(policy: &Policy, metadata: &ObjectMeta, spec: &PodSpec) -> Vec<CheckResult> {
    if policy.level == Level::Privileged {
        return Vec::new();
    }
    let minor = match policy.version {
        Version::V1(minor) => minor.min(newest_policy_minor()),
        Version::Latest => newest_policy_minor(),
    };
    let select = |checks: &'static [Check]| {
        checks.iter().filter_map(move |check| {
            check
                .revision_at(minor)
                .map(|revision| (check.id, revision))
        })
    };
    let restricted_checks: Vec<(&str, &Revision)> = match policy.level {
        Level::Restricted => select(RESTRICTED_CHECKS).collect(),
        _ => Vec::new(),
    };
    let overridden: BTreeSet<&str> = restricted_checks
        .iter()
        .flat_map(|(_, revision)| revision.overrides.iter().copied())
        .collect();
    select(BASELINE_CHECKS)
        .filter(|(id, _)| !overridden.contains(id))
        .chain(restricted_checks)
        .filter_map(|(id, revision)| {
            (revision.check)(metadata, spec).map(|forbidden| CheckResult {
                id,
                forbidden_reason: forbidden.reason,
                forbidden_detail: forbidden.detail,
            })
        })
        .collect()
}

/// The failures as kube lists them in a message: `reason (detail), reason`.
pub fn forbidden_detail(failures: &[CheckResult]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The newest policy version any check has a revision for: what `latest`
/// means here (kube 1.37's checks: v1.37).
pub fn newest_policy_version() -> Version {
    Version::V1(newest_policy_minor())
}

fn newest_policy_minor() -> u32 {
    BASELINE_CHECKS
        .iter()
        .chain(RESTRICTED_CHECKS)
        .flat_map(|check| check.revisions.iter().map(|revision| revision.since_minor))
        .max()
        .unwrap_or(0)
}

/// One check: kube's ID and its revisions, oldest first.
struct Check {
    id: &'static str,
    revisions: &'static [Revision],
}

/// A check as it stands from policy version `v1.<since_minor>` on.
struct Revision {
    since_minor: u32,
    check: CheckFn,
    /// The baseline checks this (restricted) revision replaces.
    overrides: &'static [&'static str],
}

/// A check's verdict on a pod: `None` if it passes.
type CheckFn = fn(&ObjectMeta, &PodSpec) -> Option<Forbidden>;

struct Forbidden {
    reason: String,
    detail: String,
}

impl Check {
    fn revision_at(&self, minor: u32) -> Option<&'static Revision> {
        self.revisions
            .iter()
            .rev()
            .find(|revision| revision.since_minor <= minor)
    }
}

const fn since(since_minor: u32, check: CheckFn) -> Revision {
    Revision {
        since_minor,
        check,
        overrides: &[],
    }
}

const fn overriding(
    since_minor: u32,
    check: CheckFn,
    overrides: &'static [&'static str],
) -> Revision {
    Revision {
        since_minor,
        check,
        overrides,
    }
}

/// The baseline checks, in ID (byte) order: kube's message order.
const BASELINE_CHECKS: &[Check] = &[
    Check {
        id: "appArmorProfile",
        revisions: &[since(0, baseline::app_armor_profile)],
    },
    Check {
        id: "capabilities_baseline",
        revisions: &[since(0, baseline::capabilities_baseline)],
    },
    Check {
        id: "hostNamespaces",
        revisions: &[since(0, baseline::host_namespaces)],
    },
    Check {
        id: "hostPathVolumes",
        revisions: &[since(0, baseline::host_path_volumes)],
    },
    Check {
        id: "hostPorts",
        revisions: &[since(0, baseline::host_ports)],
    },
    Check {
        id: "hostProbesAndHostLifecycle",
        revisions: &[since(34, baseline::host_probes_and_host_lifecycle)],
    },
    Check {
        id: "privileged",
        revisions: &[since(0, baseline::privileged)],
    },
    Check {
        id: "procMount",
        revisions: &[
            since(0, baseline::proc_mount),
            since(35, baseline::proc_mount_unless_user_namespace),
        ],
    },
    Check {
        id: "seLinuxOptions",
        revisions: &[
            since(0, baseline::se_linux_options_1_0),
            since(31, baseline::se_linux_options_1_31),
        ],
    },
    Check {
        id: "seccompProfile_baseline",
        revisions: &[
            since(0, baseline::seccomp_profile_baseline_annotations),
            since(19, baseline::seccomp_profile_baseline),
        ],
    },
    Check {
        id: "sysctls",
        revisions: &[
            since(0, baseline::sysctls_1_0),
            since(27, baseline::sysctls_1_27),
            since(29, baseline::sysctls_1_29),
            since(32, baseline::sysctls_1_32),
            since(37, baseline::sysctls_1_37),
        ],
    },
    Check {
        id: "windowsHostProcess",
        revisions: &[since(0, baseline::windows_host_process)],
    },
];

/// The restricted checks, in ID (byte) order: kube's message order.
const RESTRICTED_CHECKS: &[Check] = &[
    Check {
        id: "allowPrivilegeEscalation",
        revisions: &[
            since(8, restricted::allow_privilege_escalation),
            since(25, restricted::allow_privilege_escalation_unless_windows),
        ],
    },
    Check {
        id: "capabilities_restricted",
        revisions: &[
            overriding(
                22,
                restricted::capabilities_restricted,
                &["capabilities_baseline"],
            ),
            overriding(
                25,
                restricted::capabilities_restricted_unless_windows,
                &["capabilities_baseline"],
            ),
        ],
    },
    // From v1.35 baseline's procMount lets user-namespaced pods be; restricted keeps the strict check.
    Check {
        id: "procMount_restricted",
        revisions: &[overriding(35, baseline::proc_mount, &["procMount"])],
    },
    Check {
        id: "restrictedVolumes",
        revisions: &[overriding(
            0,
            restricted::restricted_volumes,
            &["hostPathVolumes"],
        )],
    },
    Check {
        id: "runAsNonRoot",
        revisions: &[
            since(0, restricted::run_as_non_root),
            since(35, restricted::run_as_non_root_unless_user_namespace),
        ],
    },
    Check {
        id: "runAsUser",
        revisions: &[
            since(23, restricted::run_as_user),
            since(35, restricted::run_as_user_unless_user_namespace),
        ],
    },
    Check {
        id: "seccompProfile_restricted",
        revisions: &[
            overriding(
                19,
                restricted::seccomp_profile_restricted,
                &["seccompProfile_baseline"],
            ),
            overriding(
                25,
                restricted::seccomp_profile_restricted_unless_windows,
                &["seccompProfile_baseline"],
            ),
        ],
    },
];

// ---------------------------------------------------------------- helpers

/// What the checks read of a container, init container or ephemeral container.
struct ContainerView<'a> {
    name: &'a str,
    security_context: Option<&'a SecurityContext>,
    ports: &'a [ContainerPort],
    liveness_probe: Option<&'a Probe>,
    readiness_probe: Option<&'a Probe>,
    startup_probe: Option<&'a Probe>,
    lifecycle: Option<&'a Lifecycle>,
}

impl<'a> From<&'a Container> for ContainerView<'a> {
    fn from(c: &'a Container) -> Self {
        ContainerView {
            name: &c.name,
            security_context: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or_default(),
            liveness_probe: c.liveness_probe.as_ref(),
            readiness_probe: c.readiness_probe.as_ref(),
            startup_probe: c.startup_probe.as_ref(),
            lifecycle: c.lifecycle.as_ref(),
        }
    }
}

impl<'a> From<&'a EphemeralContainer> for ContainerView<'a> {
    fn from(c: &'a EphemeralContainer) -> Self {
        ContainerView {
            name: &c.name,
            security_context: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or_default(),
            liveness_probe: c.liveness_probe.as_ref(),
            readiness_probe: c.readiness_probe.as_ref(),
            startup_probe: c.startup_probe.as_ref(),
            lifecycle: c.lifecycle.as_ref(),
        }
    }
}

/// Every container of the pod, in kube's order: init containers,
/// containers, ephemeral containers.
fn containers(spec: &PodSpec) -> impl Iterator<Item = ContainerView<'_>> {
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .map(ContainerView::from);
    let regular = spec.containers.iter().map(ContainerView::from);
    let ephemeral = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(ContainerView::from);
    init.chain(regular).chain(ephemeral)
}

fn volumes(spec: &PodSpec) -> impl Iterator<Item = &Volume> {
    spec.volumes.iter().flatten()
}

fn annotations(metadata: &ObjectMeta) -> impl Iterator<Item = (&String, &String)> {
    metadata.annotations.iter().flatten()
}

fn pod_seccomp_type(spec: &PodSpec) -> Option<&str> {
    spec.security_context
        .as_ref()
        .and_then(|sc| sc.seccomp_profile.as_ref())
        .map(|p| p.type_.as_str())
}

fn container_seccomp_type<'a>(c: &ContainerView<'a>) -> Option<&'a str> {
    c.security_context
        .and_then(|sc| sc.seccomp_profile.as_ref())
        .map(|p| p.type_.as_str())
}

fn valid_seccomp(profile_type: &str) -> bool {
    matches!(profile_type, "RuntimeDefault" | "Localhost")
}

fn is_windows(spec: &PodSpec) -> bool {
    spec.os.as_ref().is_some_and(|os| os.name == "windows")
}

/// `hostUsers: false`: the pod runs in a user namespace of its own.
fn in_user_namespace(spec: &PodSpec) -> bool {
    spec.host_users == Some(false)
}

fn pluralize(singular: &'static str, plural: &'static str, count: usize) -> &'static str {
    if count == 1 { singular } else { plural }
}

/// `"a", "b"`, as kube's `joinQuote` (no escaping: names are DNS labels).
fn join_quote<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    items
        .into_iter()
        .map(|item| format!("\"{}\"", item.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `container "a"` or `containers "a", "b"`.
fn containers_phrase(names: &[&str]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}
