use super::*;
use k8s_ops::crd::lambda_concurrency::ConcurrencyState;

use crate::decide::Why;

const QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:orders";

fn mapping(source: &str, active: bool, maximum: Option<i32>) -> Mapping {
    Mapping {
        uuid: format!("u-{source}"),
        source_arn: source.into(),
        active,
        provisioned: false,
        maximum,
    }
}

fn policy(min: i32, max: i32) -> Policy {
    Policy {
        threshold: 10,
        min,
        max,
        step: 1,
        include_in_flight: true,
    }
}

#[test]
fn the_function_splits_its_mappings_into_mine_and_the_others_total() {
    let f = Function::new(
        Some(50),
        &[
            mapping("arn:aws:sqs:us-east-1:123456789012:other", true, Some(7)),
            mapping("arn:aws:sqs:us-east-1:123456789012:third", true, None),
            mapping("arn:aws:sqs:us-east-1:123456789012:off", false, Some(100)),
            mapping(
                "arn:aws:kinesis:us-east-1:123456789012:stream/s",
                true,
                Some(9),
            ),
            mapping(QUEUE, false, Some(3)),
            mapping(QUEUE, true, Some(4)),
        ],
        QUEUE,
    );
    assert_eq!(
        f.mine.as_ref().map(|m| m.maximum),
        Some(Some(4)),
        "the active one"
    );
    assert_eq!(f.others, 7, "active SQS mappings with a maximum only");
    assert_eq!(f.current(Scale::ReservedConcurrency), Some(50));
    assert_eq!(f.current(Scale::MaximumConcurrency), Some(4));
}

#[test]
fn auto_scales_the_mapping_when_it_runs_and_has_no_provisioned_pollers() {
    let active = mapping(QUEUE, true, None);
    let disabled = mapping(QUEUE, false, None);
    let provisioned = Mapping {
        provisioned: true,
        ..active.clone()
    };
    use Scale::*;
    #[rustfmt::skip]
    let cases: &[(Scale, &Mapping, Result<Scale, Conflict>)] = &[
        (Auto,                &active,      Ok(MaximumConcurrency)),
        (Auto,                &disabled,    Ok(ReservedConcurrency)),
        (Auto,                &provisioned, Ok(ReservedConcurrency)),
        (ReservedConcurrency, &active,      Ok(ReservedConcurrency)),
        (MaximumConcurrency,  &disabled,    Ok(MaximumConcurrency)),
        (Both,                &active,      Ok(Both)),
        (MaximumConcurrency,  &provisioned, Err(Conflict::Provisioned(MaximumConcurrency))),
        (Both,                &provisioned, Err(Conflict::Provisioned(Both))),
    ];
    for (scale, mine, expected) in cases {
        assert_eq!(&resolve(*scale, mine), expected, "{scale:?} {mine:?}");
    }
}

#[test]
fn limits_keep_the_poller_unthrottled_and_maximum_concurrency_in_range() {
    let f = |reserved, mine: Option<i32>, others| Function {
        reserved,
        mine: Some(mapping(QUEUE, true, mine)),
        others,
    };
    use Scale::*;
    // (case, policy bounds, scaled, function) → (bounds, a note?) or the conflict.
    type Case = (
        &'static str,
        (i32, i32),
        Scale,
        Function,
        Result<((i32, i32), bool), Conflict>,
    );
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("reserved, no mapping maxima",      (0, 100),   ReservedConcurrency, f(None, None, 0),       Ok(((0, 100), false))),
        ("reserved floored at the total",    (5, 100),   ReservedConcurrency, f(None, Some(20), 10),  Ok(((30, 100), true))),
        ("floor above the max wins",         (5, 20),    ReservedConcurrency, f(None, Some(20), 10),  Ok(((30, 30), true))),
        ("maximum in range",                 (2, 1000),  MaximumConcurrency,  f(None, None, 0),       Ok(((2, 1000), false))),
        ("maximum clamped to 2–1000",        (0, 5000),  MaximumConcurrency,  f(None, None, 0),       Ok(((2, 1000), true))),
        ("a min above 1000 too",             (1500, 2000), Both,              f(None, None, 0),       Ok(((1000, 1000), true))),
        ("capped by reserved less others",   (2, 100),   MaximumConcurrency,  f(Some(50), None, 10),  Ok(((2, 40), true))),
        ("cap below the min lowers it",      (60, 100),  MaximumConcurrency,  f(Some(50), None, 10),  Ok(((40, 40), true))),
        ("reserved room enough: no cap",     (2, 30),    MaximumConcurrency,  f(Some(50), None, 10),  Ok(((2, 30), false))),
        ("Both sets reserved: no cap",       (2, 100),   Both,                f(Some(50), None, 10),  Ok(((2, 100), false))),
        ("no room left",                     (2, 100),   MaximumConcurrency,  f(Some(11), None, 10),  Err(Conflict::ReservedTooLow { reserved: 11, others: 10 })),
    ];
    for (case, (min, max), scaled, function, expected) in cases {
        let got = limits(&policy(min, max), scaled, &function)
            .map(|(p, notes)| ((p.min, p.max), !notes.is_empty()));
        assert_eq!(got, expected, "{case}");
    }
}

