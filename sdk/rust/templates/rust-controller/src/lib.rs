//! A controller: keeps `<name>-mirror` a copy of every ConfigMap labelled
//! `mirror=true`. Change it to yours.

use wharf_sdk::prelude::*;
use wharf_sdk::k8s_openapi::api::core::v1::ConfigMap;
use wharf_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

#[derive(Default)]
struct Mirror;

impl Controller for Mirror {
    fn registration(_config: &serde_json::Value) -> Result<Registration, Error> {
        // Mirrors are ConfigMaps owned by their source: their events wake the source.
        Ok(Registration::new::<ConfigMap>().owns::<ConfigMap>())
    }

    fn reconcile(&self, ctx: &Context, namespace: Option<&str>, name: &str) -> Result<Action, Error> {
        let Some(source) = ctx.get::<ConfigMap>(namespace, name)? else {
            return Ok(Action::Done); // gone: garbage collection removes the mirror
        };
        let labels = source.metadata.labels.clone().unwrap_or_default();
        if labels.get("mirror").map(String::as_str) != Some("true") {
            return Ok(Action::Done);
        }
        let mirror_name = format!("{name}-mirror");
        match ctx.get::<ConfigMap>(namespace, &mirror_name)? {
            None => {
                let metadata = ObjectMeta {
                    name: Some(mirror_name),
                    owner_references: Some(vec![owner_reference(&source)]),
                    ..ObjectMeta::default()
                };
                let data = source.data.clone();
                ctx.create(namespace, &ConfigMap { metadata, data, ..ConfigMap::default() })?;
                ctx.event(&source, EventType::Normal, "Mirrored", format!("Created {name}-mirror"));
            }
            Some(mut mirror) if mirror.data != source.data => {
                mirror.data = source.data;
                ctx.update(&mirror)?;
            }
            Some(_) => ctx.debug("mirror up to date"),
        }
        Ok(Action::Done)
    }
}

wharf_sdk::export_controller!(Mirror);

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_sdk::testing::FakeCluster;

    #[test]
    fn a_labelled_configmap_gets_its_mirror_and_a_second_run_writes_nothing() {
        let fake = FakeCluster::new();
        fake.add(ConfigMap {
            metadata: ObjectMeta {
                name: Some("settings".into()),
                namespace: Some("default".into()),
                labels: Some([("mirror".to_owned(), "true".to_owned())].into()),
                ..ObjectMeta::default()
            },
            data: Some([("color".to_owned(), "blue".to_owned())].into()),
            ..ConfigMap::default()
        });
        fake.run::<Mirror>("default/settings").unwrap();
        let mirror = fake.get::<ConfigMap>(Some("default"), "settings-mirror").unwrap();
        assert_eq!(mirror.data.unwrap()["color"], "blue");
        let revision = fake.revision();
        fake.run::<Mirror>("default/settings").unwrap();
        assert_eq!(fake.revision(), revision);
    }
}
