//! HPA's `behavior` (autoscaling/v2 `HorizontalPodAutoscalerBehavior`), for scalers that run
//! as stateless functions: the spec field is k8s-openapi's own type, so manifests carry the
//! same names and values as an HPA's; the memory HPA keeps in the controller (recent
//! recommendations and scale events) lives in the resource's status ([`History`]) and is
//! passed in and returned, so [`normalize`] is pure.
//!
//! The arithmetic is the horizontal-pod-autoscaler controller's
//! (`stabilizeRecommendationWithBehaviors`, `convertDesiredReplicasWithBehaviorRate`,
//! `calculateScaleUpLimitWithScalingRules`, `calculateScaleDownLimitWithBehaviors`), with its
//! defaults where a field is unset: scale up at once by max(100 %, 4 Pods) per 15 s; scale
//! down to the highest recommendation of the last 300 s, by up to 100 % per 15 s.
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::autoscaling::v2::{HPAScalingRules, HorizontalPodAutoscalerBehavior};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The limits the Kubernetes API validates an HPA's behavior against.
const MAX_STABILIZATION_SECONDS: i32 = 3600;
const MAX_PERIOD_SECONDS: i32 = 1800;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyType {
    Pods,
    Percent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectPolicy {
    Max,
    Min,
    Disabled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub kind: PolicyType,
    pub value: i32,
    pub period_seconds: i32,
}

/// One direction's rules, defaults applied and validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    pub stabilization_window_seconds: i32,
    pub select_policy: SelectPolicy,
    pub policies: Vec<Policy>,
}

/// Both directions, as HPA applies them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Behavior {
    pub scale_up: Rules,
    pub scale_down: Rules,
}

/// A `behavior` field HPA would refuse, named by its path.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {expected}")]
pub struct BehaviorError {
    pub field: String,
    pub expected: String,
}

fn invalid(field: String, expected: impl Into<String>) -> BehaviorError {
    BehaviorError {
        field,
        expected: expected.into(),
    }
}

impl Behavior {
    /// HPA's defaults where `spec` (the resource's `behavior`, at `path`) leaves a field unset.
    pub fn from_spec(
        spec: Option<&HorizontalPodAutoscalerBehavior>,
        path: &str,
    ) -> Result<Behavior, BehaviorError> {
        let up = spec.and_then(|b| b.scale_up.as_ref());
        let down = spec.and_then(|b| b.scale_down.as_ref());
        Ok(Behavior {
            scale_up: Rules::from_spec(
                up,
                &format!("{path}.scaleUp"),
                0,
                &[
                    Policy {
                        kind: PolicyType::Pods,
                        value: 4,
                        period_seconds: 15,
                    },
                    Policy {
                        kind: PolicyType::Percent,
                        value: 100,
                        period_seconds: 15,
                    },
                ],
            )?,
            scale_down: Rules::from_spec(
                down,
                &format!("{path}.scaleDown"),
                300,
                &[Policy {
                    kind: PolicyType::Percent,
                    value: 100,
                    period_seconds: 15,
                }],
            )?,
        })
    }

    /// The longest time [`History`] must remember anything for.
    fn memory(&self) -> SignedDuration {
        let longest = [&self.scale_up, &self.scale_down]
            .iter()
            .flat_map(|r| {
                r.policies
                    .iter()
                    .map(|p| p.period_seconds)
                    .chain([r.stabilization_window_seconds])
            })
            .max()
            .unwrap_or(0);
        SignedDuration::from_secs(i64::from(longest))
    }
}

