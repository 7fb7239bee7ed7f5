//! The Deployment's spec as the controller acts on it: the API server's
//! defaults applied to what is absent (without writing them back), and the
//! rolling update's `maxSurge`/`maxUnavailable` resolved against
//! `spec.replicas` as `ResolveFenceposts` does (surge rounded up,
//! unavailable rounded down, both zero after rounding means one unavailable).
//!
//! Kubernetes validates the spec at admission, so its controller never sees
//! a bad one; Wharf's controller checks the same rules here and reports a
//! [`InvalidSpec`] instead of acting on it.

use std::fmt;

use wharf_sdk::k8s_openapi::api::apps::v1::Deployment;
use wharf_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::names::strategy;

/// The defaults of the API server (`pkg/apis/apps/v1/defaults.go`).
const DEFAULT_REPLICAS: i32 = 1;
const DEFAULT_MAX_SURGE: &str = "25%";
const DEFAULT_MAX_UNAVAILABLE: &str = "25%";
const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;
const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;

/// The spec fields the controller reads, defaulted and resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedSpec {
    /// `spec.replicas`.
    pub replicas: i32,
    pub strategy: Strategy,
    /// How many old ReplicaSets to keep; `None` keeps all (`MaxInt32`).
    pub revision_history_limit: Option<i32>,
    /// The progress deadline; `None` means none (`MaxInt32`).
    pub progress_deadline_seconds: Option<i32>,
    pub paused: bool,
    pub min_ready_seconds: i32,
}

/// How old pods are replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Every old pod goes before any new one starts.
    Recreate,
    /// New pods come up while old ones go, within these bounds (absolute
    /// numbers, resolved against `spec.replicas`).
    RollingUpdate {
        max_surge: i32,
        max_unavailable: i32,
    },
}

/// A spec the controller will not act on, with the message the Kubernetes
/// API server's validation gives for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvalidSpec {
    NegativeReplicas(i32),
    UnsupportedStrategy(String),
    /// `maxSurge` or `maxUnavailable` is neither a non-negative integer nor a percentage.
    BadIntOrPercent {
        field: &'static str,
        value: String,
    },
    Negative {
        field: &'static str,
        value: String,
    },
    UnavailableOver100Percent(String),
    /// Both `maxSurge` and `maxUnavailable` are zero: the rollout could never progress.
    SurgeAndUnavailableBothZero,
}

impl fmt::Display for InvalidSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ROLLING: &str = "spec.strategy.rollingUpdate";
        match self {
            InvalidSpec::NegativeReplicas(replicas) => {
                write!(
                    f,
                    "spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
                )
            }
            InvalidSpec::UnsupportedStrategy(type_) => write!(
                f,
                "spec.strategy.type: Unsupported value: {type_:?}: supported values: \"{}\", \"{}\"",
                strategy::RECREATE,
                strategy::ROLLING_UPDATE
            ),
            InvalidSpec::BadIntOrPercent { field, value } => write!(
                f,
                "{ROLLING}.{field}: Invalid value: {value:?}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
            ),
            InvalidSpec::Negative { field, value } => {
                write!(
                    f,
                    "{ROLLING}.{field}: Invalid value: {value}: must be greater than or equal to 0"
                )
            }
            InvalidSpec::UnavailableOver100Percent(value) => {
                write!(
                    f,
                    "{ROLLING}.maxUnavailable: Invalid value: {value:?}: must not be greater than 100%"
                )
            }
            InvalidSpec::SurgeAndUnavailableBothZero => {
                write!(
                    f,
                    "{ROLLING}.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"
                )
            }
        }
    }
}

