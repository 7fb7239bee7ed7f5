//! What the export glue does with a [`Controller`], on any target: build it
//! from the `Plugin`'s config, then hand reconciles to it. The wasm32 glue
//! (`wit.rs`) only converts to and from the WIT types around these.

// A component built for another world (a scheduling policy) has no use for it.
#![cfg_attr(
    all(target_arch = "wasm32", not(feature = "controller")),
    allow(dead_code)
)]

use crate::context::Context;
use crate::controller::{Action, Controller, Registration};
use crate::error::Result;

/// A controller with its type erased, as the instance keeps it between calls.
pub(crate) type Reconcile = Box<dyn Fn(&Context<'_>, Option<&str>, &str) -> Result<Action>>;

/// The WIT `init`: parses the config (`{}` when empty), asks for the
/// registration, then builds and configures the controller.
pub(crate) fn instantiate<C: Controller>(config: &str) -> Result<(Registration, Reconcile)> {
    let config: serde_json::Value = if config.trim().is_empty() {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_str(config)?
    };
    let registration = C::registration(&config)?;
    let mut controller = C::default();
    controller.configure(&config)?;
    let reconcile: Reconcile =
        Box::new(move |ctx, namespace, name| controller.reconcile(ctx, namespace, name));
    Ok((registration, reconcile))
}

/// The WIT `resync-seconds`: whole seconds, rounded up, saturating.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn resync_seconds(registration: &Registration) -> u32 {
    let resync = registration.resync;
    let seconds = resync.as_secs() + u64::from(resync.subsec_nanos() > 0);
    u32::try_from(seconds).unwrap_or(u32::MAX)
}

/// The WIT `requeue-after` milliseconds, saturating.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn requeue_millis(after: std::time::Duration) -> u32 {
    u32::try_from(after.as_millis()).unwrap_or(u32::MAX)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::error::Error;
    use crate::testing::FakeCluster;
    use k8s_openapi::api::core::v1::ConfigMap;

    #[derive(Default)]
    struct Echo {
        greeting: String,
    }

    impl Controller for Echo {
        fn registration(config: &serde_json::Value) -> Result<Registration> {
            if config.get("fail").is_some() {
                return Err(Error::Invalid("told to fail".to_owned()));
            }
            Ok(Registration::new::<ConfigMap>().resync(Duration::from_millis(1500)))
        }

        fn configure(&mut self, config: &serde_json::Value) -> Result<()> {
            self.greeting = config["greeting"].as_str().unwrap_or("hello").to_owned();
            Ok(())
        }

        fn reconcile(
            &self,
            ctx: &Context<'_>,
            namespace: Option<&str>,
            name: &str,
        ) -> Result<Action> {
            ctx.info(format!(
                "{} {}/{name}",
                self.greeting,
                namespace.unwrap_or("")
            ));
            Ok(Action::RequeueAfter(Duration::from_secs(3)))
        }
    }

    #[test]
    fn init_reads_the_config_and_an_empty_config_means_an_empty_object() {
        let fake = FakeCluster::new();
        let (registration, reconcile) = instantiate::<Echo>(r#"{"greeting":"hi"}"#).unwrap();
        assert_eq!(resync_seconds(&registration), 2);
        let action = reconcile(&fake.context(), Some("ns"), "a").unwrap();
        assert_eq!(
            requeue_millis(match action {
                Action::RequeueAfter(after) => after,
                Action::Done => Duration::ZERO,
            }),
            3000
        );
        let (_, reconcile) = instantiate::<Echo>("").unwrap();
        reconcile(&fake.context(), Some("ns"), "b").unwrap();
        let logs: Vec<String> = fake
            .logs()
            .into_iter()
            .map(|(_, message)| message)
            .collect();
        assert_eq!(logs, ["hi ns/a", "hello ns/b"]);
    }

    #[test]
    fn init_fails_on_bad_json_or_a_refused_registration() {
        assert!(matches!(
            instantiate::<Echo>("{"),
            Err(Error::Serialization(_))
        ));
        assert!(matches!(
            instantiate::<Echo>(r#"{"fail":1}"#),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn durations_saturate_at_the_wit_limits() {
        assert_eq!(requeue_millis(Duration::from_secs(u64::MAX)), u32::MAX);
        let registration = Registration::new::<ConfigMap>().resync(Duration::from_secs(u64::MAX));
        assert_eq!(resync_seconds(&registration), u32::MAX);
        assert_eq!(resync_seconds(&Registration::new::<ConfigMap>()), 0);
    }
}
