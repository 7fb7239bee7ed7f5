//! Charges a validating admission plugin hands back (a quota's usage),
//! under racing creates: each is stored with its pod, the writes of a
//! namespace are chained on each other's queued charges, and a chain
//! whose first write fails never leaves a charge for a pod not stored.
//!
//! The chain here is a test double of the ResourceQuota plugin (the real
//! one runs in the e2e tests): it counts pods against `spec.hard.pods`,
//! reading the quota as a plugin's host does, the queued version the API
//! server shows before the stored one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use wharf_apiserver::{AdmissionChain, ApiState, Attributes, Objects, Operation, StatusUpdate};
use wharf_client::{ApiError, ApiResult, ResourceDef};
use wharf_store::{EmbeddedConfig, EmbeddedStore};

mod common;

/// Counts pods against a ResourceQuota named `pods` in their namespace.
struct PodQuota {
    objects: Objects,
    /// What the API server shows of queued quotas, by namespace.
    shown: Mutex<HashMap<String, Value>>,
    /// How many charges were shown while queued.
    shown_count: AtomicUsize,
}

impl PodQuota {
    fn quota_resource(&self) -> Arc<ResourceDef> {
        self.objects
            .registry
            .by_kind("", "v1", "ResourceQuota")
            .expect("ResourceQuota is served")
            .clone()
    }

    fn read(&self, namespace: &str) -> Option<Value> {
        if let Some(shown) = self.shown.lock().unwrap().get(namespace) {
            return Some(shown.clone());
        }
        let resource = self.quota_resource();
        let stored = tokio::runtime::Handle::current()
            .block_on(self.objects.get(&resource, Some(namespace), "pods"))
            .ok()?;
        Some(stored.object)
    }
}

fn count(value: &Value) -> i64 {
    value.as_str().and_then(|n| n.parse().ok()).unwrap_or(0)
}

impl AdmissionChain for PodQuota {
    fn reviews(&self, resource: &ResourceDef) -> bool {
        resource.kind == "Pod"
    }

    fn mutate(&self, _: &Attributes<'_>, _: &mut Value) -> ApiResult<()> {
        Ok(())
    }

    fn validate(
        &self,
        attributes: &Attributes<'_>,
        _: Option<&Value>,
    ) -> ApiResult<Vec<StatusUpdate>> {
        if attributes.operation != Operation::Create {
            return Ok(Vec::new());
        }
        let namespace = attributes.namespace.expect("pods are namespaced");
        let Some(quota) = self.read(namespace) else {
            return Ok(Vec::new());
        };
        let hard = count(&quota["spec"]["hard"]["pods"]);
        let used = count(&quota["status"]["used"]["pods"]);
        if used + 1 > hard {
            return Err(ApiError::Forbidden(format!(
                "exceeded quota: pods, used: pods={used}, limited: pods={hard}"
            )));
        }
        let resource_version = quota["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|rv| rv.parse().ok())
            .expect("a quota read has a resourceVersion");
        Ok(vec![StatusUpdate {
            plugin: "pod-quota".into(),
            group: String::new(),
            version: "v1".into(),
            kind: "ResourceQuota".into(),
            namespace: Some(namespace.into()),
            name: "pods".into(),
            resource_version,
            status: json!({
                "hard": {"pods": hard.to_string()},
                "used": {"pods": (used + 1).to_string()},
            }),
        }])
    }

    fn stored(&self, _: &StatusUpdate, _: i64, _: Option<&Value>) {}

    fn pending(&self, update: &StatusUpdate, object: Option<&Value>) {
        let namespace = update.namespace.clone().unwrap_or_default();
        let mut shown = self.shown.lock().unwrap();
        match object {
            Some(object) => {
                self.shown_count.fetch_add(1, Ordering::Relaxed);
                shown.insert(namespace, object.clone());
            }
            None => {
                shown.remove(&namespace);
            }
        }
    }
}

struct Server {
    app: Router,
    quota: Arc<PodQuota>,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    let state = ApiState::new(Arc::new(store)).await.unwrap();
    let quota = Arc::new(PodQuota {
        objects: state.objects.clone(),
        shown: Mutex::default(),
        shown_count: AtomicUsize::new(0),
    });
    let chain: Arc<dyn AdmissionChain> = quota.clone();
    assert!(state.objects.admission.set(chain).is_ok());
    Server {
        app: common::admin_app(state),
        quota,
        _dir: dir,
    }
}

impl Server {
    async fn call(&self, method: Method, uri: &str, body: Value) -> (StatusCode, Value) {
        common::call(&self.app, method, uri, "application/json", &body).await
    }

