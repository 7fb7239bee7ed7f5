//! Levels, policy versions, and the namespace labels that choose them
//! (kube's `pod-security-admission/api`: `constants.go`, `helpers.go`).
//!
//! A namespace names a [`Policy`] — a [`Level`] at a [`Version`] — for each
//! of three modes: `enforce` rejects a pod, `warn` answers the client with a
//! warning, `audit` annotates the audit event. Labels it leaves out fall back
//! to the defaults (`privileged:latest` for all three, kube's default
//! configuration).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The prefix of every PodSecurity label and audit annotation.
pub const LABEL_PREFIX: &str = "pod-security.kubernetes.io/";
pub const ENFORCE_LEVEL_LABEL: &str = "pod-security.kubernetes.io/enforce";
pub const ENFORCE_VERSION_LABEL: &str = "pod-security.kubernetes.io/enforce-version";
pub const WARN_LEVEL_LABEL: &str = "pod-security.kubernetes.io/warn";
pub const WARN_VERSION_LABEL: &str = "pod-security.kubernetes.io/warn-version";
pub const AUDIT_LEVEL_LABEL: &str = "pod-security.kubernetes.io/audit";
pub const AUDIT_VERSION_LABEL: &str = "pod-security.kubernetes.io/audit-version";

/// A Pod Security Standard, ordered from the least to the most strict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// Unrestricted: no check runs.
    Privileged,
    /// Prevents known privilege escalations: the baseline checks.
    Baseline,
    /// Hardening best practice: the baseline checks (less those a
    /// restricted check replaces) and the restricted checks.
    Restricted,
}

impl Level {
    /// The label value: `privileged`, `baseline` or `restricted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = ParseLevelError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "privileged" => Ok(Level::Privileged),
            "baseline" => Ok(Level::Baseline),
            "restricted" => Ok(Level::Restricted),
            _ => Err(ParseLevelError),
        }
    }
}

/// A level value that is not one of the three; the text is kube's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseLevelError;

impl fmt::Display for ParseLevelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("must be one of privileged, baseline, restricted")
    }
}

impl std::error::Error for ParseLevelError {}

/// The version of the standards a namespace pins: `v1.N` (the checks as
/// Kubernetes 1.N had them) or `latest`, newer than any number.
///
/// Ordered as kube's `Version.Older`: by minor, and `latest` after all.
/// A version newer than the newest the checks know evaluates as that
/// newest, but keeps its own name in messages (`restricted:v1.99`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// `v1.N`, holding N. (kube reads N as a 64-bit integer; a minor past
    /// `u32::MAX` is an error here, which no real label meets.)
    V1(u32),
    /// `latest`: the newest checks this crate has.
    Latest,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::V1(minor) => write!(f, "v1.{minor}"),
            Version::Latest => f.write_str("latest"),
        }
    }
}

impl FromStr for Version {
    type Err = ParseVersionError;

    /// `latest`, or `v1.` and a minor without leading zeros (kube's
    /// `^v1\.([0-9]|[1-9][0-9]*)$`).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if value == "latest" {
            return Ok(Version::Latest);
        }
        let minor = value.strip_prefix("v1.").ok_or(ParseVersionError)?;
        let digits_only = !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit());
        let leading_zero = minor.len() > 1 && minor.starts_with('0');
        if !digits_only || leading_zero {
            return Err(ParseVersionError);
        }
        minor
            .parse()
            .map(Version::V1)
            .map_err(|_| ParseVersionError)
    }
}

/// A version value that is neither `latest` nor `v1.N`; the text is kube's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseVersionError;

impl fmt::Display for ParseVersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"must be "latest" or "v1.x""#)
    }
}

impl std::error::Error for ParseVersionError {}

/// A level at a version: what one mode of a namespace evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Policy {
    pub level: Level,
    pub version: Version,
}

impl Policy {
    pub fn new(level: Level, version: Version) -> Policy {
        Policy { level, version }
    }
}

impl Default for Policy {
    /// `privileged:latest`, kube's default for every mode.
    fn default() -> Policy {
        Policy::new(Level::Privileged, Version::Latest)
    }
}

impl fmt::Display for Policy {
    /// `restricted:latest`, `baseline:v1.30`: as kube names it in messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.level, self.version)
    }
}

/// The policy of each mode of one namespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NamespacePolicy {
    /// Pods that fail it are rejected.
    pub enforce: Policy,
    /// Requests whose pod (or pod template) fails it get a warning.
    pub warn: Policy,
    /// Requests whose pod (or pod template) fails it get an audit annotation.
    pub audit: Policy,
}