impl ResolvedSpec {
    /// Reads `deployment.spec`, applying the API server's defaults to what is absent.
    pub fn of(deployment: &Deployment) -> Result<Self, InvalidSpec> {
        let spec = &deployment.spec;
        let replicas = spec.replicas.unwrap_or(DEFAULT_REPLICAS);
        if replicas < 0 {
            return Err(InvalidSpec::NegativeReplicas(replicas));
        }
        let type_ = spec
            .strategy
            .as_ref()
            .and_then(|s| s.type_.as_deref())
            .unwrap_or(strategy::ROLLING_UPDATE);
        let strategy = match type_ {
            strategy::RECREATE => Strategy::Recreate,
            strategy::ROLLING_UPDATE => {
                let rolling = spec
                    .strategy
                    .as_ref()
                    .and_then(|s| s.rolling_update.as_ref());
                let default_surge = IntOrString::String(DEFAULT_MAX_SURGE.to_owned());
                let default_unavailable = IntOrString::String(DEFAULT_MAX_UNAVAILABLE.to_owned());
                let surge = rolling
                    .and_then(|r| r.max_surge.as_ref())
                    .unwrap_or(&default_surge);
                let unavailable = rolling
                    .and_then(|r| r.max_unavailable.as_ref())
                    .unwrap_or(&default_unavailable);
                let (max_surge, max_unavailable) =
                    resolve_fenceposts(surge, unavailable, replicas)?;
                Strategy::RollingUpdate {
                    max_surge,
                    max_unavailable,
                }
            }
            other => return Err(InvalidSpec::UnsupportedStrategy(other.to_owned())),
        };
        let unlimited = |value: i32| (value != i32::MAX).then_some(value);
        Ok(ResolvedSpec {
            replicas,
            strategy,
            revision_history_limit: unlimited(
                spec.revision_history_limit
                    .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT),
            ),
            progress_deadline_seconds: unlimited(
                spec.progress_deadline_seconds
                    .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS),
            ),
            paused: spec.paused.unwrap_or(false),
            min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
        })
    }

    pub fn is_rolling_update(&self) -> bool {
        matches!(self.strategy, Strategy::RollingUpdate { .. })
    }

    /// `MaxSurge`: how many pods above `replicas` a rolling update may run.
    pub fn max_surge(&self) -> i32 {
        match self.strategy {
            Strategy::RollingUpdate { max_surge, .. } => max_surge,
            Strategy::Recreate => 0,
        }
    }

    /// `MaxUnavailable`: how many of `replicas` may be unavailable during a
    /// rolling update (never more than `replicas`).
    pub fn max_unavailable(&self) -> i32 {
        match self.strategy {
            Strategy::RollingUpdate {
                max_unavailable, ..
            } if self.replicas > 0 => max_unavailable.min(self.replicas),
            _ => 0,
        }
    }

    /// `replicas + maxSurge`: the `max-replicas` annotation.
    pub fn max_replicas(&self) -> i32 {
        self.replicas + self.max_surge()
    }

    /// `HasProgressDeadline`.
    pub fn has_progress_deadline(&self) -> bool {
        self.progress_deadline_seconds.is_some()
    }
}

/// `ResolveFenceposts`: both bounds as absolute numbers of pods.
pub fn resolve_fenceposts(
    max_surge: &IntOrString,
    max_unavailable: &IntOrString,
    replicas: i32,
) -> Result<(i32, i32), InvalidSpec> {
    let surge_given = int_or_percent("maxSurge", max_surge)?;
    let unavailable_given = int_or_percent("maxUnavailable", max_unavailable)?;
    if let (IntOrString::String(text), Percent(percent)) = (max_unavailable, unavailable_given)
        && percent > 100
    {
        return Err(InvalidSpec::UnavailableOver100Percent(text.clone()));
    }
    if surge_given.number() == 0 && unavailable_given.number() == 0 {
        return Err(InvalidSpec::SurgeAndUnavailableBothZero);
    }
    let surge = surge_given.scaled(replicas, Rounding::Up);
    let mut unavailable = unavailable_given.scaled(replicas, Rounding::Down);
    if surge == 0 && unavailable == 0 {
        // Rounding made both zero; Kubernetes then allows one unavailable
        // pod, on the theory that surge might not work because of quota.
        unavailable = 1;
    }
    Ok((surge, unavailable))
}

/// An `IntOrString` as validation reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IntOrPercent {
    Int(i32),
    Percent(i32),
}
use IntOrPercent::{Int, Percent};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rounding {
    Up,
    Down,
}

impl IntOrPercent {
    /// The number as written (what validation compares with zero).
    fn number(self) -> i32 {
        match self {
            Int(n) | Percent(n) => n,
        }
    }

    /// `GetScaledValueFromIntOrPercent`: a percentage of `total`, rounded.
    fn scaled(self, total: i32, rounding: Rounding) -> i32 {
        match self {
            Int(n) => n,
            Percent(percent) => {
                let product = i64::from(percent) * i64::from(total.max(0));
                let value = match rounding {
                    Rounding::Up => (product + 99) / 100,
                    Rounding::Down => product / 100,
                };
                i32::try_from(value).unwrap_or(i32::MAX)
            }
        }
    }
}

