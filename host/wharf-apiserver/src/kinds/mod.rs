//! One strategy per kind, as kube-apiserver's registry has one `strategy.go`
//! per kind: what is particular to a kind lives in its file here, and the
//! API server's generic code (`objects.rs`) asks the kind's [`Strategy`].
//! Adding a kind is a file and a line in [`strategy`]; a kind without a
//! file gets [`Generic`], and a custom kind its CustomResourceDefinition's
//! (`custom.rs`: pruning, defaulting and validation by its schema, its
//! printer columns).
//!
//! A strategy gives the kind's defaults, its own validation, what the
//! server sets on create (`prepare_for_create`: a Pod's ServiceAccount
//! volume, a CSR's requestor), what an update may not change
//! (`prepare_for_update`, `prepare_for_status_update`), what it takes from
//! pools shared by every object and gives back (`allocate`, `written`: a
//! Service's ClusterIPs and NodePorts), how it is deleted (`check_delete`,
//! `grace_seconds`, `holds_deletion`, `mark_deleting`: the namespaces that
//! always exist, a pod's grace period, a Namespace's finalization) and how
//! `kubectl get` prints it (the `Table` columns and cells, as kube's
//! printers compute them). Checks shared by several kinds (a pod
//! template's, a workload's selector, ConfigMap and Secret sizes) stay in
//! `validation.rs`, which the kinds call.

mod admission_registration;
mod certificate_signing_request;
mod config_map;
mod controller_revision;
mod cron_job;
mod csi_driver;
mod custom;
pub(crate) mod custom_resource_definition;
mod daemon_set;
mod deployment;
mod endpoint_slice;
mod endpoints;
mod event;
mod horizontal_pod_autoscaler;
mod ingress;
mod ingress_class;
mod job;
mod lease;
mod limit_range;
mod namespace;
mod network_policy;
mod node;
mod persistent_volume;
mod persistent_volume_claim;
mod plugin;
mod pod;
mod pod_disruption_budget;
mod pod_template;
pub mod priority_class;
mod replica_set;
mod replication_controller;
mod resource_quota;
mod role;
mod role_binding;
mod secret;
mod service;
mod service_account;
mod stateful_set;
mod storage_class;
mod volume_attachment;

use serde_json::{Value, json};

use crate::Objects;
use crate::admission::UserInfo;
use crate::error::{ApiResult, Cause};
use crate::resources::ResourceDef;
use crate::table::{age, text};

/// A column: name, type, priority (0 always shown, 1 with `-o wide`), description.
pub use wharf_client::Column;

pub const NAME: Column = (
    "Name",
    "string",
    0,
    "Name must be unique within a namespace.",
);
pub const AGE: Column = (
    "Age",
    "string",
    0,
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
);

/// The wide columns of every kind with a pod template.
pub const CONTAINERS: Column = (
    "Containers",
    "string",
    1,
    "Names of each container in the template.",
);
pub const IMAGES: Column = (
    "Images",
    "string",
    1,
    "Images referenced by each container in the template.",
);
pub const SELECTOR: Column = ("Selector", "string", 1, "Label selector for pods.");

/// What is particular to one kind.
#[async_trait::async_trait]
pub trait Strategy: Sync {
    /// On create, after defaulting and before admission: what the server
    /// sets itself (a Pod's ServiceAccount volume, a request's requestor).
    async fn prepare_for_create(
        &self,
        _objects: &Objects,
        _namespace: Option<&str>,
        _user: &UserInfo,
        _object: &mut Value,
    ) -> ApiResult<()> {
        Ok(())
    }

    /// On an update of the main resource (not its status): what the
    /// client may not change is put back from `current`.
    fn prepare_for_update(&self, _current: &Value, _next: &mut Value) {}

    /// On an update of the status: what the status may not change is put
    /// back from `current`.
    fn prepare_for_status_update(&self, _current: &Value, _next: &mut Value) {}

    /// Sets the defaults Kubernetes sets on every decode (create and
    /// update), for the kinds whose controllers and printers rely on them.
    fn default(&self, _object: &mut Value) {}

    /// The kind's own validation (after the checks every object gets).
    fn validate(&self, _object: &Value, _causes: &mut Vec<Cause>) {}

    /// After [`Strategy::validate`] of `next`, on a create (`current` is
    /// `None`, `part` [`Part::Main`](crate::objects::Part)) or an update of
    /// `part`: what may not be set on create or change from `current` (a
    /// Pod's spec).
    fn validate_change(
        &self,
        _current: Option<&Value>,
        _next: &Value,
        _part: crate::objects::Part,
        _causes: &mut Vec<Cause>,
    ) {
    }

    /// Before an object is stored (created, or updated and not being
    /// finished): what it takes from pools shared by every object (a
    /// Service's ClusterIPs and NodePorts), recorded in `claimed` so that
    /// the caller gives it back if the write fails.
    async fn allocate(
        &self,
        _objects: &Objects,
        _current: Option<&Value>,
        _next: &mut Value,
        _claimed: &mut crate::allocator::Claimed,
    ) -> ApiResult<()> {
        Ok(())
    }

