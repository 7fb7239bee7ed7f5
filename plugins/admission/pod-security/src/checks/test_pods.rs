//! Pods for tests: `pod().privileged("app")`. A method that names a
//! container finds it among init, regular and ephemeral containers, and
//! adds a regular one of that name if there is none.

use wharf_sdk::k8s_openapi::api::core::v1::{
    AppArmorProfile, Capabilities, ConfigMapVolumeSource, Container, ContainerPort,
    EmptyDirVolumeSource, EphemeralContainer, GitRepoVolumeSource, HTTPGetAction,
    HostPathVolumeSource, ImageVolumeSource, Lifecycle, LifecycleHandler, NFSVolumeSource, PodOS,
    PodSecurityContext, PodSpec, Probe, SELinuxOptions, SeccompProfile, SecretVolumeSource,
    SecurityContext, Sysctl, TCPSocketAction, Volume, WindowsSecurityContextOptions,
};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wharf_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

#[derive(Clone, Debug, Default)]
pub(crate) struct TestPod {
    pub(crate) metadata: ObjectMeta,
    pub(crate) spec: PodSpec,
}

/// A pod with no containers (add them by naming them).
pub(crate) fn pod() -> TestPod {
    TestPod::default()
}

/// A pod whose one container `app` meets the restricted standard.
pub(crate) fn restricted_pod() -> TestPod {
    pod().restricted("app")
}

impl TestPod {
    pub(crate) fn container(mut self, name: &str) -> Self {
        self.security_context(name);
        self
    }

    pub(crate) fn init_container(mut self, name: &str) -> Self {
        let container = Container {
            name: name.to_owned(),
            ..Container::default()
        };
        self.spec
            .init_containers
            .get_or_insert_default()
            .push(container);
        self
    }

    pub(crate) fn ephemeral_container(mut self, name: &str) -> Self {
        let container = EphemeralContainer {
            name: name.to_owned(),
            ..EphemeralContainer::default()
        };
        self.spec
            .ephemeral_containers
            .get_or_insert_default()
            .push(container);
        self
    }

    /// Makes container `name` meet the restricted standard on its own.
    pub(crate) fn restricted(self, name: &str) -> Self {
        self.allow_privilege_escalation(name, false)
            .drop_capabilities(name, &["ALL"])
            .run_as_non_root(name, true)
            .seccomp(name, "RuntimeDefault")
    }

    pub(crate) fn annotation(mut self, key: &str, value: &str) -> Self {
        self.metadata
            .annotations
            .get_or_insert_default()
            .insert(key.to_owned(), value.to_owned());
        self
    }

    // The pod's own fields.

    pub(crate) fn host_network(mut self) -> Self {
        self.spec.host_network = Some(true);
        self
    }

    pub(crate) fn host_pid(mut self) -> Self {
        self.spec.host_pid = Some(true);
        self
    }

    pub(crate) fn host_ipc(mut self) -> Self {
        self.spec.host_ipc = Some(true);
        self
    }

    pub(crate) fn host_users(mut self, host_users: bool) -> Self {
        self.spec.host_users = Some(host_users);
        self
    }

    pub(crate) fn windows(mut self) -> Self {
        self.spec.os = Some(PodOS {
            name: "windows".to_owned(),
        });
        self
    }

    /// A volume of one source: `hostPath`, `nfs`, `gitRepo`, `configMap`,
    /// `secret`, `emptyDir`, `image`, or `none` (no source at all).
    pub(crate) fn volume(mut self, name: &str, source: &str) -> Self {
        let mut volume = Volume {
            name: name.to_owned(),
            ..Volume::default()
        };
        match source {
            "hostPath" => {
                volume.host_path = Some(HostPathVolumeSource {
                    path: "/".to_owned(),
                    type_: None,
                })
            }
            "nfs" => volume.nfs = Some(NFSVolumeSource::default()),
            "gitRepo" => volume.git_repo = Some(GitRepoVolumeSource::default()),
            "configMap" => volume.config_map = Some(ConfigMapVolumeSource::default()),
            "secret" => volume.secret = Some(SecretVolumeSource::default()),
            "emptyDir" => volume.empty_dir = Some(EmptyDirVolumeSource::default()),
            "image" => volume.image = Some(ImageVolumeSource::default()),
            "none" => {}
            other => panic!("no test volume source {other}"),
        }
        self.spec.volumes.get_or_insert_default().push(volume);
        self
    }

