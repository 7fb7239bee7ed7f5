//! Whole bodies, hand-encoded, decoded to the Kubernetes JSON kubectl would
//! have sent. Every field number comes from the generated schema (looked up
//! by message and JSON name), never from this file.

use serde_json::{Value, json};

use crate::error::DecodeError;
use crate::schema::{self, MessageDef};
use crate::{MEDIA_TYPE, decode};

// ------------------------------------------------------------ the encoder

const OBJECT_META: &str = "apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LABEL_SELECTOR: &str = "apimachinery.pkg.apis.meta.v1.LabelSelector";

/// A message being encoded, field by field, in the order written.
struct Pb {
    message: &'static MessageDef,
    bytes: Vec<u8>,
}

fn pb(name: &str) -> Pb {
    let message = schema::all_messages()
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no message {name} in the schema"));
    Pb {
        message,
        bytes: Vec::new(),
    }
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn length_delimited(out: &mut Vec<u8>, bytes: &[u8]) {
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

impl Pb {
    fn key(&mut self, name: &str, wire_type: u64) {
        let field = self
            .message
            .field_named(name)
            .unwrap_or_else(|| panic!("no field {name} in {}", self.message.name));
        varint(&mut self.bytes, u64::from(field.number) << 3 | wire_type);
    }

    fn string(self, name: &str, value: &str) -> Self {
        self.bytes(name, value.as_bytes())
    }

    fn bytes(mut self, name: &str, value: &[u8]) -> Self {
        self.key(name, 2);
        length_delimited(&mut self.bytes, value);
        self
    }

    /// int32, int64 and bool; negative numbers sign-extended to ten bytes.
    fn int(mut self, name: &str, value: i64) -> Self {
        self.key(name, 0);
        varint(&mut self.bytes, value as u64);
        self
    }

    fn double(mut self, name: &str, value: f64) -> Self {
        self.key(name, 1);
        self.bytes.extend_from_slice(&value.to_bits().to_le_bytes());
        self
    }

    fn message(self, name: &str, value: Pb) -> Self {
        self.bytes(name, &value.bytes)
    }

    /// A packed repeated varint field.
    fn packed(self, name: &str, values: &[i64]) -> Self {
        let mut packed = Vec::new();
        for value in values {
            varint(&mut packed, *value as u64);
        }
        self.bytes(name, &packed)
    }

    /// A map entry: key 1, value 2 (a string or bytes).
    fn entry(self, name: &str, key: &str, value: &[u8]) -> Self {
        let mut entry = Vec::new();
        entry.push(0x0a);
        length_delimited(&mut entry, key.as_bytes());
        entry.push(0x12);
        length_delimited(&mut entry, value);
        self.bytes(name, &entry)
    }

    fn entry_message(self, name: &str, key: &str, value: Pb) -> Self {
        self.entry(name, key, &value.bytes)
    }
}

fn time(seconds: i64) -> Pb {
    pb("apimachinery.pkg.apis.meta.v1.Time").int("seconds", seconds)
}

fn quantity(value: &str) -> Pb {
    pb("apimachinery.pkg.api.resource.Quantity").string("string", value)
}

fn int_or_string_int(value: i64) -> Pb {
    pb("apimachinery.pkg.util.intstr.IntOrString")
        .int("type", 0)
        .int("int_val", value)
        .string("str_val", "")
}

fn int_or_string_str(value: &str) -> Pb {
    pb("apimachinery.pkg.util.intstr.IntOrString")
        .int("type", 1)
        .int("int_val", 0)
        .string("str_val", value)
}

fn meta(name: &str) -> Pb {
    pb(OBJECT_META).string("name", name)
}

/// `k8s\0` and a `runtime.Unknown` carrying the object.
fn body(api_version: &str, kind: &str, object: Pb) -> Vec<u8> {
    let type_meta = pb("apimachinery.pkg.runtime.TypeMeta")
        .string("api_version", api_version)
        .string("kind", kind);
    let unknown = pb("apimachinery.pkg.runtime.Unknown")
        .message("type_meta", type_meta)
        .bytes("raw", &object.bytes)
        .string("content_encoding", "")
        .string("content_type", "");
    [b"k8s\0".as_slice(), &unknown.bytes].concat()
}

fn decoded(api_version: &str, kind: &str, object: Pb) -> Value {
    decode(&body(api_version, kind, object)).unwrap_or_else(|e| panic!("{e}"))
}

// ------------------------------------------------------------ objects

#[test]
fn media_type_is_the_kubernetes_protobuf_type() {
    assert_eq!(MEDIA_TYPE, "application/vnd.kubernetes.protobuf");
}

#[test]
fn a_namespace_decodes_with_its_labels() {
    let namespace =
        pb("api.core.v1.Namespace").message("metadata", meta("foo").entry("labels", "a", b"b"));
    assert_eq!(
        decoded("v1", "Namespace", namespace),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo", "labels": {"a": "b"}}})
    );
}

#[test]
fn a_deployment_decodes_with_zero_replicas_quantities_and_int_or_strings() {
    let container = pb("api.core.v1.Container")
        .string("name", "nginx")
        .string("image", "nginx:1.27")
        .message(
            "ports",
            pb("api.core.v1.ContainerPort").int("containerPort", 80),
        )
        .message(
            "env",
            pb("api.core.v1.EnvVar")
                .string("name", "MODE")
                .string("value", "prod"),
        )
        .message(
            "resources",
            pb("api.core.v1.ResourceRequirements").entry_message("limits", "cpu", quantity("500m")),
        );
    let template = pb("api.core.v1.PodTemplateSpec")
        .message("metadata", pb(OBJECT_META).entry("labels", "app", b"web"))
        .message(
            "spec",
            pb("api.core.v1.PodSpec").message("containers", container),
        );
    let strategy = pb("api.apps.v1.DeploymentStrategy")
        .string("type", "RollingUpdate")
        .message(
            "rollingUpdate",
            pb("api.apps.v1.RollingUpdateDeployment")
                .message("maxUnavailable", int_or_string_int(1))
                .message("maxSurge", int_or_string_str("25%")),
        );
    let spec = pb("api.apps.v1.DeploymentSpec")
        .int("replicas", 0)
        .message(
            "selector",
            pb(LABEL_SELECTOR).entry("matchLabels", "app", b"web"),
        )
        .message("template", template)
        .message("strategy", strategy);
    let deployment = pb("api.apps.v1.Deployment")
        .message(
            "metadata",
            meta("web").message("creationTimestamp", time(1_795_741_976)),
        )
        .message("spec", spec)
        .message("status", pb("api.apps.v1.DeploymentStatus"));

    assert_eq!(
        decoded("apps/v1", "Deployment", deployment),
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "creationTimestamp": "2026-11-27T01:12:56Z"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{
                        "name": "nginx",
                        "image": "nginx:1.27",
                        "ports": [{"containerPort": 80}],
                        "env": [{"name": "MODE", "value": "prod"}],
                        "resources": {"limits": {"cpu": "500m"}},
                    }]},
                },
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"},
                },
            },
            "status": {},
        })
    );
}