    /// After a write of `current`: what it held and `kept` (the object as
    /// stored now; none once deleted) no longer does goes back to its pool.
    async fn written(&self, _objects: &Objects, _current: &Value, _kept: Option<&Value>) {}

    /// Whether an object named `name` may be deleted at all.
    fn check_delete(&self, _name: &str) -> ApiResult<()> {
        Ok(())
    }

    /// How long a deleted object may take to stop (`requested` is the
    /// client's `gracePeriodSeconds`): 0 deletes it at once, unless
    /// finalizers hold it.
    fn grace_seconds(&self, _object: &Value, _requested: Option<i64>) -> i64 {
        0
    }

    /// Whether something of the object's own holds its deletion (a
    /// Namespace's `spec.finalizers`), beyond `metadata.finalizers`.
    fn holds_deletion(&self, _object: &Value) -> bool {
        false
    }

    /// What an object marked for deletion shows (a Namespace is Terminating).
    fn mark_deleting(&self, _object: &mut Value) {}

    /// The columns `kubectl get` prints (kube's `TableColumnDefinition`s).
    fn columns(&self) -> &[Column] {
        &[NAME, AGE]
    }

    /// One object's cells, as many as [`Strategy::columns`].
    fn cells(&self, object: &Value, now: k8s_openapi::jiff::Timestamp) -> Vec<Value> {
        let (name, created) = name_and_age(object, now);
        vec![name, created]
    }
}

/// A kind with nothing particular: its name and age.
pub struct Generic;

#[async_trait::async_trait]
impl Strategy for Generic {}

/// The NAME and AGE cells of an object.
pub fn name_and_age(object: &Value, now: k8s_openapi::jiff::Timestamp) -> (Value, Value) {
    (
        json!(text(object.pointer("/metadata/name"))),
        json!(age(object, "/metadata/creationTimestamp", now)),
    )
}

/// The strategy of a kind: a built-in kind's, or a custom kind's (driven
/// by its CustomResourceDefinition).
pub fn strategy(resource: &ResourceDef) -> &dyn Strategy {
    if let Some(custom) = &resource.custom {
        return custom.as_ref();
    }
    match resource.kind {
        "Pod" => &pod::Pod,
        "Deployment" => &deployment::Deployment,
        "ReplicaSet" => &replica_set::ReplicaSet,
        "StatefulSet" => &stateful_set::StatefulSet,
        "DaemonSet" => &daemon_set::DaemonSet,
        "Service" => &service::Service,
        "Node" => &node::Node,
        "Namespace" => &namespace::Namespace,
        "ConfigMap" => &config_map::ConfigMap,
        "Secret" => &secret::Secret,
        "ServiceAccount" => &service_account::ServiceAccount,
        "Endpoints" => &endpoints::Endpoints,
        "Event" => &event::Event,
        "Ingress" => &ingress::Ingress,
        "EndpointSlice" => &endpoint_slice::EndpointSlice,
        "CertificateSigningRequest" => &certificate_signing_request::CertificateSigningRequest,
        "Lease" => &lease::Lease,
        "RoleBinding" | "ClusterRoleBinding" => &role_binding::RoleBinding,
        "Role" | "ClusterRole" => &role::Role,
        "LimitRange" => &limit_range::LimitRange,
        "ResourceQuota" => &resource_quota::ResourceQuota,
        "Plugin" => &plugin::Plugin,
        "PersistentVolume" => &persistent_volume::PersistentVolume,
        "PersistentVolumeClaim" => &persistent_volume_claim::PersistentVolumeClaim,
        "ReplicationController" => &replication_controller::ReplicationController,
        "PodTemplate" => &pod_template::PodTemplate,
        "ControllerRevision" => &controller_revision::ControllerRevision,
        "Job" => &job::Job,
        "CronJob" => &cron_job::CronJob,
        "HorizontalPodAutoscaler" => &horizontal_pod_autoscaler::HorizontalPodAutoscaler,
        "PodDisruptionBudget" => &pod_disruption_budget::PodDisruptionBudget,
        "StorageClass" => &storage_class::StorageClass,
        "CSIDriver" => &csi_driver::CSIDriver,
        "VolumeAttachment" => &volume_attachment::VolumeAttachment,
        "PriorityClass" => &priority_class::PriorityClass,
        "NetworkPolicy" => &network_policy::NetworkPolicy,
        "IngressClass" => &ingress_class::IngressClass,
        "CustomResourceDefinition" => &custom_resource_definition::CustomResourceDefinition,
        "ValidatingWebhookConfiguration"
        | "MutatingWebhookConfiguration"
        | "ValidatingAdmissionPolicy"
        | "ValidatingAdmissionPolicyBinding" => &admission_registration::AdmissionRegistration,
        _ => &Generic,
    }
}
