//! The well-known names the controllers read and write, as `k8s.io/api`
//! spells them.

/// The label naming the Service an EndpointSlice belongs to
/// (`discovery.LabelServiceName`).
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";

/// The label naming the controller that manages an EndpointSlice
/// (`discovery.LabelManagedBy`).
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";

/// This controller's value of [`LABEL_MANAGED_BY`], Kubernetes' own: slices
/// it manages are not touched by another implementation and vice versa.
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";

/// The label on Endpoints and EndpointSlices of a Service without a cluster
/// IP (`v1.IsHeadlessService`).
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";

/// The annotation on Endpoints that had to drop addresses beyond
/// [`crate::endpoints::MAX_CAPACITY`] (`v1.EndpointsOverCapacity`).
pub const ANNOTATION_OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";

/// The value of [`ANNOTATION_OVER_CAPACITY`].
pub const TRUNCATED: &str = "truncated";

/// Event reasons, as Kubernetes' controllers record them.
pub mod reasons {
    /// On the Endpoints (`FailedToCreateEndpoint`).
    pub const FAILED_TO_CREATE_ENDPOINT: &str = "FailedToCreateEndpoint";
    /// On the Endpoints (`FailedToUpdateEndpoint`).
    pub const FAILED_TO_UPDATE_ENDPOINT: &str = "FailedToUpdateEndpoint";
    /// On the Service (`FailedToUpdateEndpointSlices`).
    pub const FAILED_TO_UPDATE_ENDPOINT_SLICES: &str = "FailedToUpdateEndpointSlices";
}
