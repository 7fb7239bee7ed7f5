//! How each list field merges: the `patchStrategy`/`patchMergeKey` tags of
//! the Kubernetes types, looked up by field path.

/// How a list field merges, from the Kubernetes type's `patchStrategy` and
/// `patchMergeKey` tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// No merge strategy: the patch's list replaces the live list whole.
    Atomic,
    /// `patchStrategy: merge` with `patchMergeKey: <key>`: a list of objects
    /// whose items are matched by the value of `key` and merged one by one.
    MergeByKey(&'static str),
    /// `patchStrategy: merge` without a merge key: a list of scalars merged
    /// as a set, such as `metadata.finalizers`.
    MergeSet,
}

impl ListStrategy {
    /// The merge key, for [`ListStrategy::MergeByKey`].
    pub fn merge_key(self) -> Option<&'static str> {
        match self {
            Self::MergeByKey(key) => Some(key),
            Self::Atomic | Self::MergeSet => None,
        }
    }

    /// Whether the live and patch lists merge (rather than the patch's list
    /// replacing the live one).
    pub fn merges(self) -> bool {
        !matches!(self, Self::Atomic)
    }
}

/// Where merge strategies come from.
///
/// `path` holds the field names from the object root to the map that holds
/// `field`; list items add no element. So the `ports` of a Deployment's
/// containers are asked for as path `["spec", "template", "spec",
/// "containers"]`, field `"ports"`.
pub trait PatchSchema {
    /// How the list at `path.field` merges.
    fn list_strategy(&self, path: &[&str], field: &str) -> ListStrategy;

    /// Whether the field at `path.field` has `patchStrategy: retainKeys` (for
    /// a list: whether its items have).
    ///
    /// Applying a patch does not need this: like the API server,
    /// [`strategic_merge`](crate::strategic_merge) honours a `$retainKeys`
    /// directive wherever a patch carries one. A patch generator emits
    /// `$retainKeys` for exactly these fields.
    fn retain_keys(&self, path: &[&str], field: &str) -> bool {
        let _ = (path, field);
        false
    }
}

/// The merge strategies of Kubernetes' built-in types (core, apps, batch,
/// networking, RBAC, …), decided from the field name and where it sits.
///
/// Kubernetes decides from Go struct types; without types we decide from
/// the path: a container is an item of a `containers`, `initContainers` or
/// `ephemeralContainers` list; a pod spec is any map named `spec` (a Pod's
/// own, or a template's); `ports` directly under the root `spec` are a
/// Service's. Every field not listed is [`ListStrategy::Atomic`], as are all
/// fields of custom resources (which do not accept strategic merge patches).
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinSchema;

impl PatchSchema for BuiltinSchema {
    fn list_strategy(&self, path: &[&str], field: &str) -> ListStrategy {
        use ListStrategy::{Atomic, MergeByKey, MergeSet};

        let at = Context::of(path);
        match field {
            // PodSpec.
            "containers" | "initContainers" | "ephemeralContainers" => MergeByKey("name"),
            "volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates"
                if at.pod_spec =>
            {
                MergeByKey("name")
            }
            "hostAliases" if at.pod_spec => MergeByKey("ip"),
            // Kubernetes' list-map keys are topologyKey + whenUnsatisfiable,
            // but its patch merge key is topologyKey alone.
            "topologySpreadConstraints" if at.pod_spec => MergeByKey("topologyKey"),

            // Container.
            "env" if at.container => MergeByKey("name"),
            "ports" if at.container => MergeByKey("containerPort"),
            "volumeMounts" if at.container => MergeByKey("mountPath"),
            "volumeDevices" if at.container => MergeByKey("devicePath"),

            // ServiceSpec (`spec.ports` of the root object) and NodeSpec.
            "ports" if at.root_spec => MergeByKey("port"),
            "podCIDRs" if at.root_spec => MergeSet,

            // ObjectMeta, wherever it sits (the object's or a template's).
            "finalizers" if at.metadata => MergeSet,
            "ownerReferences" if at.metadata => MergeByKey("uid"),

            // Status of pods, nodes, workloads, services, claims, ….
            "conditions" | "addresses" if at.status => MergeByKey("type"),
            "podIPs" | "hostIPs" if at.status => MergeByKey("ip"),
            "resourceClaimStatuses" if at.status => MergeByKey("name"),

            // ServiceAccount.
            "secrets" if at.root => MergeByKey("name"),

            _ => Atomic,
        }
    }

    fn retain_keys(&self, path: &[&str], field: &str) -> bool {
        let at = Context::of(path);
        match field {
            // DeploymentSpec.strategy.
            "strategy" => at.root_spec,
            // PodSpec.volumes, PodSpec.resourceClaims, PodStatus.resourceClaimStatuses.
            "volumes" | "resourceClaims" => at.pod_spec,
            "resourceClaimStatuses" => at.status,
            _ => false,
        }
    }
}

/// What the map holding a field is, as far as its path tells.
struct Context {
    /// The object itself.
    root: bool,
    /// The object's own `spec`.
    root_spec: bool,
    /// A map named `spec`: a Pod's spec or a pod template's.
    pod_spec: bool,
    /// An item of a containers list.
    container: bool,
    /// A map named `metadata`.
    metadata: bool,
    /// A map named `status`.
    status: bool,
}