#[test]
fn a_secret_decodes_its_bytes_as_base64() {
    let secret = pb("api.core.v1.Secret")
        .message("metadata", meta("token").string("namespace", "default"))
        .entry("data", "password", b"s3cr\xffet")
        .entry("data", "empty", b"")
        .string("type", "Opaque");
    assert_eq!(
        decoded("v1", "Secret", secret),
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "token", "namespace": "default"},
            "data": {"password": "czNjcv9ldA==", "empty": ""},
            "type": "Opaque",
        })
    );
}

#[test]
fn a_config_map_decodes_its_data_and_binary_data() {
    let config_map = pb("api.core.v1.ConfigMap")
        .message("metadata", meta("settings"))
        .entry("data", "mode", b"fast")
        .entry("data", "level", b"3")
        .entry("binaryData", "blob", &[0, 1, 2])
        .int("immutable", 0);
    assert_eq!(
        decoded("v1", "ConfigMap", config_map),
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings"},
            "data": {"mode": "fast", "level": "3"},
            "binaryData": {"blob": "AAEC"},
            "immutable": false,
        })
    );
}

#[test]
fn metadata_as_go_writes_it_leaves_out_the_unset_fields() {
    // Go writes every non-pointer field, set or not.
    let metadata = meta("foo")
        .string("generateName", "")
        .string("namespace", "")
        .string("selfLink", "")
        .string("uid", "")
        .string("resourceVersion", "")
        .int("generation", 0)
        .message(
            "creationTimestamp",
            pb("apimachinery.pkg.apis.meta.v1.Time"),
        );
    let namespace = pb("api.core.v1.Namespace")
        .message("metadata", metadata)
        .message("spec", pb("api.core.v1.NamespaceSpec"))
        .message(
            "status",
            pb("api.core.v1.NamespaceStatus").string("phase", ""),
        );
    assert_eq!(
        decoded("v1", "Namespace", namespace),
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "foo", "creationTimestamp": null},
            "spec": {},
            "status": {},
        })
    );
}