fn int_or_percent(field: &'static str, value: &IntOrString) -> Result<IntOrPercent, InvalidSpec> {
    match value {
        IntOrString::Int(n) if *n < 0 => Err(InvalidSpec::Negative {
            field,
            value: n.to_string(),
        }),
        IntOrString::Int(n) => Ok(Int(*n)),
        IntOrString::String(text) => {
            let digits = text
                .strip_suffix('%')
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
            match digits.and_then(|d| d.parse::<i32>().ok()) {
                Some(percent) => Ok(Percent(percent)),
                None => Err(InvalidSpec::BadIntOrPercent {
                    field,
                    value: text.clone(),
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> IntOrString {
        match text.parse::<i32>() {
            Ok(n) => IntOrString::Int(n),
            Err(_) => IntOrString::String(text.to_owned()),
        }
    }

    #[test]
    fn fenceposts_round_surge_up_and_unavailable_down() {
        // (maxSurge, maxUnavailable, replicas) → (surge, unavailable), as Kubernetes' TestResolveFenceposts.
        let cases: &[(&str, &str, i32, (i32, i32))] = &[
            ("25%", "25%", 10, (3, 2)),
            ("25%", "25%", 4, (1, 1)),
            ("25%", "25%", 1, (1, 0)),
            ("25%", "25%", 0, (0, 1)),
            ("1%", "1%", 2, (1, 0)),
            ("0%", "1%", 2, (0, 1)),
            ("0%", "1%", 1, (0, 1)),
            ("50%", "50%", 3, (2, 1)),
            ("3", "2", 10, (3, 2)),
            ("0", "1", 10, (0, 1)),
            ("150%", "100%", 2, (3, 2)),
        ];
        for (surge, unavailable, replicas, expected) in cases {
            let resolved =
                resolve_fenceposts(&parse(surge), &parse(unavailable), *replicas).unwrap();
            assert_eq!(
                resolved, *expected,
                "maxSurge {surge}, maxUnavailable {unavailable}, replicas {replicas}"
            );
        }
    }

    #[test]
    fn fenceposts_refuse_what_validation_refuses() {
        let text = |t: &str| IntOrString::String(t.to_owned());
        let cases = [
            (
                IntOrString::Int(0),
                IntOrString::Int(0),
                InvalidSpec::SurgeAndUnavailableBothZero,
            ),
            (
                text("0%"),
                IntOrString::Int(0),
                InvalidSpec::SurgeAndUnavailableBothZero,
            ),
            (
                text("0%"),
                text("0%"),
                InvalidSpec::SurgeAndUnavailableBothZero,
            ),
            (
                text("abc"),
                IntOrString::Int(1),
                InvalidSpec::BadIntOrPercent {
                    field: "maxSurge",
                    value: "abc".into(),
                },
            ),
            (
                text("5"),
                IntOrString::Int(1),
                InvalidSpec::BadIntOrPercent {
                    field: "maxSurge",
                    value: "5".into(),
                },
            ),
            (
                IntOrString::Int(-1),
                IntOrString::Int(1),
                InvalidSpec::Negative {
                    field: "maxSurge",
                    value: "-1".into(),
                },
            ),
            (
                IntOrString::Int(1),
                text("1.5%"),
                InvalidSpec::BadIntOrPercent {
                    field: "maxUnavailable",
                    value: "1.5%".into(),
                },
            ),
            (
                IntOrString::Int(1),
                text("101%"),
                InvalidSpec::UnavailableOver100Percent("101%".into()),
            ),
        ];
        for (surge, unavailable, expected) in cases {
            assert_eq!(
                resolve_fenceposts(&surge, &unavailable, 10),
                Err(expected.clone()),
                "{surge:?} {unavailable:?}"
            );
        }
    }

    #[test]
    fn max_unavailable_never_exceeds_replicas_and_is_zero_without_replicas() {
        let spec = |replicas, max_unavailable| ResolvedSpec {
            replicas,
            strategy: Strategy::RollingUpdate {
                max_surge: 0,
                max_unavailable,
            },
            revision_history_limit: Some(10),
            progress_deadline_seconds: Some(600),
            paused: false,
            min_ready_seconds: 0,
        };
        assert_eq!(spec(3, 5).max_unavailable(), 3);
        assert_eq!(spec(0, 5).max_unavailable(), 0);
        assert_eq!(spec(10, 2).max_unavailable(), 2);
    }
}
