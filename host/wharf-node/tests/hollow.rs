//! Hollow nodes against a real in-process API server on the embedded store:
//! what kubectl would see of nodes, leases and pods.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use wharf_client::{Client, Selectors};

use serde_json::{Value, json};
use wharf_apiserver::{ApiState, LocalClient};
use wharf_client::ResourceDef;
use wharf_node::{HollowConfig, HollowError, HollowNodes};
use wharf_store::{EmbeddedConfig, EmbeddedStore};

struct Cluster {
    client: LocalClient,
    nodes: Arc<ResourceDef>,
    pods: Arc<ResourceDef>,
    leases: Arc<ResourceDef>,
    _dir: tempfile::TempDir,
}

async fn cluster() -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(EmbeddedConfig::new(dir.path())).unwrap();
    let client = LocalClient::new(ApiState::new(Arc::new(store)).await.unwrap());
    Cluster {
        nodes: client.resource("", "v1", "Node").unwrap(),
        pods: client.resource("", "v1", "Pod").unwrap(),
        leases: client
            .resource("coordination.k8s.io", "v1", "Lease")
            .unwrap(),
        client,
        _dir: dir,
    }
}

fn config(count: usize) -> HollowConfig {
    HollowConfig {
        count,
        heartbeat: Duration::from_millis(100),
        ..HollowConfig::default()
    }
}

/// Polls `probe` until it gives a value (or fails the test after 10 s).
async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn pod(name: &str, node: Option<&str>) -> Value {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [{"name": "app", "image": "nginx"}, {"name": "sidecar", "image": "envoy"}],
        },
    });
    if let Some(node) = node {
        pod["spec"]["nodeName"] = json!(node);
    }
    pod
}

impl Cluster {
    async fn running_pod(&self, name: &str) -> Value {
        eventually(&format!("pod {name} running"), async || {
            let pod = self
                .client
                .get(&self.pods, Some("default"), name)
                .await
                .ok()?;
            (pod["status"]["phase"] == "Running").then_some(pod)
        })
        .await
    }

    async fn lease(&self, name: &str) -> Option<Value> {
        (self.client)
            .get(&self.leases, Some("kube-node-lease"), name)
            .await
            .ok()
    }
}