#[test]
fn a_service_as_kubectl_expose_writes_it_leaves_out_the_unset_node_port() {
    let port = pb("api.core.v1.ServicePort")
        .string("name", "")
        .string("protocol", "TCP")
        .int("port", 80)
        .message("targetPort", int_or_string_int(8080))
        .int("nodePort", 0);
    let spec = pb("api.core.v1.ServiceSpec")
        .message("ports", port)
        .entry("selector", "app", b"web")
        .string("clusterIP", "")
        .string("type", "")
        .string("sessionAffinity", "")
        .int("healthCheckNodePort", 0)
        .int("publishNotReadyAddresses", 0);
    let service = pb("api.core.v1.Service")
        .message("metadata", meta("web"))
        .message("spec", spec);
    assert_eq!(
        decoded("v1", "Service", service),
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"ports": [{"protocol": "TCP", "port": 80, "targetPort": 8080}], "selector": {"app": "web"}},
        })
    );
}

#[test]
fn zero_numbers_and_false_stay_where_go_may_have_a_pointer() {
    let spec = pb("api.core.v1.PodSpec")
        .int("terminationGracePeriodSeconds", 0)
        .int("automountServiceAccountToken", 0)
        .int("hostNetwork", 0)
        .message(
            "containers",
            pb("api.core.v1.Container")
                .string("name", "app")
                .message(
                    "ports",
                    pb("api.core.v1.ContainerPort")
                        .int("containerPort", 80)
                        .int("hostPort", 0),
                )
                .message(
                    "readinessProbe",
                    pb("api.core.v1.Probe")
                        .int("periodSeconds", 0)
                        .int("terminationGracePeriodSeconds", 0),
                ),
        );
    let pod = pb("api.core.v1.Pod").message("spec", spec);
    assert_eq!(
        decoded("v1", "Pod", pod)["spec"],
        json!({
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": false,
            "containers": [{
                "name": "app",
                "ports": [{"containerPort": 80}],
                "readinessProbe": {"terminationGracePeriodSeconds": 0},
            }],
        })
    );
}

#[test]
fn required_strings_and_pointer_strings_keep_their_empty_value() {
    let container = pb("api.core.v1.Container")
        .string("name", "")
        .string("imagePullPolicy", "");
    let pod = pb("api.core.v1.Pod").message(
        "spec",
        pb("api.core.v1.PodSpec").message("containers", container),
    );
    assert_eq!(
        decoded("v1", "Pod", pod)["spec"],
        json!({"containers": [{"name": ""}]})
    );

    let claim = pb("api.core.v1.PersistentVolumeClaim").message(
        "spec",
        pb("api.core.v1.PersistentVolumeClaimSpec").string("storageClassName", ""),
    );
    assert_eq!(
        decoded("v1", "PersistentVolumeClaim", claim)["spec"],
        json!({"storageClassName": ""})
    );
}