impl Context {
    fn of(path: &[&str]) -> Self {
        let parent = path.last().copied();
        Self {
            root: path.is_empty(),
            root_spec: path == ["spec"],
            pod_spec: parent == Some("spec"),
            container: matches!(
                parent,
                Some("containers" | "initContainers" | "ephemeralContainers")
            ),
            metadata: parent == Some("metadata"),
            status: parent == Some("status"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ListStrategy::{Atomic, MergeByKey, MergeSet};

    const DEPLOYMENT_POD: &[&str] = &["spec", "template", "spec"];
    const DEPLOYMENT_CONTAINER: &[&str] = &["spec", "template", "spec", "containers"];
    #[rustfmt::skip]
    const CRONJOB_CONTAINER: &[&str] = &["spec", "jobTemplate", "spec", "template", "spec", "initContainers"];

    #[test]
    fn builtin_schema_gives_the_kubernetes_merge_strategies() {
        #[rustfmt::skip]
        let cases: &[(&str, &[&str], &str, ListStrategy)] = &[
            ("pod containers merge by name", &["spec"], "containers", MergeByKey("name")),
            ("template containers merge by name", DEPLOYMENT_POD, "containers", MergeByKey("name")),
            ("init containers merge by name", DEPLOYMENT_POD, "initContainers", MergeByKey("name")),
            ("ephemeral containers merge by name", &["spec"], "ephemeralContainers", MergeByKey("name")),
            ("env merges by name", DEPLOYMENT_CONTAINER, "env", MergeByKey("name")),
            ("volume mounts merge by mount path", DEPLOYMENT_CONTAINER, "volumeMounts", MergeByKey("mountPath")),
            ("volume devices merge by device path", CRONJOB_CONTAINER, "volumeDevices", MergeByKey("devicePath")),
            ("container ports merge by container port", DEPLOYMENT_CONTAINER, "ports", MergeByKey("containerPort")),
            ("cron job container ports merge by container port", CRONJOB_CONTAINER, "ports", MergeByKey("containerPort")),
            ("service ports merge by port", &["spec"], "ports", MergeByKey("port")),
            ("volumes merge by name", DEPLOYMENT_POD, "volumes", MergeByKey("name")),
            ("image pull secrets merge by name", &["spec"], "imagePullSecrets", MergeByKey("name")),
            ("host aliases merge by ip", &["spec"], "hostAliases", MergeByKey("ip")),
            ("resource claims merge by name", DEPLOYMENT_POD, "resourceClaims", MergeByKey("name")),
            ("scheduling gates merge by name", &["spec"], "schedulingGates", MergeByKey("name")),
            ("topology spread constraints merge by topology key", DEPLOYMENT_POD, "topologySpreadConstraints", MergeByKey("topologyKey")),
            ("pod conditions merge by type", &["status"], "conditions", MergeByKey("type")),
            ("node addresses merge by type", &["status"], "addresses", MergeByKey("type")),
            ("pod ips merge by ip", &["status"], "podIPs", MergeByKey("ip")),
            ("host ips merge by ip", &["status"], "hostIPs", MergeByKey("ip")),
            ("resource claim statuses merge by name", &["status"], "resourceClaimStatuses", MergeByKey("name")),
            ("owner references merge by uid", &["metadata"], "ownerReferences", MergeByKey("uid")),
            ("finalizers merge as a set", &["metadata"], "finalizers", MergeSet),
            ("template finalizers merge as a set", &["spec", "template", "metadata"], "finalizers", MergeSet),
            ("node pod CIDRs merge as a set", &["spec"], "podCIDRs", MergeSet),
            ("service account secrets merge by name", &[], "secrets", MergeByKey("name")),
            ("tolerations are atomic", DEPLOYMENT_POD, "tolerations", Atomic),
            ("args are atomic", DEPLOYMENT_CONTAINER, "args", Atomic),
            ("command is atomic", DEPLOYMENT_CONTAINER, "command", Atomic),
            ("env from is atomic", DEPLOYMENT_CONTAINER, "envFrom", Atomic),
            ("node taints are atomic", &["spec"], "taints", Atomic),
            ("endpoints subsets are atomic", &[], "subsets", Atomic),
            ("role rules are atomic", &[], "rules", Atomic),
            ("endpoint slice ports are atomic", &[], "ports", Atomic),
            ("network policy ports are atomic", &["spec", "ingress"], "ports", Atomic),
            ("namespace finalizers are atomic", &["spec"], "finalizers", Atomic),
            ("service account image pull secrets are atomic", &[], "imagePullSecrets", Atomic),
            ("container statuses are atomic", &["status"], "containerStatuses", Atomic),
        ];
        for (name, path, field, expected) in cases {
            assert_eq!(
                BuiltinSchema.list_strategy(path, field),
                *expected,
                "{name}"
            );
        }
    }

    #[test]
    fn builtin_schema_knows_which_fields_retain_keys() {
        #[rustfmt::skip]
        let cases: &[(&str, &[&str], &str, bool)] = &[
            ("deployment strategy retains keys", &["spec"], "strategy", true),
            ("pod volumes retain keys", DEPLOYMENT_POD, "volumes", true),
            ("pod resource claims retain keys", &["spec"], "resourceClaims", true),
            ("pod resource claim statuses retain keys", &["status"], "resourceClaimStatuses", true),
            ("daemon set update strategy does not", &["spec"], "updateStrategy", false),
            ("containers do not", DEPLOYMENT_POD, "containers", false),
        ];
        for (name, path, field, expected) in cases {
            assert_eq!(BuiltinSchema.retain_keys(path, field), *expected, "{name}");
        }
    }
}