impl Rules {
    fn from_spec(
        spec: Option<&HPAScalingRules>,
        path: &str,
        default_window: i32,
        default_policies: &[Policy],
    ) -> Result<Rules, BehaviorError> {
        let window = spec
            .and_then(|s| s.stabilization_window_seconds)
            .unwrap_or(default_window);
        if !(0..=MAX_STABILIZATION_SECONDS).contains(&window) {
            return Err(invalid(
                format!("{path}.stabilizationWindowSeconds"),
                format!("0 to {MAX_STABILIZATION_SECONDS}, got {window}"),
            ));
        }
        let select_policy = match spec.and_then(|s| s.select_policy.as_deref()) {
            None | Some("Max") => SelectPolicy::Max,
            Some("Min") => SelectPolicy::Min,
            Some("Disabled") => SelectPolicy::Disabled,
            Some(other) => {
                return Err(invalid(
                    format!("{path}.selectPolicy"),
                    format!("Max, Min or Disabled, got {other:?}"),
                ));
            }
        };
        let policies = match spec.and_then(|s| s.policies.as_ref()) {
            None => default_policies.to_vec(),
            Some(list) if list.is_empty() && select_policy != SelectPolicy::Disabled => {
                return Err(invalid(
                    format!("{path}.policies"),
                    "at least one policy unless selectPolicy is Disabled",
                ));
            }
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let at = format!("{path}.policies[{i}]");
                    let kind = match p.type_.as_str() {
                        "Pods" => PolicyType::Pods,
                        "Percent" => PolicyType::Percent,
                        other => {
                            return Err(invalid(
                                format!("{at}.type"),
                                format!("Pods or Percent, got {other:?}"),
                            ));
                        }
                    };
                    if p.value <= 0 {
                        return Err(invalid(
                            format!("{at}.value"),
                            format!("greater than 0, got {}", p.value),
                        ));
                    }
                    if !(1..=MAX_PERIOD_SECONDS).contains(&p.period_seconds) {
                        return Err(invalid(
                            format!("{at}.periodSeconds"),
                            format!("1 to {MAX_PERIOD_SECONDS}, got {}", p.period_seconds),
                        ));
                    }
                    Ok(Policy {
                        kind,
                        value: p.value,
                        period_seconds: p.period_seconds,
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Rules {
            stabilization_window_seconds: window,
            select_policy,
            policies,
        })
    }
}

/// A point in the scaler's recent past: a recommendation (replicas) or a scale event (the
/// change in replicas, positive or negative).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct Sample {
    pub time: Time,
    pub replicas: i32,
}

/// What HPA's controller remembers between runs, kept in the resource's status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// Unstabilized recommendations, newest last.
    #[serde(default)]
    pub recommendations: Vec<Sample>,
    /// Replicas added by each scale-up.
    #[serde(default)]
    pub scale_ups: Vec<Sample>,
    /// Replicas removed by each scale-down.
    #[serde(default)]
    pub scale_downs: Vec<Sample>,
}

/// Why the replica count is what it is, in HPA's words (its `ScalingLimited` reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    DesiredWithinRange,
    ScaleUpStabilized,
    ScaleDownStabilized,
    ScaleUpLimit,
    ScaleDownLimit,
    TooManyReplicas,
    TooFewReplicas,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::DesiredWithinRange => "DesiredWithinRange",
            Reason::ScaleUpStabilized => "ScaleUpStabilized",
            Reason::ScaleDownStabilized => "ScaleDownStabilized",
            Reason::ScaleUpLimit => "ScaleUpLimit",
            Reason::ScaleDownLimit => "ScaleDownLimit",
            Reason::TooManyReplicas => "TooManyReplicas",
            Reason::TooFewReplicas => "TooFewReplicas",
        }
    }
}

/// The replicas to scale to, why, and the history to store once they are set.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalized {
    pub replicas: i32,
    pub reason: Reason,
    pub history: History,
}

/// HPA's normalization of `desired` (the metric's recommendation) for a target at `current`
/// replicas within `[min, max]`: stabilized over the windows, then limited by the policies'
/// rates, then by `[min, max]`.
pub fn normalize(
    behavior: &Behavior,
    history: &History,
    now: Timestamp,
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
) -> Normalized {
    let (stabilized, mut reason) = stabilize(behavior, history, now, current, desired);
    let (replicas, limited) = limit_rate(behavior, history, now, current, stabilized, min, max);
    if limited != Reason::DesiredWithinRange {
        reason = limited;
    }
    let mut history = history.clone();
    let keep = now - behavior.memory();
    let recent = |s: &Sample| s.time.0 > keep;
    history.recommendations.retain(recent);
    history.recommendations.push(Sample {
        time: Time(now),
        replicas: desired,
    });
    history.scale_ups.retain(recent);
    history.scale_downs.retain(recent);
    if replicas > current {
        history.scale_ups.push(Sample {
            time: Time(now),
            replicas: replicas - current,
        });
    } else if replicas < current {
        history.scale_downs.push(Sample {
            time: Time(now),
            replicas: current - replicas,
        });
    }
    Normalized {
        replicas,
        reason,
        history,
    }
}

