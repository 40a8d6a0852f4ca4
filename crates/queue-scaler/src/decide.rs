//! KEDA's aws-sqs-queue scaling, pure: (queue depth, current replicas, spec, inactivity start,
//! now) → replicas and why.
//!
//! - length = visible (+ in-flight if `scaleOnInFlight`) (+ delayed if `scaleOnDelayed`);
//!   active when length > `activationQueueLength`.
//! - From zero: as soon as active, to ceil(length / `queueLength`), at least 1 (KEDA's
//!   activation and the HPA's first step in one go).
//! - Above zero: the HPA's AverageValue rule, desired = ceil(length / `queueLength`), left
//!   alone while length / (replicas × queueLength) is within 10 % of 1 (HPA tolerance), and
//!   clamped to [max(min, 1), max] — while replicas are running the HPA's floor is 1.
//! - To zero: only when `minReplicaCount` is 0 (or a ScaledObject's `idleReplicaCount` is 0)
//!   and the queue has been inactive for `cooldownPeriod` (and, for a ScaledObject with
//!   `initialCooldownPeriod`, not before that long after its creation). With
//!   `idleReplicaCount`, activity takes the replicas from zero (or from below the minimum)
//!   straight to what the queue asks, at least `minReplicaCount` (KEDA's scale from idle).
//!   The inactivity start lives in the status (`inactiveSince`; a ScaledObject's in an
//!   annotation), since the function keeps nothing between runs. KEDA counts the cooldown from the last active
//!   poll; a scaler first seen inactive starts counting when first seen (KEDA would scale to
//!   zero at once when it has never seen activity), which never removes replicas earlier.
//! - Replicas outside [min, max] are brought inside whatever the queue says (HPA behaviour).
//!
//! - Between one replica and more, the HPA's `behavior` (`spec.behavior`; a ScaledObject's
//!   `advanced.horizontalPodAutoscalerConfig.behavior`) normalizes the metric's count: its
//!   stabilization windows and rate policies, HPA's defaults where unset — so by default a
//!   scale-down follows the highest recommendation of the last 300 s, as under KEDA's HPA.
//!   The steps to and from zero are KEDA's own (activation, cooldown) and not rate-limited,
//!   as KEDA's scale to zero bypasses the HPA. The recommendations the windows need live in
//!   the status (`behaviorHistory`; a ScaledObject's in an annotation).
//! - KEDA's pause annotations ([`paused`]): `paused-replicas` sets exactly that count (even
//!   outside [min, max], as KEDA does) and holds it; `paused` holds the current count.
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_ops::behavior::{self, Behavior, BehaviorError, History, Sample};
use k8s_ops::crd::sqs_queue::{Fallback, SqsQueueScalerSpec};
use k8s_ops::pause::{self, Pause};
use sqs_depth::QueueDepth;
use sqs_depth::spec::{TooSmall, at_least};

/// HPA's default `--horizontal-pod-autoscaler-tolerance`, 0.1, as 1 / 10.
pub const TOLERANCE_DENOMINATOR: i64 = 10;

