//! The restricted checks: hardening best practice.

use std::collections::BTreeSet;

use wharf_sdk::k8s_openapi::api::core::v1::PodSpec;
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{
    Forbidden, container_seccomp_type, containers, containers_phrase, in_user_namespace,
    is_windows, join_quote, pluralize, pod_seccomp_type, valid_seccomp, volumes,
};

/// allowPrivilegeEscalation (v1.8+): every container sets
/// allowPrivilegeEscalation=false.
pub(super) fn allow_privilege_escalation(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let bad_containers: Vec<&str> = containers(spec)
        .filter(|c| {
            c.security_context
                .and_then(|sc| sc.allow_privilege_escalation)
                != Some(false)
        })
        .map(|c| c.name)
        .collect();
    (!bad_containers.is_empty()).then(|| Forbidden {
        reason: "allowPrivilegeEscalation != false".to_owned(),
        detail: format!(
            "{} must set securityContext.allowPrivilegeEscalation=false",
            containers_phrase(&bad_containers)
        ),
    })
}

/// allowPrivilegeEscalation (v1.25+): Windows pods (`spec.os.name:
/// windows`, where the field does not exist) are exempt.
pub(super) fn allow_privilege_escalation_unless_windows(
    metadata: &ObjectMeta,
    spec: &PodSpec,
) -> Option<Forbidden> {
    if is_windows(spec) {
        None
    } else {
        allow_privilege_escalation(metadata, spec)
    }
}

/// capabilities_restricted (v1.22+): every container drops ALL and adds at
/// most NET_BIND_SERVICE.
pub(super) fn capabilities_restricted(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut missing_drop_all = Vec::new();
    let mut adding_forbidden = Vec::new();
    let mut forbidden_capabilities = BTreeSet::new();
    for c in containers(spec) {
        let Some(capabilities) = c.security_context.and_then(|sc| sc.capabilities.as_ref()) else {
            missing_drop_all.push(c.name);
            continue;
        };
        if !capabilities
            .drop
            .iter()
            .flatten()
            .any(|capability| capability == "ALL")
        {
            missing_drop_all.push(c.name);
        }
        let mut added_forbidden = false;
        for capability in capabilities
            .add
            .iter()
            .flatten()
            .filter(|capability| *capability != "NET_BIND_SERVICE")
        {
            added_forbidden = true;
            forbidden_capabilities.insert(capability.as_str());
        }
        if added_forbidden {
            adding_forbidden.push(c.name);
        }
    }
    let mut details = Vec::new();
    if !missing_drop_all.is_empty() {
        details.push(format!(
            r#"{} must set securityContext.capabilities.drop=["ALL"]"#,
            containers_phrase(&missing_drop_all)
        ));
    }
    if !adding_forbidden.is_empty() {
        details.push(format!(
            "{} must not include {} in securityContext.capabilities.add",
            containers_phrase(&adding_forbidden),
            join_quote(&forbidden_capabilities)
        ));
    }
    (!details.is_empty()).then(|| Forbidden {
        reason: "unrestricted capabilities".to_owned(),
        detail: details.join("; "),
    })
}

/// capabilities_restricted (v1.25+): Windows pods are exempt.
pub(super) fn capabilities_restricted_unless_windows(
    metadata: &ObjectMeta,
    spec: &PodSpec,
) -> Option<Forbidden> {
    if is_windows(spec) {
        None
    } else {
        capabilities_restricted(metadata, spec)
    }
}

/// restrictedVolumes (v1.0+): only the volume types that carry no host or
/// network storage of their own: configMap, csi, downwardAPI, emptyDir,
/// ephemeral, image, persistentVolumeClaim, projected, secret.
pub(super) fn restricted_volumes(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad_types = BTreeSet::new();
    let bad_volumes: Vec<&str> = volumes(spec)
        .filter(|v| {
            let allowed = v.config_map.is_some()
                || v.csi.is_some()
                || v.downward_api.is_some()
                || v.empty_dir.is_some()
                || v.ephemeral.is_some()
                || v.image.is_some()
                || v.persistent_volume_claim.is_some()
                || v.projected.is_some()
                || v.secret.is_some();
            if allowed {
                return false;
            }
            // kube's order, should a volume have several sources.
            let volume_type = [
                (v.host_path.is_some(), "hostPath"),
                (v.gce_persistent_disk.is_some(), "gcePersistentDisk"),
                (v.aws_elastic_block_store.is_some(), "awsElasticBlockStore"),
                (v.git_repo.is_some(), "gitRepo"),
                (v.nfs.is_some(), "nfs"),
                (v.iscsi.is_some(), "iscsi"),
                (v.glusterfs.is_some(), "glusterfs"),
                (v.rbd.is_some(), "rbd"),
                (v.flex_volume.is_some(), "flexVolume"),
                (v.cinder.is_some(), "cinder"),
                (v.cephfs.is_some(), "cephfs"),
                (v.flocker.is_some(), "flocker"),
                (v.fc.is_some(), "fc"),
                (v.azure_file.is_some(), "azureFile"),
                (v.vsphere_volume.is_some(), "vsphereVolume"),
                (v.quobyte.is_some(), "quobyte"),
                (v.azure_disk.is_some(), "azureDisk"),
                (v.photon_persistent_disk.is_some(), "photonPersistentDisk"),
                (v.portworx_volume.is_some(), "portworxVolume"),
                (v.scale_io.is_some(), "scaleIO"),
                (v.storageos.is_some(), "storageos"),
            ]
            .into_iter()
            .find_map(|(set, name)| set.then_some(name))
            // No source we know (kube defaults a volume without one to emptyDir before
            // admission; a source newer than our types decodes to none).
            .unwrap_or("unknown");
            bad_types.insert(volume_type);
            true
        })
        .map(|v| v.name.as_str())
        .collect();
    (!bad_volumes.is_empty()).then(|| Forbidden {
        reason: "restricted volume types".to_owned(),
        detail: format!(
            "{} {} {} {} {}",
            pluralize("volume", "volumes", bad_volumes.len()),
            join_quote(&bad_volumes),
            pluralize("uses", "use", bad_volumes.len()),
            pluralize(
                "restricted volume type",
                "restricted volume types",
                bad_types.len()
            ),
            join_quote(&bad_types)
        ),
    })
}

