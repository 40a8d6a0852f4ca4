//! The concurrency policy, pure: (queue depth, the concurrency scaled, spec, last adjustment,
//! now) → what to set and why. What the concurrency is applied to (reserved concurrency, the
//! SQS mapping's maximum concurrency) and the bounds that keep that safe are [`crate::scaled`]'s.
//!
//! - Depth above `awsSQSMsgCountThreshold` steps up by `awsLambdaStepConcurrency`.
//! - Depth *clearly* below it steps down: below `threshold × down_ratio` (default one half),
//!   or an empty queue. Between the two lines nothing moves — a dead band, so a queue that
//!   hovers around the threshold does not make the concurrency saw up and down every run.
//! - The result is always clamped to [min, max]. A value outside the bounds (someone set it by
//!   hand, or the bounds changed) is brought inside at once.
//! - Unset reserved concurrency is valid (the function then draws on the account's unreserved
//!   pool; the original operator crashed on it): it counts as `min`, then the step rule
//!   applies, and the result is written at once — the scaler adopts the function.
//! - Step changes wait for `interval` after the last adjustment (the original's 5 minutes),
//!   so each step has time to drain the queue before the next is judged. Only step changes
//!   wait; corrections into bounds and adoption do not.
use std::time::Duration;

use jiff::Timestamp;
use k8s_ops::crd::lambda_concurrency::{ConcurrencyState, LambdaConcurrencyScalerSpec};
use sqs_depth::spec::{TooSmall, at_least};

/// Function-wide settings (environment).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Minimum time between two step changes.
    pub interval: Duration,
    /// Step down only below `threshold × down_ratio`; in (0, 1].
    pub down_ratio: f64,
}

/// A scaler's spec, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub threshold: i64,
    pub min: i32,
    pub max: i32,
    pub step: i32,
    pub include_in_flight: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("spec.awsLamndaMaxConcurrency (or awsLambdaMaxConcurrency) is required")]
    NoMax,
    #[error(
        "spec.awsLamndaMaxConcurrency ({misspelt}) and spec.awsLambdaMaxConcurrency ({correct}) disagree; set one"
    )]
    MaxDisagrees { misspelt: i32, correct: i32 },
    #[error(transparent)]
    TooSmall(#[from] TooSmall),
    #[error("spec.awsLambdaMinConcurrency ({min}) exceeds the maximum ({max})")]
    MinAboveMax { min: i32, max: i32 },
    #[error("spec.awsLambdaName is empty")]
    NoFunction,
    #[error("spec.awsSQSName is empty")]
    NoQueue,
}

impl Policy {
    /// Checks what the CRD's schema and CEL rules also check, for API servers that did not
    /// (or objects stored before the CRD was updated).
    pub fn from_spec(spec: &LambdaConcurrencyScalerSpec) -> Result<Policy, SpecError> {
        if let (Some(misspelt), Some(correct)) = (
            spec.aws_lamnda_max_concurrency,
            spec.aws_lambda_max_concurrency,
        ) && misspelt != correct
        {
            return Err(SpecError::MaxDisagrees { misspelt, correct });
        }
        let max = spec.max_concurrency().ok_or(SpecError::NoMax)?;
        let threshold = at_least(
            "awsSQSMsgCountThreshold",
            0,
            spec.aws_sqs_msg_count_threshold,
        )?;
        let min = at_least(
            "awsLambdaMinConcurrency",
            0,
            spec.aws_lambda_min_concurrency,
        )?;
        let step = at_least(
            "awsLambdaStepConcurrency",
            1,
            spec.aws_lambda_step_concurrency,
        )?;
        if min > max {
            return Err(SpecError::MinAboveMax { min, max });
        }
        if spec.aws_lambda_name.trim().is_empty() {
            return Err(SpecError::NoFunction);
        }
        if spec.aws_sqs_name.trim().is_empty() {
            return Err(SpecError::NoQueue);
        }
        Ok(Policy {
            threshold: threshold.into(),
            min,
            max,
            step,
            include_in_flight: spec.aws_sqs_include_in_flight,
        })
    }
}

/// What was observed this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The depth the policy judges (visible, plus in-flight when asked).
    pub depth: i64,
    /// The concurrency stepped (reserved, or the mapping's maximum); `None`: none set.
    pub current: Option<i32>,
    /// When the scaler last changed it (status.adjustedTimestamp).
    pub last_adjusted: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// depth > threshold.
    Backlog,
    /// depth clearly below the threshold.
    Drained,
    /// depth in the dead band.
    DeadBand,
    AboveMax,
    BelowMin,
    /// No concurrency set yet.
    Unset,
    /// Held by the paused annotation.
    Paused,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Write this reserved concurrency now (`None`: leave it).
    pub set: Option<i32>,
    /// Where the policy wants it (equal to `set`, or held back by the interval).
    pub wanted: i32,
    pub state: ConcurrencyState,
    pub why: Why,
    /// When the held change may happen (state PENDING).
    pub not_before: Option<Timestamp>,
}

