//! One strategy per kind, as kube-apiserver's registry has one `strategy.go`
//! per kind: what is particular to a kind lives in its file here, and the
//! API server's generic code asks the kind's [`Strategy`]. Adding a kind is
//! a file and a line in [`strategy`]; a kind without a file (a kind
//! defined at run time, later) gets [`Generic`].
//!
//! Today a strategy gives the kind's defaults, its own validation, what the
//! server sets on create (`prepare_for_create`: a Pod's ServiceAccount
//! volume, a CSR's requestor), what an update may not change
//! (`prepare_for_update`) and how `kubectl get` prints it (the `Table`
//! columns and cells, as kube's printers compute them). A custom kind's
//! strategy is its CustomResourceDefinition's (`custom.rs`: pruning,
//! defaulting and validation by its schema, its printer columns). Services'
//! allocations and Namespaces' finalization are still in `objects.rs`, and
//! move here next. Checks shared by
//! several kinds (a pod template's, a workload's selector, ConfigMap and
//! Secret sizes) stay in `validation.rs`, which the kinds call.

mod certificate_signing_request;
mod config_map;
mod controller_revision;
mod cron_job;
mod csi_driver;
mod custom;
mod custom_resource_definition;
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
        _ => &Generic,
    }
}
