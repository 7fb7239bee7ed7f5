//! What kube's PodSecurity admission answers for one request (kube's
//! `pod-security-admission/admission/admission.go`, `EvaluatePod`).
//!
//! A Pod is checked against all three modes of its namespace: failing
//! `enforce` rejects it, failing `audit` annotates the audit event, and
//! failing `warn` — if it was not rejected — adds a warning. A workload's
//! pod template is checked against `warn` and `audit` only: it is never
//! rejected (its pods will be, when they are created).
//!
//! Not here, for the host to do as kube does: exemptions (namespaces,
//! users, runtime classes, from the admission configuration); skipping pod
//! subresources other than `ephemeralcontainers` (and workload
//! subresources); skipping pod updates that are not
//! [significant](is_significant_pod_update); rejecting a namespace create
//! with invalid labels (422, the [`InvalidLabels`] text).

use std::collections::BTreeMap;

use wharf_sdk::k8s_openapi::api::core::v1::{Container, EphemeralContainer, Pod, PodSpec};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::checks::{CheckResult, evaluate, forbidden_detail};
use crate::policy::{InvalidLabels, Level, NamespacePolicy, Policy, Version};

/// The audit annotation a failed `audit` policy sets; its value is the
/// [`warning`] text.
pub const AUDIT_VIOLATIONS_ANNOTATION: &str = "pod-security.kubernetes.io/audit-violations";
/// The audit annotation naming the `enforce` policy a Pod was checked
/// against (`restricted:latest`).
pub const ENFORCE_POLICY_ANNOTATION: &str = "pod-security.kubernetes.io/enforce-policy";
/// The audit annotation that records invalid namespace labels.
pub const ERROR_ANNOTATION: &str = "pod-security.kubernetes.io/error";

/// Why `enforce` rejects a Pod: `violates PodSecurity "restricted:latest":
/// allowPrivilegeEscalation != false (container "app" must set …), …`.
///
/// kube sends it as a Forbidden status (403, reason `Forbidden`) whose
/// message is `pods "<name>" is forbidden: ` and this.
pub fn denial(policy: &Policy, failures: &[CheckResult]) -> String {
    format!(
        "violates PodSecurity \"{policy}\": {}",
        forbidden_detail(failures)
    )
}

/// The text of a `warn` warning, and of the `audit` annotation, for a Pod
/// or a workload's pod template: `would violate PodSecurity
/// "restricted:latest": …`.
pub fn warning(policy: &Policy, failures: &[CheckResult]) -> String {
    format!(
        "would violate PodSecurity \"{policy}\": {}",
        forbidden_detail(failures)
    )
}

/// kube's answer to one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Review {
    /// `Some` when `enforce` rejects the Pod: the [`denial`] text.
    pub denial: Option<String>,
    /// Warnings for the client (none when the request is rejected).
    pub warnings: Vec<String>,
    /// Audit annotations, by their full keys.
    pub audit_annotations: BTreeMap<String, String>,
}

/// Reviews a Pod create (or significant update) in a namespace whose labels
/// gave `namespace` ([`NamespacePolicy::from_labels`]).
pub fn review_pod(
    namespace: &Result<NamespacePolicy, InvalidLabels>,
    metadata: &ObjectMeta,
    spec: &PodSpec,
) -> Review {
    if let Ok(policy) = namespace
        && policy.is_fully_privileged()
    {
        let privileged = Policy::new(Level::Privileged, Version::Latest);
        return Review {
            audit_annotations: [(ENFORCE_POLICY_ANNOTATION.to_owned(), privileged.to_string())]
                .into(),
            ..Review::default()
        };
    }
    review(namespace, metadata, spec, Mode::EnforceWarnAudit)
}

/// Reviews a workload's pod template ([`crate::workloads::pod_spec_of`]):
/// warnings and audit annotations, never a denial.
pub fn review_workload(
    namespace: &Result<NamespacePolicy, InvalidLabels>,
    metadata: &ObjectMeta,
    spec: &PodSpec,
) -> Review {
    if let Ok(policy) = namespace
        && policy.warn.level == Level::Privileged
        && policy.audit.level == Level::Privileged
    {
        return Review::default();
    }
    review(namespace, metadata, spec, Mode::WarnAudit)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    EnforceWarnAudit,
    WarnAudit,
}