#[test]
fn the_notes_say_what_was_clamped_and_why() {
    let f = Function {
        reserved: Some(50),
        mine: Some(mapping(QUEUE, true, None)),
        others: 10,
    };
    let (_, notes) = limits(&policy(0, 5000), Scale::MaximumConcurrency, &f).unwrap();
    assert_eq!(
        notes,
        [
            "bounds [0, 5000] clamped to [2, 1000], ScalingConfig.MaximumConcurrency's range",
            "maximum concurrency capped at 40 by the reserved concurrency 50 less 10 for the other SQS mappings",
        ]
    );
}

#[test]
fn writes_keep_reserved_at_least_the_mappings_total_at_every_step() {
    let plan = |set: Option<i32>, wanted| Plan {
        set,
        wanted,
        state: ConcurrencyState::Adjusting,
        why: Why::Backlog,
        not_before: None,
    };
    let f = |reserved, mine| Function {
        reserved,
        mine: Some(mapping(QUEUE, true, mine)),
        others: 5,
    };
    use Scale::*;
    use Write::*;
    #[rustfmt::skip]
    let cases: Vec<(&str, Scale, Plan, Function, Vec<Write>)> = vec![
        ("reserved only",            ReservedConcurrency, plan(Some(8), 8),  f(Some(6), Some(3)),  vec![Reserved(8)]),
        ("maximum only",             MaximumConcurrency,  plan(Some(8), 8),  f(Some(60), Some(3)), vec![Maximum(8)]),
        ("nothing to do",            MaximumConcurrency,  plan(None, 3),     f(Some(60), Some(3)), vec![]),
        ("both up: reserved first",  Both,                plan(Some(8), 8),  f(Some(8), Some(3)),  vec![Reserved(13), Maximum(8)]),
        ("both down: mapping first", Both,                plan(Some(2), 2),  f(Some(8), Some(3)),  vec![Maximum(2), Reserved(7)]),
        ("both, reserved unset",     Both,                plan(Some(4), 4),  f(None, None),        vec![Maximum(4), Reserved(9)]),
        ("both, reserved drifted",   Both,                plan(None, 3),     f(Some(2), Some(3)),  vec![Reserved(8)]),
        ("both, in step",            Both,                plan(None, 3),     f(Some(8), Some(3)),  vec![]),
    ];
    for (case, scaled, plan, function, expected) in cases {
        let got = writes(scaled, &plan, &function);
        assert_eq!(got, expected, "{case}");
        // Replaying the writes in order, reserved (when set) never drops below the total.
        let (mut reserved, mut maximum) = (function.reserved, function.current(MaximumConcurrency));
        for w in got {
            match w {
                Reserved(r) => reserved = Some(r),
                Maximum(m) => maximum = Some(m),
            }
            if scaled == Both
                && let (Some(r), Some(m)) = (reserved, maximum)
                && function.reserved.is_some()
            {
                assert!(
                    r >= m + function.others,
                    "{case}: {r} < {m} + {}",
                    function.others
                );
            }
        }
    }
}