impl Plan {
    /// The `decision` field of the log line.
    pub fn decision(&self, current: Option<i32>) -> &'static str {
        match (self.set, current) {
            (Some(_), None) => "adopt",
            (Some(to), Some(from)) if to > from => "scale_up",
            (Some(_), Some(_)) => "scale_down",
            (None, _) if self.state == ConcurrencyState::Pending => "wait",
            (None, _) => "hold",
        }
    }
}

pub fn decide(policy: &Policy, settings: &Settings, seen: &Observed, now: Timestamp) -> Plan {
    let Policy {
        threshold,
        min,
        max,
        step,
        ..
    } = *policy;
    let clamp = |v: i32| v.clamp(min, max);
    let base = seen.current.unwrap_or(min);
    let (wanted, why) = match seen.current {
        Some(c) if c > max => (max, Why::AboveMax),
        Some(c) if c < min => (min, Why::BelowMin),
        _ => {
            let (to, why) = if seen.depth > threshold {
                (clamp(base.saturating_add(step)), Why::Backlog)
            } else if seen.depth == 0
                || (seen.depth as f64) < threshold as f64 * settings.down_ratio
            {
                (clamp(base.saturating_sub(step)), Why::Drained)
            } else {
                (base, Why::DeadBand)
            };
            match seen.current {
                None => (to, Why::Unset),
                Some(_) => (to, why),
            }
        }
    };
    if seen.current == Some(wanted) {
        return Plan {
            set: None,
            wanted,
            state: ConcurrencyState::Adjusted,
            why,
            not_before: None,
        };
    }
    let stepping = matches!(why, Why::Backlog | Why::Drained);
    let not_before = seen
        .last_adjusted
        .and_then(|t| t.checked_add(settings.interval).ok());
    match not_before {
        Some(when) if stepping && now < when => Plan {
            set: None,
            wanted,
            state: ConcurrencyState::Pending,
            why,
            not_before: Some(when),
        },
        _ => Plan {
            set: Some(wanted),
            wanted,
            state: ConcurrencyState::Adjusting,
            why,
            not_before: None,
        },
    }
}

/// Paused (`…/paused: "true"`): nothing set, the concurrency left as found.
pub fn held(current: Option<i32>) -> Plan {
    Plan {
        set: None,
        wanted: current.unwrap_or_default(),
        state: ConcurrencyState::Paused,
        why: Why::Paused,
        not_before: None,
    }
}

impl Why {
    /// The reason, naming what is scaled (`knob`: "reserved concurrency", …).
    pub fn describe(self, knob: &str) -> String {
        match self {
            Why::Backlog => "queue depth above the threshold".into(),
            Why::Drained => "queue depth clearly below the threshold".into(),
            Why::DeadBand => "queue depth within the dead band".into(),
            Why::AboveMax => format!("{knob} above the maximum"),
            Why::BelowMin => format!("{knob} below the minimum"),
            Why::Unset => format!("no {knob} set yet"),
            Why::Paused => "paused".into(),
        }
    }
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe("concurrency"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConcurrencyState::*;

    const POLICY: Policy = Policy {
        threshold: 1000,
        min: 50,
        max: 100,
        step: 5,
        include_in_flight: true,
    };
    const SETTINGS: Settings = Settings {
        interval: Duration::from_secs(300),
        down_ratio: 0.5,
    };

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    /// (name, depth, reserved, last adjusted (s), now (s)) → (set, state, why).
    type Case = (
        &'static str,
        i64,
        Option<i32>,
        Option<i64>,
        i64,
        Option<i32>,
        ConcurrencyState,
        Why,
    );

    #[test]
    fn table() {
        let none = None;
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("backlog steps up",                 1001, Some(60),  none,     0,   Some(65), Adjusting, Why::Backlog),
            ("at the threshold: dead band",      1000, Some(60),  none,     0,   None,     Adjusted,  Why::DeadBand),
            ("just under half: steps down",       499, Some(60),  none,     0,   Some(55), Adjusting, Why::Drained),
            ("exactly half: dead band",           500, Some(60),  none,     0,   None,     Adjusted,  Why::DeadBand),
            ("empty queue steps down",              0, Some(60),  none,     0,   Some(55), Adjusting, Why::Drained),
            ("step up clamped to max",           5000, Some(98),  none,     0,   Some(100), Adjusting, Why::Backlog),
            ("at max with backlog: adjusted",    5000, Some(100), none,     0,   None,     Adjusted,  Why::Backlog),
            ("step down clamped to min",            0, Some(52),  none,     0,   Some(50), Adjusting, Why::Drained),
            ("at min and drained: adjusted",        0, Some(50),  none,     0,   None,     Adjusted,  Why::Drained),
            ("above max: corrected at once",      700, Some(300), Some(0), 10,   Some(100), Adjusting, Why::AboveMax),
            ("below min: corrected at once",     2000, Some(3),   Some(0), 10,   Some(50), Adjusting, Why::BelowMin),
            ("unset, idle: adopted at min",         0, None,      none,     0,   Some(50), Adjusting, Why::Unset),
            ("unset, backlog: min + step",       2000, None,      none,     0,   Some(55), Adjusting, Why::Unset),
            ("unset, dead band: min",             700, None,      none,     0,   Some(50), Adjusting, Why::Unset),
            ("unset ignores the interval",       2000, None,      Some(0), 10,   Some(55), Adjusting, Why::Unset),
            ("step within the interval waits",   2000, Some(60),  Some(0), 299,  None,     Pending,   Why::Backlog),
            ("step at the interval goes",        2000, Some(60),  Some(0), 300,  Some(65), Adjusting, Why::Backlog),
            ("down-step waits too",                 0, Some(60),  Some(0), 100,  None,     Pending,   Why::Drained),
            ("no change needs no interval",       700, Some(60),  Some(0), 1,    None,     Adjusted,  Why::DeadBand),
        ];
        for &(name, depth, reserved, last, now, set, state, why) in cases {
            let seen = Observed {
                depth,
                current: reserved,
                last_adjusted: last.map(t),
            };
            let plan = decide(&POLICY, &SETTINGS, &seen, t(now));
            assert_eq!(
                (plan.set, plan.state, plan.why),
                (set, state, why),
                "{name}"
            );
            if plan.state == Pending {
                assert_eq!(plan.not_before, Some(t(last.unwrap() + 300)), "{name}");
            }
        }
    }