fn condition<'a>(object: &'a Value, kind: &str) -> &'a Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_the_configured_nodes_with_capacity_zones_and_taints() {
    let cluster = cluster().await;
    let config = HollowConfig {
        zones: vec!["zone-a".into(), "zone-b".into()],
        labels: HollowConfig::parse_labels("team=infra").unwrap(),
        taints: vec![HollowConfig::parse_taint("dedicated=infra:NoSchedule").unwrap()],
        ..config(3)
    };
    let hollow = HollowNodes::start(cluster.client.clone(), config)
        .await
        .unwrap();

    let nodes = (cluster.client)
        .list(
            &cluster.nodes,
            None,
            &Selectors::labels("wharf.dev/hollow=true"),
        )
        .await
        .unwrap()
        .items;
    let names: Vec<&str> = nodes
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sim-0", "sim-1", "sim-2"]);
    for (node, zone) in nodes.iter().zip(["zone-a", "zone-b", "zone-a"]) {
        let labels = &node["metadata"]["labels"];
        assert_eq!(labels["topology.kubernetes.io/zone"], zone);
        assert_eq!(labels["team"], "infra");
        assert_eq!(labels["kubernetes.io/hostname"], node["metadata"]["name"]);
        assert_eq!(labels["kubernetes.io/os"], "linux");
        assert_eq!(
            node["spec"]["taints"],
            json!([{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}])
        );
        let expected =
            json!({"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"});
        assert_eq!(node["status"]["capacity"], expected);
        assert_eq!(node["status"]["allocatable"], expected);
        let ready = condition(node, "Ready");
        assert_eq!(
            (&ready["status"], &ready["reason"]),
            (&json!("True"), &json!("KubeletReady"))
        );
        assert_eq!(
            condition(node, "MemoryPressure")["reason"],
            "KubeletHasSufficientMemory"
        );
        assert_eq!(node["status"]["nodeInfo"]["kubeletVersion"], "v1.37.0");
        assert_eq!(
            node["status"]["nodeInfo"]["containerRuntimeVersion"],
            "hollow://1.0"
        );
    }
    let distinct = |pointer: &str| {
        let values: HashSet<&Value> = nodes.iter().map(|n| n.pointer(pointer).unwrap()).collect();
        values.len()
    };
    assert_eq!(distinct("/spec/podCIDR"), 3);
    assert_eq!(distinct("/status/addresses/0/address"), 3);
    assert_eq!(distinct("/status/nodeInfo/machineID"), 3);
    hollow.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopts_a_node_labelled_hollow_created_by_kubectl() {
    let cluster = cluster().await;
    let _hollow = HollowNodes::start(cluster.client.clone(), config(0))
        .await
        .unwrap();
    let manual = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "manual", "labels": {"wharf.dev/hollow": "true"}},
        "status": {"capacity": {"cpu": "2"}},
    });
    cluster
        .client
        .create(&cluster.nodes, None, &manual)
        .await
        .unwrap();

    let node = eventually("the manual node's status", async || {
        let node = cluster
            .client
            .get(&cluster.nodes, None, "manual")
            .await
            .ok()?;
        let done = node["spec"]["podCIDR"].is_string() && condition(&node, "Ready").is_object();
        done.then_some(node)
    })
    .await;
    let status = &node["status"];
    assert_eq!(status["capacity"]["cpu"], "2", "what was there is kept");
    assert_eq!(status["capacity"]["memory"], "16Gi");
    assert_eq!(status["allocatable"]["cpu"], "2");
    assert_eq!(status["nodeInfo"]["osImage"], "Wharf hollow node");
    assert_eq!(
        status["addresses"][1],
        json!({"type": "Hostname", "address": "manual"})
    );
    let lease = eventually("the manual node's lease", async || {
        cluster.lease("manual").await
    })
    .await;
    assert_eq!(lease["spec"]["holderIdentity"], "manual");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_bound_to_a_hollow_node_becomes_running_with_an_ip_from_the_node_cidr() {
    let cluster = cluster().await;
    let _hollow = HollowNodes::start(cluster.client.clone(), config(1))
        .await
        .unwrap();
    let node = cluster
        .client
        .get(&cluster.nodes, None, "sim-0")
        .await
        .unwrap();
    let cidr = node["spec"]["podCIDR"].as_str().unwrap();
    let subnet = cidr.trim_end_matches("0/24");
    let host_ip = &node["status"]["addresses"][0]["address"];

    let created = (cluster.client)
        .create(&cluster.pods, Some("default"), &pod("web", Some("sim-0")))
        .await
        .unwrap();
    // Bound after creation, as a scheduler would.
    (cluster.client)
        .create(&cluster.pods, Some("default"), &pod("late", None))
        .await
        .unwrap();
    (cluster.client)
        .bind(&cluster.pods, "default", "late", "sim-0")
        .await
        .unwrap();

    let web = cluster.running_pod("web").await;
    let late = cluster.running_pod("late").await;
    for pod in [&web, &late] {
        let status = &pod["status"];
        let ip = status["podIP"].as_str().unwrap();
        assert!(ip.starts_with(subnet), "{ip} is not in {cidr}");
        assert_eq!(status["podIPs"], json!([{"ip": ip}]));
        assert_eq!(&status["hostIP"], host_ip);
        assert!(status["startTime"].is_string());
        for kind in [
            "PodScheduled",
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
        ] {
            assert_eq!(condition(pod, kind)["status"], "True", "{kind}");
        }
    }
    assert_ne!(web["status"]["podIP"], late["status"]["podIP"]);
    let uid = created["metadata"]["uid"].as_str().unwrap();
    let app = &web["status"]["containerStatuses"][0];
    assert_eq!(app["name"], "app");
    assert_eq!(app["containerID"], format!("hollow://{uid}-app"));
    assert_eq!(
        (&app["ready"], &app["started"], &app["restartCount"]),
        (&json!(true), &json!(true), &json!(0))
    );
    assert!(app["state"]["running"]["startedAt"].is_string());
    assert_eq!(web["status"]["containerStatuses"][1]["image"], "envoy");
    let init = &web["status"]["initContainerStatuses"][0];
    assert_eq!(init["state"]["terminated"]["reason"], "Completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_pods_ip_goes_to_the_next_pod() {
    let cluster = cluster().await;
    let _hollow = HollowNodes::start(cluster.client.clone(), config(1))
        .await
        .unwrap();
    let create = async |name: &str| {
        (cluster.client)
            .create(&cluster.pods, Some("default"), &pod(name, Some("sim-0")))
            .await
            .unwrap();
        cluster.running_pod(name).await["status"]["podIP"].clone()
    };
    let first = create("first").await;
    let second = create("second").await;
    assert_ne!(first, second);
    (cluster.client)
        .delete(&cluster.pods, Some("default"), "first")
        .await
        .unwrap();
    // Terminating first (its IP held), then deleted by the hollow kubelet.
    eventually("the deleted pod gone", async || {
        let found = (cluster.client.get(&cluster.pods, Some("default"), "first")).await;
        found.is_err().then_some(())
    })
    .await;
    assert_eq!(create("third").await, first, "the lowest free IP is reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_that_finds_no_free_address_waits_with_why_and_runs_when_one_frees() {
    let cluster = cluster().await;
    let _hollow = HollowNodes::start(cluster.client.clone(), config(0))
        .await
        .unwrap();
    // A /30 holds one pod address (.2): the network, the gateway and the
    // broadcast address take the rest.
    let small = json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "small", "labels": {"wharf.dev/hollow": "true"}},
        "spec": {"podCIDR": "192.168.9.0/30"},
    });
    (cluster.client)
        .create(&cluster.nodes, None, &small)
        .await
        .unwrap();
    let create = async |name: &str| {
        (cluster.client)
            .create(&cluster.pods, Some("default"), &pod(name, Some("small")))
            .await
            .unwrap();
    };
    create("first").await;
    let first = cluster.running_pod("first").await;
    assert_eq!(first["status"]["podIP"], "192.168.9.2");
    create("second").await;
    let waiting = eventually("the second pod reported waiting", async || {
        let pod = (cluster.client.get(&cluster.pods, Some("default"), "second"))
            .await
            .ok()?;
        let waiting = pod
            .pointer("/status/containerStatuses/0/state/waiting")?
            .clone();
        Some((pod, waiting))
    })
    .await;
    assert_eq!(waiting.0["status"]["phase"], "Pending");
    assert_eq!(waiting.1["reason"], "ContainerCreating");
    assert_eq!(
        waiting.1["message"],
        "failed to set up the pod's network: no free address in the node's pod CIDR 192.168.9.0/30"
    );
    (cluster.client)
        .delete(&cluster.pods, Some("default"), "first")
        .await
        .unwrap();
    let second = cluster.running_pod("second").await;
    assert_eq!(second["status"]["podIP"], "192.168.9.2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_renew_the_lease() {
    let cluster = cluster().await;
    let _hollow = HollowNodes::start(cluster.client.clone(), config(1))
        .await
        .unwrap();
    let lease = eventually("the lease", async || cluster.lease("sim-0").await).await;
    assert_eq!(lease["spec"]["holderIdentity"], "sim-0");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
    assert_eq!(lease["metadata"]["ownerReferences"][0]["kind"], "Node");
    let first = lease["spec"]["renewTime"].clone();
    eventually("a renewal", async || {
        let lease = cluster.lease("sim-0").await?;
        (lease["spec"]["renewTime"] != first).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_heartbeat_interval_takes_over_from_the_next_renewal() {
    let cluster = cluster().await;
    let hollow = HollowNodes::start(
        cluster.client.clone(),
        HollowConfig {
            count: 1,
            // Longer than the test waits: only the change can renew it.
            heartbeat: Duration::from_secs(3600),
            ..HollowConfig::default()
        },
    )
    .await
    .unwrap();
    hollow.set_heartbeat(Duration::from_millis(50));
    let lease = eventually("the lease", async || cluster.lease("sim-0").await).await;
    let first = lease["spec"]["renewTime"].clone();
    eventually("a renewal at the new interval", async || {
        let lease = cluster.lease("sim-0").await?;
        (lease["spec"]["renewTime"] != first).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_node_is_no_longer_heartbeated() {
    let cluster = cluster().await;
    let _hollow = HollowNodes::start(cluster.client.clone(), config(2))
        .await
        .unwrap();
    eventually("the lease", async || cluster.lease("sim-1").await).await;
    cluster
        .client
        .delete(&cluster.nodes, None, "sim-1")
        .await
        .unwrap();
    eventually("the lease gone", async || {
        cluster.lease("sim-1").await.is_none().then_some(())
    })
    .await;
    eventually("the other node's lease", async || {
        cluster.lease("sim-0").await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_adopts_existing_nodes() {
    let cluster = cluster().await;
    let uids = async || -> Vec<Value> {
        let listed = cluster
            .client
            .list(&cluster.nodes, None, &Selectors::all())
            .await
            .unwrap();
        listed
            .items
            .iter()
            .map(|n| n["metadata"]["uid"].clone())
            .collect()
    };
    HollowNodes::start(cluster.client.clone(), config(2))
        .await
        .unwrap()
        .stop();
    let before = uids().await;
    assert_eq!(before.len(), 2);

    let again = HollowNodes::start(cluster.client.clone(), config(2)).await;
    assert!(again.is_ok(), "{:?}", again.err());
    assert_eq!(uids().await, before, "the same nodes, not new ones");
    let node = cluster
        .client
        .get(&cluster.nodes, None, "sim-1")
        .await
        .unwrap();
    assert_eq!(node["metadata"]["labels"]["wharf.dev/hollow"], "true");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_configuration_is_refused_before_any_node_is_registered() {
    let cluster = cluster().await;
    let bad = [
        HollowConfig {
            heartbeat: Duration::ZERO,
            ..config(1)
        },
        HollowConfig {
            cpu: "four".into(),
            ..config(1)
        },
        HollowConfig {
            count: 70_000,
            ..config(0)
        },
        // 300 pods a node take /23s: 32,768 of them fit, not 40,000.
        HollowConfig {
            count: 40_000,
            pods: 300,
            ..config(0)
        },
        HollowConfig {
            pods: 70_000,
            ..config(1)
        },
    ];
    for config in bad {
        let started = HollowNodes::start(cluster.client.clone(), config).await;
        assert!(
            matches!(started, Err(HollowError::InvalidConfig(_))),
            "{:?}",
            started.err()
        );
    }
    let nodes = cluster
        .client
        .list(&cluster.nodes, None, &Selectors::all())
        .await
        .unwrap();
    assert!(nodes.items.is_empty());
}
