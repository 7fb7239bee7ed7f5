//! Plugin modules, stored by content digest.
//!
//! `POST /wharf/v1/modules` with the component's bytes stores it and answers
//! `{"digest": "sha256:…"}`; `GET /wharf/v1/modules/sha256:…` returns it.
//! A `Plugin`'s `spec.module` names a module by that digest. Modules are
//! larger than one store value may be, so they are kept in 1 MiB chunks
//! under `/wharf/modules/<hex>/<n>`, with `/wharf/modules/<hex>/meta` written
//! last: a module without its meta is incomplete and not served.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wharf_store::Store;

use crate::ApiState;
use crate::error::{ApiError, ApiResult};

/// The largest module accepted: 64 MiB (a Python component is about 18 MB).
pub const MAX_MODULE_BYTES: usize = 64 << 20;
const CHUNK: usize = 1 << 20;

fn hex_of(digest: &str) -> ApiResult<&str> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    if hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        Ok(hex)
    } else {
        Err(ApiError::BadRequest(format!(
            "{digest:?} is not a module digest (sha256:<64 lowercase hex digits>)"
        )))
    }
}

/// Stores a module (idempotently) and returns its digest.
pub async fn put(store: &dyn Store, bytes: &[u8]) -> ApiResult<String> {
    let hex = hex::encode(Sha256::digest(bytes));
    let prefix = format!("/wharf/modules/{hex}/");
    if store.get(&format!("{prefix}meta")).await?.is_some() {
        return Ok(format!("sha256:{hex}"));
    }
    let chunks = bytes.chunks(CHUNK).collect::<Vec<_>>();
    for (index, chunk) in chunks.iter().enumerate() {
        match store
            .create(&format!("{prefix}{index}"), Bytes::copy_from_slice(chunk))
            .await
        {
            Ok(_) | Err(wharf_store::Error::AlreadyExists { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let meta = json!({"size": bytes.len(), "chunks": chunks.len()}).to_string();
    match store
        .create(&format!("{prefix}meta"), Bytes::from(meta))
        .await
    {
        Ok(_) | Err(wharf_store::Error::AlreadyExists { .. }) => Ok(format!("sha256:{hex}")),
        Err(error) => Err(error.into()),
    }
}

/// A stored module's bytes, checked against its digest.
pub async fn get(store: &dyn Store, digest: &str) -> ApiResult<Vec<u8>> {
    let hex = hex_of(digest)?;
    let prefix = format!("/wharf/modules/{hex}/");
    let not_found = || ApiError::NotFound {
        group: "wharf.dev".into(),
        kind: "modules".into(),
        name: format!("sha256:{hex}"),
    };
    let meta = store
        .get(&format!("{prefix}meta"))
        .await?
        .ok_or_else(not_found)?;
    let meta: Value =
        serde_json::from_slice(&meta.value).map_err(|e| ApiError::Internal(e.to_string()))?;
    let chunks = meta["chunks"].as_u64().unwrap_or(0);
    let mut bytes = Vec::with_capacity(meta["size"].as_u64().unwrap_or(0) as usize);
    for index in 0..chunks {
        let chunk = store
            .get(&format!("{prefix}{index}"))
            .await?
            .ok_or_else(not_found)?;
        bytes.extend_from_slice(&chunk.value);
    }
    if hex::encode(Sha256::digest(&bytes)) != hex {
        return Err(ApiError::Internal(format!(
            "module sha256:{hex} is corrupt in the store"
        )));
    }
    Ok(bytes)
}

/// `POST /wharf/v1/modules`.
pub async fn upload(State(state): State<Arc<ApiState>>, body: Body) -> Response {
    let result = async {
        let bytes = axum::body::to_bytes(body, MAX_MODULE_BYTES)
            .await
            .map_err(|_| {
                ApiError::TooLarge(format!("a module may be at most {MAX_MODULE_BYTES} bytes"))
            })?;
        if !bytes.starts_with(b"\0asm") {
            return Err(ApiError::BadRequest(
                "the body is not a WebAssembly module or component".into(),
            ));
        }
        put(state.objects.store.as_ref(), &bytes).await
    }
    .await;
    match result {
        Ok(digest) => {
            let body = json!({"digest": digest}).to_string();
            let mut response = (StatusCode::CREATED, body).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => error.into_response(),
    }
}

/// `GET /wharf/v1/modules/{digest}`.
pub async fn download(State(state): State<Arc<ApiState>>, Path(digest): Path<String>) -> Response {
    match get(state.objects.store.as_ref(), &digest).await {
        Ok(bytes) => {
            let mut response = (StatusCode::OK, bytes).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/wasm"),
            );
            response
        }
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn modules_round_trip_through_chunks_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            wharf_store::EmbeddedStore::open(wharf_store::EmbeddedConfig::new(dir.path())).unwrap();
        let module: Vec<u8> = (0..(2 * CHUNK + 123)).map(|i| (i % 251) as u8).collect();
        let digest = put(&store, &module).await.unwrap();
        assert_eq!(
            digest,
            format!("sha256:{}", hex::encode(Sha256::digest(&module)))
        );
        assert_eq!(
            put(&store, &module).await.unwrap(),
            digest,
            "storing twice is harmless"
        );
        assert_eq!(get(&store, &digest).await.unwrap(), module);
        let missing = format!("sha256:{}", "0".repeat(64));
        assert!(matches!(
            get(&store, &missing).await,
            Err(ApiError::NotFound { .. })
        ));
        assert!(matches!(
            get(&store, "sha256:nothex").await,
            Err(ApiError::BadRequest(_))
        ));
    }
}
