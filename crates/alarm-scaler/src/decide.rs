//! The policy, pure: from the K8sMetricAlarm, the Deployment's replicas, the notification and
//! the time, one [`Plan`]. No I/O.
//!
//! - Direction: which of the resource's two alarms fired (the caller finds it by name), not
//!   the comparison operator: "free memory below X" may well be a scale-up alarm.
//! - Step: the largest of the direction's policies, `Pods` = value, `Percent` = value% of the
//!   current replicas rounded UP (so 10% of 3 pods is 1 pod, never 0); at least 1 pod.
//! - Bounds: the target is clamped to [minReplicas, maxReplicas], and a step never goes
//!   against its direction: an up alarm raises replicas below the minimum to it, a down alarm
//!   lowers replicas above the maximum to it, and neither moves replicas the other way.
//! - Checks, in order: a notification already recorded is a duplicate (SNS redelivered it);
//!   one published before the last recorded step (either direction) is stale; a step within
//!   the direction's coolDown of the last step that way waits.
//! - Migration: while the resource records no step at all, the Deployment's
//!   `cloudwatch.alarm.trigger.time` annotation (the original function's last step, either
//!   direction, as it kept its cooldown clock) starts the direction's coolDown. Once a step is
//!   recorded the records alone rule, so the suite's own annotation never delays a step the
//!   other way.
//! - `spec.behavior` (HPA's), when set: the step's target is the recommendation, which HPA's
//!   normalization (`k8s_ops::behavior::normalize`: stabilization windows, rate policies,
//!   bounds) turns into the replicas set, with the history kept in `status.behaviorHistory`.
//!   The checks above still run first (coolDown included). Unset: none of this, the
//!   original's step exactly.
use jiff::{SignedDuration, Timestamp};
use k8s_ops::behavior::{Behavior, History, normalize};
use k8s_ops::crd::metric_alarm::{
    Direction, K8sMetricAlarmSpec, K8sMetricAlarmStatus, PolicyType, ScalingBehavior,
};

use crate::annotations::TRIGGER_TIME;

/// What the scaler knows when it decides.
#[derive(Clone, Copy, Debug)]
pub struct Situation<'a> {
    pub spec: &'a K8sMetricAlarmSpec,
    pub status: Option<&'a K8sMetricAlarmStatus>,
    pub direction: Direction,
    /// The Deployment's replicas (scale subresource `spec.replicas`).
    pub replicas: i32,
    pub message_id: &'a str,
    /// When SNS published the notification (or the alarm changed state).
    pub published: Timestamp,
    /// The Deployment's `cloudwatch.alarm.trigger.time`, read while `status` records no step.
    pub migrated: Option<Timestamp>,
    pub now: Timestamp,
    /// `spec.behavior` with HPA's defaults applied (`None`: unset).
    pub behavior: Option<&'a Behavior>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    Step { from: i32, to: i32 },
    Hold(Hold),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hold {
    /// This notification already caused a step (SNS delivers at least once).
    Duplicate,
    /// Published before the last step taken, at `last`: the situation it reports is over.
    Stale { last: Timestamp },
    /// The direction's coolDown runs until `until`.
    Cooldown { until: Timestamp },
    /// No step recorded yet, and the coolDown since the Deployment's trigger-time annotation
    /// (the original's last step) runs until `until`.
    MigratedCooldown { until: Timestamp },
    /// Already at the bound the step would cross.
    AtBound { replicas: i32, bound: i32 },
    /// minReplicas > maxReplicas: no target is valid.
    InvalidBounds { min: i32, max: i32 },
    /// `spec.behavior` keeps the replicas where they are (HPA's reason).
    Stabilized {
        recommended: i32,
        reason: &'static str,
    },
}

impl Plan {
    /// Whether it holds for the notification itself (a redelivery, or stale), whatever the
    /// resource's target, owner or pause.
    pub fn redelivered(&self) -> bool {
        matches!(self, Plan::Hold(Hold::Duplicate | Hold::Stale { .. }))
    }

