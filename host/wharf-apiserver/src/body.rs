//! Request bodies: size limit, JSON or YAML.

use axum::body::Body;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// The largest request body accepted: 3 MiB, as Kubernetes.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// How much of a refused body is still read (and thrown away) so that the
/// client, still sending, gets to read the 413 instead of a reset
/// connection; past it the connection is dropped.
const DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`].
pub async fn read(body: Body) -> ApiResult<bytes::Bytes> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut bytes = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            ApiError::BadRequest(format!("could not read the request body: {error}"))
        })?;
        seen += chunk.len();
        if seen > DRAIN_BYTES {
            break;
        }
        if seen <= MAX_BODY_BYTES {
            bytes.extend_from_slice(&chunk);
        }
    }
    if seen > MAX_BODY_BYTES {
        return Err(ApiError::TooLarge(format!(
            "the request body is larger than the limit of {MAX_BODY_BYTES} bytes"
        )));
    }
    Ok(bytes.freeze())
}

/// The fields a JSON body gives more than once, as dotted paths
/// (`metadata.name`, `spec.containers[0].image`): kube's strict decoding
/// refuses them, its default warns. Bodies in other media types, or not
/// JSON at all, give none here (their parser speaks for them).
pub fn duplicate_fields(content_type: Option<&str>, body: &[u8]) -> Vec<String> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    /// The paths found, in order, each once (checked in a set: a body may
    /// give a hundred thousand fields twice).
    #[derive(Default)]
    struct Found {
        paths: Vec<String>,
        known: std::collections::HashSet<String>,
    }

    struct Walk<'a> {
        path: String,
        found: &'a mut Found,
    }

    impl<'de> DeserializeSeed<'de> for Walk<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Walk<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
            let mut index = 0;
            while items
                .next_element_seed(Walk {
                    path: format!("{}[{index}]", self.path),
                    found: &mut *self.found,
                })?
                .is_some()
            {
                index += 1;
            }
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                let path = if self.path.is_empty() {
                    key.clone()
                } else {
                    format!("{}.{key}", self.path)
                };
                if !seen.insert(key) && self.found.known.insert(path.clone()) {
                    self.found.paths.push(path.clone());
                }
                map.next_value_seed(Walk {
                    path,
                    found: &mut *self.found,
                })?;
            }
            Ok(())
        }
    }

    let json = matches!(
        content_type
            .and_then(|c| c.split(';').next())
            .map(str::trim),
        None | Some("application/json" | "" | "*/*")
    );
    let mut found = Found::default();
    if json {
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let _ = Walk {
            path: String::new(),
            found: &mut found,
        }
        .deserialize(&mut deserializer);
    }
    found.paths
}

/// Decodes a Kubernetes protobuf body (as kubectl's generator commands
/// send) into its JSON form.
fn parse_protobuf(body: &[u8]) -> ApiResult<Value> {
    use wharf_protobuf::DecodeError;
    wharf_protobuf::decode(body).map_err(|error| match error {
        DecodeError::UnknownKind { .. } | DecodeError::UnsupportedContentEncoding { .. } => {
            ApiError::UnsupportedMediaType(format!("{error}; send this object as application/json"))
        }
        other => ApiError::BadRequest(format!("the protobuf body could not be decoded: {other}")),
    })
}

/// Parses an object body by `Content-Type`: JSON (the default), YAML, or
/// Kubernetes protobuf.
pub fn parse_object(content_type: Option<&str>, body: &[u8]) -> ApiResult<Value> {
    let media_type = content_type
        .and_then(|c| c.split(';').next())
        .unwrap_or("application/json")
        .trim();
    let value = match media_type {
        "application/json" | "" | "*/*" => serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            crate::meta::parse_yaml_or_json(body)?
        }
        wharf_protobuf::MEDIA_TYPE => parse_protobuf(body)?,
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {other:?})"
            )));
        }
    };
    if !value.is_object() {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn duplicate_fields_are_found_at_every_depth_with_their_paths() {
        let body = br#"{"metadata": {"name": "a", "name": "b"},
            "spec": {"containers": [{"image": "x", "image": "y"}]},
            "kind": "Pod", "kind": "Pod"}"#;
        assert_eq!(
            duplicate_fields(None, body),
            ["metadata.name", "spec.containers[0].image", "kind"]
        );
        assert!(duplicate_fields(Some("application/json"), br#"{"a": {"a": 1}}"#).is_empty());
        assert!(duplicate_fields(Some("application/yaml"), b"a: 1").is_empty());
        assert!(duplicate_fields(None, b"not json").is_empty());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_read_through_then_refused() {
        let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = (0..5)
            .map(|_| Ok(bytes::Bytes::from(vec![b'x'; 1024 * 1024])))
            .collect();
        let consumed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = consumed.clone();
        let stream = futures_util::stream::iter(chunks).inspect(move |_| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        let error = read(Body::from_stream(stream)).await.unwrap_err();
        assert!(matches!(error, ApiError::TooLarge(_)), "{error:?}");
        assert_eq!(consumed.load(std::sync::atomic::Ordering::SeqCst), 5);
        let small = read(Body::from("{}")).await.unwrap();
        assert_eq!(&small[..], b"{}");
    }
}
