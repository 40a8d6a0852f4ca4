//! decide's tables: KEDA's examples, the HPA's tolerance and bounds, activation and
//! cooldown, HPA's behavior replayed run by run, and the pause annotations.
use super::*;
use k8s_ops::behavior::Behavior;
use k8s_ops::crd::sqs_queue::Fallback;

/// KEDA's example: 10 messages per replica, up to 100; HPA's default behavior.
fn policy() -> Policy {
    Policy {
        queue_length: 10,
        activation: 0,
        in_flight: true,
        delayed: false,
        min: 0,
        max: 100,
        cooldown: Duration::from_secs(300),
        idle_to_zero: false,
        zero_not_before: None,
        behavior: Behavior::from_spec(None, "spec.behavior").unwrap(),
        fallback: None,
    }
}

/// A decision from a status with `since` and no behavior history.
fn decide_since(
    policy: &Policy,
    depth: &QueueDepth,
    current: i32,
    since: Option<Timestamp>,
    now: Timestamp,
) -> Plan {
    let state = State {
        inactive_since: since,
        history: History::default(),
    };
    decide(policy, depth, current, &state, now)
}

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
    let p = policy();
    let min2 = Policy { min: 2, ..policy() };
    let max5 = Policy { max: 5, ..policy() };
    let act5 = Policy {
        activation: 5,
        ..policy()
    };
    let keda_default = Policy {
        queue_length: 5,
        ..policy()
    };
    // A ScaledObject's idleReplicaCount 0 with minReplicaCount 2; its initialCooldownPeriod.
    let idle = Policy {
        min: 2,
        max: 10,
        idle_to_zero: true,
        ..policy()
    };
    let initial = Policy {
        zero_not_before: Some(t(1000)),
        ..policy()
    };
    let none = None;
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        // KEDA's documented example: 30 messages, queueLength 10 → 3 replicas.
        ("KEDA: 30 msgs / 10 → 3",          p.clone(), visible(30), 1, none, 0,    3, Why::Metric, none),
        ("KEDA: from zero to 3 at once",     p.clone(), visible(30), 0, none, 0,    3, Why::Activated, none),
        ("default queueLength 5: 30 → 6",    keda_default.clone(), visible(30), 2, none, 0, 6, Why::Metric, none),
        ("ceil: 31 → 4",                     p.clone(), visible(31), 1, none, 0,    4, Why::Metric, none),
        ("in-flight counts by default",      p.clone(), QueueDepth { visible: 10, in_flight: 20, delayed: 5 }, 1, none, 0, 3, Why::Metric, none),
        ("delayed not counted by default",   p.clone(), QueueDepth { visible: 0, in_flight: 0, delayed: 50 }, 0, none, 0, 0, Why::Inactive, Some(0)),
        ("scaleOnDelayed counts them",       Policy { delayed: true, ..policy() }, QueueDepth { visible: 0, in_flight: 0, delayed: 50 }, 0, none, 0, 5, Why::Activated, none),
        ("scaleOnInFlight false",            Policy { in_flight: false, ..policy() }, QueueDepth { visible: 10, in_flight: 90, delayed: 0 }, 4, none, 0, 1, Why::Metric, none),
        // HPA tolerance: ratio within [0.9, 1.1] holds.
        ("tolerance: 33 for 3×10 holds",     p.clone(), visible(33), 3, none, 0,    3, Why::WithinTolerance, none),
        ("tolerance: 27 for 3×10 holds",     p.clone(), visible(27), 3, none, 0,    3, Why::WithinTolerance, none),
        ("tolerance edge: 34 → 4",           p.clone(), visible(34), 3, none, 0,    4, Why::Metric, none),
        ("tolerance edge: 26 → 3 (ceil)",    p.clone(), visible(26), 3, none, 0,    3, Why::Metric, none),
        ("tolerance edge: 19 for 3 → 2",     p.clone(), visible(19), 3, none, 0,    2, Why::Metric, none),
        // Bounds.
        ("clamped to max",                   max5.clone(), visible(1000), 1, none, 0, 5, Why::AboveMax, none),
        ("above max comes down",             max5.clone(), visible(50), 9, none, 0,  5, Why::Metric, none),
        ("above max, queue asks less",       max5.clone(), visible(20), 9, none, 0,  2, Why::Metric, none),
        ("below min goes up",                min2.clone(), visible(10), 1, none, 0,  2, Why::BelowMin, none),
        ("min 2 at zero, inactive → 2",      min2.clone(), visible(0), 0, none, 0,   2, Why::BelowMin, Some(0)),
        ("min 2 never goes to zero",         min2.clone(), visible(0), 3, Some(0), 9999, 2, Why::Inactive, Some(0)),
        // Activation.
        ("length = activation is inactive",  act5.clone(), visible(5), 0, none, 0,   0, Why::Inactive, Some(0)),
        ("length > activation activates",    act5.clone(), visible(6), 0, none, 0,   1, Why::Activated, none),
        ("inactive but not cooled: ≥ 1",     act5.clone(), visible(5), 4, none, 0,   1, Why::Inactive, Some(0)),
        // Cooldown.
        ("inactive starts the clock",        p.clone(), visible(0), 2, none, 100,   1, Why::Inactive, Some(100)),
        ("the clock keeps its start",        p.clone(), visible(0), 1, Some(100), 399, 1, Why::Inactive, Some(100)),
        ("cooldown elapsed → zero",          p.clone(), visible(0), 1, Some(100), 400, 0, Why::CooledDown, Some(100)),
        ("activity resets the clock",        p.clone(), visible(1), 1, Some(100), 400, 1, Why::Metric, none),
        ("zero cooldown: zero at once",      Policy { cooldown: Duration::ZERO, ..policy() }, visible(0), 3, none, 0, 0, Why::CooledDown, Some(0)),
        ("at zero and inactive stays",       p.clone(), visible(0), 0, Some(0), 9999, 0, Why::Inactive, Some(0)),
        // idleReplicaCount (KEDA: to minReplicaCount on activity, to idle after the cooldown).
        ("idle: from zero to the metric",    idle.clone(), visible(30), 0, none, 0, 3, Why::Activated, none),
        ("idle: from zero at least min",     idle.clone(), visible(5), 0, none, 0,  2, Why::Activated, none),
        ("idle: active below min → min",     idle.clone(), visible(5), 1, none, 0,  2, Why::Activated, none),
        ("idle: inactive at zero stays",     idle.clone(), visible(0), 0, none, 0,  0, Why::Inactive, Some(0)),
        ("idle: cooling down keeps min",     idle.clone(), visible(0), 3, Some(0), 100, 2, Why::Inactive, Some(0)),
        ("idle: cooled → zero below min",    idle.clone(), visible(0), 2, Some(0), 300, 0, Why::CooledDown, Some(0)),
        ("no idle: min 2 never to zero",     min2.clone(), visible(0), 2, Some(0), 300, 2, Why::Inactive, Some(0)),
        // initialCooldownPeriod: never to zero before creation + it.
        ("initial cooldown holds",           initial.clone(), visible(0), 1, Some(0), 999, 1, Why::Inactive, Some(0)),
        ("initial cooldown over → zero",     initial.clone(), visible(0), 1, Some(0), 1000, 0, Why::CooledDown, Some(0)),
    ];
    for (name, policy, depth, current, since, now, desired, why, new_since) in cases.iter().cloned()
    {
        let plan = decide_since(&policy, &depth, current, since.map(t), t(now));
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
    let plan = decide_since(&policy(), &visible(30), 1, None, t(0));
    assert_eq!(plan.decision(1), "scale_up");
    assert_eq!(
        plan.reason(&policy(), 1),
        "queue length 30 / target 10 per replica"
    );
    let cooled = decide_since(&policy(), &visible(0), 1, Some(t(0)), t(300));
    assert_eq!(cooled.decision(1), "scale_to_zero");
    assert_eq!(
        cooled.reason(&policy(), 1),
        "queue inactive (length 0 ≤ activation 0) for the cooldown of 300s"
    );
    let waiting = decide_since(&policy(), &visible(0), 1, Some(t(0)), t(120));
    assert_eq!(
        (waiting.decision(1), waiting.reason(&policy(), 1).as_str()),
        (
            "hold",
            "queue inactive (length 0 ≤ activation 0) since 2023-11-14T22:13:20Z; cooldown 300s"
        )
    );
    let idle = decide_since(&policy(), &visible(0), 0, Some(t(0)), t(120));
    assert_eq!(
        idle.reason(&policy(), 0),
        "queue inactive (length 0 ≤ activation 0)"
    );
    assert_eq!(
        decide_since(&policy(), &visible(5), 0, None, t(0)).decision(0),
        "scale_from_zero"
    );
    assert_eq!(
        decide_since(&policy(), &visible(5), 3, None, t(0)).decision(3),
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
    assert_eq!(err(json!({"queueURL": ""})), "spec.queueURL is empty");
    let ok = Policy::from_spec(&spec(json!({}))).unwrap();
    assert_eq!(
        (ok.queue_length, ok.max, ok.cooldown.as_secs()),
        (5, 100, 300)
    );
}

/// Runs (second, visible messages) in order from `start` replicas, the state carried from
/// run to run as the status carries it; the replicas and why after each run.
fn replay(policy: &Policy, start: i32, runs: &[(i64, i64)]) -> Vec<(i32, Why)> {
    let mut state = State::default();
    let mut current = start;
    runs.iter()
        .map(|&(at, messages)| {
            let plan = decide(policy, &visible(messages), current, &state, t(at));
            state = State {
                inactive_since: plan.inactive_since,
                history: plan.history.clone(),
            };
            current = plan.desired;
            (current, plan.why)
        })
        .collect()
}

fn with_behavior(behavior: serde_json::Value) -> Policy {
    let spec = serde_json::from_value(behavior).unwrap();
    Policy {
        behavior: Behavior::from_spec(Some(&spec), "spec.behavior").unwrap(),
        ..policy()
    }
}

/// HPA's default: a scale-down follows the highest recommendation of the last 300 s, so a
/// queue that empties keeps its replicas for five minutes, then they go at once; KEDA's
/// cooldown still takes the last one to zero, unlimited.
#[test]
fn the_default_window_holds_a_scale_down_for_five_minutes() {
    use k8s_ops::behavior::Reason::ScaleDownStabilized as Held;
    let runs = [
        (0, 50),
        (60, 10),
        (120, 10),
        (299, 10),
        (300, 10),
        (360, 10),
    ];
    assert_eq!(
        replay(&policy(), 0, &runs),
        [
            (5, Why::Activated),
            (5, Why::Behavior(Held)),
            (5, Why::Behavior(Held)),
            (5, Why::Behavior(Held)),
            // 300 s after the recommendation of 5: the window holds only 1s.
            (1, Why::Metric),
            (1, Why::WithinTolerance),
        ]
    );
    let drained = [(0, 50), (60, 0), (359, 0), (360, 0)];
    assert_eq!(
        replay(&policy(), 0, &drained),
        [
            (5, Why::Activated),
            (5, Why::Behavior(Held)),
            (1, Why::Inactive),
            (0, Why::CooledDown),
        ]
    );
}

/// A Pods policy limits a scale-up per period, from the replicas at the period's start;
/// a zero window lets a scale-down follow the queue at once; selectPolicy Disabled holds.
#[test]
fn policies_limit_the_rate_and_disabled_holds() {
    use k8s_ops::behavior::Reason::{ScaleDownLimit, ScaleUpLimit};
    let two_per_minute = with_behavior(serde_json::json!({
        "scaleUp": {"policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]},
        "scaleDown": {"stabilizationWindowSeconds": 0}
    }));
    let runs = [
        (0, 10),
        (30, 100),
        (60, 100),
        (90, 100),
        (120, 100),
        (180, 10),
    ];
    assert_eq!(
        replay(&two_per_minute, 1, &runs),
        [
            (1, Why::WithinTolerance),
            (3, Why::Behavior(ScaleUpLimit)),
            // 30 s later the period still holds the +2.
            (3, Why::Behavior(ScaleUpLimit)),
            (5, Why::Behavior(ScaleUpLimit)),
            (5, Why::Behavior(ScaleUpLimit)),
            (1, Why::Metric),
        ]
    );
    let no_scale_down = with_behavior(serde_json::json!({
        "scaleDown": {"selectPolicy": "Disabled"}
    }));
    assert_eq!(
        replay(&no_scale_down, 4, &[(0, 10), (600, 10)]),
        [
            (4, Why::Behavior(ScaleDownLimit)),
            (4, Why::Behavior(ScaleDownLimit))
        ]
    );
}

#[test]
fn a_behavior_hpa_would_refuse_is_an_invalid_spec_naming_the_field() {
    let spec: SqsQueueScalerSpec = serde_json::from_value(serde_json::json!({
        "scaleTargetRef": {"name": "w"}, "queueURL": "q",
        "behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 0, "periodSeconds": 60}]}}
    }))
    .unwrap();
    assert_eq!(
        Policy::from_spec(&spec).unwrap_err().to_string(),
        "spec.behavior.scaleUp.policies[0].value: greater than 0, got 0"
    );
}

/// KEDA's pause: paused-replicas sets exactly N, outside [min, max] too; paused holds; the
/// queue's length is still reported and the history left as it was.
#[test]
fn paused_sets_or_holds_whatever_the_queue_says() {
    let state = State {
        inactive_since: None,
        history: replay_history(),
    };
    let bounded = Policy {
        min: 2,
        max: 5,
        ..policy()
    };
    for (pause, current, desired) in [
        (Pause::At(0), 3, 0),
        (Pause::At(9), 3, 9),
        (Pause::Hold, 3, 3),
        (Pause::Hold, 0, 0),
    ] {
        let plan = paused(&bounded, &visible(100), pause, current, &state, t(0));
        assert_eq!(
            (plan.desired, plan.why, plan.length, plan.active),
            (desired, Why::Paused(pause), 100, true),
            "{pause:?} at {current}"
        );
        assert_eq!(plan.history, state.history);
    }
    let idle = paused(
        &bounded,
        &visible(0),
        Pause::Hold,
        3,
        &State::default(),
        t(7),
    );
    assert_eq!(idle.inactive_since, Some(t(7)));
    assert_eq!(
        idle.reason(&bounded, 3),
        "paused by annotation autoscaling.keda.sh/paused"
    );
}

fn replay_history() -> History {
    let plan = decide(&policy(), &visible(30), 1, &State::default(), t(0));
    assert!(!plan.history.recommendations.is_empty());
    plan.history
}

/// KEDA's fallback: only once the failures in a row exceed failureThreshold; to
/// fallback.replicas within the bounds and at least one (never zero on an error), through
/// HPA's behavior when replicas are running, straight from zero when none are.
#[test]
fn fallback_after_more_failures_than_the_threshold_never_to_zero() {
    let f = |failure_threshold, replicas| Policy {
        max: 10,
        fallback: Some(Fallback {
            failure_threshold,
            replicas,
        }),
        ..policy()
    };
    assert!(!policy().falls_back(100), "no fallback: hold");
    assert!(!f(3, 6).falls_back(3));
    assert!(f(3, 6).falls_back(4));
    assert!(f(0, 6).falls_back(1));
    let state = State::default();
    #[rustfmt::skip]
    let cases = [
        ("up to the fallback",           f(3, 6), 2, 6),
        ("down to the fallback",         f(3, 6), 9, 6),
        ("from zero, unlimited",         f(3, 6), 0, 6),
        ("never zero",                   f(3, 0), 4, 1),
        ("never zero from zero",         f(3, 0), 0, 1),
        ("within max",                   f(3, 50), 8, 10),
    ];
    for (name, policy, current, desired) in cases {
        let plan = fallback(&policy, 4, current, &state, t(0));
        assert_eq!(
            (plan.desired, plan.why),
            (desired, Why::Fallback(4)),
            "{name}"
        );
    }
    let limited = Policy {
        behavior: with_behavior(serde_json::json!({
            "scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}
        }))
        .behavior,
        ..f(3, 6)
    };
    assert_eq!(
        fallback(&limited, 4, 2, &state, t(0)).desired,
        3,
        "HPA's rate applies"
    );
    assert_eq!(
        fallback(&f(3, 6), 4, 2, &state, t(0)).reason(&f(3, 6), 2),
        "queue unread 4 times in a row (fallback.failureThreshold 3): fallback.replicas 6"
    );
}