    /// The name logged as `decision`.
    pub fn decision(&self, direction: Direction) -> &'static str {
        match (self, direction) {
            (Plan::Step { .. }, Direction::Up) => "scale_up",
            (Plan::Step { .. }, Direction::Down) => "scale_down",
            (Plan::Hold(Hold::Duplicate), _) => "duplicate",
            (Plan::Hold(Hold::Stale { .. }), _) => "stale",
            (Plan::Hold(Hold::Cooldown { .. } | Hold::MigratedCooldown { .. }), _) => "cooldown",
            (Plan::Hold(Hold::AtBound { .. }), _) => "at_bound",
            (Plan::Hold(Hold::InvalidBounds { .. }), _) => "invalid_bounds",
            (Plan::Hold(Hold::Stabilized { .. }), _) => "stabilized",
        }
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Plan::Step { from, to } => write!(f, "step from {from} to {to}"),
            Plan::Hold(Hold::Duplicate) => f.write_str("this notification was already acted on"),
            Plan::Hold(Hold::Stale { last }) => {
                write!(f, "published before the last step, at {last}")
            }
            Plan::Hold(Hold::Cooldown { until }) => write!(f, "in cooldown until {until}"),
            Plan::Hold(Hold::MigratedCooldown { until }) => write!(
                f,
                "in cooldown until {until}, from the Deployment's {TRIGGER_TIME} annotation \
                 (no step of this function recorded yet)"
            ),
            Plan::Hold(Hold::AtBound { replicas, bound }) => {
                write!(f, "{replicas} replicas, bound {bound}")
            }
            Plan::Hold(Hold::InvalidBounds { min, max }) => {
                write!(f, "minReplicas {min} exceeds maxReplicas {max}")
            }
            Plan::Hold(Hold::Stabilized {
                recommended,
                reason,
            }) => write!(
                f,
                "spec.behavior holds the replicas ({reason}; the step recommended {recommended})"
            ),
        }
    }
}

/// The plan, and (a step under `spec.behavior`) the history to keep with it.
pub fn decide(s: Situation<'_>) -> (Plan, Option<History>) {
    match checks(&s) {
        Some(hold) => (Plan::Hold(hold), None),
        None => {
            let history = s.status.and_then(|st| st.behavior_history.as_ref());
            match step_to(s.spec, s.behavior, history, s.direction, s.now, s.replicas) {
                Ok((to, history)) => (
                    Plan::Step {
                        from: s.replicas,
                        to,
                    },
                    history,
                ),
                Err(hold) => (Plan::Hold(hold), None),
            }
        }
    }
}

/// Duplicate, stale, cooldown: what holds before any step is computed.
fn checks(s: &Situation<'_>) -> Option<Hold> {
    let records = s.status.map_or([None, None], |st| {
        [st.last_scale(Direction::Up), st.last_scale(Direction::Down)]
    });
    if records
        .iter()
        .flatten()
        .any(|r| r.message_id == s.message_id)
    {
        return Some(Hold::Duplicate);
    }
    if let Some(last) = records.iter().flatten().map(|r| r.notified_at.0).max()
        && s.published < last
    {
        return Some(Hold::Stale { last });
    }
    let cooldown = SignedDuration::from_secs(cool_down(s.spec.behavior(s.direction)));
    let after = |t: Timestamp| t.saturating_add(cooldown).unwrap_or(Timestamp::MAX);
    if let Some(last) = s.status.and_then(|st| st.last_scale(s.direction)) {
        let until = after(last.time.0);
        if s.now < until {
            return Some(Hold::Cooldown { until });
        }
    } else if records.iter().all(Option::is_none)
        && let Some(migrated) = s.migrated
    {
        let until = after(migrated);
        if s.now < until {
            return Some(Hold::MigratedCooldown { until });
        }
    }
    None
}

