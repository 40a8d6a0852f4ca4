//! HPA's documented behaviour examples (kubernetes.io, "Horizontal Pod Autoscaling",
//! "Configurable scaling behavior"), replayed run by run through [`normalize`] with the
//! history carried between runs as the status would carry it.
use super::*;
use k8s_openapi::api::autoscaling::v2::HPAScalingPolicy;

fn rules(
    window: Option<i32>,
    select: Option<&str>,
    policies: &[(&str, i32, i32)],
) -> HPAScalingRules {
    HPAScalingRules {
        stabilization_window_seconds: window,
        select_policy: select.map(str::to_owned),
        policies: (!policies.is_empty()).then(|| {
            policies
                .iter()
                .map(|&(t, value, period_seconds)| HPAScalingPolicy {
                    type_: t.to_owned(),
                    value,
                    period_seconds,
                })
                .collect()
        }),
        tolerance: None,
    }
}

fn behavior(up: Option<HPAScalingRules>, down: Option<HPAScalingRules>) -> Behavior {
    Behavior::from_spec(
        Some(&HorizontalPodAutoscalerBehavior {
            scale_up: up,
            scale_down: down,
        }),
        "spec.behavior",
    )
    .expect("valid behavior")
}

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).unwrap()
}

/// Runs (second, desired) in order from `start` replicas within [min, max]; the replicas
/// after each run.
fn replay(b: &Behavior, start: i32, min: i32, max: i32, runs: &[(i64, i32)]) -> Vec<i32> {
    let mut history = History::default();
    let mut current = start;
    runs.iter()
        .map(|&(at, desired)| {
            let n = normalize(b, &history, t(at), current, desired, min, max);
            history = n.history;
            current = n.replicas;
            current
        })
        .collect()
}

#[test]
fn hpa_defaults_scale_up_by_the_larger_of_4_pods_and_100_percent_per_15_seconds() {
    let b = Behavior::from_spec(None, "spec.behavior").unwrap();
    // 1 → 5 (4 Pods beat 100 %), then doubling beats 4 Pods, every 15 s, up to max.
    let runs: Vec<(i64, i32)> = (0..7).map(|i| (i * 15, 100)).collect();
    assert_eq!(replay(&b, 1, 1, 100, &runs), [5, 10, 20, 40, 80, 100, 100]);
    // Within one 15 s period, the period's allowance is not granted twice.
    assert_eq!(
        replay(&b, 1, 1, 100, &[(0, 100), (5, 100), (16, 100)]),
        [5, 5, 10]
    );
}

#[test]
fn hpa_defaults_scale_down_to_the_highest_recommendation_of_the_last_5_minutes() {
    let b = Behavior::from_spec(None, "spec.behavior").unwrap();
    let runs = [(0, 10), (60, 4), (120, 6), (299, 3), (301, 3), (421, 3)];
    // Recommendations: 10@0, 4@60, 6@120, 3@299… The down window holds 10 until 0 leaves it
    // (at 301: max of 4, 6, 3 = 6), then 6 until 120 leaves it (at 421: 3).
    assert_eq!(replay(&b, 10, 1, 20, &runs), [10, 10, 10, 10, 6, 3]);
}

#[test]
fn docs_example_scale_down_by_10_percent_or_4_pods_per_minute_whichever_is_more() {
    // "if there are 80 replicas and the target has to be scaled down to 10 replicas then
    // during the first step 8 replicas will be reduced. In the next iteration when the number
    // of replicas is 72, 10% of the pods is 7.2 but the number is rounded up to 8 … when the
    // number of replicas falls below 40, the first policy (Pods) is applied".
    let b = behavior(
        None,
        Some(rules(
            Some(0),
            None,
            &[("Pods", 4, 60), ("Percent", 10, 60)],
        )),
    );
    let runs: Vec<(i64, i32)> = (0..8).map(|i| (i * 60, 10)).collect();
    assert_eq!(
        replay(&b, 80, 1, 100, &runs),
        [72, 64, 57, 51, 45, 40, 36, 32]
    );
    // Twice within one minute: the second run has no allowance left.
    assert_eq!(
        replay(&b, 80, 1, 100, &[(0, 10), (30, 10), (61, 10)]),
        [72, 72, 64]
    );
}

#[test]
fn docs_example_select_policy_min_takes_the_smallest_change() {
    // "selectPolicy: Min" with both policies: 4 Pods or 10 %, the smaller change wins.
    let b = behavior(
        None,
        Some(rules(
            Some(0),
            Some("Min"),
            &[("Pods", 4, 60), ("Percent", 10, 60)],
        )),
    );
    assert_eq!(replay(&b, 80, 1, 100, &[(0, 10), (60, 10)]), [76, 72]);
    assert_eq!(replay(&b, 20, 1, 100, &[(0, 10), (60, 10)]), [18, 16]);
}