    pub(crate) fn sysctl(mut self, name: &str) -> Self {
        let sysctls = self.pod_security_context().sysctls.get_or_insert_default();
        sysctls.push(Sysctl {
            name: name.to_owned(),
            value: "1".to_owned(),
        });
        self
    }

    pub(crate) fn pod_run_as_non_root(mut self, value: bool) -> Self {
        self.pod_security_context().run_as_non_root = Some(value);
        self
    }

    pub(crate) fn pod_run_as_user(mut self, uid: i64) -> Self {
        self.pod_security_context().run_as_user = Some(uid);
        self
    }

    pub(crate) fn pod_seccomp(mut self, profile_type: &str) -> Self {
        self.pod_security_context().seccomp_profile = Some(seccomp_profile(profile_type));
        self
    }

    pub(crate) fn pod_app_armor(mut self, profile_type: &str) -> Self {
        self.pod_security_context().app_armor_profile = Some(app_armor_profile(profile_type));
        self
    }

    pub(crate) fn pod_se_linux(mut self, options: SELinuxOptions) -> Self {
        self.pod_security_context().se_linux_options = Some(options);
        self
    }

    pub(crate) fn pod_host_process(mut self) -> Self {
        self.pod_security_context().windows_options = Some(WindowsSecurityContextOptions {
            host_process: Some(true),
            ..Default::default()
        });
        self
    }

    // A container's fields.

    pub(crate) fn privileged(mut self, name: &str) -> Self {
        self.security_context(name).privileged = Some(true);
        self
    }

    pub(crate) fn allow_privilege_escalation(mut self, name: &str, value: bool) -> Self {
        self.security_context(name).allow_privilege_escalation = Some(value);
        self
    }

    pub(crate) fn add_capabilities(mut self, name: &str, capabilities: &[&str]) -> Self {
        let add = self.capabilities(name).add.get_or_insert_default();
        add.extend(capabilities.iter().map(|c| c.to_string()));
        self
    }

    pub(crate) fn drop_capabilities(mut self, name: &str, capabilities: &[&str]) -> Self {
        let drop = self.capabilities(name).drop.get_or_insert_default();
        drop.extend(capabilities.iter().map(|c| c.to_string()));
        self
    }

    pub(crate) fn run_as_non_root(mut self, name: &str, value: bool) -> Self {
        self.security_context(name).run_as_non_root = Some(value);
        self
    }

    pub(crate) fn run_as_user(mut self, name: &str, uid: i64) -> Self {
        self.security_context(name).run_as_user = Some(uid);
        self
    }

    pub(crate) fn seccomp(mut self, name: &str, profile_type: &str) -> Self {
        self.security_context(name).seccomp_profile = Some(seccomp_profile(profile_type));
        self
    }

    /// Takes the container's seccomp profile away (to lean on the pod's).
    pub(crate) fn no_seccomp(mut self, name: &str) -> Self {
        self.security_context(name).seccomp_profile = None;
        self
    }

    pub(crate) fn app_armor(mut self, name: &str, profile_type: &str) -> Self {
        self.security_context(name).app_armor_profile = Some(app_armor_profile(profile_type));
        self
    }

    pub(crate) fn se_linux(mut self, name: &str, options: SELinuxOptions) -> Self {
        self.security_context(name).se_linux_options = Some(options);
        self
    }

    pub(crate) fn proc_mount(mut self, name: &str, proc_mount: &str) -> Self {
        self.security_context(name).proc_mount = Some(proc_mount.to_owned());
        self
    }

    pub(crate) fn host_process(mut self, name: &str) -> Self {
        self.security_context(name).windows_options = Some(WindowsSecurityContextOptions {
            host_process: Some(true),
            ..Default::default()
        });
        self
    }

