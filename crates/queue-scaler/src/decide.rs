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
//! Not reproduced: the HPA's 5-minute scale-down stabilization window (scale-down follows the
//! queue at each run; `cooldownPeriod` still guards the step to zero).
use std::time::Duration;

use jiff::Timestamp;
use k8s_ops::crd::sqs_queue::SqsQueueScalerSpec;
use sqs_depth::QueueDepth;
use sqs_depth::spec::{TooSmall, at_least};

/// HPA's default `--horizontal-pod-autoscaler-tolerance`, 0.1, as 1 / 10.
pub const TOLERANCE_DENOMINATOR: i64 = 10;

/// A scaler's spec, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error(transparent)]
    TooSmall(#[from] TooSmall),
    #[error("spec.minReplicaCount ({min}) exceeds spec.maxReplicaCount ({max})")]
    MinAboveMax { min: i32, max: i32 },
    #[error("spec.scaleTargetRef: only apps/v1 Deployment is supported, got {api_version} {kind}")]
    Target { api_version: String, kind: String },
    #[error("spec.queueURL is empty")]
    NoQueue,
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
        let target = &spec.scale_target_ref;
        if target.kind != "Deployment" || target.api_version != "apps/v1" {
            return Err(SpecError::Target {
                api_version: target.api_version.clone(),
                kind: target.kind.clone(),
            });
        }
        if spec.queue_url.trim().is_empty() {
            return Err(SpecError::NoQueue);
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
        })
    }
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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub length: i64,
    pub active: bool,
    /// The replicas wanted (equal to the current ones when nothing changes).
    pub desired: i32,
    pub why: Why,
    /// The status's new `inactiveSince`.
    pub inactive_since: Option<Timestamp>,
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
            Why::AboveMax => format!("above maxReplicaCount {}", policy.max),
            Why::BelowMin => format!("below minReplicaCount {}", policy.min.max(1)),
        }
    }
}

