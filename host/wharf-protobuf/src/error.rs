//! Why a body could not be decoded: one variant per stage that failed, each
//! naming where it failed.
//!
//! Every variant is the client's fault; the API server answers all of them
//! with a `400 Bad Request`-style `Status` (an unknown kind may rather be a
//! `415 Unsupported Media Type`: the server cannot read that kind as protobuf).

/// A decoding result.
pub type Result<T, E = DecodeError> = std::result::Result<T, E>;

/// Why a Kubernetes protobuf body could not be decoded.
///
/// `at` fields are dotted field paths from the object root, such as
/// `spec.template.spec.containers[0].image`; `<envelope>` is the
/// `runtime.Unknown` around the object.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body does not start with the magic bytes `k8s\0`.
    #[error("the body is not a Kubernetes protobuf object: it does not start with \"k8s\\0\"")]
    NotEnveloped,

    /// The bytes are not valid protobuf for the schema: truncated, a varint
    /// over ten bytes, a group, a wire type the field cannot have, or a value
    /// with no JSON form (a time past year 9999, a NaN).
    #[error("malformed protobuf at {at}: {reason}")]
    Malformed { at: String, reason: String },

    /// The envelope names a kind this decoder has no schema for.
    #[error("no protobuf schema for kind {kind:?} of apiVersion {api_version:?}")]
    UnknownKind { api_version: String, kind: String },

    /// The envelope's `contentEncoding` is set (compression is not supported).
    #[error("unsupported protobuf content encoding {encoding:?}")]
    UnsupportedContentEncoding { encoding: String },

    /// Messages nest deeper than the decoder follows.
    #[error("protobuf messages nest deeper than {limit} at {at}")]
    TooDeep { at: String, limit: usize },
}