    pub(crate) fn host_port(mut self, name: &str, host_port: i32) -> Self {
        let port = ContainerPort {
            container_port: host_port,
            host_port: Some(host_port),
            ..Default::default()
        };
        self.find(
            name,
            |c| c.ports.get_or_insert_default().push(port.clone()),
            |c| c.ports.get_or_insert_default().push(port.clone()),
        );
        self
    }

    /// A liveness probe (HTTP) of container `name` that names `host`.
    pub(crate) fn probe_host(mut self, name: &str, host: &str) -> Self {
        let probe = Probe {
            http_get: Some(HTTPGetAction {
                host: Some(host.to_owned()),
                port: IntOrString::Int(8080),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.find(
            name,
            |c| c.liveness_probe = Some(probe.clone()),
            |c| c.liveness_probe = Some(probe.clone()),
        );
        self
    }

    /// A preStop handler (TCP) of container `name` that names `host`.
    pub(crate) fn pre_stop_host(mut self, name: &str, host: &str) -> Self {
        let lifecycle = Lifecycle {
            pre_stop: Some(LifecycleHandler {
                tcp_socket: Some(TCPSocketAction {
                    host: Some(host.to_owned()),
                    port: IntOrString::Int(80),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.find(
            name,
            |c| c.lifecycle = Some(lifecycle.clone()),
            |c| c.lifecycle = Some(lifecycle.clone()),
        );
        self
    }

    pub(crate) fn build(&self) -> (&ObjectMeta, &PodSpec) {
        (&self.metadata, &self.spec)
    }

    fn pod_security_context(&mut self) -> &mut PodSecurityContext {
        self.spec.security_context.get_or_insert_default()
    }

    fn capabilities(&mut self, name: &str) -> &mut Capabilities {
        self.security_context(name)
            .capabilities
            .get_or_insert_default()
    }

    fn security_context(&mut self, name: &str) -> &mut SecurityContext {
        let spec = &mut self.spec;
        if let Some(c) = spec
            .init_containers
            .iter_mut()
            .flatten()
            .find(|c| c.name == name)
        {
            return c.security_context.get_or_insert_default();
        }
        if let Some(c) = spec
            .ephemeral_containers
            .iter_mut()
            .flatten()
            .find(|c| c.name == name)
        {
            return c.security_context.get_or_insert_default();
        }
        if !spec.containers.iter().any(|c| c.name == name) {
            spec.containers.push(Container {
                name: name.to_owned(),
                ..Container::default()
            });
        }
        let c = spec
            .containers
            .iter_mut()
            .find(|c| c.name == name)
            .expect("just added");
        c.security_context.get_or_insert_default()
    }

    /// Applies `to_container` to the init or regular container `name` (adding
    /// a regular one if there is none), or `to_ephemeral` to the ephemeral one.
    fn find(
        &mut self,
        name: &str,
        to_container: impl FnOnce(&mut Container),
        to_ephemeral: impl FnOnce(&mut EphemeralContainer),
    ) {
        let spec = &mut self.spec;
        if let Some(c) = spec
            .init_containers
            .iter_mut()
            .flatten()
            .find(|c| c.name == name)
        {
            return to_container(c);
        }
        if let Some(c) = spec
            .ephemeral_containers
            .iter_mut()
            .flatten()
            .find(|c| c.name == name)
        {
            return to_ephemeral(c);
        }
        if !spec.containers.iter().any(|c| c.name == name) {
            spec.containers.push(Container {
                name: name.to_owned(),
                ..Container::default()
            });
        }
        to_container(
            spec.containers
                .iter_mut()
                .find(|c| c.name == name)
                .expect("just added"),
        );
    }
}

pub(crate) fn se_linux(
    selinux_type: Option<&str>,
    user: Option<&str>,
    role: Option<&str>,
) -> SELinuxOptions {
    SELinuxOptions {
        type_: selinux_type.map(str::to_owned),
        user: user.map(str::to_owned),
        role: role.map(str::to_owned),
        level: None,
    }
}

fn seccomp_profile(profile_type: &str) -> SeccompProfile {
    SeccompProfile {
        type_: profile_type.to_owned(),
        localhost_profile: None,
    }
}

fn app_armor_profile(profile_type: &str) -> AppArmorProfile {
    AppArmorProfile {
        type_: profile_type.to_owned(),
        localhost_profile: None,
    }
}