impl NamespacePolicy {
    /// Reads a namespace's labels (kube's `PolicyToEvaluate`); a label left
    /// out keeps its value from `defaults`.
    ///
    /// An invalid value is an error, yet the error still carries the
    /// policy kube evaluates ([`InvalidLabels::policy`]): an invalid
    /// `enforce` level counts as `restricted` (fail closed), an invalid
    /// `warn` or `audit` level as `privileged` (fail open), an invalid
    /// version as `latest`. kube admits pods against that policy and
    /// records the error in the audit event; it rejects a namespace create
    /// with invalid labels, and an update that changes them to invalid ones.
    pub fn from_labels(
        labels: &BTreeMap<String, String>,
        defaults: &NamespacePolicy,
    ) -> Result<NamespacePolicy, InvalidLabels> {
        let mut policy = *defaults;
        let mut errors = Vec::new();
        // kube's order: enforce, enforce-version, audit, audit-version, warn, warn-version.
        let modes = [
            (
                ENFORCE_LEVEL_LABEL,
                ENFORCE_VERSION_LABEL,
                Level::Restricted,
                &mut policy.enforce,
            ),
            (
                AUDIT_LEVEL_LABEL,
                AUDIT_VERSION_LABEL,
                Level::Privileged,
                &mut policy.audit,
            ),
            (
                WARN_LEVEL_LABEL,
                WARN_VERSION_LABEL,
                Level::Privileged,
                &mut policy.warn,
            ),
        ];
        for (level_label, version_label, invalid_level_means, mode) in modes {
            if let Some(value) = labels.get(level_label) {
                mode.level = value.parse().unwrap_or_else(|_| {
                    errors.push(InvalidLabel::Level {
                        label: level_label,
                        value: value.clone(),
                    });
                    invalid_level_means
                });
            }
            if let Some(value) = labels.get(version_label) {
                mode.version = value.parse().unwrap_or_else(|_| {
                    errors.push(InvalidLabel::Version {
                        label: version_label,
                        value: value.clone(),
                    });
                    Version::Latest
                });
            }
        }
        if errors.is_empty() {
            Ok(policy)
        } else {
            Err(InvalidLabels { policy, errors })
        }
    }

    /// Whether every mode is `privileged`: nothing to check (any version).
    pub fn is_fully_privileged(&self) -> bool {
        [self.enforce, self.warn, self.audit]
            .iter()
            .all(|p| p.level == Level::Privileged)
    }
}

/// One PodSecurity label with a value kube does not accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvalidLabel {
    /// `enforce`, `warn` or `audit` set to something other than a level.
    Level { label: &'static str, value: String },
    /// A `*-version` label that is neither `latest` nor `v1.N`.
    Version { label: &'static str, value: String },
}

impl fmt::Display for InvalidLabel {
    /// kube's field error: `metadata.labels[pod-security.kubernetes.io/enforce]:
    /// Invalid value: "strict": must be one of privileged, baseline, restricted`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (label, value, reason): (_, _, &dyn fmt::Display) = match self {
            InvalidLabel::Level { label, value } => (label, value, &ParseLevelError),
            InvalidLabel::Version { label, value } => (label, value, &ParseVersionError),
        };
        write!(
            f,
            "metadata.labels[{label}]: Invalid value: {}: {reason}",
            go_quote(value)
        )
    }
}

/// The invalid PodSecurity labels of a namespace, and the policy kube
/// evaluates its pods against regardless (see
/// [`NamespacePolicy::from_labels`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidLabels {
    pub policy: NamespacePolicy,
    /// In kube's order; never empty.
    pub errors: Vec<InvalidLabel>,
}

impl fmt::Display for InvalidLabels {
    /// As kube's aggregate error: the one error, or `[first, second]`
    /// (repeated messages once).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut messages: Vec<String> = Vec::new();
        for error in &self.errors {
            let message = error.to_string();
            if !messages.contains(&message) {
                messages.push(message);
            }
        }
        match messages.as_slice() {
            [one] => f.write_str(one),
            many => write!(f, "[{}]", many.join(", ")),
        }
    }
}

impl std::error::Error for InvalidLabels {}