#[test]
fn inline_structs_are_flattened_into_their_parent() {
    let env = pb("api.core.v1.EnvVar").string("name", "LEVEL").message(
        "valueFrom",
        pb("api.core.v1.EnvVarSource").message(
            "configMapKeyRef",
            pb("api.core.v1.ConfigMapKeySelector")
                .message(
                    "local_object_reference",
                    pb("api.core.v1.LocalObjectReference").string("name", "settings"),
                )
                .string("key", "level"),
        ),
    );
    let volume = pb("api.core.v1.Volume").string("name", "scratch").message(
        "volume_source",
        pb("api.core.v1.VolumeSource").message(
            "emptyDir",
            pb("api.core.v1.EmptyDirVolumeSource").message("sizeLimit", quantity("1Gi")),
        ),
    );
    let spec = pb("api.core.v1.PodSpec")
        .message(
            "containers",
            pb("api.core.v1.Container")
                .string("name", "app")
                .message("env", env),
        )
        .message("volumes", volume);
    let pod = pb("api.core.v1.Pod").message("spec", spec);
    assert_eq!(
        decoded("v1", "Pod", pod)["spec"],
        json!({
            "containers": [{
                "name": "app",
                "env": [{"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "level"}}}],
            }],
            "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}}],
        })
    );
}

#[test]
fn repeated_numbers_decode_packed_and_unpacked() {
    let context = pb("api.core.v1.PodSecurityContext")
        .int("supplementalGroups", 1000)
        .packed("supplementalGroups", &[2000, -1])
        .int("runAsUser", 0)
        .int("runAsNonRoot", 1);
    let pod = pb("api.core.v1.Pod").message(
        "spec",
        pb("api.core.v1.PodSpec").message("securityContext", context),
    );
    assert_eq!(
        decoded("v1", "Pod", pod)["spec"]["securityContext"],
        json!({"supplementalGroups": [1000, 2000, -1], "runAsUser": 0, "runAsNonRoot": true})
    );
}

#[test]
fn negative_int32_values_decode_from_ten_byte_varints() {
    let probe = pb("api.core.v1.Probe").int("initialDelaySeconds", -5);
    let container = pb("api.core.v1.Container")
        .string("name", "app")
        .message("livenessProbe", probe);
    let pod = pb("api.core.v1.Pod").message(
        "spec",
        pb("api.core.v1.PodSpec").message("containers", container),
    );
    assert_eq!(
        decoded("v1", "Pod", pod)["spec"]["containers"][0]["livenessProbe"],
        json!({"initialDelaySeconds": -5})
    );
}

#[test]
fn micro_times_raw_extensions_and_fields_v1_take_their_json_forms() {
    let micro_time = pb("apimachinery.pkg.apis.meta.v1.MicroTime")
        .int("seconds", 1_795_741_976)
        .int("nanos", 123_456_789);
    let lease = pb("api.coordination.v1.Lease")
        .message(
            "metadata",
            meta("leader").message(
                "managedFields",
                pb("apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry")
                    .string("manager", "kubectl")
                    .message(
                        "fieldsV1",
                        pb("apimachinery.pkg.apis.meta.v1.FieldsV1")
                            .bytes("raw", br#"{"f:spec":{}}"#),
                    ),
            ),
        )
        .message(
            "spec",
            pb("api.coordination.v1.LeaseSpec").message("renewTime", micro_time),
        );
    assert_eq!(
        decoded("coordination.k8s.io/v1", "Lease", lease),
        json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "leader", "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]},
            "spec": {"renewTime": "2026-11-27T01:12:56.123456Z"},
        })
    );

    let raw = |bytes: &[u8]| pb("apimachinery.pkg.runtime.RawExtension").bytes("raw", bytes);
    let revision = pb("api.apps.v1.ControllerRevision")
        .message("data", raw(br#"{"spec":{"replicas":2}}"#))
        .int("revision", 3);
    assert_eq!(
        decoded("apps/v1", "ControllerRevision", revision),
        json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "data": {"spec": {"replicas": 2}}, "revision": 3})
    );
    let not_json = pb("api.apps.v1.ControllerRevision")
        .message("data", raw(b"{not json"))
        .int("revision", 3);
    assert_eq!(
        decoded("apps/v1", "ControllerRevision", not_json),
        json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "revision": 3})
    );
    let enveloped = body(
        "v1",
        "ConfigMap",
        pb("api.core.v1.ConfigMap").entry("data", "a", b"b"),
    );
    let nested = pb("api.apps.v1.ControllerRevision").message("data", raw(&enveloped));
    assert_eq!(
        decoded("apps/v1", "ControllerRevision", nested)["data"],
        json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}})
    );
}

#[test]
fn list_wrappers_decode_as_arrays() {
    let extra = pb("api.authentication.v1.ExtraValue")
        .string("items", "a")
        .string("items", "b");
    let spec = pb("api.certificates.v1.CertificateSigningRequestSpec")
        .bytes("request", b"csr")
        .string("signerName", "example.com/signer")
        .entry_message("extra", "scopes", extra);
    let request = pb("api.certificates.v1.CertificateSigningRequest").message("spec", spec);
    assert_eq!(
        decoded(
            "certificates.k8s.io/v1",
            "CertificateSigningRequest",
            request
        )["spec"],
        json!({"request": "Y3Ny", "signerName": "example.com/signer", "extra": {"scopes": ["a", "b"]}})
    );
}