fn review(
    namespace: &Result<NamespacePolicy, InvalidLabels>,
    metadata: &ObjectMeta,
    spec: &PodSpec,
    mode: Mode,
) -> Review {
    let (policy, invalid) = match namespace {
        Ok(policy) => (policy, None),
        Err(invalid) => (&invalid.policy, Some(invalid)),
    };
    let mut review = Review::default();
    if let Some(invalid) = invalid {
        review.audit_annotations.insert(
            ERROR_ANNOTATION.to_owned(),
            format!("Failed to parse policy: {invalid}"),
        );
    }
    // Modes that share a policy share its evaluation, as kube's cache does.
    let mut evaluated: Vec<(Policy, Vec<CheckResult>)> = Vec::new();
    let mut failures_of = |policy: &Policy| -> Vec<CheckResult> {
        if let Some((_, failures)) = evaluated.iter().find(|(p, _)| p == policy) {
            return failures.clone();
        }
        let failures = evaluate(policy, metadata, spec);
        evaluated.push((*policy, failures.clone()));
        failures
    };

    if mode == Mode::EnforceWarnAudit {
        review.audit_annotations.insert(
            ENFORCE_POLICY_ANNOTATION.to_owned(),
            policy.enforce.to_string(),
        );
        let failures = failures_of(&policy.enforce);
        if !failures.is_empty() {
            review.denial = Some(denial(&policy.enforce, &failures));
        }
    }
    let failures = failures_of(&policy.audit);
    if !failures.is_empty() {
        review.audit_annotations.insert(
            AUDIT_VIOLATIONS_ANNOTATION.to_owned(),
            warning(&policy.audit, &failures),
        );
    }
    if review.denial.is_none() {
        let failures = failures_of(&policy.warn);
        if !failures.is_empty() {
            review.warnings.push(warning(&policy.warn, &failures));
        }
    }
    review
}