    async fn namespace_with_quota(&self, namespace: &str, pods: u32) {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/namespaces",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = self
            .call(
                Method::POST,
                &format!("/api/v1/namespaces/{namespace}/resourcequotas"),
                json!({
                    "apiVersion": "v1", "kind": "ResourceQuota",
                    "metadata": {"name": "pods"},
                    "spec": {"hard": {"pods": pods.to_string()}},
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Creates the pods named at once; their answers' codes.
    async fn create_at_once(&self, namespace: &str, names: Vec<String>) -> Vec<StatusCode> {
        let creates = names.into_iter().map(|name| {
            let app = self.app.clone();
            let uri = format!("/api/v1/namespaces/{namespace}/pods");
            tokio::spawn(async move {
                let pod = json!({
                    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                    "spec": {"containers": [{"name": "app", "image": "busybox"}]},
                });
                let (status, body, _) = common::send(
                    &app,
                    Method::POST,
                    &uri,
                    "application/json",
                    common::json_body(&pod),
                )
                .await;
                assert!(
                    [
                        StatusCode::CREATED,
                        StatusCode::FORBIDDEN,
                        StatusCode::CONFLICT
                    ]
                    .contains(&status),
                    "{status} {body}"
                );
                status
            })
        });
        let mut codes = Vec::new();
        for create in creates.collect::<Vec<_>>() {
            codes.push(create.await.unwrap());
        }
        codes
    }

    /// The pods stored in `namespace` and the quota's `status.used.pods`.
    async fn stored(&self, namespace: &str) -> (usize, i64) {
        let (status, pods) = self
            .call(
                Method::GET,
                &format!("/api/v1/namespaces/{namespace}/pods"),
                Value::Null,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, quota) = self
            .call(
                Method::GET,
                &format!("/api/v1/namespaces/{namespace}/resourcequotas/pods"),
                Value::Null,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        (
            pods["items"].as_array().unwrap().len(),
            count(&quota["status"]["used"]["pods"]),
        )
    }
}

fn tally(codes: &[StatusCode], code: StatusCode) -> usize {
    codes.iter().filter(|c| **c == code).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creates_charged_in_a_chain_fill_a_quota_exactly() {
    let server = server().await;
    server.namespace_with_quota("race", 40).await;
    let codes = server
        .create_at_once("race", (0..120).map(|i| format!("pod-{i}")).collect())
        .await;
    assert_eq!(tally(&codes, StatusCode::CREATED), 40, "{codes:?}");
    assert_eq!(tally(&codes, StatusCode::FORBIDDEN), 80, "{codes:?}");
    assert_eq!(server.stored("race").await, (40, 40));
    // Later creates were charged on queued charges, not one fsync each.
    assert!(server.quota.shown_count.load(Ordering::Relaxed) > 0);
    assert!(server.quota.shown.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_write_in_a_chain_leaves_no_charge_for_a_pod_not_stored() {
    let server = server().await;
    server.namespace_with_quota("names", 1000).await;
    // Warm up: the namespace's writes take turns once a charge is stored.
    let codes = server
        .create_at_once("names", vec!["first".to_string()])
        .await;
    assert_eq!(codes, [StatusCode::CREATED]);
    // Every name twice: one of each pair fails with AlreadyExists, maybe
    // in the middle of a chain, and what was charged on top of it is
    // charged again.
    for round in 0..3 {
        let names = (0..60)
            .map(|i| format!("pod-{round}-{}", i % 30))
            .collect::<Vec<_>>();
        let codes = server.create_at_once("names", names).await;
        assert_eq!(tally(&codes, StatusCode::CREATED), 30, "{codes:?}");
        assert_eq!(tally(&codes, StatusCode::CONFLICT), 30, "{codes:?}");
    }
    assert_eq!(server.stored("names").await, (91, 91));
    assert!(server.quota.shown_count.load(Ordering::Relaxed) > 0);
}
