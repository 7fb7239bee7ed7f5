//! Plugin modules, stored by content digest.
//!
//! `POST /wharf/v1/modules` with the component's bytes stores it and answers
//! `{"digest": "sha256:…"}`; `GET /wharf/v1/modules/sha256:…` returns it.
//! A `Plugin`'s `spec.module` names a module by that digest. Modules are
//! larger than one store value may be, so they are kept in 1 MiB chunks
//! under `/wharf/modules/<hex>/<n>`, with `/wharf/modules/<hex>/meta` written
//! last: a module without its meta is incomplete and not served.
//!
//! Modules are bounded: each by [`MAX_MODULE_BYTES`], all together by
//! [`ModuleLimits::total_bytes`] (an upload past it is refused with 403),
//! and one upload is read at a time. Every module is listed in a small
//! index (`/wharf/module-index/<hex>`: its size and upload time); one that
//! no `Plugin` names for [`ModuleLimits::grace`] is deleted
//! ([`collect`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
const INDEX: &str = "/wharf/module-index/";

/// How many bytes of modules a cluster keeps, and how long one no `Plugin`
/// names is kept.
#[derive(Clone, Copy, Debug)]
pub struct ModuleLimits {
    pub total_bytes: usize,
    pub grace: Duration,
}

impl Default for ModuleLimits {
    /// 1 GiB (some fifty Python components), ten minutes.
    fn default() -> Self {
        Self {
            total_bytes: 1 << 30,
            grace: Duration::from_secs(600),
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The index: each module's digest (hex), size and upload time.
async fn index(store: &dyn Store) -> ApiResult<Vec<(String, u64, u64)>> {
    let page = store
        .list(INDEX, wharf_store::ListOptions::default())
        .await?;
    Ok(page
        .items
        .iter()
        .map(|kv| {
            let entry: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
            (
                kv.key[INDEX.len()..].to_string(),
                entry["size"].as_u64().unwrap_or(0),
                entry["uploaded"].as_u64().unwrap_or(0),
            )
        })
        .collect())
}

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

/// Stores a module (idempotently) and returns its digest; refused (403)
/// when the modules kept would pass `total_bytes`.
pub async fn put(store: &dyn Store, bytes: &[u8], total_bytes: usize) -> ApiResult<String> {
    let hex = hex::encode(Sha256::digest(bytes));
    let prefix = format!("/wharf/modules/{hex}/");
    if store.get(&format!("{prefix}meta")).await?.is_some() {
        return Ok(format!("sha256:{hex}"));
    }
    let kept: u64 = index(store)
        .await?
        .iter()
        .filter(|(other, ..)| *other != hex)
        .map(|(_, size, _)| size)
        .sum();
    if kept as usize + bytes.len() > total_bytes {
        return Err(ApiError::Forbidden(format!(
            "modules are limited to {total_bytes} bytes in all and {kept} are kept: this one ({} bytes) does not fit (a module no Plugin names is deleted after a while)",
            bytes.len()
        )));
    }
    let entry = json!({"size": bytes.len(), "uploaded": unix_now()}).to_string();
    match store
        .create(&format!("{INDEX}{hex}"), Bytes::from(entry))
        .await
    {
        Ok(_) | Err(wharf_store::Error::AlreadyExists { .. }) => {}
        Err(error) => return Err(error.into()),
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
        kind: "modules.wharf.dev".into(),
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

/// Deletes the modules no `Plugin` names (`referenced`: digests) that were
/// uploaded at least `grace` ago and have been seen unreferenced for
/// `grace` (`unreferenced`: since when, kept by the caller between runs).
/// Returns the digests deleted.
pub async fn collect(
    store: &dyn Store,
    referenced: &HashSet<String>,
    grace: Duration,
    unreferenced: &mut HashMap<String, std::time::Instant>,
) -> ApiResult<Vec<String>> {
    let now = std::time::Instant::now();
    let mut deleted = Vec::new();
    let entries = index(store).await?;
    unreferenced.retain(|hex, _| entries.iter().any(|(other, ..)| other == hex));
    for (hex, _, uploaded) in entries {
        let digest = format!("sha256:{hex}");
        if referenced.contains(&digest) {
            unreferenced.remove(&hex);
            continue;
        }
        let since = *unreferenced.entry(hex.clone()).or_insert(now);
        if now.duration_since(since) < grace
            || unix_now().saturating_sub(uploaded) < grace.as_secs()
        {
            continue;
        }
        // The meta first: a module without it is not served.
        let prefix = format!("/wharf/modules/{hex}/");
        let mut keys = vec![format!("{prefix}meta")];
        if let Some(meta) = store.get(&keys[0]).await? {
            let meta: Value = serde_json::from_slice(&meta.value).unwrap_or(Value::Null);
            let chunks = meta["chunks"].as_u64().unwrap_or(0);
            keys.extend((0..chunks).map(|index| format!("{prefix}{index}")));
        }
        keys.push(format!("{INDEX}{hex}"));
        for key in keys {
            match store.delete(&key, None).await {
                Ok(_) | Err(wharf_store::Error::NotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        unreferenced.remove(&hex);
        tracing::info!(module = %digest, "deleted a module no Plugin names");
        deleted.push(digest);
    }
    Ok(deleted)
}

/// `POST /wharf/v1/modules`.
pub async fn upload(State(state): State<Arc<ApiState>>, body: Body) -> Response {
    // One upload is read (and held in memory) at a time.
    let _turn = state.module_uploads.lock().await;
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
        put(
            state.objects.store.as_ref(),
            &bytes,
            state.module_limits.total_bytes,
        )
        .await
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
        let digest = put(&store, &module, 1 << 30).await.unwrap();
        assert_eq!(
            digest,
            format!("sha256:{}", hex::encode(Sha256::digest(&module)))
        );
        assert_eq!(
            put(&store, &module, 1 << 30).await.unwrap(),
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

    #[tokio::test]
    async fn modules_past_the_total_are_refused_and_unnamed_ones_are_collected() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            wharf_store::EmbeddedStore::open(wharf_store::EmbeddedConfig::new(dir.path())).unwrap();
        let module = |seed: u8| -> Vec<u8> {
            (0..(CHUNK + 10))
                .map(|i| (i as u8).wrapping_add(seed))
                .collect()
        };
        let total = 3 * CHUNK;
        let one = put(&store, &module(1), total).await.unwrap();
        let two = put(&store, &module(2), total).await.unwrap();
        assert!(matches!(
            put(&store, &module(3), total).await,
            Err(ApiError::Forbidden(_))
        ));
        // The same module again is not counted twice.
        assert_eq!(put(&store, &module(2), total).await.unwrap(), two);

        let named: HashSet<String> = [one.clone()].into();
        let mut unreferenced = HashMap::new();
        // Within the grace period nothing goes.
        let grace = Duration::from_secs(3600);
        assert!(
            collect(&store, &named, grace, &mut unreferenced)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(unreferenced.len(), 1);
        let deleted = collect(&store, &named, Duration::ZERO, &mut unreferenced)
            .await
            .unwrap();
        assert_eq!(deleted, vec![two.clone()]);
        assert!(matches!(
            get(&store, &two).await,
            Err(ApiError::NotFound { .. })
        ));
        assert_eq!(get(&store, &one).await.unwrap(), module(1));
        let chunks = store
            .list("/wharf/modules/", Default::default())
            .await
            .unwrap();
        assert!(
            chunks.items.iter().all(|kv| !kv.key.contains(&two[7..])),
            "chunks of a deleted module are left"
        );
        // Its room is free again.
        put(&store, &module(3), total).await.unwrap();
    }
}
