//! Decodes Kubernetes protobuf request bodies
//! (`Content-Type: application/vnd.kubernetes.protobuf`) into the object's
//! Kubernetes JSON form, as a `serde_json::Value`.
//!
//! kubectl's generator commands (`create namespace`, `create deployment`,
//! `run`, `expose`, …) send their bodies this way and client-go does not fall
//! back to JSON on `415`. A body is the magic `k8s\0` followed by a
//! `runtime.Unknown` envelope naming the object's `apiVersion` and `kind` and
//! carrying the object's own protobuf encoding. [`decode`] reads both and
//! returns the object with `apiVersion` and `kind` set from the envelope.
//!
//! What each message's fields are called in JSON comes from a schema
//! generated from the `k8s-pb` and `k8s-openapi` crates by
//! `scripts/gen-protobuf-schema.py` (`src/schema_generated.rs`). Messages with
//! a JSON form of their own — `Time`, `MicroTime`, `Duration`, `Quantity`,
//! `IntOrString`, `RawExtension`, `FieldsV1`, list wrappers such as
//! `ExtraValue` — are converted as Kubernetes converts them.
//!
//! Presence follows the wire: a field present in the body appears in the JSON
//! even with a zero value (`"replicas": 0`, `"runAsUser": 0`), with one
//! exception. Go writes every non-pointer field to the wire, set or not, so a
//! zero value in a field that is omitempty in Kubernetes JSON means "unset"
//! and is left out, as Go's JSON encoder leaves it out: empty strings in
//! optional string fields (`metadata.namespace`, `imagePullPolicy`) and zeros
//! in a listed set of non-pointer numbers and booleans (`nodePort`,
//! `hostPort`, probe timings, `metadata.generation`). Other zero numbers and
//! `false` stay, since the sources cannot tell them from Go pointers whose
//! zero is a value. Fields the schema does not know are skipped.
//!
//! Responses stay JSON; the same schema gives their field order:
//! [`to_json`] writes an object of a kind it knows with its fields in the Go
//! struct's order, as kube-apiserver does. The crate knows nothing of HTTP
//! or storage; it never panics on any input, and bounds nesting at 64
//! messages.

mod decode;
mod error;
mod json;
mod schema;
mod special;
mod wire;

#[cfg(test)]
mod tests;

pub use decode::decode;
pub use error::{DecodeError, Result};
pub use json::{to_json, write_json};

/// The media type of Kubernetes protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