#[test]
fn docs_example_disabled_scale_down_never_removes_replicas() {
    let b = behavior(None, Some(rules(None, Some("Disabled"), &[])));
    assert_eq!(
        replay(&b, 10, 1, 20, &[(0, 1), (600, 1), (1200, 30)]),
        [10, 10, 20]
    );
}

#[test]
fn docs_example_scale_up_stabilization_takes_the_lowest_recommendation_of_its_window() {
    let b = behavior(
        Some(rules(Some(60), None, &[])),
        Some(rules(Some(0), None, &[])),
    );
    // 2@0, 5@30: up to min(2, 5) = 2; at 61 the 2 has left the window → 5.
    assert_eq!(replay(&b, 2, 1, 20, &[(0, 2), (30, 5), (61, 5)]), [2, 2, 5]);
}

#[test]
fn min_and_max_bound_every_answer() {
    let b = behavior(
        Some(rules(Some(0), None, &[("Pods", 100, 15)])),
        Some(rules(Some(0), None, &[])),
    );
    let n = normalize(&b, &History::default(), t(0), 5, 50, 1, 10);
    assert_eq!((n.replicas, n.reason), (10, Reason::TooManyReplicas));
    let n = normalize(&b, &History::default(), t(0), 5, 0, 2, 10);
    assert_eq!((n.replicas, n.reason), (2, Reason::TooFewReplicas));
    let n = normalize(&b, &History::default(), t(0), 5, 7, 1, 10);
    assert_eq!((n.replicas, n.reason), (7, Reason::DesiredWithinRange));
}

#[test]
fn reasons_say_what_held_the_change() {
    let b = Behavior::from_spec(None, "spec.behavior").unwrap();
    let n = normalize(&b, &History::default(), t(0), 1, 100, 1, 200);
    assert_eq!((n.replicas, n.reason), (5, Reason::ScaleUpLimit));
    // 20 s later the metric says 1, but 100 was recommended within the last 300 s.
    let n = normalize(&b, &n.history, t(20), 5, 1, 1, 200);
    assert_eq!((n.replicas, n.reason), (5, Reason::ScaleDownStabilized));
}

#[test]
fn history_forgets_what_no_window_or_period_can_see() {
    let b = Behavior::from_spec(None, "spec.behavior").unwrap(); // longest: 300 s
    let mut h = History::default();
    let mut current = 1;
    for (at, desired) in [(0, 5), (100, 9), (500, 9)] {
        let n = normalize(&b, &h, t(at), current, desired, 1, 20);
        h = n.history;
        current = n.replicas;
    }
    let times: Vec<i64> = h
        .recommendations
        .iter()
        .map(|s| s.time.0.as_second() - t(0).as_second())
        .collect();
    assert_eq!(times, [500], "older than 300 s: dropped");
    assert!(h.scale_ups.iter().all(|s| s.time.0 > t(200)), "{h:?}");
}

#[test]
fn invalid_fields_are_named_with_what_was_expected() {
    let cases: [(HorizontalPodAutoscalerBehavior, &str); 5] = [
        (
            HorizontalPodAutoscalerBehavior {
                scale_up: Some(rules(Some(4000), None, &[])),
                scale_down: None,
            },
            "spec.behavior.scaleUp.stabilizationWindowSeconds: 0 to 3600, got 4000",
        ),
        (
            HorizontalPodAutoscalerBehavior {
                scale_up: None,
                scale_down: Some(rules(None, Some("Most"), &[])),
            },
            "spec.behavior.scaleDown.selectPolicy: Max, Min or Disabled, got \"Most\"",
        ),
        (
            HorizontalPodAutoscalerBehavior {
                scale_up: Some(rules(None, None, &[("Replicas", 1, 15)])),
                scale_down: None,
            },
            "spec.behavior.scaleUp.policies[0].type: Pods or Percent, got \"Replicas\"",
        ),
        (
            HorizontalPodAutoscalerBehavior {
                scale_up: Some(rules(None, None, &[("Pods", 1, 15), ("Pods", 0, 15)])),
                scale_down: None,
            },
            "spec.behavior.scaleUp.policies[1].value: greater than 0, got 0",
        ),
        (
            HorizontalPodAutoscalerBehavior {
                scale_up: None,
                scale_down: Some(rules(None, None, &[("Percent", 10, 1801)])),
            },
            "spec.behavior.scaleDown.policies[0].periodSeconds: 1 to 1800, got 1801",
        ),
    ];
    for (spec, message) in cases {
        let err = Behavior::from_spec(Some(&spec), "spec.behavior").unwrap_err();
        assert_eq!(err.to_string(), message);
    }
    let empty = HorizontalPodAutoscalerBehavior {
        scale_up: Some(HPAScalingRules {
            policies: Some(vec![]),
            ..Default::default()
        }),
        scale_down: None,
    };
    assert_eq!(
        Behavior::from_spec(Some(&empty), "spec.behavior")
            .unwrap_err()
            .field,
        "spec.behavior.scaleUp.policies"
    );
}