    #[test]
    fn threshold_zero_scales_on_any_message_and_down_on_an_empty_queue() {
        let policy = Policy {
            threshold: 0,
            min: 1,
            max: 10,
            step: 2,
            ..POLICY
        };
        let at = |depth| {
            decide(
                &policy,
                &SETTINGS,
                &Observed {
                    depth,
                    current: Some(5),
                    last_adjusted: None,
                },
                t(0),
            )
            .set
        };
        assert_eq!((at(1), at(0)), (Some(7), Some(3)));
    }

    #[test]
    fn a_down_ratio_of_one_removes_the_dead_band() {
        let settings = Settings {
            down_ratio: 1.0,
            ..SETTINGS
        };
        let seen = Observed {
            depth: 999,
            current: Some(60),
            last_adjusted: None,
        };
        assert_eq!(decide(&POLICY, &settings, &seen, t(0)).set, Some(55));
    }

    #[test]
    fn decisions_are_named_for_the_log() {
        let plan = |set, state| Plan {
            set,
            wanted: 0,
            state,
            why: Why::Backlog,
            not_before: None,
        };
        assert_eq!(plan(Some(5), Adjusting).decision(None), "adopt");
        assert_eq!(plan(Some(5), Adjusting).decision(Some(3)), "scale_up");
        assert_eq!(plan(Some(2), Adjusting).decision(Some(3)), "scale_down");
        assert_eq!(plan(None, Pending).decision(Some(3)), "wait");
        assert_eq!(plan(None, Adjusted).decision(Some(3)), "hold");
    }

    fn spec(v: serde_json::Value) -> LambdaConcurrencyScalerSpec {
        let mut base = serde_json::json!({
            "awsSQSName": "q", "awsSQSMsgCountThreshold": 10, "awsLambdaName": "f",
            "awsLambdaMinConcurrency": 1, "awsLamndaMaxConcurrency": 9, "awsLambdaStepConcurrency": 2
        });
        for (k, val) in v.as_object().unwrap() {
            if val.is_null() {
                base.as_object_mut().unwrap().remove(k);
            } else {
                base[k] = val.clone();
            }
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn invalid_specs_name_the_field() {
        use serde_json::json;
        let err = |v| Policy::from_spec(&spec(v)).unwrap_err().to_string();
        assert_eq!(
            err(json!({"awsLamndaMaxConcurrency": null})),
            "spec.awsLamndaMaxConcurrency (or awsLambdaMaxConcurrency) is required"
        );
        assert!(err(json!({"awsLambdaMaxConcurrency": 8})).contains("disagree"));
        assert_eq!(
            err(json!({"awsLambdaStepConcurrency": 0})),
            "spec.awsLambdaStepConcurrency must be ≥ 1, got 0"
        );
        assert_eq!(
            err(json!({"awsLambdaMinConcurrency": 10})),
            "spec.awsLambdaMinConcurrency (10) exceeds the maximum (9)"
        );
        assert_eq!(
            err(json!({"awsLambdaName": " "})),
            "spec.awsLambdaName is empty"
        );
        let both = Policy::from_spec(&spec(json!({"awsLambdaMaxConcurrency": 9}))).unwrap();
        assert_eq!(
            (both.min, both.max, both.step, both.threshold),
            (1, 9, 2, 10)
        );
    }
}
