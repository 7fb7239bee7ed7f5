//! The admission world as the supervisor drives it.

use std::sync::Arc;

use serde_json::Value;
use wharf_apiserver::LocalClient;
use wharf_client::LabelSelector;
use wharf_controller_manager::host::PluginHost;
use wharf_controller_manager::informer::Informers;
use wharf_plugin_host::{PluginSpec, PluginWorld, RunningPlugin};
use wharf_plugins::admission::{AdmissionModule, AdmissionWorld};
use wharf_plugins::world::World;
use wharf_plugins::{Limits, PluginError, PluginStats, Runtime};

use crate::chain::{ActivePlugin, Chain, FailurePolicy, Pool};

/// Instances of one plugin that review at once, unless its
/// `spec.config.instances` says otherwise.
const DEFAULT_INSTANCES: usize = 4;

/// The admission world: plugins loaded here go into the [`Chain`].
pub struct AdmissionPlugins {
    client: LocalClient,
    runtime: Arc<Runtime>,
    informers: Arc<Informers>,
    chain: Arc<Chain>,
}

impl AdmissionPlugins {
    pub fn new(client: LocalClient, runtime: Arc<Runtime>) -> Arc<Self> {
        let informers = Arc::new(Informers::new(
            client.clone(),
            tokio::runtime::Handle::current(),
        ));
        Arc::new(Self {
            client,
            runtime,
            chain: Chain::new(informers.clone()),
            informers,
        })
    }

    /// The chain to set on the API server.
    pub fn chain(&self) -> Arc<Chain> {
        self.chain.clone()
    }

    /// Loads a plugin and learns what it reviews.
    fn load(
        &self,
        plugin: &PluginSpec,
        bytes: &[u8],
        stats: Arc<PluginStats>,
    ) -> Result<(Arc<ActivePlugin>, Arc<PluginHost>), PluginError> {
        if plugin.source.is_native() {
            return Err(PluginError::Failed(
                "admission plugins are WebAssembly components; native libraries are not served for this world".into(),
            ));
        }
        let config = &plugin.config;
        let failure_policy = match config.get("failurePolicy").and_then(Value::as_str) {
            None | Some("Fail") => FailurePolicy::Fail,
            Some("Ignore") => FailurePolicy::Ignore,
            Some(other) => {
                return Err(PluginError::Failed(format!(
                    "spec.config.failurePolicy: Unsupported value: \"{other}\": supported values: \"Fail\", \"Ignore\""
                )));
            }
        };
        let selector = |field: &str| -> Result<LabelSelector, PluginError> {
            let text = config
                .get(field)
                .map(selector_text)
                .transpose()
                .map_err(|e| PluginError::Failed(format!("spec.config.{field}: {e}")))?
                .unwrap_or_default();
            LabelSelector::parse(&text)
                .map_err(|e| PluginError::Failed(format!("spec.config.{field}: {e}")))
        };
        let instances = match config.get("instances") {
            None => DEFAULT_INSTANCES,
            Some(value) => value
                .as_u64()
                .filter(|n| (1..=64).contains(n))
                .ok_or_else(|| {
                    PluginError::Failed(format!(
                        "spec.config.instances: {value} is not a whole number from 1 to 64"
                    ))
                })? as usize,
        };
        let module = Arc::new(AdmissionModule::load(&self.runtime, bytes)?);
        stats.loaded(Some(module.times()));
        let host = Arc::new(
            PluginHost::new(
                plugin.name.clone(),
                self.client.clone(),
                self.informers.clone(),
                wharf_apiserver::authz::plugin_user(&plugin.name),
                tokio::runtime::Handle::current(),
            )
            .with_overlay(self.chain.overlay()),
        );
        let config_text = plugin.config_text();
        let (instance, registration) = module.start(host.clone(), &plugin.limits, &config_text)?;
        host.set_watched(&registration.reads)
            .map_err(|e| PluginError::Failed(format!("cannot watch what the plugin reads: {e}")))?;
        let active = Arc::new(ActivePlugin {
            name: plugin.name.clone(),
            order: config.get("order").and_then(Value::as_i64).unwrap_or(0),
            failure_policy,
            namespace_selector: selector("namespaceSelector")?,
            object_selector: selector("objectSelector")?,
            registration,
            module,
            host: host.clone(),
            limits: plugin.limits.clone(),
            config: config_text,
            stats,
            pool: Pool::new(instance, instances),
        });
        Ok((active, host))
    }
}