/// runAsNonRoot (v1.0+): the pod, or every container, sets
/// runAsNonRoot=true, and none sets it false.
pub(super) fn run_as_non_root(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad_setters = Vec::new();
    let pod_value = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.run_as_non_root);
    if pod_value == Some(false) {
        bad_setters.push("pod".to_owned());
    }
    let pod_run_as_non_root = pod_value == Some(true);
    let mut explicitly_bad = Vec::new();
    let mut implicitly_bad = Vec::new();
    for c in containers(spec) {
        match c.security_context.and_then(|sc| sc.run_as_non_root) {
            Some(false) => explicitly_bad.push(c.name),
            Some(true) => {}
            None if !pod_run_as_non_root => implicitly_bad.push(c.name),
            None => {}
        }
    }
    if !explicitly_bad.is_empty() {
        bad_setters.push(containers_phrase(&explicitly_bad));
    }
    let reason = || "runAsNonRoot != true".to_owned();
    if !bad_setters.is_empty() {
        return Some(Forbidden {
            reason: reason(),
            detail: format!(
                "{} must not set securityContext.runAsNonRoot=false",
                bad_setters.join(" and ")
            ),
        });
    }
    (!implicitly_bad.is_empty()).then(|| Forbidden {
        reason: reason(),
        detail: format!(
            "pod or {} must set securityContext.runAsNonRoot=true",
            containers_phrase(&implicitly_bad)
        ),
    })
}

/// runAsNonRoot (v1.35+): a pod in its own user namespace is exempt (its
/// root is not the node's).
pub(super) fn run_as_non_root_unless_user_namespace(
    metadata: &ObjectMeta,
    spec: &PodSpec,
) -> Option<Forbidden> {
    if in_user_namespace(spec) {
        None
    } else {
        run_as_non_root(metadata, spec)
    }
}

/// runAsUser (v1.23+): neither the pod nor a container sets runAsUser=0.
pub(super) fn run_as_user(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad_setters = Vec::new();
    if spec.security_context.as_ref().and_then(|sc| sc.run_as_user) == Some(0) {
        bad_setters.push("pod".to_owned());
    }
    let bad_containers: Vec<&str> = containers(spec)
        .filter(|c| c.security_context.and_then(|sc| sc.run_as_user) == Some(0))
        .map(|c| c.name)
        .collect();
    if !bad_containers.is_empty() {
        bad_setters.push(containers_phrase(&bad_containers));
    }
    (!bad_setters.is_empty()).then(|| Forbidden {
        reason: "runAsUser=0".to_owned(),
        detail: format!("{} must not set runAsUser=0", bad_setters.join(" and ")),
    })
}

/// runAsUser (v1.35+): a pod in its own user namespace is exempt.
pub(super) fn run_as_user_unless_user_namespace(
    metadata: &ObjectMeta,
    spec: &PodSpec,
) -> Option<Forbidden> {
    if in_user_namespace(spec) {
        None
    } else {
        run_as_user(metadata, spec)
    }
}

/// seccompProfile_restricted (v1.19+): the pod, or every container, sets a
/// seccomp profile of type RuntimeDefault or Localhost, and none sets
/// another type.
pub(super) fn seccomp_profile_restricted(_: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let mut bad_setters = Vec::new();
    let mut bad_values = BTreeSet::new();
    let mut pod_seccomp_set = false;
    if let Some(profile_type) = pod_seccomp_type(spec) {
        if valid_seccomp(profile_type) {
            pod_seccomp_set = true;
        } else {
            bad_setters.push("pod".to_owned());
            bad_values.insert(profile_type);
        }
    }
    let mut explicitly_bad = Vec::new();
    let mut implicitly_bad = Vec::new();
    for c in containers(spec) {
        match container_seccomp_type(&c) {
            Some(profile_type) if !valid_seccomp(profile_type) => {
                explicitly_bad.push(c.name);
                bad_values.insert(profile_type);
            }
            Some(_) => {}
            None if !pod_seccomp_set => implicitly_bad.push(c.name),
            None => {}
        }
    }
    if !explicitly_bad.is_empty() {
        bad_setters.push(containers_phrase(&explicitly_bad));
    }
    let reason = || "seccompProfile".to_owned();
    if !bad_setters.is_empty() {
        return Some(Forbidden {
            reason: reason(),
            detail: format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                bad_setters.join(" and "),
                join_quote(&bad_values)
            ),
        });
    }
    (!implicitly_bad.is_empty()).then(|| Forbidden {
        reason: reason(),
        detail: format!(
            r#"pod or {} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
            containers_phrase(&implicitly_bad)
        ),
    })
}

/// seccompProfile_restricted (v1.25+): Windows pods are exempt.
pub(super) fn seccomp_profile_restricted_unless_windows(
    metadata: &ObjectMeta,
    spec: &PodSpec,
) -> Option<Forbidden> {
    if is_windows(spec) {
        None
    } else {
        seccomp_profile_restricted(metadata, spec)
    }
}