/// The replicas a step from `current` sets: [`target`], normalized by `behavior` when set
/// (with the history to keep). Also used when the scale changed under us and the step is
/// recomputed from the fresh value.
pub fn step_to(
    spec: &K8sMetricAlarmSpec,
    behavior: Option<&Behavior>,
    history: Option<&History>,
    direction: Direction,
    now: Timestamp,
    current: i32,
) -> Result<(i32, Option<History>), Hold> {
    let recommended = target(spec, direction, current)?;
    let Some(behavior) = behavior else {
        return Ok((recommended, None));
    };
    let history = history.cloned().unwrap_or_default();
    let (min, max) = (spec.min_replicas, spec.max_replicas);
    let n = normalize(behavior, &history, now, current, recommended, min, max);
    if n.replicas == current {
        return Err(Hold::Stabilized {
            recommended,
            reason: n.reason.as_str(),
        });
    }
    Ok((n.replicas, Some(n.history)))
}

/// The replicas one step in `direction` leads to from `current`, or why there is none. Also
/// used when the scale changed under us and the step is recomputed from the fresh value.
pub fn target(spec: &K8sMetricAlarmSpec, direction: Direction, current: i32) -> Result<i32, Hold> {
    let (min, max) = (spec.min_replicas, spec.max_replicas);
    if min > max {
        return Err(Hold::InvalidBounds { min, max });
    }
    let step = step(spec.behavior(direction), current);
    let (to, bound) = match direction {
        Direction::Up => (current.saturating_add(step).clamp(min, max), max),
        Direction::Down => (current.saturating_sub(step).clamp(min, max), min),
    };
    let with_direction = match direction {
        Direction::Up => to > current,
        Direction::Down => to < current,
    };
    if with_direction {
        Ok(to)
    } else {
        Err(Hold::AtBound {
            replicas: current,
            bound,
        })
    }
}

/// The largest of the policies' steps, at least 1 pod.
pub fn step(behavior: Option<&ScalingBehavior>, current: i32) -> i32 {
    let current = i64::from(current.max(0));
    behavior
        .into_iter()
        .flat_map(|b| &b.policies)
        .map(|p| match p.type_ {
            PolicyType::Pods => i64::from(p.value),
            // Rounded up: a percentage of a small Deployment is still a step.
            PolicyType::Percent => (i64::from(p.value) * current + 99).div_euclid(100),
        })
        .max()
        .unwrap_or(1)
        .clamp(1, i64::from(i32::MAX)) as i32
}

