use super::test_pods::{TestPod, pod, restricted_pod, se_linux};
use super::*;

fn latest(level: Level) -> Policy {
    Policy::new(level, Version::Latest)
}

fn at(level: Level, minor: u32) -> Policy {
    Policy::new(level, Version::V1(minor))
}

fn failures(policy: &Policy, pod: &TestPod) -> Vec<(&'static str, String, String)> {
    let (metadata, spec) = pod.build();
    evaluate(policy, metadata, spec)
        .into_iter()
        .map(|r| (r.id, r.forbidden_reason, r.forbidden_detail))
        .collect()
}

fn ids(policy: &Policy, pod: &TestPod) -> Vec<&'static str> {
    failures(policy, pod)
        .into_iter()
        .map(|(id, _, _)| id)
        .collect()
}

struct Case {
    name: &'static str,
    policy: Policy,
    pod: TestPod,
    /// (check ID, reason, detail) of each failure, in order.
    want: Vec<(&'static str, &'static str, &'static str)>,
}

fn run(cases: Vec<Case>) {
    for case in cases {
        let want: Vec<(&str, String, String)> = case
            .want
            .iter()
            .map(|(id, reason, detail)| (*id, reason.to_string(), detail.to_string()))
            .collect();
        assert_eq!(failures(&case.policy, &case.pod), want, "{}", case.name);
    }
}

#[test]
fn each_baseline_check_words_its_failure_as_kube_does() {
    let baseline = latest(Level::Baseline);
    run(vec![
        Case {
            name: "hostProcess on the pod and two containers",
            policy: baseline,
            pod: pod().pod_host_process().host_process("a").host_process("b"),
            want: vec![(
                "windowsHostProcess",
                "hostProcess",
                r#"pod and containers "a", "b" must not set securityContext.windowsOptions.hostProcess=true"#,
            )],
        },
        Case {
            name: "every host namespace",
            policy: baseline,
            pod: pod().container("app").host_ipc().host_pid().host_network(),
            want: vec![(
                "hostNamespaces",
                "host namespaces",
                "hostNetwork=true, hostPID=true, hostIPC=true",
            )],
        },
        Case {
            name: "one privileged container",
            policy: baseline,
            pod: pod().privileged("app"),
            want: vec![(
                "privileged",
                "privileged",
                r#"container "app" must not set securityContext.privileged=true"#,
            )],
        },
        Case {
            name: "privileged init, regular and ephemeral containers, listed in kube's visiting order",
            policy: baseline,
            pod: pod()
                .ephemeral_container("debug")
                .init_container("init")
                .privileged("debug")
                .privileged("app")
                .privileged("init"),
            want: vec![(
                "privileged",
                "privileged",
                r#"containers "init", "app", "debug" must not set securityContext.privileged=true"#,
            )],
        },
        Case {
            name: "capabilities beyond the default set",
            policy: baseline,
            pod: pod()
                .add_capabilities("a", &["SYS_ADMIN", "NET_RAW"])
                .add_capabilities("b", &["CHOWN", "NET_BIND_SERVICE"])
                .add_capabilities("c", &["SYS_ADMIN"]),
            want: vec![(
                "capabilities_baseline",
                "non-default capabilities",
                r#"containers "a", "c" must not include "NET_RAW", "SYS_ADMIN" in securityContext.capabilities.add"#,
            )],
        },
        Case {
            name: "hostPath volumes among others",
            policy: baseline,
            pod: pod()
                .container("app")
                .volume("data", "hostPath")
                .volume("config", "configMap")
                .volume("logs", "hostPath"),
            want: vec![(
                "hostPathVolumes",
                "hostPath volumes",
                r#"volumes "data", "logs""#,
            )],
        },
        Case {
            name: "host ports, sorted as text",
            policy: baseline,
            pod: pod()
                .host_port("a", 8080)
                .container("b")
                .host_port("b", 80)
                .host_port("b", 10000),
            want: vec![(
                "hostPorts",
                "hostPort",
                r#"containers "a", "b" use hostPorts 10000, 80, 8080"#,
            )],
        },
        Case {
            name: "an unconfined AppArmor profile on the pod",
            policy: baseline,
            pod: pod()
                .pod_app_armor("Unconfined")
                .app_armor("app", "Localhost"),
            want: vec![(
                "appArmorProfile",
                "forbidden AppArmor profile",
                r#"pod must not set AppArmor profile type to "Unconfined""#,
            )],
        },
        Case {
            name: "an unconfined AppArmor profile by field and by annotation",
            policy: baseline,
            pod: pod()
                .app_armor("app", "Unconfined")
                .annotation(
                    "container.apparmor.security.beta.kubernetes.io/app",
                    "unconfined",
                )
                .annotation(
                    "container.apparmor.security.beta.kubernetes.io/ok",
                    "localhost/custom",
                ),
            want: vec![(
                "appArmorProfile",
                "forbidden AppArmor profiles",
                r#"container "app" and annotation must not set AppArmor profile type to "Unconfined", "container.apparmor.security.beta.kubernetes.io/app="unconfined"""#,
            )],
        },
        Case {
            name: "an SELinux type, user and role",
            policy: baseline,
            pod: pod()
                .pod_se_linux(se_linux(Some("spc_t"), None, None))
                .se_linux(
                    "app",
                    se_linux(Some("container_t"), Some("system_u"), Some("system_r")),
                ),
            want: vec![(
                "seLinuxOptions",
                "seLinuxOptions",
                r#"pod and container "app" set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set; role may not be set"#,
            )],
        },
        Case {
            name: "an unmasked /proc",
            policy: baseline,
            pod: pod()
                .proc_mount("app", "Unmasked")
                .proc_mount("sidecar", "Default"),
            want: vec![(
                "procMount",
                "procMount",
                r#"container "app" must not set securityContext.procMount to "Unmasked""#,
            )],
        },
        Case {
            name: "an unconfined seccomp profile on the pod and a container",
            policy: baseline,
            pod: pod()
                .pod_seccomp("Unconfined")
                .seccomp("app", "Unconfined")
                .seccomp("ok", "Localhost"),
            want: vec![(
                "seccompProfile_baseline",
                "seccompProfile",
                r#"pod and container "app" must not set securityContext.seccompProfile.type to "Unconfined""#,
            )],
        },
        Case {
            name: "unsafe sysctls, in the pod's order",
            policy: baseline,
            pod: pod()
                .container("app")
                .sysctl("kernel.msgmax")
                .sysctl("net.ipv4.tcp_syncookies")
                .sysctl("net.core.somaxconn"),
            want: vec![(
                "sysctls",
                "forbidden sysctls",
                "kernel.msgmax, net.core.somaxconn",
            )],
        },
        Case {
            name: "probe and lifecycle hosts",
            policy: baseline,
            pod: pod()
                .probe_host("b", "10.0.0.1")
                .pre_stop_host("b", "example.com")
                .probe_host("a", "10.0.0.1"),
            want: vec![(
                "hostProbesAndHostLifecycle",
                "probe or lifecycle host",
                r#"containers "a", "b" use probe or lifecycle hosts "10.0.0.1", "example.com""#,
            )],
        },
    ]);
}

#[test]
fn each_restricted_check_words_its_failure_as_kube_does() {
    let restricted = latest(Level::Restricted);
    run(vec![
        Case {
            name: "privilege escalation allowed",
            policy: restricted,
            pod: restricted_pod().allow_privilege_escalation("app", true),
            want: vec![(
                "allowPrivilegeEscalation",
                "allowPrivilegeEscalation != false",
                r#"container "app" must set securityContext.allowPrivilegeEscalation=false"#,
            )],
        },
        Case {
            name: "capabilities not dropped, or added (replacing the baseline capabilities check)",
            policy: restricted,
            pod: restricted_pod()
                .add_capabilities("app", &["SYS_TIME", "NET_BIND_SERVICE"])
                .allow_privilege_escalation("c", false)
                .run_as_non_root("c", true)
                .seccomp("c", "RuntimeDefault"),
            want: vec![(
                "capabilities_restricted",
                "unrestricted capabilities",
                r#"container "c" must set securityContext.capabilities.drop=["ALL"]; container "app" must not include "SYS_TIME" in securityContext.capabilities.add"#,
            )],
        },
        Case {
            name: "restricted volume types (replacing the hostPath check)",
            policy: restricted,
            pod: restricted_pod()
                .volume("host", "hostPath")
                .volume("config", "configMap")
                .volume("share", "nfs")
                .volume("image", "image")
                .volume("odd", "none"),
            want: vec![(
                "restrictedVolumes",
                "restricted volume types",
                r#"volumes "host", "share", "odd" use restricted volume types "hostPath", "nfs", "unknown""#,
            )],
        },
        Case {
            name: "runAsNonRoot set false on the pod",
            policy: restricted,
            pod: restricted_pod().pod_run_as_non_root(false),
            want: vec![(
                "runAsNonRoot",
                "runAsNonRoot != true",
                "pod must not set securityContext.runAsNonRoot=false",
            )],
        },
        Case {
            name: "runAsNonRoot left unset by the pod and a container",
            policy: restricted,
            pod: restricted_pod()
                .allow_privilege_escalation("b", false)
                .drop_capabilities("b", &["ALL"])
                .seccomp("b", "RuntimeDefault"),
            want: vec![(
                "runAsNonRoot",
                "runAsNonRoot != true",
                r#"pod or container "b" must set securityContext.runAsNonRoot=true"#,
            )],
        },
        Case {
            name: "root user on the pod and a container",
            policy: restricted,
            pod: restricted_pod().pod_run_as_user(0).run_as_user("app", 0),
            want: vec![(
                "runAsUser",
                "runAsUser=0",
                r#"pod and container "app" must not set runAsUser=0"#,
            )],
        },
        Case {
            name: "an unconfined seccomp profile (replacing the baseline seccomp check)",
            policy: restricted,
            pod: restricted_pod().seccomp("app", "Unconfined"),
            want: vec![(
                "seccompProfile_restricted",
                "seccompProfile",
                r#"container "app" must not set securityContext.seccompProfile.type to "Unconfined""#,
            )],
        },
        Case {
            name: "an unmasked /proc in a user namespace (replacing baseline's relaxed procMount)",
            policy: restricted,
            pod: restricted_pod()
                .host_users(false)
                .proc_mount("app", "Unmasked"),
            want: vec![(
                "procMount_restricted",
                "procMount",
                r#"container "app" must not set securityContext.procMount to "Unmasked""#,
            )],
        },
    ]);
}

#[test]
fn pods_that_meet_a_level_pass_it() {
    let cases: Vec<(&str, Policy, TestPod)> = vec![
        (
            "a bare pod, baseline",
            latest(Level::Baseline),
            pod().container("app"),
        ),
        (
            "the restricted pod, restricted",
            latest(Level::Restricted),
            restricted_pod(),
        ),
        (
            "the restricted pod at its oldest version",
            at(Level::Restricted, 0),
            restricted_pod(),
        ),
        (
            "a pod-level seccomp profile and runAsNonRoot cover every container",
            latest(Level::Restricted),
            restricted_pod()
                .no_seccomp("app")
                .pod_seccomp("Localhost")
                .pod_run_as_non_root(true)
                .init_container("init")
                .restricted("init")
                .no_seccomp("init"),
        ),
        (
            "allowed volumes, capability, sysctls, SELinux type and AppArmor annotation",
            latest(Level::Restricted),
            restricted_pod()
                .volume("config", "configMap")
                .volume("token", "secret")
                .volume("scratch", "emptyDir")
                .volume("model", "image")
                .add_capabilities("app", &["NET_BIND_SERVICE"])
                .sysctl("net.ipv4.ip_unprivileged_port_start")
                .sysctl("net.ipv4.tcp_notsent_lowat")
                .se_linux("app", se_linux(Some("container_engine_t"), None, None))
                .annotation(
                    "container.apparmor.security.beta.kubernetes.io/app",
                    "runtime/default",
                ),
        ),
        (
            "seccomp annotations are not read from v1.19 on",
            latest(Level::Baseline),
            pod()
                .container("app")
                .annotation("seccomp.security.alpha.kubernetes.io/pod", "unconfined"),
        ),
        (
            "privileged allows anything",
            latest(Level::Privileged),
            pod()
                .privileged("app")
                .host_network()
                .volume("root", "hostPath")
                .run_as_user("app", 0),
        ),
    ];
    for (name, policy, pod) in cases {
        assert_eq!(failures(&policy, &pod), vec![], "{name}");
    }
}

#[test]
fn restricted_lists_baseline_failures_first_then_its_own_each_in_id_order() {
    let pod = pod()
        .privileged("app")
        .host_network()
        .sysctl("kernel.msgmax")
        .volume("root", "hostPath")
        .add_capabilities("app", &["SYS_ADMIN"]);
    assert_eq!(
        ids(&latest(Level::Restricted), &pod),
        [
            "hostNamespaces",
            "privileged",
            "sysctls",
            "allowPrivilegeEscalation",
            "capabilities_restricted",
            "restrictedVolumes",
            "runAsNonRoot",
            "seccompProfile_restricted",
        ]
    );
    assert_eq!(
        ids(&latest(Level::Baseline), &pod),
        [
            "capabilities_baseline",
            "hostNamespaces",
            "hostPathVolumes",
            "privileged",
            "sysctls"
        ]
    );
}

#[test]
fn a_policy_version_selects_the_checks_kube_had_then() {
    let restricted = Level::Restricted;
    let baseline = Level::Baseline;
    let adds_sys_admin = pod().add_capabilities("app", &["SYS_ADMIN"]);
    let root = restricted_pod().run_as_user("app", 0);
    let windows = pod().windows().run_as_non_root("app", true);
    let user_namespace = restricted_pod()
        .host_users(false)
        .run_as_non_root("app", false)
        .run_as_user("app", 0);
    let unmasked_in_user_namespace = pod().host_users(false).proc_mount("app", "Unmasked");
    let probe_host = pod().probe_host("app", "10.0.0.1");
    let engine_type = pod().se_linux("app", se_linux(Some("container_engine_t"), None, None));
    let seccomp_annotation = pod()
        .container("app")
        .annotation("seccomp.security.alpha.kubernetes.io/pod", "unconfined");
    let cases: Vec<(&str, Policy, &TestPod, Vec<&str>)> = vec![
        (
            "v1.21: baseline's capability check, no restricted one yet",
            at(restricted, 21),
            &adds_sys_admin,
            vec![
                "capabilities_baseline",
                "allowPrivilegeEscalation",
                "runAsNonRoot",
                "seccompProfile_restricted",
            ],
        ),
        (
            "v1.22: capabilities_restricted replaces it",
            at(restricted, 22),
            &adds_sys_admin,
            vec![
                "allowPrivilegeEscalation",
                "capabilities_restricted",
                "runAsNonRoot",
                "seccompProfile_restricted",
            ],
        ),
        (
            "v1.7: no allowPrivilegeEscalation, no seccomp field check",
            at(restricted, 7),
            &adds_sys_admin,
            vec!["capabilities_baseline", "runAsNonRoot"],
        ),
        (
            "v1.22: runAsUser not checked yet",
            at(restricted, 22),
            &root,
            vec![],
        ),
        (
            "v1.23: runAsUser checked",
            at(restricted, 23),
            &root,
            vec!["runAsUser"],
        ),
        (
            "v1.24: Windows pods still checked",
            at(restricted, 24),
            &windows,
            vec![
                "allowPrivilegeEscalation",
                "capabilities_restricted",
                "seccompProfile_restricted",
            ],
        ),
        (
            "v1.25: Windows pods exempt from Linux-only checks",
            at(restricted, 25),
            &windows,
            vec![],
        ),
        (
            "v1.34: a user namespace does not help",
            at(restricted, 34),
            &user_namespace,
            vec!["runAsNonRoot", "runAsUser"],
        ),
        (
            "v1.35: a user namespace exempts root",
            at(restricted, 35),
            &user_namespace,
            vec![],
        ),
        (
            "v1.34: /proc stays masked in a user namespace",
            at(baseline, 34),
            &unmasked_in_user_namespace,
            vec!["procMount"],
        ),
        (
            "v1.35: baseline lets a user namespace unmask /proc",
            at(baseline, 35),
            &unmasked_in_user_namespace,
            vec![],
        ),
        (
            "v1.33: probe hosts allowed",
            at(baseline, 33),
            &probe_host,
            vec![],
        ),
        (
            "v1.34: probe hosts forbidden",
            at(baseline, 34),
            &probe_host,
            vec!["hostProbesAndHostLifecycle"],
        ),
        (
            "v1.30: container_engine_t forbidden",
            at(baseline, 30),
            &engine_type,
            vec!["seLinuxOptions"],
        ),
        (
            "v1.31: container_engine_t allowed",
            at(baseline, 31),
            &engine_type,
            vec![],
        ),
        (
            "v1.18: seccomp annotations checked",
            at(baseline, 18),
            &seccomp_annotation,
            vec!["seccompProfile_baseline"],
        ),
        (
            "v1.19: seccomp annotations ignored",
            at(baseline, 19),
            &seccomp_annotation,
            vec![],
        ),
    ];
    for (name, policy, pod, want) in cases {
        assert_eq!(ids(&policy, pod), want, "{name}");
    }
}

#[test]
fn sysctls_become_safe_at_the_version_kube_allowed_them() {
    let cases = [
        ("net.ipv4.ip_local_reserved_ports", 27),
        ("net.ipv4.tcp_keepalive_time", 29),
        ("net.ipv4.tcp_fin_timeout", 29),
        ("net.ipv4.tcp_rmem", 32),
        ("net.ipv4.tcp_wmem", 32),
        ("net.ipv4.tcp_slow_start_after_idle", 37),
        ("net.ipv4.tcp_notsent_lowat", 37),
    ];
    for (sysctl, safe_since) in cases {
        let pod = pod().container("app").sysctl(sysctl);
        assert_eq!(
            ids(&at(Level::Baseline, safe_since - 1), &pod),
            ["sysctls"],
            "{sysctl} before v1.{safe_since}"
        );
        assert_eq!(
            ids(&at(Level::Baseline, safe_since), &pod),
            Vec::<&str>::new(),
            "{sysctl} at v1.{safe_since}"
        );
    }
}

#[test]
fn a_version_past_the_newest_checks_evaluates_as_latest() {
    assert_eq!(newest_policy_version(), Version::V1(37));
    let pod = pod()
        .privileged("app")
        .sysctl("net.ipv4.tcp_notsent_lowat")
        .probe_host("app", "10.0.0.1");
    assert_eq!(
        failures(&at(Level::Restricted, 99), &pod),
        failures(&latest(Level::Restricted), &pod)
    );
    assert_eq!(
        failures(&at(Level::Restricted, 37), &pod),
        failures(&latest(Level::Restricted), &pod)
    );
}

#[test]
fn checks_are_declared_in_kubes_order_with_increasing_versions() {
    for checks in [BASELINE_CHECKS, RESTRICTED_CHECKS] {
        let ids: Vec<&str> = checks.iter().map(|check| check.id).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(ids, sorted, "IDs sorted bytewise and unique");
        for check in checks {
            let versions: Vec<u32> = check.revisions.iter().map(|r| r.since_minor).collect();
            assert!(
                versions.windows(2).all(|pair| pair[0] < pair[1]),
                "{} revisions increase",
                check.id
            );
        }
    }
    let baseline_ids: Vec<&str> = BASELINE_CHECKS.iter().map(|check| check.id).collect();
    for check in BASELINE_CHECKS {
        assert!(
            check.revisions.iter().all(|r| r.overrides.is_empty()),
            "{} overrides nothing",
            check.id
        );
    }
    for revision in RESTRICTED_CHECKS.iter().flat_map(|check| check.revisions) {
        assert!(
            revision
                .overrides
                .iter()
                .all(|id| baseline_ids.contains(id)),
            "overrides name baseline checks"
        );
    }
}

#[test]
fn failures_join_as_reason_and_detail_in_parentheses() {
    let failure = |reason: &str, detail: &str| CheckResult {
        id: "x",
        forbidden_reason: reason.to_owned(),
        forbidden_detail: detail.to_owned(),
    };
    assert_eq!(
        forbidden_detail(&[
            failure("host ports", "8080"),
            failure("no detail", ""),
            failure("privileged", "app")
        ]),
        "host ports (8080), no detail, privileged (app)"
    );
    assert_eq!(forbidden_detail(&[]), "");
}
