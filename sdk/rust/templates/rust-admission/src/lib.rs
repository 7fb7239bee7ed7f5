//! An admission plugin: gives every new Pod a `team` label and refuses
//! new Pods in the namespace `frozen`. Change it to yours.

use wharf_sdk::admission::{Admission, Operation, Registration, Request, Response};
use wharf_sdk::k8s_openapi::api::core::v1::Pod;
use wharf_sdk::prelude::*;

#[derive(Default)]
struct Teams;

impl Admission for Teams {
    fn registration(_config: &serde_json::Value) -> Result<Registration, Error> {
        Ok(Registration::mutating().kind::<Pod>().operations(&[Operation::Create]))
    }

    fn review(&self, _ctx: &Context, request: &Request) -> Result<Response, Error> {
        if request.namespace.as_deref() == Some("frozen") {
            return Ok(Response::deny("the namespace frozen takes no new pods"));
        }
        let mut pod: Pod = request.object()?;
        let labels = pod.metadata.labels.get_or_insert_with(Default::default);
        if labels.contains_key("team") {
            return Ok(Response::allow());
        }
        labels.insert("team".into(), "unknown".into());
        Ok(Response::patch(request, &pod)?.warn("no team label: set to unknown"))
    }
}

wharf_sdk::export_admission!(Teams);

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_sdk::admission::testing::Harness;

    #[test]
    fn a_pod_without_a_team_gets_one_with_a_warning() {
        let harness = Harness::<Teams>::new(serde_json::json!({})).unwrap();
        let response = harness.review_yaml("
        operation: CREATE
        namespace: default
        object: {apiVersion: v1, kind: Pod, metadata: {name: web}, spec: {containers: [{name: app, image: nginx}]}}
        ").unwrap();
        let pod = harness.patched(&response).unwrap();
        assert_eq!(pod["metadata"]["labels"]["team"], "unknown");
        assert_eq!(response.warnings, ["no team label: set to unknown"]);
    }
}