/// Whether a Pod update changes anything the checks could object to
/// (kube's `isSignificantPodUpdate`): the number of containers or init
/// containers, an image, a container's seccomp annotation, or an ephemeral
/// container added or changed. Other updates are admitted unchecked:
/// the API server lets nothing else the checks read change on a Pod.
pub fn is_significant_pod_update(pod: &Pod, old_pod: &Pod) -> bool {
    let empty = PodSpec::default();
    let (spec, old_spec) = (
        pod.spec.as_ref().unwrap_or(&empty),
        old_pod.spec.as_ref().unwrap_or(&empty),
    );
    let no_annotations = BTreeMap::new();
    let annotations = pod.metadata.annotations.as_ref().unwrap_or(&no_annotations);
    let old_annotations = old_pod
        .metadata
        .annotations
        .as_ref()
        .unwrap_or(&no_annotations);
    let significant = |name: &str, image: Option<&String>, old_image: Option<&String>| {
        let seccomp = format!("container.seccomp.security.alpha.kubernetes.io/{name}");
        image.map_or("", String::as_str) != old_image.map_or("", String::as_str)
            || annotations.get(&seccomp) != old_annotations.get(&seccomp)
    };
    let pairs = |new: &[Container], old: &[Container]| -> bool {
        new.len() != old.len()
            || new
                .iter()
                .zip(old)
                .any(|(c, o)| significant(&c.name, c.image.as_ref(), o.image.as_ref()))
    };
    let init = spec.init_containers.as_deref().unwrap_or_default();
    let old_init = old_spec.init_containers.as_deref().unwrap_or_default();
    if pairs(&spec.containers, &old_spec.containers) || pairs(init, old_init) {
        return true;
    }
    let old_ephemeral: &[EphemeralContainer] =
        old_spec.ephemeral_containers.as_deref().unwrap_or_default();
    spec.ephemeral_containers.iter().flatten().any(|c| {
        match old_ephemeral.iter().find(|o| o.name == c.name) {
            None => true,
            Some(o) => significant(&c.name, c.image.as_ref(), o.image.as_ref()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::test_pods::{pod, restricted_pod};
    use crate::policy::{ENFORCE_LEVEL_LABEL, NamespacePolicy, WARN_LEVEL_LABEL};

    fn namespace(
        enforce: Level,
        warn: Level,
        audit: Level,
    ) -> Result<NamespacePolicy, InvalidLabels> {
        Ok(NamespacePolicy {
            enforce: Policy::new(enforce, Version::Latest),
            warn: Policy::new(warn, Version::Latest),
            audit: Policy::new(audit, Version::Latest),
        })
    }

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const PRIVILEGED_APP_IN_RESTRICTED: &str = concat!(
        r#"privileged (container "app" must not set securityContext.privileged=true), "#,
        r#"allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), "#,
        r#"unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), "#,
        r#"runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), "#,
        r#"seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#,
    );

    #[test]
    fn a_privileged_pod_in_a_restricted_namespace_is_denied_with_kubes_full_message() {
        let test_pod = pod().privileged("app");
        let (metadata, spec) = test_pod.build();
        let policy = Policy::new(Level::Restricted, Version::Latest);
        assert_eq!(
            denial(&policy, &evaluate(&policy, metadata, spec)),
            format!(r#"violates PodSecurity "restricted:latest": {PRIVILEGED_APP_IN_RESTRICTED}"#)
        );
    }

    #[test]
    fn a_privileged_pod_in_a_baseline_namespace_is_denied_with_kubes_full_message() {
        let test_pod = pod().privileged("app");
        let (metadata, spec) = test_pod.build();
        let policy = Policy::new(Level::Baseline, Version::V1(30));
        assert_eq!(
            denial(&policy, &evaluate(&policy, metadata, spec)),
            r#"violates PodSecurity "baseline:v1.30": privileged (container "app" must not set securityContext.privileged=true)"#
        );
    }

    #[test]
    fn a_pod_without_a_security_context_in_a_restricted_namespace_is_denied_for_four_reasons() {
        let test_pod = pod().container("app");
        let (metadata, spec) = test_pod.build();
        let policy = Policy::new(Level::Restricted, Version::Latest);
        assert_eq!(
            denial(&policy, &evaluate(&policy, metadata, spec)),
            concat!(
                r#"violates PodSecurity "restricted:latest": "#,
                r#"allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), "#,
                r#"unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), "#,
                r#"runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), "#,
                r#"seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#,
            )
        );
    }

    #[test]
    fn a_pod_that_meets_restricted_is_admitted_quietly_in_a_restricted_namespace() {
        let test_pod = restricted_pod();
        let (metadata, spec) = test_pod.build();
        let review = review_pod(
            &namespace(Level::Restricted, Level::Restricted, Level::Restricted),
            metadata,
            spec,
        );
        assert_eq!(
            review,
            Review {
                denial: None,
                warnings: vec![],
                audit_annotations: annotations(&[(ENFORCE_POLICY_ANNOTATION, "restricted:latest")]),
            }
        );
    }

    #[test]
    fn pods_get_kubes_denial_warnings_and_audit_annotations_per_mode() {
        use Level::{Baseline, Privileged, Restricted};
        let privileged_app = pod().privileged("app");
        let baseline_warning = r#"would violate PodSecurity "baseline:latest": privileged (container "app" must not set securityContext.privileged=true)"#;
        let restricted_warning = format!(
            r#"would violate PodSecurity "restricted:latest": {PRIVILEGED_APP_IN_RESTRICTED}"#
        );
        let cases = vec![
            (
                "enforce restricted: denied, audited, no warning",
                namespace(Restricted, Restricted, Restricted),
                Review {
                    denial: Some(format!(
                        r#"violates PodSecurity "restricted:latest": {PRIVILEGED_APP_IN_RESTRICTED}"#
                    )),
                    warnings: vec![],
                    audit_annotations: annotations(&[
                        (AUDIT_VIOLATIONS_ANNOTATION, &restricted_warning),
                        (ENFORCE_POLICY_ANNOTATION, "restricted:latest"),
                    ]),
                },
            ),
            (
                "warn baseline: admitted with a warning",
                namespace(Privileged, Baseline, Privileged),
                Review {
                    denial: None,
                    warnings: vec![baseline_warning.to_owned()],
                    audit_annotations: annotations(&[(
                        ENFORCE_POLICY_ANNOTATION,
                        "privileged:latest",
                    )]),
                },
            ),
            (
                "audit baseline: admitted, audited",
                namespace(Privileged, Privileged, Baseline),
                Review {
                    denial: None,
                    warnings: vec![],
                    audit_annotations: annotations(&[
                        (AUDIT_VIOLATIONS_ANNOTATION, baseline_warning),
                        (ENFORCE_POLICY_ANNOTATION, "privileged:latest"),
                    ]),
                },
            ),
            (
                "everything privileged: nothing checked",
                namespace(Privileged, Privileged, Privileged),
                Review {
                    audit_annotations: annotations(&[(
                        ENFORCE_POLICY_ANNOTATION,
                        "privileged:latest",
                    )]),
                    ..Review::default()
                },
            ),
        ];
        let (metadata, spec) = privileged_app.build();
        for (name, namespace, want) in cases {
            assert_eq!(review_pod(&namespace, metadata, spec), want, "{name}");
        }
    }

    #[test]
    fn workloads_are_warned_and_audited_but_never_denied() {
        let test_pod = pod().privileged("app");
        let (metadata, spec) = test_pod.build();
        let review = review_workload(
            &namespace(Level::Restricted, Level::Baseline, Level::Privileged),
            metadata,
            spec,
        );
        assert_eq!(
            review,
            Review {
                denial: None,
                warnings: vec![
                    r#"would violate PodSecurity "baseline:latest": privileged (container "app" must not set securityContext.privileged=true)"#
                        .to_owned()
                ],
                audit_annotations: BTreeMap::new(),
            }
        );
        let quiet = namespace(Level::Restricted, Level::Privileged, Level::Privileged);
        assert_eq!(review_workload(&quiet, metadata, spec), Review::default());
    }

    #[test]
    fn invalid_namespace_labels_enforce_restricted_and_record_the_error() {
        let labels: BTreeMap<String, String> = [
            (ENFORCE_LEVEL_LABEL, "strict"),
            (WARN_LEVEL_LABEL, "baseline"),
        ]
        .map(|(k, v)| (k.into(), v.into()))
        .into();
        let namespace = NamespacePolicy::from_labels(&labels, &NamespacePolicy::default());
        let test_pod = pod().container("app");
        let (metadata, spec) = test_pod.build();
        let review = review_pod(&namespace, metadata, spec);
        assert!(
            review.denial.unwrap().starts_with(
                r#"violates PodSecurity "restricted:latest": allowPrivilegeEscalation"#
            )
        );
        assert_eq!(review.warnings, Vec::<String>::new());
        assert_eq!(
            review.audit_annotations,
            annotations(&[
                (ENFORCE_POLICY_ANNOTATION, "restricted:latest"),
                (
                    ERROR_ANNOTATION,
                    r#"Failed to parse policy: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted"#
                ),
            ])
        );
    }

    #[test]
    fn only_updates_that_change_what_the_checks_read_are_significant() {
        let pod_of = |test_pod: crate::checks::test_pods::TestPod| Pod {
            metadata: test_pod.metadata,
            spec: Some(test_pod.spec),
            status: None,
        };
        let with_image = |mut pod: Pod, image: &str| {
            pod.spec.as_mut().unwrap().containers[0].image = Some(image.to_owned());
            pod
        };
        let old = with_image(pod_of(pod().privileged("app")), "nginx:1");
        let mut relabelled = old.clone();
        relabelled.metadata.labels = Some([("tier".to_owned(), "web".to_owned())].into());
        let cases = vec![
            ("labels only", relabelled, false),
            ("the same pod", old.clone(), false),
            ("a new image", with_image(old.clone(), "nginx:2"), true),
            (
                "another container",
                with_image(pod_of(pod().privileged("app").container("b")), "nginx:1"),
                true,
            ),
            (
                "an ephemeral container added",
                with_image(
                    pod_of(pod().privileged("app").ephemeral_container("debug")),
                    "nginx:1",
                ),
                true,
            ),
            (
                "a container seccomp annotation",
                with_image(
                    pod_of(pod().privileged("app").annotation(
                        "container.seccomp.security.alpha.kubernetes.io/app",
                        "unconfined",
                    )),
                    "nginx:1",
                ),
                true,
            ),
        ];
        for (name, new, want) in cases {
            assert_eq!(is_significant_pod_update(&new, &old), want, "{name}");
        }
    }
}
