//! The host's side of the `wharf:plugin` host interfaces (`wit/host.wit`):
//! `types`, `cluster`, `log`, `state`, `clock`, `events`, implemented once
//! for every world's [`Sandbox`]. Each call goes to the instance's
//! [`ControllerHost`], which checks the plugin's permissions. The bindings
//! are generated once, with the controller world; the other worlds' bindings
//! reuse these interfaces (`with:`), so a world links exactly the ones it
//! imports.

use crate::controller::bindings::wharf::plugin::{
    clock, cluster, discovery, events, log, state, subresources, types, watches,
};
use crate::controller::{ApiError, Event, Kind, Level, ListOptions, PatchType};
use crate::world::Sandbox;

impl types::Host for Sandbox {}

impl cluster::Host for Sandbox {
    fn get(
        &mut self,
        kind: Kind,
        namespace: Option<String>,
        name: String,
    ) -> Result<Option<String>, ApiError> {
        self.host.get(&kind, namespace.as_deref(), &name)
    }

    fn list(&mut self, kind: Kind, options: ListOptions) -> Result<Vec<String>, ApiError> {
        self.host.list(&kind, &options)
    }

    fn create(
        &mut self,
        kind: Kind,
        namespace: Option<String>,
        object: String,
    ) -> Result<String, ApiError> {
        self.host.create(&kind, namespace.as_deref(), &object)
    }

    fn create_all(
        &mut self,
        kind: Kind,
        namespace: Option<String>,
        objects: Vec<String>,
    ) -> Vec<Result<String, ApiError>> {
        self.host.create_all(&kind, namespace.as_deref(), &objects)
    }

    fn update(
        &mut self,
        kind: Kind,
        namespace: Option<String>,
        object: String,
    ) -> Result<String, ApiError> {
        self.host
            .update(&kind, namespace.as_deref(), &object, false)
    }

    fn update_status(
        &mut self,
        kind: Kind,
        namespace: Option<String>,
        object: String,
    ) -> Result<String, ApiError> {
        self.host.update(&kind, namespace.as_deref(), &object, true)
    }

    fn patch(
        &mut self,
        kind: Kind,
        namespace: Option<String>,
        name: String,
        patch_type: PatchType,
        patch: String,
        status: bool,
    ) -> Result<String, ApiError> {
        self.host.patch(
            &kind,
            namespace.as_deref(),
            &name,
            patch_type,
            &patch,
            status,
        )
    }

    fn delete(
        &mut self,
        kind: Kind,
        namespace: Option<String>,
        name: String,
    ) -> Result<(), ApiError> {
        self.host.delete(&kind, namespace.as_deref(), &name)
    }
}

impl log::Host for Sandbox {
    fn log(&mut self, level: Level, message: String) {
        self.host.log(level, &message);
    }
}

impl state::Host for Sandbox {
    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        self.host.state_get(&key)
    }

    fn set(&mut self, key: String, value: Vec<u8>) {
        self.host.state_set(&key, &value);
    }

    fn delete(&mut self, key: String) {
        self.host.state_delete(&key);
    }
}

impl clock::Host for Sandbox {
    fn now_millis(&mut self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

impl events::Host for Sandbox {
    fn emit(&mut self, event: Event) {
        self.host.emit(event);
    }
}

impl watches::Host for Sandbox {
    fn watch(&mut self, kind: Kind, wakes: watches::Wakes) -> Result<(), String> {
        let recorded = self
            .watches
            .as_mut()
            .ok_or_else(|| "watches can be added only during init".to_owned())?;
        let pointer = match &wakes {
            watches::Wakes::All => None,
            watches::Wakes::NamedBy(pointer) | watches::Wakes::Selecting(pointer) => Some(pointer),
        };
        if let Some(pointer) = pointer
            && !(pointer.is_empty() || pointer.starts_with('/'))
        {
            return Err(format!(
                "{pointer:?} is not a JSON pointer (it starts with \"/\", as \"/spec/nodeName\")"
            ));
        }
        recorded.push(crate::controller::Watch { kind, wakes });
        Ok(())
    }
}

impl discovery::Host for Sandbox {
    fn served_kinds(&mut self) -> Vec<discovery::ServedKind> {
        self.host.served_kinds()
    }
}

impl subresources::Host for Sandbox {
    fn update(
        &mut self,
        kind: Kind,
        namespace: Option<String>,
        subresource: String,
        object: String,
    ) -> Result<String, ApiError> {
        self.host
            .update_subresource(&kind, namespace.as_deref(), &subresource, &object)
    }
}

/// A host with no cluster access: its logs go to `tracing` under the
/// plugin's name, every cluster call is refused. The scheduler's policies
/// run on it (their world links no cluster interface), and so do tests.
pub struct NoClusterHost {
    name: std::sync::Arc<str>,
}

impl NoClusterHost {
    pub fn new(name: &str) -> Self {
        Self { name: name.into() }
    }

    fn refused(&self) -> ApiError {
        ApiError::Forbidden(format!("plugin {} has no cluster access", self.name))
    }
}

impl crate::controller::ControllerHost for NoClusterHost {
    fn get(&self, _: &Kind, _: Option<&str>, _: &str) -> Result<Option<String>, ApiError> {
        Err(self.refused())
    }
    fn list(&self, _: &Kind, _: &ListOptions) -> Result<Vec<String>, ApiError> {
        Err(self.refused())
    }
    fn create(&self, _: &Kind, _: Option<&str>, _: &str) -> Result<String, ApiError> {
        Err(self.refused())
    }
    fn update(&self, _: &Kind, _: Option<&str>, _: &str, _: bool) -> Result<String, ApiError> {
        Err(self.refused())
    }
    fn patch(
        &self,
        _: &Kind,
        _: Option<&str>,
        _: &str,
        _: PatchType,
        _: &str,
        _: bool,
    ) -> Result<String, ApiError> {
        Err(self.refused())
    }
    fn delete(&self, _: &Kind, _: Option<&str>, _: &str) -> Result<(), ApiError> {
        Err(self.refused())
    }
    fn log(&self, level: Level, message: &str) {
        log_as(&self.name, level, message);
    }
    fn state_get(&self, _: &str) -> Option<Vec<u8>> {
        None
    }
    fn state_set(&self, _: &str, _: &[u8]) {}
    fn state_delete(&self, _: &str) {}
    fn emit(&self, _: Event) {}
}

/// A plugin's log line into `tracing`, under its name.
pub fn log_as(plugin: &str, level: Level, message: &str) {
    match level {
        Level::Trace => tracing::trace!(plugin, "{message}"),
        Level::Debug => tracing::debug!(plugin, "{message}"),
        Level::Info => tracing::info!(plugin, "{message}"),
        Level::Warn => tracing::warn!(plugin, "{message}"),
        Level::Error => tracing::error!(plugin, "{message}"),
    }
}
