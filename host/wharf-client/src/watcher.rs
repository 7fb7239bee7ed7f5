//! List-and-watch: the whole list first (and again whenever the watch ends
//! or falls behind), then one change at a time: how the components inside
//! `wharf up` (scheduler, node agents, proxy) follow a kind.

use std::sync::Arc;
use std::time::Duration;

use crate::{ApiClient, ApiError, Delivery, ResourceDef, Selectors, WatchType};
use serde_json::Value;
use tokio::sync::mpsc;

/// What one list-and-watch saw.
pub enum Seen {
    /// Every object (matching the field selector), at one revision.
    Listed(Vec<Value>),
    /// One change after the list.
    Changed(WatchType, Arc<Value>),
}

pub struct Watcher {
    client: ApiClient,
    resource: Arc<ResourceDef>,
    /// Applied to the list and the watch.
    selectors: Selectors,
    events: Option<mpsc::Receiver<Delivery>>,
}

impl Watcher {
    pub fn new(
        client: impl Into<ApiClient>,
        resource: Arc<ResourceDef>,
        selectors: Selectors,
    ) -> Self {
        Self {
            client: client.into(),
            resource,
            selectors,
            events: None,
        }
    }

    pub async fn next(&mut self) -> Seen {
        let kind = self.resource.kind;
        loop {
            let Some(events) = &mut self.events else {
                let listed = (self.client)
                    .list(&self.resource, None, &self.selectors)
                    .await;
                match listed {
                    Ok(listed) => {
                        let events = self.client.watch(
                            &self.resource,
                            None,
                            &self.selectors,
                            listed.revision,
                        );
                        self.events = Some(events);
                        return Seen::Listed(listed.items);
                    }
                    Err(error) => {
                        tracing::warn!(kind, %error, "list failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            };
            match events.recv().await {
                Some(Delivery::Event(watch_type, event)) => {
                    return Seen::Changed(watch_type, event.object.clone());
                }
                Some(Delivery::Progress(_)) => continue,
                Some(Delivery::Error(ApiError::Gone(message))) => {
                    tracing::info!(kind, %message, "watch expired; re-listing");
                }
                Some(Delivery::Error(error)) => {
                    tracing::warn!(kind, %error, "watch failed; re-listing");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                None => tokio::time::sleep(Duration::from_secs(1)).await,
            }
            self.events = None;
        }
    }
}