/// A string as Go's `%q` prints it, for the printable ASCII and common
/// escapes label and annotation values hold.
pub(crate) fn go_quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                quoted.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn policy(level: Level, version: Version) -> Policy {
        Policy::new(level, version)
    }

    #[test]
    fn versions_parse_as_kube_reads_them() {
        let cases: &[(&str, Result<Version, ParseVersionError>)] = &[
            ("latest", Ok(Version::Latest)),
            ("v1.0", Ok(Version::V1(0))),
            ("v1.25", Ok(Version::V1(25))),
            ("v1.100", Ok(Version::V1(100))),
            ("v1.025", Err(ParseVersionError)),
            ("v1.", Err(ParseVersionError)),
            ("v1.2a", Err(ParseVersionError)),
            ("v1.-1", Err(ParseVersionError)),
            ("v2.0", Err(ParseVersionError)),
            ("1.25", Err(ParseVersionError)),
            ("Latest", Err(ParseVersionError)),
            ("", Err(ParseVersionError)),
        ];
        for (value, want) in cases {
            assert_eq!(value.parse::<Version>(), *want, "{value:?}");
        }
    }

    #[test]
    fn latest_is_newer_than_any_numbered_version() {
        assert!(Version::V1(0) < Version::V1(25));
        assert!(Version::V1(u32::MAX) < Version::Latest);
    }

    #[test]
    fn levels_parse_only_their_three_names() {
        assert_eq!("baseline".parse(), Ok(Level::Baseline));
        assert_eq!("Baseline".parse::<Level>(), Err(ParseLevelError));
        assert_eq!(
            ParseLevelError.to_string(),
            "must be one of privileged, baseline, restricted"
        );
    }

    #[test]
    fn a_policy_prints_as_level_colon_version() {
        assert_eq!(
            policy(Level::Restricted, Version::Latest).to_string(),
            "restricted:latest"
        );
        assert_eq!(
            policy(Level::Baseline, Version::V1(30)).to_string(),
            "baseline:v1.30"
        );
    }

    #[test]
    fn namespace_labels_choose_each_mode_and_missing_ones_keep_the_defaults() {
        let defaults = NamespacePolicy {
            audit: policy(Level::Baseline, Version::V1(30)),
            ..NamespacePolicy::default()
        };
        let cases: Vec<(&str, BTreeMap<String, String>, NamespacePolicy)> = vec![
            ("no labels", labels(&[]), defaults),
            (
                "every label",
                labels(&[
                    (ENFORCE_LEVEL_LABEL, "baseline"),
                    (ENFORCE_VERSION_LABEL, "v1.29"),
                    (WARN_LEVEL_LABEL, "restricted"),
                    (WARN_VERSION_LABEL, "latest"),
                    (AUDIT_LEVEL_LABEL, "restricted"),
                    (AUDIT_VERSION_LABEL, "v1.31"),
                ]),
                NamespacePolicy {
                    enforce: policy(Level::Baseline, Version::V1(29)),
                    warn: policy(Level::Restricted, Version::Latest),
                    audit: policy(Level::Restricted, Version::V1(31)),
                },
            ),
            (
                "a version without its level",
                labels(&[(ENFORCE_VERSION_LABEL, "v1.20"), ("app", "web")]),
                NamespacePolicy {
                    enforce: policy(Level::Privileged, Version::V1(20)),
                    ..defaults
                },
            ),
        ];
        for (name, labels, want) in cases {
            assert_eq!(
                NamespacePolicy::from_labels(&labels, &defaults),
                Ok(want),
                "{name}"
            );
        }
    }

    #[test]
    fn an_invalid_enforce_level_enforces_restricted_and_is_an_error() {
        let labels = labels(&[
            (ENFORCE_LEVEL_LABEL, "strict"),
            (WARN_LEVEL_LABEL, "baseline"),
        ]);
        let invalid =
            NamespacePolicy::from_labels(&labels, &NamespacePolicy::default()).unwrap_err();
        assert_eq!(
            invalid.policy,
            NamespacePolicy {
                enforce: policy(Level::Restricted, Version::Latest),
                warn: policy(Level::Baseline, Version::Latest),
                audit: Policy::default(),
            }
        );
        assert_eq!(
            invalid.to_string(),
            r#"metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted"#
        );
    }

    #[test]
    fn invalid_warn_and_audit_levels_fail_open_and_invalid_versions_mean_latest() {
        let labels = labels(&[
            (ENFORCE_LEVEL_LABEL, "baseline"),
            (ENFORCE_VERSION_LABEL, "1.30"),
            (WARN_LEVEL_LABEL, "loud"),
            (AUDIT_LEVEL_LABEL, ""),
        ]);
        let defaults = NamespacePolicy {
            warn: policy(Level::Restricted, Version::V1(30)),
            audit: policy(Level::Restricted, Version::V1(30)),
            ..NamespacePolicy::default()
        };
        let invalid = NamespacePolicy::from_labels(&labels, &defaults).unwrap_err();
        assert_eq!(
            invalid.policy,
            NamespacePolicy {
                enforce: policy(Level::Baseline, Version::Latest),
                warn: policy(Level::Privileged, Version::V1(30)),
                audit: policy(Level::Privileged, Version::V1(30)),
            }
        );
        assert_eq!(
            invalid.to_string(),
            concat!(
                r#"[metadata.labels[pod-security.kubernetes.io/enforce-version]: Invalid value: "1.30": must be "latest" or "v1.x", "#,
                r#"metadata.labels[pod-security.kubernetes.io/audit]: Invalid value: "": must be one of privileged, baseline, restricted, "#,
                r#"metadata.labels[pod-security.kubernetes.io/warn]: Invalid value: "loud": must be one of privileged, baseline, restricted]"#,
            )
        );
    }

    #[test]
    fn a_namespace_is_fully_privileged_only_when_every_mode_is() {
        let mut namespace = NamespacePolicy::default();
        assert!(namespace.is_fully_privileged());
        namespace.audit.level = Level::Baseline;
        assert!(!namespace.is_fully_privileged());
    }

    #[test]
    fn values_are_quoted_as_go_quotes_them() {
        assert_eq!(go_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(go_quote("tab\there\u{1}"), r#""tab\there\x01""#);
    }
}