#[test]
fn a_custom_resource_definition_schema_takes_its_union_forms() {
    const PROPS: &str = "apiextensions_apiserver.pkg.apis.apiextensions.v1.JsonSchemaProps";
    let string_props = || pb(PROPS).string("type", "string");
    let schema = pb(PROPS)
        .string("type", "object")
        .entry_message(
            "properties",
            "size",
            pb(PROPS).string("type", "integer").double("maximum", 10.5),
        )
        .entry_message(
            "properties",
            "tags",
            pb(PROPS).string("type", "array").message(
                "items",
                pb("apiextensions_apiserver.pkg.apis.apiextensions.v1.JsonSchemaPropsOrArray")
                    .message("schema", string_props()),
            ),
        )
        .entry_message(
            "properties",
            "labels",
            pb(PROPS).string("type", "object").message(
                "additionalProperties",
                pb("apiextensions_apiserver.pkg.apis.apiextensions.v1.JsonSchemaPropsOrBool")
                    .int("allows", 1)
                    .message("schema", string_props()),
            ),
        )
        .entry_message(
            "properties",
            "mode",
            string_props().message(
                "default",
                pb("apiextensions_apiserver.pkg.apis.apiextensions.v1.Json")
                    .bytes("raw", br#""fast""#),
            ),
        )
        .int("x-kubernetes-preserve-unknown-fields", 1);
    let version =
        pb("apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionVersion")
            .string("name", "v1")
            .int("served", 1)
            .int("storage", 1)
            .message(
                "schema",
                pb("apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceValidation")
                    .message("openAPIV3Schema", schema),
            );
    let crd = pb("apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition")
        .message(
            "spec",
            pb("apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec")
                .message("versions", version),
        );
    assert_eq!(
        decoded("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd)["spec"]["versions"][0],
        json!({
            "name": "v1",
            "served": true,
            "storage": true,
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "size": {"type": "integer", "maximum": 10.5},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "mode": {"type": "string", "default": "fast"},
                },
                "x-kubernetes-preserve-unknown-fields": true,
            }},
        })
    );
}

#[test]
fn delete_options_decode_under_any_group_version() {
    let options = pb("apimachinery.pkg.apis.meta.v1.DeleteOptions")
        .int("gracePeriodSeconds", 0)
        .string("propagationPolicy", "Foreground");
    assert_eq!(
        decoded("apps/v1", "DeleteOptions", options),
        json!({"apiVersion": "apps/v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "propagationPolicy": "Foreground"})
    );
}

#[test]
fn unknown_fields_are_skipped() {
    let mut namespace = pb("api.core.v1.Namespace").message("metadata", meta("foo"));
    // Field 99 of each wire type.
    namespace.bytes.extend([0x98, 0x06, 0x01]);
    namespace.bytes.extend([0x99, 0x06, 0, 0, 0, 0, 0, 0, 0, 0]);
    namespace.bytes.extend([0x9a, 0x06, 0x01, b'x']);
    namespace.bytes.extend([0x9d, 0x06, 0, 0, 0, 0]);
    assert_eq!(
        decoded("v1", "Namespace", namespace),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}})
    );
}

// ------------------------------------------------------------ errors

fn decode_error(body: &[u8]) -> DecodeError {
    match decode(body) {
        Ok(value) => panic!("decoded {value}"),
        Err(error) => error,
    }
}

#[test]
fn a_body_without_the_magic_is_not_enveloped() {
    for body in [
        &b""[..],
        b"k8s",
        b"k8s\x01\x0a\x00",
        b"{\"kind\":\"Namespace\"}",
    ] {
        assert!(
            matches!(decode_error(body), DecodeError::NotEnveloped),
            "{body:?}"
        );
    }
}

#[test]
fn a_truncated_varint_is_malformed() {
    let mut body = body("v1", "Namespace", pb("api.core.v1.Namespace"));
    body.push(0x80);
    let error = decode_error(&body);
    assert!(
        matches!(&error, DecodeError::Malformed { at, reason } if at == "<envelope>" && reason == "truncated input"),
        "{error:?}"
    );
}

