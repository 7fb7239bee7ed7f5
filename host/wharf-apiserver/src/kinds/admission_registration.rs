//! The strategy of `admissionregistration.k8s.io` kinds (webhook
//! configurations, validating admission policies): served so that clients
//! and tools that look for them find them (empty), and refused on create
//! with what to use instead — Wharf's admission rules are Plugins of type
//! `admission`, WebAssembly components in every write's path, not webhooks.

use serde_json::Value;

use super::Strategy;
use crate::Objects;
use crate::admission::UserInfo;
use crate::error::{ApiError, ApiResult};

pub struct AdmissionRegistration;

#[async_trait::async_trait]
impl Strategy for AdmissionRegistration {
    async fn prepare_for_create(
        &self,
        objects: &Objects,
        _namespace: Option<&str>,
        _user: &UserInfo,
        object: &mut Value,
    ) -> ApiResult<()> {
        let kind = object["kind"].as_str().unwrap_or("this kind");
        let _ = objects;
        Err(ApiError::MethodNotAllowed(format!(
            "{kind} objects are not served by Wharf: admission here is done by Plugins of type admission (WebAssembly components in every write, see `wharf plugin new --type admission`), not by webhooks or admission policies"
        )))
    }
}