/// A label selector object (`matchLabels`, `matchExpressions`) as the
/// selector text the API server parses.
fn selector_text(selector: &Value) -> Result<String, String> {
    let mut parts = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (key, value) in labels {
            let value = value.as_str().ok_or("matchLabels values must be strings")?;
            parts.push(format!("{key}={value}"));
        }
    }
    for expression in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expression
            .get("key")
            .and_then(Value::as_str)
            .ok_or("matchExpressions need a key")?;
        let values: Vec<&str> = expression
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let operator = expression
            .get("operator")
            .and_then(Value::as_str)
            .unwrap_or_default();
        parts.push(match operator {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            other => return Err(format!("unsupported operator {other:?}")),
        });
    }
    Ok(parts.join(","))
}

/// An admission plugin in the chain.
pub struct RunningAdmission {
    plugin: Arc<ActivePlugin>,
    /// Stopped when the Plugin is deleted: its reviews in flight end.
    host: Arc<PluginHost>,
}

impl RunningPlugin for RunningAdmission {
    fn digest(&self) -> String {
        self.plugin.module.digest().to_string()
    }

    fn stats(&self) -> Arc<PluginStats> {
        self.plugin.stats.clone()
    }
}

impl PluginWorld for AdmissionPlugins {
    const TYPE: &'static str = "admission";
    type Running = RunningAdmission;

    fn default_limits(&self) -> Limits {
        AdmissionWorld::default_limits()
    }

    fn start(&self, plugin: &PluginSpec, bytes: &[u8]) -> Result<RunningAdmission, PluginError> {
        let (plugin, host) = self.load(plugin, bytes, Arc::default())?;
        self.chain.install(plugin.clone());
        Ok(RunningAdmission { plugin, host })
    }

    /// The chain swaps by name: no moment without the plugin.
    fn replace(
        &self,
        old: RunningAdmission,
        plugin: &PluginSpec,
        bytes: &[u8],
    ) -> Result<RunningAdmission, (PluginError, Option<RunningAdmission>)> {
        self.start(plugin, bytes)
            .map_err(|error| (error, Some(old)))
    }

    fn reload(
        &self,
        running: &mut RunningAdmission,
        plugin: &PluginSpec,
        bytes: &[u8],
    ) -> Result<(), PluginError> {
        let (loaded, host) = self.load(plugin, bytes, running.plugin.stats.clone())?;
        self.chain.install(loaded.clone());
        running.plugin = loaded;
        running.host = host;
        Ok(())
    }

    fn stop(&self, running: RunningAdmission) {
        self.chain.remove(&running.plugin.name);
        running.host.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_label_selector_object_reads_as_the_api_servers_selector_text() {
        let cases = [
            (json!({}), Ok("")),
            (
                json!({"matchLabels": {"policy": "fail"}}),
                Ok("policy=fail"),
            ),
            (
                json!({"matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["a", "b"]},
                    {"key": "env", "operator": "NotIn", "values": ["prod"]},
                    {"key": "owned", "operator": "Exists"},
                    {"key": "legacy", "operator": "DoesNotExist"},
                ]}),
                Ok("tier in (a,b),env notin (prod),owned,!legacy"),
            ),
            (
                json!({"matchExpressions": [{"key": "x", "operator": "Near"}]}),
                Err("unsupported operator \"Near\""),
            ),
            (
                json!({"matchLabels": {"n": 1}}),
                Err("matchLabels values must be strings"),
            ),
        ];
        for (selector, expected) in cases {
            let text = selector_text(&selector);
            assert_eq!(
                text.as_deref(),
                expected.map_err(String::from).as_deref(),
                "{selector}"
            );
            if let Ok(text) = text {
                LabelSelector::parse(&text).unwrap();
            }
        }
    }
}