/// A scaler's spec, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub queue_length: i64,
    pub activation: i64,
    pub in_flight: bool,
    pub delayed: bool,
    pub min: i32,
    pub max: i32,
    pub cooldown: Duration,
    /// A ScaledObject's `idleReplicaCount: 0`: inactive, it rests at zero even with a
    /// minimum above zero.
    pub idle_to_zero: bool,
    /// A ScaledObject's creation + `initialCooldownPeriod`: never to zero before.
    pub zero_not_before: Option<Timestamp>,
    /// HPA's `behavior`, its defaults filled in.
    pub behavior: Behavior,
    /// KEDA's `fallback`: replicas for a queue that cannot be read.
    pub fallback: Option<Fallback>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error(transparent)]
    TooSmall(#[from] TooSmall),
    #[error("spec.minReplicaCount ({min}) exceeds spec.maxReplicaCount ({max})")]
    MinAboveMax { min: i32, max: i32 },
    #[error("spec.queueURL is empty")]
    NoQueue,
    #[error(transparent)]
    Behavior(#[from] BehaviorError),
}

impl Policy {
    /// Checks what the CRD's schema also checks, for objects it did not (older CRDs).
    pub fn from_spec(spec: &SqsQueueScalerSpec) -> Result<Policy, SpecError> {
        let queue_length = at_least("queueLength", 1, spec.queue_length)?;
        let activation = at_least("activationQueueLength", 0, spec.activation_queue_length)?;
        at_least("minReplicaCount", 0, spec.min_replica_count)?;
        at_least("maxReplicaCount", 1, spec.max_replica_count)?;
        let cooldown = at_least("cooldownPeriod", 0, spec.cooldown_period)?;
        if spec.min_replica_count > spec.max_replica_count {
            return Err(SpecError::MinAboveMax {
                min: spec.min_replica_count,
                max: spec.max_replica_count,
            });
        }
        if spec.queue_url.trim().is_empty() {
            return Err(SpecError::NoQueue);
        }
        let behavior = Behavior::from_spec(spec.behavior.as_ref(), "spec.behavior")?;
        if let Some(f) = spec.fallback {
            at_least("fallback.failureThreshold", 0, f.failure_threshold)?;
            at_least("fallback.replicas", 0, f.replicas)?;
        }
        Ok(Policy {
            queue_length,
            activation,
            in_flight: spec.scale_on_in_flight,
            delayed: spec.scale_on_delayed,
            min: spec.min_replica_count,
            max: spec.max_replica_count,
            cooldown: Duration::from_secs(cooldown as u64),
            idle_to_zero: false,
            zero_not_before: None,
            behavior,
            fallback: spec.fallback,
        })
    }
}

/// What a scaler keeps in its status between runs, for the next decision.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    /// Since when the queue has been inactive.
    pub inactive_since: Option<Timestamp>,
    /// The recommendations and scale events HPA's behavior needs.
    pub history: History,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// Active while at zero: scale from zero.
    Activated,
    /// Inactive for the whole cooldown: scale to zero.
    CooledDown,
    /// Inactive at zero, or inactive but the cooldown has not passed (and replicas are at
    /// what the metric asks, at least one).
    Inactive,
    /// ratio within the tolerance: no change.
    WithinTolerance,
    /// ceil(length / queueLength) differs from the replicas.
    Metric,
    AboveMax,
    BelowMin,
    /// HPA's behavior held or limited the change (stabilization window or rate policy).
    Behavior(behavior::Reason),
    /// KEDA's pause annotations.
    Paused(Pause),
    /// The queue could not be read this many times in a row, more than `fallback
    /// .failureThreshold`: `fallback.replicas`.
    Fallback(i32),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub length: i64,
    pub active: bool,
    /// The replicas wanted (equal to the current ones when nothing changes).
    pub desired: i32,
    pub why: Why,
    /// The status's new `inactiveSince`.
    pub inactive_since: Option<Timestamp>,
    /// What the queue alone asks (before HPA's behavior and the bounds).
    pub recommended: i32,
    /// The status's new `behaviorHistory`.
    pub history: History,
}

impl Plan {
    /// The `decision` field of the log line.
    pub fn decision(&self, current: i32) -> &'static str {
        match (current, self.desired) {
            (c, d) if c == d => "hold",
            (0, _) => "scale_from_zero",
            (_, 0) => "scale_to_zero",
            (c, d) if d > c => "scale_up",
            _ => "scale_down",
        }
    }

    /// For logs, Events and the status message.
    pub fn reason(&self, policy: &Policy, current: i32) -> String {
        let per = policy.queue_length;
        let length = self.length;
        match self.why {
            Why::Activated if current == 0 => format!(
                "queue length {length} above activation {} at zero replicas",
                policy.activation
            ),
            Why::Activated => format!(
                "queue length {length} above activation {} at {current} replicas, below minReplicaCount {} (idle)",
                policy.activation, policy.min
            ),
            Why::CooledDown => format!(
                "queue inactive (length {length} ≤ activation {}) for the cooldown of {}s",
                policy.activation,
                policy.cooldown.as_secs()
            ),
            // Stable from run to run (the start, not the time so far), so a scaler waiting
            // out its cooldown does not rewrite its status every minute.
            Why::Inactive => match self.inactive_since {
                Some(since) if current > 0 => format!(
                    "queue inactive (length {length} ≤ activation {}) since {since}; cooldown {}s",
                    policy.activation,
                    policy.cooldown.as_secs()
                ),
                _ => format!(
                    "queue inactive (length {length} ≤ activation {})",
                    policy.activation
                ),
            },
            Why::WithinTolerance => format!(
                "queue length {length} for {current} replicas × {per} is within the {}% tolerance",
                100 / TOLERANCE_DENOMINATOR
            ),
            Why::Metric => format!("queue length {length} / target {per} per replica"),
            Why::AboveMax => format!(
                "queue length {length} / target {per} per replica asks {}; maxReplicaCount is {}",
                self.recommended, policy.max
            ),
            Why::BelowMin => format!("below minReplicaCount {}", policy.min.max(1)),
            Why::Behavior(reason) => format!(
                "queue length {length} / target {per} per replica asks {}; {}",
                self.recommended,
                limited(reason, &policy.behavior)
            ),
            Why::Fallback(failures) => {
                let f = policy.fallback.unwrap_or(Fallback {
                    failure_threshold: 0,
                    replicas: 0,
                });
                format!(
                    "queue unread {failures} times in a row (fallback.failureThreshold {}): fallback.replicas {}",
                    f.failure_threshold, f.replicas
                )
            }
            Why::Paused(pause) => pause
                .condition(pause::KEDA)
                .map_or_else(String::new, |(_, message)| message),
        }
    }
}

