//! Leader election through a `coordination.k8s.io/v1` Lease, as
//! client-go's leaderelection does it: only the holder runs controllers; it
//! renews every 2 s; a lease not renewed for 15 s may be taken over; a leader
//! that cannot renew for 10 s stops leading.

use std::future::Future;
use std::time::{Duration, Instant};
use wharf_client::Client;

use serde_json::{Value, json};
use tokio::sync::watch;
use wharf_apiserver::LocalClient;
use wharf_client::ApiError;

/// Lease timings, as kube-controller-manager's defaults.
#[derive(Clone, Debug)]
pub struct ElectionConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl ElectionConfig {
    pub fn new(identity: impl Into<String>) -> Self {
        Self {
            namespace: "kube-system".into(),
            name: "wharf-controller-manager".into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

fn parse_time(text: &str) -> Option<std::time::SystemTime> {
    let time: k8s_openapi::jiff::Timestamp = text.parse().ok()?;
    std::time::UNIX_EPOCH.checked_add(Duration::from_nanos(
        u64::try_from(time.as_nanosecond()).ok()?,
    ))
}

/// Tries once to take or keep the lease; `Ok(true)` when we hold it.
async fn try_acquire(client: &LocalClient, config: &ElectionConfig) -> Result<bool, ApiError> {
    let leases = client.resource("coordination.k8s.io", "v1", "Lease")?;
    let now = wharf_client::now_micro_time();
    let current = match client
        .get(&leases, Some(&config.namespace), &config.name)
        .await
    {
        Ok(lease) => Some(lease),
        Err(ApiError::NotFound { .. }) => None,
        Err(error) => return Err(error),
    };
    let Some(mut lease) = current else {
        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": config.name, "namespace": config.namespace},
            "spec": {
                "holderIdentity": config.identity,
                "leaseDurationSeconds": config.lease_duration.as_secs(),
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            },
        });
        return match client
            .create(&leases, Some(&config.namespace), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(ApiError::AlreadyExists { .. }) => Ok(false),
            Err(error) => Err(error),
        };
    };
    let spec = lease.get("spec").cloned().unwrap_or_default();
    let holder = spec
        .get("holderIdentity")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let duration = Duration::from_secs(
        spec.get("leaseDurationSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(15),
    );
    let renewed = spec
        .get("renewTime")
        .and_then(Value::as_str)
        .and_then(parse_time);
    let expired = renewed.is_none_or(|t| t + duration < std::time::SystemTime::now());
    if holder != config.identity && !holder.is_empty() && !expired {
        return Ok(false);
    }
    let transitions = spec
        .get("leaseTransitions")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    lease["spec"]["renewTime"] = json!(now);
    lease["spec"]["leaseDurationSeconds"] = json!(config.lease_duration.as_secs());
    if holder != config.identity {
        lease["spec"]["holderIdentity"] = json!(config.identity);
        lease["spec"]["acquireTime"] = json!(now);
        lease["spec"]["leaseTransitions"] = json!(transitions + 1);
    }
    // The resourceVersion in `lease` makes this a compare-and-swap.
    match client
        .update(&leases, Some(&config.namespace), &lease, false)
        .await
    {
        Ok(_) => Ok(true),
        Err(ApiError::Conflict { .. }) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Runs `lead` while this process holds the lease, forever: when leadership
/// is lost, `lead`'s stop signal fires, and after it returns the election
/// starts over.
pub async fn run<F, Fut>(client: LocalClient, config: ElectionConfig, mut lead: F)
where
    F: FnMut(watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        // Candidate: try until we hold the lease.
        loop {
            match try_acquire(&client, &config).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(%error, "leader election: cannot read or write the lease")
                }
            }
            tokio::time::sleep(config.retry_period).await;
        }
        tracing::info!(identity = %config.identity, lease = %config.name, "became the leader");
        let (stop, stopped) = watch::channel(false);
        let leading = tokio::spawn(lead(stopped));
        // Leader: renew until we cannot for `renew_deadline`.
        let mut last_renewal = Instant::now();
        loop {
            tokio::time::sleep(config.retry_period).await;
            match try_acquire(&client, &config).await {
                Ok(true) => last_renewal = Instant::now(),
                Ok(false) => break,
                Err(error) => tracing::warn!(%error, "leader election: renewal failed"),
            }
            if last_renewal.elapsed() > config.renew_deadline {
                break;
            }
        }
        tracing::warn!(identity = %config.identity, "lost the lease; stopping controllers");
        let _ = stop.send(true);
        let _ = leading.await;
    }
}
