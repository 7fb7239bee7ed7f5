//! An admission plugin for tests: it reviews ConfigMaps and does what their
//! annotation `test.wharf.dev/admission` asks:
//!
//! - `loop`: never returns (the host's deadline stops it);
//! - `panic`: panics (a trap);
//! - `oom`: allocates until its memory limit refuses;
//! - `deny`: denies with the message `denied on request`;
//! - `warn`: allows with the warning `warned on request` (` (dry run)`
//!   added in a dry run);
//! - `label`: (when the Plugin's `spec.config.mutating` is true) adds the
//!   label `admitted-by=<spec.config.name>`;
//! - anything else, or no annotation: allows.

use wharf_sdk::admission::{Admission, Registration, Request, Response};
use wharf_sdk::k8s_openapi::api::core::v1::ConfigMap;
use wharf_sdk::prelude::*;

#[derive(Default)]
pub struct TestAdmission {
    name: String,
}

impl Admission for TestAdmission {
    fn registration(config: &serde_json::Value) -> Result<Registration, Error> {
        let registration = if config.get("mutating").and_then(|m| m.as_bool()) == Some(true) {
            Registration::mutating()
        } else {
            Registration::validating()
        };
        Ok(registration.kind::<ConfigMap>())
    }

    fn configure(&mut self, config: &serde_json::Value) -> Result<(), Error> {
        self.name = config
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or("test-admission")
            .to_string();
        Ok(())
    }

    fn review(&self, _ctx: &Context, request: &Request) -> Result<Response, Error> {
        let object = request.object.as_ref().or(request.old_object.as_ref());
        let asked = object
            .and_then(|o| o.pointer("/metadata/annotations/test.wharf.dev~1admission"))
            .and_then(|a| a.as_str())
            .unwrap_or_default();
        match asked {
            "loop" => {
                let mut spins: u64 = 0;
                loop {
                    spins = std::hint::black_box(spins.wrapping_add(1));
                }
            }
            "panic" => panic!("panicked on request"),
            "oom" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "deny" => Ok(Response::deny("denied on request")),
            "warn" => {
                let dry_run = if request.dry_run { " (dry run)" } else { "" };
                Ok(Response::allow().warn(format!("warned on request{dry_run}")))
            }
            "label" => {
                let mut config_map: ConfigMap = request.object()?;
                config_map
                    .metadata
                    .labels
                    .get_or_insert_with(Default::default)
                    .insert("admitted-by".into(), self.name.clone());
                Response::patch(request, &config_map)
            }
            _ => Ok(Response::allow()),
        }
    }
}

wharf_sdk::export_admission!(TestAdmission);