fn cool_down(behavior: Option<&ScalingBehavior>) -> i64 {
    behavior.and_then(|b| b.cool_down).unwrap_or(0).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_ops::crd::metric_alarm::{ScaleRecord, ScalingPolicy};

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn policies(list: &[(PolicyType, i32)], cool_down: i64) -> ScalingBehavior {
        ScalingBehavior {
            cool_down: Some(cool_down),
            policies: list
                .iter()
                .map(|&(type_, value)| ScalingPolicy { type_, value })
                .collect(),
        }
    }

    /// min 2, max 10; up: max(2 pods, 50%), 150 s; down: max(1 pod, 25%), 300 s.
    fn spec() -> K8sMetricAlarmSpec {
        use PolicyType::*;
        K8sMetricAlarmSpec {
            deployment: Some("web".into()),
            min_replicas: 2,
            max_replicas: 10,
            scale_up_behavior: Some(policies(&[(Pods, 2), (Percent, 50)], 150)),
            scale_down_behavior: Some(policies(&[(Pods, 1), (Percent, 25)], 300)),
            ..Default::default()
        }
    }

    fn record(id: &str, at: i64, notified: i64) -> ScaleRecord {
        ScaleRecord {
            time: Time(t(at)),
            message_id: id.into(),
            notified_at: Time(t(notified)),
            alarm_name: "a".into(),
            from: 1,
            to: 2,
        }
    }

    #[test]
    fn step_is_the_largest_policy_rounded_up_and_at_least_one() {
        use PolicyType::*;
        // (policies, current replicas, step)
        type Case = (&'static [(PolicyType, i32)], i32, i32);
        let cases: &[Case] = &[
            (&[(Pods, 2), (Percent, 50)], 4, 2),
            (&[(Pods, 2), (Percent, 50)], 6, 3),
            (&[(Pods, 2), (Percent, 50)], 7, 4), // 3.5 rounds up
            (&[(Percent, 10)], 3, 1),            // 0.3 rounds up
            (&[(Percent, 10)], 0, 1),            // 0 replicas: at least one pod
            (&[(Percent, 200)], 5, 10),
            (&[(Pods, 0)], 5, 1), // a zero step is still one pod
            (&[], 5, 1),          // no policies: one pod
        ];
        for &(list, current, want) in cases {
            let b = policies(list, 0);
            assert_eq!(step(Some(&b), current), want, "{list:?} at {current}");
        }
        assert_eq!(step(None, 8), 1, "no behavior: one pod");
    }

    #[test]
    fn targets_clamp_to_bounds_and_never_go_against_the_direction() {
        use Direction::*;
        let cases: &[(Direction, i32, Result<i32, Hold>)] = &[
            (Up, 4, Ok(6)),
            (Up, 8, Ok(10)), // 8 + 4 clamped to max
            (
                Up,
                10,
                Err(Hold::AtBound {
                    replicas: 10,
                    bound: 10,
                }),
            ),
            (
                Up,
                12,
                Err(Hold::AtBound {
                    replicas: 12,
                    bound: 10,
                }),
            ), // above max: not lowered
            (Up, 0, Ok(2)), // from zero: one step, raised to min
            (Up, 1, Ok(3)),
            (Down, 8, Ok(6)), // 25% of 8 = 2
            (Down, 3, Ok(2)),
            (
                Down,
                2,
                Err(Hold::AtBound {
                    replicas: 2,
                    bound: 2,
                }),
            ),
            (
                Down,
                0,
                Err(Hold::AtBound {
                    replicas: 0,
                    bound: 2,
                }),
            ), // below min: not raised
            (Down, 15, Ok(10)), // above max: lowered to it
        ];
        for (direction, current, want) in cases {
            assert_eq!(
                &target(&spec(), *direction, *current),
                want,
                "{direction} from {current}"
            );
        }
        let inverted = K8sMetricAlarmSpec {
            min_replicas: 5,
            max_replicas: 3,
            ..spec()
        };
        assert_eq!(
            target(&inverted, Up, 4),
            Err(Hold::InvalidBounds { min: 5, max: 3 })
        );
    }

    #[test]
    fn records_make_duplicates_stale_messages_and_cooldowns() {
        use Direction::*;
        let spec = spec();
        let status = |up: Option<ScaleRecord>, down: Option<ScaleRecord>| K8sMetricAlarmStatus {
            last_scale_up: up,
            last_scale_down: down,
            ..Default::default()
        };
        // (status, direction, message id, published, now, plan)
        type Case = (
            Option<K8sMetricAlarmStatus>,
            Direction,
            &'static str,
            i64,
            i64,
            Plan,
        );
        let cases: Vec<Case> = vec![
            (None, Up, "m1", 0, 1, Plan::Step { from: 4, to: 6 }),
            (
                Some(status(Some(record("m1", 1, 0)), None)),
                Up,
                "m1",
                0,
                500,
                Plan::Hold(Hold::Duplicate),
            ),
            (
                // Redelivered after a later step the other way: still a duplicate.
                Some(status(Some(record("m2", 20, 19)), Some(record("m1", 5, 4)))),
                Up,
                "m1",
                4,
                500,
                Plan::Hold(Hold::Duplicate),
            ),
            (
                // Up at 1 s; another up alarm at 100 s is inside the 150 s coolDown.
                Some(status(Some(record("m1", 1, 0)), None)),
                Up,
                "m2",
                100,
                100,
                Plan::Hold(Hold::Cooldown { until: t(151) }),
            ),
            (
                Some(status(Some(record("m1", 1, 0)), None)),
                Up,
                "m2",
                151,
                151,
                Plan::Step { from: 4, to: 6 },
            ),
            (
                // The up step's cooldown does not hold a step down.
                Some(status(Some(record("m1", 1, 0)), None)),
                Down,
                "m2",
                10,
                10,
                Plan::Step { from: 4, to: 3 },
            ),
            (
                // Down at 10 s: the down coolDown (300 s) holds another down alarm.
                Some(status(None, Some(record("m1", 10, 9)))),
                Down,
                "m2",
                200,
                200,
                Plan::Hold(Hold::Cooldown { until: t(310) }),
            ),
            (
                // Published (50 s) before the last step's notification (60 s): stale.
                Some(status(None, Some(record("m1", 61, 60)))),
                Up,
                "m0",
                50,
                400,
                Plan::Hold(Hold::Stale { last: t(60) }),
            ),
        ];
        for (i, (status, direction, id, published, now, want)) in cases.into_iter().enumerate() {
            let got = decide(Situation {
                spec: &spec,
                status: status.as_ref(),
                direction,
                replicas: 4,
                message_id: id,
                published: t(published),
                migrated: None,
                now: t(now),
                behavior: None,
            });
            assert_eq!(got, (want, None), "case {i}");
        }
    }

    #[test]
    fn behavior_normalizes_the_step_with_the_history_in_the_status() {
        use Direction::*;
        use k8s_openapi::api::autoscaling::v2::{
            HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscalerBehavior,
        };
        use k8s_ops::behavior::Sample;
        // Up: at most 1 pod per 60 s; down: HPA's defaults (300 s window, 100 % per 15 s).
        let spec = K8sMetricAlarmSpec {
            behavior: Some(HorizontalPodAutoscalerBehavior {
                scale_up: Some(HPAScalingRules {
                    policies: Some(vec![HPAScalingPolicy {
                        type_: "Pods".into(),
                        value: 1,
                        period_seconds: 60,
                    }]),
                    ..Default::default()
                }),
                scale_down: None,
            }),
            ..spec()
        };
        let b = Behavior::from_spec(spec.behavior.as_ref(), "spec.behavior").unwrap();
        let sample = |at: i64, replicas: i32| Sample {
            time: Time(t(at)),
            replicas,
        };
        let history = |recommendations: Vec<Sample>, scale_ups: Vec<Sample>| History {
            recommendations,
            scale_ups,
            scale_downs: vec![],
        };
        // (direction, history, now, plan); 4 replicas; the step recommends 6 up, 3 down.
        let stabilized = |reason| {
            Plan::Hold(Hold::Stabilized {
                recommended: 3,
                reason,
            })
        };
        let cases: Vec<(Direction, History, i64, Plan)> = vec![
            // The Pods policy limits the step of 2 (or 50 %) to 1.
            (Up, History::default(), 1000, Plan::Step { from: 4, to: 5 }),
            // A pod added 30 s ago uses the period's allowance: held.
            (
                Up,
                history(vec![], vec![sample(970, 1)]),
                1000,
                Plan::Hold(Hold::Stabilized {
                    recommended: 6,
                    reason: "ScaleUpLimit",
                }),
            ),
            (
                Up,
                history(vec![], vec![sample(900, 1)]),
                1000,
                Plan::Step { from: 4, to: 5 },
            ),
            // A recommendation of 8 100 s ago holds a step down within the 300 s window…
            (
                Down,
                history(vec![sample(900, 8)], vec![]),
                1000,
                stabilized("ScaleDownStabilized"),
            ),
            // …and no longer once it is older.
            (
                Down,
                history(vec![sample(600, 8)], vec![]),
                1000,
                Plan::Step { from: 4, to: 3 },
            ),
        ];
        for (i, (direction, kept, now, want)) in cases.into_iter().enumerate() {
            let status = K8sMetricAlarmStatus {
                behavior_history: Some(kept),
                ..Default::default()
            };
            let (plan, history) = decide(Situation {
                spec: &spec,
                status: Some(&status),
                direction,
                replicas: 4,
                message_id: "m",
                published: t(now),
                migrated: None,
                now: t(now),
                behavior: Some(&b),
            });
            assert_eq!(plan, want, "case {i}");
            // A step keeps the history with its recommendation; a hold keeps none.
            let recommended = history.map(|h| h.recommendations.last().unwrap().replicas);
            let expected = match (&plan, direction) {
                (Plan::Step { .. }, Up) => Some(6),
                (Plan::Step { .. }, Down) => Some(3),
                _ => None,
            };
            assert_eq!(recommended, expected, "case {i}");
        }
        assert_eq!(
            stabilized("ScaleDownStabilized").decision(Down),
            "stabilized"
        );
    }

    #[test]
    fn the_originals_trigger_time_holds_the_first_cooldown_only() {
        use Direction::*;
        let spec = spec();
        let up = K8sMetricAlarmStatus {
            last_scale_up: Some(record("m1", 1000, 999)),
            ..Default::default()
        };
        // (status, direction, annotation's time, now, plan); up coolDown 150 s, down 300 s.
        type Case = (
            Option<K8sMetricAlarmStatus>,
            Direction,
            Option<i64>,
            i64,
            Plan,
        );
        let cases: Vec<Case> = vec![
            // Migrated: the original stepped at 1000 s; the up coolDown runs to 1150 s.
            (
                None,
                Up,
                Some(1000),
                1100,
                Plan::Hold(Hold::MigratedCooldown { until: t(1150) }),
            ),
            (None, Up, Some(1000), 1150, Plan::Step { from: 4, to: 6 }),
            // Either direction's step starts it, as in the original; the down coolDown is 300 s.
            (
                None,
                Down,
                Some(1000),
                1200,
                Plan::Hold(Hold::MigratedCooldown { until: t(1300) }),
            ),
            (None, Down, Some(1000), 1300, Plan::Step { from: 4, to: 3 }),
            // An empty status is no record either.
            (
                Some(K8sMetricAlarmStatus::default()),
                Up,
                Some(1000),
                1100,
                Plan::Hold(Hold::MigratedCooldown { until: t(1150) }),
            ),
            // No annotation: nothing holds.
            (None, Up, None, 1100, Plan::Step { from: 4, to: 6 }),
            // A step of ours recorded (up at 1000 s): the annotation, ours by now, no longer
            // holds the other direction…
            (
                Some(up.clone()),
                Down,
                Some(1000),
                1010,
                Plan::Step { from: 4, to: 3 },
            ),
            // …and the record, not the annotation, times the direction's own coolDown.
            (
                Some(up.clone()),
                Up,
                Some(5000),
                1150,
                Plan::Step { from: 4, to: 6 },
            ),
            (
                Some(up),
                Up,
                None,
                1100,
                Plan::Hold(Hold::Cooldown { until: t(1150) }),
            ),
        ];
        for (i, (status, direction, migrated, now, want)) in cases.into_iter().enumerate() {
            let got = decide(Situation {
                spec: &spec,
                status: status.as_ref(),
                direction,
                replicas: 4,
                message_id: "m9",
                published: t(now),
                migrated: migrated.map(t),
                now: t(now),
                behavior: None,
            });
            assert_eq!(got, (want, None), "case {i}");
        }
        let held = Plan::Hold(Hold::MigratedCooldown { until: t(1150) });
        assert_eq!(held.decision(Up), "cooldown");
        assert!(
            held.to_string().contains("cloudwatch.alarm.trigger.time"),
            "{held}"
        );
    }
}