#[test]
fn a_length_past_the_end_is_malformed_at_its_field() {
    let mut spec = pb("api.apps.v1.DeploymentSpec").int("replicas", 1);
    spec.bytes.extend([0x1a, 0x40, 0x0a]); // template: 64 bytes announced, 1 present
    let deployment = pb("api.apps.v1.Deployment").message("spec", spec);
    let error = decode_error(&body("apps/v1", "Deployment", deployment));
    assert!(
        matches!(&error, DecodeError::Malformed { at, reason } if at == "spec" && reason == "length 64 runs past the end of the message"),
        "{error:?}"
    );
}

#[test]
fn an_unknown_kind_is_named_in_the_error() {
    let error = decode_error(&body(
        "example.com/v1",
        "Widget",
        pb("api.core.v1.Namespace"),
    ));
    assert!(
        matches!(&error, DecodeError::UnknownKind { api_version, kind } if api_version == "example.com/v1" && kind == "Widget"),
        "{error:?}"
    );
}

#[test]
fn a_compressed_body_is_unsupported() {
    let unknown = pb("apimachinery.pkg.runtime.Unknown")
        .message(
            "type_meta",
            pb("apimachinery.pkg.runtime.TypeMeta")
                .string("api_version", "v1")
                .string("kind", "Namespace"),
        )
        .string("content_encoding", "gzip");
    let error = decode_error(&[b"k8s\0".as_slice(), &unknown.bytes].concat());
    assert!(
        matches!(&error, DecodeError::UnsupportedContentEncoding { encoding } if encoding == "gzip"),
        "{error:?}"
    );
}

#[test]
fn a_field_with_the_wrong_wire_type_is_malformed() {
    let spec = pb("api.apps.v1.DeploymentSpec").string("replicas", "3");
    let error = decode_error(&body(
        "apps/v1",
        "Deployment",
        pb("api.apps.v1.Deployment").message("spec", spec),
    ));
    assert!(
        matches!(&error, DecodeError::Malformed { at, reason }
            if at == "spec.replicas" && reason == "a field of type int32 cannot have wire type length-delimited"),
        "{error:?}"
    );
}

#[test]
fn a_group_is_malformed() {
    let mut namespace = pb("api.core.v1.Namespace");
    namespace.bytes.push(0x0b); // field 1, start group
    assert!(matches!(
        decode_error(&body("v1", "Namespace", namespace)),
        DecodeError::Malformed { .. }
    ));
}

#[test]
fn a_time_past_year_9999_is_malformed() {
    let namespace = pb("api.core.v1.Namespace").message(
        "metadata",
        meta("foo").message("creationTimestamp", time(i64::MAX)),
    );
    let error = decode_error(&body("v1", "Namespace", namespace));
    assert!(
        matches!(&error, DecodeError::Malformed { at, .. } if at == "metadata.creationTimestamp"),
        "{error:?}"
    );
}

#[test]
fn nesting_deeper_than_the_limit_is_refused() {
    const PROPS: &str = "apiextensions_apiserver.pkg.apis.apiextensions.v1.JsonSchemaProps";
    let nest = |levels: usize| {
        let mut schema = pb(PROPS).string("type", "string");
        for _ in 0..levels {
            schema = pb(PROPS).message("not", schema);
        }
        let version = pb(
            "apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionVersion",
        )
        .message(
            "schema",
            pb("apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceValidation")
                .message("openAPIV3Schema", schema),
        );
        let crd = pb("apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition")
            .message(
            "spec",
            pb("apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec")
                .message("versions", version),
        );
        decode(&body(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            crd,
        ))
    };
    // The CRD, its spec, the version, the validation and the schema are five levels.
    assert!(nest(59).is_ok());
    assert!(matches!(
        nest(60),
        Err(DecodeError::TooDeep { limit: 64, .. })
    ));
    assert!(matches!(
        nest(10_000),
        Err(DecodeError::TooDeep { limit: 64, .. })
    ));
}

// ------------------------------------------------------------ robustness