pub fn decide(
    policy: &Policy,
    depth: &QueueDepth,
    current: i32,
    inactive_since: Option<Timestamp>,
    now: Timestamp,
) -> Plan {
    let length = depth.length(policy.in_flight, policy.delayed);
    let active = length > policy.activation;
    let inactive_since = if active {
        None
    } else {
        Some(inactive_since.unwrap_or(now))
    };
    let plan = |desired, why| Plan {
        length,
        active,
        desired,
        why,
        inactive_since,
    };
    let metric = || i32::try_from(ceil_div(length, policy.queue_length)).unwrap_or(i32::MAX);
    let floor = policy.min.max(1);
    let rests_at_zero = policy.min == 0 || policy.idle_to_zero;

    // KEDA's activation (from zero, or from idle below the minimum) and the HPA's first
    // step in one go.
    if active && (current == 0 || (policy.idle_to_zero && current < policy.min)) {
        return plan(metric().clamp(floor, policy.max), Why::Activated);
    }
    if current == 0 {
        return if rests_at_zero {
            plan(0, Why::Inactive)
        } else {
            plan(policy.min, Why::BelowMin)
        };
    }
    let cooled = inactive_since
        .is_some_and(|since| now.duration_since(since).unsigned_abs() >= policy.cooldown)
        && policy.zero_not_before.is_none_or(|t| now >= t);
    if !active && rests_at_zero && cooled {
        return plan(0, Why::CooledDown);
    }
    if current > policy.max {
        return plan(policy.max, Why::AboveMax);
    }
    if current < floor {
        return plan(floor, Why::BelowMin);
    }
    let inactive_why = |why| if active { why } else { Why::Inactive };
    if within_tolerance(length, i64::from(current) * policy.queue_length) {
        return plan(current, inactive_why(Why::WithinTolerance));
    }
    plan(metric().clamp(floor, policy.max), inactive_why(Why::Metric))
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

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        queue_length: 10,
        activation: 0,
        in_flight: true,
        delayed: false,
        min: 0,
        max: 100,
        cooldown: Duration::from_secs(300),
        idle_to_zero: false,
        zero_not_before: None,
    };

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn visible(n: i64) -> QueueDepth {
        QueueDepth {
            visible: n,
            ..QueueDepth::default()
        }
    }

    /// (name, policy, depth, current, inactive since (s), now (s)) → (desired, why, inactive since).
    type Case = (
        &'static str,
        Policy,
        QueueDepth,
        i32,
        Option<i64>,
        i64,
        i32,
        Why,
        Option<i64>,
    );

    #[test]
    fn table() {
        let p = POLICY;
        let min2 = Policy { min: 2, ..POLICY };
        let max5 = Policy { max: 5, ..POLICY };
        let act5 = Policy {
            activation: 5,
            ..POLICY
        };
        let keda_default = Policy {
            queue_length: 5,
            ..POLICY
        };
        // A ScaledObject's idleReplicaCount 0 with minReplicaCount 2; its initialCooldownPeriod.
        let idle = Policy {
            min: 2,
            max: 10,
            idle_to_zero: true,
            ..POLICY
        };
        let initial = Policy {
            zero_not_before: Some(t(1000)),
            ..POLICY
        };
        let none = None;
        #[rustfmt::skip]
        let cases: &[Case] = &[
            // KEDA's documented example: 30 messages, queueLength 10 → 3 replicas.
            ("KEDA: 30 msgs / 10 → 3",          p, visible(30), 1, none, 0,    3, Why::Metric, none),
            ("KEDA: from zero to 3 at once",     p, visible(30), 0, none, 0,    3, Why::Activated, none),
            ("default queueLength 5: 30 → 6",    keda_default, visible(30), 2, none, 0, 6, Why::Metric, none),
            ("ceil: 31 → 4",                     p, visible(31), 1, none, 0,    4, Why::Metric, none),
            ("in-flight counts by default",      p, QueueDepth { visible: 10, in_flight: 20, delayed: 5 }, 1, none, 0, 3, Why::Metric, none),
            ("delayed not counted by default",   p, QueueDepth { visible: 0, in_flight: 0, delayed: 50 }, 0, none, 0, 0, Why::Inactive, Some(0)),
            ("scaleOnDelayed counts them",       Policy { delayed: true, ..POLICY }, QueueDepth { visible: 0, in_flight: 0, delayed: 50 }, 0, none, 0, 5, Why::Activated, none),
            ("scaleOnInFlight false",            Policy { in_flight: false, ..POLICY }, QueueDepth { visible: 10, in_flight: 90, delayed: 0 }, 4, none, 0, 1, Why::Metric, none),
            // HPA tolerance: ratio within [0.9, 1.1] holds.
            ("tolerance: 33 for 3×10 holds",     p, visible(33), 3, none, 0,    3, Why::WithinTolerance, none),
            ("tolerance: 27 for 3×10 holds",     p, visible(27), 3, none, 0,    3, Why::WithinTolerance, none),
            ("tolerance edge: 34 → 4",           p, visible(34), 3, none, 0,    4, Why::Metric, none),
            ("tolerance edge: 26 → 3 (ceil)",    p, visible(26), 3, none, 0,    3, Why::Metric, none),
            ("tolerance edge: 19 for 3 → 2",     p, visible(19), 3, none, 0,    2, Why::Metric, none),
            // Bounds.
            ("clamped to max",                   max5, visible(1000), 1, none, 0, 5, Why::Metric, none),
            ("above max comes down",             max5, visible(50), 9, none, 0,  5, Why::AboveMax, none),
            ("below min goes up",                min2, visible(10), 1, none, 0,  2, Why::BelowMin, none),
            ("min 2 at zero, inactive → 2",      min2, visible(0), 0, none, 0,   2, Why::BelowMin, Some(0)),
            ("min 2 never goes to zero",         min2, visible(0), 3, Some(0), 9999, 2, Why::Inactive, Some(0)),
            // Activation.
            ("length = activation is inactive",  act5, visible(5), 0, none, 0,   0, Why::Inactive, Some(0)),
            ("length > activation activates",    act5, visible(6), 0, none, 0,   1, Why::Activated, none),
            ("inactive but not cooled: ≥ 1",     act5, visible(5), 4, none, 0,   1, Why::Inactive, Some(0)),
            // Cooldown.
            ("inactive starts the clock",        p, visible(0), 2, none, 100,   1, Why::Inactive, Some(100)),
            ("the clock keeps its start",        p, visible(0), 1, Some(100), 399, 1, Why::Inactive, Some(100)),
            ("cooldown elapsed → zero",          p, visible(0), 1, Some(100), 400, 0, Why::CooledDown, Some(100)),
            ("activity resets the clock",        p, visible(1), 1, Some(100), 400, 1, Why::Metric, none),
            ("zero cooldown: zero at once",      Policy { cooldown: Duration::ZERO, ..POLICY }, visible(0), 3, none, 0, 0, Why::CooledDown, Some(0)),
            ("at zero and inactive stays",       p, visible(0), 0, Some(0), 9999, 0, Why::Inactive, Some(0)),
            // idleReplicaCount (KEDA: to minReplicaCount on activity, to idle after the cooldown).
            ("idle: from zero to the metric",    idle, visible(30), 0, none, 0, 3, Why::Activated, none),
            ("idle: from zero at least min",     idle, visible(5), 0, none, 0,  2, Why::Activated, none),
            ("idle: active below min → min",     idle, visible(5), 1, none, 0,  2, Why::Activated, none),
            ("idle: inactive at zero stays",     idle, visible(0), 0, none, 0,  0, Why::Inactive, Some(0)),
            ("idle: cooling down keeps min",     idle, visible(0), 3, Some(0), 100, 2, Why::Inactive, Some(0)),
            ("idle: cooled → zero below min",    idle, visible(0), 2, Some(0), 300, 0, Why::CooledDown, Some(0)),
            ("no idle: min 2 never to zero",     min2, visible(0), 2, Some(0), 300, 2, Why::Inactive, Some(0)),
            // initialCooldownPeriod: never to zero before creation + it.
            ("initial cooldown holds",           initial, visible(0), 1, Some(0), 999, 1, Why::Inactive, Some(0)),
            ("initial cooldown over → zero",     initial, visible(0), 1, Some(0), 1000, 0, Why::CooledDown, Some(0)),
        ];
        for &(name, policy, depth, current, since, now, desired, why, new_since) in cases {
            let plan = decide(&policy, &depth, current, since.map(t), t(now));
            assert_eq!(
                (plan.desired, plan.why, plan.inactive_since),
                (desired, why, new_since.map(t)),
                "{name}"
            );
            assert_eq!(plan.active, plan.inactive_since.is_none(), "{name}");
        }
    }

    #[test]
    fn decisions_and_reasons_read_well() {
        let plan = decide(&POLICY, &visible(30), 1, None, t(0));
        assert_eq!(plan.decision(1), "scale_up");
        assert_eq!(
            plan.reason(&POLICY, 1),
            "queue length 30 / target 10 per replica"
        );
        let cooled = decide(&POLICY, &visible(0), 1, Some(t(0)), t(300));
        assert_eq!(cooled.decision(1), "scale_to_zero");
        assert_eq!(
            cooled.reason(&POLICY, 1),
            "queue inactive (length 0 ≤ activation 0) for the cooldown of 300s"
        );
        let waiting = decide(&POLICY, &visible(0), 1, Some(t(0)), t(120));
        assert_eq!(
            (waiting.decision(1), waiting.reason(&POLICY, 1).as_str()),
            (
                "hold",
                "queue inactive (length 0 ≤ activation 0) since 2023-11-14T22:13:20Z; cooldown 300s"
            )
        );
        let idle = decide(&POLICY, &visible(0), 0, Some(t(0)), t(120));
        assert_eq!(
            idle.reason(&POLICY, 0),
            "queue inactive (length 0 ≤ activation 0)"
        );
        assert_eq!(
            decide(&POLICY, &visible(5), 0, None, t(0)).decision(0),
            "scale_from_zero"
        );
        assert_eq!(
            decide(&POLICY, &visible(5), 3, None, t(0)).decision(3),
            "scale_down"
        );
    }

    #[test]
    fn invalid_specs_name_the_field() {
        let spec = |v: serde_json::Value| -> SqsQueueScalerSpec {
            let mut base = serde_json::json!({"scaleTargetRef": {"name": "w"}, "queueURL": "q"});
            for (k, val) in v.as_object().unwrap() {
                base[k] = val.clone();
            }
            serde_json::from_value(base).unwrap()
        };
        let err = |v| Policy::from_spec(&spec(v)).unwrap_err().to_string();
        use serde_json::json;
        assert_eq!(
            err(json!({"queueLength": 0})),
            "spec.queueLength must be ≥ 1, got 0"
        );
        assert_eq!(
            err(json!({"minReplicaCount": 5, "maxReplicaCount": 2})),
            "spec.minReplicaCount (5) exceeds spec.maxReplicaCount (2)"
        );
        assert_eq!(
            err(json!({"scaleTargetRef": {"name": "w", "kind": "StatefulSet"}})),
            "spec.scaleTargetRef: only apps/v1 Deployment is supported, got apps/v1 StatefulSet"
        );
        assert_eq!(err(json!({"queueURL": ""})), "spec.queueURL is empty");
        let ok = Policy::from_spec(&spec(json!({}))).unwrap();
        assert_eq!(
            (ok.queue_length, ok.max, ok.cooldown.as_secs()),
            (5, 100, 300)
        );
    }
}
