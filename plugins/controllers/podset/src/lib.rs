//! A sample operator: the `PodSet` custom kind (`crd.yaml`) and its
//! controller, the operator pattern in a few dozen lines. A PodSet runs
//! `spec.replicas` pods of `spec.image`; the controller creates the missing
//! ones, deletes the surplus (newest first), and reports `replicas`,
//! `readyReplicas` and the pods' `selector` in the status, which
//! `kubectl scale` and `kubectl get` read through the definition's scale
//! subresource and printer columns. Its pods are owned by the PodSet: the
//! garbage collector deletes them with it.

use wharf_sdk::k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wharf_sdk::prelude::*;
use wharf_sdk::serde::{Deserialize, Serialize};

/// The label that marks a PodSet's pods (its name).
pub const LABEL: &str = "samples.wharf.dev/podset";

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(crate = "wharf_sdk::serde", rename_all = "camelCase")]
pub struct PodSet {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodSetSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PodSetStatus>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(crate = "wharf_sdk::serde", rename_all = "camelCase")]
pub struct PodSetSpec {
    #[serde(default)]
    pub replicas: i32,
    #[serde(default)]
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(crate = "wharf_sdk::serde", rename_all = "camelCase")]
pub struct PodSetStatus {
    pub replicas: i32,
    pub ready_replicas: i32,
    pub selector: String,
}

wharf_sdk::custom_resource!(
    PodSet,
    "samples.wharf.dev",
    "v1",
    "PodSet",
    "podsets",
    namespaced
);

#[derive(Default)]
pub struct PodSetController;

/// Whether a pod still counts: not being deleted, not finished.
fn active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    pod.metadata.deletion_timestamp.is_none() && !matches!(phase, Some("Succeeded" | "Failed"))
}

fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A new pod of `set`.
pub fn pod_of(set: &PodSet) -> Pod {
    let name = set.metadata.name.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            labels: Some([(LABEL.to_string(), name)].into()),
            owner_references: Some(vec![owner_reference(set)]),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "main".into(),
                image: Some(set.spec.image.clone()),
                command: (!set.spec.command.is_empty()).then(|| set.spec.command.clone()),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl Controller for PodSetController {
    fn registration(_config: &serde_json::Value) -> Result<Registration, Error> {
        Ok(Registration::new::<PodSet>().owns::<Pod>())
    }

    fn reconcile(
        &self,
        ctx: &Context<'_>,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Action, Error> {
        let Some(set) = ctx.get::<PodSet>(namespace, name)? else {
            return Ok(Action::Done);
        };
        let selector = format!("{LABEL}={name}");
        let mut pods: Vec<Pod> = ctx
            .list::<Pod>(namespace, &ListParams::default().labels(selector.clone()))?
            .into_iter()
            .filter(|pod| is_controlled_by(pod, &set) && active(pod))
            .collect();
        let wanted = usize::try_from(set.spec.replicas.max(0)).unwrap_or(0);
        if set.metadata.deletion_timestamp.is_none() {
            if pods.len() < wanted {
                let missing: Vec<Pod> = (pods.len()..wanted).map(|_| pod_of(&set)).collect();
                for created in ctx.create_all(namespace, &missing) {
                    let created = created?;
                    ctx.event(
                        &set,
                        EventType::Normal,
                        "SuccessfulCreate",
                        format!(
                            "Created pod: {}",
                            created.metadata.name.as_deref().unwrap_or_default()
                        ),
                    );
                    pods.push(created);
                }
            } else if pods.len() > wanted {
                // The newest go first.
                pods.sort_by(|a, b| {
                    b.metadata
                        .creation_timestamp
                        .cmp(&a.metadata.creation_timestamp)
                });
                let surplus = pods.len() - wanted;
                for pod in pods.drain(..surplus) {
                    let pod_name = pod.metadata.name.clone().unwrap_or_default();
                    ctx.delete::<Pod>(namespace, &pod_name)?;
                    ctx.event(
                        &set,
                        EventType::Normal,
                        "SuccessfulDelete",
                        format!("Deleted pod: {pod_name}"),
                    );
                }
            }
        }
        let status = PodSetStatus {
            replicas: i32::try_from(pods.len()).unwrap_or(i32::MAX),
            ready_replicas: i32::try_from(pods.iter().filter(|p| ready(p)).count())
                .unwrap_or(i32::MAX),
            selector,
        };
        if set.status.as_ref() != Some(&status) {
            let mut updated = set.clone();
            updated.status = Some(status);
            ctx.update_status(&updated)?;
        }
        Ok(Action::Done)
    }
}

wharf_sdk::export_controller!(PodSetController);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_of_a_set_is_labelled_owned_and_runs_its_image() {
        let set = PodSet {
            metadata: ObjectMeta {
                name: Some("web".into()),
                uid: Some("u1".into()),
                ..Default::default()
            },
            spec: PodSetSpec {
                replicas: 2,
                image: "busybox".into(),
                command: vec!["sleep".into(), "60".into()],
            },
            status: None,
        };
        let pod = pod_of(&set);
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("web-"));
        assert_eq!(pod.metadata.labels.unwrap()[LABEL], "web");
        assert!(is_controlled_by(&pod_of(&set), &set));
        let container = &pod.spec.unwrap().containers[0];
        assert_eq!(container.image.as_deref(), Some("busybox"));
        assert_eq!(container.command.as_ref().unwrap()[0], "sleep");
    }
}
