//! The wasm32 side of the `scheduler` world: its bindings (generated once,
//! here) and the conversions between them and the SDK's types.

use std::cell::RefCell;

use super::{
    Change, Filtered, HostPort, Node, PlacedPod, Pod, Registration, Resources, Taint, Usage,
};

#[allow(unsafe_code, clippy::all, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "scheduler",
        pub_export_macro: true,
        export_macro_name: "export_policy_world",
        default_bindings_module: "::wharf_sdk::scheduling::__private::bindings",
    });
}

use bindings::exports::wharf::plugin::policy as wit;

/// The instance's policy, type-erased, set by `init`.
pub trait AnyInstance {
    fn update(&mut self, changes: Vec<Change>);
    fn filter(&mut self, pod: Pod, candidates: &[u32]) -> Result<Filtered, String>;
    fn score(&mut self, pod: Pod, candidates: &[u32]) -> Result<Vec<i64>, String>;
}

impl<P: super::Policy> AnyInstance for super::Instance<P> {
    fn update(&mut self, changes: Vec<Change>) {
        super::Instance::update(self, changes);
    }
    fn filter(&mut self, pod: Pod, candidates: &[u32]) -> Result<Filtered, String> {
        super::Instance::filter(self, pod, candidates).map_err(|e| e.to_string())
    }
    fn score(&mut self, pod: Pod, candidates: &[u32]) -> Result<Vec<i64>, String> {
        let mut scores = vec![0; candidates.len()];
        super::Instance::score(self, pod, candidates, &mut scores).map_err(|e| e.to_string())?;
        Ok(scores)
    }
}

thread_local! {
    static INSTANCE: RefCell<Option<Box<dyn AnyInstance>>> = const { RefCell::new(None) };
}

/// The WIT `init` export.
pub fn init<P: super::Policy>(config: &str) -> Result<wit::Registration, String> {
    let instance = super::Instance::<P>::new(config).map_err(|e| e.to_string())?;
    let Registration {
        name,
        filters,
        scores,
        wants_pods,
        wants_usage,
        wants_pod_json,
    } = instance.registration().clone();
    INSTANCE.with(|slot| *slot.borrow_mut() = Some(Box::new(instance)));
    Ok(wit::Registration {
        name,
        filters,
        scores,
        wants_pods,
        wants_usage,
        wants_pod_json,
    })
}

fn with<T>(call: impl FnOnce(&mut dyn AnyInstance) -> Result<T, String>) -> Result<T, String> {
    INSTANCE.with(|slot| match slot.borrow_mut().as_mut() {
        Some(instance) => call(instance.as_mut()),
        None => Err("the policy was called before init".into()),
    })
}

/// The WIT `update` export.
pub fn update(changes: Vec<wit::Change>) {
    let changes = changes.into_iter().map(change).collect();
    let _ = with(|instance| {
        instance.update(changes);
        Ok(())
    });
}

/// The WIT `filter` export.
pub fn filter(pod: wit::Pod, candidates: Vec<u32>) -> Result<wit::Filtered, String> {
    let filtered = with(|instance| instance.filter(self::pod(pod), &candidates))?;
    Ok(wit::Filtered {
        rejections: filtered
            .rejections
            .into_iter()
            .map(|r| wit::Rejection {
                position: r.position,
                reasons: r.reasons,
            })
            .collect(),
        skip_score: filtered.skip_score,
    })
}

/// The WIT `score` export.
pub fn score(pod: wit::Pod, candidates: Vec<u32>) -> Result<Vec<i64>, String> {
    with(|instance| instance.score(self::pod(pod), &candidates))
}

fn resources(r: wit::Resources) -> Resources {
    Resources {
        milli_cpu: r.milli_cpu,
        memory_bytes: r.memory_bytes,
        pods: r.pods,
    }
}

fn host_ports(ports: Vec<wit::HostPort>) -> Vec<HostPort> {
    ports
        .into_iter()
        .map(|p| HostPort {
            ip: p.ip,
            protocol: p.protocol,
            port: p.port,
        })
        .collect()
}

fn usage(u: wit::Usage) -> Usage {
    Usage {
        requested: resources(u.requested),
        non_zero_requested: resources(u.non_zero_requested),
        host_ports: host_ports(u.host_ports),
    }
}

fn placed(p: wit::PlacedPod) -> PlacedPod {
    PlacedPod {
        node: p.node,
        namespace: p.namespace,
        name: p.name,
        labels: p.labels,
    }
}

fn change(c: wit::Change) -> Change {
    match c {
        wit::Change::UpsertNode(n) => Change::UpsertNode(Node {
            index: n.index,
            name: n.name,
            labels: n.labels,
            taints: n
                .taints
                .into_iter()
                .map(|t| Taint {
                    key: t.key,
                    value: t.value,
                    effect: t.effect,
                })
                .collect(),
            allocatable: resources(n.allocatable),
            unschedulable: n.unschedulable,
            usage: usage(n.usage),
        }),
        wit::Change::RemoveNode(index) => Change::RemoveNode(index),
        wit::Change::NodeUsage((index, u)) => Change::NodeUsage(index, usage(u)),
        wit::Change::PodAdded(p) => Change::PodAdded(placed(p)),
        wit::Change::PodRemoved(p) => Change::PodRemoved(placed(p)),
    }
}

fn pod(p: wit::Pod) -> Pod {
    Pod {
        uid: p.uid,
        namespace: p.namespace,
        name: p.name,
        labels: p.labels,
        requests: resources(p.requests),
        non_zero_requests: resources(p.non_zero_requests),
        host_ports: host_ports(p.host_ports),
        spec: p.spec,
        json: p.json,
    }
}
