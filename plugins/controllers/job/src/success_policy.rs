//! `spec.successPolicy` (kube's `success_policy.go`): an Indexed Job
//! succeeds early once one of its rules is met — all its
//! `succeededIndexes` succeeded, or `succeededCount` of them, or
//! `succeededCount` indexes at all. The Job then gets `SuccessCriteriaMet`
//! (reason `SuccessPolicy`, message `Matched rules at index N`), its
//! remaining pods are deleted, and it is `Complete` once they are gone.

use std::collections::BTreeSet;

use wharf_sdk::k8s_openapi::api::batch::v1::SuccessPolicy;

use crate::indexes::parse_indexes;

/// The message of the first rule the succeeded indexes meet (rules whose
/// `succeededIndexes` list no index below `completions` are passed over).
pub fn match_success_policy(
    policy: Option<&SuccessPolicy>,
    completions: u32,
    succeeded: &BTreeSet<u32>,
) -> Option<String> {
    let policy = policy?;
    if succeeded.is_empty() {
        return None;
    }
    let wanted_count = |count: Option<i32>| count.and_then(|c| usize::try_from(c).ok());
    policy.rules.iter().enumerate().find_map(|(index, rule)| {
        let met = match &rule.succeeded_indexes {
            Some(text) => {
                let required = parse_indexes(text, completions);
                let done = required.intersection(succeeded).count();
                !required.is_empty()
                    && (done == required.len()
                        || wanted_count(rule.succeeded_count).is_some_and(|c| done >= c))
            }
            None => wanted_count(rule.succeeded_count).is_some_and(|c| succeeded.len() >= c),
        };
        met.then(|| format!("Matched rules at index {index}"))
    })
}