/// Up: the lowest recommendation of the up window; down: the highest of the down window.
fn stabilize(
    behavior: &Behavior,
    history: &History,
    now: Timestamp,
    current: i32,
    desired: i32,
) -> (i32, Reason) {
    let window =
        |r: &Rules| now - SignedDuration::from_secs(i64::from(r.stabilization_window_seconds));
    let (up_cutoff, down_cutoff) = (window(&behavior.scale_up), window(&behavior.scale_down));
    let (mut up, mut down) = (desired, desired);
    for r in &history.recommendations {
        if r.time.0 > up_cutoff {
            up = up.min(r.replicas);
        }
        if r.time.0 > down_cutoff {
            down = down.max(r.replicas);
        }
    }
    let stabilized = current.max(up).min(down);
    let reason = if stabilized == desired {
        Reason::DesiredWithinRange
    } else if desired > current {
        Reason::ScaleUpStabilized
    } else {
        Reason::ScaleDownStabilized
    };
    (stabilized, reason)
}

/// Replicas changed by the events of the last `period_seconds`.
fn changed_within(events: &[Sample], now: Timestamp, period_seconds: i32) -> i32 {
    let cutoff = now - SignedDuration::from_secs(i64::from(period_seconds));
    events
        .iter()
        .filter(|e| e.time.0 > cutoff)
        .map(|e| e.replicas)
        .sum()
}

fn limit_rate(
    behavior: &Behavior,
    history: &History,
    now: Timestamp,
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
) -> (i32, Reason) {
    // Replicas at the start of each policy's period: what the rate is measured from.
    let period_start = |p: &Policy| {
        current - changed_within(&history.scale_ups, now, p.period_seconds)
            + changed_within(&history.scale_downs, now, p.period_seconds)
    };
    if desired > current {
        let rules = &behavior.scale_up;
        let proposals = rules.policies.iter().map(|p| {
            let start = period_start(p);
            match p.kind {
                PolicyType::Pods => start + p.value,
                // Rounded up, or a small target would never grow.
                PolicyType::Percent => {
                    (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32
                }
            }
        });
        let limit = match rules.select_policy {
            SelectPolicy::Disabled => current,
            SelectPolicy::Max => proposals.max().unwrap_or(current),
            SelectPolicy::Min => proposals.min().unwrap_or(current),
        }
        .max(current);
        let (ceiling, reason) = if max > limit {
            (limit, Reason::ScaleUpLimit)
        } else {
            (max, Reason::TooManyReplicas)
        };
        if desired > ceiling {
            return (ceiling, reason);
        }
    } else if desired < current {
        let rules = &behavior.scale_down;
        let proposals = rules.policies.iter().map(|p| {
            let start = period_start(p);
            match p.kind {
                PolicyType::Pods => start - p.value,
                PolicyType::Percent => {
                    (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32
                }
            }
        });
        // The policy allowing the biggest change (Max) is the lowest floor.
        let limit = match rules.select_policy {
            SelectPolicy::Disabled => current,
            SelectPolicy::Max => proposals.min().unwrap_or(current),
            SelectPolicy::Min => proposals.max().unwrap_or(current),
        }
        .min(current);
        let (floor, reason) = if min < limit {
            (limit, Reason::ScaleDownLimit)
        } else {
            (min, Reason::TooFewReplicas)
        };
        if desired < floor {
            return (floor, reason);
        }
    }
    if desired > max {
        (max, Reason::TooManyReplicas)
    } else if desired < min {
        (min, Reason::TooFewReplicas)
    } else {
        (desired, Reason::DesiredWithinRange)
    }
}

#[cfg(test)]
mod tests;