/// HPA's `ScalingLimited` reason, in words: which rule of `behavior` held the replicas.
fn limited(reason: behavior::Reason, b: &Behavior) -> String {
    use behavior::Reason as R;
    match reason {
        R::ScaleDownStabilized => format!(
            "held by the {}s scale-down stabilization window (ScaleDownStabilized)",
            b.scale_down.stabilization_window_seconds
        ),
        R::ScaleUpStabilized => format!(
            "held by the {}s scale-up stabilization window (ScaleUpStabilized)",
            b.scale_up.stabilization_window_seconds
        ),
        R::ScaleUpLimit => "limited by the scale-up policies (ScaleUpLimit)".into(),
        R::ScaleDownLimit => "limited by the scale-down policies (ScaleDownLimit)".into(),
        other => other.as_str().into(),
    }
}

pub fn decide(
    policy: &Policy,
    depth: &QueueDepth,
    current: i32,
    state: &State,
    now: Timestamp,
) -> Plan {
    let (length, active) = policy.measure(depth);
    let inactive_since = if active {
        None
    } else {
        Some(state.inactive_since.unwrap_or(now))
    };
    let metric = i32::try_from(ceil_div(length, policy.queue_length)).unwrap_or(i32::MAX);
    // A step to or from zero: KEDA's, not the HPA's, so not rate-limited; it is remembered
    // as the HPA would remember it, so the windows see it.
    let step = |desired, why| Plan {
        length,
        active,
        desired,
        why,
        inactive_since,
        recommended: desired,
        history: remember(&state.history, now, current, desired),
    };
    let floor = policy.min.max(1);
    let rests_at_zero = policy.min == 0 || policy.idle_to_zero;

    // KEDA's activation (from zero, or from idle below the minimum) and the HPA's first
    // step in one go.
    if active && (current == 0 || (policy.idle_to_zero && current < policy.min)) {
        return step(metric.clamp(floor, policy.max), Why::Activated);
    }
    if current == 0 {
        return if rests_at_zero {
            Plan {
                history: state.history.clone(),
                ..step(0, Why::Inactive)
            }
        } else {
            step(policy.min, Why::BelowMin)
        };
    }
    let cooled = inactive_since
        .is_some_and(|since| now.duration_since(since).unsigned_abs() >= policy.cooldown)
        && policy.zero_not_before.is_none_or(|t| now >= t);
    if !active && rests_at_zero && cooled {
        return step(0, Why::CooledDown);
    }
    // The HPA: the metric's count (the current one within the tolerance), normalized by
    // the behavior within [max(min, 1), max].
    let tolerated = within_tolerance(length, i64::from(current) * policy.queue_length);
    let recommended = if tolerated { current } else { metric };
    let n = normalize(policy, state, now, current, recommended);
    use behavior::Reason as R;
    let why = match n.reason {
        R::DesiredWithinRange if !active => Why::Inactive,
        R::DesiredWithinRange if tolerated => Why::WithinTolerance,
        R::DesiredWithinRange => Why::Metric,
        R::TooManyReplicas => Why::AboveMax,
        R::TooFewReplicas if !active => Why::Inactive,
        R::TooFewReplicas => Why::BelowMin,
        limited => Why::Behavior(limited),
    };
    Plan {
        length,
        active,
        desired: n.replicas,
        why,
        inactive_since,
        recommended,
        history: n.history,
    }
}

/// HPA's normalization of `recommended` for a target at `current` replicas, within the
/// bounds the HPA has while replicas run: [max(min, 1), max].
fn normalize(
    policy: &Policy,
    state: &State,
    now: Timestamp,
    current: i32,
    recommended: i32,
) -> behavior::Normalized {
    behavior::normalize(
        &policy.behavior,
        &state.history,
        now,
        current,
        recommended,
        policy.min.max(1),
        policy.max,
    )
}

/// `history` with a step from `current` to `desired` at `now` recorded, as
/// [`behavior::normalize`] records a recommendation and its scale event.
fn remember(history: &History, now: Timestamp, current: i32, desired: i32) -> History {
    let mut history = history.clone();
    let sample = |replicas| Sample {
        time: Time(now),
        replicas,
    };
    history.recommendations.push(sample(desired));
    match desired.cmp(&current) {
        std::cmp::Ordering::Greater => history.scale_ups.push(sample(desired - current)),
        std::cmp::Ordering::Less => history.scale_downs.push(sample(current - desired)),
        std::cmp::Ordering::Equal => {}
    }
    history
}

/// |length / target − 1| ≤ 10 %, in integers: exact at the boundary (33 messages for 3 × 10
/// holds), where the HPA's float division may land either side.
fn within_tolerance(length: i64, target: i64) -> bool {
    let (length, target) = (i128::from(length), i128::from(target));
    (length - target).abs() * i128::from(TOLERANCE_DENOMINATOR) <= target
}

fn ceil_div(a: i64, b: i64) -> i64 {
    (a + b - 1).div_euclid(b)
}

mod controls;

pub use controls::{fallback, paused};

#[cfg(test)]
mod tests;
