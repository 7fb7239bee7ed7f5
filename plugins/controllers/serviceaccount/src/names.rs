//! The well-known names the controllers write, as Kubernetes spells them.

/// The ServiceAccount every namespace has (the one account of
/// `DefaultServiceAccountsControllerOptions`).
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";

/// The ConfigMap the root CA is published in
/// (`rootcacertpublisher.RootCACertConfigMapName`).
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";

/// The key of the bundle in [`ROOT_CA_CONFIG_MAP`]'s data.
pub const CA_CERT_KEY: &str = "ca.crt";

/// The annotation that says what [`ROOT_CA_CONFIG_MAP`] is for
/// (`rootcacertpublisher.DescriptionAnnotation`).
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";

/// The value of [`DESCRIPTION_ANNOTATION`] (`rootcacertpublisher.Description`).
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// `status.phase` of a Namespace being deleted (`v1.NamespaceTerminating`).
pub const PHASE_TERMINATING: &str = "Terminating";