/// xorshift64*: deterministic noise for the fuzz-style tests.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// A deployment body, and where the envelope's `raw` field starts in it.
fn sample_deployment() -> (Vec<u8>, usize) {
    let container = pb("api.core.v1.Container")
        .string("name", "nginx")
        .string("image", "nginx")
        .message(
            "ports",
            pb("api.core.v1.ContainerPort").int("containerPort", 80),
        )
        .message(
            "resources",
            pb("api.core.v1.ResourceRequirements").entry_message("limits", "cpu", quantity("500m")),
        );
    let spec = pb("api.apps.v1.DeploymentSpec")
        .int("replicas", 2)
        .message(
            "selector",
            pb(LABEL_SELECTOR).entry("matchLabels", "app", b"web"),
        )
        .message(
            "template",
            pb("api.core.v1.PodTemplateSpec").message(
                "spec",
                pb("api.core.v1.PodSpec").message("containers", container),
            ),
        )
        .message(
            "strategy",
            pb("api.apps.v1.DeploymentStrategy").message(
                "rollingUpdate",
                pb("api.apps.v1.RollingUpdateDeployment")
                    .message("maxSurge", int_or_string_str("25%")),
            ),
        );
    let deployment = pb("api.apps.v1.Deployment")
        .message(
            "metadata",
            meta("web").message("creationTimestamp", time(1_795_741_976)),
        )
        .message("spec", spec);
    // The object last in the envelope, so that every cut inside it truncates it.
    let type_meta = pb("apimachinery.pkg.runtime.TypeMeta")
        .string("api_version", "apps/v1")
        .string("kind", "Deployment");
    let unknown = pb("apimachinery.pkg.runtime.Unknown").message("type_meta", type_meta);
    let raw_at = 4 + unknown.bytes.len();
    let unknown = unknown.bytes("raw", &deployment.bytes);
    ([b"k8s\0".as_slice(), &unknown.bytes].concat(), raw_at)
}

#[test]
fn every_truncation_of_a_body_is_an_error_but_the_one_before_the_object() {
    let (body, raw_at) = sample_deployment();
    assert!(decode(&body).is_ok());
    for end in 0..body.len() {
        let result = decode(&body[..end]);
        if end == raw_at {
            // Protobuf has no end marker: the envelope without its object is
            // a valid, empty object.
            assert_eq!(
                result.ok(),
                Some(json!({"apiVersion": "apps/v1", "kind": "Deployment"}))
            );
        } else {
            assert!(
                result.is_err(),
                "the body cut at {end} of {} decoded",
                body.len()
            );
        }
    }
}

#[test]
fn random_and_corrupted_bodies_never_panic() {
    let (body, _) = sample_deployment();
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        // Flip a few bytes of a valid body.
        let mut corrupted = body.clone();
        for _ in 0..1 + noise.next() % 4 {
            let at = 4 + (noise.next() as usize) % (corrupted.len() - 4);
            corrupted[at] = noise.next() as u8;
        }
        let _ = decode(&corrupted);
        // Magic, then noise.
        let length = (noise.next() % 64) as usize;
        let random: Vec<u8> = b"k8s\0"
            .iter()
            .copied()
            .chain((0..length).map(|_| noise.next() as u8))
            .collect();
        let _ = decode(&random);
    }
}

#[test]
fn special_messages_have_the_fields_the_decoder_reads() {
    use crate::schema::Special;
    let expected: [(Special, &[&str]); 11] = [
        (Special::Time, &["seconds", "nanos"]),
        (Special::MicroTime, &["seconds", "nanos"]),
        (Special::Duration, &["duration"]),
        (Special::Quantity, &["string"]),
        (Special::IntOrString, &["type", "int_val", "str_val"]),
        (Special::RawJson, &["raw"]),
        (Special::SchemaOrArray, &["schema", "j_son_schemas"]),
        (Special::SchemaOrBool, &["allows", "schema"]),
        (Special::SchemaOrStringArray, &["schema", "property"]),
        (Special::Items, &["items"]),
        (Special::Envelope, &[]),
    ];
    for (special, fields) in expected {
        let messages: Vec<_> = schema::all_messages()
            .iter()
            .filter(|m| m.special == special)
            .collect();
        assert!(!messages.is_empty(), "no {special:?} message in the schema");
        for message in messages {
            for field in fields {
                assert!(
                    message.field_named(field).is_some(),
                    "{} has no field {field}",
                    message.name
                );
            }
        }
    }
    let unknown = schema::envelope().expect("the envelope");
    for field in ["type_meta", "raw", "content_encoding", "content_type"] {
        assert!(
            unknown.field_named(field).is_some(),
            "runtime.Unknown has no field {field}"
        );
    }
}
