//! Creating and deleting a controller's pods with the events kube's
//! `RealPodControl` records on the owner, in slow-start batches
//! (`slowStartBatch`), as the ReplicaSet and DaemonSet controllers do.

use k8s_openapi::Metadata;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::backend::EventType;
use crate::context::Context;
use crate::error::Result;

/// Event reasons, as kube's pod control records them on the owner.
pub mod reasons {
    pub const SUCCESSFUL_CREATE: &str = "SuccessfulCreate";
    pub const FAILED_CREATE: &str = "FailedCreate";
    pub const SUCCESSFUL_DELETE: &str = "SuccessfulDelete";
    pub const FAILED_DELETE: &str = "FailedDelete";
}

/// Creates `count` objects in batches of 1, 2, 4… (`slowStartBatch`):
/// `create_batch(n)` creates the next `n` at once and returns one result
/// each; the first batch with a failure ends it, so a doomed template (a
/// quota, a bad spec) costs a few calls, not hundreds. Returns the first
/// error.
pub fn slow_start_batch(
    count: usize,
    initial_batch_size: usize,
    mut create_batch: impl FnMut(usize) -> Vec<Result<()>>,
) -> Result<()> {
    let mut remaining = count;
    let mut batch_size = remaining.min(initial_batch_size);
    while batch_size > 0 {
        let first_error = create_batch(batch_size).into_iter().find_map(Result::err);
        if let Some(error) = first_error {
            return Err(error);
        }
        remaining -= batch_size;
        batch_size = remaining.min(2 * batch_size);
    }
    Ok(())
}

/// Creates `pods` at once (one `create_all`: the host writes them
/// concurrently), recording `SuccessfulCreate` ("Created pod: NAME") or
/// `FailedCreate` on `owner` for each; the created pods' names are pushed
/// onto `created`. One result per pod.
pub fn create_pods<O>(
    ctx: &Context<'_>,
    owner: &O,
    namespace: Option<&str>,
    pods: &[Pod],
    created: &mut Vec<String>,
) -> Vec<Result<()>>
where
    O: k8s_openapi::Resource + Metadata<Ty = ObjectMeta>,
{
    ctx.create_all(namespace, pods)
        .into_iter()
        .map(|outcome| match outcome {
            Ok(stored) => {
                let name = stored.metadata.name.unwrap_or_default();
                ctx.event(
                    owner,
                    EventType::Normal,
                    reasons::SUCCESSFUL_CREATE,
                    format!("Created pod: {name}"),
                );
                created.push(name);
                Ok(())
            }
            Err(error) => {
                ctx.event(
                    owner,
                    EventType::Warning,
                    reasons::FAILED_CREATE,
                    format!("Error creating: {error}"),
                );
                Err(error)
            }
        })
        .collect()
}

/// Deletes the pod `name`, recording `SuccessfulDelete` ("Deleted pod:
/// NAME") or `FailedDelete` on `owner`: whether it was deleted (false when
/// it was gone already).
pub fn delete_pod<O>(
    ctx: &Context<'_>,
    owner: &O,
    namespace: Option<&str>,
    name: &str,
) -> Result<bool>
where
    O: k8s_openapi::Resource + Metadata<Ty = ObjectMeta>,
{
    match ctx.delete::<Pod>(namespace, name) {
        Ok(()) => {
            ctx.event(
                owner,
                EventType::Normal,
                reasons::SUCCESSFUL_DELETE,
                format!("Deleted pod: {name}"),
            );
            Ok(true)
        }
        Err(error) if error.is_not_found() => Ok(false),
        Err(error) => {
            ctx.event(
                owner,
                EventType::Warning,
                reasons::FAILED_DELETE,
                format!("Error deleting: {error}"),
            );
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn slow_start_doubles_batches_and_stops_after_the_first_failing_batch() {
        let cases: &[(usize, Option<usize>, usize, bool)] = &[
            // count, fail from call n on, calls made, ok
            (0, None, 0, true),
            (1, None, 1, true),
            (10, None, 10, true),
            (10, Some(1), 1, false),
            (10, Some(2), 3, false),
            (10, Some(4), 7, false),
            (10, Some(5), 7, false),
        ];
        for &(count, fail_from, expected_calls, ok) in cases {
            let mut calls = 0;
            let result = slow_start_batch(count, 1, |batch| {
                (0..batch)
                    .map(|_| {
                        calls += 1;
                        match fail_from {
                            Some(n) if calls >= n => Err(Error::other("no")),
                            _ => Ok(()),
                        }
                    })
                    .collect()
            });
            assert_eq!(
                calls, expected_calls,
                "count {count}, failing from {fail_from:?}"
            );
            assert_eq!(result.is_ok(), ok);
        }
    }
}
