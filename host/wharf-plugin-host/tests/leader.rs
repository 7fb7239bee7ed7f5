//! Leader election over a real store: of two candidates exactly one leads,
//! and when it stops renewing, the other takes over after the lease expires.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wharf_apiserver::{ApiState, LocalClient};
use wharf_client::Client;
use wharf_plugin_host::leader::{ElectionConfig, run};
use wharf_store::{EmbeddedConfig, EmbeddedStore};

fn fast(identity: &str) -> ElectionConfig {
    ElectionConfig {
        lease_duration: Duration::from_millis(1500),
        renew_deadline: Duration::from_millis(1000),
        retry_period: Duration::from_millis(100),
        ..ElectionConfig::new(identity)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_candidate_leads_and_the_other_takes_over_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    let client = LocalClient::new(ApiState::new(Arc::new(store)).await.unwrap());
    let leading: Arc<Mutex<Vec<&'static str>>> = Arc::default();

    let candidate = |identity: &'static str| {
        let leading = leading.clone();
        tokio::spawn(run(client.clone(), fast(identity), move |mut stopped| {
            let leading = leading.clone();
            async move {
                leading.lock().unwrap().push(identity);
                let _ = stopped.wait_for(|stop| *stop).await;
                leading.lock().unwrap().retain(|l| *l != identity);
            }
        }))
    };
    let a = candidate("a");
    let b = candidate("b");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let first = {
        let now = leading.lock().unwrap().clone();
        assert_eq!(now.len(), 1, "exactly one leader: {now:?}");
        now[0]
    };
    let leases = client
        .resource("coordination.k8s.io", "v1", "Lease")
        .unwrap();
    let lease = client
        .get(&leases, Some("kube-system"), "wharf-controller-manager")
        .await
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], first);

    // The leader's process dies: it stops renewing (and leading).
    let (gone, survivor) = if first == "a" { (a, "b") } else { (b, "a") };
    gone.abort();
    leading.lock().unwrap().retain(|l| *l != first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if leading.lock().unwrap().as_slice() == [survivor] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{survivor} did not take over: {:?}",
            leading.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lease = client
        .get(&leases, Some("kube-system"), "wharf-controller-manager")
        .await
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], survivor);
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
}
